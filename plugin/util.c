/* protoc-gen-tern: the arena every generated name lives in, and a growable
 * text buffer for the generated files. */
#include "plugin_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pg_arena_block {
  pg_arena_block *next;
  /* Followed by the allocation, aligned for any type. */
};

void pg_oom(void) {
  fputs("protoc-gen-tern: out of memory\n", stderr);
  exit(2);
}

void *pg_xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (p == NULL)
    pg_oom();
  return p;
}

void *pg_xrealloc(void *p, size_t n) {
  void *q = realloc(p, n ? n : 1);
  if (q == NULL)
    pg_oom();
  return q;
}

/* One block per allocation keeps this trivially correct; the plugin makes
 * a few thousand small strings at most. */
void *pg_alloc(pg_arena *a, size_t n) {
  /* Header padded so the payload is aligned like malloc's. */
  typedef union {
    void *p;
    long double d;
    long long l;
  } max_align;
  size_t head = (sizeof(pg_arena_block) + sizeof(max_align) - 1) /
                sizeof(max_align) * sizeof(max_align);
  pg_arena_block *b;
  if (n > (size_t)-1 - head)
    pg_oom();
  b = pg_xmalloc(head + n);
  b->next = a->head;
  a->head = b;
  memset((char *)b + head, 0, n);
  return (char *)b + head;
}

char *pg_strndup(pg_arena *a, const char *s, size_t n) {
  char *d = pg_alloc(a, n + 1);
  memcpy(d, s, n);
  d[n] = '\0';
  return d;
}

char *pg_strdup(pg_arena *a, const char *s) {
  return pg_strndup(a, s, strlen(s));
}

char *pg_printf(pg_arena *a, const char *fmt, ...) {
  pg_sb b = PG_SB_INIT;
  va_list ap;
  char *s;
  va_start(ap, fmt);
  pg_sb_vprintf(&b, fmt, ap);
  va_end(ap);
  s = pg_strndup(a, b.data ? b.data : "", b.len);
  pg_sb_free(&b);
  return s;
}

void pg_arena_free(pg_arena *a) {
  pg_arena_block *b = a->head;
  while (b != NULL) {
    pg_arena_block *next = b->next;
    free(b);
    b = next;
  }
  a->head = NULL;
}

static void sb_reserve(pg_sb *b, size_t extra) {
  size_t need;
  if (extra > (size_t)-1 - b->len - 1)
    pg_oom();
  need = b->len + extra + 1;
  if (need <= b->cap)
    return;
  if (b->cap == 0)
    b->cap = 256;
  while (b->cap < need) {
    if (b->cap > (size_t)-1 / 2)
      pg_oom();
    b->cap *= 2;
  }
  b->data = pg_xrealloc(b->data, b->cap);
}

void pg_sb_putn(pg_sb *b, const char *s, size_t n) {
  sb_reserve(b, n);
  memcpy(b->data + b->len, s, n);
  b->len += n;
  b->data[b->len] = '\0';
}

void pg_sb_puts(pg_sb *b, const char *s) { pg_sb_putn(b, s, strlen(s)); }

void pg_sb_putc(pg_sb *b, char c) { pg_sb_putn(b, &c, 1); }

void pg_sb_vprintf(pg_sb *b, const char *fmt, va_list ap) {
  va_list ap2;
  int n;
  va_copy(ap2, ap);
  n = vsnprintf(NULL, 0, fmt, ap2);
  va_end(ap2);
  if (n < 0) {
    /* Only an invalid format fails; the plugin's formats are literals. */
    return;
  }
  sb_reserve(b, (size_t)n);
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  b->len += (size_t)n;
}

void pg_sb_printf(pg_sb *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  pg_sb_vprintf(b, fmt, ap);
  va_end(ap);
}

size_t pg_sb_column(const pg_sb *b) {
  size_t i = b->len;
  while (i > 0 && b->data[i - 1] != '\n')
    i--;
  return b->len - i;
}

char *pg_sb_take(pg_sb *b) {
  char *s = b->data;
  if (s == NULL) {
    s = pg_xmalloc(1);
    s[0] = '\0';
  }
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
  return s;
}

void pg_sb_free(pg_sb *b) {
  free(b->data);
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
}
