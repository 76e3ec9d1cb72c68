/* bench_client: a load generator for grpc.testing.BenchmarkService built on
 * tern's client API (the server side is bench_server.c). It keeps a fixed
 * number of calls in flight, measures after a warm-up, and prints req/s,
 * latency percentiles, errors by status and the client's CPU per call.
 *
 * Unary: M tern_unary_call_async calls per channel, each re-issued from its
 * completion callback (on the channel's I/O thread: it never blocks).
 * Streaming ping-pong: tern's streaming API is blocking, so every
 * StreamingCall is driven by its own thread doing write, read, write, ...
 * That costs a thread per call (N x M is capped at MAX_STREAMS) and two
 * thread hand-offs per round trip, which is part of what it measures.
 *
 * Counting: a call counts when it ended OK with a response whose payload
 * body is exactly --response-size bytes, and it completed in the measured
 * phase. Errors (non-OK status, wrong payload size, local failures) are
 * counted over the whole run, warm-up and drain included. Exit status: 0
 * when there were OK calls and no errors, 1 otherwise, 2 for bad flags. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "grpc/testing/benchmark_service.tern.h"

#define MAX_CONNECTIONS 1024
#define MAX_CONCURRENCY 100000
#define MAX_STREAMS 4096
#define MAX_PAYLOAD (64 << 20)
#define DRAIN_TIMEOUT_NS (10ull * 1000000000ull)

/* ------------------------------------------------------------------ */
/* Latency histogram: log-linear buckets over nanoseconds. Values below
 * 2*SUB have their own bucket; above, each power of two is split into SUB
 * equal buckets, so a bucket is at most 1/SUB (1.6 %) of its value wide.
 * Fixed size, no allocation when recording. */

#define H_SUB_BITS 6
#define H_SUB (1u << H_SUB_BITS)
#define H_MAX_MSB 42 /* ~73 minutes; longer values land in the last bucket */
#define H_BUCKETS (2 * H_SUB + (H_MAX_MSB - H_SUB_BITS) * H_SUB)

typedef struct hist {
  uint64_t counts[H_BUCKETS];
  uint64_t n, sum, min, max;
} hist;

static int msb64(uint64_t v) { return 63 - __builtin_clzll(v); }

static size_t hist_index(uint64_t v) {
  int msb, shift;
  if (v < 2 * H_SUB)
    return (size_t)v;
  msb = msb64(v);
  if (msb > H_MAX_MSB)
    return H_BUCKETS - 1;
  shift = msb - H_SUB_BITS;
  return 2 * H_SUB + (size_t)(msb - H_SUB_BITS - 1) * H_SUB +
         (size_t)((v >> shift) - H_SUB);
}

/* Lowest value of bucket i and its width. */
static void hist_bucket(size_t i, uint64_t *low, uint64_t *width) {
  size_t k, group;
  if (i < 2 * H_SUB) {
    *low = i;
    *width = 1;
    return;
  }
  k = i - 2 * H_SUB;
  group = k / H_SUB;
  *width = (uint64_t)1 << (group + 1);
  *low = (uint64_t)(H_SUB + k % H_SUB) << (group + 1);
}

static void hist_add(hist *h, uint64_t v) {
  h->counts[hist_index(v)]++;
  if (h->n == 0 || v < h->min)
    h->min = v;
  if (v > h->max)
    h->max = v;
  h->n++;
  h->sum += v;
}

static void hist_merge(hist *into, const hist *from) {
  size_t i;
  if (from->n == 0)
    return;
  for (i = 0; i < H_BUCKETS; i++)
    into->counts[i] += from->counts[i];
  if (into->n == 0 || from->min < into->min)
    into->min = from->min;
  if (from->max > into->max)
    into->max = from->max;
  into->n += from->n;
  into->sum += from->sum;
}

/* The value at percentile p (0..100]: the middle of the bucket holding the
 * ceil(p% * n)-th smallest value, kept within [min, max]. */
static uint64_t hist_percentile(const hist *h, double p) {
  uint64_t rank, seen = 0, low, width, v;
  size_t i;
  if (h->n == 0)
    return 0;
  rank = (uint64_t)(p / 100.0 * (double)h->n);
  if ((double)rank < p / 100.0 * (double)h->n)
    rank++;
  if (rank < 1)
    rank = 1;
  for (i = 0; i < H_BUCKETS; i++) {
    seen += h->counts[i];
    if (seen >= rank)
      break;
  }
  if (i == H_BUCKETS)
    return h->max;
  hist_bucket(i, &low, &width);
  v = low + (width - 1) / 2;
  if (v > h->max)
    v = h->max;
  if (v < h->min)
    v = h->min;
  return v;
}

/* ------------------------------------------------------------------ */
/* Counters. One stats block is only ever written by one thread: a
 * channel's I/O thread (unary) or a stream's thread (streaming). */

enum {
  ERR_WRONG_SIZE = TERN_STATUS_UNAUTHENTICATED + 1, /* OK, bad payload */
  ERR_LOCAL, /* a tern function failed on our side */
  ERR_STUCK, /* still running when the drain timed out */
  ERR_KINDS
};

static const char *err_name(int i) {
  if (i == ERR_WRONG_SIZE)
    return "wrong_payload_size";
  if (i == ERR_LOCAL)
    return "local_failure";
  if (i == ERR_STUCK)
    return "stuck_at_stop";
  return tern_status_code_name((tern_status_code)i);
}

typedef struct stats {
  hist lat;    /* OK calls of the measured phase */
  uint64_t ok; /* = lat.n */
  uint64_t err[ERR_KINDS];
} stats;

enum { PHASE_WARMUP = 0, PHASE_MEASURE = 1, PHASE_STOP = 2 };

typedef struct config {
  const char *target;
  int streaming;
  int connections, concurrency;
  int request_size, response_size;
  double duration, warmup;
  const char *json_path;
  const char *cpu_list;
} config;

struct conn;

/* One call in flight: a unary slot or a stream and its thread. */
typedef struct slot {
  struct conn *conn;
  uint64_t start_ns;
  /* streaming only */
  stats *st;
  pthread_t thread;
  int thread_started;
  pthread_mutex_t mu; /* guards call against cancel from main */
  tern_call *call;
} slot;

typedef struct conn {
  tern_channel *channel;
  Grpc__Testing__BenchmarkServiceStub stub;
  stats st; /* unary calls of this channel */
  slot *slots;
} conn;

static struct {
  config cfg;
  Grpc__Testing__SimpleRequest req;
  Grpc__Testing__Payload req_payload;
  uint8_t *req_body;
  conn *conns;
  int phase;      /* PHASE_*, atomic */
  int abandoned;  /* drain timed out: what ends now is ERR_STUCK; atomic */
  long in_flight; /* slots still running; atomic */
} g;

static volatile sig_atomic_t interrupted;

static void on_signal(int sig) {
  (void)sig;
  interrupted = 1;
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int phase_get(void) {
  return __atomic_load_n(&g.phase, __ATOMIC_ACQUIRE);
}

static void slot_done(void) {
  __atomic_sub_fetch(&g.in_flight, 1, __ATOMIC_ACQ_REL);
}

/* Books one finished call (or one ping-pong round trip). */
static void account(stats *st, int phase, tern_status_code code,
                    const Grpc__Testing__SimpleResponse *resp,
                    uint64_t latency_ns) {
  if (__atomic_load_n(&g.abandoned, __ATOMIC_ACQUIRE)) {
    st->err[ERR_STUCK]++;
    return;
  }
  if (code != TERN_STATUS_OK) {
    int k = (int)code;
    st->err[(k > 0 && k < ERR_WRONG_SIZE) ? k : (int)TERN_STATUS_UNKNOWN]++;
    return;
  }
  /* A payload left out counts as an empty one (proto3 leaves out empty
   * fields; only the body's length matters). */
  if (!resp || (resp->payload ? resp->payload->body.len : 0) !=
                   (size_t)g.cfg.response_size) {
    st->err[ERR_WRONG_SIZE]++;
    return;
  }
  if (phase == PHASE_MEASURE) {
    st->ok++;
    hist_add(&st->lat, latency_ns);
  }
}

/* ------------------------------------------------------------------ */
/* Unary: re-issued from the completion callback on the I/O thread. */

static void on_unary_done(const tern_status *status, void *response,
                          void *user_data);

static int unary_issue(slot *s) {
  s->start_ns = now_ns();
  return grpc__testing__benchmark_service_stub__unary_call_async(
      &s->conn->stub, &g.req, NULL, on_unary_done, s);
}

static void on_unary_done(const tern_status *status, void *response,
                          void *user_data) {
  slot *s = user_data;
  conn *c = s->conn;
  uint64_t end = now_ns();
  int phase = phase_get();
  account(&c->st, phase, status->code, response, end - s->start_ns);
  if (response)
    grpc__testing__simple_response__free_unpacked(response, NULL);
  if (phase == PHASE_STOP)
    goto finished;
  if (unary_issue(s) != TERN_OK) {
    c->st.err[ERR_LOCAL]++;
    goto finished;
  }
  return;
finished:
  slot_done();
}

/* ------------------------------------------------------------------ */
/* Streaming ping-pong: one blocking thread per StreamingCall. */

/* One StreamingCall: ping-pong until the stop or a failure. Returns -1
 * when the call could not even be started (no point retrying). */
static int stream_once(slot *s) {
  stats *st = s->st;
  tern_call *call = NULL;
  tern_status status = TERN_STATUS_INIT;
  tern_status_code code;
  int rv, broken = 0;
  rv = grpc__testing__benchmark_service_stub__streaming_call(&s->conn->stub,
                                                             NULL, &call);
  if (rv != TERN_OK) {
    st->err[ERR_LOCAL]++;
    return -1;
  }
  pthread_mutex_lock(&s->mu);
  s->call = call;
  pthread_mutex_unlock(&s->mu);
  while (phase_get() != PHASE_STOP) {
    Grpc__Testing__SimpleResponse *resp = NULL;
    uint64_t t0 = now_ns();
    rv = grpc__testing__benchmark_service_stub__streaming_call_write(call,
                                                                     &g.req);
    if (rv == TERN_OK)
      rv = grpc__testing__benchmark_service_stub__streaming_call_read(call,
                                                                      &resp);
    if (rv != 1) { /* ended early: finish says how */
      broken = 1;
      break;
    }
    account(st, phase_get(), TERN_STATUS_OK, resp, now_ns() - t0);
    grpc__testing__simple_response__free_unpacked(resp, NULL);
  }
  if (!broken)
    tern_call_close_send(call);
  code = tern_call_finish(call, &status);
  if (code != TERN_STATUS_OK)
    account(st, PHASE_STOP, code, NULL, 0);
  else if (broken) /* the stream ended OK without answering a request */
    st->err[ERR_LOCAL]++;
  tern_status_clear(&status);
  pthread_mutex_lock(&s->mu);
  s->call = NULL;
  pthread_mutex_unlock(&s->mu);
  tern_call_free(call);
  return 0;
}

/* A stream that fails is replaced by a new one until the stop, as a unary
 * call that fails is re-issued. */
static void *stream_main(void *arg) {
  slot *s = arg;
  while (phase_get() != PHASE_STOP && stream_once(s) == 0)
    ;
  slot_done();
  return NULL;
}

/* ------------------------------------------------------------------ */
/* Flags. */

static void usage(void) {
  fprintf(stderr,
          "usage: bench_client --target HOST:PORT [--method unary|streaming]\n"
          "         [--connections N] [--concurrency M] [--request-size B]\n"
          "         [--response-size B] [--duration S] [--warmup S]\n"
          "         [--json FILE] [--cpu-affinity LIST]\n"
          "  --connections  channels, one TCP connection and I/O thread "
          "each (1)\n"
          "  --concurrency  calls in flight per connection (1)\n"
          "  --duration     measured seconds (10); --warmup seconds before "
          "(2)\n"
          "  --cpu-affinity CPUs for the whole process, e.g. 1 or 0,2-3\n");
}

static int parse_int(const char *flag, const char *v, long lo, long hi,
                     int *out) {
  char *end;
  long n;
  errno = 0;
  n = strtol(v, &end, 10);
  if (errno || end == v || *end || n < lo || n > hi) {
    fprintf(stderr,
            "bench_client: %s wants an integer in %ld..%ld, not "
            "'%s'\n",
            flag, lo, hi, v);
    return -1;
  }
  *out = (int)n;
  return 0;
}

static int parse_seconds(const char *flag, const char *v, double lo,
                         double *out) {
  char *end;
  double d;
  errno = 0;
  d = strtod(v, &end);
  if (errno || end == v || *end || !(d >= lo) || d > 86400.0) {
    fprintf(stderr, "bench_client: %s wants seconds >= %g, not '%s'\n", flag,
            lo, v);
    return -1;
  }
  *out = d;
  return 0;
}

static int parse_args(int argc, char **argv, config *c) {
  int i;
  memset(c, 0, sizeof(*c));
  c->connections = 1;
  c->concurrency = 1;
  c->duration = 10;
  c->warmup = 2;
  for (i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    int rv = 0;
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      usage();
      return 1;
    }
    if (!v) {
      fprintf(stderr, "bench_client: %s needs a value\n", a);
      return -1;
    }
    i++;
    if (strcmp(a, "--target") == 0)
      c->target = v;
    else if (strcmp(a, "--method") == 0) {
      if (strcmp(v, "unary") == 0)
        c->streaming = 0;
      else if (strcmp(v, "streaming") == 0)
        c->streaming = 1;
      else {
        fprintf(stderr, "bench_client: --method is unary or streaming\n");
        return -1;
      }
    } else if (strcmp(a, "--connections") == 0)
      rv = parse_int(a, v, 1, MAX_CONNECTIONS, &c->connections);
    else if (strcmp(a, "--concurrency") == 0)
      rv = parse_int(a, v, 1, MAX_CONCURRENCY, &c->concurrency);
    else if (strcmp(a, "--request-size") == 0)
      rv = parse_int(a, v, 0, MAX_PAYLOAD, &c->request_size);
    else if (strcmp(a, "--response-size") == 0)
      rv = parse_int(a, v, 0, MAX_PAYLOAD, &c->response_size);
    else if (strcmp(a, "--duration") == 0)
      rv = parse_seconds(a, v, 0.001, &c->duration);
    else if (strcmp(a, "--warmup") == 0)
      rv = parse_seconds(a, v, 0, &c->warmup);
    else if (strcmp(a, "--json") == 0)
      c->json_path = v;
    else if (strcmp(a, "--cpu-affinity") == 0)
      c->cpu_list = v;
    else {
      fprintf(stderr, "bench_client: unknown flag %s\n", a);
      usage();
      return -1;
    }
    if (rv)
      return -1;
  }
  if (!c->target) {
    fprintf(stderr, "bench_client: --target is required\n");
    usage();
    return -1;
  }
  if (c->streaming && (long)c->connections * c->concurrency > MAX_STREAMS) {
    fprintf(stderr,
            "bench_client: streaming uses a thread per call; "
            "connections x concurrency must be <= %d\n",
            MAX_STREAMS);
    return -1;
  }
  return 0;
}

/* "1", "0,2", "0-3,6": sets the process's CPU mask (before any thread is
 * started, so every thread inherits it). */
static int set_affinity(const char *list) {
  cpu_set_t set;
  const char *p = list;
  CPU_ZERO(&set);
  while (*p) {
    char *end;
    long a, b;
    a = strtol(p, &end, 10);
    if (end == p || a < 0 || a >= CPU_SETSIZE)
      goto bad;
    b = a;
    p = end;
    if (*p == '-') {
      p++;
      b = strtol(p, &end, 10);
      if (end == p || b < a || b >= CPU_SETSIZE)
        goto bad;
      p = end;
    }
    for (; a <= b; a++)
      CPU_SET((int)a, &set);
    if (*p == ',')
      p++;
    else if (*p)
      goto bad;
  }
  if (CPU_COUNT(&set) == 0)
    goto bad;
  if (sched_setaffinity(0, sizeof(set), &set) != 0) {
    fprintf(stderr, "bench_client: sched_setaffinity(%s): %s\n", list,
            strerror(errno));
    return -1;
  }
  return 0;
bad:
  fprintf(stderr, "bench_client: bad --cpu-affinity '%s'\n", list);
  return -1;
}

/* ------------------------------------------------------------------ */
/* Setup, run, teardown. */

static double tv_s(struct timeval tv) {
  return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

/* Sleeps until `until` (monotonic ns) or a signal. */
static void sleep_until(uint64_t until) {
  while (!interrupted) {
    uint64_t now = now_ns(), step;
    struct timespec ts;
    if (now >= until)
      return;
    step = until - now;
    if (step > 50000000ull)
      step = 50000000ull;
    ts.tv_sec = 0;
    ts.tv_nsec = (long)step;
    nanosleep(&ts, NULL);
  }
}

static int start_conns(void) {
  const config *c = &g.cfg;
  tern_channel_options o = TERN_CHANNEL_OPTIONS_INIT;
  pthread_attr_t attr;
  int i, j, rv;
  if (c->response_size > (4 << 20) - 64)
    o.max_receive_message_size = (int64_t)c->response_size + 64;
  g.conns = calloc((size_t)c->connections, sizeof(*g.conns));
  if (!g.conns)
    return TERN_ENOMEM;
  for (i = 0; i < c->connections; i++) {
    conn *cn = &g.conns[i];
    rv = tern_channel_new(&cn->channel, c->target, &o);
    if (rv != TERN_OK) {
      fprintf(stderr, "bench_client: channel to %s: %s\n", c->target,
              tern_strerror(rv));
      return rv;
    }
    grpc__testing__benchmark_service_stub_init(&cn->stub, cn->channel);
    cn->slots = calloc((size_t)c->concurrency, sizeof(*cn->slots));
    if (!cn->slots)
      return TERN_ENOMEM;
    for (j = 0; j < c->concurrency; j++) {
      cn->slots[j].conn = cn;
      pthread_mutex_init(&cn->slots[j].mu, NULL);
    }
    tern_channel_connect(cn->channel);
  }
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  rv = TERN_OK;
  for (i = 0; i < c->connections && rv == TERN_OK; i++) {
    conn *cn = &g.conns[i];
    for (j = 0; j < c->concurrency; j++) {
      slot *s = &cn->slots[j];
      __atomic_add_fetch(&g.in_flight, 1, __ATOMIC_ACQ_REL);
      if (!c->streaming) {
        if (unary_issue(s) != TERN_OK) {
          slot_done();
          rv = TERN_ESTATE;
          break;
        }
        continue;
      }
      s->st = calloc(1, sizeof(*s->st));
      if (!s->st || pthread_create(&s->thread, &attr, stream_main, s) != 0) {
        slot_done();
        rv = TERN_ENOMEM;
        break;
      }
      s->thread_started = 1;
    }
  }
  pthread_attr_destroy(&attr);
  if (rv != TERN_OK)
    fprintf(stderr, "bench_client: could not start all calls\n");
  return rv;
}

/* Waits for every slot to end (they stop re-issuing in PHASE_STOP); after
 * DRAIN_TIMEOUT_NS the rest is cancelled and booked as stuck. */
static void drain(void) {
  const config *c = &g.cfg;
  uint64_t deadline = now_ns() + DRAIN_TIMEOUT_NS;
  int i, j;
  while (__atomic_load_n(&g.in_flight, __ATOMIC_ACQUIRE) > 0 &&
         now_ns() < deadline) {
    struct timespec ts = {0, 2000000};
    nanosleep(&ts, NULL);
  }
  if (__atomic_load_n(&g.in_flight, __ATOMIC_ACQUIRE) > 0) {
    fprintf(stderr,
            "bench_client: %ld calls did not end within %llu s of "
            "the stop; cancelling them\n",
            __atomic_load_n(&g.in_flight, __ATOMIC_ACQUIRE),
            (unsigned long long)(DRAIN_TIMEOUT_NS / 1000000000ull));
    __atomic_store_n(&g.abandoned, 1, __ATOMIC_RELEASE);
    for (i = 0; c->streaming && i < c->connections; i++)
      for (j = 0; j < c->concurrency; j++) {
        slot *s = &g.conns[i].slots[j];
        pthread_mutex_lock(&s->mu);
        if (s->call)
          tern_call_cancel(s->call);
        pthread_mutex_unlock(&s->mu);
      }
  }
}

/* Joins stream threads, frees channels (which ends any unary call left,
 * its callback booking it as stuck) and everything else. */
static void teardown(stats *total) {
  const config *c = &g.cfg;
  int i, j, k;
  if (!g.conns)
    return;
  for (i = 0; i < c->connections; i++) {
    conn *cn = &g.conns[i];
    for (j = 0; cn->slots && j < c->concurrency; j++) {
      slot *s = &cn->slots[j];
      if (s->thread_started)
        pthread_join(s->thread, NULL);
    }
  }
  for (i = 0; i < c->connections; i++) {
    conn *cn = &g.conns[i];
    if (cn->channel)
      tern_channel_free(cn->channel);
    hist_merge(&total->lat, &cn->st.lat);
    total->ok += cn->st.ok;
    for (k = 0; k < ERR_KINDS; k++)
      total->err[k] += cn->st.err[k];
    for (j = 0; cn->slots && j < c->concurrency; j++) {
      slot *s = &cn->slots[j];
      if (s->st) {
        hist_merge(&total->lat, &s->st->lat);
        total->ok += s->st->ok;
        for (k = 0; k < ERR_KINDS; k++)
          total->err[k] += s->st->err[k];
        free(s->st);
      }
      pthread_mutex_destroy(&s->mu);
    }
    free(cn->slots);
  }
  free(g.conns);
  g.conns = NULL;
}

/* ------------------------------------------------------------------ */
/* Report. */

typedef struct result {
  double elapsed_s, rps;
  double user_s, sys_s, cpu_us_per_call, cpu_pct;
  uint64_t errors;
  double p50, p90, p99, p999, max, min, mean; /* microseconds */
} result;

static void report_text(const config *c, const stats *t, const result *r) {
  int k;
  printf("bench_client: %s %s, %d connection(s) x %d call(s) in flight, "
         "request %d B, response %d B, %.3g s measured after %.3g s "
         "warm-up\n",
         c->streaming ? "streaming ping-pong" : "unary", c->target,
         c->connections, c->concurrency, c->request_size, c->response_size,
         r->elapsed_s, c->warmup);
  printf("requests/s:   %.1f  (%llu OK calls in %.3f s)\n", r->rps,
         (unsigned long long)t->ok, r->elapsed_s);
  printf("latency (us): p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  "
         "max %.1f  (min %.1f, mean %.1f)\n",
         r->p50, r->p90, r->p99, r->p999, r->max, r->min, r->mean);
  printf("errors:       %llu", (unsigned long long)r->errors);
  for (k = 1; k < ERR_KINDS; k++)
    if (t->err[k])
      printf("  %s %llu", err_name(k), (unsigned long long)t->err[k]);
  printf("  (whole run)\n");
  printf("client CPU:   %.2f us/call  (user %.3f s + sys %.3f s = %.0f %% "
         "of one core)\n",
         r->cpu_us_per_call, r->user_s, r->sys_s, r->cpu_pct);
  fflush(stdout);
}

static int report_json(const char *path, const config *c, const stats *t,
                       const result *r) {
  FILE *f = fopen(path, "w");
  int k, first = 1;
  if (!f) {
    fprintf(stderr, "bench_client: %s: %s\n", path, strerror(errno));
    return -1;
  }
  fprintf(f, "{\n  \"tool\": \"bench_client\",\n");
  fprintf(f, "  \"method\": \"%s\",\n", c->streaming ? "streaming" : "unary");
  fprintf(f, "  \"target\": \"");
  for (k = 0; c->target[k]; k++) { /* the target is the only free text */
    unsigned char ch = (unsigned char)c->target[k];
    if (ch == '"' || ch == '\\')
      fprintf(f, "\\%c", ch);
    else if (ch < 0x20)
      fprintf(f, "\\u%04x", ch);
    else
      fputc(ch, f);
  }
  fprintf(f, "\",\n");
  fprintf(f, "  \"connections\": %d,\n  \"concurrency\": %d,\n", c->connections,
          c->concurrency);
  fprintf(f, "  \"request_size\": %d,\n  \"response_size\": %d,\n",
          c->request_size, c->response_size);
  fprintf(f, "  \"duration_s\": %.3f,\n  \"warmup_s\": %.3f,\n", c->duration,
          c->warmup);
  fprintf(f, "  \"elapsed_s\": %.6f,\n  \"ok_calls\": %llu,\n", r->elapsed_s,
          (unsigned long long)t->ok);
  fprintf(f, "  \"rps\": %.3f,\n", r->rps);
  fprintf(f,
          "  \"latency_us\": {\"p50\": %.3f, \"p90\": %.3f, \"p99\": %.3f, "
          "\"p99_9\": %.3f, \"max\": %.3f, \"min\": %.3f, "
          "\"mean\": %.3f},\n",
          r->p50, r->p90, r->p99, r->p999, r->max, r->min, r->mean);
  fprintf(f, "  \"errors\": %llu,\n  \"errors_by_kind\": {",
          (unsigned long long)r->errors);
  for (k = 1; k < ERR_KINDS; k++) {
    if (!t->err[k])
      continue;
    fprintf(f, "%s\"%s\": %llu", first ? "" : ", ", err_name(k),
            (unsigned long long)t->err[k]);
    first = 0;
  }
  fprintf(f, "},\n");
  fprintf(f, "  \"cpu_user_s\": %.6f,\n  \"cpu_sys_s\": %.6f,\n", r->user_s,
          r->sys_s);
  fprintf(f,
          "  \"cpu_us_per_call\": %.4f,\n  \"cpu_pct_of_one_core\": %.2f\n"
          "}\n",
          r->cpu_us_per_call, r->cpu_pct);
  if (fclose(f) != 0) {
    fprintf(stderr, "bench_client: %s: write failed\n", path);
    return -1;
  }
  return 0;
}

int main(int argc, char **argv) {
  config *c = &g.cfg;
  stats *total;
  result r;
  struct rusage ru0, ru1;
  struct sigaction sa;
  uint64_t t_start, t0, t1;
  int rv, k, exit_code = 1;

  rv = parse_args(argc, argv, c);
  if (rv != 0)
    return rv > 0 ? 0 : 2;
  if (c->cpu_list && set_affinity(c->cpu_list) != 0)
    return 2;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  total = calloc(1, sizeof(*total));
  if (!total)
    return 1;
  grpc__testing__simple_request__init(&g.req);
  g.req.response_size = c->response_size;
  if (c->request_size > 0) {
    g.req_body = calloc(1, (size_t)c->request_size);
    if (!g.req_body) {
      free(total);
      return 1;
    }
    grpc__testing__payload__init(&g.req_payload);
    g.req_payload.body.data = g.req_body;
    g.req_payload.body.len = (size_t)c->request_size;
    g.req.payload = &g.req_payload;
  }

  t_start = now_ns();
  rv = start_conns();
  if (rv == TERN_OK) {
    sleep_until(t_start + (uint64_t)(c->warmup * 1e9));
    getrusage(RUSAGE_SELF, &ru0);
    t0 = now_ns();
    __atomic_store_n(&g.phase, PHASE_MEASURE, __ATOMIC_RELEASE);
    sleep_until(t0 + (uint64_t)(c->duration * 1e9));
  } else {
    getrusage(RUSAGE_SELF, &ru0);
    t0 = now_ns();
  }
  __atomic_store_n(&g.phase, PHASE_STOP, __ATOMIC_RELEASE);
  t1 = now_ns();
  getrusage(RUSAGE_SELF, &ru1);
  if (interrupted)
    fprintf(stderr, "bench_client: interrupted; reporting what was "
                    "measured\n");
  drain();
  teardown(total);
  if (rv != TERN_OK) { /* could not set up: nothing worth reporting */
    free(g.req_body);
    free(total);
    return 1;
  }

  memset(&r, 0, sizeof(r));
  r.elapsed_s = (double)(t1 - t0) / 1e9;
  r.rps = r.elapsed_s > 0 ? (double)total->ok / r.elapsed_s : 0;
  r.user_s = tv_s(ru1.ru_utime) - tv_s(ru0.ru_utime);
  r.sys_s = tv_s(ru1.ru_stime) - tv_s(ru0.ru_stime);
  r.cpu_us_per_call =
      total->ok ? (r.user_s + r.sys_s) * 1e6 / (double)total->ok : 0;
  r.cpu_pct = r.elapsed_s > 0 ? (r.user_s + r.sys_s) * 100 / r.elapsed_s : 0;
  for (k = 1; k < ERR_KINDS; k++)
    r.errors += total->err[k];
  r.p50 = (double)hist_percentile(&total->lat, 50) / 1e3;
  r.p90 = (double)hist_percentile(&total->lat, 90) / 1e3;
  r.p99 = (double)hist_percentile(&total->lat, 99) / 1e3;
  r.p999 = (double)hist_percentile(&total->lat, 99.9) / 1e3;
  r.max = (double)total->lat.max / 1e3;
  r.min = (double)total->lat.min / 1e3;
  r.mean =
      total->lat.n ? (double)total->lat.sum / (double)total->lat.n / 1e3 : 0;
  report_text(c, total, &r);
  if (rv == TERN_OK && total->ok > 0 && r.errors == 0)
    exit_code = 0;
  if (c->json_path && report_json(c->json_path, c, total, &r) != 0)
    exit_code = 1;
  if (total->ok == 0)
    fprintf(stderr,
            "bench_client: no call ended OK with a %d-byte payload "
            "in the measured phase\n",
            c->response_size);
  free(g.req_body);
  free(total);
  return exit_code;
}
