/* soak: a bounded mixed load from tern's client against a RouteGuide test
 * server (rg_test_server, docs/testing.md), every answer checked.
 *
 * Several threads share several channels and run, at random, all four RPC
 * kinds in every client form (blocking, callback, future, streaming with
 * one thread or with a separate reader thread), each call with a random
 * plan: succeed (random deadline, sometimes wait-for-ready, compression,
 * echoed metadata), expire (x-delay-ms past the deadline), race the
 * deadline, fail with a random status (x-fail), be cancelled by the
 * calling thread or by another one, or race a cancellation.
 *
 * The server may be restarted under the load by run_soak.py, which tells
 * us on stdin ("down graceful|kill", "dead", "up"; we answer "ACK down").
 * A failure is explained by the call's plan or, for UNAVAILABLE /
 * DEADLINE_EXCEEDED (and CANCELLED around a graceful stop), by overlapping
 * an outage; anything else is unexplained. Exit status 0 only with no wrong
 * answer, no unexplained failure and every kind of call seen succeeding.
 * The last stdout line is `SOAK_JSON {...}`, the figures. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "route_guide.tern.h"
#include "route_guide_db.h"

#define MAX_THREADS 64
#define MAX_CHANNELS 16
#define MAX_WINDOWS 64
#define MAX_DEFERRED 200000
#define MAX_REPORTS 20
#define FAIL_MESSAGE "failed on purpose"
/* After "up", how long a channel may still fail calls: its reconnect
 * backoff (max_backoff_ms 1000, +20 % jitter) plus scheduling slack. */
#define RECONNECT_SLACK_MS 3000
/* After the server process is gone, how long a call may still have been
 * sent on the dead connection before the channel saw it close. */
#define LOSS_SLACK_MS 500
/* A blocking wait of ours may outlast the call's deadline by this much. */
#define WAIT_SLACK_MS 15000

enum { K_GET, K_LIST, K_RECORD, K_CHAT, N_KINDS };
static const char *KIND_NAMES[N_KINDS] = {"GetFeature", "ListFeatures",
                                          "RecordRoute", "RouteChat"};

typedef enum plan_kind {
  P_OK,          /* must succeed, answer checked */
  P_EXPIRE,      /* x-delay-ms well past the deadline: DEADLINE_EXCEEDED */
  P_RACE,        /* delay ~ deadline: OK (checked) or DEADLINE_EXCEEDED */
  P_FAIL,        /* x-fail: CODE: that code, "failed on purpose" */
  P_CANCEL,      /* cancelled while the server delays: CANCELLED */
  P_CANCEL_RACE, /* cancelled about when it ends: OK (checked) / CANCELLED */
  N_PLANS
} plan_kind;
static const char *PLAN_NAMES[N_PLANS] = {"ok",     "expire", "deadline_race",
                                          "x_fail", "cancel", "cancel_race"};

typedef enum reason {
  RS_OK,          /* OK, answer right */
  RS_WRONG,       /* a wrong answer (any status) */
  RS_XFAIL,       /* the x-fail code asked for */
  RS_EXPIRE,      /* the deadline the plan made expire */
  RS_RACE,        /* the deadline raced, and won */
  RS_CANCEL,      /* our cancellation */
  RS_CANCEL_RACE, /* our cancellation raced, and won */
  RS_RESTART,     /* overlapped a server restart */
  RS_UNEXPLAINED,
  N_REASONS
} reason;
static const char *REASON_NAMES[N_REASONS] = {"ok",
                                              "wrong",
                                              "x_fail",
                                              "planned_expiry",
                                              "deadline_race",
                                              "client_cancel",
                                              "cancel_race",
                                              "server_restart",
                                              "unexplained"};

#define N_CODES 17

typedef struct plan {
  plan_kind kind;
  int fail_code;
  int64_t timeout_ms;
  int64_t delay_ms; /* x-delay-ms; 0 = none */
  int64_t cancel_after_ms;
  int cancel_by_other; /* the reaper thread cancels, not the caller */
  int wfr;
  int echo;
  tern_compression comp;
} plan;

typedef struct stats {
  uint64_t n[N_KINDS][N_CODES][N_REASONS];
  uint64_t plans[N_PLANS];
  uint64_t wfr_calls, wfr_ok, forms[8];
} stats;

enum {
  F_BLOCKING,
  F_FUTURE,
  F_CALLBACK,
  F_STREAM,
  F_STREAM_2THREADS,
  F_SELF_CANCEL,
  F_OTHER_CANCEL,
  N_FORMS
};
static const char *FORM_NAMES[N_FORMS] = {"blocking",
                                          "future",
                                          "callback",
                                          "stream",
                                          "stream_reader_thread",
                                          "self_cancel",
                                          "cancel_from_other_thread"};

/* A failure judged once the outage windows are known. */
typedef struct deferred {
  uint8_t kind, plan, code, wfr, thread;
  int64_t t0, t1;
} deferred;

typedef struct window {
  int graceful;
  int64_t down, dead, up; /* 0 = not yet */
} window;

/* A cancellation the reaper thread makes for a worker. */
typedef struct cancel_slot {
  pthread_mutex_t mu;
  int armed;
  int64_t due;
  tern_call *call;
  tern_future *fut;
} cancel_slot;

typedef struct worker {
  int id;
  pthread_t th;
  uint64_t rng;
  uint64_t seq;
  stats st;
  cancel_slot slot;
} worker;

/* --- global state ------------------------------------------------------ */

static const rg_db *g_db;
static const rg_feature *g_feats;
static size_t g_nfeats;
static tern_channel *g_ch[MAX_CHANNELS];
static Routeguide__RouteGuideStub g_stub[MAX_CHANNELS];
static int g_nch = 4, g_nthreads = 8;
static int64_t g_end_ms;
static int g_stop;        /* atomic: stop issuing calls */
static int g_reaper_stop; /* atomic */
static worker g_workers[MAX_THREADS];

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER; /* below */
static window g_win[MAX_WINDOWS];
static int g_nwin;
static deferred *g_def;
static size_t g_ndef, g_def_dropped;
static int g_reports; /* under g_out_mu */
static uint64_t g_hangs;
/* Per channel: start time of the last OK call. */
static int64_t g_last_ok[MAX_CHANNELS];
/* wait-for-ready calls started while the server was gone that succeeded */
static uint64_t g_wfr_through;

static pthread_mutex_t g_out_mu = PTHREAD_MUTEX_INITIALIZER;

static uint64_t g_calls_started; /* atomic */
static uint64_t g_calls_ok;      /* atomic */

/* --- helpers ----------------------------------------------------------- */

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int64_t ms) {
  struct timespec ts;
  if (ms <= 0)
    return;
  ts.tv_sec = ms / 1000;
  ts.tv_nsec = (ms % 1000) * 1000000L;
  while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
  }
}

static void out_line(const char *fmt, ...) {
  va_list ap;
  pthread_mutex_lock(&g_out_mu);
  va_start(ap, fmt);
  vfprintf(stdout, fmt, ap);
  va_end(ap);
  fputc('\n', stdout);
  fflush(stdout);
  pthread_mutex_unlock(&g_out_mu);
}

/* The first MAX_REPORTS problems are printed in full. */
static void report(const char *fmt, ...) {
  va_list ap;
  char buf[1024];
  int show;
  pthread_mutex_lock(&g_out_mu);
  show = g_reports++ < MAX_REPORTS;
  pthread_mutex_unlock(&g_out_mu);
  if (!show)
    return;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  out_line("SOAK problem: %s", buf);
}

static uint64_t rnd(worker *w) { /* xorshift64* */
  w->rng ^= w->rng >> 12;
  w->rng ^= w->rng << 25;
  w->rng ^= w->rng >> 27;
  return w->rng * 2685821657736338717ull;
}

/* Uniform in [lo, hi]. */
static int64_t rnd_in(worker *w, int64_t lo, int64_t hi) {
  return lo + (int64_t)(rnd(w) % (uint64_t)(hi - lo + 1));
}

static int chance(worker *w, int percent) {
  return (int)(rnd(w) % 100) < percent;
}

static long rss_kb(void) {
  long pages = 0, rss = 0;
  FILE *f = fopen("/proc/self/statm", "r");
  if (!f)
    return -1;
  if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
    rss = -1;
  fclose(f);
  return rss < 0 ? -1 : rss * (sysconf(_SC_PAGESIZE) / 1024);
}

static Routeguide__Point mkpoint(rg_point p) {
  Routeguide__Point r = ROUTEGUIDE__POINT__INIT;
  r.latitude = p.latitude;
  r.longitude = p.longitude;
  return r;
}

static rg_point point_of(const Routeguide__Point *p) {
  rg_point r = {0, 0};
  if (p) {
    r.latitude = p->latitude;
    r.longitude = p->longitude;
  }
  return r;
}

static int same_point(rg_point a, rg_point b) {
  return a.latitude == b.latitude && a.longitude == b.longitude;
}

static const char *db_name(rg_point p) {
  const rg_feature *f = rg_db_find(g_db, p);
  return f ? f->name : "";
}

static rg_point random_point(worker *w) {
  rg_point p;
  if (chance(w, 60))
    return g_feats[rnd(w) % g_nfeats].location;
  p.latitude = (int32_t)rnd_in(w, 400000000, 420000000);
  p.longitude = (int32_t)rnd_in(w, -750000000, -730000000);
  return p;
}

/* --- plans ------------------------------------------------------------- */

static plan make_plan(worker *w, int may_cancel) {
  plan p;
  int r = (int)(rnd(w) % 100);
  memset(&p, 0, sizeof p);
  if (r < 55) {
    p.kind = P_OK;
  } else if (r < 65) {
    p.kind = P_EXPIRE;
  } else if (r < 70) {
    p.kind = P_RACE;
  } else if (r < 85 || !may_cancel) {
    p.kind = P_FAIL;
  } else if (r < 95) {
    p.kind = P_CANCEL;
  } else {
    p.kind = P_CANCEL_RACE;
  }
  switch (p.kind) {
  case P_OK:
    p.timeout_ms = rnd_in(w, 3000, 10000);
    p.delay_ms = chance(w, 30) ? rnd_in(w, 1, 100) : 0;
    if (chance(w, 5)) { /* slow: still running when a graceful stop comes */
      p.delay_ms = rnd_in(w, 300, 1200);
      p.timeout_ms = p.delay_ms + rnd_in(w, 3000, 8000);
    }
    break;
  case P_EXPIRE:
    p.timeout_ms = rnd_in(w, 20, 500);
    p.delay_ms = p.timeout_ms + rnd_in(w, 300, 1500);
    break;
  case P_RACE:
    p.timeout_ms = rnd_in(w, 50, 300);
    p.delay_ms = p.timeout_ms + rnd_in(w, -15, 15);
    break;
  case P_FAIL:
    p.timeout_ms = 10000;
    p.fail_code = (int)rnd_in(w, 1, 16);
    p.delay_ms = chance(w, 20) ? rnd_in(w, 1, 50) : 0;
    break;
  case P_CANCEL:
    p.timeout_ms = 10000;
    p.delay_ms = rnd_in(w, 1500, 3000);
    p.cancel_after_ms = rnd_in(w, 0, 500);
    p.cancel_by_other = chance(w, 50);
    break;
  case P_CANCEL_RACE:
    p.timeout_ms = 10000;
    p.delay_ms = rnd_in(w, 0, 40);
    p.cancel_after_ms = rnd_in(w, 0, 60);
    p.cancel_by_other = chance(w, 50);
    break;
  default:
    break;
  }
  p.wfr = chance(w, 30);
  p.echo = chance(w, 10);
  r = (int)(rnd(w) % 10);
  p.comp = r < 2   ? TERN_COMPRESS_GZIP
           : r < 3 ? TERN_COMPRESS_DEFLATE
                   : TERN_COMPRESS_DEFAULT;
  return p;
}

/* Request metadata, headers/trailers to check the echo hooks. */
typedef struct call_md {
  tern_metadata *req, *hdrs, *trls;
  char echo[32];
  unsigned char bin[16];
  size_t bin_len;
} call_md;

static int md_setup(worker *w, const plan *p, call_md *m,
                    tern_call_options *o) {
  char buf[32];
  size_t i;
  memset(m, 0, sizeof *m);
  memset(o, 0, sizeof *o);
  o->struct_size = sizeof *o;
  if (tern_metadata_new(&m->req))
    return -1;
  if (p->delay_ms > 0) {
    snprintf(buf, sizeof buf, "%lld", (long long)p->delay_ms);
    if (tern_metadata_add(m->req, "x-delay-ms", buf))
      return -1;
  }
  if (p->kind == P_FAIL) {
    snprintf(buf, sizeof buf, "%d", p->fail_code);
    if (tern_metadata_add(m->req, "x-fail", buf))
      return -1;
  }
  if (p->echo) {
    snprintf(m->echo, sizeof m->echo, "e%llu",
             (unsigned long long)(rnd(w) % 1000000000ull));
    m->bin_len = (size_t)rnd_in(w, 1, (int64_t)sizeof m->bin);
    for (i = 0; i < m->bin_len; i++)
      m->bin[i] = (unsigned char)rnd(w);
    if (tern_metadata_add(m->req, "x-echo-initial", m->echo) ||
        tern_metadata_add_bin(m->req, "x-echo-trailing-bin", m->bin,
                              m->bin_len) ||
        tern_metadata_new(&m->hdrs) || tern_metadata_new(&m->trls))
      return -1;
  }
  o->timeout_ms = p->timeout_ms;
  o->metadata = m->req;
  o->headers_out = m->hdrs;
  o->trailers_out = m->trls;
  o->wait_for_ready = p->wfr;
  o->compression = p->comp;
  return 0;
}

/* The echoed metadata, on an OK call. 0 when right. */
static int md_check(const call_md *m, const char *what, char *why,
                    size_t whylen) {
  const char *v;
  size_t len = 0;
  if (!m->hdrs)
    return 0;
  v = tern_metadata_get(m->hdrs, "x-echo-initial", NULL);
  if (!v || strcmp(v, m->echo) != 0) {
    snprintf(why, whylen, "%s: x-echo-initial \"%s\", want \"%s\"", what,
             v ? v : "(none)", m->echo);
    return -1;
  }
  v = tern_metadata_get(m->trls, "x-echo-trailing-bin", &len);
  if (!v || len != m->bin_len || memcmp(v, m->bin, len) != 0) {
    snprintf(why, whylen,
             "%s: x-echo-trailing-bin wrong (%zu bytes, want "
             "%zu)",
             what, v ? len : 0, m->bin_len);
    return -1;
  }
  return 0;
}

static void md_free(call_md *m) {
  tern_metadata_free(m->req);
  tern_metadata_free(m->hdrs);
  tern_metadata_free(m->trls);
}

/* --- judging ----------------------------------------------------------- */

static int plan_allows_ok(plan_kind k) {
  return k == P_OK || k == P_RACE || k == P_CANCEL_RACE;
}

/* Records one finished call. `wrong` is set (with why) when any message
 * or the echoed metadata was wrong, whatever the status. */
static void judge(worker *w, int kind, int ch, const plan *p,
                  tern_status_code code, const char *msg, int wrong,
                  const char *why, int64_t t0, int64_t t1) {
  reason r = RS_UNEXPLAINED;
  int c = (code >= 0 && code < N_CODES) ? (int)code : TERN_STATUS_UNKNOWN;
  const char *m = msg ? msg : "";

  w->st.plans[p->kind]++;
  if (p->wfr)
    w->st.wfr_calls++;
  if (wrong) {
    r = RS_WRONG;
    report("WRONG %s (plan %s, %s): %s", KIND_NAMES[kind], PLAN_NAMES[p->kind],
           tern_status_code_name(code), why);
  } else if (code == TERN_STATUS_OK) {
    if (plan_allows_ok(p->kind)) {
      r = RS_OK;
      if (p->wfr)
        w->st.wfr_ok++;
      __atomic_add_fetch(&g_calls_ok, 1, __ATOMIC_RELAXED);
      pthread_mutex_lock(&g_mu);
      if (t0 > g_last_ok[ch])
        g_last_ok[ch] = t0;
      if (p->wfr) {
        int i;
        for (i = 0; i < g_nwin; i++)
          if (g_win[i].dead && t0 >= g_win[i].dead &&
              (!g_win[i].up || t0 < g_win[i].up))
            g_wfr_through++;
      }
      pthread_mutex_unlock(&g_mu);
    } else {
      report("%s: OK but the plan was %s (timeout %lld ms, delay %lld ms)",
             KIND_NAMES[kind], PLAN_NAMES[p->kind], (long long)p->timeout_ms,
             (long long)p->delay_ms);
    }
  } else if (p->kind == P_FAIL && (int)code == p->fail_code &&
             strcmp(m, FAIL_MESSAGE) == 0) {
    r = RS_XFAIL;
  } else if (code == TERN_STATUS_DEADLINE_EXCEEDED && p->kind == P_EXPIRE) {
    r = RS_EXPIRE;
  } else if (code == TERN_STATUS_DEADLINE_EXCEEDED && p->kind == P_RACE) {
    r = RS_RACE;
  } else if (code == TERN_STATUS_CANCELLED && p->kind == P_CANCEL) {
    r = RS_CANCEL;
  } else if (code == TERN_STATUS_CANCELLED && p->kind == P_CANCEL_RACE) {
    r = RS_CANCEL_RACE;
  } else {
    /* Judged at the end, against the outage windows. */
    pthread_mutex_lock(&g_mu);
    if (g_ndef < MAX_DEFERRED) {
      deferred *d = &g_def[g_ndef++];
      d->kind = (uint8_t)kind;
      d->plan = (uint8_t)p->kind;
      d->code = (uint8_t)c;
      d->wfr = (uint8_t)p->wfr;
      d->thread = (uint8_t)w->id;
      d->t0 = t0;
      d->t1 = t1;
      pthread_mutex_unlock(&g_mu);
      return;
    }
    g_def_dropped++;
    pthread_mutex_unlock(&g_mu);
    report("%s: %s \"%s\" (plan %s): too many deferred failures",
           KIND_NAMES[kind], tern_status_code_name(code), m,
           PLAN_NAMES[p->kind]);
  }
  w->st.n[kind][c][r]++;
}

/* A deferred failure: explained when it overlaps an outage. */
static reason judge_deferred(const deferred *d, const char **why) {
  int i;
  for (i = 0; i < g_nwin; i++) {
    const window *wi = &g_win[i];
    int64_t up = wi->up ? wi->up : INT64_MAX / 2;
    int64_t dead = wi->dead ? wi->dead : up;
    if (d->t0 > up + RECONNECT_SLACK_MS || d->t1 < wi->down)
      continue;
    switch (d->code) {
    case TERN_STATUS_UNAVAILABLE:
      /* wait-for-ready: only a call already sent when the server went */
      if (d->wfr && d->t0 > dead + LOSS_SLACK_MS)
        continue;
      return RS_RESTART;
    case TERN_STATUS_DEADLINE_EXCEEDED:
      return RS_RESTART; /* waited for the server, or queued meanwhile */
    case TERN_STATUS_CANCELLED:
      /* a graceful stop cancels what its grace period did not finish */
      if (wi->graceful && d->t0 <= dead)
        return RS_RESTART;
      continue;
    default:
      continue;
    }
  }
  *why = d->wfr ? "no outage explains it (wait-for-ready call)"
                : "no outage explains it";
  return RS_UNEXPLAINED;
}

/* --- the reaper: cancellations from another thread ---------------------- */

static void slot_arm(worker *w, tern_call *call, tern_future *fut,
                     int64_t due) {
  pthread_mutex_lock(&w->slot.mu);
  w->slot.call = call;
  w->slot.fut = fut;
  w->slot.due = due;
  w->slot.armed = 1;
  pthread_mutex_unlock(&w->slot.mu);
}

/* Before the call is freed: after this the reaper leaves it alone. */
static void slot_disarm(worker *w) {
  pthread_mutex_lock(&w->slot.mu);
  w->slot.armed = 0;
  w->slot.call = NULL;
  w->slot.fut = NULL;
  pthread_mutex_unlock(&w->slot.mu);
}

static void *reaper_main(void *arg) {
  int i;
  (void)arg;
  while (!__atomic_load_n(&g_reaper_stop, __ATOMIC_ACQUIRE)) {
    int64_t now = now_ms();
    for (i = 0; i < g_nthreads; i++) {
      cancel_slot *s = &g_workers[i].slot;
      pthread_mutex_lock(&s->mu);
      if (s->armed && now >= s->due) {
        if (s->call)
          tern_call_cancel(s->call);
        if (s->fut)
          tern_future_cancel(s->fut);
        s->armed = 0;
      }
      pthread_mutex_unlock(&s->mu);
    }
    sleep_ms(2);
  }
  return NULL;
}

/* Cancels per the plan: from this thread after a sleep, or arms the
 * reaper. */
static void plan_cancel(worker *w, const plan *p, tern_call *call,
                        tern_future *fut, int64_t t0) {
  if (p->kind != P_CANCEL && p->kind != P_CANCEL_RACE)
    return;
  if (p->cancel_by_other) {
    w->st.forms[F_OTHER_CANCEL]++;
    slot_arm(w, call, fut, t0 + p->cancel_after_ms);
    return;
  }
  w->st.forms[F_SELF_CANCEL]++;
  sleep_ms(t0 + p->cancel_after_ms - now_ms());
  if (call)
    tern_call_cancel(call);
  if (fut)
    tern_future_cancel(fut);
}

/* --- GetFeature ---------------------------------------------------------- */

static int check_feature(const Routeguide__Feature *f, rg_point at, char *why,
                         size_t whylen) {
  const char *want = db_name(at), *name = f->name ? f->name : "";
  rg_point got = point_of(f->location);
  if (strcmp(name, want) != 0) {
    snprintf(why, whylen, "name \"%s\", want \"%s\"", name, want);
    return -1;
  }
  if (!same_point(got, at)) {
    snprintf(why, whylen, "location (%d,%d), want (%d,%d)", (int)got.latitude,
             (int)got.longitude, (int)at.latitude, (int)at.longitude);
    return -1;
  }
  return 0;
}

/* One answer (any form): checks it and judges. Frees resp. */
static void finish_get(worker *w, int ch, const plan *p, const call_md *m,
                       rg_point at, tern_status_code code, const char *msg,
                       Routeguide__Feature *resp, int64_t t0) {
  char why[512] = "";
  int wrong = 0;
  if (code == TERN_STATUS_OK) {
    if (!resp) {
      snprintf(why, sizeof why, "OK without a response");
      wrong = 1;
    } else if (check_feature(resp, at, why, sizeof why) ||
               md_check(m, "GetFeature", why, sizeof why)) {
      wrong = 1;
    }
  } else if (resp) {
    snprintf(why, sizeof why, "a response with status %s",
             tern_status_code_name(code));
    wrong = 1;
  }
  if (resp)
    routeguide__feature__free_unpacked(resp, NULL);
  judge(w, K_GET, ch, p, code, msg, wrong, why, t0, now_ms());
}

static void do_get_blocking(worker *w, int ch) {
  plan p = make_plan(w, 0);
  call_md m;
  tern_call_options o;
  rg_point at = random_point(w);
  Routeguide__Point req = mkpoint(at);
  Routeguide__Feature *resp = NULL;
  tern_status st = TERN_STATUS_INIT;
  tern_status_code c;
  int64_t t0 = now_ms();
  if (md_setup(w, &p, &m, &o)) {
    report("out of memory");
    md_free(&m);
    return;
  }
  w->st.forms[F_BLOCKING]++;
  c = routeguide__route_guide_stub__get_feature(&g_stub[ch], &req, &resp, &o,
                                                &st);
  finish_get(w, ch, &p, &m, at, c, st.message, resp, t0);
  tern_status_clear(&st);
  md_free(&m);
}

static void do_get_future(worker *w, int ch) {
  plan p = make_plan(w, 1);
  call_md m;
  tern_call_options o;
  rg_point at = random_point(w);
  Routeguide__Point req = mkpoint(at);
  Routeguide__Feature *resp = NULL;
  tern_status st = TERN_STATUS_INIT;
  tern_status_code c;
  tern_future *fut = NULL;
  int64_t t0 = now_ms();
  int r;
  if (md_setup(w, &p, &m, &o)) {
    report("out of memory");
    md_free(&m);
    return;
  }
  w->st.forms[F_FUTURE]++;
  r = routeguide__route_guide_stub__get_feature_future(&g_stub[ch], &req, &o,
                                                       &fut);
  if (r) {
    char why[128];
    snprintf(why, sizeof why, "get_feature_future: %s", tern_strerror(r));
    judge(w, K_GET, ch, &p, TERN_STATUS_INTERNAL, why, 0, "", t0, now_ms());
    md_free(&m);
    return;
  }
  plan_cancel(w, &p, NULL, fut, t0);
  if (tern_future_wait(fut, p.timeout_ms + WAIT_SLACK_MS) != TERN_OK) {
    report("GetFeature future not done %lld ms after its deadline",
           (long long)WAIT_SLACK_MS);
    __atomic_add_fetch(&g_hangs, 1, __ATOMIC_RELAXED);
    slot_disarm(w);
    judge(w, K_GET, ch, &p, TERN_STATUS_UNKNOWN, "hang", 0, "", t0, now_ms());
    tern_future_free(fut);
    md_free(&m);
    return;
  }
  c = routeguide__route_guide_stub__get_feature_result(fut, &resp, &st);
  slot_disarm(w);
  finish_get(w, ch, &p, &m, at, c, st.message, resp, t0);
  tern_future_free(fut);
  tern_status_clear(&st);
  md_free(&m);
}

/* A burst of callback calls at once. */
typedef struct cb_call {
  pthread_mutex_t *mu;
  pthread_cond_t *cv;
  int *pending;
  int done;
  tern_status_code code;
  char msg[128];
  Routeguide__Feature *resp;
} cb_call;

static void on_feature(const tern_status *status, void *response,
                       void *user_data) {
  cb_call *c = user_data;
  pthread_mutex_lock(c->mu);
  c->code = status->code;
  snprintf(c->msg, sizeof c->msg, "%s", status->message ? status->message : "");
  c->resp = response;
  c->done = 1;
  if (--*c->pending == 0)
    pthread_cond_signal(c->cv);
  pthread_mutex_unlock(c->mu);
}

#define MAX_BURST 6
typedef struct burst {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int pending;
  cb_call calls[MAX_BURST];
} burst;

static void do_get_burst(worker *w, int ch) {
  burst *b = calloc(1, sizeof *b);
  plan p[MAX_BURST];
  call_md m[MAX_BURST];
  rg_point at[MAX_BURST];
  int64_t t0[MAX_BURST], wait_until = 0;
  int n = (int)rnd_in(w, 1, MAX_BURST), i, started = 0, left;
  struct timespec ts;

  if (!b) {
    report("out of memory");
    return;
  }
  pthread_mutex_init(&b->mu, NULL);
  {
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&b->cv, &ca);
    pthread_condattr_destroy(&ca);
  }
  for (i = 0; i < n; i++) {
    tern_call_options o;
    Routeguide__Point req;
    int r;
    p[i] = make_plan(w, 0);
    at[i] = random_point(w);
    req = mkpoint(at[i]);
    if (md_setup(w, &p[i], &m[i], &o)) {
      report("out of memory");
      md_free(&m[i]);
      break;
    }
    b->calls[i].mu = &b->mu;
    b->calls[i].cv = &b->cv;
    b->calls[i].pending = &b->pending;
    pthread_mutex_lock(&b->mu);
    b->pending++;
    pthread_mutex_unlock(&b->mu);
    t0[i] = now_ms();
    if (t0[i] + p[i].timeout_ms + WAIT_SLACK_MS > wait_until)
      wait_until = t0[i] + p[i].timeout_ms + WAIT_SLACK_MS;
    w->st.forms[F_CALLBACK]++;
    r = routeguide__route_guide_stub__get_feature_async(
        &g_stub[ch], &req, &o, on_feature, &b->calls[i]);
    if (r) {
      pthread_mutex_lock(&b->mu);
      b->pending--;
      b->calls[i].done = 1;
      b->calls[i].code = TERN_STATUS_INTERNAL;
      snprintf(b->calls[i].msg, sizeof b->calls[i].msg, "get_feature_async: %s",
               tern_strerror(r));
      pthread_mutex_unlock(&b->mu);
    }
    started++;
  }
  ts.tv_sec = (time_t)(wait_until / 1000);
  ts.tv_nsec = (long)(wait_until % 1000) * 1000000L;
  pthread_mutex_lock(&b->mu);
  while (b->pending > 0) {
    /* the condition's clock is CLOCK_MONOTONIC, as now_ms() */
    if (pthread_cond_timedwait(&b->cv, &b->mu, &ts) == ETIMEDOUT)
      break;
  }
  left = b->pending;
  pthread_mutex_unlock(&b->mu);
  for (i = 0; i < started; i++) {
    cb_call *c = &b->calls[i];
    int done;
    pthread_mutex_lock(&b->mu);
    done = c->done;
    pthread_mutex_unlock(&b->mu);
    if (!done) {
      report("GetFeature callback not called %lld ms after its deadline",
             (long long)WAIT_SLACK_MS);
      __atomic_add_fetch(&g_hangs, 1, __ATOMIC_RELAXED);
      judge(w, K_GET, ch, &p[i], TERN_STATUS_UNKNOWN, "hang", 0, "", t0[i],
            now_ms());
      m[i].hdrs = m[i].trls = NULL; /* left behind: a late end fills them */
      continue;
    }
    finish_get(w, ch, &p[i], &m[i], at[i], c->code, c->msg, c->resp, t0[i]);
  }
  for (i = 0; i < started; i++)
    md_free(&m[i]);
  if (left == 0) {
    pthread_cond_destroy(&b->cv);
    pthread_mutex_destroy(&b->mu);
    free(b);
  } /* else left behind: a late callback still writes into it */
}

/* --- ListFeatures -------------------------------------------------------- */

static void do_list(worker *w, int ch) {
  plan p = make_plan(w, 1);
  call_md m;
  tern_call_options o;
  rg_point lo, hi;
  Routeguide__Point plo, phi;
  Routeguide__Rectangle rect = ROUTEGUIDE__RECTANGLE__INIT;
  const rg_feature **want;
  size_t n_want = 0, got = 0, i;
  tern_call *call = NULL;
  tern_status st = TERN_STATUS_INIT;
  tern_status_code c;
  Routeguide__Feature *f;
  char why[512] = "";
  int wrong = 0, r, ended = 0;
  /* mid-stream cancel by ourselves after this many messages (-1: none) */
  long cancel_at_msg = -1;
  int cancelled_mid = 0;
  int64_t t0 = now_ms();

  want = malloc(g_nfeats * sizeof *want);
  if (!want || md_setup(w, &p, &m, &o)) {
    report("out of memory");
    free(want);
    md_free(&m);
    return;
  }
  if (chance(w, 10)) { /* nothing inside */
    lo.latitude = 10;
    lo.longitude = 10;
    hi.latitude = 20;
    hi.longitude = 20;
  } else {
    lo = g_feats[rnd(w) % g_nfeats].location;
    hi = g_feats[rnd(w) % g_nfeats].location;
  }
  for (i = 0; i < g_nfeats; i++)
    if (rg_in_rectangle(lo, hi, g_feats[i].location))
      want[n_want++] = &g_feats[i];
  plo = mkpoint(lo);
  phi = mkpoint(hi);
  rect.lo = &plo;
  rect.hi = &phi;
  /* A cancel-race plan without delay sometimes cancels mid-stream. */
  if (p.kind == P_CANCEL_RACE && !p.cancel_by_other && n_want > 1 &&
      chance(w, 50))
    cancel_at_msg = (long)(rnd(w) % n_want);

  w->st.forms[F_STREAM]++;
  r = routeguide__route_guide_stub__list_features(&g_stub[ch], &rect, &o,
                                                  &call);
  if (r) {
    snprintf(why, sizeof why, "list_features: %s", tern_strerror(r));
    judge(w, K_LIST, ch, &p, TERN_STATUS_INTERNAL, why, 0, "", t0, now_ms());
    free(want);
    md_free(&m);
    return;
  }
  if (cancel_at_msg < 0)
    plan_cancel(w, &p, call, NULL, t0);
  for (;;) {
    if (cancel_at_msg >= 0 && (long)got == cancel_at_msg) {
      w->st.forms[F_SELF_CANCEL]++;
      tern_call_cancel(call);
      cancel_at_msg = -1;
      cancelled_mid = 1;
    }
    f = NULL;
    r = routeguide__route_guide_stub__list_features_read(call, &f);
    if (r != 1)
      break;
    if (!wrong) {
      if (got >= n_want) {
        snprintf(why, sizeof why, "message %zu beyond the %zu expected", got,
                 n_want);
        wrong = 1;
      } else if (check_feature(f, want[got]->location, why, sizeof why)) {
        wrong = 1;
      }
    }
    got++;
    routeguide__feature__free_unpacked(f, NULL);
  }
  ended = r == 0;
  c = tern_call_finish(call, &st);
  slot_disarm(w);
  if (c == TERN_STATUS_OK && !wrong) {
    if (!ended) {
      snprintf(why, sizeof why, "read failed (%s) but status OK",
               tern_strerror(r));
      wrong = 1;
    } else if (got != n_want && !(cancelled_mid && got < n_want)) {
      /* After our own cancel, an OK that had already arrived stands and
       * the messages not read yet are dropped: a correct prefix is right. */
      snprintf(why, sizeof why, "%zu features, want %zu", got, n_want);
      wrong = 1;
    } else if (md_check(&m, "ListFeatures", why, sizeof why)) {
      wrong = 1;
    }
  }
  judge(w, K_LIST, ch, &p, c, st.message, wrong, why, t0, now_ms());
  tern_call_free(call);
  tern_status_clear(&st);
  md_free(&m);
  free(want);
}

/* --- RecordRoute --------------------------------------------------------- */

static void do_record(worker *w, int ch) {
  plan p = make_plan(w, 1);
  call_md m;
  tern_call_options o;
  rg_point pts[32];
  size_t n = (size_t)rnd_in(w, 0, 32), i;
  tern_call *call = NULL;
  tern_future *fut = NULL;
  Routeguide__RouteSummary *sum = NULL;
  tern_status st = TERN_STATUS_INIT;
  tern_status_code c;
  char why[512] = "";
  int wrong = 0, r, use_future = chance(w, 30);
  int64_t t0 = now_ms();

  for (i = 0; i < n; i++)
    pts[i] =
        chance(w, 70) ? g_feats[rnd(w) % g_nfeats].location : random_point(w);
  if (md_setup(w, &p, &m, &o)) {
    report("out of memory");
    md_free(&m);
    return;
  }
  w->st.forms[use_future ? F_FUTURE : F_STREAM]++;
  r = routeguide__route_guide_stub__record_route(&g_stub[ch], &o, &call);
  if (r) {
    snprintf(why, sizeof why, "record_route: %s", tern_strerror(r));
    judge(w, K_RECORD, ch, &p, TERN_STATUS_INTERNAL, why, 0, "", t0, now_ms());
    md_free(&m);
    return;
  }
  plan_cancel(w, &p, call, NULL, t0);
  for (i = 0; i < n; i++) {
    Routeguide__Point q = mkpoint(pts[i]);
    /* Fails (ECLOSED) once the call ended: finish says how. */
    if (routeguide__route_guide_stub__record_route_write(call, &q))
      break;
  }
  if (use_future) {
    r = routeguide__route_guide_stub__record_route_future(call, &fut);
    if (r) {
      c = tern_call_finish(call, &st);
    } else if (tern_future_wait(fut, p.timeout_ms + WAIT_SLACK_MS) != TERN_OK) {
      report("RecordRoute future not done %lld ms after its deadline",
             (long long)WAIT_SLACK_MS);
      __atomic_add_fetch(&g_hangs, 1, __ATOMIC_RELAXED);
      c = TERN_STATUS_UNKNOWN;
      tern_call_cancel(call);
    } else {
      c = routeguide__route_guide_stub__record_route_result(fut, &sum, &st);
    }
  } else {
    c = routeguide__route_guide_stub__record_route_close_and_recv(call, &sum,
                                                                  &st);
  }
  slot_disarm(w);
  if (c == TERN_STATUS_OK) {
    int32_t feats = 0;
    double d = 0;
    for (i = 0; i < n; i++) {
      const rg_feature *f = rg_db_find(g_db, pts[i]);
      if (f && f->name[0] != '\0')
        feats++;
      if (i)
        d += rg_distance_m(pts[i - 1], pts[i]);
    }
    if (!sum) {
      snprintf(why, sizeof why, "OK without a summary");
      wrong = 1;
    } else if (sum->point_count != (int32_t)n || sum->feature_count != feats ||
               sum->distance != (d < INT32_MAX ? (int32_t)d : INT32_MAX) ||
               sum->elapsed_time < 0 ||
               sum->elapsed_time > (now_ms() - t0) / 1000 + 1) {
      snprintf(why, sizeof why,
               "summary points %d features %d distance %d elapsed %d, want "
               "%zu %d %d <=%lld",
               (int)sum->point_count, (int)sum->feature_count,
               (int)sum->distance, (int)sum->elapsed_time, n, (int)feats,
               (int)d, (long long)((now_ms() - t0) / 1000 + 1));
      wrong = 1;
    } else if (md_check(&m, "RecordRoute", why, sizeof why)) {
      wrong = 1;
    }
  } else if (sum) {
    snprintf(why, sizeof why, "a summary with status %s",
             tern_status_code_name(c));
    wrong = 1;
  }
  judge(w, K_RECORD, ch, &p, c, st.message, wrong, why, t0, now_ms());
  if (sum)
    routeguide__route_summary__free_unpacked(sum, NULL);
  tern_future_free(fut);
  tern_call_free(call);
  tern_status_clear(&st);
  md_free(&m);
}

/* --- RouteChat ----------------------------------------------------------- */

#define CHAT_MAX 24
typedef struct chat {
  int n;
  rg_point at[CHAT_MAX];
  char text[CHAT_MAX][48];
  /* The replies expected, in order: for each note, the earlier notes at
   * its location. Indexes into text/at. */
  int expect[CHAT_MAX * CHAT_MAX];
  int n_expect;
  int expect_after[CHAT_MAX]; /* replies expected once note i is in */
  /* reader side */
  tern_call *call;
  int got, wrong, ended, read_rc;
  char why[512];
} chat;

static int check_note(chat *c, const Routeguide__RouteNote *note) {
  int j;
  if (c->got >= c->n_expect) {
    snprintf(c->why, sizeof c->why, "reply %d beyond the %d expected", c->got,
             c->n_expect);
    return -1;
  }
  j = c->expect[c->got];
  if (!note->message || strcmp(note->message, c->text[j]) != 0 ||
      !same_point(point_of(note->location), c->at[j])) {
    snprintf(c->why, sizeof c->why, "reply %d \"%s\", want \"%s\"", c->got,
             note->message ? note->message : "(none)", c->text[j]);
    return -1;
  }
  return 0;
}

/* Reads one reply. 1 read (and checked), 0 end, <0 error. */
static int chat_read_one(chat *c) {
  Routeguide__RouteNote *note = NULL;
  int r = routeguide__route_guide_stub__route_chat_read(c->call, &note);
  c->read_rc = r;
  c->ended = r == 0;
  if (r == 1) {
    if (!c->wrong && check_note(c, note))
      c->wrong = 1;
    c->got++;
    routeguide__route_note__free_unpacked(note, NULL);
  }
  return r;
}

static void *chat_reader(void *arg) {
  chat *c = arg;
  int i;
  for (i = 0; i < CHAT_MAX * CHAT_MAX + 2; i++)
    if (chat_read_one(c) != 1)
      break;
  return NULL;
}

static void do_chat(worker *w, int ch) {
  plan p = make_plan(w, 1);
  call_md m;
  tern_call_options o;
  chat *c = calloc(1, sizeof *c);
  tern_status st = TERN_STATUS_INIT;
  tern_status_code code;
  pthread_t reader;
  int two_threads = chance(w, 40), have_reader = 0, i, j, r, stopped = 0;
  int64_t t0 = now_ms();
  static const int LOCS[4][2] = {{0, 0}, {0, 1}, {1, 0}, {1, 1}};

  if (!c || md_setup(w, &p, &m, &o)) {
    report("out of memory");
    free(c);
    md_free(&m);
    return;
  }
  c->n = (int)rnd_in(w, 1, CHAT_MAX);
  for (i = 0; i < c->n; i++) {
    int k = (int)(rnd(w) % 4);
    c->at[i].latitude = 100 + LOCS[k][0] + w->id * 10;
    c->at[i].longitude = LOCS[k][1];
    snprintf(c->text[i], sizeof c->text[i], "t%d-c%llu-n%d", w->id,
             (unsigned long long)w->seq, i);
    for (j = 0; j < i; j++)
      if (same_point(c->at[j], c->at[i]))
        c->expect[c->n_expect++] = j;
    c->expect_after[i] = c->n_expect;
  }
  w->st.forms[two_threads ? F_STREAM_2THREADS : F_STREAM]++;
  r = routeguide__route_guide_stub__route_chat(&g_stub[ch], &o, &c->call);
  if (r) {
    char why[128];
    snprintf(why, sizeof why, "route_chat: %s", tern_strerror(r));
    judge(w, K_CHAT, ch, &p, TERN_STATUS_INTERNAL, why, 0, "", t0, now_ms());
    free(c);
    md_free(&m);
    return;
  }
  if (two_threads && pthread_create(&reader, NULL, chat_reader, c) == 0)
    have_reader = 1;
  plan_cancel(w, &p, c->call, NULL, t0);
  for (i = 0; i < c->n && !stopped; i++) {
    Routeguide__RouteNote note = ROUTEGUIDE__ROUTE_NOTE__INIT;
    Routeguide__Point q = mkpoint(c->at[i]);
    note.location = &q;
    note.message = c->text[i];
    if (routeguide__route_guide_stub__route_chat_write(c->call, &note))
      break; /* the call ended: finish says how */
    if (!have_reader) {
      /* Lockstep: the replies to this note before the next one. */
      while (c->got < c->expect_after[i]) {
        if (chat_read_one(c) != 1) {
          stopped = 1;
          break;
        }
      }
    }
  }
  tern_call_close_send(c->call);
  if (have_reader) {
    pthread_join(reader, NULL);
  } else if (!stopped) {
    chat_read_one(c); /* must be the end */
  }
  code = tern_call_finish(c->call, &st);
  slot_disarm(w);
  if (code == TERN_STATUS_OK && !c->wrong) {
    if (!c->ended) {
      snprintf(c->why, sizeof c->why,
               "status OK but the stream did not end cleanly (read %d)",
               c->read_rc);
      c->wrong = 1;
    } else if (c->got != c->n_expect) {
      snprintf(c->why, sizeof c->why, "%d replies, want %d", c->got,
               c->n_expect);
      c->wrong = 1;
    } else if (md_check(&m, "RouteChat", c->why, sizeof c->why)) {
      c->wrong = 1;
    }
  }
  judge(w, K_CHAT, ch, &p, code, st.message, c->wrong, c->why, t0, now_ms());
  tern_call_free(c->call);
  tern_status_clear(&st);
  md_free(&m);
  free(c);
}

/* --- workers ---------------------------------------------------------------
 */

static void *worker_main(void *arg) {
  worker *w = arg;
  while (!__atomic_load_n(&g_stop, __ATOMIC_ACQUIRE) && now_ms() < g_end_ms) {
    int ch = (int)(rnd(w) % (uint64_t)g_nch);
    int what = (int)(rnd(w) % 100);
    w->seq++;
    __atomic_add_fetch(&g_calls_started, 1, __ATOMIC_RELAXED);
    if (what < 15)
      do_get_blocking(w, ch);
    else if (what < 25)
      do_get_future(w, ch);
    else if (what < 40)
      do_get_burst(w, ch);
    else if (what < 60)
      do_list(w, ch);
    else if (what < 80)
      do_record(w, ch);
    else
      do_chat(w, ch);
  }
  return NULL;
}

/* --- control from run_soak.py on stdin ----------------------------------- */

/* A wait-for-ready probe started the moment the server is known dead: it
 * must succeed once the server is back. (The load's own wait-for-ready
 * calls may happen not to start inside a short outage, above all in the
 * slow sanitized trees.) */
static pthread_t g_probe[MAX_WINDOWS];
static int g_nprobe;        /* under g_mu */
static int g_probes_closed; /* under g_mu: no new probes (ending) */

static void *probe_main(void *arg) {
  Routeguide__Point req = ROUTEGUIDE__POINT__INIT;
  Routeguide__Feature *resp = NULL;
  tern_call_options o = TERN_CALL_OPTIONS_INIT;
  int64_t t0 = now_ms();
  (void)arg;
  o.timeout_ms = 30000;
  o.wait_for_ready = 1;
  if (routeguide__route_guide_stub__get_feature(&g_stub[0], &req, &resp, &o,
                                               NULL) == TERN_STATUS_OK) {
    int i;
    pthread_mutex_lock(&g_mu);
    for (i = 0; i < g_nwin; i++)
      if (g_win[i].dead && t0 >= g_win[i].dead &&
          (!g_win[i].up || t0 < g_win[i].up))
        g_wfr_through++;
    pthread_mutex_unlock(&g_mu);
  }
  if (resp)
    routeguide__feature__free_unpacked(resp, NULL);
  return NULL;
}

static void *control_main(void *arg) {
  char line[128];
  (void)arg;
  while (fgets(line, sizeof line, stdin)) {
    int64_t t = now_ms();
    pthread_mutex_lock(&g_mu);
    if (strncmp(line, "down", 4) == 0 && g_nwin < MAX_WINDOWS) {
      window *wi = &g_win[g_nwin++];
      memset(wi, 0, sizeof *wi);
      wi->graceful = strstr(line, "graceful") != NULL;
      wi->down = t;
      pthread_mutex_unlock(&g_mu);
      out_line("ACK down");
      continue;
    }
    if (strncmp(line, "dead", 4) == 0 && g_nwin > 0) {
      g_win[g_nwin - 1].dead = t;
      if (!g_probes_closed && g_nprobe < MAX_WINDOWS &&
          pthread_create(&g_probe[g_nprobe], NULL, probe_main, NULL) == 0)
        g_nprobe++;
    }
    else if (strncmp(line, "up", 2) == 0 && g_nwin > 0)
      g_win[g_nwin - 1].up = t;
    pthread_mutex_unlock(&g_mu);
  }
  return NULL;
}

/* --- main ------------------------------------------------------------------
 */

static void usage(FILE *f) {
  fprintf(f, "usage: soak --target HOST:PORT [--db FILE] [--duration S]\n"
             "            [--threads N] [--channels N] [--seed N]\n"
             "Mixed RouteGuide load against a test server; see run_soak.py.\n");
}

int main(int argc, char **argv) {
  const char *target = NULL, *db_path = NULL;
  char db_buf[4096], err[512];
  double duration = 30;
  uint64_t seed = 0;
  int i, k, c, r, rc = 0;
  rg_db *db = NULL;
  pthread_t reaper, control;
  tern_channel_options copts = TERN_CHANNEL_OPTIONS_INIT;
  stats total;
  uint64_t wrong = 0, unexplained = 0, calls = 0;
  uint64_t by_code[N_CODES], by_reason[N_REASONS], by_kind_ok[N_KINDS];
  uint64_t by_code_reason[N_CODES][N_REASONS];
  long rss_start, rss_end;
  int64_t t_start, last_up = 0;
  sigset_t block;

  for (i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--target") == 0 && i + 1 < argc)
      target = argv[++i];
    else if (strcmp(argv[i], "--db") == 0 && i + 1 < argc)
      db_path = argv[++i];
    else if (strcmp(argv[i], "--duration") == 0 && i + 1 < argc)
      duration = atof(argv[++i]);
    else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
      g_nthreads = atoi(argv[++i]);
    else if (strcmp(argv[i], "--channels") == 0 && i + 1 < argc)
      g_nch = atoi(argv[++i]);
    else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
      seed = strtoull(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "--help") == 0) {
      usage(stdout);
      return 0;
    } else {
      usage(stderr);
      return 2;
    }
  }
  if (!target || duration <= 0 || duration > 86400 || g_nthreads < 1 ||
      g_nthreads > MAX_THREADS || g_nch < 1 || g_nch > MAX_CHANNELS) {
    usage(stderr);
    return 2;
  }
  if (!seed)
    seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
  if (!db_path)
    db_path = rg_db_default_path(db_buf, sizeof db_buf);
  r = rg_db_load(&db, db_path, err, sizeof err);
  if (r != RG_DB_OK) {
    fprintf(stderr, "soak: %s\n", err);
    return 2;
  }
  g_db = db;
  g_feats = rg_db_features(db, &g_nfeats);
  g_def = calloc(MAX_DEFERRED, sizeof *g_def);
  if (!g_def || !g_nfeats) {
    fprintf(stderr, "soak: out of memory or empty database\n");
    return 2;
  }
  /* No stray SIGPIPE anywhere (tern's sockets use MSG_NOSIGNAL anyway). */
  sigemptyset(&block);
  sigaddset(&block, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &block, NULL);

  /* Quick reconnects so that a restart costs ~1 s, as a test wants. */
  copts.initial_backoff_ms = 100;
  copts.max_backoff_ms = 1000;
  for (c = 0; c < g_nch; c++) {
    r = tern_channel_new(&g_ch[c], target, &copts);
    if (r) {
      fprintf(stderr, "soak: channel %s: %s\n", target, tern_strerror(r));
      return 2;
    }
    routeguide__route_guide_stub_init(&g_stub[c], g_ch[c]);
  }
  out_line("SOAK start target=%s duration=%.0f threads=%d channels=%d "
           "seed=%llu",
           target, duration, g_nthreads, g_nch, (unsigned long long)seed);

  t_start = now_ms();
  g_end_ms = t_start + (int64_t)(duration * 1000);
  if (pthread_create(&control, NULL, control_main, NULL) == 0)
    pthread_detach(control);
  for (i = 0; i < g_nthreads; i++) {
    worker *w = &g_workers[i];
    w->id = i;
    w->rng = seed * 0x9e3779b97f4a7c15ull + (uint64_t)i * 7919 + 1;
    pthread_mutex_init(&w->slot.mu, NULL);
  }
  if (pthread_create(&reaper, NULL, reaper_main, NULL) != 0) {
    fprintf(stderr, "soak: cannot start a thread\n");
    return 2;
  }
  for (i = 0; i < g_nthreads; i++) {
    if (pthread_create(&g_workers[i].th, NULL, worker_main, &g_workers[i])) {
      fprintf(stderr, "soak: cannot start a thread\n");
      __atomic_store_n(&g_stop, 1, __ATOMIC_RELEASE);
      g_nthreads = i;
      break;
    }
  }

  /* Progress, and our own memory once warmed up. */
  rss_start = -1;
  while (now_ms() < g_end_ms) {
    int64_t el;
    sleep_ms(g_end_ms - now_ms() < 5000 ? g_end_ms - now_ms() : 5000);
    el = now_ms() - t_start;
    if (rss_start < 0 && el >= 3000)
      rss_start = rss_kb();
    out_line(
        "SOAK progress t=%llds rounds=%llu ok=%llu",
        (long long)((now_ms() - t_start) / 1000),
        (unsigned long long)__atomic_load_n(&g_calls_started, __ATOMIC_RELAXED),
        (unsigned long long)__atomic_load_n(&g_calls_ok, __ATOMIC_RELAXED));
  }
  __atomic_store_n(&g_stop, 1, __ATOMIC_RELEASE);
  for (i = 0; i < g_nthreads; i++)
    pthread_join(g_workers[i].th, NULL);
  __atomic_store_n(&g_reaper_stop, 1, __ATOMIC_RELEASE);
  pthread_join(reaper, NULL);
  {
    /* The outage probes end by themselves (30 s deadline at most). */
    int n, k;
    pthread_mutex_lock(&g_mu);
    n = g_nprobe;
    g_probes_closed = 1;
    pthread_mutex_unlock(&g_mu);
    for (k = 0; k < n; k++)
      pthread_join(g_probe[k], NULL);
  }
  rss_end = rss_kb();

  /* Totals. */
  memset(&total, 0, sizeof total);
  for (i = 0; i < g_nthreads; i++) {
    stats *s = &g_workers[i].st;
    for (k = 0; k < N_KINDS; k++)
      for (c = 0; c < N_CODES; c++)
        for (r = 0; r < N_REASONS; r++)
          total.n[k][c][r] += s->n[k][c][r];
    for (k = 0; k < N_PLANS; k++)
      total.plans[k] += s->plans[k];
    for (k = 0; k < N_FORMS; k++)
      total.forms[k] += s->forms[k];
    total.wfr_calls += s->wfr_calls;
    total.wfr_ok += s->wfr_ok;
  }
  pthread_mutex_lock(&g_mu);
  for (i = 0; i < (int)g_ndef; i++) {
    const deferred *d = &g_def[i];
    const char *why = "";
    reason rs = judge_deferred(d, &why);
    if (rs == RS_UNEXPLAINED)
      report("%s: %s at t=%.3fs..%.3fs (plan %s, thread %d): %s",
             KIND_NAMES[d->kind], tern_status_code_name(d->code),
             (d->t0 - t_start) / 1000.0, (d->t1 - t_start) / 1000.0,
             PLAN_NAMES[d->plan], d->thread, why);
    total.n[d->kind][d->code][rs]++;
  }
  if (g_def_dropped)
    total.n[K_GET][TERN_STATUS_UNKNOWN][RS_UNEXPLAINED] += g_def_dropped;
  for (i = 0; i < g_nwin; i++)
    if (g_win[i].up > last_up)
      last_up = g_win[i].up;
  pthread_mutex_unlock(&g_mu);

  memset(by_code, 0, sizeof by_code);
  memset(by_reason, 0, sizeof by_reason);
  memset(by_kind_ok, 0, sizeof by_kind_ok);
  memset(by_code_reason, 0, sizeof by_code_reason);
  for (k = 0; k < N_KINDS; k++)
    for (c = 0; c < N_CODES; c++)
      for (r = 0; r < N_REASONS; r++) {
        uint64_t v = total.n[k][c][r];
        calls += v;
        by_code[c] += v;
        by_reason[r] += v;
        by_code_reason[c][r] += v;
        if (r == RS_OK)
          by_kind_ok[k] += v;
      }
  wrong = by_reason[RS_WRONG];
  unexplained = by_reason[RS_UNEXPLAINED];

  /* Human summary. */
  out_line("SOAK calls %llu in %.1f s (%.0f/s), %d outage(s)",
           (unsigned long long)calls, (now_ms() - t_start) / 1000.0,
           calls / ((now_ms() - t_start) / 1000.0), g_nwin);
  for (k = 0; k < N_KINDS; k++) {
    uint64_t tk = 0;
    for (c = 0; c < N_CODES; c++)
      for (r = 0; r < N_REASONS; r++)
        tk += total.n[k][c][r];
    out_line("SOAK kind %-12s calls %8llu ok %8llu", KIND_NAMES[k],
             (unsigned long long)tk, (unsigned long long)by_kind_ok[k]);
  }
  for (c = 0; c < N_CODES; c++) {
    char buf[512];
    size_t off = 0;
    if (!by_code[c])
      continue;
    for (r = 0; r < N_REASONS; r++)
      if (by_code_reason[c][r])
        off += (size_t)snprintf(buf + off, sizeof buf - off, " %s=%llu",
                                REASON_NAMES[r],
                                (unsigned long long)by_code_reason[c][r]);
    out_line("SOAK status %-19s %8llu:%s", tern_status_code_name(c),
             (unsigned long long)by_code[c], buf);
  }
  for (k = 0; k < N_FORMS; k++)
    out_line("SOAK form %-24s %llu", FORM_NAMES[k],
             (unsigned long long)total.forms[k]);
  out_line("SOAK wait_for_ready calls %llu ok %llu, of which %llu started "
           "while the server was down",
           (unsigned long long)total.wfr_calls,
           (unsigned long long)total.wfr_ok, (unsigned long long)g_wfr_through);
  out_line("SOAK client rss_kb after 3 s %ld, at end %ld", rss_start, rss_end);

  /* Verdict. */
  if (wrong) {
    out_line("SOAK FAIL: %llu wrong answer(s)", (unsigned long long)wrong);
    rc = 1;
  }
  if (unexplained) {
    out_line("SOAK FAIL: %llu unexplained failure(s)",
             (unsigned long long)unexplained);
    rc = 1;
  }
  if (g_hangs) {
    out_line("SOAK FAIL: %llu call(s) never completed",
             (unsigned long long)g_hangs);
    rc = 1;
  }
  for (k = 0; k < N_KINDS; k++)
    if (!by_kind_ok[k]) {
      out_line("SOAK FAIL: no %s call succeeded", KIND_NAMES[k]);
      rc = 1;
    }
  for (k = 0; k < N_PLANS; k++)
    if (!total.plans[k]) {
      out_line("SOAK FAIL: no call had plan %s", PLAN_NAMES[k]);
      rc = 1;
    }
  for (k = 0; k < N_FORMS; k++)
    if (!total.forms[k]) {
      out_line("SOAK FAIL: no call used form %s", FORM_NAMES[k]);
      rc = 1;
    }
  if (!total.wfr_ok) {
    out_line("SOAK FAIL: no wait-for-ready call succeeded");
    rc = 1;
  }
  if (g_nwin > 0 && !g_wfr_through) {
    out_line("SOAK FAIL: no wait-for-ready call started during an outage "
             "succeeded");
    rc = 1;
  }
  /* Reconnected: every channel served an OK call started after the last
   * restart's "up". */
  if (last_up)
    for (c = 0; c < g_nch; c++)
      if (g_last_ok[c] <= last_up) {
        out_line("SOAK FAIL: channel %d had no OK call after the last "
                 "restart",
                 c);
        rc = 1;
      }

  /* Machine summary for run_soak.py. */
  {
    char buf[8192];
    size_t off = 0;
    int first = 1;
#define APPEND(...)                                                            \
  do {                                                                         \
    if (off < sizeof buf)                                                      \
      off += (size_t)snprintf(buf + off, sizeof buf - off, __VA_ARGS__);       \
  } while (0)
    APPEND("{\"seed\":%llu,\"duration_s\":%.1f,\"threads\":%d,"
           "\"channels\":%d,\"calls\":%llu,\"wrong\":%llu,"
           "\"unexplained\":%llu,\"hangs\":%llu,\"outages\":%d,"
           "\"client_rss_kb\":[%ld,%ld],\"wfr_calls\":%llu,\"wfr_ok\":%llu,"
           "\"wfr_ok_started_during_outage\":%llu,",
           (unsigned long long)seed, (now_ms() - t_start) / 1000.0, g_nthreads,
           g_nch, (unsigned long long)calls, (unsigned long long)wrong,
           (unsigned long long)unexplained, (unsigned long long)g_hangs, g_nwin,
           rss_start, rss_end, (unsigned long long)total.wfr_calls,
           (unsigned long long)total.wfr_ok, (unsigned long long)g_wfr_through);
    APPEND("\"kinds\":{");
    for (k = 0; k < N_KINDS; k++) {
      uint64_t tk = 0;
      for (c = 0; c < N_CODES; c++)
        for (r = 0; r < N_REASONS; r++)
          tk += total.n[k][c][r];
      APPEND("%s\"%s\":{\"calls\":%llu,\"ok\":%llu}", k ? "," : "",
             KIND_NAMES[k], (unsigned long long)tk,
             (unsigned long long)by_kind_ok[k]);
    }
    APPEND("},\"status\":{");
    for (c = 0; c < N_CODES; c++) {
      int rfirst = 1;
      if (!by_code[c])
        continue;
      APPEND("%s\"%s\":{", first ? "" : ",", tern_status_code_name(c));
      first = 0;
      for (r = 0; r < N_REASONS; r++)
        if (by_code_reason[c][r]) {
          APPEND("%s\"%s\":%llu", rfirst ? "" : ",", REASON_NAMES[r],
                 (unsigned long long)by_code_reason[c][r]);
          rfirst = 0;
        }
      APPEND("}");
    }
    APPEND("},\"plans\":{");
    for (k = 0; k < N_PLANS; k++)
      APPEND("%s\"%s\":%llu", k ? "," : "", PLAN_NAMES[k],
             (unsigned long long)total.plans[k]);
    APPEND("},\"forms\":{");
    for (k = 0; k < N_FORMS; k++)
      APPEND("%s\"%s\":%llu", k ? "," : "", FORM_NAMES[k],
             (unsigned long long)total.forms[k]);
    APPEND("},\"pass\":%s}", rc ? "false" : "true");
#undef APPEND
    out_line("SOAK_JSON %s", buf);
  }

  for (c = 0; c < g_nch; c++)
    tern_channel_free(g_ch[c]);
  for (i = 0; i < g_nthreads; i++)
    pthread_mutex_destroy(&g_workers[i].slot.mu);
  free(g_def);
  rg_db_free(db);
  return rc;
}
