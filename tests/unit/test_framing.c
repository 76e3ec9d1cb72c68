/* gRPC message framing: the 5-byte prefix on the way out, and the parser
 * on the way in, however the bytes are split into DATA chunks. */
#include <stdlib.h>
#include <string.h>

#include "call/call_int.h"
#include "raw_codec.h"
#include "test.h"

static void test_encode_writes_prefix_and_big_endian_length(void) {
  uint8_t body[300];
  raw r = {sizeof(body), body};
  tern__msg *m;
  memset(body, 7, sizeof(body));
  SAY("a 300-byte message is framed as 00 00 00 01 2c + body");
  CHECK_EQ_INT(tern__call_encode(NULL, &raw_method, NULL, &r, TERN_COMPRESS_IDENTITY, &m), TERN_OK);
  CHECK_EQ_INT(m->len, 305);
  CHECK_EQ_MEM(m->data, 5, "\x00\x00\x00\x01\x2c", 5);
  CHECK_EQ_INT(m->data[304], 7);
  free(m);
}

static void feed_split(struct tern_call *c, const uint8_t *d, size_t n,
                       size_t step) {
  size_t off;
  for (off = 0; off < n; off += step)
    call_feed_data(c, d + off, off + step > n ? n - off : step);
}

static void test_parser_reassembles_messages_split_anywhere(void) {
  /* Three messages: 0 bytes, 3 bytes, 70000 bytes, back to back. */
  size_t big = 70000, n = 5 + 5 + 3 + 5 + big, step;
  uint8_t *wire = malloc(n);
  uint8_t *p = wire;
  memcpy(p, "\x00\x00\x00\x00\x00", 5);
  p += 5;
  memcpy(p, "\x00\x00\x00\x00\x03" "abc", 8);
  p += 8;
  memcpy(p, "\x00\x00\x01\x11\x70", 5);
  p += 5;
  memset(p, 'z', big);
  for (step = 1; step <= 70000; step = step * 7 + 1) {
    struct tern_call c;
    tern__msg *m;
    CHECK_EQ_INT(tern__call_init(&c, 0, &raw_method, &hooks, NULL, -1),
                 TERN_OK);
    feed_split(&c, wire, n, step);
    SAY("chunks of %zu bytes give messages of 0, 3 and 70000 bytes", step);
    CHECK_EQ_INT(c.in_count, 3);
    CHECK_EQ_INT(tern__call_take_in(&c, &m, 0), 1);
    CHECK_EQ_INT(m->len, 0);
    tern__call_msg_free(&c, m);
    CHECK_EQ_INT(tern__call_take_in(&c, &m, 0), 1);
    CHECK_EQ_MEM(m->data, m->len, "abc", 3);
    tern__call_msg_free(&c, m);
    CHECK_EQ_INT(tern__call_take_in(&c, &m, 0), 1);
    CHECK_EQ_INT(m->len, big);
    CHECK_EQ_INT(m->data[big - 1], 'z');
    tern__call_msg_free(&c, m);
    CHECK_EQ_INT(tern__call_take_in(&c, &m, 0), TERN_ETIMEDOUT);
    tern__call_cleanup(&c);
  }
  free(wire);
}

static void test_parser_rejects_message_over_limit(void) {
  struct tern_call c;
  /* Declares 1 MiB + 1 with a 1 MiB limit: refused from the prefix alone,
   * before any body byte is buffered. */
  static const uint8_t pfx[5] = {0, 0, 0x10, 0, 1};
  CHECK_EQ_INT(tern__call_init(&c, 1, &raw_method, &hooks, NULL, 1 << 20),
               TERN_OK);
  call_feed_data(&c, pfx, 5);
  SAY("a client call fails RESOURCE_EXHAUSTED and buffers nothing");
  CHECK_EQ_INT(c.done, 1);
  CHECK_EQ_INT(c.code, TERN_STATUS_RESOURCE_EXHAUSTED);
  CHECK(c.a0.partial == NULL);
  CHECK_EQ_INT(c.in_count, 0);
  tern__call_cleanup(&c);
}

static void test_parser_rejects_compressed_flag_without_encoding(void) {
  struct tern_call c;
  static const uint8_t wire[6] = {1, 0, 0, 0, 1, 'x'};
  CHECK_EQ_INT(tern__call_init(&c, 0, &raw_method, &hooks, NULL, -1),
               TERN_OK);
  call_feed_data(&c, wire, sizeof(wire));
  SAY("a server call answers INTERNAL for a compressed message");
  CHECK_EQ_INT(c.aborted, 1);
  CHECK_EQ_INT(c.out_closed, 1);
  CHECK_EQ_INT(c.code, TERN_STATUS_INTERNAL);
  CHECK_EQ_INT(c.in_count, 0);
  tern__call_cleanup(&c);
}

static void test_queue_out_refuses_after_close(void) {
  struct tern_call c;
  tern__msg *m;
  raw r = {1, (const uint8_t *)"q"};
  CHECK_EQ_INT(tern__call_init(&c, 1, &raw_method, &hooks, NULL, -1),
               TERN_OK);
  CHECK_EQ_INT(tern__call_encode(NULL, &raw_method, NULL, &r, TERN_COMPRESS_IDENTITY, &m), TERN_OK);
  CHECK_EQ_INT(tern__call_queue_out(&c, m, 1), TERN_OK);
  CHECK_EQ_INT(c.out_bytes, 6);
  c.out_closed = 1;
  CHECK_EQ_INT(tern__call_encode(NULL, &raw_method, NULL, &r, TERN_COMPRESS_IDENTITY, &m), TERN_OK);
  SAY("writing after the half-close is TERN_ESTATE");
  CHECK_EQ_INT(tern__call_queue_out(&c, m, 1), TERN_ESTATE);
  c.done = 1;
  CHECK_EQ_INT(tern__call_encode(NULL, &raw_method, NULL, &r, TERN_COMPRESS_IDENTITY, &m), TERN_OK);
  SAY("writing after the end is TERN_ECLOSED");
  CHECK_EQ_INT(tern__call_queue_out(&c, m, 1), TERN_ECLOSED);
  tern__call_cleanup(&c);
}

/* Frames `len` bytes with alg, feeds them to a call that received
 * grpc-encoding `enc`, and decodes what comes out. */
static int round_trip(int alg, const char *enc, const uint8_t *data,
                      size_t len, int64_t limit, raw **out, int *flag) {
  struct tern_call c;
  tern__msg *m;
  raw r = {len, data};
  int rv;
  *out = NULL;
  if (tern__call_encode(NULL, &raw_method, NULL, &r, alg, &m) != TERN_OK)
    return -100;
  *flag = m->data[0];
  tern__call_init(&c, 0, &raw_method, &hooks, NULL, limit);
  if (enc)
    call_feed_header(&c, (const uint8_t *)"grpc-encoding", 13,
                         (const uint8_t *)enc, strlen(enc));
  call_feed_data(&c, m->data, m->len);
  free(m);
  if (tern__call_take_in(&c, &m, 0) != 1) {
    rv = c.aborted ? -(int)c.code : -101;
  } else {
    rv = tern__call_decode(&c, NULL, m, (void **)out);
    tern__call_msg_free(&c, m);
  }
  tern__call_cleanup(&c);
  return rv;
}

static void test_gzip_and_deflate_round_trip_with_flag_set(void) {
  static const char *names[] = {"deflate", "gzip"};
  int algs[] = {TERN_COMPRESS_DEFLATE, TERN_COMPRESS_GZIP};
  uint8_t data[10000];
  int i, flag;
  size_t k;
  for (k = 0; k < sizeof(data); k++)
    data[k] = (uint8_t)(k % 7);
  for (i = 0; i < 2; i++) {
    raw *out;
    SAY("%s: the flag byte is 1 and 10000 bytes come back intact", names[i]);
    CHECK_EQ_INT(round_trip(algs[i], names[i], data, sizeof(data), -1, &out,
                            &flag),
                 TERN_OK);
    CHECK_EQ_INT(flag, 1);
    CHECK(out && out->len == sizeof(data) &&
          memcmp(out->data, data, sizeof(data)) == 0);
    free(out);
  }
}

static void test_decompression_bomb_stops_at_the_limit(void) {
  /* 64 MiB of zeros compress to ~64 KiB; the limit is 4 MiB. */
  size_t big = 64u << 20;
  uint8_t *zeros = calloc(1, big);
  raw *out;
  int flag;
  SAY("64 MiB of zeros gzip-compressed, 4 MiB limit: TERN_ETOOBIG");
  CHECK_EQ_INT(round_trip(TERN_COMPRESS_GZIP, "gzip", zeros, big, 4 << 20,
                          &out, &flag),
               TERN_ETOOBIG);
  CHECK(out == NULL);
  SAY("exactly at the limit is allowed");
  CHECK_EQ_INT(round_trip(TERN_COMPRESS_GZIP, "gzip", zeros, 4u << 20,
                          4 << 20, &out, &flag),
               TERN_OK);
  CHECK(out && out->len == (4u << 20));
  free(out);
  free(zeros);
}

static void test_compressed_flag_needs_a_supported_encoding(void) {
  raw *out;
  int flag;
  SAY("flag set, no grpc-encoding: the server answers INTERNAL");
  CHECK_EQ_INT(round_trip(TERN_COMPRESS_GZIP, NULL, (const uint8_t *)"abc",
                          3, -1, &out, &flag),
               -TERN_STATUS_INTERNAL);
  SAY("flag set, grpc-encoding: identity: INTERNAL");
  CHECK_EQ_INT(round_trip(TERN_COMPRESS_GZIP, "identity",
                          (const uint8_t *)"abc", 3, -1, &out, &flag),
               -TERN_STATUS_INTERNAL);
  SAY("flag set, grpc-encoding: snappy (unsupported): UNIMPLEMENTED");
  CHECK_EQ_INT(round_trip(TERN_COMPRESS_GZIP, "snappy",
                          (const uint8_t *)"abc", 3, -1, &out, &flag),
               -TERN_STATUS_UNIMPLEMENTED);
  SAY("deflate bytes announced as gzip do not decode: TERN_EPROTO");
  CHECK_EQ_INT(round_trip(TERN_COMPRESS_DEFLATE, "gzip",
                          (const uint8_t *)"abcabc", 6, -1, &out, &flag),
               TERN_EPROTO);
}

static void test_accept_encoding_parses_lists(void) {
  unsigned all, m = tern__accept_encoding_parse("gzip, identity ,x-snappy", 24);
  SAY("\"gzip, identity ,x-snappy\" accepts gzip and identity, not deflate");
  CHECK(m & (1u << TERN_COMPRESS_GZIP));
  CHECK(m & (1u << TERN_COMPRESS_IDENTITY));
  CHECK(!(m & (1u << TERN_COMPRESS_DEFLATE)));
  CHECK_EQ_STR(tern_compression_name(TERN_COMPRESS_DEFLATE), "deflate");
  SAY("the lists grpc and tern send (the fast path) accept all three");
  all = (1u << TERN_COMPRESS_IDENTITY) | (1u << TERN_COMPRESS_DEFLATE) |
        (1u << TERN_COMPRESS_GZIP);
  m = tern__accept_encoding_parse("identity,deflate,gzip", 21);
  CHECK_EQ_INT(m, all);
  m = tern__accept_encoding_parse("identity, deflate, gzip", 23);
  CHECK_EQ_INT(m, all);
  SAY("a near miss goes the long way: identity and deflate only");
  m = tern__accept_encoding_parse("identity, deflate, gzi", 22);
  CHECK_EQ_INT(m, all & ~(1u << TERN_COMPRESS_GZIP));
}

int main(void) {
  RUN_TEST(test_gzip_and_deflate_round_trip_with_flag_set);
  RUN_TEST(test_decompression_bomb_stops_at_the_limit);
  RUN_TEST(test_compressed_flag_needs_a_supported_encoding);
  RUN_TEST(test_accept_encoding_parses_lists);
  RUN_TEST(test_encode_writes_prefix_and_big_endian_length);
  RUN_TEST(test_parser_reassembles_messages_split_anywhere);
  RUN_TEST(test_parser_rejects_message_over_limit);
  RUN_TEST(test_parser_rejects_compressed_flag_without_encoding);
  RUN_TEST(test_queue_out_refuses_after_close);
  return TEST_SUMMARY("framing");
}
