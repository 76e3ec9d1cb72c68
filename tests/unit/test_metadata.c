/* Unit tests for metadata lists: the public tern_metadata API and the
 * internal key rules and wire helpers (src/common/metadata.c). */
#include <stdlib.h>

#include "common/common_int.h"
#include "test.h"

static tern_metadata *new_md(void) {
  tern_metadata *md = NULL;
  CHECK_EQ_INT(tern_metadata_new(&md), TERN_OK);
  CHECK(md != NULL);
  return md;
}

static void check_entry(const tern_metadata *md, size_t i, const char *key,
                        const char *value, size_t vlen) {
  const char *k = NULL, *v = NULL;
  size_t len = 0;
  CHECK_EQ_INT(tern_metadata_get_at(md, i, &k, &v, &len), TERN_OK);
  CHECK_EQ_STR(k, key);
  CHECK_EQ_MEM(v, len, value, vlen);
  if (v)
    CHECK(v[len] == '\0');
}

static void test_metadata_add_keeps_order_and_duplicates(void) {
  tern_metadata *md = new_md();
  size_t len = 0;
  SAY("three adds, one key twice: count 3, order kept");
  CHECK_EQ_INT(tern_metadata_add(md, "a", "1"), TERN_OK);
  CHECK_EQ_INT(tern_metadata_add(md, "b", "2"), TERN_OK);
  CHECK_EQ_INT(tern_metadata_add(md, "a", "3"), TERN_OK);
  CHECK_EQ_INT(tern_metadata_count(md), 3);
  check_entry(md, 0, "a", "1", 1);
  check_entry(md, 1, "b", "2", 1);
  check_entry(md, 2, "a", "3", 1);
  SAY("get returns the first value for a key, with its length");
  CHECK_EQ_STR(tern_metadata_get(md, "a", &len), "1");
  CHECK_EQ_INT(len, 1);
  CHECK_EQ_STR(tern_metadata_get(md, "b", NULL), "2");
  SAY("get of a missing key is NULL");
  CHECK(tern_metadata_get(md, "c", &len) == NULL);
  CHECK(tern_metadata_get(md, "", NULL) == NULL);
  tern_metadata_free(md);
}

static void test_metadata_keys_are_lower_cased(void) {
  tern_metadata *md = new_md();
  SAY("\"X-Trace-ID\" is stored as \"x-trace-id\"");
  CHECK_EQ_INT(tern_metadata_add(md, "X-Trace-ID", "abc"), TERN_OK);
  check_entry(md, 0, "x-trace-id", "abc", 3);
  SAY("get matches keys in any case");
  CHECK_EQ_STR(tern_metadata_get(md, "X-TRACE-ID", NULL), "abc");
  CHECK_EQ_STR(tern_metadata_get(md, "x-trace-id", NULL), "abc");
  tern_metadata_free(md);
}

static void test_metadata_values_are_copied(void) {
  tern_metadata *md = new_md();
  char key[8] = "k", value[8] = "v1";
  SAY("changing the caller's strings after add changes nothing");
  CHECK_EQ_INT(tern_metadata_add(md, key, value), TERN_OK);
  key[0] = 'z';
  value[1] = '9';
  check_entry(md, 0, "k", "v1", 2);
  tern_metadata_free(md);
}

static void test_metadata_bin_value_round_trips_raw(void) {
  tern_metadata *md = new_md();
  static const char raw[] = {'\0', '\x01', 'a', '\xff', '\n', '\0'};
  size_t len = 0;
  const char *v;
  SAY("add_bin keeps NULs and high bytes; the value is NUL-terminated");
  CHECK_EQ_INT(tern_metadata_add_bin(md, "trace-bin", raw, sizeof(raw)),
               TERN_OK);
  v = tern_metadata_get(md, "trace-bin", &len);
  CHECK_EQ_MEM(v, len, raw, sizeof(raw));
  if (v)
    CHECK(v[len] == '\0');
  SAY("an empty -bin value (NULL, 0) is allowed");
  CHECK_EQ_INT(tern_metadata_add_bin(md, "empty-bin", NULL, 0), TERN_OK);
  v = tern_metadata_get(md, "empty-bin", &len);
  CHECK(v != NULL);
  CHECK_EQ_INT(len, 0);
  SAY("tern_metadata_add on a -bin key accepts any non-NUL bytes");
  CHECK_EQ_INT(tern_metadata_add(md, "x-bin", "\x01\x7f\xfe"), TERN_OK);
  CHECK_EQ_MEM(tern_metadata_get(md, "x-bin", &len), len, "\x01\x7f\xfe", 3);
  tern_metadata_free(md);
}

static void test_metadata_bin_round_trips_through_wire_base64(void) {
  tern_metadata *md = new_md();
  uint8_t raw[64];
  char enc[128];
  size_t i, elen, len = 0;
  const char *v;
  SAY("64 bytes -> base64 (unpadded, as sent) -> add_wire -> same bytes");
  for (i = 0; i < sizeof(raw); i++)
    raw[i] = (uint8_t)(255 - i * 3);
  elen = tern__base64_encode(raw, sizeof(raw), enc);
  CHECK_EQ_INT(tern__metadata_add_wire(md, "blob-bin", 8, enc, elen), TERN_OK);
  v = tern_metadata_get(md, "blob-bin", &len);
  CHECK_EQ_MEM(v, len, raw, sizeof(raw));
  if (v)
    CHECK(v[len] == '\0');
  SAY("padded base64 from a peer decodes too: \"Zm9vYg==\" -> \"foob\"");
  CHECK_EQ_INT(tern__metadata_add_wire(md, "p-bin", 5, "Zm9vYg==", 8), TERN_OK);
  CHECK_EQ_MEM(tern_metadata_get(md, "p-bin", &len), len, "foob", 4);
  tern_metadata_free(md);
}

static void test_metadata_wire_bin_splits_joined_values(void) {
  tern_metadata *md = new_md();
  static const char joined[] = "Zm9v, YmFy,Zg==";
  SAY("\"Zm9v, YmFy,Zg==\" (joined by a proxy) gives three entries");
  CHECK_EQ_INT(
      tern__metadata_add_wire(md, "j-bin", 5, joined, sizeof(joined) - 1),
      TERN_OK);
  CHECK_EQ_INT(tern_metadata_count(md), 3);
  check_entry(md, 0, "j-bin", "foo", 3);
  check_entry(md, 1, "j-bin", "bar", 3);
  check_entry(md, 2, "j-bin", "f", 1);
  SAY("an empty wire value gives one empty entry");
  CHECK_EQ_INT(tern__metadata_add_wire(md, "e-bin", 5, "", 0), TERN_OK);
  check_entry(md, 3, "e-bin", "", 0);
  tern_metadata_free(md);
}

static void test_metadata_wire_bad_base64_adds_nothing(void) {
  tern_metadata *md = new_md();
  SAY("a -bin value that is not base64 is TERN_EINVAL and adds nothing");
  CHECK_EQ_INT(tern__metadata_add_wire(md, "x-bin", 5, "Z", 1), TERN_EINVAL);
  CHECK_EQ_INT(tern__metadata_add_wire(md, "x-bin", 5, "no!", 3), TERN_EINVAL);
  SAY("even when only the last of several joined values is bad");
  CHECK_EQ_INT(tern__metadata_add_wire(md, "x-bin", 5, "Zm9v,YmFy,*", 11),
               TERN_EINVAL);
  CHECK_EQ_INT(tern_metadata_count(md), 0);
  tern_metadata_free(md);
}

static void test_metadata_wire_ascii_copied_verbatim(void) {
  tern_metadata *md = new_md();
  SAY("a non-bin wire value is copied as it came, key lower-cased");
  CHECK_EQ_INT(tern__metadata_add_wire(md, "X-Foo", 5, "a b,c", 5), TERN_OK);
  check_entry(md, 0, "x-foo", "a b,c", 5);
  SAY("only klen/vlen bytes are taken");
  CHECK_EQ_INT(tern__metadata_add_wire(md, "k2xxx", 2, "v2yyy", 2), TERN_OK);
  check_entry(md, 1, "k2", "v2", 2);
  SAY("an empty key is rejected");
  CHECK_EQ_INT(tern__metadata_add_wire(md, "", 0, "v", 1), TERN_EINVAL);
  CHECK_EQ_INT(tern_metadata_count(md), 2);
  tern_metadata_free(md);
}

static void test_metadata_rejects_invalid_keys(void) {
  static const char *const bad[] = {
      "",    "a b", "a:b",     "a/b", "a\tb",  "caf\xc3\xa9", "a=b",
      "a,b", "(x)", "key\x7f", "k\"", ":path", ":authority",
  };
  tern_metadata *md = new_md();
  size_t i;
  for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    SAY("key \"%s\" is TERN_EINVAL", bad[i]);
    CHECK_EQ_INT(tern_metadata_add(md, bad[i], "v"), TERN_EINVAL);
    CHECK_EQ_INT(tern_metadata_add_bin(md, bad[i], "v", 1), TERN_EINVAL);
  }
  CHECK_EQ_INT(tern_metadata_count(md), 0);
  SAY("keys of digits, a-z, '_', '.', '-' are fine");
  CHECK_EQ_INT(tern_metadata_add(md, "0-9_.-az", "v"), TERN_OK);
  CHECK_EQ_INT(tern_metadata_add(md, "x", "v"), TERN_OK);
  tern_metadata_free(md);
}

static void test_metadata_rejects_invalid_values(void) {
  static const char *const bad[] = {"\x01",    "tab\there",   "nl\n",
                                    "del\x7f", "caf\xc3\xa9", "\x1f"};
  tern_metadata *md = new_md();
  size_t i;
  for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    SAY("value \"%s\" on a non-bin key is TERN_EINVAL", bad[i]);
    CHECK_EQ_INT(tern_metadata_add(md, "k", bad[i]), TERN_EINVAL);
    CHECK_EQ_INT(tern_metadata_add_bin(md, "k", bad[i], strlen(bad[i])),
                 TERN_EINVAL);
  }
  SAY("add_bin on a non-bin key rejects an embedded NUL");
  CHECK_EQ_INT(tern_metadata_add_bin(md, "k", "a\0b", 3), TERN_EINVAL);
  CHECK_EQ_INT(tern_metadata_count(md), 0);
  SAY("\"\", \" \", \"~\" and all printable ASCII are fine");
  CHECK_EQ_INT(tern_metadata_add(md, "k", ""), TERN_OK);
  CHECK_EQ_INT(tern_metadata_add(md, "k", " "), TERN_OK);
  CHECK_EQ_INT(tern_metadata_add(md, "k", "~"), TERN_OK);
  CHECK_EQ_INT(
      tern_metadata_add(md, "k", " !\"#$%&'()*+,-./09:;<=>?@AZ[\\]^_`az{|}~"),
      TERN_OK);
  CHECK_EQ_INT(tern_metadata_add_bin(md, "k", "ok", 2), TERN_OK);
  CHECK_EQ_INT(tern_metadata_count(md), 5);
  tern_metadata_free(md);
}

static const char *const reserved_keys[] = {
    ":path",
    ":status",
    "content-type",
    "te",
    "user-agent",
    "grpc-timeout",
    "grpc-encoding",
    "grpc-accept-encoding",
    "grpc-status",
    "grpc-message",
    "connection",
    "host",
    "content-length",
    "transfer-encoding",
    "keep-alive",
    "upgrade",
    "proxy-connection",
};

static void test_metadata_reserved_keys_are_refused(void) {
  tern_metadata *md = new_md();
  size_t i;
  for (i = 0; i < sizeof(reserved_keys) / sizeof(reserved_keys[0]); i++) {
    const char *k = reserved_keys[i];
    SAY("\"%s\" is reserved and cannot be added", k);
    CHECK(tern__metadata_key_reserved(k, strlen(k)));
    CHECK_EQ_INT(tern_metadata_add(md, k, "v"), TERN_EINVAL);
  }
  SAY("reserved keys match in any case: \"Content-Type\"");
  CHECK(tern__metadata_key_reserved("Content-Type", 12));
  CHECK_EQ_INT(tern_metadata_add(md, "Content-Type", "x"), TERN_EINVAL);
  CHECK_EQ_INT(tern_metadata_count(md), 0);
  SAY("grpc-status-details-bin, authorization, x-grpc-status, te-x are not");
  CHECK(!tern__metadata_key_reserved("grpc-status-details-bin", 23));
  CHECK(!tern__metadata_key_reserved("authorization", 13));
  CHECK(!tern__metadata_key_reserved("x-grpc-status", 13));
  CHECK(!tern__metadata_key_reserved("te-x", 4));
  CHECK(!tern__metadata_key_reserved("t", 1));
  CHECK(!tern__metadata_key_reserved("", 0));
  SAY("only the first klen bytes count: (\"tex\", 2) is \"te\"");
  CHECK(tern__metadata_key_reserved("tex", 2));
  CHECK_EQ_INT(tern_metadata_add_bin(md, "grpc-status-details-bin", "\0", 1),
               TERN_OK);
  tern_metadata_free(md);
}

static void test_metadata_key_helpers(void) {
  SAY("key_valid: [0-9a-z_.-]+ only, upper case is not valid internally");
  CHECK(tern__metadata_key_valid("abc-1_2.3", 9));
  CHECK(!tern__metadata_key_valid("Abc", 3));
  CHECK(!tern__metadata_key_valid("", 0));
  CHECK(!tern__metadata_key_valid("a b", 3));
  CHECK(tern__metadata_key_valid("ab c", 2));
  SAY("is_bin_key: ends in \"-bin\"");
  CHECK(tern__metadata_is_bin_key("a-bin", 5));
  CHECK(tern__metadata_is_bin_key("-bin", 4));
  CHECK(tern__metadata_is_bin_key("A-BIN", 5));
  CHECK(!tern__metadata_is_bin_key("bin", 3));
  CHECK(!tern__metadata_is_bin_key("a-bi", 4));
  CHECK(!tern__metadata_is_bin_key("a_bin", 5));
  CHECK(!tern__metadata_is_bin_key("a-bin-x", 7));
}

static void test_metadata_get_at_checks_range(void) {
  tern_metadata *md = new_md();
  const char *k = "untouched";
  SAY("get_at past the end is TERN_EINVAL and writes nothing");
  CHECK_EQ_INT(tern_metadata_get_at(md, 0, &k, NULL, NULL), TERN_EINVAL);
  CHECK_EQ_STR(k, "untouched");
  CHECK_EQ_INT(tern_metadata_add(md, "a", "1"), TERN_OK);
  CHECK_EQ_INT(tern_metadata_get_at(md, 1, &k, NULL, NULL), TERN_EINVAL);
  SAY("every out-parameter is optional");
  CHECK_EQ_INT(tern_metadata_get_at(md, 0, NULL, NULL, NULL), TERN_OK);
  tern_metadata_free(md);
}

static void test_metadata_clear_empties_and_stays_usable(void) {
  tern_metadata *md = new_md();
  int i;
  SAY("1000 adds, clear, then add again");
  for (i = 0; i < 1000; i++) {
    char v[16];
    snprintf(v, sizeof(v), "%d", i);
    CHECK_EQ_INT(tern_metadata_add(md, "n", v), TERN_OK);
  }
  CHECK_EQ_INT(tern_metadata_count(md), 1000);
  check_entry(md, 999, "n", "999", 3);
  tern_metadata_clear(md);
  CHECK_EQ_INT(tern_metadata_count(md), 0);
  CHECK(tern_metadata_get(md, "n", NULL) == NULL);
  CHECK_EQ_INT(tern_metadata_add(md, "m", "x"), TERN_OK);
  check_entry(md, 0, "m", "x", 1);
  tern_metadata_free(md);
}

static void test_metadata_append_copies_entries(void) {
  tern_metadata *a = new_md(), *b = new_md();
  SAY("append(b, a) copies a's entries after b's; a is unchanged");
  CHECK_EQ_INT(tern_metadata_add(a, "k1", "v1"), TERN_OK);
  CHECK_EQ_INT(tern_metadata_add_bin(a, "k2-bin", "\0\1", 2), TERN_OK);
  CHECK_EQ_INT(tern_metadata_add(b, "k0", "v0"), TERN_OK);
  CHECK_EQ_INT(tern__metadata_append(b, a), TERN_OK);
  CHECK_EQ_INT(tern_metadata_count(b), 3);
  check_entry(b, 0, "k0", "v0", 2);
  check_entry(b, 1, "k1", "v1", 2);
  check_entry(b, 2, "k2-bin", "\0\1", 2);
  CHECK_EQ_INT(tern_metadata_count(a), 2);
  SAY("the copies are independent: freeing the source keeps them");
  tern_metadata_free(a);
  check_entry(b, 2, "k2-bin", "\0\1", 2);
  SAY("appending a list to itself doubles it");
  CHECK_EQ_INT(tern__metadata_append(b, b), TERN_OK);
  CHECK_EQ_INT(tern_metadata_count(b), 6);
  check_entry(b, 5, "k2-bin", "\0\1", 2);
  SAY("appending NULL adds nothing");
  CHECK_EQ_INT(tern__metadata_append(b, NULL), TERN_OK);
  CHECK_EQ_INT(tern_metadata_count(b), 6);
  tern_metadata_free(b);
}

static void test_metadata_null_arguments(void) {
  tern_metadata *md = new_md();
  SAY("NULL list, key or value is TERN_EINVAL, never a crash");
  CHECK_EQ_INT(tern_metadata_new(NULL), TERN_EINVAL);
  CHECK_EQ_INT(tern_metadata_add(NULL, "k", "v"), TERN_EINVAL);
  CHECK_EQ_INT(tern_metadata_add(md, NULL, "v"), TERN_EINVAL);
  CHECK_EQ_INT(tern_metadata_add(md, "k", NULL), TERN_EINVAL);
  CHECK_EQ_INT(tern_metadata_add_bin(md, "k-bin", NULL, 3), TERN_EINVAL);
  CHECK_EQ_INT(tern_metadata_count(NULL), 0);
  CHECK(tern_metadata_get(NULL, "k", NULL) == NULL);
  CHECK(tern_metadata_get(md, NULL, NULL) == NULL);
  tern_metadata_clear(NULL);
  tern_metadata_free(NULL);
  tern_metadata_free(md);
}

int main(void) {
  RUN_TEST(test_metadata_add_keeps_order_and_duplicates);
  RUN_TEST(test_metadata_keys_are_lower_cased);
  RUN_TEST(test_metadata_values_are_copied);
  RUN_TEST(test_metadata_bin_value_round_trips_raw);
  RUN_TEST(test_metadata_bin_round_trips_through_wire_base64);
  RUN_TEST(test_metadata_wire_bin_splits_joined_values);
  RUN_TEST(test_metadata_wire_bad_base64_adds_nothing);
  RUN_TEST(test_metadata_wire_ascii_copied_verbatim);
  RUN_TEST(test_metadata_rejects_invalid_keys);
  RUN_TEST(test_metadata_rejects_invalid_values);
  RUN_TEST(test_metadata_reserved_keys_are_refused);
  RUN_TEST(test_metadata_key_helpers);
  RUN_TEST(test_metadata_get_at_checks_range);
  RUN_TEST(test_metadata_clear_empties_and_stays_usable);
  RUN_TEST(test_metadata_append_copies_entries);
  RUN_TEST(test_metadata_null_arguments);
  return TEST_SUMMARY("metadata");
}
