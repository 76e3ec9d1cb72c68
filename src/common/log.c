/* Clocks, and one-line diagnostics on stderr filtered by TERN_LOG. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/common_int.h"

int64_t tern__now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * INT64_C(1000000000) + ts.tv_nsec;
}

int64_t tern__now_ms(void) { return tern__now_ns() / INT64_C(1000000); }

int tern__cond_init_monotonic(pthread_cond_t *cv) {
  pthread_condattr_t attr;
  int rv = pthread_condattr_init(&attr);
  if (rv != 0)
    return rv;
  rv = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  if (rv == 0)
    rv = pthread_cond_init(cv, &attr);
  pthread_condattr_destroy(&attr);
  return rv;
}

void tern__deadline_ts(struct timespec *ts, int64_t ms) {
  clock_gettime(CLOCK_MONOTONIC, ts);
  ts->tv_sec += (time_t)(ms / 1000);
  ts->tv_nsec += (long)(ms % 1000) * 1000000;
  if (ts->tv_nsec >= 1000000000) {
    ts->tv_sec++;
    ts->tv_nsec -= 1000000000;
  }
}

#define LOG_WARN 2

static pthread_once_t level_once = PTHREAD_ONCE_INIT;
static int min_level = LOG_WARN;

/* Read once: the environment is not meant to change under a running
 * library, and getenv() next to setenv() on another thread is a race. */
static void read_level(void) {
  const char *v = getenv("TERN_LOG");
  if (!v)
    return;
  if (strcmp(v, "debug") == 0)
    min_level = 0;
  else if (strcmp(v, "info") == 0)
    min_level = 1;
}

void tern__log(int level, const char *fmt, ...) {
  static const char prefix[] = "tern: ";
  char stack[512], *line = stack;
  size_t cap = sizeof(stack), plen = sizeof(prefix) - 1, len;
  va_list ap;
  int n;

  pthread_once(&level_once, read_level);
  if (level < min_level && level < LOG_WARN)
    return;

  memcpy(line, prefix, plen);
  va_start(ap, fmt);
  n = vsnprintf(line + plen, cap - plen, fmt, ap);
  va_end(ap);
  if (n < 0)
    return;
  len = plen + (size_t)n;
  if (len + 2 > cap) {
    /* Too long for the stack: format again into the heap; if that fails
     * the truncated line is still worth printing. */
    char *big = tern__malloc(len + 2);
    if (big) {
      memcpy(big, prefix, plen);
      va_start(ap, fmt);
      vsnprintf(big + plen, len + 2 - plen, fmt, ap);
      va_end(ap);
      line = big;
      cap = len + 2;
    } else {
      len = cap - 2;
    }
  }
  /* Drop a trailing newline the caller gave, so the line ends once. */
  while (len > plen && line[len - 1] == '\n')
    len--;
  line[len++] = '\n';
  /* One write per line, so that lines from different threads do not
   * interleave. */
  fwrite(line, 1, len, stderr);
  if (line != stack)
    tern__free(line);
}
