/* Reconnection backoff as in grpc's doc/connection-backoff.md: exponential
 * growth by 1.6 up to a cap, each delay jittered by +-20%. */
#include "common/common_int.h"

#define DEFAULT_INITIAL_MS 1000
#define DEFAULT_MAX_MS 120000
#define DEFAULT_MULTIPLIER 1.6
#define DEFAULT_JITTER 0.2
#define RNG_FALLBACK UINT64_C(0x9e3779b97f4a7c15)

/* splitmix64: spreads a small or patterned seed over all 64 bits. */
static uint64_t mix_seed(uint64_t x) {
  x += UINT64_C(0x9e3779b97f4a7c15);
  x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
  x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
  return x ^ (x >> 31);
}

/* xorshift64*: a fine spread for jitter, and no shared state. */
static uint64_t rng_next(uint64_t *s) {
  uint64_t x = *s;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *s = x;
  return x * UINT64_C(0x2545f4914f6cdd1d);
}

/* Uniform in [-1, 1). */
static double rng_unit(uint64_t *s) {
  double r = (double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
  return 2.0 * r - 1.0;
}

void tern__backoff_init(tern__backoff *b, int64_t initial_ms, int64_t max_ms,
                        uint64_t seed) {
  b->initial_ms = initial_ms > 0 ? initial_ms : DEFAULT_INITIAL_MS;
  b->max_ms = max_ms > 0 ? max_ms : DEFAULT_MAX_MS;
  if (b->max_ms < b->initial_ms)
    b->max_ms = b->initial_ms;
  b->multiplier = DEFAULT_MULTIPLIER;
  b->jitter = DEFAULT_JITTER;
  b->current_ms = (double)b->initial_ms;
  b->rng = mix_seed(seed);
  if (b->rng == 0)
    b->rng = RNG_FALLBACK;
}

int64_t tern__backoff_next(tern__backoff *b) {
  double delay = b->current_ms * (1.0 + b->jitter * rng_unit(&b->rng));
  double next = b->current_ms * b->multiplier;

  b->current_ms = next < (double)b->max_ms ? next : (double)b->max_ms;
  if (delay < 0.0)
    delay = 0.0;
  /* Round to the nearest millisecond. max_ms bounds delay far below
   * INT64_MAX for any sane input; guard anyway. */
  if (delay >= 9.0e18)
    return INT64_MAX;
  return (int64_t)(delay + 0.5);
}

void tern__backoff_reset(tern__backoff *b) {
  b->current_ms = (double)b->initial_ms;
}
