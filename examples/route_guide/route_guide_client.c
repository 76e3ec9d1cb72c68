/* The RouteGuide client of the gRPC basics tutorial, in C with tern: calls
 * each of the four methods and prints what route_guide_client.py prints.
 *
 * Usage:
 *   route_guide_client [--target HOST:PORT] [--db FILE] [--sleep] [--seed N]
 *   route_guide_client --use_tls=true --ca_file=ca.pem
 *       [--server_host_override=NAME]
 *       [--client_cert_file=client.pem --client_key_file=client.key] ...
 *
 * Cleartext (h2c) by default. --use_tls=true verifies the server against
 * --ca_file (default: the system's CAs), as grpc's
 * grpc.ssl_channel_credentials(root_certificates=...);
 * --server_host_override names the host the server certificate must carry
 * instead of the target's (grpc.ssl_target_name_override); a client
 * certificate and key make it mutual TLS. Every flag takes --flag=value
 * or --flag value; --use_tls alone means true. Throw-away certificates for
 * trying it: tests/tls/make_certs.sh DIR. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "route_guide.tern.h"
#include "route_guide_db.h"

#define DEFAULT_TARGET "localhost:50051"
/* Every call gets a deadline, so the client never hangs on a stuck server.
 * RecordRoute with --sleep takes up to 15 s. */
#define CALL_TIMEOUT_MS 30000
#define ROUTE_POINTS 10

typedef struct client {
  Routeguide__RouteGuideStub stub;
  tern_call_options opts;
  const rg_db *db;
  int sleep; /* pause 0.5-1.5 s between RecordRoute points, as Python */
} client;

/* "latitude: 409146138, longitude: -746188906". */
static const char *format_point(const Routeguide__Point *p, char *buf,
                                size_t len) {
  snprintf(buf, len, "latitude: %d, longitude: %d",
           p ? (int)p->latitude : 0, p ? (int)p->longitude : 0);
  return buf;
}

static int rpc_failed(const char *method, const tern_status *status) {
  fprintf(stderr, "%s failed: %s (%d): %s\n", method,
          tern_status_code_name(status->code), (int)status->code,
          status->message ? status->message : "");
  return -1;
}

static int start_failed(const char *method, int err) {
  fprintf(stderr, "%s: cannot start the call: %s\n", method,
          tern_strerror(err));
  return -1;
}

/* Simple RPC, blocking (stub.GetFeature(point)) or through a future
 * (stub.GetFeature.future(point).result()). */
static int guide_get_one_feature(client *c, const Routeguide__Point *point,
                                 int use_future) {
  Routeguide__Feature *feature = NULL;
  tern_status status = TERN_STATUS_INIT;
  tern_status_code code;
  char where[64];

  if (use_future) {
    tern_future *future = NULL;
    int rc = routeguide__route_guide_stub__get_feature_future(
        &c->stub, point, &c->opts, &future);
    if (rc)
      return start_failed("GetFeature", rc);
    /* The call runs in the background; result() waits for it. */
    code = routeguide__route_guide_stub__get_feature_result(future, &feature,
                                                            &status);
    tern_future_free(future);
  } else {
    code = routeguide__route_guide_stub__get_feature(&c->stub, point,
                                                     &feature, &c->opts,
                                                     &status);
  }
  if (code != TERN_STATUS_OK) {
    rpc_failed("GetFeature", &status);
    tern_status_clear(&status);
    return -1;
  }

  if (!feature->location)
    printf("Server returned incomplete feature\n");
  else if (feature->name && feature->name[0])
    printf("Feature called %s at %s\n", feature->name,
           format_point(feature->location, where, sizeof where));
  else
    printf("Found no feature at %s\n",
           format_point(feature->location, where, sizeof where));
  routeguide__feature__free_unpacked(feature, NULL);
  tern_status_clear(&status);
  return 0;
}

static int guide_get_feature(client *c) {
  Routeguide__Point known = ROUTEGUIDE__POINT__INIT;
  Routeguide__Point nowhere = ROUTEGUIDE__POINT__INIT;
  known.latitude = 409146138;
  known.longitude = -746188906;
  if (guide_get_one_feature(c, &known, 0))
    return -1;
  return guide_get_one_feature(c, &nowhere, 1);
}

/* Response-streaming RPC: read features until the stream ends. */
static int guide_list_features(client *c) {
  Routeguide__Point lo = ROUTEGUIDE__POINT__INIT;
  Routeguide__Point hi = ROUTEGUIDE__POINT__INIT;
  Routeguide__Rectangle rectangle = ROUTEGUIDE__RECTANGLE__INIT;
  Routeguide__Feature *feature;
  tern_status status = TERN_STATUS_INIT;
  tern_call *call = NULL;
  char where[64];
  int rc, ret = 0;

  lo.latitude = 400000000;
  lo.longitude = -750000000;
  hi.latitude = 420000000;
  hi.longitude = -730000000;
  rectangle.lo = &lo;
  rectangle.hi = &hi;
  printf("Looking for features between 40, -75 and 42, -73\n");

  rc = routeguide__route_guide_stub__list_features(&c->stub, &rectangle,
                                                   &c->opts, &call);
  if (rc)
    return start_failed("ListFeatures", rc);
  while ((rc = routeguide__route_guide_stub__list_features_read(
              call, &feature)) == 1) {
    printf("Feature called %s at %s\n", feature->name,
           format_point(feature->location, where, sizeof where));
    routeguide__feature__free_unpacked(feature, NULL);
  }
  if (tern_call_finish(call, &status) != TERN_STATUS_OK) {
    ret = rpc_failed("ListFeatures", &status);
  } else if (rc < 0) {
    fprintf(stderr, "ListFeatures: reading the stream: %s\n",
            tern_strerror(rc));
    ret = -1;
  }
  tern_status_clear(&status);
  tern_call_free(call);
  return ret;
}

static void sleep_between_points(void) {
  /* random.uniform(0.5, 1.5) seconds */
  long ms = 500 + rand() % 1001;
  struct timespec ts;
  ts.tv_sec = ms / 1000;
  ts.tv_nsec = (ms % 1000) * 1000000L;
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
    ;
}

/* Request-streaming RPC: write ten random points from the database, then
 * close the sending side and wait for the summary. */
static int guide_record_route(client *c) {
  size_t n, i;
  const rg_feature *features = rg_db_features(c->db, &n);
  Routeguide__RouteSummary *summary = NULL;
  tern_status status = TERN_STATUS_INIT;
  tern_call *call = NULL;
  char where[64];
  int rc;

  if (n == 0) {
    fprintf(stderr, "RecordRoute: the feature database is empty\n");
    return -1;
  }
  rc = routeguide__route_guide_stub__record_route(&c->stub, &c->opts, &call);
  if (rc)
    return start_failed("RecordRoute", rc);
  for (i = 0; i < ROUTE_POINTS; i++) {
    const rg_feature *f = &features[(size_t)rand() % n];
    Routeguide__Point point = ROUTEGUIDE__POINT__INIT;
    point.latitude = f->location.latitude;
    point.longitude = f->location.longitude;
    if (c->sleep && i > 0)
      sleep_between_points();
    printf("Visiting point %s\n", format_point(&point, where, sizeof where));
    /* A failed write means the call has ended: the status says why. */
    if (routeguide__route_guide_stub__record_route_write(call, &point) < 0)
      break;
  }
  if (routeguide__route_guide_stub__record_route_close_and_recv(
          call, &summary, &status) != TERN_STATUS_OK) {
    rpc_failed("RecordRoute", &status);
    tern_status_clear(&status);
    tern_call_free(call);
    return -1;
  }
  printf("Finished trip with %d points\n", (int)summary->point_count);
  printf("Passed %d features\n", (int)summary->feature_count);
  printf("Travelled %d meters\n", (int)summary->distance);
  printf("It took %d seconds\n", (int)summary->elapsed_time);
  routeguide__route_summary__free_unpacked(summary, NULL);
  tern_status_clear(&status);
  tern_call_free(call);
  return 0;
}

/* Bidirectional streaming RPC: one thread reads what the server sends
 * while this one writes, as the two directions are independent. */
typedef struct chat_reader {
  tern_call *call;
  int rc; /* 0 at the end of the stream, or a negative TERN_E* */
} chat_reader;

static void *read_route_notes(void *arg) {
  chat_reader *r = arg;
  Routeguide__RouteNote *note;
  char where[64];
  int rc;
  while ((rc = routeguide__route_guide_stub__route_chat_read(r->call,
                                                             &note)) == 1) {
    printf("Received message %s at %s\n", note->message,
           format_point(note->location, where, sizeof where));
    routeguide__route_note__free_unpacked(note, NULL);
  }
  r->rc = rc;
  return NULL;
}

static int guide_route_chat(client *c) {
  static const struct {
    const char *message;
    int32_t latitude, longitude;
  } notes[] = {{"First message", 0, 0},
               {"Second message", 0, 1},
               {"Third message", 1, 0},
               {"Fourth message", 0, 0},
               {"Fifth message", 1, 0}};
  tern_status status = TERN_STATUS_INIT;
  chat_reader reader = {NULL, 0};
  pthread_t reader_thread;
  tern_call *call = NULL;
  char where[64];
  size_t i;
  int rc, ret = 0;

  rc = routeguide__route_guide_stub__route_chat(&c->stub, &c->opts, &call);
  if (rc)
    return start_failed("RouteChat", rc);
  reader.call = call;
  if (pthread_create(&reader_thread, NULL, read_route_notes, &reader) != 0) {
    fprintf(stderr, "RouteChat: cannot start the reader thread\n");
    tern_call_free(call);
    return -1;
  }
  for (i = 0; i < sizeof notes / sizeof notes[0]; i++) {
    Routeguide__Point location = ROUTEGUIDE__POINT__INIT;
    Routeguide__RouteNote note = ROUTEGUIDE__ROUTE_NOTE__INIT;
    location.latitude = notes[i].latitude;
    location.longitude = notes[i].longitude;
    note.location = &location;
    note.message = (char *)notes[i].message;
    printf("Sending %s at %s\n", note.message,
           format_point(&location, where, sizeof where));
    if (routeguide__route_guide_stub__route_chat_write(call, &note) < 0)
      break; /* the call has ended; finish says how */
  }
  tern_call_close_send(call);
  pthread_join(reader_thread, NULL);
  if (tern_call_finish(call, &status) != TERN_STATUS_OK) {
    ret = rpc_failed("RouteChat", &status);
  } else if (reader.rc < 0) {
    fprintf(stderr, "RouteChat: reading the stream: %s\n",
            tern_strerror(reader.rc));
    ret = -1;
  }
  tern_status_clear(&status);
  tern_call_free(call);
  return ret;
}

/* --- main ----------------------------------------------------------- */

static void usage(FILE *out) {
  fprintf(out,
          "usage: route_guide_client [--target TARGET] [--db FILE] [--sleep]"
          " [--seed N]\n"
          "  --target TARGET  server to call (default %s)\n"
          "  --db FILE        features to pick RecordRoute's points from\n"
          "                   (default: route_guide_db.json beside the\n"
          "                   executable, else in the current directory)\n"
          "  --sleep          wait 0.5-1.5 s between RecordRoute points, as\n"
          "                   the Python client does\n"
          "  --seed N         seed for picking the points (default: clock)\n"
          "  --use_tls=true|false        TLS (default false: cleartext)\n"
          "  --ca_file=F                 CAs the server must chain to\n"
          "                              (default: the system's)\n"
          "  --server_host_override=N    name the server certificate must "
          "carry\n"
          "  --client_cert_file=F, --client_key_file=F  mutual TLS\n"
          "Flags take --flag=value or --flag value.\n",
          DEFAULT_TARGET);
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

int main(int argc, char **argv) {
  const char *target = DEFAULT_TARGET, *db_path = NULL;
  char default_db[4096], err[512];
  unsigned seed = (unsigned)time(NULL) ^ ((unsigned)getpid() << 16);
  tern_channel *channel = NULL;
  rg_db *db = NULL;
  tern_call_options opts = TERN_CALL_OPTIONS_INIT;
  tern_tls_options tls = TERN_TLS_OPTIONS_INIT;
  tern_channel_options copts = TERN_CHANNEL_OPTIONS_INIT;
  client c;
  int i, rc, failed, use_tls = 0;

  memset(&c, 0, sizeof c);
  for (i = 1; i < argc; i++) {
    const char *a = argv[i], *v;
    int missing = 0;
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      usage(stdout);
      return 0;
    } else if (strcmp(a, "--sleep") == 0) {
      c.sleep = 1;
    } else if (strcmp(a, "--use_tls") == 0 ||
               strcmp(a, "--use_tls=true") == 0) {
      use_tls = 1;
      if (i + 1 < argc && strcmp(a, "--use_tls") == 0 &&
          (strcmp(argv[i + 1], "true") == 0 ||
           strcmp(argv[i + 1], "false") == 0))
        use_tls = strcmp(argv[++i], "true") == 0;
    } else if (strcmp(a, "--use_tls=false") == 0) {
      use_tls = 0;
    } else if ((v = flag_value(argc, argv, &i, "--target", &missing))) {
      target = v;
    } else if ((v = flag_value(argc, argv, &i, "--db", &missing))) {
      db_path = v;
    } else if ((v = flag_value(argc, argv, &i, "--ca_file", &missing))) {
      tls.ca_file = v;
    } else if ((v = flag_value(argc, argv, &i, "--server_host_override",
                               &missing))) {
      tls.server_host_override = v;
    } else if ((v = flag_value(argc, argv, &i, "--client_cert_file",
                               &missing))) {
      tls.cert_chain_file = v;
    } else if ((v = flag_value(argc, argv, &i, "--client_key_file",
                               &missing))) {
      tls.private_key_file = v;
    } else if ((v = flag_value(argc, argv, &i, "--seed", &missing))) {
      char *end;
      unsigned long n;
      errno = 0;
      n = strtoul(v, &end, 10);
      if (errno || end == v || *end != '\0' || n > 0xffffffffUL) {
        fprintf(stderr, "route_guide_client: bad seed '%s'\n", v);
        return 2;
      }
      seed = (unsigned)n;
    } else {
      fprintf(stderr, "route_guide_client: %s '%s'\n",
              missing ? "missing value for" : "unknown argument", a);
      usage(stderr);
      return 2;
    }
  }
  if (!use_tls && (tls.ca_file || tls.server_host_override ||
                   tls.cert_chain_file || tls.private_key_file)) {
    fprintf(stderr, "route_guide_client: TLS flags without --use_tls\n");
    return 2;
  }
  if (!tls.cert_chain_file != !tls.private_key_file) {
    fprintf(stderr, "route_guide_client: --client_cert_file and "
                    "--client_key_file go together\n");
    return 2;
  }
  srand(seed);
  /* Lines in order even when piped next to stderr. */
  setvbuf(stdout, NULL, _IOLBF, 0);

  if (!db_path)
    db_path = rg_db_default_path(default_db, sizeof default_db);
  rc = rg_db_load(&db, db_path, err, sizeof err);
  if (rc != RG_DB_OK) {
    fprintf(stderr, "route_guide_client: cannot load the database: %s\n",
            err);
    return 2;
  }
  c.db = db;

  /* channel = grpc.insecure_channel(target), or over TLS
   * grpc.secure_channel(target, grpc.ssl_channel_credentials(...));
   * stub = route_guide_pb2_grpc.RouteGuideStub(channel) */
  if (use_tls)
    copts.tls = &tls;
  rc = tern_channel_new(&channel, target, &copts);
  if (rc) {
    fprintf(stderr, "route_guide_client: bad target '%s': %s\n", target,
            tern_strerror(rc));
    rg_db_free(db);
    return 2;
  }
  routeguide__route_guide_stub_init(&c.stub, channel);
  c.opts = opts;
  c.opts.timeout_ms = CALL_TIMEOUT_MS;

  printf("-------------- GetFeature --------------\n");
  failed = guide_get_feature(&c) != 0;
  if (!failed) {
    printf("-------------- ListFeatures --------------\n");
    failed = guide_list_features(&c) != 0;
  }
  if (!failed) {
    printf("-------------- RecordRoute --------------\n");
    failed = guide_record_route(&c) != 0;
  }
  if (!failed) {
    printf("-------------- RouteChat --------------\n");
    failed = guide_route_chat(&c) != 0;
  }

  tern_channel_free(channel);
  rg_db_free(db);
  return failed ? 1 : 0;
}
