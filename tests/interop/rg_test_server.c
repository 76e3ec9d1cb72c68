/* tern's RouteGuide *test* server (docs/testing.md): the tutorial's four
 * methods plus the metadata hooks interop clients drive it with, over
 * cleartext or TLS (--use_tls, grpc's interop server flags). */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rg_flags.h"
#include "route_guide.tern.h"
#include "route_guide_db.h"

#define POLL_MS 10
#define SHUTDOWN_GRACE_MS 2000
#define FAIL_MESSAGE "failed on purpose"

typedef struct test_server {
  const rg_db *db;
  /* Calls that saw a cancellation while in x-delay-ms. Atomic. */
  long cancels;
} test_server;

/* --- helpers ---------------------------------------------------------- */

static rg_point point_of(const Routeguide__Point *p) {
  rg_point r = {0, 0};
  if (p) {
    r.latitude = p->latitude;
    r.longitude = p->longitude;
  }
  return r;
}

static void sleep_ms(long ms) {
  struct timespec ts;
  ts.tv_sec = ms / 1000;
  ts.tv_nsec = (ms % 1000) * 1000000L;
  while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
  }
}

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *request_md(tern_server_call *call, const char *key,
                              size_t *len_out) {
  const tern_metadata *md = tern_server_call_metadata(call);
  return md ? tern_metadata_get(md, key, len_out) : NULL;
}

/* Parses a whole decimal number in [lo, hi]; -1 when it is not one. */
static int parse_long(const char *s, long lo, long hi, long *out) {
  char *end;
  long v;
  if (!s)
    return -1;
  errno = 0;
  v = strtol(s, &end, 10);
  if (errno || end == s || *end != '\0' || v < lo || v > hi)
    return -1;
  *out = v;
  return 0;
}

/* x-echo-initial and x-echo-trailing-bin. */
static void echo_metadata(tern_server_call *call) {
  size_t len = 0;
  const char *v = request_md(call, "x-echo-initial", NULL);
  if (v)
    tern_server_call_add_header(call, "x-echo-initial", v);
  v = request_md(call, "x-echo-trailing-bin", &len);
  if (v)
    tern_server_call_add_trailer_bin(call, "x-echo-trailing-bin", v, len);
}

/* x-delay-ms: waits, polling for cancellation. Returns 0 when the wait
 * ran out, -1 when the call was cancelled meanwhile (counted). */
static int delay(test_server *ts, tern_server_call *call) {
  long ms;
  int64_t end;
  if (parse_long(request_md(call, "x-delay-ms", NULL), 0, 600000, &ms))
    return 0;
  end = now_ms() + ms;
  for (;;) {
    int64_t left;
    if (tern_server_call_is_cancelled(call)) {
      __atomic_add_fetch(&ts->cancels, 1, __ATOMIC_SEQ_CST);
      return -1;
    }
    left = end - now_ms();
    if (left <= 0)
      return 0;
    sleep_ms(left < POLL_MS ? (long)left : POLL_MS);
  }
}

/* x-fail: CODE. Returns TERN_STATUS_OK when absent. */
static tern_status_code forced_failure(tern_server_call *call) {
  long code;
  const char *v = request_md(call, "x-fail", NULL);
  if (!v)
    return TERN_STATUS_OK;
  if (parse_long(v, 1, 16, &code))
    code = TERN_STATUS_UNKNOWN;
  tern_server_call_set_message(call, FAIL_MESSAGE);
  return (tern_status_code)code;
}

/* The hooks every method applies before its real work. Returns OK to go
 * on, or the status to end the call with. */
static tern_status_code begin_call(test_server *ts, tern_server_call *call) {
  echo_metadata(call);
  if (delay(ts, call))
    return TERN_STATUS_CANCELLED;
  return forced_failure(call);
}

static tern_status_code stream_failed(tern_server_call *call, int err) {
  if (tern_server_call_is_cancelled(call))
    return TERN_STATUS_CANCELLED;
  tern_server_call_set_message(call, tern_strerror(err));
  return TERN_STATUS_INTERNAL;
}

/* --- handlers --------------------------------------------------------- */

static tern_status_code get_feature(tern_server_call *call,
                                    const Routeguide__Point *request,
                                    Routeguide__Feature *response,
                                    void *user_data) {
  test_server *ts = user_data;
  const char *query = request_md(call, "x-query", NULL);
  const rg_feature *f;
  Routeguide__Point *loc;
  tern_status_code code;

  if (query && strcmp(query, "cancels") == 0) {
    char buf[32];
    snprintf(buf, sizeof buf, "%ld",
             __atomic_load_n(&ts->cancels, __ATOMIC_SEQ_CST));
    tern_server_call_add_trailer(call, "x-cancel-count", buf);
  } else if (query && strcmp(query, "peer") == 0) {
    /* The client certificate's CN under mutual TLS; no trailer without
     * one. */
    const char *id = tern_server_call_peer_identity(call);
    if (id)
      tern_server_call_add_trailer(call, "x-peer-identity", id);
  }
  code = begin_call(ts, call);
  if (code != TERN_STATUS_OK)
    return code;

  /* Encoded after we return: the parts come from the call's memory or the
   * database, both of which outlive that. */
  loc = tern_server_call_alloc(call, sizeof *loc);
  if (!loc)
    return TERN_STATUS_RESOURCE_EXHAUSTED;
  routeguide__point__init(loc);
  loc->latitude = request->latitude;
  loc->longitude = request->longitude;
  f = rg_db_find(ts->db, point_of(request));
  response->name = f ? (char *)f->name : "";
  response->location = loc;
  return TERN_STATUS_OK;
}

static tern_status_code list_features(tern_server_call *call,
                                      const Routeguide__Rectangle *request,
                                      void *user_data) {
  test_server *ts = user_data;
  rg_point lo = point_of(request->lo), hi = point_of(request->hi);
  const rg_feature *features;
  size_t n, i;
  tern_status_code code = begin_call(ts, call);

  if (code != TERN_STATUS_OK)
    return code;
  features = rg_db_features(ts->db, &n);
  for (i = 0; i < n; i++) {
    Routeguide__Feature out = ROUTEGUIDE__FEATURE__INIT;
    Routeguide__Point loc = ROUTEGUIDE__POINT__INIT;
    int rc;
    if (!rg_in_rectangle(lo, hi, features[i].location))
      continue;
    loc.latitude = features[i].location.latitude;
    loc.longitude = features[i].location.longitude;
    out.name = (char *)features[i].name;
    out.location = &loc;
    rc = routeguide__route_guide_servicer__list_features_write(call, &out);
    if (rc < 0)
      return stream_failed(call, rc);
  }
  return TERN_STATUS_OK;
}

static tern_status_code record_route(tern_server_call *call,
                                     Routeguide__RouteSummary *response,
                                     void *user_data) {
  test_server *ts = user_data;
  int64_t start;
  int32_t points = 0, features = 0;
  double distance = 0, elapsed_s;
  rg_point prev = {0, 0};
  Routeguide__Point *p;
  int rc;
  tern_status_code code = begin_call(ts, call);

  if (code != TERN_STATUS_OK)
    return code;
  start = now_ms();
  while ((rc = routeguide__route_guide_servicer__record_route_read(call,
                                                                   &p)) ==
         1) {
    rg_point cur = point_of(p);
    const rg_feature *f = rg_db_find(ts->db, cur);
    routeguide__point__free_unpacked(p, NULL);
    if (points < INT32_MAX)
      points++;
    /* Named features only, as grpc's C++ example and ours count. */
    if (f && f->name[0] != '\0' && features < INT32_MAX)
      features++;
    if (points > 1)
      distance += rg_distance_m(prev, cur);
    prev = cur;
  }
  if (rc < 0)
    return stream_failed(call, rc);
  elapsed_s = (double)(now_ms() - start) / 1000.0;
  response->point_count = points;
  response->feature_count = features;
  response->distance = distance < INT32_MAX ? (int32_t)distance : INT32_MAX;
  response->elapsed_time = (int32_t)elapsed_s;
  return TERN_STATUS_OK;
}

static int same_location(const Routeguide__RouteNote *a,
                         const Routeguide__RouteNote *b) {
  rg_point pa = point_of(a->location), pb = point_of(b->location);
  return pa.latitude == pb.latitude && pa.longitude == pb.longitude;
}

static tern_status_code route_chat(tern_server_call *call, void *user_data) {
  test_server *ts = user_data;
  Routeguide__RouteNote **seen = NULL, *note;
  size_t count = 0, cap = 0, i;
  int rc = 0;
  tern_status_code code = begin_call(ts, call);

  if (code != TERN_STATUS_OK)
    return code;
  while ((rc = routeguide__route_guide_servicer__route_chat_read(call,
                                                                 &note)) ==
         1) {
    for (i = 0; i < count && rc >= 0; i++) {
      if (same_location(seen[i], note))
        rc = routeguide__route_guide_servicer__route_chat_write(call,
                                                                seen[i]);
    }
    if (rc < 0) {
      routeguide__route_note__free_unpacked(note, NULL);
      break;
    }
    if (count == cap) {
      size_t ncap = cap ? cap * 2 : 16;
      Routeguide__RouteNote **grown = realloc(seen, ncap * sizeof *grown);
      if (!grown) {
        routeguide__route_note__free_unpacked(note, NULL);
        tern_server_call_set_message(call, "out of memory");
        code = TERN_STATUS_RESOURCE_EXHAUSTED;
        break;
      }
      seen = grown;
      cap = ncap;
    }
    seen[count++] = note;
  }
  if (rc < 0)
    code = stream_failed(call, rc);
  for (i = 0; i < count; i++)
    routeguide__route_note__free_unpacked(seen[i], NULL);
  free(seen);
  return code;
}

/* --- main ------------------------------------------------------------- */

typedef struct stopper {
  sigset_t signals;
  tern_server *server;
} stopper;

/* Takes SIGTERM / SIGINT (blocked everywhere else) and shuts down; SIGUSR1
 * from main only wakes it when the server ended some other way. */
static void *stop_on_signal(void *arg) {
  stopper *s = arg;
  int sig = 0;
  if (sigwait(&s->signals, &sig) == 0 && sig != SIGUSR1) {
    fprintf(stderr, "rg_test_server: signal %d, shutting down\n", sig);
    tern_server_shutdown(s->server, SHUTDOWN_GRACE_MS);
  }
  return NULL;
}

static void usage(FILE *f) {
  fprintf(f,
          "usage: rg_test_server [--port N] [--db FILE] [--use_tls=true\n"
          "         --tls_cert_file=F --tls_key_file=F\n"
          "         [--tls_client_ca_file=F [--require_client_cert=true]]]\n"
          "  --port N   listen on 127.0.0.1:N (0, the default, picks a "
          "free port)\n"
          "  --db FILE  feature database (default: route_guide_db.json "
          "beside the\n"
          "             executable, else in the current directory)\n"
          "  --use_tls=true|false     serve TLS (default false: h2c)\n"
          "  --tls_cert_file=F        our certificate chain (PEM)\n"
          "  --tls_key_file=F         its private key (PEM)\n"
          "  --tls_client_ca_file=F   CAs client certificates chain to\n"
          "  --require_client_cert=true|false  mutual TLS (needs the CA)\n"
          "Flags take --flag=value or --flag value. Prints LISTENING <port>\n"
          "once it serves; stops on SIGTERM.\n");
}

int main(int argc, char **argv) {
  long port = 0;
  const char *db_path = NULL;
  int use_tls = 0, require_client_cert = 0;
  tern_tls_options tls = TERN_TLS_OPTIONS_INIT;
  char db_buf[4096], err[512], addr[64];
  int i, rc, bound = 0, status = 1, have_stopper = 0;
  test_server ts = {NULL, 0};
  rg_db *db = NULL;
  tern_server *server = NULL;
  tern_server_options opts = TERN_SERVER_OPTIONS_INIT;
  Routeguide__RouteGuideServicer servicer =
      ROUTEGUIDE__ROUTE_GUIDE_SERVICER__INIT;
  stopper stop;
  pthread_t stop_thread;

  for (i = 1; i < argc; i++) {
    const char *a = argv[i], *v;
    int missing = 0, b;
    if ((v = rg_flag_value(argc, argv, &i, "--port", &missing))) {
      if (parse_long(v, 0, 65535, &port)) {
        fprintf(stderr, "rg_test_server: bad port '%s'\n", v);
        return 2;
      }
    } else if ((v = rg_flag_value(argc, argv, &i, "--db", &missing))) {
      db_path = v;
    } else if ((v = rg_flag_value(argc, argv, &i, "--tls_cert_file",
                                  &missing))) {
      tls.cert_chain_file = v;
    } else if ((v = rg_flag_value(argc, argv, &i, "--tls_key_file",
                                  &missing))) {
      tls.private_key_file = v;
    } else if ((v = rg_flag_value(argc, argv, &i, "--tls_client_ca_file",
                                  &missing))) {
      tls.ca_file = v;
    } else if (!missing &&
               (b = rg_flag_bool(argc, argv, &i, "--use_tls", &use_tls))) {
      if (b < 0) {
        fprintf(stderr, "rg_test_server: bad '%s' (true or false)\n", a);
        return 2;
      }
    } else if (!missing &&
               (b = rg_flag_bool(argc, argv, &i, "--require_client_cert",
                                 &require_client_cert))) {
      if (b < 0) {
        fprintf(stderr, "rg_test_server: bad '%s' (true or false)\n", a);
        return 2;
      }
    } else if (strcmp(a, "--help") == 0) {
      usage(stdout);
      return 0;
    } else {
      fprintf(stderr, "rg_test_server: %s '%s'\n",
              missing ? "missing value for" : "bad argument", a);
      usage(stderr);
      return 2;
    }
  }
  if (use_tls && (!tls.cert_chain_file || !tls.private_key_file)) {
    fprintf(stderr, "rg_test_server: --use_tls needs --tls_cert_file and "
                    "--tls_key_file\n");
    return 2;
  }
  if (!use_tls && (tls.cert_chain_file || tls.private_key_file || tls.ca_file ||
                   require_client_cert)) {
    fprintf(stderr, "rg_test_server: TLS flags without --use_tls=true\n");
    return 2;
  }
  if (require_client_cert && !tls.ca_file) {
    fprintf(stderr, "rg_test_server: --require_client_cert needs "
                    "--tls_client_ca_file\n");
    return 2;
  }
  tls.require_client_cert = require_client_cert;

  if (!db_path)
    db_path = rg_db_default_path(db_buf, sizeof db_buf);
  rc = rg_db_load(&db, db_path, err, sizeof err);
  if (rc != RG_DB_OK) {
    fprintf(stderr, "rg_test_server: %s\n", err);
    return 2;
  }
  ts.db = db;

  /* Before any thread exists, so that all of them inherit the mask. */
  sigemptyset(&stop.signals);
  sigaddset(&stop.signals, SIGTERM);
  sigaddset(&stop.signals, SIGINT);
  sigaddset(&stop.signals, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &stop.signals, NULL);

  opts.workers = 32; /* the 16-thread client case runs streams at once */
  rc = tern_server_new(&server, &opts);
  if (rc) {
    fprintf(stderr, "rg_test_server: tern_server_new: %s\n",
            tern_strerror(rc));
    goto out;
  }
  servicer.get_feature = get_feature;
  servicer.list_features = list_features;
  servicer.record_route = record_route;
  servicer.route_chat = route_chat;
  rc = routeguide__add_route_guide_servicer_to_server(&servicer, server, &ts);
  if (rc) {
    fprintf(stderr, "rg_test_server: register: %s\n", tern_strerror(rc));
    goto out;
  }
  snprintf(addr, sizeof addr, "127.0.0.1:%ld", port);
  if (use_tls)
    rc = tern_server_add_secure_port(server, addr, &tls, &bound);
  else
    rc = tern_server_add_insecure_port(server, addr, &bound);
  if (rc) {
    fprintf(stderr, "rg_test_server: listen on %s: %s\n", addr,
            tern_strerror(rc));
    goto out;
  }
  rc = tern_server_start(server);
  if (rc) {
    fprintf(stderr, "rg_test_server: start: %s\n", tern_strerror(rc));
    goto out;
  }
  stop.server = server;
  if (pthread_create(&stop_thread, NULL, stop_on_signal, &stop) != 0) {
    fprintf(stderr, "rg_test_server: cannot start the signal thread\n");
    goto out;
  }
  have_stopper = 1;

  if (use_tls)
    fprintf(stderr, "rg_test_server: TLS%s\n",
            require_client_cert ? ", client certificate required" : "");
  printf("LISTENING %d\n", bound);
  fflush(stdout);

  rc = tern_server_wait(server);
  if (rc)
    fprintf(stderr, "rg_test_server: wait: %s\n", tern_strerror(rc));
  status = rc ? 1 : 0;

out:
  if (have_stopper) {
    pthread_kill(stop_thread, SIGUSR1);
    pthread_join(stop_thread, NULL);
  }
  tern_server_free(server);
  rg_db_free(db);
  if (status == 0) {
    printf("rg_test_server: stopped, %ld cancellations seen\n",
           __atomic_load_n(&ts.cancels, __ATOMIC_SEQ_CST));
    fflush(stdout);
  }
  return status;
}
