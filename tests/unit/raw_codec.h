/* A codec over raw bytes for the call-layer unit tests: the "message" is a
 * length and a pointer. decode_with counts its calls (raw_decode_with_calls)
 * so a test can tell which decoder ran. Include from one .c per runner. */
#ifndef TERN_TEST_RAW_CODEC_H
#define TERN_TEST_RAW_CODEC_H

#include <stdlib.h>
#include <string.h>

#include "call/call_int.h"

typedef struct raw {
  size_t len;
  const uint8_t *data;
} raw;

static size_t raw_size(const void *t, const void *m) {
  (void)t;
  return ((const raw *)m)->len;
}
static size_t raw_encode(const void *t, const void *m, uint8_t *out) {
  (void)t;
  memcpy(out, ((const raw *)m)->data, ((const raw *)m)->len);
  return ((const raw *)m)->len;
}
/* Decodes into one allocation: the raw header then a copy of the bytes. */
static int raw_decode(const void *t, const uint8_t *d, size_t n, void **o) {
  raw *r = malloc(sizeof(raw) + n + 1);
  (void)t;
  if (!r)
    return -1;
  r->len = n;
  r->data = (const uint8_t *)(r + 1);
  if (n)
    memcpy(r + 1, d, n);
  *o = r;
  return 0;
}
static int raw_decode_with_calls;
/* Two pieces from alloc, as a message with a sub-message or a string
 * would take. */
static int raw_decode_with(const void *t, const uint8_t *d, size_t n,
                           void *(*alloc)(void *ctx, size_t n), void *ctx,
                           void **o) {
  raw *r = alloc(ctx, sizeof(raw));
  uint8_t *copy;
  (void)t;
  raw_decode_with_calls++;
  if (!r)
    return -1;
  copy = alloc(ctx, n + 1);
  if (!copy)
    return -1;
  if (n)
    memcpy(copy, d, n);
  r->len = n;
  r->data = copy;
  *o = r;
  return 0;
}
static void raw_free(const void *t, void *m) {
  (void)t;
  free(m);
}
static size_t raw_msize(const void *t) {
  (void)t;
  return sizeof(raw);
}
static void raw_init(const void *t, void *m) {
  (void)t;
  memset(m, 0, sizeof(raw));
}

static const tern_codec raw_codec = {sizeof(tern_codec), raw_size,  raw_encode, raw_decode,
                                     raw_free,  raw_msize,  raw_init,
                                     raw_decode_with};
static const tern_method raw_method = {sizeof(tern_method), "M", "/s.S/M", TERN_METHOD_BIDI_STREAMING,
                                       &raw_codec, NULL, NULL, NULL};

static void destroy_noop(struct tern_call *c) { (void)c; }
static const tern__call_hooks hooks = {NULL, NULL, NULL, NULL, destroy_noop,
                                       NULL, NULL, NULL};

/* What a transport does to a call: body bytes and header fields through
 * the stream upcalls. */
static inline void call_feed_data(struct tern_call *c, const uint8_t *d,
                                  size_t n) {
  c->a0.stream.ops->on_data(&c->a0.stream, d, n);
}
static inline int call_feed_header(struct tern_call *c, const uint8_t *name,
                                   size_t nlen, const uint8_t *value,
                                   size_t vlen) {
  return c->a0.stream.ops->on_header(&c->a0.stream, name, nlen, value, vlen);
}

#endif /* TERN_TEST_RAW_CODEC_H */
