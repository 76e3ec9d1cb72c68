/* Unit tests for the growable byte buffer (src/common/buf.c). */
#include <stdint.h>

#include "common/common_int.h"
#include "test.h"

static void test_buf_append_grows_and_keeps_bytes(void) {
  tern__buf b = TERN__BUF_INIT;
  size_t i;
  int ok = 1;

  SAY("1000 appends of 7 bytes each keep every byte in order");
  for (i = 0; i < 1000; i++) {
    uint8_t chunk[7];
    size_t j;
    for (j = 0; j < sizeof(chunk); j++)
      chunk[j] = (uint8_t)(i * 7 + j);
    CHECK_EQ_INT(tern__buf_append(&b, chunk, sizeof(chunk)), TERN_OK);
  }
  CHECK_EQ_INT(b.len, 7000);
  CHECK(b.cap >= b.len);
  for (i = 0; i < b.len; i++)
    ok &= b.data[i] == (uint8_t)i;
  CHECK(ok);
  tern__buf_free(&b);
}

static void test_buf_reserve_keeps_length(void) {
  tern__buf b = TERN__BUF_INIT;
  SAY("reserve(100) makes room for 100 bytes and leaves len at 0");
  CHECK_EQ_INT(tern__buf_reserve(&b, 100), TERN_OK);
  CHECK(b.cap >= 100);
  CHECK_EQ_INT(b.len, 0);
  SAY("reserving less than the spare room keeps the same storage");
  {
    uint8_t *before = b.data;
    CHECK_EQ_INT(tern__buf_reserve(&b, 10), TERN_OK);
    CHECK(b.data == before);
  }
  tern__buf_free(&b);
}

static void test_buf_consume_drops_prefix(void) {
  tern__buf b = TERN__BUF_INIT;
  SAY("consume(6) of \"hello world\" leaves \"world\"");
  CHECK_EQ_INT(tern__buf_append(&b, "hello world", 11), TERN_OK);
  tern__buf_consume(&b, 6);
  CHECK_EQ_MEM(b.data, b.len, "world", 5);
  SAY("consume(0) changes nothing");
  tern__buf_consume(&b, 0);
  CHECK_EQ_MEM(b.data, b.len, "world", 5);
  SAY("consuming more than len empties the buffer");
  tern__buf_consume(&b, 100);
  CHECK_EQ_INT(b.len, 0);
  SAY("the buffer is usable again after being emptied");
  CHECK_EQ_INT(tern__buf_append(&b, "x", 1), TERN_OK);
  CHECK_EQ_MEM(b.data, b.len, "x", 1);
  tern__buf_free(&b);
}

static void test_buf_append_empty_is_noop(void) {
  tern__buf b = TERN__BUF_INIT;
  SAY("appending 0 bytes (NULL data) succeeds and allocates nothing");
  CHECK_EQ_INT(tern__buf_append(&b, NULL, 0), TERN_OK);
  CHECK(b.data == NULL);
  CHECK_EQ_INT(b.len, 0);
  tern__buf_free(&b);
}

static void test_buf_reserve_overflow_is_enomem(void) {
  tern__buf b = TERN__BUF_INIT;
  SAY("a reservation whose total would overflow size_t gives TERN_ENOMEM");
  /* Faked length: exercises the overflow check without allocating. */
  b.len = SIZE_MAX - 10;
  CHECK_EQ_INT(tern__buf_reserve(&b, 20), TERN_ENOMEM);
  CHECK_EQ_INT(tern__buf_append(&b, "0123456789abcdefghij", 20), TERN_ENOMEM);
  CHECK(b.data == NULL);
  b.len = 0;
  tern__buf_free(&b);
}

static void test_buf_free_resets(void) {
  tern__buf b = TERN__BUF_INIT;
  SAY("free releases the storage and leaves an empty buffer");
  CHECK_EQ_INT(tern__buf_append(&b, "abc", 3), TERN_OK);
  tern__buf_free(&b);
  CHECK(b.data == NULL);
  CHECK_EQ_INT(b.len, 0);
  CHECK_EQ_INT(b.cap, 0);
  SAY("free twice is harmless");
  tern__buf_free(&b);
}

int main(void) {
  RUN_TEST(test_buf_append_grows_and_keeps_bytes);
  RUN_TEST(test_buf_reserve_keeps_length);
  RUN_TEST(test_buf_consume_drops_prefix);
  RUN_TEST(test_buf_append_empty_is_noop);
  RUN_TEST(test_buf_reserve_overflow_is_enomem);
  RUN_TEST(test_buf_free_resets);
  return TEST_SUMMARY("buf");
}
