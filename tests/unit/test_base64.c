/* Unit tests for base64 ("-bin" metadata values), RFC 4648 section 10
 * vectors, padded and unpadded input, and invalid input. */
#include <stdint.h>
#include <stdlib.h>

#include "common/common_int.h"
#include "test.h"

struct vector {
  const char *plain;
  const char *unpadded;
  const char *padded;
};

/* RFC 4648 section 10. */
static const struct vector rfc_vectors[] = {
    {"", "", ""},
    {"f", "Zg", "Zg=="},
    {"fo", "Zm8", "Zm8="},
    {"foo", "Zm9v", "Zm9v"},
    {"foob", "Zm9vYg", "Zm9vYg=="},
    {"fooba", "Zm9vYmE", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy", "Zm9vYmFy"},
};
#define N_VECTORS (sizeof(rfc_vectors) / sizeof(rfc_vectors[0]))

static void test_base64_encodes_rfc4648_vectors_unpadded(void) {
  size_t i;
  for (i = 0; i < N_VECTORS; i++) {
    const struct vector *v = &rfc_vectors[i];
    char out[16];
    size_t n = strlen(v->plain), len;
    SAY("encode(\"%s\") == \"%s\"", v->plain, v->unpadded);
    CHECK_EQ_INT(tern__base64_encoded_len(n), strlen(v->unpadded));
    len = tern__base64_encode((const uint8_t *)v->plain, n, out);
    CHECK_EQ_MEM(out, len, v->unpadded, strlen(v->unpadded));
  }
}

static void test_base64_decodes_padded_and_unpadded(void) {
  size_t i;
  for (i = 0; i < N_VECTORS; i++) {
    const struct vector *v = &rfc_vectors[i];
    uint8_t out[16];
    size_t len = 99;
    SAY("decode(\"%s\") and decode(\"%s\") == \"%s\"", v->unpadded, v->padded,
        v->plain);
    CHECK_EQ_INT(
        tern__base64_decode(v->unpadded, strlen(v->unpadded), out, &len),
        TERN_OK);
    CHECK_EQ_MEM(out, len, v->plain, strlen(v->plain));
    len = 99;
    CHECK_EQ_INT(tern__base64_decode(v->padded, strlen(v->padded), out, &len),
                 TERN_OK);
    CHECK_EQ_MEM(out, len, v->plain, strlen(v->plain));
  }
}

static void test_base64_round_trips_every_byte_and_length(void) {
  uint8_t in[300], back[(400 / 4 + 1) * 3];
  char enc[400];
  size_t n, i;
  int ok = 1;

  SAY("every byte value, and every length 0..300, survives encode+decode");
  for (i = 0; i < sizeof(in); i++)
    in[i] = (uint8_t)(i * 131 + 7);
  for (n = 0; n <= sizeof(in); n++) {
    size_t elen = tern__base64_encode(in, n, enc), blen = 0;
    ok &= elen == tern__base64_encoded_len(n);
    ok &= tern__base64_decode(enc, elen, back, &blen) == TERN_OK;
    ok &= blen == n && memcmp(in, back, n) == 0;
  }
  CHECK(ok);
  SAY("the encoding uses '+' and '/' (standard alphabet)");
  {
    const uint8_t hi[3] = {0xfb, 0xff, 0xbf};
    size_t len = tern__base64_encode(hi, 3, enc);
    CHECK_EQ_MEM(enc, len, "+/+/", 4);
  }
}

static void test_base64_rejects_invalid_input(void) {
  static const char *const bad[] = {
      "Z",        /* one char cannot make a byte */
      "Zm9vY",    /* 5 chars: same */
      "Zg=",      /* padding that does not complete a group of four */
      "Zg===",    /* too much padding */
      "Z===",     /* three '=' */
      "====",     /* padding only */
      "=Zg=",     /* padding first */
      "Zg==Zg==", /* padding in the middle */
      "Zm9v!",    /* not in the alphabet */
      "Zm 9v",    /* space */
      "Zm9v\n",   /* newline */
      "Zm-_",     /* URL-safe alphabet */
      "Zm9\x80",  /* high byte */
  };
  size_t i;
  uint8_t out[32];
  for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    size_t len = 0;
    SAY("decode(\"%s\") is TERN_EINVAL", bad[i]);
    CHECK_EQ_INT(tern__base64_decode(bad[i], strlen(bad[i]), out, &len),
                 TERN_EINVAL);
  }
  SAY("an embedded NUL is rejected, not treated as the end");
  {
    size_t len = 0;
    CHECK_EQ_INT(tern__base64_decode("Zm\0v", 4, out, &len), TERN_EINVAL);
  }
}

static void test_base64_ignores_unused_trailing_bits(void) {
  uint8_t out[8];
  size_t len = 0;
  SAY("\"Zh\" (non-zero unused bits) decodes like \"Zg\", as RFC 4648 "
      "allows");
  CHECK_EQ_INT(tern__base64_decode("Zh", 2, out, &len), TERN_OK);
  CHECK_EQ_MEM(out, len, "f", 1);
}

int main(void) {
  RUN_TEST(test_base64_encodes_rfc4648_vectors_unpadded);
  RUN_TEST(test_base64_decodes_padded_and_unpadded);
  RUN_TEST(test_base64_round_trips_every_byte_and_length);
  RUN_TEST(test_base64_rejects_invalid_input);
  RUN_TEST(test_base64_ignores_unused_trailing_bits);
  return TEST_SUMMARY("base64");
}
