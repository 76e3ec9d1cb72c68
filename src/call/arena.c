/* Memory that lives as long as a call: a bump arena whose first bytes are
 * inside the call object, and the message buffers of its queues. */
#include <stdlib.h>
#include <string.h>

#include "call/call_int.h"

/* Inline where messages are made (every call's path); the exported
 * tern__call_alloc_locked wraps it. */
static inline void *alloc_locked(struct tern_call *call, size_t size) {
  size_t unit = sizeof(tern__arena_unit);
  size_t units = size ? (size + unit - 1) / unit : 1;
  tern__arena_block *b = call->arena;
  void *p;
  if (size > SIZE_MAX / 2)
    return NULL;
  if (units <= TERN__ARENA_INLINE_UNITS - call->arena_inline_used) {
    p = &call->arena_inline[call->arena_inline_used];
    call->arena_inline_used += units;
    return p;
  }
  if (!b || units > b->units - b->used) {
    /* Blocks double (from 1 KiB, up to 64 KiB) so a decode of many small
     * pieces takes few mallocs. */
    size_t n = b ? b->units * 2 : 1024 / unit;
    if (n > 65536 / unit)
      n = 65536 / unit;
    if (n < units)
      n = units;
    b = tern__malloc(sizeof(*b) + n * unit);
    if (!b)
      return NULL;
    b->units = n;
    b->used = 0;
    b->next = call->arena;
    call->arena = b;
  }
  p = &b->data[b->used];
  b->used += units;
  return p;
}

void *tern__call_alloc_locked(struct tern_call *call, size_t size) {
  return alloc_locked(call, size);
}

void *tern__call_alloc(struct tern_call *call, size_t size, int zero) {
  void *p;
  tern__call_lock(call);
  p = alloc_locked(call, size);
  tern__call_unlock(call);
  if (p && zero)
    memset(p, 0, size);
  return p;
}

tern__msg *tern__call_msg_new(struct tern_call *call, int dir, size_t len) {
  tern__msg *m = NULL;
  if (len > SIZE_MAX / 2)
    return NULL;
  if (call && !(__atomic_load_n(&call->arena_msgs, __ATOMIC_RELAXED) &
                (1u << dir))) {
    /* The first message each way: the arena (a unary call's only ones). */
    tern__call_lock(call);
    if (!(call->arena_msgs & (1u << dir))) {
      m = alloc_locked(call, sizeof(*m) + len);
      if (m) {
        __atomic_fetch_or(&call->arena_msgs, 1u << dir, __ATOMIC_RELAXED);
        m->in_arena = 1;
        m->cap = len;
      }
    }
    tern__call_unlock(call);
  }
  if (!m && call) {
    m = __atomic_exchange_n(&call->spare[dir], NULL, __ATOMIC_ACQ_REL);
    if (m && m->cap < len) {
      tern__free(m);
      m = NULL;
    }
  }
  if (!m) {
    m = tern__malloc(sizeof(*m) + len);
    if (!m)
      return NULL;
    m->in_arena = 0;
    m->cap = len;
  }
  m->next = NULL;
  m->len = len;
  m->off = 0;
  m->compressed = 0;
  m->dir = (uint8_t)dir;
  return m;
}

void tern__call_msg_free(struct tern_call *call, tern__msg *m) {
  if (!m || m->in_arena)
    return;
  if (call && m->cap <= TERN__SPARE_MAX) {
    /* Keep the newest buffer: the one more likely to be the right size. */
    m = __atomic_exchange_n(&call->spare[m->dir], m, __ATOMIC_ACQ_REL);
  }
  tern__free(m);
}

void tern__call_msg_free_all(struct tern_call *call, tern__msg *m) {
  while (m) {
    tern__msg *next = m->next;
    tern__call_msg_free(call, m);
    m = next;
  }
}

void tern__call_arena_free(struct tern_call *call) {
  tern__arena_block *b = call->arena;
  tern__call_msg_free(NULL, call->spare[0]);
  tern__call_msg_free(NULL, call->spare[1]);
  call->spare[0] = call->spare[1] = NULL;
  while (b) {
    tern__arena_block *next = b->next;
    tern__free(b);
    b = next;
  }
  call->arena = NULL;
}
