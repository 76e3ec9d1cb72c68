/* Growable byte buffer used for outgoing bytes and message assembly. */
#include <stdlib.h>
#include <string.h>

#include "common/common_int.h"

int tern__buf_reserve(tern__buf *b, size_t extra) {
  size_t need, cap;
  uint8_t *p;

  if (extra > SIZE_MAX - b->len)
    return TERN_ENOMEM;
  need = b->len + extra;
  if (need <= b->cap)
    return TERN_OK;
  cap = b->cap ? b->cap : 64;
  while (cap < need) {
    /* Doubling would wrap: settle for exactly what is needed. */
    if (cap > SIZE_MAX / 2) {
      cap = need;
      break;
    }
    cap *= 2;
  }
  p = tern__realloc(b->data, cap);
  if (!p)
    return TERN_ENOMEM;
  b->data = p;
  b->cap = cap;
  return TERN_OK;
}

int tern__buf_append(tern__buf *b, const void *data, size_t len) {
  int rv;

  if (len == 0)
    return TERN_OK;
  rv = tern__buf_reserve(b, len);
  if (rv != TERN_OK)
    return rv;
  memcpy(b->data + b->len, data, len);
  b->len += len;
  return TERN_OK;
}

void tern__buf_consume(tern__buf *b, size_t n) {
  if (n >= b->len) {
    b->len = 0;
    return;
  }
  memmove(b->data, b->data + n, b->len - n);
  b->len -= n;
}

void tern__buf_free(tern__buf *b) {
  tern__free(b->data);
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
}
