/* Unit tests for logging and clocks (src/common/log.c). stderr is sent to
 * a temporary file to read back what tern__log wrote. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
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

static void test_deadline_ts_is_monotonic_now_plus_ms(void) {
  struct timespec ts;
  int64_t before = tern__now_ns(), after, at;
  SAY("1500 ms from now, on CLOCK_MONOTONIC, nanoseconds below 1e9");
  tern__deadline_ts(&ts, 1500);
  after = tern__now_ns();
  at = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
  CHECK(ts.tv_nsec >= 0 && ts.tv_nsec < 1000000000);
  CHECK(at >= before + 1500000000LL && at <= after + 1500000000LL);
  SAY("0 ms is now; 999 ms carries into the seconds correctly");
  tern__deadline_ts(&ts, 0);
  at = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
  CHECK(at >= after && at <= tern__now_ns());
  tern__deadline_ts(&ts, 999);
  CHECK(ts.tv_nsec >= 0 && ts.tv_nsec < 1000000000);
}

static void test_monotonic_cond_times_out_at_a_monotonic_deadline(void) {
  pthread_cond_t cv;
  pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
  struct timespec ts;
  int64_t t0, waited;
  int rv;
  CHECK_EQ_INT(tern__cond_init_monotonic(&cv), 0);
  /* On the default (wall) clock a monotonic time is decades in the past,
   * and the wait would end at once. */
  SAY("a wait until 50 ms from now lasts 50 ms (not 0, not forever)");
  pthread_mutex_lock(&mu);
  t0 = tern__now_ns();
  tern__deadline_ts(&ts, 50);
  do
    rv = pthread_cond_timedwait(&cv, &mu, &ts);
  while (rv == 0); /* a spurious wake-up */
  waited = (tern__now_ns() - t0) / 1000000;
  pthread_mutex_unlock(&mu);
  CHECK_EQ_INT(rv, ETIMEDOUT);
  CHECK(waited >= 49);
  CHECK(waited < 5000);
  if (waited < 49 || waited >= 5000)
    printf("  waited %lld ms\n", (long long)waited);
  pthread_cond_destroy(&cv);
}

int main(void) {
  /* The level is read once, at the first log call. */
  unsetenv("TERN_LOG");
  RUN_TEST(test_log_warning_is_one_prefixed_line);
  RUN_TEST(test_log_debug_and_info_hidden_by_default);
  RUN_TEST(test_log_does_not_double_newline);
  RUN_TEST(test_log_long_message_printed_whole);
  RUN_TEST(test_now_is_monotonic);
  RUN_TEST(test_deadline_ts_is_monotonic_now_plus_ms);
  RUN_TEST(test_monotonic_cond_times_out_at_a_monotonic_deadline);
  return TEST_SUMMARY("log");
}
