/* tern's grpc.testing.TestService server: the server features of grpc's
 * doc/interop-test-descriptions.md, with the official server's flags. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "grpc/testing/test.tern.h"

#define PROG "interop_server"
#define SHUTDOWN_GRACE_MS 2000
#define POLL_US 10000L
/* Bounds on what a request may ask for: a payload is served from one
 * shared buffer of zeros, a pause is at most this long, a call holds at
 * most this many messages. */
#define MAX_PAYLOAD (16 * 1024 * 1024)
#define MAX_INTERVAL_US 10000000L
#define MAX_MESSAGES 1000000L
#define MAX_HALF_DUPLEX 10000

#define ECHO_INITIAL_KEY "x-grpc-test-echo-initial"
#define ECHO_TRAILING_KEY "x-grpc-test-echo-trailing-bin"

/* MAX_PAYLOAD zero bytes, shared read-only by every response. */
static uint8_t *zeros;

/* --- helpers ---------------------------------------------------------- */

static void sleep_us(long us) {
  struct timespec ts;
  ts.tv_sec = us / 1000000L;
  ts.tv_nsec = (us % 1000000L) * 1000L;
  while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
  }
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

static tern_status_code fail(tern_server_call *call, tern_status_code code,
                             const char *msg) {
  tern_server_call_set_message(call, msg);
  return code;
}

/* Echo Metadata: the two keys go back, as initial metadata and as a
 * trailer, whatever the call's outcome. */
static void echo_metadata(tern_server_call *call) {
  const tern_metadata *md = tern_server_call_metadata(call);
  const char *v;
  size_t len = 0;
  if (!md)
    return;
  v = tern_metadata_get(md, ECHO_INITIAL_KEY, NULL);
  if (v)
    tern_server_call_add_header(call, ECHO_INITIAL_KEY, v);
  v = tern_metadata_get(md, ECHO_TRAILING_KEY, &len);
  if (v)
    tern_server_call_add_trailer_bin(call, ECHO_TRAILING_KEY, v, len);
}

/* Echo Status: OK when the request asks for none (code 0). Codes outside
 * gRPC's range end the call UNKNOWN. */
static tern_status_code echo_status(tern_server_call *call,
                                    const Grpc__Testing__EchoStatus *st) {
  tern_status_code code;
  if (!st || st->code == 0)
    return TERN_STATUS_OK;
  code = (st->code >= TERN_STATUS_CANCELLED &&
          st->code <= TERN_STATUS_UNAUTHENTICATED)
             ? (tern_status_code)st->code
             : TERN_STATUS_UNKNOWN;
  tern_server_call_set_message(call, st->message ? st->message : "");
  return code;
}

/* CompressedRequest: when the request says whether it should have arrived
 * compressed, it must have. */
static tern_status_code check_compressed(tern_server_call *call,
                                         const Grpc__Testing__BoolValue *want) {
  int got = tern_server_call_message_compressed(call) != 0;
  if (!want)
    return TERN_STATUS_OK;
  if (want->value && !got)
    return fail(call, TERN_STATUS_INVALID_ARGUMENT,
                "expected a compressed request, got an uncompressed one");
  if (!want->value && got)
    return fail(call, TERN_STATUS_INVALID_ARGUMENT,
                "expected an uncompressed request, got a compressed one");
  return TERN_STATUS_OK;
}

/* Payload of `size` zeros (COMPRESSABLE, the only type served). */
static tern_status_code fill_payload(tern_server_call *call,
                                     Grpc__Testing__PayloadType type,
                                     int32_t size,
                                     Grpc__Testing__Payload *out) {
  if (type != GRPC__TESTING__PAYLOAD_TYPE__COMPRESSABLE)
    return fail(call, TERN_STATUS_INVALID_ARGUMENT,
                "unsupported response_type: only COMPRESSABLE is served");
  if (size < 0)
    return fail(call, TERN_STATUS_INVALID_ARGUMENT, "negative response size");
  if (size > MAX_PAYLOAD)
    return fail(call, TERN_STATUS_INVALID_ARGUMENT,
                "response size above this server's 16 MiB limit");
  out->type = GRPC__TESTING__PAYLOAD_TYPE__COMPRESSABLE;
  out->body.len = (size_t)size;
  out->body.data = size > 0 ? zeros : NULL;
  return TERN_STATUS_OK;
}

/* interval_us: a pause before a response, cut short by cancellation.
 * Returns -1 when the call was cancelled meanwhile. */
static int pause_us(tern_server_call *call, int32_t interval_us) {
  long left = interval_us < 0 ? 0 : interval_us;
  if (left > MAX_INTERVAL_US)
    left = MAX_INTERVAL_US;
  while (left > 0) {
    long step = left < POLL_US ? left : POLL_US;
    if (tern_server_call_is_cancelled(call))
      return -1;
    sleep_us(step);
    left -= step;
  }
  return tern_server_call_is_cancelled(call) ? -1 : 0;
}

static tern_status_code stream_failed(tern_server_call *call, int err) {
  if (tern_server_call_is_cancelled(call))
    return TERN_STATUS_CANCELLED;
  return fail(call, TERN_STATUS_INTERNAL, tern_strerror(err));
}

/* Turns compression on for the call when any of these responses asks for
 * it; each message then says for itself (see write_responses). The
 * algorithm goes in the response headers: too late once they are out, and
 * then the message goes uncompressed. */
static void want_compression(tern_server_call *call,
                             const Grpc__Testing__StreamingOutputCallRequest
                                 *req) {
  size_t i;
  for (i = 0; i < req->n_response_parameters; i++) {
    const Grpc__Testing__ResponseParameters *p = req->response_parameters[i];
    if (p && p->compressed && p->compressed->value) {
      tern_server_call_set_compression(call, TERN_COMPRESS_GZIP);
      return;
    }
  }
}

/* One response per ResponseParameters, in order, each after its
 * interval_us; compressed only when its parameters say so. */
static tern_status_code write_responses(
    tern_server_call *call,
    const Grpc__Testing__StreamingOutputCallRequest *req) {
  size_t i;
  for (i = 0; i < req->n_response_parameters; i++) {
    const Grpc__Testing__ResponseParameters *p = req->response_parameters[i];
    Grpc__Testing__StreamingOutputCallResponse out =
        GRPC__TESTING__STREAMING_OUTPUT_CALL_RESPONSE__INIT;
    Grpc__Testing__Payload payload = GRPC__TESTING__PAYLOAD__INIT;
    unsigned flags;
    tern_status_code code;
    int rc;
    if (!p)
      continue;
    code = fill_payload(call, req->response_type, p->size, &payload);
    if (code != TERN_STATUS_OK)
      return code;
    if (pause_us(call, p->interval_us))
      return TERN_STATUS_CANCELLED;
    out.payload = &payload;
    flags = (p->compressed && p->compressed->value) ? 0u
                                                     : TERN_WRITE_NO_COMPRESS;
    rc = tern_server_call_write_flags(call, &out, flags);
    if (rc < 0)
      return stream_failed(call, rc);
  }
  return TERN_STATUS_OK;
}

/* --- handlers --------------------------------------------------------- */

static tern_status_code empty_call(tern_server_call *call,
                                   const Grpc__Testing__Empty *request,
                                   Grpc__Testing__Empty *response,
                                   void *user_data) {
  (void)request;
  (void)response;
  (void)user_data;
  echo_metadata(call);
  return TERN_STATUS_OK;
}

static tern_status_code unary_call(tern_server_call *call,
                                   const Grpc__Testing__SimpleRequest *request,
                                   Grpc__Testing__SimpleResponse *response,
                                   void *user_data) {
  tern_status_code code;
  (void)user_data;
  echo_metadata(call);
  code = check_compressed(call, request->expect_compressed);
  if (code != TERN_STATUS_OK)
    return code;
  code = echo_status(call, request->response_status);
  if (code != TERN_STATUS_OK)
    return code;
  if (request->response_compressed)
    tern_server_call_set_compression(call, request->response_compressed->value
                                               ? TERN_COMPRESS_GZIP
                                               : TERN_COMPRESS_IDENTITY);
  if (request->response_size > 0 ||
      request->response_type != GRPC__TESTING__PAYLOAD_TYPE__COMPRESSABLE) {
    /* Encoded after we return: from the call's memory. */
    Grpc__Testing__Payload *payload =
        tern_server_call_alloc(call, sizeof *payload);
    if (!payload)
      return fail(call, TERN_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    grpc__testing__payload__init(payload);
    code = fill_payload(call, request->response_type, request->response_size,
                        payload);
    if (code != TERN_STATUS_OK)
      return code;
    response->payload = payload;
  }
  return TERN_STATUS_OK;
}

static tern_status_code streaming_output_call(
    tern_server_call *call,
    const Grpc__Testing__StreamingOutputCallRequest *request,
    void *user_data) {
  tern_status_code code;
  (void)user_data;
  echo_metadata(call);
  code = echo_status(call, request->response_status);
  if (code != TERN_STATUS_OK)
    return code;
  want_compression(call, request);
  return write_responses(call, request);
}

static tern_status_code streaming_input_call(
    tern_server_call *call,
    Grpc__Testing__StreamingInputCallResponse *response, void *user_data) {
  Grpc__Testing__StreamingInputCallRequest *req;
  int64_t total = 0;
  long n;
  int rc = 0;
  (void)user_data;
  echo_metadata(call);
  for (n = 0; n < MAX_MESSAGES; n++) {
    tern_status_code code;
    rc = grpc__testing__test_service_servicer__streaming_input_call_read(call,
                                                                         &req);
    if (rc != 1)
      break;
    code = check_compressed(call, req->expect_compressed);
    if (req->payload)
      total += (int64_t)req->payload->body.len;
    grpc__testing__streaming_input_call_request__free_unpacked(req, NULL);
    if (code != TERN_STATUS_OK)
      return code;
    if (total > INT32_MAX)
      return fail(call, TERN_STATUS_INVALID_ARGUMENT,
                  "aggregated payload size above INT32_MAX");
  }
  if (rc < 0)
    return stream_failed(call, rc);
  if (rc == 1)
    return fail(call, TERN_STATUS_RESOURCE_EXHAUSTED, "too many messages");
  response->aggregated_payload_size = (int32_t)total;
  return TERN_STATUS_OK;
}

static tern_status_code full_duplex_call(tern_server_call *call,
                                         void *user_data) {
  Grpc__Testing__StreamingOutputCallRequest *req;
  long n;
  int rc = 0;
  (void)user_data;
  echo_metadata(call);
  for (n = 0; n < MAX_MESSAGES; n++) {
    tern_status_code code;
    rc = grpc__testing__test_service_servicer__full_duplex_call_read(call,
                                                                     &req);
    if (rc != 1)
      break;
    code = echo_status(call, req->response_status);
    if (code == TERN_STATUS_OK) {
      if (n == 0)
        want_compression(call, req);
      code = write_responses(call, req);
    }
    grpc__testing__streaming_output_call_request__free_unpacked(req, NULL);
    if (code != TERN_STATUS_OK)
      return code;
  }
  if (rc < 0)
    return stream_failed(call, rc);
  if (rc == 1)
    return fail(call, TERN_STATUS_RESOURCE_EXHAUSTED, "too many messages");
  return TERN_STATUS_OK;
}

/* Every request first, then, after the half-close, their responses. */
static tern_status_code half_duplex_call(tern_server_call *call,
                                         void *user_data) {
  Grpc__Testing__StreamingOutputCallRequest **reqs;
  size_t n = 0, i;
  int rc = 0;
  tern_status_code code = TERN_STATUS_OK;
  (void)user_data;
  echo_metadata(call);
  reqs = malloc(MAX_HALF_DUPLEX * sizeof *reqs);
  if (!reqs)
    return fail(call, TERN_STATUS_RESOURCE_EXHAUSTED, "out of memory");
  while (n < MAX_HALF_DUPLEX) {
    rc = grpc__testing__test_service_servicer__half_duplex_call_read(
        call, &reqs[n]);
    if (rc != 1)
      break;
    n++;
  }
  if (rc < 0)
    code = stream_failed(call, rc);
  else if (rc == 1)
    code = fail(call, TERN_STATUS_RESOURCE_EXHAUSTED, "too many messages");
  for (i = 0; i < n && code == TERN_STATUS_OK; i++) {
    code = echo_status(call, reqs[i]->response_status);
    if (code != TERN_STATUS_OK)
      break;
    if (i == 0)
      want_compression(call, reqs[i]);
    code = write_responses(call, reqs[i]);
  }
  for (i = 0; i < n; i++)
    grpc__testing__streaming_output_call_request__free_unpacked(reqs[i], NULL);
  free(reqs);
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
    fprintf(stderr, PROG ": signal %d, shutting down\n", sig);
    tern_server_shutdown(s->server, SHUTDOWN_GRACE_MS);
  }
  return NULL;
}

static void usage(FILE *f) {
  fprintf(f,
          "usage: " PROG " [--port=N] [--use_tls=false] [--tls_cert_file=F "
          "--tls_key_file=F]\n"
          "  --port=N        listen on 127.0.0.1:N (0, the default, picks a "
          "free port)\n"
          "  --use_tls=BOOL  serve TLS with --tls_cert_file/--tls_key_file\n"
          "Serves grpc.testing.TestService. Prints LISTENING <port> once it "
          "serves;\nstops on SIGTERM or SIGINT.\n");
}

/* "--name=value" or "--name value": the value, or NULL when argv[*i] is
 * not that flag. */
static const char *flag_value(int argc, char **argv, int *i,
                              const char *name) {
  size_t len = strlen(name);
  const char *a = argv[*i];
  if (strncmp(a, name, len) != 0)
    return NULL;
  if (a[len] == '=')
    return a + len + 1;
  if (a[len] == '\0' && *i + 1 < argc)
    return argv[++*i];
  return NULL;
}

static int parse_bool(const char *s, int *out) {
  if (strcmp(s, "true") == 0 || strcmp(s, "1") == 0) {
    *out = 1;
    return 0;
  }
  if (strcmp(s, "false") == 0 || strcmp(s, "0") == 0) {
    *out = 0;
    return 0;
  }
  return -1;
}

int main(int argc, char **argv) {
  long port = 0;
  int use_tls = 0;
  const char *cert_file = NULL, *key_file = NULL;
  char addr[64];
  int i, rc, bound = 0, status = 1, have_stopper = 0;
  tern_server *server = NULL;
  tern_server_options opts = TERN_SERVER_OPTIONS_INIT;
  Grpc__Testing__TestServiceServicer servicer =
      GRPC__TESTING__TEST_SERVICE_SERVICER__INIT;
  stopper stop;
  pthread_t stop_thread;

  for (i = 1; i < argc; i++) {
    const char *v;
    if ((v = flag_value(argc, argv, &i, "--port")) != NULL) {
      if (parse_long(v, 0, 65535, &port)) {
        fprintf(stderr, PROG ": bad port '%s'\n", v);
        return 2;
      }
    } else if ((v = flag_value(argc, argv, &i, "--use_tls")) != NULL) {
      if (parse_bool(v, &use_tls)) {
        fprintf(stderr, PROG ": bad --use_tls value '%s'\n", v);
        return 2;
      }
    } else if ((v = flag_value(argc, argv, &i, "--tls_cert_file")) != NULL) {
      cert_file = v;
    } else if ((v = flag_value(argc, argv, &i, "--tls_key_file")) != NULL) {
      key_file = v;
    } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      usage(stdout);
      return 0;
    } else {
      fprintf(stderr, PROG ": bad argument '%s'\n", argv[i]);
      usage(stderr);
      return 2;
    }
  }
  if (use_tls && (!cert_file || !key_file)) {
    /* grpc's own interop servers fall back to grpc's test certificates,
     * which tern does not ship: say which files to give instead. */
    fprintf(stderr, PROG ": --use_tls=true needs --tls_cert_file and "
                         "--tls_key_file\n");
    return 2;
  }

  zeros = calloc(1, MAX_PAYLOAD);
  if (!zeros) {
    fprintf(stderr, PROG ": out of memory\n");
    return 1;
  }

  /* Before any thread exists, so that all of them inherit the mask. */
  sigemptyset(&stop.signals);
  sigaddset(&stop.signals, SIGTERM);
  sigaddset(&stop.signals, SIGINT);
  sigaddset(&stop.signals, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &stop.signals, NULL);

  opts.workers = 32; /* streams that pause hold a worker each */
  rc = tern_server_new(&server, &opts);
  if (rc) {
    fprintf(stderr, PROG ": tern_server_new: %s\n", tern_strerror(rc));
    goto out;
  }
  servicer.empty_call = empty_call;
  servicer.unary_call = unary_call;
  servicer.streaming_output_call = streaming_output_call;
  servicer.streaming_input_call = streaming_input_call;
  servicer.full_duplex_call = full_duplex_call;
  servicer.half_duplex_call = half_duplex_call;
  /* CacheableUnaryCall and UnimplementedCall stay NULL: UNIMPLEMENTED. */
  rc = grpc__testing__add_test_service_servicer_to_server(&servicer, server,
                                                          NULL);
  if (rc) {
    fprintf(stderr, PROG ": register: %s\n", tern_strerror(rc));
    goto out;
  }
  snprintf(addr, sizeof addr, "127.0.0.1:%ld", port);
  if (use_tls) {
    tern_tls_options tls = TERN_TLS_OPTIONS_INIT;
    tls.cert_chain_file = cert_file;
    tls.private_key_file = key_file;
    rc = tern_server_add_secure_port(server, addr, &tls, &bound);
  } else {
    rc = tern_server_add_insecure_port(server, addr, &bound);
  }
  if (rc) {
    fprintf(stderr, PROG ": listen on %s: %s\n", addr, tern_strerror(rc));
    goto out;
  }
  rc = tern_server_start(server);
  if (rc) {
    fprintf(stderr, PROG ": start: %s\n", tern_strerror(rc));
    goto out;
  }
  stop.server = server;
  if (pthread_create(&stop_thread, NULL, stop_on_signal, &stop) != 0) {
    fprintf(stderr, PROG ": cannot start the signal thread\n");
    goto out;
  }
  have_stopper = 1;

  printf("LISTENING %d\n", bound);
  fflush(stdout);

  rc = tern_server_wait(server);
  if (rc)
    fprintf(stderr, PROG ": wait: %s\n", tern_strerror(rc));
  status = rc ? 1 : 0;

out:
  if (have_stopper) {
    pthread_kill(stop_thread, SIGUSR1);
    pthread_join(stop_thread, NULL);
  }
  tern_server_free(server);
  free(zeros);
  return status;
}
