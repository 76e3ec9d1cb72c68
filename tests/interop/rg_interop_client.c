/* tern's RouteGuide interop client: the cases of docs/testing.md against
 * any RouteGuide test server (ours, grpcio's, grpc C++'s), over cleartext
 * or TLS (--use_tls, grpc's interop client flags). One line per case,
 * `PASS name` / `FAIL name: why`, then `N passed, N failed`. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tern/protobuf_c.h>

#include "rg_flags.h"
#include "route_guide.tern.h"
#include "route_guide_db.h"

#define TIMEOUT_MS 10000   /* the deadline of every ordinary RPC */
#define WAIT_SLACK_MS 5000 /* how much longer a local wait may take */
#define THREADS 8
#define FAIL_MESSAGE "failed on purpose"
#define ECHO_INITIAL "hello-from-tern"

/* Bytes no ASCII header could carry: NUL, high bytes, a newline. */
static const unsigned char TRAILING_BIN[] = {0x00, 0x01, 't',  'e',  'r',
                                              'n',  0xff, 0xfe, 0x80, ' ',
                                              0xc3, 0xa9, '\n'};

static const rg_point KNOWN = {409146138, -746188906};
static const rg_point UNKNOWN = {1, 2};
static const rg_point RECT_LO = {400000000, -750000000};
static const rg_point RECT_HI = {420000000, -730000000};

typedef struct ctx {
  const char *target, *dead_target, *wfr_target;
  const tern_tls_options *tls; /* NULL: cleartext; every channel uses it */
  const char *expect_peer;     /* --expect_peer_identity ("": none) */
  tern_channel *channel; /* on target; NULL without one */
  Routeguide__RouteGuideStub stub;
  const rg_db *db;
  char why[512];
} ctx;

/* --- small helpers ------------------------------------------------------ */

static int fail(ctx *t, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(t->why, sizeof t->why, fmt, ap);
  va_end(ap);
  return -1;
}

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms) {
  struct timespec ts;
  ts.tv_sec = ms / 1000;
  ts.tv_nsec = (ms % 1000) * 1000000L;
  while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
  }
}

static const char *code_name(tern_status_code c) {
  return tern_status_code_name(c);
}

static const char *msg_of(const tern_status *st) {
  return st->message ? st->message : "";
}

static Routeguide__Point make_point(rg_point p) {
  Routeguide__Point out = ROUTEGUIDE__POINT__INIT;
  out.latitude = p.latitude;
  out.longitude = p.longitude;
  return out;
}

static rg_point point_of(const Routeguide__Point *p) {
  rg_point r = {0, 0};
  if (p) {
    r.latitude = p->latitude;
    r.longitude = p->longitude;
  }
  return r;
}

static const char *db_name(const ctx *t, rg_point p) {
  const rg_feature *f = rg_db_find(t->db, p);
  return f ? f->name : "";
}

static tern_call_options call_opts(int64_t timeout_ms,
                                   const tern_metadata *md) {
  tern_call_options o = TERN_CALL_OPTIONS_INIT;
  o.timeout_ms = timeout_ms;
  o.metadata = md;
  return o;
}

/* Metadata with one pair (or none when key is NULL); NULL when out of
 * memory, which the calls then report. */
static tern_metadata *md_one(const char *key, const char *value) {
  tern_metadata *md = NULL;
  if (tern_metadata_new(&md))
    return NULL;
  if (key && tern_metadata_add(md, key, value)) {
    tern_metadata_free(md);
    return NULL;
  }
  return md;
}

/* The first n named features: every implementation counts them as
 * features passed (unnamed entries are counted by some, not others). */
static size_t named_points(const ctx *t, rg_point *out, size_t n) {
  size_t count, i, k = 0;
  const rg_feature *f = rg_db_features(t->db, &count);
  for (i = 0; i < count && k < n; i++)
    if (f[i].name[0] != '\0')
      out[k++] = f[i].location;
  return k;
}

/* --- checks shared by several cases ------------------------------------ */

static int check_feature(ctx *t, const char *what,
                         const Routeguide__Feature *f, rg_point at) {
  rg_point got = point_of(f->location);
  const char *want = db_name(t, at);
  const char *name = f->name ? f->name : "";
  if (strcmp(name, want) != 0)
    return fail(t, "%s: name \"%s\", want \"%s\"", what, name, want);
  if (got.latitude != at.latitude || got.longitude != at.longitude)
    return fail(t, "%s: location (%d,%d), want (%d,%d)", what,
                (int)got.latitude, (int)got.longitude, (int)at.latitude,
                (int)at.longitude);
  return 0;
}

static int unary_get_feature(ctx *t, rg_point at) {
  Routeguide__Point req = make_point(at);
  Routeguide__Feature *resp = NULL;
  tern_status st = TERN_STATUS_INIT;
  tern_call_options o = call_opts(TIMEOUT_MS, NULL);
  tern_status_code c = routeguide__route_guide_stub__get_feature(
      &t->stub, &req, &resp, &o, &st);
  int rc;
  if (c != TERN_STATUS_OK) {
    rc = fail(t, "GetFeature: %s \"%s\"", code_name(c), msg_of(&st));
  } else if (!resp) {
    rc = fail(t, "GetFeature: OK without a response");
  } else {
    rc = check_feature(t, "GetFeature", resp, at);
  }
  if (resp)
    routeguide__feature__free_unpacked(resp, NULL);
  tern_status_clear(&st);
  return rc;
}

typedef struct feature_row {
  int32_t lat, lon;
  char *name;
} feature_row;

static int cmp_rows(const void *a, const void *b) {
  const feature_row *x = a, *y = b;
  if (x->lat != y->lat)
    return x->lat < y->lat ? -1 : 1;
  if (x->lon != y->lon)
    return x->lon < y->lon ? -1 : 1;
  return strcmp(x->name, y->name);
}

static void free_rows(feature_row *rows, size_t n) {
  size_t i;
  for (i = 0; i < n; i++)
    free(rows[i].name);
  free(rows);
}

/* Runs ListFeatures(lo, hi) and compares the set with the database's. */
static int list_and_compare(ctx *t, const char *what, rg_point lo,
                            rg_point hi) {
  Routeguide__Point plo = make_point(lo), phi = make_point(hi);
  Routeguide__Rectangle rect = ROUTEGUIDE__RECTANGLE__INIT;
  tern_call_options o = call_opts(TIMEOUT_MS, NULL);
  tern_call *call = NULL;
  tern_status st = TERN_STATUS_INIT;
  tern_status_code c;
  feature_row *got = NULL, *want = NULL;
  size_t n_got = 0, cap = 0, n_want = 0, n_db, i;
  const rg_feature *feats = rg_db_features(t->db, &n_db);
  Routeguide__Feature *f;
  int rc = 0, r;

  rect.lo = &plo;
  rect.hi = &phi;
  r = routeguide__route_guide_stub__list_features(&t->stub, &rect, &o,
                                                  &call);
  if (r)
    return fail(t, "%s: start: %s", what, tern_strerror(r));
  while ((r = routeguide__route_guide_stub__list_features_read(call, &f)) ==
         1) {
    if (n_got == cap) {
      size_t ncap = cap ? cap * 2 : 64;
      feature_row *g = realloc(got, ncap * sizeof *g);
      if (!g) {
        routeguide__feature__free_unpacked(f, NULL);
        rc = fail(t, "%s: out of memory", what);
        break;
      }
      got = g;
      cap = ncap;
    }
    got[n_got].lat = point_of(f->location).latitude;
    got[n_got].lon = point_of(f->location).longitude;
    got[n_got].name = strdup(f->name ? f->name : "");
    routeguide__feature__free_unpacked(f, NULL);
    if (!got[n_got].name) {
      rc = fail(t, "%s: out of memory", what);
      break;
    }
    n_got++;
  }
  c = tern_call_finish(call, &st);
  tern_call_free(call);
  if (rc)
    goto out;
  if (r < 0 && c == TERN_STATUS_OK) {
    rc = fail(t, "%s: read: %s", what, tern_strerror(r));
    goto out;
  }
  if (c != TERN_STATUS_OK) {
    rc = fail(t, "%s: %s \"%s\" after %zu features", what, code_name(c),
              msg_of(&st), n_got);
    goto out;
  }

  want = calloc(n_db ? n_db : 1, sizeof *want);
  if (!want) {
    rc = fail(t, "%s: out of memory", what);
    goto out;
  }
  for (i = 0; i < n_db; i++) {
    if (!rg_in_rectangle(lo, hi, feats[i].location))
      continue;
    want[n_want].lat = feats[i].location.latitude;
    want[n_want].lon = feats[i].location.longitude;
    want[n_want].name = strdup(feats[i].name);
    if (!want[n_want].name) {
      rc = fail(t, "%s: out of memory", what);
      goto out;
    }
    n_want++;
  }
  if (n_got != n_want) {
    rc = fail(t, "%s: %zu features, want %zu", what, n_got, n_want);
    goto out;
  }
  if (n_got) {
    qsort(got, n_got, sizeof *got, cmp_rows);
    qsort(want, n_want, sizeof *want, cmp_rows);
  }
  for (i = 0; i < n_got; i++) {
    if (cmp_rows(&got[i], &want[i]) != 0) {
      rc = fail(t, "%s: feature (%d,%d) \"%s\", want (%d,%d) \"%s\"", what,
                (int)got[i].lat, (int)got[i].lon, got[i].name,
                (int)want[i].lat, (int)want[i].lon, want[i].name);
      goto out;
    }
  }
out:
  free_rows(got, n_got);
  free_rows(want, n_want);
  tern_status_clear(&st);
  return rc;
}

static int check_summary(ctx *t, const char *what,
                         const Routeguide__RouteSummary *s,
                         const rg_point *pts, size_t n) {
  size_t i;
  int32_t feats = 0, dist, tol;
  double d = 0;
  for (i = 0; i < n; i++) {
    const rg_feature *f = rg_db_find(t->db, pts[i]);
    if (f && f->name[0] != '\0')
      feats++;
    if (i)
      d += rg_distance_m(pts[i - 1], pts[i]);
  }
  dist = (int32_t)d;
  tol = dist / 1000 > 2 ? dist / 1000 : 2; /* float rounding differences */
  if (s->point_count != (int32_t)n)
    return fail(t, "%s: point_count %d, want %zu", what, (int)s->point_count,
                n);
  if (s->feature_count != feats)
    return fail(t, "%s: feature_count %d, want %d", what,
                (int)s->feature_count, (int)feats);
  if (s->distance < dist - tol || s->distance > dist + tol)
    return fail(t, "%s: distance %d, want %d", what, (int)s->distance,
                (int)dist);
  if (s->elapsed_time < 0 || s->elapsed_time > 60)
    return fail(t, "%s: elapsed_time %d", what, (int)s->elapsed_time);
  return 0;
}

/* Streams pts, then blocks for the summary (or uses the future form). */
static int record(ctx *t, const char *what, const rg_point *pts, size_t n,
                  int use_future) {
  tern_call_options o = call_opts(TIMEOUT_MS, NULL);
  tern_call *call = NULL;
  tern_future *fut = NULL;
  Routeguide__RouteSummary *sum = NULL;
  tern_status st = TERN_STATUS_INIT;
  tern_status_code c;
  size_t i;
  int r, rc = 0;

  r = routeguide__route_guide_stub__record_route(&t->stub, &o, &call);
  if (r)
    return fail(t, "%s: start: %s", what, tern_strerror(r));
  for (i = 0; i < n; i++) {
    Routeguide__Point p = make_point(pts[i]);
    r = routeguide__route_guide_stub__record_route_write(call, &p);
    if (r) {
      rc = fail(t, "%s: write %zu: %s", what, i, tern_strerror(r));
      goto out;
    }
  }
  if (use_future) {
    r = routeguide__route_guide_stub__record_route_future(call, &fut);
    if (r) {
      rc = fail(t, "%s: future: %s", what, tern_strerror(r));
      goto out;
    }
    if (tern_future_wait(fut, TIMEOUT_MS + WAIT_SLACK_MS) != TERN_OK) {
      rc = fail(t, "%s: future not done in time", what);
      goto out;
    }
    c = routeguide__route_guide_stub__record_route_result(fut, &sum, &st);
  } else {
    c = routeguide__route_guide_stub__record_route_close_and_recv(call, &sum,
                                                                  &st);
  }
  if (c != TERN_STATUS_OK)
    rc = fail(t, "%s: %s \"%s\"", what, code_name(c), msg_of(&st));
  else if (!sum)
    rc = fail(t, "%s: OK without a summary", what);
  else
    rc = check_summary(t, what, sum, pts, n);
out:
  if (sum)
    routeguide__route_summary__free_unpacked(sum, NULL);
  tern_future_free(fut);
  tern_call_free(call);
  tern_status_clear(&st);
  return rc;
}

/* RouteChat with notes at repeated locations: after each note, the earlier
 * notes at its location must come back before anything more is sent. */
static int chat(ctx *t, const char *what, int base_lat) {
  static const int locs[][2] = {{0, 0}, {0, 1}, {0, 0}, {1, 0},
                                {0, 0}, {0, 1}, {1, 0}};
  enum { N = sizeof locs / sizeof locs[0] };
  char texts[N][32];
  tern_call_options o = call_opts(TIMEOUT_MS, NULL);
  tern_call *call = NULL;
  tern_status st = TERN_STATUS_INIT;
  tern_status_code c;
  Routeguide__RouteNote *reply = NULL;
  int i, j, r, rc = 0;

  r = routeguide__route_guide_stub__route_chat(&t->stub, &o, &call);
  if (r)
    return fail(t, "%s: start: %s", what, tern_strerror(r));
  for (i = 0; i < N; i++) {
    Routeguide__RouteNote note = ROUTEGUIDE__ROUTE_NOTE__INIT;
    rg_point at = {base_lat + locs[i][0], locs[i][1]};
    Routeguide__Point p = make_point(at);
    snprintf(texts[i], sizeof texts[i], "note %d", i);
    note.location = &p;
    note.message = texts[i];
    r = routeguide__route_guide_stub__route_chat_write(call, &note);
    if (r) {
      rc = fail(t, "%s: write note %d: %s", what, i, tern_strerror(r));
      goto out;
    }
    for (j = 0; j < i; j++) {
      rg_point got;
      if (locs[j][0] != locs[i][0] || locs[j][1] != locs[i][1])
        continue;
      /* Bounded by the call's deadline. */
      r = routeguide__route_guide_stub__route_chat_read(call, &reply);
      if (r != 1) {
        rc = fail(t, "%s: after note %d: read gave %d (%s), want \"%s\"",
                  what, i, r, r < 0 ? tern_strerror(r) : "end of stream",
                  texts[j]);
        goto out;
      }
      got = point_of(reply->location);
      if (!reply->message || strcmp(reply->message, texts[j]) != 0 ||
          got.latitude != at.latitude || got.longitude != at.longitude) {
        rc = fail(t, "%s: after note %d: reply \"%s\", want \"%s\"", what, i,
                  reply->message ? reply->message : "", texts[j]);
        goto out;
      }
      routeguide__route_note__free_unpacked(reply, NULL);
      reply = NULL;
    }
  }
  r = tern_call_close_send(call);
  if (r) {
    rc = fail(t, "%s: close_send: %s", what, tern_strerror(r));
    goto out;
  }
  r = routeguide__route_guide_stub__route_chat_read(call, &reply);
  if (r != 0) {
    rc = fail(t, "%s: after half-close read gave %d%s%s, want the end", what,
              r, r == 1 ? ": extra note " : "",
              r == 1 && reply->message ? reply->message : "");
    goto out;
  }
out:
  if (reply)
    routeguide__route_note__free_unpacked(reply, NULL);
  c = tern_call_finish(call, &st);
  if (!rc && c != TERN_STATUS_OK)
    rc = fail(t, "%s: %s \"%s\"", what, code_name(c), msg_of(&st));
  tern_call_free(call);
  tern_status_clear(&st);
  return rc;
}

/* The server's cancel counter, through x-query: cancels. -1 on failure. */
static long cancel_count(ctx *t) {
  Routeguide__Point req = make_point(UNKNOWN);
  Routeguide__Feature *resp = NULL;
  tern_status st = TERN_STATUS_INIT;
  tern_metadata *md = md_one("x-query", "cancels");
  tern_metadata *trailers = NULL;
  tern_call_options o = call_opts(TIMEOUT_MS, md);
  tern_status_code c;
  const char *v;
  long n = -1;
  char *end;

  if (!md || tern_metadata_new(&trailers)) {
    tern_metadata_free(md);
    fail(t, "out of memory");
    return -1;
  }
  o.trailers_out = trailers;
  c = routeguide__route_guide_stub__get_feature(&t->stub, &req, &resp, &o,
                                                &st);
  if (c != TERN_STATUS_OK) {
    fail(t, "x-query: cancels: %s \"%s\"", code_name(c), msg_of(&st));
  } else if (!(v = tern_metadata_get(trailers, "x-cancel-count", NULL))) {
    fail(t, "x-query: cancels: no x-cancel-count trailer");
  } else {
    n = strtol(v, &end, 10);
    if (end == v || *end != '\0') {
      fail(t, "x-cancel-count \"%s\" is not a number", v);
      n = -1;
    }
  }
  if (resp)
    routeguide__feature__free_unpacked(resp, NULL);
  tern_status_clear(&st);
  tern_metadata_free(md);
  tern_metadata_free(trailers);
  return n;
}

/* The counter once calls of earlier cases (deadlines) stop moving it. */
static long settled_cancel_count(ctx *t) {
  long last = cancel_count(t), now;
  int i;
  for (i = 0; i < 30 && last >= 0; i++) {
    sleep_ms(100);
    now = cancel_count(t);
    if (now == last || now < 0)
      return now;
    last = now;
  }
  return last;
}

static int wait_cancel_count_above(ctx *t, long base) {
  int64_t end = now_ms() + 5000;
  long now = cancel_count(t);
  while (now >= 0 && now <= base && now_ms() < end) {
    sleep_ms(50);
    now = cancel_count(t);
  }
  if (now < 0)
    return -1; /* why already set */
  if (now <= base)
    return fail(t, "server's cancel counter stayed at %ld (before: %ld)",
                now, base);
  return 0;
}

/* --- cases -------------------------------------------------------------- */

static int case_get_feature_known(ctx *t) {
  return unary_get_feature(t, KNOWN);
}

static int case_get_feature_unknown(ctx *t) {
  return unary_get_feature(t, UNKNOWN);
}

typedef struct async_result {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int done;
  tern_status_code code;
  char message[256];
  Routeguide__Feature *resp;
} async_result;

static void on_get_feature(const tern_status *status, void *response,
                           void *user_data) {
  async_result *a = user_data;
  pthread_mutex_lock(&a->mu);
  a->code = status->code;
  snprintf(a->message, sizeof a->message, "%s",
           status->message ? status->message : "");
  a->resp = response;
  a->done = 1;
  pthread_cond_signal(&a->cv);
  pthread_mutex_unlock(&a->mu);
}

static int case_get_feature_async(ctx *t) {
  Routeguide__Point req = make_point(KNOWN);
  tern_call_options o = call_opts(TIMEOUT_MS, NULL);
  /* On the heap: if the callback never comes in time it is left behind
   * (a late callback then writes into live memory). */
  async_result *a = calloc(1, sizeof *a);
  struct timespec until;
  int r, rc = 0, done;

  if (!a)
    return fail(t, "out of memory");
  pthread_mutex_init(&a->mu, NULL);
  pthread_cond_init(&a->cv, NULL);
  r = routeguide__route_guide_stub__get_feature_async(&t->stub, &req, &o,
                                                      on_get_feature, a);
  if (r) {
    rc = fail(t, "get_feature_async: %s", tern_strerror(r));
    goto out;
  }
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += (TIMEOUT_MS + WAIT_SLACK_MS) / 1000;
  pthread_mutex_lock(&a->mu);
  while (!a->done) {
    if (pthread_cond_timedwait(&a->cv, &a->mu, &until) == ETIMEDOUT)
      break;
  }
  done = a->done;
  pthread_mutex_unlock(&a->mu);
  if (!done)
    return fail(t, "callback not called within %d ms",
                TIMEOUT_MS + WAIT_SLACK_MS);
  if (a->code != TERN_STATUS_OK)
    rc = fail(t, "callback got %s \"%s\"", code_name(a->code), a->message);
  else if (!a->resp)
    rc = fail(t, "callback got OK without a response");
  else
    rc = check_feature(t, "GetFeature (callback)", a->resp, KNOWN);
  if (a->resp)
    routeguide__feature__free_unpacked(a->resp, NULL);
out:
  pthread_cond_destroy(&a->cv);
  pthread_mutex_destroy(&a->mu);
  free(a);
  return rc;
}

static int case_get_feature_future(ctx *t) {
  Routeguide__Point req = make_point(KNOWN);
  Routeguide__Feature *resp = NULL;
  tern_call_options o = call_opts(TIMEOUT_MS, NULL);
  tern_future *fut = NULL;
  tern_status st = TERN_STATUS_INIT;
  tern_status_code c;
  int r, rc;

  r = routeguide__route_guide_stub__get_feature_future(&t->stub, &req, &o,
                                                       &fut);
  if (r)
    return fail(t, "get_feature_future: %s", tern_strerror(r));
  if (tern_future_wait(fut, TIMEOUT_MS + WAIT_SLACK_MS) != TERN_OK) {
    tern_future_free(fut);
    return fail(t, "future not done in time");
  }
  if (!tern_future_done(fut)) {
    tern_future_free(fut);
    return fail(t, "tern_future_done is 0 after a successful wait");
  }
  c = routeguide__route_guide_stub__get_feature_result(fut, &resp, &st);
  if (c != TERN_STATUS_OK)
    rc = fail(t, "future: %s \"%s\"", code_name(c), msg_of(&st));
  else if (!resp)
    rc = fail(t, "future: OK without a response");
  else
    rc = check_feature(t, "GetFeature (future)", resp, KNOWN);
  if (resp)
    routeguide__feature__free_unpacked(resp, NULL);
  tern_future_free(fut);
  tern_status_clear(&st);
  return rc;
}

static int case_list_features(ctx *t) {
  return list_and_compare(t, "ListFeatures", RECT_LO, RECT_HI);
}

static int case_list_features_reversed(ctx *t) {
  return list_and_compare(t, "ListFeatures (hi, lo)", RECT_HI, RECT_LO);
}

static int case_list_features_empty_rect(ctx *t) {
  rg_point a = {1, 1}, b = {2, 2};
  return list_and_compare(t, "ListFeatures (empty)", a, b);
}

static int case_record_route(ctx *t) {
  rg_point pts[10];
  size_t n = named_points(t, pts, 10);
  return record(t, "RecordRoute", pts, n, 0);
}

static int case_record_route_future(ctx *t) {
  rg_point pts[6];
  size_t n = named_points(t, pts, 5);
  pts[n++] = UNKNOWN;
  return record(t, "RecordRoute (future)", pts, n, 1);
}

static int case_record_route_empty(ctx *t) {
  return record(t, "RecordRoute (no points)", NULL, 0, 0);
}

static int case_route_chat(ctx *t) { return chat(t, "RouteChat", 0); }

/* x-delay-ms beyond a short deadline on a unary call. */
static int case_deadline_exceeded(ctx *t) {
  Routeguide__Point req = make_point(KNOWN);
  Routeguide__Feature *resp = NULL;
  tern_metadata *md = md_one("x-delay-ms", "3000");
  tern_call_options o = call_opts(300, md);
  tern_status st = TERN_STATUS_INIT;
  int64_t t0 = now_ms(), took;
  tern_status_code c = routeguide__route_guide_stub__get_feature(
      &t->stub, &req, &resp, &o, &st);
  int rc = 0;

  took = now_ms() - t0;
  if (c != TERN_STATUS_DEADLINE_EXCEEDED)
    rc = fail(t, "%s \"%s\", want DEADLINE_EXCEEDED", code_name(c),
              msg_of(&st));
  else if (resp)
    rc = fail(t, "a response came with DEADLINE_EXCEEDED");
  else if (took > 2500)
    rc = fail(t, "took %lld ms to time out a 300 ms deadline",
              (long long)took);
  if (resp)
    routeguide__feature__free_unpacked(resp, NULL);
  tern_metadata_free(md);
  tern_status_clear(&st);
  return rc;
}

/* The same on a server-streaming call: the read ends, finish tells why. */
static int case_deadline_exceeded_stream(ctx *t) {
  Routeguide__Point lo = make_point(RECT_LO), hi = make_point(RECT_HI);
  Routeguide__Rectangle rect = ROUTEGUIDE__RECTANGLE__INIT;
  tern_metadata *md = md_one("x-delay-ms", "3000");
  tern_call_options o = call_opts(300, md);
  tern_call *call = NULL;
  Routeguide__Feature *f = NULL;
  tern_status st = TERN_STATUS_INIT;
  tern_status_code c;
  int r, rc = 0;

  rect.lo = &lo;
  rect.hi = &hi;
  r = routeguide__route_guide_stub__list_features(&t->stub, &rect, &o,
                                                  &call);
  if (r) {
    tern_metadata_free(md);
    return fail(t, "start: %s", tern_strerror(r));
  }
  r = routeguide__route_guide_stub__list_features_read(call, &f);
  if (r == 1) {
    routeguide__feature__free_unpacked(f, NULL);
    rc = fail(t, "a feature came before the delay ended");
  }
  c = tern_call_finish(call, &st);
  if (!rc && c != TERN_STATUS_DEADLINE_EXCEEDED)
    rc = fail(t, "%s \"%s\", want DEADLINE_EXCEEDED", code_name(c),
              msg_of(&st));
  tern_call_free(call);
  tern_metadata_free(md);
  tern_status_clear(&st);
  return rc;
}

/* tern_call_cancel on a delayed streaming call: CANCELLED here, and the
 * server's handler sees it. */
static int case_cancel_call(ctx *t) {
  Routeguide__Point lo = make_point(RECT_LO), hi = make_point(RECT_HI);
  Routeguide__Rectangle rect = ROUTEGUIDE__RECTANGLE__INIT;
  tern_metadata *md = md_one("x-delay-ms", "8000");
  tern_call_options o = call_opts(TIMEOUT_MS, md);
  tern_call *call = NULL;
  tern_status st = TERN_STATUS_INIT;
  tern_status_code c;
  int64_t t0;
  long base = settled_cancel_count(t);
  int r, rc = 0;

  if (base < 0) {
    tern_metadata_free(md);
    return -1;
  }
  rect.lo = &lo;
  rect.hi = &hi;
  r = routeguide__route_guide_stub__list_features(&t->stub, &rect, &o,
                                                  &call);
  if (r) {
    tern_metadata_free(md);
    return fail(t, "start: %s", tern_strerror(r));
  }
  sleep_ms(300);
  t0 = now_ms();
  tern_call_cancel(call);
  c = tern_call_finish(call, &st);
  if (c != TERN_STATUS_CANCELLED)
    rc = fail(t, "%s \"%s\", want CANCELLED", code_name(c), msg_of(&st));
  else if (now_ms() - t0 > 2000)
    rc = fail(t, "finish took %lld ms after cancel",
              (long long)(now_ms() - t0));
  tern_call_free(call);
  tern_metadata_free(md);
  tern_status_clear(&st);
  return rc ? rc : wait_cancel_count_above(t, base);
}

/* tern_future_cancel on a delayed unary call. */
static int case_cancel_future(ctx *t) {
  Routeguide__Point req = make_point(KNOWN);
  Routeguide__Feature *resp = NULL;
  tern_metadata *md = md_one("x-delay-ms", "8000");
  tern_call_options o = call_opts(TIMEOUT_MS, md);
  tern_future *fut = NULL;
  tern_status st = TERN_STATUS_INIT;
  tern_status_code c;
  long base = settled_cancel_count(t);
  int r, rc = 0;

  if (base < 0) {
    tern_metadata_free(md);
    return -1;
  }
  r = routeguide__route_guide_stub__get_feature_future(&t->stub, &req, &o,
                                                       &fut);
  if (r) {
    tern_metadata_free(md);
    return fail(t, "start: %s", tern_strerror(r));
  }
  sleep_ms(300);
  tern_future_cancel(fut);
  if (tern_future_wait(fut, 2000) != TERN_OK) {
    rc = fail(t, "future not done 2 s after cancel");
  } else {
    c = routeguide__route_guide_stub__get_feature_result(fut, &resp, &st);
    if (c != TERN_STATUS_CANCELLED)
      rc = fail(t, "%s \"%s\", want CANCELLED", code_name(c), msg_of(&st));
  }
  if (resp)
    routeguide__feature__free_unpacked(resp, NULL);
  tern_future_free(fut);
  tern_metadata_free(md);
  tern_status_clear(&st);
  return rc ? rc : wait_cancel_count_above(t, base);
}

static int check_echo(ctx *t, const char *what, const tern_metadata *hdrs,
                      const tern_metadata *trailers) {
  size_t len = 0;
  const char *v = hdrs ? tern_metadata_get(hdrs, "x-echo-initial", NULL)
                       : NULL;
  if (!v || strcmp(v, ECHO_INITIAL) != 0)
    return fail(t, "%s: initial x-echo-initial \"%s\", want \"%s\"", what,
                v ? v : "(none)", ECHO_INITIAL);
  v = trailers ? tern_metadata_get(trailers, "x-echo-trailing-bin", &len)
               : NULL;
  if (!v)
    return fail(t, "%s: no x-echo-trailing-bin trailer", what);
  if (len != sizeof TRAILING_BIN || memcmp(v, TRAILING_BIN, len) != 0)
    return fail(t, "%s: x-echo-trailing-bin has %zu bytes, not the %zu sent",
                what, len, sizeof TRAILING_BIN);
  return 0;
}

static tern_metadata *echo_request_md(void) {
  tern_metadata *md = md_one("x-echo-initial", ECHO_INITIAL);
  if (md && tern_metadata_add_bin(md, "x-echo-trailing-bin", TRAILING_BIN,
                                  sizeof TRAILING_BIN)) {
    tern_metadata_free(md);
    return NULL;
  }
  return md;
}

static int case_metadata_unary(ctx *t) {
  Routeguide__Point req = make_point(KNOWN);
  Routeguide__Feature *resp = NULL;
  tern_metadata *md = echo_request_md(), *hdrs = NULL, *trl = NULL;
  tern_call_options o = call_opts(TIMEOUT_MS, md);
  tern_status st = TERN_STATUS_INIT;
  tern_status_code c;
  int rc;

  if (!md || tern_metadata_new(&hdrs) || tern_metadata_new(&trl)) {
    rc = fail(t, "out of memory");
    goto out;
  }
  o.headers_out = hdrs;
  o.trailers_out = trl;
  c = routeguide__route_guide_stub__get_feature(&t->stub, &req, &resp, &o,
                                                &st);
  if (c != TERN_STATUS_OK)
    rc = fail(t, "%s \"%s\"", code_name(c), msg_of(&st));
  else
    rc = check_echo(t, "GetFeature", hdrs, trl);
out:
  if (resp)
    routeguide__feature__free_unpacked(resp, NULL);
  tern_metadata_free(md);
  tern_metadata_free(hdrs);
  tern_metadata_free(trl);
  tern_status_clear(&st);
  return rc;
}

static int case_metadata_stream(ctx *t) {
  Routeguide__Point lo = make_point(RECT_LO), hi = make_point(RECT_HI);
  Routeguide__Rectangle rect = ROUTEGUIDE__RECTANGLE__INIT;
  tern_metadata *md = echo_request_md(), *trl = NULL;
  tern_call_options o = call_opts(TIMEOUT_MS, md);
  tern_call *call = NULL;
  Routeguide__Feature *f;
  tern_status st = TERN_STATUS_INIT;
  tern_status_code c;
  const tern_metadata *hdrs;
  const char *v;
  size_t n = 0;
  int r, rc = 0;

  if (!md || tern_metadata_new(&trl)) {
    rc = fail(t, "out of memory");
    goto out;
  }
  o.trailers_out = trl;
  rect.lo = &lo;
  rect.hi = &hi;
  r = routeguide__route_guide_stub__list_features(&t->stub, &rect, &o,
                                                  &call);
  if (r) {
    rc = fail(t, "start: %s", tern_strerror(r));
    goto out;
  }
  /* Initial metadata is there before the first message is read. */
  hdrs = tern_call_headers(call);
  v = hdrs ? tern_metadata_get(hdrs, "x-echo-initial", NULL) : NULL;
  if (!v || strcmp(v, ECHO_INITIAL) != 0)
    rc = fail(t, "tern_call_headers: x-echo-initial \"%s\"",
              v ? v : "(none)");
  while ((r = routeguide__route_guide_stub__list_features_read(call, &f)) ==
         1) {
    routeguide__feature__free_unpacked(f, NULL);
    n++;
  }
  c = tern_call_finish(call, &st);
  if (rc)
    goto out;
  if (c != TERN_STATUS_OK)
    rc = fail(t, "%s \"%s\"", code_name(c), msg_of(&st));
  else if (n == 0)
    rc = fail(t, "no features");
  else
    rc = check_echo(t, "ListFeatures", tern_call_headers(call), trl);
out:
  tern_call_free(call);
  tern_metadata_free(md);
  tern_metadata_free(trl);
  tern_status_clear(&st);
  return rc;
}

static int case_fail_status(ctx *t) {
  Routeguide__Point req = make_point(KNOWN);
  Routeguide__Feature *resp = NULL;
  tern_metadata *md = md_one("x-fail", "9");
  tern_call_options o = call_opts(TIMEOUT_MS, md);
  tern_status st = TERN_STATUS_INIT;
  tern_status_code c = routeguide__route_guide_stub__get_feature(
      &t->stub, &req, &resp, &o, &st);
  int rc = 0;

  if (c != TERN_STATUS_FAILED_PRECONDITION)
    rc = fail(t, "%s \"%s\", want FAILED_PRECONDITION", code_name(c),
              msg_of(&st));
  else if (strcmp(msg_of(&st), FAIL_MESSAGE) != 0)
    rc = fail(t, "message \"%s\", want \"%s\"", msg_of(&st), FAIL_MESSAGE);
  else if (st.code != c)
    rc = fail(t, "status_out code %d, returned %d", (int)st.code, (int)c);
  if (resp)
    routeguide__feature__free_unpacked(resp, NULL);
  tern_metadata_free(md);
  tern_status_clear(&st);
  return rc;
}

static int case_fail_status_stream(ctx *t) {
  tern_metadata *md = md_one("x-fail", "7");
  tern_call_options o = call_opts(TIMEOUT_MS, md);
  tern_call *call = NULL;
  Routeguide__RouteNote *note = NULL;
  tern_status st = TERN_STATUS_INIT;
  tern_status_code c;
  int r, rc = 0;

  r = routeguide__route_guide_stub__route_chat(&t->stub, &o, &call);
  if (r) {
    tern_metadata_free(md);
    return fail(t, "start: %s", tern_strerror(r));
  }
  tern_call_close_send(call);
  r = routeguide__route_guide_stub__route_chat_read(call, &note);
  if (r == 1) {
    routeguide__route_note__free_unpacked(note, NULL);
    rc = fail(t, "a note came back");
  }
  c = tern_call_finish(call, &st);
  if (!rc && c != TERN_STATUS_PERMISSION_DENIED)
    rc = fail(t, "%s \"%s\", want PERMISSION_DENIED", code_name(c),
              msg_of(&st));
  else if (!rc && strcmp(msg_of(&st), FAIL_MESSAGE) != 0)
    rc = fail(t, "message \"%s\", want \"%s\"", msg_of(&st), FAIL_MESSAGE);
  tern_call_free(call);
  tern_metadata_free(md);
  tern_status_clear(&st);
  return rc;
}

/* A method the server does not have, through a hand-made descriptor. */
static int unimplemented(ctx *t, const char *path) {
  tern_method m = *ROUTEGUIDE__ROUTE_GUIDE__TERN_GET_FEATURE;
  Routeguide__Point req = make_point(KNOWN);
  void *resp = NULL;
  tern_call_options o = call_opts(TIMEOUT_MS, NULL);
  tern_status st = TERN_STATUS_INIT;
  tern_status_code c;
  int rc = 0;

  m.path = path;
  c = tern_unary_call(t->channel, &m, &req, &resp, &o, &st);
  if (c != TERN_STATUS_UNIMPLEMENTED)
    rc = fail(t, "%s: %s \"%s\", want UNIMPLEMENTED", path, code_name(c),
              msg_of(&st));
  if (resp)
    routeguide__feature__free_unpacked(resp, NULL);
  tern_status_clear(&st);
  return rc;
}

static int case_unknown_method(ctx *t) {
  return unimplemented(t, "/routeguide.RouteGuide/NoSuchMethod");
}

static int case_unknown_service(ctx *t) {
  return unimplemented(t, "/no.such.Service/GetFeature");
}

typedef struct worker {
  ctx t;
  int index;
  int rc;
} worker;

static void *run_worker(void *arg) {
  worker *w = arg;
  rg_point pts[8];
  size_t n = named_points(&w->t, pts, 3 + (size_t)(w->index % 5));
  w->rc = unary_get_feature(&w->t, KNOWN);
  if (!w->rc)
    w->rc = list_and_compare(&w->t, "ListFeatures", RECT_LO, RECT_HI);
  if (!w->rc)
    w->rc = record(&w->t, "RecordRoute", pts, n, w->index % 2);
  if (!w->rc)
    w->rc = chat(&w->t, "RouteChat", 10 * (w->index + 1));
  return NULL;
}

/* THREADS threads at once on the one channel, each doing every method. */
static int case_concurrent(ctx *t) {
  worker w[THREADS];
  pthread_t th[THREADS];
  int started = 0, i, failed = 0;
  for (i = 0; i < THREADS; i++) {
    w[i].t = *t;
    w[i].t.why[0] = '\0';
    w[i].index = i;
    w[i].rc = -1;
    if (pthread_create(&th[i], NULL, run_worker, &w[i]) != 0)
      break;
    started++;
  }
  /* Every call in a worker has a deadline, so the joins are bounded. */
  for (i = 0; i < started; i++)
    pthread_join(th[i], NULL);
  if (started < THREADS)
    return fail(t, "only %d of %d threads started", started, THREADS);
  for (i = 0; i < THREADS; i++) {
    if (w[i].rc) {
      if (!failed)
        fail(t, "thread %d: %s", i, w[i].t.why);
      failed++;
    }
  }
  if (failed > 1) {
    size_t len = strlen(t->why);
    snprintf(t->why + len, sizeof t->why - len, " (and %d more threads)",
             failed - 1);
  }
  return failed ? -1 : 0;
}

/* Nothing listens at --dead-target: UNAVAILABLE, quickly. */
static int case_unavailable(ctx *t) {
  tern_channel *ch = NULL;
  tern_channel_options copts = TERN_CHANNEL_OPTIONS_INIT;
  Routeguide__RouteGuideStub stub;
  Routeguide__Point req = make_point(KNOWN);
  Routeguide__Feature *resp = NULL;
  tern_call_options o = call_opts(5000, NULL);
  tern_status st = TERN_STATUS_INIT;
  tern_status_code c;
  int64_t t0;
  int r, rc = 0;

  copts.tls = t->tls;
  r = tern_channel_new(&ch, t->dead_target, &copts);
  if (r)
    return fail(t, "tern_channel_new(%s): %s", t->dead_target,
                tern_strerror(r));
  routeguide__route_guide_stub_init(&stub, ch);
  t0 = now_ms();
  c = routeguide__route_guide_stub__get_feature(&stub, &req, &resp, &o, &st);
  if (c != TERN_STATUS_UNAVAILABLE)
    rc = fail(t, "%s \"%s\", want UNAVAILABLE", code_name(c), msg_of(&st));
  else if (now_ms() - t0 > 4000)
    rc = fail(t, "took %lld ms to fail", (long long)(now_ms() - t0));
  if (resp)
    routeguide__feature__free_unpacked(resp, NULL);
  tern_status_clear(&st);
  tern_channel_free(ch);
  return rc;
}

/* --wfr-target is started late (run_pair.py --server-delay): a
 * wait-for-ready call queues until it is up, then succeeds. */
static int case_wait_for_ready(ctx *t) {
  tern_channel *ch = NULL;
  tern_channel_options copts = TERN_CHANNEL_OPTIONS_INIT;
  Routeguide__RouteGuideStub stub;
  Routeguide__Point req = make_point(KNOWN);
  Routeguide__Feature *resp = NULL;
  tern_call_options o = call_opts(30000, NULL);
  tern_status st = TERN_STATUS_INIT;
  tern_status_code c;
  int64_t t0 = now_ms();
  int r, rc = 0;

  /* Retry quickly so the test does not wait out a long backoff. */
  copts.initial_backoff_ms = 200;
  copts.max_backoff_ms = 1000;
  copts.tls = t->tls;
  r = tern_channel_new(&ch, t->wfr_target, &copts);
  if (r)
    return fail(t, "tern_channel_new(%s): %s", t->wfr_target,
                tern_strerror(r));
  routeguide__route_guide_stub_init(&stub, ch);
  o.wait_for_ready = 1;
  c = routeguide__route_guide_stub__get_feature(&stub, &req, &resp, &o, &st);
  if (c != TERN_STATUS_OK)
    rc = fail(t, "%s \"%s\" after %lld ms, want OK", code_name(c),
              msg_of(&st), (long long)(now_ms() - t0));
  else if (!resp)
    rc = fail(t, "OK without a response");
  else
    rc = check_feature(t, "GetFeature (wait for ready)", resp, KNOWN);
  if (!rc)
    printf("  wait_for_ready: answered after %lld ms\n",
           (long long)(now_ms() - t0));
  if (resp)
    routeguide__feature__free_unpacked(resp, NULL);
  tern_status_clear(&st);
  tern_channel_free(ch);
  return rc;
}

static int case_health_final(ctx *t) { return unary_get_feature(t, KNOWN); }

/* x-query: peer: the server reports the identity it saw (the client
 * certificate's CN under mutual TLS) in the x-peer-identity trailer, which
 * must be --expect_peer_identity (none when that is empty). */
static int case_peer_identity(ctx *t) {
  Routeguide__Point req = make_point(KNOWN);
  Routeguide__Feature *resp = NULL;
  tern_status st = TERN_STATUS_INIT;
  tern_metadata *md = md_one("x-query", "peer");
  tern_metadata *trailers = NULL;
  tern_call_options o = call_opts(TIMEOUT_MS, md);
  tern_status_code c;
  const char *v;
  int rc;

  if (!md || tern_metadata_new(&trailers)) {
    rc = fail(t, "out of memory");
    goto out;
  }
  o.trailers_out = trailers;
  c = routeguide__route_guide_stub__get_feature(&t->stub, &req, &resp, &o, &st);
  if (c != TERN_STATUS_OK) {
    rc = fail(t, "GetFeature: %s \"%s\"", code_name(c), msg_of(&st));
    goto out;
  }
  if (!resp) {
    rc = fail(t, "GetFeature: OK without a response");
    goto out;
  }
  rc = check_feature(t, "GetFeature", resp, KNOWN);
  if (rc)
    goto out;
  v = tern_metadata_get(trailers, "x-peer-identity", NULL);
  if (t->expect_peer[0] == '\0' && v)
    rc = fail(t, "server saw peer \"%s\", want none", v);
  else if (t->expect_peer[0] != '\0' && (!v || strcmp(v, t->expect_peer) != 0))
    rc = fail(t, "server saw peer %s%s%s, want \"%s\"", v ? "\"" : "",
              v ? v : "(none)", v ? "\"" : "", t->expect_peer);
  else
    printf("  peer_identity: server saw %s%s%s\n", v ? "\"" : "",
           v ? v : "no client certificate", v ? "\"" : "");
out:
  if (resp)
    routeguide__feature__free_unpacked(resp, NULL);
  tern_status_clear(&st);
  tern_metadata_free(md);
  tern_metadata_free(trailers);
  return rc;
}

/* The server (or this client's TLS options) is one the handshake must
 * refuse: wrong CA, expired certificate, a host name the certificate does
 * not carry, no client certificate under mutual TLS. A call fails
 * UNAVAILABLE, promptly, and never reaches a handler. */
static int case_handshake_refused(ctx *t) {
  Routeguide__Point req = make_point(KNOWN);
  Routeguide__Feature *resp = NULL;
  tern_call_options o = call_opts(5000, NULL);
  tern_status st = TERN_STATUS_INIT;
  tern_status_code c;
  int64_t t0 = now_ms();
  int rc = 0;

  c = routeguide__route_guide_stub__get_feature(&t->stub, &req, &resp, &o, &st);
  if (c != TERN_STATUS_UNAVAILABLE)
    rc = fail(t, "%s \"%s\", want UNAVAILABLE", code_name(c), msg_of(&st));
  else if (now_ms() - t0 > 4000)
    rc = fail(t, "took %lld ms to fail", (long long)(now_ms() - t0));
  else
    printf("  handshake_refused: %s \"%s\"\n", code_name(c), msg_of(&st));
  if (resp)
    routeguide__feature__free_unpacked(resp, NULL);
  tern_status_clear(&st);
  return rc;
}

/* --- runner ------------------------------------------------------------- */

enum {
  NEEDS_TARGET = 1,
  NEEDS_DEAD = 2,
  NEEDS_WFR = 4,
  NEEDS_PEER = 8,   /* --expect_peer_identity */
  ONLY_BY_NAME = 16 /* not in the default selection: --case NAME */
};

typedef struct test_case {
  const char *name;
  int (*fn)(ctx *t);
  int needs;
} test_case;

static const test_case CASES[] = {
    {"get_feature_known", case_get_feature_known, NEEDS_TARGET},
    {"get_feature_unknown", case_get_feature_unknown, NEEDS_TARGET},
    {"get_feature_async", case_get_feature_async, NEEDS_TARGET},
    {"get_feature_future", case_get_feature_future, NEEDS_TARGET},
    {"list_features", case_list_features, NEEDS_TARGET},
    {"list_features_reversed", case_list_features_reversed, NEEDS_TARGET},
    {"list_features_empty_rect", case_list_features_empty_rect, NEEDS_TARGET},
    {"record_route", case_record_route, NEEDS_TARGET},
    {"record_route_future", case_record_route_future, NEEDS_TARGET},
    {"record_route_empty", case_record_route_empty, NEEDS_TARGET},
    {"route_chat", case_route_chat, NEEDS_TARGET},
    {"deadline_exceeded", case_deadline_exceeded, NEEDS_TARGET},
    {"deadline_exceeded_stream", case_deadline_exceeded_stream, NEEDS_TARGET},
    {"cancel_call", case_cancel_call, NEEDS_TARGET},
    {"cancel_future", case_cancel_future, NEEDS_TARGET},
    {"metadata_unary", case_metadata_unary, NEEDS_TARGET},
    {"metadata_stream", case_metadata_stream, NEEDS_TARGET},
    {"fail_status", case_fail_status, NEEDS_TARGET},
    {"fail_status_stream", case_fail_status_stream, NEEDS_TARGET},
    {"unknown_method", case_unknown_method, NEEDS_TARGET},
    {"unknown_service", case_unknown_service, NEEDS_TARGET},
    {"concurrent_threads", case_concurrent, NEEDS_TARGET},
    {"unavailable", case_unavailable, NEEDS_DEAD},
    {"wait_for_ready", case_wait_for_ready, NEEDS_WFR},
    {"peer_identity", case_peer_identity, NEEDS_TARGET | NEEDS_PEER},
    {"health_final", case_health_final, NEEDS_TARGET},
    {"handshake_refused", case_handshake_refused, NEEDS_TARGET | ONLY_BY_NAME},
};
#define N_CASES (sizeof CASES / sizeof CASES[0])

static void usage(FILE *f) {
  size_t i;
  fprintf(f,
          "usage: rg_interop_client [--target 127.0.0.1:PORT] "
          "[--case NAME]...\n"
          "         [--dead-target 127.0.0.1:P] [--wfr-target 127.0.0.1:P] "
          "[--db FILE]\n"
          "         [--use_tls=true --ca_file=F [--server_host_override=N]\n"
          "          [--client_cert_file=F --client_key_file=F]]\n"
          "         [--expect_peer_identity=CN]\n"
          "  --use_tls=true|false      TLS on every channel (default false)\n"
          "  --ca_file=F               CAs the server must chain to "
          "(default: the\n"
          "                            system's)\n"
          "  --server_host_override=N  the name the server certificate must "
          "carry\n"
          "  --client_cert_file=F, --client_key_file=F  mutual TLS\n"
          "  --expect_peer_identity=CN  peer_identity: the CN the server "
          "must see\n"
          "                            (empty: no client certificate)\n"
          "Flags take --flag=value or --flag value.\n"
          "cases (default: all that their flags allow; * only by name):\n");
  for (i = 0; i < N_CASES; i++)
    fprintf(f, "  %s%s\n", CASES[i].name,
            CASES[i].needs & ONLY_BY_NAME ? " *" : "");
}

static const test_case *find_case(const char *name) {
  size_t i;
  for (i = 0; i < N_CASES; i++)
    if (strcmp(CASES[i].name, name) == 0)
      return &CASES[i];
  return NULL;
}

int main(int argc, char **argv) {
  ctx t;
  const char *db_path = NULL;
  const test_case **selected;
  size_t n_selected = 0, i;
  char db_buf[4096], err[512];
  rg_db *db = NULL;
  int passed = 0, failed = 0, r, use_tls = 0;
  tern_tls_options tls = TERN_TLS_OPTIONS_INIT;
  tern_channel_options copts = TERN_CHANNEL_OPTIONS_INIT;

  memset(&t, 0, sizeof t);
  selected = calloc((size_t)argc + N_CASES, sizeof *selected);
  if (!selected)
    return 1;
  for (r = 1; r < argc; r++) {
    const char *a = argv[r], *v;
    int missing = 0, b;
    if (strcmp(a, "--help") == 0) {
      usage(stdout);
      free(selected);
      return 0;
    } else if ((v = rg_flag_value(argc, argv, &r, "--target", &missing))) {
      t.target = v;
    } else if ((v = rg_flag_value(argc, argv, &r, "--dead-target", &missing))) {
      t.dead_target = v;
    } else if ((v = rg_flag_value(argc, argv, &r, "--wfr-target", &missing))) {
      t.wfr_target = v;
    } else if ((v = rg_flag_value(argc, argv, &r, "--db", &missing))) {
      db_path = v;
    } else if ((v = rg_flag_value(argc, argv, &r, "--ca_file", &missing))) {
      tls.ca_file = v;
    } else if ((v = rg_flag_value(argc, argv, &r, "--server_host_override",
                                  &missing))) {
      tls.server_host_override = v;
    } else if ((v = rg_flag_value(argc, argv, &r, "--client_cert_file",
                                  &missing))) {
      tls.cert_chain_file = v;
    } else if ((v = rg_flag_value(argc, argv, &r, "--client_key_file",
                                  &missing))) {
      tls.private_key_file = v;
    } else if ((v = rg_flag_value(argc, argv, &r, "--expect_peer_identity",
                                  &missing))) {
      t.expect_peer = v;
    } else if ((v = rg_flag_value(argc, argv, &r, "--case", &missing))) {
      const test_case *c = find_case(v);
      if (!c) {
        fprintf(stderr, "rg_interop_client: no case '%s'\n", v);
        usage(stderr);
        free(selected);
        return 2;
      }
      selected[n_selected++] = c;
    } else if (!missing &&
               (b = rg_flag_bool(argc, argv, &r, "--use_tls", &use_tls))) {
      if (b < 0) {
        fprintf(stderr, "rg_interop_client: bad '%s' (true or false)\n", a);
        free(selected);
        return 2;
      }
    } else {
      fprintf(stderr, "rg_interop_client: %s '%s'\n",
              missing ? "missing value for" : "bad argument", a);
      usage(stderr);
      free(selected);
      return 2;
    }
  }
  if (!use_tls && (tls.ca_file || tls.server_host_override ||
                   tls.cert_chain_file || tls.private_key_file)) {
    fprintf(stderr, "rg_interop_client: TLS flags without --use_tls=true\n");
    free(selected);
    return 2;
  }
  if (!tls.cert_chain_file != !tls.private_key_file) {
    fprintf(stderr, "rg_interop_client: --client_cert_file and "
                    "--client_key_file go together\n");
    free(selected);
    return 2;
  }
  if (use_tls)
    t.tls = &tls;
  if (n_selected == 0)
    for (i = 0; i < N_CASES; i++)
      if (!(CASES[i].needs & ONLY_BY_NAME))
        selected[n_selected++] = &CASES[i];

  if (!db_path)
    db_path = rg_db_default_path(db_buf, sizeof db_buf);
  if (rg_db_load(&db, db_path, err, sizeof err) != RG_DB_OK) {
    fprintf(stderr, "rg_interop_client: %s\n", err);
    free(selected);
    return 2;
  }
  t.db = db;
  if (t.target) {
    copts.tls = t.tls;
    r = tern_channel_new(&t.channel, t.target, &copts);
    if (r) {
      fprintf(stderr, "rg_interop_client: tern_channel_new(%s): %s\n",
              t.target, tern_strerror(r));
      rg_db_free(db);
      free(selected);
      return 2;
    }
    routeguide__route_guide_stub_init(&t.stub, t.channel);
  }
  printf("rg_interop_client: tern %s; target %s%s\n", TERN_VERSION,
         t.target ? t.target : "(none)",
         !use_tls              ? ""
         : tls.cert_chain_file ? " (mutual TLS)"
                               : " (TLS)");
  fflush(stdout);

  for (i = 0; i < n_selected; i++) {
    const test_case *c = selected[i];
    int64_t t0;
    if ((c->needs & NEEDS_TARGET) && !t.target) {
      printf("SKIP %s: needs --target\n", c->name);
    } else if ((c->needs & NEEDS_DEAD) && !t.dead_target) {
      printf("SKIP %s: needs --dead-target (a port nothing listens on)\n",
             c->name);
    } else if ((c->needs & NEEDS_WFR) && !t.wfr_target) {
      printf("SKIP %s: needs --wfr-target (a server started late)\n",
             c->name);
    } else if ((c->needs & NEEDS_PEER) && !t.expect_peer) {
      printf("SKIP %s: needs --expect_peer_identity\n", c->name);
    } else {
      t.why[0] = '\0';
      t0 = now_ms();
      if (c->fn(&t) == 0) {
        printf("PASS %s (%lld ms)\n", c->name, (long long)(now_ms() - t0));
        passed++;
      } else {
        printf("FAIL %s: %s\n", c->name, t.why[0] ? t.why : "(no reason)");
        failed++;
      }
    }
    fflush(stdout);
  }
  printf("%d passed, %d failed\n", passed, failed);
  fflush(stdout);

  tern_channel_free(t.channel);
  rg_db_free(db);
  free(selected);
  return failed == 0 && passed > 0 ? 0 : 1;
}
