/* The RouteGuide server of the gRPC basics tutorial, in C with tern: the
 * same four methods with the same semantics as route_guide_server.py.
 *
 * Usage:
 *   route_guide_server [--port PORT] [--db FILE] [--verbose]
 *   route_guide_server --use_tls=true --tls_cert_file=server.pem
 *       --tls_key_file=server.key [--tls_client_ca_file=ca.pem
 *       --require_client_cert=true] [--port PORT] ...
 *
 * Cleartext (h2c) by default. --use_tls=true serves TLS with the given
 * certificate chain and key (PEM), as grpc's
 * grpc.ssl_server_credentials([(key, chain)]); with --tls_client_ca_file
 * and --require_client_cert=true, clients must present a certificate from
 * that CA (mutual TLS). Every flag takes --flag=value or --flag value;
 * --use_tls and --require_client_cert alone mean true. Throw-away
 * certificates for trying it: tests/tls/make_certs.sh DIR. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "route_guide.tern.h"
#include "route_guide_db.h"

#define DEFAULT_PORT 50051
/* How long in-flight calls may run on after SIGINT / SIGTERM. */
#define SHUTDOWN_GRACE_MS 5000

/* What every handler gets as user_data. */
typedef struct route_guide_server {
  const rg_db *db;
  int verbose; /* one line on stderr per call */
} route_guide_server;

static void log_call(const route_guide_server *rg, const char *fmt, ...) {
  va_list ap;
  if (!rg->verbose)
    return;
  va_start(ap, fmt);
  flockfile(stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  funlockfile(stderr);
  va_end(ap);
}

/* An unset message field is NULL in protobuf-c and reads as all zeros in
 * proto3, as in Python. */
static rg_point point_of(const Routeguide__Point *p) {
  rg_point r = {0, 0};
  if (p) {
    r.latitude = p->latitude;
    r.longitude = p->longitude;
  }
  return r;
}

static int same_point(const Routeguide__Point *a, const Routeguide__Point *b) {
  rg_point pa = point_of(a), pb = point_of(b);
  return pa.latitude == pb.latitude && pa.longitude == pb.longitude;
}

/* A stream read or write failed: the call was cancelled, its deadline
 * passed, the connection went away, or a message did not decode. */
static tern_status_code stream_failed(tern_server_call *call, int err) {
  if (tern_server_call_is_cancelled(call))
    return TERN_STATUS_CANCELLED;
  tern_server_call_set_message(call, tern_strerror(err));
  return TERN_STATUS_INTERNAL;
}

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Simple RPC: the known feature at the point, or one with an empty name. */
static tern_status_code get_feature(tern_server_call *call,
                                    const Routeguide__Point *request,
                                    Routeguide__Feature *response,
                                    void *user_data) {
  const route_guide_server *rg = user_data;
  const rg_feature *f = rg_db_find(rg->db, point_of(request));
  /* The response is encoded after we return: its parts must outlive this
   * function, so they come from the call's memory (or the database). */
  Routeguide__Point *location = tern_server_call_alloc(call, sizeof *location);
  if (!location)
    return TERN_STATUS_RESOURCE_EXHAUSTED;
  routeguide__point__init(location);
  location->latitude = request->latitude;
  location->longitude = request->longitude;
  response->location = location;
  /* Names live in the database, which outlives the server. */
  response->name = f ? (char *)f->name : "";
  log_call(rg, "GetFeature latitude: %d, longitude: %d -> \"%s\"",
           (int)request->latitude, (int)request->longitude, response->name);
  return TERN_STATUS_OK;
}

/* Response-streaming RPC: every feature inside the rectangle, edges
 * included, whichever corners lo and hi are. */
static tern_status_code list_features(tern_server_call *call,
                                      const Routeguide__Rectangle *request,
                                      void *user_data) {
  const route_guide_server *rg = user_data;
  rg_point lo = point_of(request->lo), hi = point_of(request->hi);
  size_t n, i, sent = 0;
  const rg_feature *features = rg_db_features(rg->db, &n);

  for (i = 0; i < n; i++) {
    Routeguide__Feature feature = ROUTEGUIDE__FEATURE__INIT;
    Routeguide__Point location = ROUTEGUIDE__POINT__INIT;
    int rc;
    if (!rg_in_rectangle(lo, hi, features[i].location))
      continue;
    location.latitude = features[i].location.latitude;
    location.longitude = features[i].location.longitude;
    feature.name = (char *)features[i].name;
    feature.location = &location;
    /* Encoded before it returns, so stack messages are fine. */
    rc = routeguide__route_guide_servicer__list_features_write(call, &feature);
    if (rc < 0)
      return stream_failed(call, rc);
    sent++;
  }
  log_call(rg, "ListFeatures: sent %zu features", sent);
  return TERN_STATUS_OK;
}

/* Request-streaming RPC: counts points and known features (any point in
 * the database, named or not, as the Python tutorial's `if feature:`), sums
 * the distance between consecutive points, and times the trip. */
static tern_status_code record_route(tern_server_call *call,
                                     Routeguide__RouteSummary *response,
                                     void *user_data) {
  const route_guide_server *rg = user_data;
  int32_t point_count = 0, feature_count = 0;
  double distance = 0, elapsed, start = now_seconds();
  rg_point prev = {0, 0};
  Routeguide__Point *point;
  int rc;

  while ((rc = routeguide__route_guide_servicer__record_route_read(
              call, &point)) == 1) {
    rg_point p = point_of(point);
    const rg_feature *f = rg_db_find(rg->db, p);
    routeguide__point__free_unpacked(point, NULL);
    if (point_count < INT32_MAX) /* a client may send forever */
      point_count++;
    if (f && feature_count < INT32_MAX)
      feature_count++;
    if (point_count > 1)
      distance += rg_distance_m(prev, p);
    prev = p;
  }
  if (rc < 0)
    return stream_failed(call, rc);

  elapsed = now_seconds() - start;
  response->point_count = point_count;
  response->feature_count = feature_count;
  /* Truncated toward zero, as Python's int(); clamped so the conversion
   * stays defined however far a client travels. */
  response->distance = distance < INT32_MAX ? (int32_t)distance : INT32_MAX;
  response->elapsed_time = elapsed < INT32_MAX ? (int32_t)elapsed : INT32_MAX;
  log_call(rg, "RecordRoute: %d points, %d features, %d meters, %d seconds",
           (int)response->point_count, (int)response->feature_count,
           (int)response->distance, (int)response->elapsed_time);
  return TERN_STATUS_OK;
}

/* Bidirectional streaming RPC: for each note, first send back every earlier
 * note of this call at the same location, then keep it. The notes are the
 * call's own, as the tutorial's prev_notes list. */
static tern_status_code route_chat(tern_server_call *call, void *user_data) {
  const route_guide_server *rg = user_data;
  Routeguide__RouteNote **notes = NULL, *note;
  size_t count = 0, cap = 0, i, sent = 0;
  tern_status_code code = TERN_STATUS_OK;
  int rc;

  while ((rc = routeguide__route_guide_servicer__route_chat_read(
              call, &note)) == 1) {
    for (i = 0; i < count; i++) {
      if (!same_point(notes[i]->location, note->location))
        continue;
      rc = routeguide__route_guide_servicer__route_chat_write(call, notes[i]);
      if (rc < 0)
        break;
      sent++;
    }
    if (rc < 0) {
      routeguide__route_note__free_unpacked(note, NULL);
      break;
    }
    if (count == cap) {
      size_t ncap = cap ? cap * 2 : 16;
      Routeguide__RouteNote **nn = realloc(notes, ncap * sizeof *nn);
      if (!nn) {
        routeguide__route_note__free_unpacked(note, NULL);
        tern_server_call_set_message(call, "out of memory for notes");
        code = TERN_STATUS_RESOURCE_EXHAUSTED;
        break;
      }
      notes = nn;
      cap = ncap;
    }
    notes[count++] = note;
  }
  if (rc < 0)
    code = stream_failed(call, rc);

  for (i = 0; i < count; i++)
    routeguide__route_note__free_unpacked(notes[i], NULL);
  free(notes);
  log_call(rg, "RouteChat: %zu notes in, %zu out", count, sent);
  return code;
}

/* --- main ----------------------------------------------------------- */

static void usage(FILE *out) {
  fprintf(out,
          "usage: route_guide_server [--port PORT] [--db FILE] [--verbose]\n"
          "         [--use_tls=true --tls_cert_file=F --tls_key_file=F\n"
          "          [--tls_client_ca_file=F --require_client_cert=true]]\n"
          "  --port PORT  listen on [::]:PORT (default %d; 0 picks a free "
          "port)\n"
          "  --db FILE    feature database (default: route_guide_db.json "
          "beside\n"
          "               the executable, else in the current directory)\n"
          "  --verbose    log every call on stderr\n"
          "  --use_tls=true|false   serve TLS (default false: cleartext)\n"
          "  --tls_cert_file=F      certificate chain (PEM)\n"
          "  --tls_key_file=F       private key (PEM)\n"
          "  --tls_client_ca_file=F CAs client certificates must chain to\n"
          "  --require_client_cert=true|false  mutual TLS\n"
          "Flags take --flag=value or --flag value.\n",
          DEFAULT_PORT);
}

/* argv[*i] is `--name=V` or `--name V`: returns V (advancing *i in the
 * second form); NULL for another flag, with *missing set when it is this
 * one without a value. */
static const char *flag_value(int argc, char **argv, int *i, const char *name,
                              int *missing) {
  const char *a = argv[*i];
  size_t n = strlen(name);
  if (strncmp(a, name, n) != 0)
    return NULL;
  if (a[n] == '=')
    return a + n + 1;
  if (a[n] != '\0')
    return NULL;
  if (*i + 1 >= argc) {
    *missing = 1;
    return NULL;
  }
  return argv[++*i];
}

/* `--name`, `--name=true|false` or `--name true|false`: 1 when argv[*i]
 * is this flag (value in *out), 0 for another, -1 for a bad value. */
static int flag_bool(int argc, char **argv, int *i, const char *name,
                     int *out) {
  const char *a = argv[*i], *v;
  size_t n = strlen(name);
  if (strncmp(a, name, n) != 0)
    return 0;
  if (a[n] == '=') {
    v = a + n + 1;
  } else if (a[n] == '\0') {
    if (*i + 1 < argc && (strcmp(argv[*i + 1], "true") == 0 ||
                          strcmp(argv[*i + 1], "false") == 0)) {
      v = argv[++*i];
    } else {
      *out = 1;
      return 1;
    }
  } else {
    return 0;
  }
  if (strcmp(v, "true") == 0 || strcmp(v, "false") == 0) {
    *out = strcmp(v, "true") == 0;
    return 1;
  }
  return -1;
}

static int parse_port(const char *s, int *port_out) {
  char *end;
  long v;
  errno = 0;
  v = strtol(s, &end, 10);
  if (errno || end == s || *end != '\0' || v < 0 || v > 65535)
    return -1;
  *port_out = (int)v;
  return 0;
}

typedef struct signal_waiter {
  sigset_t set; /* SIGINT, SIGTERM, and SIGUSR1 from main to say "done" */
  tern_server *server;
} signal_waiter;

/* SIGINT / SIGTERM are blocked in every thread; this one takes them and
 * shuts the server down gracefully, which ends tern_server_wait in main. */
static void *wait_for_signal(void *arg) {
  signal_waiter *w = arg;
  int sig = 0;
  if (sigwait(&w->set, &sig) != 0)
    return NULL;
  if (sig == SIGINT || sig == SIGTERM) {
    fprintf(stderr, "Received %s, shutting down\n",
            sig == SIGINT ? "SIGINT" : "SIGTERM");
    tern_server_shutdown(w->server, SHUTDOWN_GRACE_MS);
  }
  return NULL;
}

int main(int argc, char **argv) {
  int port = DEFAULT_PORT, bound_port = 0, i, rc, exit_code = 1;
  const char *db_path = NULL;
  char default_db[4096], err[512], addr[32];
  route_guide_server rg = {NULL, 0};
  rg_db *db = NULL;
  tern_server *server = NULL;
  tern_server_options opts = TERN_SERVER_OPTIONS_INIT;
  Routeguide__RouteGuideServicer servicer =
      ROUTEGUIDE__ROUTE_GUIDE_SERVICER__INIT;
  signal_waiter waiter;
  pthread_t waiter_thread;
  int have_waiter = 0;
  int use_tls = 0, require_client_cert = 0;
  tern_tls_options tls = TERN_TLS_OPTIONS_INIT;

  for (i = 1; i < argc; i++) {
    const char *a = argv[i], *v;
    int missing = 0, b = 0;
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      usage(stdout);
      return 0;
    } else if (strcmp(a, "--verbose") == 0 || strcmp(a, "-v") == 0) {
      rg.verbose = 1;
    } else if ((v = flag_value(argc, argv, &i, "--port", &missing))) {
      if (parse_port(v, &port)) {
        fprintf(stderr, "route_guide_server: bad port '%s' (0..65535)\n", v);
        return 2;
      }
    } else if ((v = flag_value(argc, argv, &i, "--db", &missing))) {
      db_path = v;
    } else if ((v = flag_value(argc, argv, &i, "--tls_cert_file", &missing))) {
      tls.cert_chain_file = v;
    } else if ((v = flag_value(argc, argv, &i, "--tls_key_file", &missing))) {
      tls.private_key_file = v;
    } else if ((v = flag_value(argc, argv, &i, "--tls_client_ca_file",
                               &missing))) {
      tls.ca_file = v;
    } else if (!missing &&
               ((b = flag_bool(argc, argv, &i, "--use_tls", &use_tls)) ||
                (b = flag_bool(argc, argv, &i, "--require_client_cert",
                               &require_client_cert)))) {
      if (b < 0) {
        fprintf(stderr, "route_guide_server: bad '%s' (true or false)\n", a);
        return 2;
      }
    } else {
      fprintf(stderr, "route_guide_server: %s '%s'\n",
              missing ? "missing value for" : "unknown argument", a);
      usage(stderr);
      return 2;
    }
  }
  if (use_tls && (!tls.cert_chain_file || !tls.private_key_file)) {
    fprintf(stderr, "route_guide_server: --use_tls needs --tls_cert_file "
                    "and --tls_key_file\n");
    return 2;
  }
  if (!use_tls && (tls.cert_chain_file || tls.private_key_file || tls.ca_file ||
                   require_client_cert)) {
    fprintf(stderr, "route_guide_server: TLS flags without --use_tls\n");
    return 2;
  }
  if (require_client_cert && !tls.ca_file) {
    fprintf(stderr, "route_guide_server: --require_client_cert needs "
                    "--tls_client_ca_file\n");
    return 2;
  }
  tls.require_client_cert = require_client_cert;

  if (!db_path)
    db_path = rg_db_default_path(default_db, sizeof default_db);
  rc = rg_db_load(&db, db_path, err, sizeof err);
  if (rc != RG_DB_OK) {
    fprintf(stderr, "route_guide_server: cannot load the database: %s\n",
            err);
    return 2;
  }
  rg.db = db;

  /* Block the signals before any thread exists, so that every thread
   * inherits the mask and only the waiter ever takes them. */
  sigemptyset(&waiter.set);
  sigaddset(&waiter.set, SIGINT);
  sigaddset(&waiter.set, SIGTERM);
  sigaddset(&waiter.set, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &waiter.set, NULL);
  /* A shell starts background jobs with SIGINT ignored, and an ignored
   * signal never reaches sigwait: take the default back (the signals stay
   * blocked, so only the waiter sees them). */
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);

  /* Like grpc.server(futures.ThreadPoolExecutor(max_workers=10)). */
  opts.workers = 10;
  rc = tern_server_new(&server, &opts);
  if (rc) {
    fprintf(stderr, "route_guide_server: tern_server_new: %s\n",
            tern_strerror(rc));
    goto out;
  }

  servicer.get_feature = get_feature;
  servicer.list_features = list_features;
  servicer.record_route = record_route;
  servicer.route_chat = route_chat;
  rc = routeguide__add_route_guide_servicer_to_server(&servicer, server, &rg);
  if (rc) {
    fprintf(stderr, "route_guide_server: registering the service: %s\n",
            tern_strerror(rc));
    goto out;
  }

  /* server.add_insecure_port / add_secure_port("[::]:PORT", creds) */
  snprintf(addr, sizeof addr, "[::]:%d", port);
  rc = use_tls ? tern_server_add_secure_port(server, addr, &tls, &bound_port)
               : tern_server_add_insecure_port(server, addr, &bound_port);
  if (rc) {
    /* A host without IPv6 still has IPv4. */
    snprintf(addr, sizeof addr, "0.0.0.0:%d", port);
    rc = use_tls ? tern_server_add_secure_port(server, addr, &tls, &bound_port)
                 : tern_server_add_insecure_port(server, addr, &bound_port);
  }
  if (rc) {
    fprintf(stderr, "route_guide_server: cannot listen on port %d: %s\n",
            port, tern_strerror(rc));
    goto out;
  }

  rc = tern_server_start(server);
  if (rc) {
    fprintf(stderr, "route_guide_server: tern_server_start: %s\n",
            tern_strerror(rc));
    goto out;
  }

  waiter.server = server;
  if (pthread_create(&waiter_thread, NULL, wait_for_signal, &waiter) != 0) {
    fprintf(stderr, "route_guide_server: cannot start the signal thread\n");
    goto out;
  }
  have_waiter = 1;

  if (use_tls)
    fprintf(stderr, "route_guide_server: TLS%s\n",
            require_client_cert ? ", client certificate required" : "");
  printf("Server started, listening on %d\n", bound_port);
  fflush(stdout);

  rc = tern_server_wait(server);
  if (rc)
    fprintf(stderr, "route_guide_server: tern_server_wait: %s\n",
            tern_strerror(rc));
  exit_code = rc ? 1 : 0;

out:
  if (have_waiter) {
    /* Wakes the waiter if the server ended without a signal; harmless
     * (blocked, then dropped) if it has already taken one. */
    pthread_kill(waiter_thread, SIGUSR1);
    pthread_join(waiter_thread, NULL);
  }
  tern_server_free(server);
  rg_db_free(db);
  if (exit_code == 0)
    fprintf(stderr, "Server stopped\n");
  return exit_code;
}
