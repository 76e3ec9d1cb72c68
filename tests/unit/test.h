/* A small unit-test harness shared by the runners in tests/unit: checks
 * that print the values that differed, named test functions, a summary.
 *
 *   static void test_thing_does_x(void) {
 *     SAY("parse(\"1S\") gives one second");
 *     CHECK_EQ_INT(parse("1S"), 1000000000);
 *   }
 *   int main(void) {
 *     RUN_TEST(test_thing_does_x);
 *     return TEST_SUMMARY("thing");
 *   }
 *
 * A failed check reports file:line and continues with the next check; the
 * test is then reported "FAIL: name" and the runner exits 1. Include this
 * header from one .c file per runner. */
#ifndef TERN_TEST_H
#define TERN_TEST_H

#include <stddef.h>
#include <stdio.h>
#include <string.h>

static int test_checks_failed; /* in the running test */
static int test_run_count;
static int test_fail_count;

/* Prints s (len bytes) in C string syntax, escaping what is not
 * printable, so that differences in invisible bytes show. */
static inline void test_print_bytes(const char *s, size_t len) {
  size_t i;
  if (!s) {
    fputs("(null)", stdout);
    return;
  }
  putchar('"');
  for (i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\')
      printf("\\%c", c);
    else if (c >= 0x20 && c < 0x7f)
      putchar(c);
    else
      printf("\\x%02x", c);
  }
  putchar('"');
}

static inline void test_fail_head(const char *file, int line) {
  test_checks_failed++;
  printf("  %s:%d: ", file, line);
}

/* Tells what the test is about to check. */
#define SAY(...)                                                               \
  do {                                                                         \
    fputs("  - ", stdout);                                                     \
    printf(__VA_ARGS__);                                                       \
    putchar('\n');                                                             \
  } while (0)

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      test_fail_head(__FILE__, __LINE__);                                      \
      printf("CHECK(%s) failed\n", #cond);                                     \
    }                                                                          \
  } while (0)

/* Integers of any type up to 64 bits (compared as long long). */
#define CHECK_EQ_INT(a, b)                                                     \
  do {                                                                         \
    long long test_a_ = (long long)(a), test_b_ = (long long)(b);              \
    if (test_a_ != test_b_) {                                                  \
      test_fail_head(__FILE__, __LINE__);                                      \
      printf("%s == %s failed: %lld != %lld\n", #a, #b, test_a_, test_b_);     \
    }                                                                          \
  } while (0)

/* NUL-terminated strings; NULL equals only NULL. */
#define CHECK_EQ_STR(a, b)                                                     \
  do {                                                                         \
    const char *test_a_ = (a), *test_b_ = (b);                                 \
    if ((!test_a_ || !test_b_) ? test_a_ != test_b_                            \
                               : strcmp(test_a_, test_b_) != 0) {              \
      test_fail_head(__FILE__, __LINE__);                                      \
      printf("%s == %s failed: ", #a, #b);                                     \
      test_print_bytes(test_a_, test_a_ ? strlen(test_a_) : 0);                \
      fputs(" != ", stdout);                                                   \
      test_print_bytes(test_b_, test_b_ ? strlen(test_b_) : 0);                \
      putchar('\n');                                                           \
    }                                                                          \
  } while (0)

/* Byte ranges (binary-safe). */
#define CHECK_EQ_MEM(a, alen, b, blen)                                         \
  do {                                                                         \
    const char *test_a_ = (const char *)(a), *test_b_ = (const char *)(b);     \
    size_t test_al_ = (alen), test_bl_ = (blen);                               \
    if (!test_a_ || !test_b_ || test_al_ != test_bl_ ||                        \
        memcmp(test_a_, test_b_, test_al_) != 0) {                             \
      test_fail_head(__FILE__, __LINE__);                                      \
      printf("%s == %s failed: ", #a, #b);                                     \
      test_print_bytes(test_a_, test_al_);                                     \
      fputs(" != ", stdout);                                                   \
      test_print_bytes(test_b_, test_bl_);                                     \
      putchar('\n');                                                           \
    }                                                                          \
  } while (0)

static inline void test_run(const char *name, void (*fn)(void)) {
  printf("run: %s\n", name);
  test_checks_failed = 0;
  fn();
  test_run_count++;
  if (test_checks_failed) {
    test_fail_count++;
    printf("FAIL: %s (%d failed checks)\n", name, test_checks_failed);
  } else {
    printf("ok: %s\n", name);
  }
  fflush(stdout);
}

/* Runs a `void fn(void)` test and reports it under its own name. */
#define RUN_TEST(fn) test_run(#fn, fn)

/* Prints the summary line; the value to return from main(). */
static inline int test_summary(const char *suite) {
  printf("%s: %d tests, %d passed, %d failed\n", suite, test_run_count,
         test_run_count - test_fail_count, test_fail_count);
  fflush(stdout);
  return test_fail_count ? 1 : 0;
}

#define TEST_SUMMARY(suite) test_summary(suite)

#endif /* TERN_TEST_H */
