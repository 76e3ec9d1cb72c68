/* Unit tests for grpc-message percent-encoding (PROTOCOL-HTTP2.md,
 * "Percent-Encoded"). */
#include <stdlib.h>

#include "common/common_int.h"
#include "test.h"

/* The status message of grpc's "special_status_message" interop test and
 * what it looks like on the wire. */
static const char special_plain[] =
    "\t\ntest with whitespace\r\nand Unicode BMP \xe2\x98\xba and non-BMP "
    "\xf0\x9f\x98\x88\t\n";
static const char special_wire[] =
    "%09%0Atest with whitespace%0D%0Aand Unicode BMP %E2%98%BA and non-BMP "
    "%F0%9F%98%88%09%0A";

static void check_encode(const char *in, size_t len, const char *want) {
  size_t out_len = 0;
  char *out = tern__percent_encode(in, len, &out_len);
  CHECK(out != NULL);
  CHECK_EQ_STR(out, want);
  CHECK_EQ_INT(out_len, strlen(want));
  free(out);
}

static void check_decode(const char *in, const char *want, size_t want_len) {
  size_t out_len = 0;
  char *out = tern__percent_decode(in, strlen(in), &out_len);
  CHECK(out != NULL);
  CHECK_EQ_MEM(out, out_len, want, want_len);
  if (out)
    CHECK(out[out_len] == '\0');
  free(out);
}

static void test_percent_encode_keeps_printable_ascii(void) {
  char all[0x7f - 0x20];
  size_t i, n = 0;
  SAY("every byte 0x20..0x7e except '%%' passes through unchanged");
  for (i = 0x20; i <= 0x7e; i++) {
    if (i != '%')
      all[n++] = (char)i;
  }
  all[n] = '\0';
  check_encode(all, n, all);
  SAY("the empty string encodes to the empty string");
  check_encode("", 0, "");
}

static void test_percent_encode_escapes_others_upper_hex(void) {
  SAY("'%%' -> %%25, NUL -> %%00, 0x7f -> %%7F, 0xff -> %%FF, tab -> %%09");
  check_encode("100%", 4, "100%25");
  check_encode("a\0b", 3, "a%00b");
  check_encode("\x7f", 1, "%7F");
  check_encode("\xff", 1, "%FF");
  check_encode("\t", 1, "%09");
  check_encode("\x10\x11", 2, "%10%11");
}

static void test_percent_encode_matches_grpc_interop_message(void) {
  SAY("grpc's special_status_message encodes as grpc sends it");
  check_encode(special_plain, strlen(special_plain), special_wire);
  SAY("and decodes back");
  check_decode(special_wire, special_plain, strlen(special_plain));
}

static void test_percent_round_trips_every_byte(void) {
  char in[256];
  size_t i, elen = 0, dlen = 0;
  char *enc, *dec;
  SAY("all 256 byte values survive encode+decode");
  for (i = 0; i < sizeof(in); i++)
    in[i] = (char)i;
  enc = tern__percent_encode(in, sizeof(in), &elen);
  CHECK(enc != NULL);
  if (!enc)
    return;
  CHECK_EQ_INT(strlen(enc), elen); /* no raw NUL in the encoding */
  dec = tern__percent_decode(enc, elen, &dlen);
  CHECK(dec != NULL);
  CHECK_EQ_MEM(dec, dlen, in, sizeof(in));
  free(enc);
  free(dec);
}

static void test_percent_decode_accepts_lower_case_hex(void) {
  SAY("%%e2%%98%%ba decodes like %%E2%%98%%BA");
  check_decode("%e2%98%ba", "\xe2\x98\xba", 3);
}

static void test_percent_decode_keeps_invalid_sequences(void) {
  SAY("a '%%' without two hex digits after it is kept as it is");
  check_decode("%", "%", 1);
  check_decode("100%", "100%", 4);
  check_decode("%4", "%4", 2);
  check_decode("%zz", "%zz", 3);
  check_decode("%G1", "%G1", 3);
  check_decode("%4g", "%4g", 3);
  check_decode("% 41", "% 41", 4);
  SAY("a kept '%%' does not hide a valid escape after it: %%%%41 -> %%A");
  check_decode("%%41", "%A", 2);
  SAY("%%00 decodes to a NUL byte counted in the length");
  check_decode("a%00b", "a\0b", 3);
  SAY("a value without escapes is copied");
  check_decode("plain text", "plain text", 10);
}

static void test_percent_out_len_is_optional(void) {
  char *e = tern__percent_encode("a b%", 4, NULL);
  char *d = tern__percent_decode("a%20b", 5, NULL);
  SAY("out_len may be NULL for both directions");
  CHECK_EQ_STR(e, "a b%25");
  CHECK_EQ_STR(d, "a b");
  free(e);
  free(d);
}

int main(void) {
  RUN_TEST(test_percent_encode_keeps_printable_ascii);
  RUN_TEST(test_percent_encode_escapes_others_upper_hex);
  RUN_TEST(test_percent_encode_matches_grpc_interop_message);
  RUN_TEST(test_percent_round_trips_every_byte);
  RUN_TEST(test_percent_decode_accepts_lower_case_hex);
  RUN_TEST(test_percent_decode_keeps_invalid_sequences);
  RUN_TEST(test_percent_out_len_is_optional);
  return TEST_SUMMARY("percent");
}
