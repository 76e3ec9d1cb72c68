/* The tern server the hostile tests attack: RouteGuide (GetFeature,
 * ListFeatures, RecordRoute) over cleartext HTTP/2 on 127.0.0.1, with every
 * tern_server_options limit settable from the command line.
 *
 *   hostile_target [--port N] [--db FILE] [--workers N] [--io-threads N]
 *                  [--max-recv BYTES] [--max-streams N]
 *                  [--max-header-list BYTES] [--max-connections N]
 *                  [--idle-ms MS] [--age-ms MS] [--age-grace-ms MS]
 *                  [--handshake-ms MS] [--reset-burst N] [--reset-rate N]
 *
 * Prints `LISTENING <port>` once it serves; stops on SIGTERM / SIGINT.
 *
 * Request metadata hooks:
 *   x-delay-ms: N    GetFeature: wait N ms (at most 60000) before
 *                    answering; RecordRoute: before reading. Polls for
 *                    cancellation every 5 ms.
 *   x-stats: 1       GetFeature: trailer x-handled, how many GetFeature
 *                    handlers ran
 *
 * SIGUSR2 (test instrumentation, not part of tern): releases the
 * allocator's free memory (malloc_trim) and prints
 *   HEAP <bytes in use> <bytes mmapped> <sanitized>
 * on stdout, so that tests can tell live memory from allocator caching
 * (<sanitized> is 1 under ASan/TSan, whose allocator this does not see).
 */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#include "route_guide.tern.h"
#include "route_guide_db.h"

/* Under AddressSanitizer or ThreadSanitizer the allocator is theirs:
 * mallinfo2 and malloc_trim say nothing about it. The HEAP line tells. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

typedef struct target {
  const rg_db *db;
  long handled; /* GetFeature handlers run; atomic */
} target;

static void sleep_ms(long ms) {
  struct timespec ts;
  ts.tv_sec = ms / 1000;
  ts.tv_nsec = (ms % 1000) * 1000000L;
  while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
  }
}

static const char *md_get(tern_server_call *call, const char *key) {
  const tern_metadata *md = tern_server_call_metadata(call);
  return md ? tern_metadata_get(md, key, NULL) : NULL;
}

static int parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out) {
  char *end;
  long long v;
  if (!s)
    return -1;
  errno = 0;
  v = strtoll(s, &end, 10);
  if (errno || end == s || *end != '\0' || v < lo || v > hi)
    return -1;
  *out = v;
  return 0;
}

static rg_point point_of(const Routeguide__Point *p) {
  rg_point r = {0, 0};
  if (p) {
    r.latitude = p->latitude;
    r.longitude = p->longitude;
  }
  return r;
}

/* x-delay-ms. 0 when the wait ran out (or there was none), -1 when the
 * call was cancelled meanwhile. */
static int delay(tern_server_call *call) {
  int64_t ms = 0, waited;
  if (parse_i64(md_get(call, "x-delay-ms"), 0, 60000, &ms) != 0)
    return 0;
  for (waited = 0; waited < ms; waited += 5) {
    if (tern_server_call_is_cancelled(call))
      return -1;
    sleep_ms(5);
  }
  return 0;
}

static tern_status_code get_feature(tern_server_call *call,
                                    const Routeguide__Point *request,
                                    Routeguide__Feature *response,
                                    void *user_data) {
  target *t = user_data;
  const rg_feature *f;
  Routeguide__Point *loc;
  long n = __atomic_add_fetch(&t->handled, 1, __ATOMIC_SEQ_CST);

  if (md_get(call, "x-stats")) {
    char buf[32];
    snprintf(buf, sizeof buf, "%ld", n);
    tern_server_call_add_trailer(call, "x-handled", buf);
  }
  if (delay(call))
    return TERN_STATUS_CANCELLED;
  loc = tern_server_call_alloc(call, sizeof *loc);
  if (!loc)
    return TERN_STATUS_RESOURCE_EXHAUSTED;
  routeguide__point__init(loc);
  loc->latitude = request->latitude;
  loc->longitude = request->longitude;
  f = rg_db_find(t->db, point_of(request));
  response->name = f ? (char *)f->name : "";
  response->location = loc;
  return TERN_STATUS_OK;
}

static tern_status_code list_features(tern_server_call *call,
                                      const Routeguide__Rectangle *request,
                                      void *user_data) {
  target *t = user_data;
  rg_point lo = point_of(request->lo), hi = point_of(request->hi);
  const rg_feature *features;
  size_t n, i;

  features = rg_db_features(t->db, &n);
  for (i = 0; i < n; i++) {
    Routeguide__Feature out = ROUTEGUIDE__FEATURE__INIT;
    Routeguide__Point loc = ROUTEGUIDE__POINT__INIT;
    if (!rg_in_rectangle(lo, hi, features[i].location))
      continue;
    loc.latitude = features[i].location.latitude;
    loc.longitude = features[i].location.longitude;
    out.name = (char *)features[i].name;
    out.location = &loc;
    if (routeguide__route_guide_servicer__list_features_write(call, &out) < 0)
      return tern_server_call_is_cancelled(call) ? TERN_STATUS_CANCELLED
                                                 : TERN_STATUS_INTERNAL;
  }
  return TERN_STATUS_OK;
}

static tern_status_code record_route(tern_server_call *call,
                                     Routeguide__RouteSummary *response,
                                     void *user_data) {
  Routeguide__Point *p;
  int32_t points = 0;
  int rc;
  (void)user_data;
  if (delay(call))
    return TERN_STATUS_CANCELLED;
  while ((rc = routeguide__route_guide_servicer__record_route_read(call,
                                                                   &p)) ==
         1) {
    routeguide__point__free_unpacked(p, NULL);
    if (points < INT32_MAX)
      points++;
  }
  if (rc < 0)
    return tern_server_call_is_cancelled(call) ? TERN_STATUS_CANCELLED
                                               : TERN_STATUS_INTERNAL;
  response->point_count = points;
  return TERN_STATUS_OK;
}

typedef struct stopper {
  sigset_t signals;
  tern_server *server;
} stopper;

static void *stop_on_signal(void *arg) {
  stopper *s = arg;
  int sig = 0;
  for (;;) {
    if (sigwait(&s->signals, &sig) != 0)
      return NULL;
    if (sig == SIGUSR2) {
      struct mallinfo2 mi;
      malloc_trim(0);
      mi = mallinfo2();
      printf("HEAP %zu %zu %d\n", mi.uordblks, mi.hblkhd, SANITIZED);
      fflush(stdout);
      continue;
    }
    if (sig != SIGUSR1)
      tern_server_shutdown(s->server, 1000);
    return NULL;
  }
}

static void usage(FILE *f) {
  fprintf(f,
          "usage: hostile_target [--port N] [--db FILE] [--workers N]\n"
          "  [--io-threads N] [--max-recv BYTES] [--max-streams N]\n"
          "  [--max-header-list BYTES] [--max-connections N] [--idle-ms MS]\n"
          "  [--age-ms MS] [--age-grace-ms MS] [--handshake-ms MS]\n"
          "  [--reset-burst N] [--reset-rate N]\n"
          "Listens on 127.0.0.1, prints LISTENING <port>, stops on "
          "SIGTERM.\n");
}

int main(int argc, char **argv) {
  int64_t port = 0, v;
  const char *db_path = NULL;
  char db_buf[4096], err[512], addr[64];
  int i, rc, bound = 0, status = 1, have_stopper = 0;
  target t = {NULL, 0};
  rg_db *db = NULL;
  tern_server *server = NULL;
  tern_server_options opts = TERN_SERVER_OPTIONS_INIT;
  Routeguide__RouteGuideServicer servicer =
      ROUTEGUIDE__ROUTE_GUIDE_SERVICER__INIT;
  stopper stop;
  pthread_t stop_thread;

  for (i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--help") == 0) {
      usage(stdout);
      return 0;
    }
    if (strcmp(a, "--db") == 0 && i + 1 < argc) {
      db_path = argv[++i];
      continue;
    }
    if (i + 1 >= argc ||
        parse_i64(argv[i + 1], -1, INT64_C(1) << 40, &v) != 0) {
      fprintf(stderr, "hostile_target: bad argument '%s'\n", a);
      usage(stderr);
      return 2;
    }
    i++;
    if (strcmp(a, "--port") == 0)
      port = v;
    else if (strcmp(a, "--workers") == 0)
      opts.workers = (int)v;
    else if (strcmp(a, "--io-threads") == 0)
      opts.io_threads = (int)v;
    else if (strcmp(a, "--max-recv") == 0)
      opts.max_receive_message_size = v;
    else if (strcmp(a, "--max-streams") == 0)
      opts.max_concurrent_streams = (uint32_t)v;
    else if (strcmp(a, "--max-header-list") == 0)
      opts.max_header_list_size = (uint32_t)v;
    else if (strcmp(a, "--max-connections") == 0)
      opts.max_connections = (int)v;
    else if (strcmp(a, "--idle-ms") == 0)
      opts.max_connection_idle_ms = v;
    else if (strcmp(a, "--age-ms") == 0)
      opts.max_connection_age_ms = v;
    else if (strcmp(a, "--age-grace-ms") == 0)
      opts.max_connection_age_grace_ms = v;
    else if (strcmp(a, "--handshake-ms") == 0)
      opts.handshake_timeout_ms = v;
    else if (strcmp(a, "--reset-burst") == 0)
      opts.reset_burst = (uint32_t)v;
    else if (strcmp(a, "--reset-rate") == 0)
      opts.reset_rate = (uint32_t)v;
    else {
      fprintf(stderr, "hostile_target: unknown option '%s'\n", a);
      usage(stderr);
      return 2;
    }
  }
  if (port < 0 || port > 65535) {
    fprintf(stderr, "hostile_target: bad port\n");
    return 2;
  }

  if (!db_path)
    db_path = rg_db_default_path(db_buf, sizeof db_buf);
  rc = rg_db_load(&db, db_path, err, sizeof err);
  if (rc != RG_DB_OK) {
    fprintf(stderr, "hostile_target: %s\n", err);
    return 2;
  }
  t.db = db;

  sigemptyset(&stop.signals);
  sigaddset(&stop.signals, SIGTERM);
  sigaddset(&stop.signals, SIGINT);
  sigaddset(&stop.signals, SIGUSR1);
  sigaddset(&stop.signals, SIGUSR2);
  pthread_sigmask(SIG_BLOCK, &stop.signals, NULL);
  signal(SIGPIPE, SIG_IGN);
  /* Never outlive the test driver, even when it is killed. */
  prctl(PR_SET_PDEATHSIG, SIGTERM);

  rc = tern_server_new(&server, &opts);
  if (rc) {
    fprintf(stderr, "hostile_target: tern_server_new: %s\n",
            tern_strerror(rc));
    goto out;
  }
  servicer.get_feature = get_feature;
  servicer.list_features = list_features;
  servicer.record_route = record_route;
  rc = routeguide__add_route_guide_servicer_to_server(&servicer, server, &t);
  if (rc == TERN_OK) {
    snprintf(addr, sizeof addr, "127.0.0.1:%d", (int)port);
    rc = tern_server_add_insecure_port(server, addr, &bound);
  }
  if (rc == TERN_OK)
    rc = tern_server_start(server);
  if (rc) {
    fprintf(stderr, "hostile_target: cannot serve: %s\n", tern_strerror(rc));
    goto out;
  }
  stop.server = server;
  if (pthread_create(&stop_thread, NULL, stop_on_signal, &stop) != 0) {
    fprintf(stderr, "hostile_target: cannot start the signal thread\n");
    goto out;
  }
  have_stopper = 1;
  printf("LISTENING %d\n", bound);
  fflush(stdout);

  rc = tern_server_wait(server);
  status = rc ? 1 : 0;

out:
  if (have_stopper) {
    pthread_kill(stop_thread, SIGUSR1);
    pthread_join(stop_thread, NULL);
  }
  tern_server_free(server);
  rg_db_free(db);
  return status;
}
