/* Unit tests for status codes: names, grpc-status parsing, the HTTP and
 * HTTP/2 mappings (http-grpc-status-mapping.md, PROTOCOL-HTTP2.md), and
 * library error names. */
#include <limits.h>
#include <stdlib.h>

#include "common/common_int.h"
#include "test.h"

static void test_status_code_names_cover_all_17(void) {
  static const char *const names[17] = {
      "OK",
      "CANCELLED",
      "UNKNOWN",
      "INVALID_ARGUMENT",
      "DEADLINE_EXCEEDED",
      "NOT_FOUND",
      "ALREADY_EXISTS",
      "PERMISSION_DENIED",
      "RESOURCE_EXHAUSTED",
      "FAILED_PRECONDITION",
      "ABORTED",
      "OUT_OF_RANGE",
      "UNIMPLEMENTED",
      "INTERNAL",
      "UNAVAILABLE",
      "DATA_LOSS",
      "UNAUTHENTICATED",
  };
  int i;
  for (i = 0; i < 17; i++) {
    SAY("code %d is %s", i, names[i]);
    CHECK_EQ_STR(tern_status_code_name((tern_status_code)i), names[i]);
  }
  SAY("out-of-range codes (-1, 17, 1000) are named UNKNOWN");
  CHECK_EQ_STR(tern_status_code_name((tern_status_code)-1), "UNKNOWN");
  CHECK_EQ_STR(tern_status_code_name((tern_status_code)17), "UNKNOWN");
  CHECK_EQ_STR(tern_status_code_name((tern_status_code)1000), "UNKNOWN");
}

static void test_status_from_http_maps_listed_codes(void) {
  static const struct {
    int http;
    tern_status_code want;
  } table[] = {
      {400, TERN_STATUS_INTERNAL},          {401, TERN_STATUS_UNAUTHENTICATED},
      {403, TERN_STATUS_PERMISSION_DENIED}, {404, TERN_STATUS_UNIMPLEMENTED},
      {429, TERN_STATUS_UNAVAILABLE},       {502, TERN_STATUS_UNAVAILABLE},
      {503, TERN_STATUS_UNAVAILABLE},       {504, TERN_STATUS_UNAVAILABLE},
  };
  size_t i;
  for (i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
    SAY("HTTP %d -> %s", table[i].http, tern_status_code_name(table[i].want));
    CHECK_EQ_INT(tern__status_from_http(table[i].http), table[i].want);
  }
}

static void test_status_from_http_maps_others_to_unknown(void) {
  static const int others[] = {200, 100, 204, 301, 402, 405, 408, 415,
                               431, 500, 501, 505, 0,   -1,  999};
  size_t i;
  for (i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
    SAY("HTTP %d -> UNKNOWN", others[i]);
    CHECK_EQ_INT(tern__status_from_http(others[i]), TERN_STATUS_UNKNOWN);
  }
}

static void test_status_from_h2_error_maps_every_code(void) {
  static const struct {
    uint32_t code;
    const char *name;
    tern_status_code want;
  } table[] = {
      {0x0, "NO_ERROR", TERN_STATUS_INTERNAL},
      {0x1, "PROTOCOL_ERROR", TERN_STATUS_INTERNAL},
      {0x2, "INTERNAL_ERROR", TERN_STATUS_INTERNAL},
      {0x3, "FLOW_CONTROL_ERROR", TERN_STATUS_INTERNAL},
      {0x4, "SETTINGS_TIMEOUT", TERN_STATUS_INTERNAL},
      {0x5, "STREAM_CLOSED", TERN_STATUS_INTERNAL},
      {0x6, "FRAME_SIZE_ERROR", TERN_STATUS_INTERNAL},
      {0x7, "REFUSED_STREAM", TERN_STATUS_UNAVAILABLE},
      {0x8, "CANCEL", TERN_STATUS_CANCELLED},
      {0x9, "COMPRESSION_ERROR", TERN_STATUS_INTERNAL},
      {0xa, "CONNECT_ERROR", TERN_STATUS_INTERNAL},
      {0xb, "ENHANCE_YOUR_CALM", TERN_STATUS_RESOURCE_EXHAUSTED},
      {0xc, "INADEQUATE_SECURITY", TERN_STATUS_PERMISSION_DENIED},
      {0xd, "HTTP_1_1_REQUIRED", TERN_STATUS_INTERNAL},
      {0xe, "(unassigned)", TERN_STATUS_INTERNAL},
      {0xffffffffu, "(unassigned)", TERN_STATUS_INTERNAL},
  };
  size_t i;
  for (i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
    SAY("h2 error 0x%x %s -> %s", (unsigned)table[i].code, table[i].name,
        tern_status_code_name(table[i].want));
    CHECK_EQ_INT(tern__status_from_h2_error(table[i].code), table[i].want);
    if (table[i].name[0] != '(')
      CHECK_EQ_STR(tern__h2_error_name(table[i].code), table[i].name);
    else
      CHECK_EQ_STR(tern__h2_error_name(table[i].code), "unknown error code");
  }
}

static void check_status_parse(const char *s, int want) {
  int code = -1;
  SAY("grpc-status \"%s\" -> %d", s, want);
  CHECK_EQ_INT(tern__status_parse(s, strlen(s), &code), TERN_OK);
  CHECK_EQ_INT(code, want);
}

static void test_status_parse_accepts_decimal(void) {
  int i;
  for (i = 0; i <= 16; i++) {
    char s[4];
    snprintf(s, sizeof(s), "%d", i);
    check_status_parse(s, i);
  }
  SAY("numbers above 16 come back as they are, huge ones as INT_MAX");
  check_status_parse("17", 17);
  check_status_parse("2147483647", INT_MAX);
  check_status_parse("99999999999999999999", INT_MAX);
}

static void test_status_parse_rejects_non_numbers(void) {
  static const char *const bad[] = {"",   "-1",  "+1", "1a", " 1",
                                    "1 ", "0x1", "OK", "1.0"};
  size_t i;
  for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    int code = -7;
    SAY("grpc-status \"%s\" is TERN_EINVAL", bad[i]);
    CHECK_EQ_INT(tern__status_parse(bad[i], strlen(bad[i]), &code),
                 TERN_EINVAL);
    CHECK_EQ_INT(code, -7);
  }
}

static void test_status_set_formats_and_replaces(void) {
  tern_status st = TERN_STATUS_INIT;
  SAY("status_set formats the message");
  tern__status_set(&st, TERN_STATUS_NOT_FOUND, "no feature at %d,%d", 4, -7);
  CHECK_EQ_INT(st.code, TERN_STATUS_NOT_FOUND);
  CHECK_EQ_STR(st.message, "no feature at 4,-7");
  SAY("a new message may quote the old one");
  tern__status_set(&st, TERN_STATUS_INTERNAL, "wrapped: %s", st.message);
  CHECK_EQ_INT(st.code, TERN_STATUS_INTERNAL);
  CHECK_EQ_STR(st.message, "wrapped: no feature at 4,-7");
  SAY("status_clear frees the message and resets to OK, twice is fine");
  tern_status_clear(&st);
  CHECK_EQ_INT(st.code, TERN_STATUS_OK);
  CHECK(st.message == NULL);
  tern_status_clear(&st);
  tern_status_clear(NULL);
}

static void test_strerror_names_every_error(void) {
  static const int codes[] = {
      TERN_OK,    TERN_ENOMEM, TERN_EINVAL,    TERN_ESTATE, TERN_ECLOSED,
      TERN_EADDR, TERN_ESYS,   TERN_ETIMEDOUT, TERN_EEXIST, TERN_EPROTO};
  const size_t n = sizeof(codes) / sizeof(codes[0]);
  size_t i, j;
  const char *unknown = tern_strerror(-1000);
  CHECK(unknown != NULL);
  for (i = 0; i < n; i++) {
    const char *s = tern_strerror(codes[i]);
    SAY("tern_strerror(%d) = \"%s\"", codes[i], s ? s : "(null)");
    CHECK(s != NULL && s[0] != '\0');
    CHECK(s != NULL && strcmp(s, unknown) != 0);
    for (j = 0; j < i; j++)
      CHECK(strcmp(s, tern_strerror(codes[j])) != 0);
  }
  SAY("codes that do not exist (-1000, 1) get a name too");
  CHECK(tern_strerror(1) != NULL);
}

int main(void) {
  RUN_TEST(test_status_code_names_cover_all_17);
  RUN_TEST(test_status_from_http_maps_listed_codes);
  RUN_TEST(test_status_from_http_maps_others_to_unknown);
  RUN_TEST(test_status_from_h2_error_maps_every_code);
  RUN_TEST(test_status_parse_accepts_decimal);
  RUN_TEST(test_status_parse_rejects_non_numbers);
  RUN_TEST(test_status_set_formats_and_replaces);
  RUN_TEST(test_strerror_names_every_error);
  return TEST_SUMMARY("status");
}
