/* Unit tests for logging and clocks (src/common/log.c). stderr is sent to
 * a temporary file to read back what tern__log wrote. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/common_int.h"
#include "test.h"

static char captured[4096];

/* Runs fn with stderr going to a file; leaves what it wrote in captured. */
static void capture_stderr(void (*fn)(void)) {
  FILE *f = tmpfile();
  int saved;
  size_t n;
  captured[0] = '\0';
  if (!f) {
    CHECK(f != NULL);
    return;
  }
  fflush(stderr);
  saved = dup(2);
  dup2(fileno(f), 2);
  fn();
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  rewind(f);
  n = fread(captured, 1, sizeof(captured) - 1, f);
  captured[n] = '\0';
  fclose(f);
}

static void log_warning(void) { TERN__WARN("listener on port %d failed", 80); }
static void log_debug_and_info(void) {
  TERN__DEBUG("hidden %d", 1);
  TERN__INFO("hidden %d", 2);
}
static void log_with_newline(void) { TERN__WARN("ends in a newline\n"); }

static char long_msg[3000];
static void log_long(void) { TERN__WARN("%s", long_msg); }

static void test_log_warning_is_one_prefixed_line(void) {
  SAY("a warning prints \"tern: <message>\\n\" to stderr");
  capture_stderr(log_warning);
  CHECK_EQ_STR(captured, "tern: listener on port 80 failed\n");
}

static void test_log_debug_and_info_hidden_by_default(void) {
  SAY("without TERN_LOG, debug and info lines are not printed");
  capture_stderr(log_debug_and_info);
  CHECK_EQ_STR(captured, "");
}

static void test_log_does_not_double_newline(void) {
  SAY("a message ending in \\n still gives one line");
  capture_stderr(log_with_newline);
  CHECK_EQ_STR(captured, "tern: ends in a newline\n");
}

static void test_log_long_message_printed_whole(void) {
  SAY("a 2999-byte message is printed whole, on one line");
  memset(long_msg, 'x', sizeof(long_msg) - 1);
  capture_stderr(log_long);
  CHECK_EQ_INT(strlen(captured), 6 + sizeof(long_msg) - 1 + 1);
  CHECK(strncmp(captured, "tern: xxx", 9) == 0);
  CHECK(captured[strlen(captured) - 1] == '\n');
}

static void test_now_is_monotonic(void) {
  int64_t a = tern__now_ns(), b, ms;
  int i, ok = 1;
  SAY("now_ns never goes back; now_ms agrees with it");
  for (i = 0; i < 1000; i++) {
    b = tern__now_ns();
    ok &= b >= a;
    a = b;
  }
  CHECK(ok);
  CHECK(a > 0);
  ms = tern__now_ms();
  CHECK(ms >= a / 1000000 && ms - a / 1000000 < 1000);
}

int main(void) {
  /* The level is read once, at the first log call. */
  unsetenv("TERN_LOG");
  RUN_TEST(test_log_warning_is_one_prefixed_line);
  RUN_TEST(test_log_debug_and_info_hidden_by_default);
  RUN_TEST(test_log_does_not_double_newline);
  RUN_TEST(test_log_long_message_printed_whole);
  RUN_TEST(test_now_is_monotonic);
  return TEST_SUMMARY("log");
}
