/* The one intrusive list of the library: a circular doubly linked list
 * whose nodes live inside the objects listed (the idea of libuv's
 * uv__queue). A head is a node too; an empty list points at itself, so
 * insert and remove need no NULL checks and an object can unlink itself
 * without knowing its list. */
#ifndef TERN_COMMON_QUEUE_H
#define TERN_COMMON_QUEUE_H

#include <stddef.h>

typedef struct tern__queue {
  struct tern__queue *next;
  struct tern__queue *prev;
} tern__queue;

/* The object of type `type` whose member `field` is node q. */
#define tern__queue_data(q, type, field)                                      \
  ((type *)(void *)((char *)(q) - offsetof(type, field)))

/* Iterates over list h; q may be unlinked inside the body (the next node
 * is read first). */
#define tern__queue_foreach_safe(q, n, h)                                     \
  for ((q) = (h)->next, (n) = (q)->next; (q) != (h); (q) = (n), (n) = (q)->next)

static inline void tern__queue_init(tern__queue *q) {
  q->next = q;
  q->prev = q;
}

static inline int tern__queue_empty(const tern__queue *q) {
  return q->next == q;
}

/* The first node, or NULL when empty. */
static inline tern__queue *tern__queue_head(const tern__queue *h) {
  return h->next == h ? NULL : h->next;
}

static inline void tern__queue_insert_tail(tern__queue *h, tern__queue *q) {
  q->next = h;
  q->prev = h->prev;
  q->prev->next = q;
  h->prev = q;
}

static inline void tern__queue_insert_head(tern__queue *h, tern__queue *q) {
  q->next = h->next;
  q->prev = h;
  q->next->prev = q;
  h->next = q;
}

/* Unlinks q and makes it an empty list again, so removing twice, or
 * removing a node never inserted but initialised, is harmless. */
static inline void tern__queue_remove(tern__queue *q) {
  q->prev->next = q->next;
  q->next->prev = q->prev;
  q->next = q;
  q->prev = q;
}

/* Non-zero when q (initialised) is on some list. */
static inline int tern__queue_linked(const tern__queue *q) {
  return q->next != q;
}

/* Moves every node of src to the tail of dst; src becomes empty. */
static inline void tern__queue_move(tern__queue *src, tern__queue *dst) {
  if (tern__queue_empty(src))
    return;
  src->next->prev = dst->prev;
  dst->prev->next = src->next;
  src->prev->next = dst;
  dst->prev = src->prev;
  tern__queue_init(src);
}

#endif /* TERN_COMMON_QUEUE_H */
