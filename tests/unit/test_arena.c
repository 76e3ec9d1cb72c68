/* The call arena and message buffers: a unary call's messages live in the
 * call, a stream reuses one buffer per direction, and messages the library
 * frees itself are decoded into the arena. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "call/call_int.h"
#include "raw_codec.h"
#include "test.h"

static int inside(const void *p, const void *base, size_t len) {
  return (const uint8_t *)p >= (const uint8_t *)base &&
         (const uint8_t *)p < (const uint8_t *)base + len;
}

static void test_arena_is_aligned_zeroed_and_grows(void) {
  struct tern_call c;
  size_t i;
  int aligned = 1, zeroed = 1;
  uint8_t *p;
  CHECK_EQ_INT(tern__call_init(&c, 1, &raw_method, &hooks, NULL, -1),
               TERN_OK);
  SAY("the first small pieces come from inside the call");
  p = tern__call_alloc(&c, 24, 1);
  CHECK(inside(p, c.arena_inline, sizeof(c.arena_inline)));
  CHECK(c.arena == NULL);
  SAY("every piece is aligned for any type and zeroed when asked");
  for (i = 1; i < 200; i++) {
    size_t k;
    p = tern__call_alloc(&c, i * 7, 1);
    if (!p || ((uintptr_t)p % sizeof(tern__arena_unit)) != 0)
      aligned = 0;
    for (k = 0; p && k < i * 7; k++)
      if (p[k] != 0)
        zeroed = 0;
    if (p)
      memset(p, 0xa5, i * 7); /* ASan: the whole piece is ours */
  }
  CHECK(aligned);
  CHECK(zeroed);
  SAY("once shared, the arena takes the call's lock and still works");
  CHECK_EQ_INT(tern__call_share(&c), TERN_OK);
  CHECK(c.shared && c.sync_ready);
  p = tern__call_alloc(&c, 100, 1);
  CHECK(p != NULL && p[99] == 0);
  SAY("beyond the inline bytes it takes blocks, not one malloc per piece");
  {
    size_t blocks = 0;
    tern__arena_block *b;
    for (b = c.arena; b; b = b->next)
      blocks++;
    /* 199 pieces, ~140 KB: doubling blocks from 1 KiB to 64 KiB. */
    CHECK(blocks >= 2 && blocks <= 12);
  }
  SAY("a piece larger than a block gets a block of its own");
  p = tern__call_alloc(&c, 200000, 0);
  CHECK(p != NULL);
  if (p)
    memset(p, 1, 200000);
  tern__call_cleanup(&c); /* ASan/valgrind: every block freed */
}

static void test_first_message_each_way_lives_in_the_call(void) {
  struct tern_call c;
  tern__msg *in, *out, *out2;
  CHECK_EQ_INT(tern__call_init(&c, 0, &raw_method, &hooks, NULL, -1),
               TERN_OK);
  SAY("a unary call's request and response buffers are in the arena");
  in = tern__call_msg_new(&c, TERN__MSG_IN, 40);
  out = tern__call_msg_new(&c, TERN__MSG_OUT, 40);
  CHECK(in && in->in_arena && in->len == 40 && in->off == 0);
  CHECK(out && out->in_arena && out->dir == TERN__MSG_OUT);
  CHECK(inside(in, c.arena_inline, sizeof(c.arena_inline)));
  SAY("freeing them costs nothing; the second message each way does not "
      "use the arena");
  tern__call_msg_free(&c, in);
  tern__call_msg_free(&c, out);
  out2 = tern__call_msg_new(&c, TERN__MSG_OUT, 40);
  CHECK(out2 && !out2->in_arena);
  tern__call_msg_free(&c, out2);
  tern__call_cleanup(&c);
}

static void test_a_stream_reuses_one_buffer_per_direction(void) {
  struct tern_call c;
  tern__msg *m, *first_heap = NULL;
  int i, reused = 0;
  CHECK_EQ_INT(tern__call_init(&c, 1, &raw_method, &hooks, NULL, -1),
               TERN_OK);
  tern__call_msg_free(&c, tern__call_msg_new(&c, TERN__MSG_IN, 10));
  SAY("1000 messages of up to 1000 bytes read one after the other: one "
      "buffer serves them all");
  for (i = 0; i < 1000; i++) {
    m = tern__call_msg_new(&c, TERN__MSG_IN, (size_t)(1000 - i));
    if (!first_heap)
      first_heap = m;
    else if (m == first_heap)
      reused++;
    m->data[m->len - 1] = 1;
    tern__call_msg_free(&c, m);
  }
  CHECK_EQ_INT(reused, 999);
  SAY("a bigger message replaces the spare buffer; directions do not mix");
  m = tern__call_msg_new(&c, TERN__MSG_IN, 5000);
  CHECK(m && m->cap == 5000);
  tern__call_msg_free(&c, m);
  CHECK(c.spare[TERN__MSG_IN] == m);
  CHECK(c.spare[TERN__MSG_OUT] == NULL);
  SAY("a buffer over %u bytes is not kept", TERN__SPARE_MAX);
  m = tern__call_msg_new(&c, TERN__MSG_IN, TERN__SPARE_MAX + 1);
  CHECK(m != NULL);
  tern__call_msg_free(&c, m);
  CHECK(c.spare[TERN__MSG_IN] == NULL);
  tern__call_cleanup(&c);
}

static void test_messages_without_a_call_are_plain_heap(void) {
  tern__msg *m = tern__call_msg_new(NULL, TERN__MSG_OUT, 7);
  SAY("no call: malloc'd, given back with free");
  CHECK(m && !m->in_arena && m->cap == 7 && m->next == NULL);
  tern__call_msg_free(NULL, m);
}

static void test_decode_arena_uses_the_codec_allocator(void) {
  struct tern_call c;
  raw body = {5, (const uint8_t *)"hello"};
  tern__msg *wire, *in;
  void *out = NULL;
  int in_arena = 0;
  CHECK_EQ_INT(tern__call_init(&c, 0, &raw_method, &hooks, NULL, -1),
               TERN_OK);
  CHECK_EQ_INT(tern__call_encode(NULL, &raw_method, NULL, &body,
                                 TERN_COMPRESS_IDENTITY, &wire),
               TERN_OK);
  call_feed_data(&c, wire->data, wire->len);
  tern__call_msg_free(NULL, wire);
  CHECK_EQ_INT(tern__call_take_in(&c, &in, 0), 1);
  SAY("a request the library frees is decoded with the arena allocator");
  raw_decode_with_calls = 0;
  CHECK_EQ_INT(tern__call_decode_arena(&c, NULL, in, &out, &in_arena),
               TERN_OK);
  CHECK_EQ_INT(in_arena, 1);
  CHECK_EQ_INT(raw_decode_with_calls, 1);
  CHECK(out && ((raw *)out)->len == 5 &&
        memcmp(((raw *)out)->data, "hello", 5) == 0);
  SAY("one caller-owned decode still uses the plain decoder");
  {
    void *own = NULL;
    CHECK_EQ_INT(tern__call_decode(&c, NULL, in, &own), TERN_OK);
    CHECK_EQ_INT(raw_decode_with_calls, 1);
    raw_free(NULL, own);
  }
  tern__call_msg_free(&c, in);
  tern__call_cleanup(&c); /* frees the decoded request with the arena */
}

int main(void) {
  RUN_TEST(test_arena_is_aligned_zeroed_and_grows);
  RUN_TEST(test_first_message_each_way_lives_in_the_call);
  RUN_TEST(test_a_stream_reuses_one_buffer_per_direction);
  RUN_TEST(test_messages_without_a_call_are_plain_heap);
  RUN_TEST(test_decode_arena_uses_the_codec_allocator);
  return TEST_SUMMARY("arena");
}
