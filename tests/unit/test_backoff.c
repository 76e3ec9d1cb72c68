/* Unit tests for connection backoff (grpc doc/connection-backoff.md):
 * INITIAL_BACKOFF 1 s, MULTIPLIER 1.6, JITTER 0.2, MAX_BACKOFF 120 s. */
#include <stdint.h>

#include "common/common_int.h"
#include "test.h"

/* Whether delay is current * (1 +- 0.2), allowing the rounding to whole
 * milliseconds. */
static int within_jitter(int64_t delay, double current) {
  return (double)delay >= current * 0.8 - 0.5 &&
         (double)delay <= current * 1.2 + 0.5;
}

static void test_backoff_defaults_for_zero_arguments(void) {
  tern__backoff b;
  SAY("init(0, 0) uses grpc's 1000 ms, 120000 ms, x1.6, +-0.2");
  tern__backoff_init(&b, 0, 0, 1);
  CHECK_EQ_INT(b.initial_ms, 1000);
  CHECK_EQ_INT(b.max_ms, 120000);
  CHECK(b.multiplier == 1.6);
  CHECK(b.jitter == 0.2);
  CHECK(b.current_ms == 1000.0);
  CHECK(b.rng != 0);
}

static void test_backoff_sequence_stays_within_jitter_bounds(void) {
  tern__backoff b;
  double expect = 1000.0;
  int i, ok = 1;
  SAY("30 delays each within +-20%% of 1000 * 1.6^n (capped at 120000)");
  tern__backoff_init(&b, 1000, 120000, 12345);
  for (i = 0; i < 30; i++) {
    int64_t d = tern__backoff_next(&b);
    if (!within_jitter(d, expect)) {
      printf("  step %d: delay %lld outside %.0f +- 20%%\n", i, (long long)d,
             expect);
      ok = 0;
    }
    expect = expect * 1.6 > 120000.0 ? 120000.0 : expect * 1.6;
  }
  CHECK(ok);
}

static void test_backoff_grows_by_multiplier(void) {
  tern__backoff b;
  static const double want[] = {1000.0, 1600.0, 2560.0,
                                4096.0, 6553.6, 10485.76};
  size_t i;
  tern__backoff_init(&b, 1000, 120000, 7);
  for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
    double diff = b.current_ms - want[i];
    SAY("before attempt %zu the base delay is %.2f ms", i + 1, want[i]);
    CHECK(diff < 1e-6 && diff > -1e-6);
    (void)tern__backoff_next(&b);
  }
}

static void test_backoff_caps_at_max(void) {
  tern__backoff b;
  int i, ok = 1;
  SAY("after enough attempts the base stays at max_ms (5000) and delays "
      "stay within 5000 +- 20%%");
  tern__backoff_init(&b, 100, 5000, 99);
  for (i = 0; i < 20; i++)
    (void)tern__backoff_next(&b);
  CHECK(b.current_ms == 5000.0);
  for (i = 0; i < 200; i++) {
    ok &= within_jitter(tern__backoff_next(&b), 5000.0);
    ok &= b.current_ms == 5000.0;
  }
  CHECK(ok);
  SAY("max below initial is raised to initial");
  tern__backoff_init(&b, 3000, 1000, 1);
  CHECK_EQ_INT(b.max_ms, 3000);
}

static void test_backoff_reset_restarts_from_initial(void) {
  tern__backoff b;
  int i;
  SAY("after 10 attempts, reset brings the base back to initial_ms");
  tern__backoff_init(&b, 250, 60000, 5);
  for (i = 0; i < 10; i++)
    (void)tern__backoff_next(&b);
  CHECK(b.current_ms > 250.0);
  tern__backoff_reset(&b);
  CHECK(b.current_ms == 250.0);
  CHECK(within_jitter(tern__backoff_next(&b), 250.0));
}

static void test_backoff_jitter_spreads_delays(void) {
  int64_t lo = INT64_MAX, hi = 0;
  int i;
  SAY("first delays over 1000 seeds (0 included) span most of 800..1200");
  for (i = 0; i < 1000; i++) {
    tern__backoff b;
    int64_t d;
    tern__backoff_init(&b, 1000, 120000, (uint64_t)i);
    CHECK(b.rng != 0);
    d = tern__backoff_next(&b);
    lo = d < lo ? d : lo;
    hi = d > hi ? d : hi;
  }
  printf("  seen %lld..%lld\n", (long long)lo, (long long)hi);
  CHECK(lo >= 800 && lo < 840);
  CHECK(hi <= 1200 && hi > 1160);
}

static void test_backoff_same_seed_same_sequence(void) {
  tern__backoff a, b;
  int i, same = 1;
  SAY("two backoffs with one seed give one sequence");
  tern__backoff_init(&a, 1000, 120000, 42);
  tern__backoff_init(&b, 1000, 120000, 42);
  for (i = 0; i < 20; i++)
    same &= tern__backoff_next(&a) == tern__backoff_next(&b);
  CHECK(same);
}

int main(void) {
  RUN_TEST(test_backoff_defaults_for_zero_arguments);
  RUN_TEST(test_backoff_sequence_stays_within_jitter_bounds);
  RUN_TEST(test_backoff_grows_by_multiplier);
  RUN_TEST(test_backoff_caps_at_max);
  RUN_TEST(test_backoff_reset_restarts_from_initial);
  RUN_TEST(test_backoff_jitter_spreads_delays);
  RUN_TEST(test_backoff_same_seed_same_sequence);
  return TEST_SUMMARY("backoff");
}
