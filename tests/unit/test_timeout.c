/* Unit tests for the grpc-timeout header (PROTOCOL-HTTP2.md: "Timeout" is
 * TimeoutValue, at most 8 digits, then one of H M S m u n). */
#include <stdint.h>

#include "common/common_int.h"
#include "test.h"

static int parse(const char *s, int64_t *ns) {
  return tern__timeout_parse(s, strlen(s), ns);
}

static void check_parse(const char *s, int64_t want) {
  int64_t ns = -1;
  SAY("\"%s\" -> %lld ns", s, (long long)want);
  CHECK_EQ_INT(parse(s, &ns), TERN_OK);
  CHECK_EQ_INT(ns, want);
}

static void check_format(int64_t ns, const char *want) {
  char out[16];
  size_t len;
  SAY("%lld ns -> \"%s\"", (long long)ns, want);
  len = tern__timeout_format(ns, out);
  CHECK_EQ_STR(out, want);
  CHECK_EQ_INT(len, strlen(want));
}

static void test_timeout_header_parses_all_units(void) {
  check_parse("1H", INT64_C(3600000000000));
  check_parse("1M", INT64_C(60000000000));
  check_parse("1S", INT64_C(1000000000));
  check_parse("1m", INT64_C(1000000));
  check_parse("1u", INT64_C(1000));
  check_parse("1n", INT64_C(1));
  check_parse("250m", INT64_C(250000000));
  check_parse("7H", INT64_C(7) * 3600000000000);
}

static void test_timeout_header_accepts_eight_digits(void) {
  check_parse("99999999n", INT64_C(99999999));
  check_parse("99999999S", INT64_C(99999999000000000));
  check_parse("99999999M", INT64_C(5999999940000000000));
  SAY("leading zeros count towards the 8 digits");
  check_parse("00000001S", INT64_C(1000000000));
  SAY("zero is accepted: a deadline that has already passed");
  check_parse("0n", 0);
}

static void test_timeout_header_saturates_on_overflow(void) {
  SAY("2562047H still fits in int64 nanoseconds");
  check_parse("2562047H", INT64_C(2562047) * INT64_C(3600000000000));
  SAY("2562048H and 99999999H saturate at INT64_MAX");
  check_parse("2562048H", INT64_MAX);
  check_parse("99999999H", INT64_MAX);
}

static void test_timeout_header_rejects_bad_input(void) {
  static const char *const bad[] = {
      "",                        /* empty */
      "S",                       /* no digits */
      "1",                       /* no unit */
      "10",                      /* no unit, '0' is not one */
      "123456789S",              /* 9 digits */
      "1x",                      /* unknown unit */
      "1h",                      /* units are case-sensitive */
      "1s",         "1U", "-1S", /* sign */
      "+1S",                     /* sign */
      " 1S",                     /* whitespace */
      "1S ",                     /* whitespace */
      "1 S",                     /* whitespace */
      "1.5S",                    /* fraction */
      "1SS",                     /* two units */
      "0x1S",                    /* hex */
      "1e3n",                    /* exponent */
  };
  size_t i;
  for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    int64_t ns = 42;
    SAY("\"%s\" is TERN_EINVAL", bad[i]);
    CHECK_EQ_INT(parse(bad[i], &ns), TERN_EINVAL);
    CHECK_EQ_INT(ns, 42); /* untouched */
  }
  SAY("a NUL inside the value is rejected");
  {
    int64_t ns;
    CHECK_EQ_INT(tern__timeout_parse("1\0S", 3, &ns), TERN_EINVAL);
    CHECK_EQ_INT(tern__timeout_parse(NULL, 0, &ns), TERN_EINVAL);
  }
}

static void test_timeout_header_uses_given_length(void) {
  int64_t ns = 0;
  SAY("only len bytes are read: (\"1S5\", 2) is one second");
  CHECK_EQ_INT(tern__timeout_parse("1S5", 2, &ns), TERN_OK);
  CHECK_EQ_INT(ns, INT64_C(1000000000));
}

static void test_timeout_format_picks_finest_unit_that_fits(void) {
  check_format(1, "1n");
  check_format(99999999, "99999999n");
  check_format(100000000, "100000u");
  check_format(INT64_C(1000000000), "1000000u");
  check_format(INT64_C(99999999999), "100000m");
  check_format(INT64_C(1000000000000), "1000000m");
  check_format(INT64_C(1000000000000000), "1000000S");
  check_format(INT64_C(99999999000000001), "1666667M");
  check_format(INT64_MAX, "2562048H");
}

static void test_timeout_format_rounds_up(void) {
  SAY("rounding never shortens the deadline");
  check_format(100000001, "100001u");
  check_format(INT64_C(123456789012), "123457m");
  SAY("zero and negative timeouts become the shortest one, 1n");
  check_format(0, "1n");
  check_format(-5, "1n");
  check_format(INT64_MIN, "1n");
}

static void test_timeout_format_round_trips_within_one_unit(void) {
  int64_t ns = 1;
  int ok = 1, steps = 0;
  SAY("parse(format(ns)) is ns rounded up by less than one unit, in at "
      "most 8 digits, for ns = 1 .. 2^62 (x1.375 steps)");
  while (ns < INT64_C(4611686018427387904)) {
    char out[16];
    int64_t back = 0;
    size_t len = tern__timeout_format(ns, out);
    ok &= len >= 2 && len <= 9;
    ok &= tern__timeout_parse(out, len, &back) == TERN_OK;
    ok &= back >= ns;
    {
      /* Rounded up by less than one of the unit used, which is the finest
       * that fits: at most 1000 finer units over 8 digits' worth. */
      char one[3] = {'1', out[len - 1], '\0'};
      int64_t unit = 0;
      ok &= tern__timeout_parse(one, 2, &unit) == TERN_OK;
      ok &= back - ns < unit;
      ok &= (double)(back - ns) <= (double)ns / 1e5;
    }
    if (!ok) {
      printf("  ns=%lld -> %s -> %lld\n", (long long)ns, out, (long long)back);
      break;
    }
    ns = ns + ns / 2 - ns / 8 + 1;
    steps++;
  }
  CHECK(ok);
  CHECK(steps > 50);
}

int main(void) {
  RUN_TEST(test_timeout_header_parses_all_units);
  RUN_TEST(test_timeout_header_accepts_eight_digits);
  RUN_TEST(test_timeout_header_saturates_on_overflow);
  RUN_TEST(test_timeout_header_rejects_bad_input);
  RUN_TEST(test_timeout_header_uses_given_length);
  RUN_TEST(test_timeout_format_picks_finest_unit_that_fits);
  RUN_TEST(test_timeout_format_rounds_up);
  RUN_TEST(test_timeout_format_round_trips_within_one_unit);
  return TEST_SUMMARY("timeout");
}
