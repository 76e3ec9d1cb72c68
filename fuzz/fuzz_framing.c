/* fuzz_framing: the call layer's inbound message path without sockets, as
 * tests/unit/test_framing.c drives it: grpc-encoding header ->
 * the stream's on_data upcall (5-byte prefixes, reassembly across chunks,
 * limits)
 * -> tern__call_take_in -> tern__call_decode (identity, gzip, deflate, with
 * a small receive limit).
 *
 * Input: [cfg][step][bytes...]
 *   cfg bit 0     client call (else server)
 *   cfg bits 1-3  receive limit: 0, 1, 16, 100, 1 KiB, 64 KiB, 1 MiB, 4 MiB
 *   cfg bits 4-6  grpc-encoding: none, identity, gzip, deflate, snappy, "",
 *                 "GZIP", gzip twice
 *   cfg bit 7     take and decode messages after every chunk (else at end)
 *   step          chunk size for on_data (0: all at once)
 * When the last byte of the input is odd, the stream ends
 * (the on_end upcall) before the final drain. */
#include <stdio.h>

#include "call/call_int.h"
#include "fuzz_common.h"

static const tern_method raw_method = {sizeof(tern_method), "M", "/f.F/M",
                                       TERN_METHOD_BIDI_STREAMING,
                                       &fuzz_raw_codec, NULL, NULL, NULL};

static void destroy_noop(struct tern_call *c) { (void)c; }
static const tern__call_hooks hooks = {NULL, NULL, NULL, NULL, destroy_noop,
                                       NULL, NULL, NULL};

static void drain(struct tern_call *c) {
  tern__msg *m;
  int rv;
  while ((rv = tern__call_take_in(c, &m, 0)) == 1) {
    void *out = NULL;
    rv = tern__call_decode(c, NULL, m, &out);
    FUZZ_CHECK(rv == TERN_OK || rv == TERN_EPROTO || rv == TERN_ETOOBIG ||
               rv == TERN_ENOMEM);
    if (rv == TERN_OK) {
      fuzz_raw *r = out;
      FUZZ_CHECK(out != NULL);
      /* Nothing decoded beyond the limit. */
      FUZZ_CHECK(c->max_recv < 0 || (int64_t)r->len <= c->max_recv);
      /* Uncompressed: the body is what was framed. */
      FUZZ_CHECK(m->compressed || r->len == m->len);
      fuzz_raw_free(NULL, out);
    } else {
      FUZZ_CHECK(m->compressed || rv != TERN_ETOOBIG);
    }
    tern__call_msg_free(c, m);
  }
  FUZZ_CHECK(rv == 0 || rv == TERN_ETIMEDOUT || rv == TERN_ECLOSED);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const int64_t limits[8] = {0, 1, 16, 100, 1024, 65536, 1 << 20,
                                    4 << 20};
  static const char *const encodings[8] = {NULL, "identity", "gzip",
                                           "deflate", "snappy", "",
                                           "GZIP", "gzip"};
  struct tern_call c;
  uint8_t cfg, step_b;
  size_t step, off;
  int end_stream;
  const char *enc;

  /* Past the 1 MiB read high-water mark the call would wake its loop,
   * which this harness does not have. */
  if (size < 2 || size > (1u << 20))
    return 0;
  cfg = data[0];
  step_b = data[1];
  end_stream = size > 2 && (data[size - 1] & 1);
  data += 2;
  size -= 2;
  step = step_b ? step_b : (size ? size : 1);

  FUZZ_CHECK(tern__call_init(&c, cfg & 1, &raw_method, &hooks, NULL,
                             limits[(cfg >> 1) & 7]) == TERN_OK);
  enc = encodings[(cfg >> 4) & 7];
  if (enc) {
    c.a0.stream.ops->on_header(&c.a0.stream, (const uint8_t *)"grpc-encoding", 13,
                            (const uint8_t *)enc, strlen(enc));
    if (((cfg >> 4) & 7) == 7)
      c.a0.stream.ops->on_header(&c.a0.stream, (const uint8_t *)"grpc-encoding",
                              13, (const uint8_t *)"deflate", 7);
  }
  for (off = 0; off < size; off += step) {
    size_t n = off + step > size ? size - off : step;
    FUZZ_CHECK(c.a0.stream.ops->on_data(&c.a0.stream, data + off, n) == 0);
    /* The parser never holds a partial message over the limit. */
    FUZZ_CHECK(c.a0.partial == NULL || c.max_recv < 0 ||
               (int64_t)c.a0.partial->len <= c.max_recv);
    FUZZ_CHECK(c.a0.pfx_len <= 5);
    if (cfg & 0x80)
      drain(&c);
  }
  if (end_stream)
    c.a0.stream.ops->on_end(&c.a0.stream);
  drain(&c);
  tern__call_cleanup(&c);
  return 0;
}
