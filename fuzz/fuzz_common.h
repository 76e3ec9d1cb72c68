/* Shared by the fuzz targets: a codec over raw bytes (as
 * tests/unit/test_framing.c), so no generated code is needed. A "message"
 * is a fuzz_raw: a length and a pointer to bytes. */
#ifndef TERN_FUZZ_COMMON_H
#define TERN_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tern/tern.h"

typedef struct fuzz_raw {
  size_t len;
  const uint8_t *data;
} fuzz_raw;

static inline size_t fuzz_raw_size(const void *t, const void *m) {
  (void)t;
  return ((const fuzz_raw *)m)->len;
}
static inline size_t fuzz_raw_encode(const void *t, const void *m, uint8_t *out) {
  const fuzz_raw *r = m;
  (void)t;
  if (r->len)
    memcpy(out, r->data, r->len);
  return r->len;
}
/* One allocation: the header, then a copy of the bytes (NUL-terminated,
 * for handlers that want a string). */
static inline int fuzz_raw_decode(const void *t, const uint8_t *d, size_t n,
                           void **o) {
  fuzz_raw *r = malloc(sizeof(fuzz_raw) + n + 1);
  (void)t;
  if (!r)
    return -1;
  r->len = n;
  r->data = (const uint8_t *)(r + 1);
  if (n)
    memcpy(r + 1, d, n);
  ((uint8_t *)(r + 1))[n] = 0;
  *o = r;
  return 0;
}
static inline void fuzz_raw_free(const void *t, void *m) {
  (void)t;
  free(m);
}
static inline size_t fuzz_raw_msize(const void *t) {
  (void)t;
  return sizeof(fuzz_raw);
}
static inline void fuzz_raw_init(const void *t, void *m) {
  (void)t;
  memset(m, 0, sizeof(fuzz_raw));
}

static const tern_codec fuzz_raw_codec __attribute__((unused)) = {sizeof(tern_codec),
    fuzz_raw_size, fuzz_raw_encode, fuzz_raw_decode,
    fuzz_raw_free, fuzz_raw_msize,  fuzz_raw_init, NULL};

/* Dies loudly: a broken invariant is a finding, like a sanitizer report. */
#define FUZZ_CHECK(cond)                                                       \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__,        \
              #cond);                                                          \
      abort();                                                                 \
    }                                                                          \
  } while (0)

#endif /* TERN_FUZZ_COMMON_H */
