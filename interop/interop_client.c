/* tern's client for grpc's official interop test cases
 * (doc/interop-test-descriptions.md), with the official client's flags.
 * One line per case, `PASS name`, `FAIL name: why` or `SKIP name: why`,
 * then `N passed, N failed`; the exit status is 1 when a case failed. */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grpc/testing/test.tern.h"

#define PROG "interop_client"
#define TIMEOUT_MS 15000 /* the deadline of every RPC but the 1 ms one */
#define MAX_READS 16     /* more responses than any case expects */
#define MAX_CASES 64

#define ECHO_INITIAL_KEY "x-grpc-test-echo-initial"
#define ECHO_INITIAL_VALUE "test_initial_metadata_value"
#define ECHO_TRAILING_KEY "x-grpc-test-echo-trailing-bin"
static const unsigned char ECHO_TRAILING_VALUE[] = {0xab, 0xab, 0xab};

#define STATUS_MESSAGE "test status message"
#define SPECIAL_MESSAGE                                                    \
  "\t\ntest with whitespace\r\nand Unicode BMP \xe2\x98\xba and non-BMP " \
  "\xf0\x9f\x98\x88\t\n"

/* Request payloads are zeros: the largest any case sends. */
#define MAX_REQUEST_PAYLOAD 271828
static uint8_t zero_buf[MAX_REQUEST_PAYLOAD];

typedef struct ctx {
  tern_channel *channel;
  Grpc__Testing__TestServiceStub stub;
  Grpc__Testing__UnimplementedServiceStub unimplemented;
  char why[768];
} ctx;

/* --- small helpers ------------------------------------------------------ */

static int fail(ctx *t, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(t->why, sizeof t->why, fmt, ap);
  va_end(ap);
  return -1;
}

static const char *msg_of(const tern_status *st) {
  return st->message ? st->message : "";
}

static tern_call_options call_opts(void) {
  tern_call_options o = TERN_CALL_OPTIONS_INIT;
  o.timeout_ms = TIMEOUT_MS;
  return o;
}

static Grpc__Testing__Payload zero_payload(size_t size) {
  Grpc__Testing__Payload p = GRPC__TESTING__PAYLOAD__INIT;
  p.type = GRPC__TESTING__PAYLOAD_TYPE__COMPRESSABLE;
  p.body.len = size;
  p.body.data = size ? zero_buf : NULL;
  return p;
}

/* A response payload: `want` bytes, every one zero. A missing payload is
 * an empty one (proto3 leaves empty messages out). */
static int check_payload(ctx *t, const char *what,
                         const Grpc__Testing__Payload *p, size_t want) {
  size_t len = p ? p->body.len : 0, i;
  if (len != want)
    return fail(t, "%s: payload of %zu bytes, want %zu", what, len, want);
  for (i = 0; i < len; i++)
    if (p->body.data[i] != 0)
      return fail(t, "%s: payload byte %zu is 0x%02x, want zeros", what, i,
                  p->body.data[i]);
  if (p && p->type != GRPC__TESTING__PAYLOAD_TYPE__COMPRESSABLE)
    return fail(t, "%s: payload type %d, want COMPRESSABLE", what,
                (int)p->type);
  return 0;
}

/* The call ended with `want` and, when want_msg is not NULL, exactly that
 * message. */
static int check_status(ctx *t, const char *what, tern_status_code got,
                        const tern_status *st, tern_status_code want,
                        const char *want_msg) {
  if (got != want)
    return fail(t, "%s: status %s (\"%s\"), want %s", what,
                tern_status_code_name(got), msg_of(st),
                tern_status_code_name(want));
  if (want_msg && strcmp(msg_of(st), want_msg) != 0)
    return fail(t, "%s: status message \"%s\", want \"%s\"", what,
                msg_of(st), want_msg);
  return 0;
}

/* A write may find the call already ended (the server answered early):
 * the status then tells. Anything else is a local failure. */
static int write_ok(ctx *t, const char *what, int rc) {
  if (rc < 0 && rc != TERN_ECLOSED)
    return fail(t, "%s: write: %s", what, tern_strerror(rc));
  return 0;
}

/* The request metadata of custom_metadata; NULL when out of memory. */
static tern_metadata *echo_request_metadata(void) {
  tern_metadata *md = NULL;
  if (tern_metadata_new(&md))
    return NULL;
  if (tern_metadata_add(md, ECHO_INITIAL_KEY, ECHO_INITIAL_VALUE) ||
      tern_metadata_add_bin(md, ECHO_TRAILING_KEY, ECHO_TRAILING_VALUE,
                            sizeof ECHO_TRAILING_VALUE)) {
    tern_metadata_free(md);
    return NULL;
  }
  return md;
}

static int check_echo(ctx *t, const char *what, const tern_metadata *headers,
                      const tern_metadata *trailers) {
  const char *v;
  size_t len = 0;
  v = headers ? tern_metadata_get(headers, ECHO_INITIAL_KEY, NULL) : NULL;
  if (!v)
    return fail(t, "%s: no %s in the initial metadata", what,
                ECHO_INITIAL_KEY);
  if (strcmp(v, ECHO_INITIAL_VALUE) != 0)
    return fail(t, "%s: %s is \"%s\", want \"%s\"", what, ECHO_INITIAL_KEY, v,
                ECHO_INITIAL_VALUE);
  v = trailers ? tern_metadata_get(trailers, ECHO_TRAILING_KEY, &len) : NULL;
  if (!v)
    return fail(t, "%s: no %s in the trailing metadata", what,
                ECHO_TRAILING_KEY);
  if (len != sizeof ECHO_TRAILING_VALUE ||
      memcmp(v, ECHO_TRAILING_VALUE, len) != 0)
    return fail(t, "%s: %s is %zu bytes (first 0x%02x), want 0xababab", what,
                ECHO_TRAILING_KEY, len, len ? (unsigned char)v[0] : 0u);
  return 0;
}

/* UnaryCall with the large_unary request (314159 back for 271828 sent)
 * plus the given options; checks OK and the payload. */
static int large_unary_call(ctx *t, const char *what,
                            Grpc__Testing__SimpleRequest *req,
                            const tern_call_options *o) {
  Grpc__Testing__Payload payload = zero_payload(271828);
  Grpc__Testing__SimpleResponse *resp = NULL;
  tern_status st = TERN_STATUS_INIT;
  tern_status_code code;
  int rc;
  req->response_size = 314159;
  req->payload = &payload;
  code = grpc__testing__test_service_stub__unary_call(&t->stub, req, &resp, o,
                                                      &st);
  rc = check_status(t, what, code, &st, TERN_STATUS_OK, NULL);
  if (rc == 0)
    rc = check_payload(t, what, resp->payload, 314159);
  if (resp)
    grpc__testing__simple_response__free_unpacked(resp, NULL);
  tern_status_clear(&st);
  return rc;
}

/* Reads the responses of a streaming call (at most MAX_READS, then one
 * more to see the end) and checks their sizes and, when want_compressed is
 * not NULL, their compressed flags; then the status must be OK. */
static int read_responses(ctx *t, const char *what, tern_call *call,
                          const size_t *sizes, const int *want_compressed,
                          size_t n) {
  size_t got = 0;
  int rc = 0, r;
  char label[96];
  tern_status st = TERN_STATUS_INIT;
  tern_status_code code;

  for (;;) {
    Grpc__Testing__StreamingOutputCallResponse *resp = NULL;
    r = grpc__testing__test_service_stub__streaming_output_call_read(call,
                                                                     &resp);
    if (r != 1)
      break;
    snprintf(label, sizeof label, "%s: response %zu", what, got + 1);
    if (got >= n) {
      rc = fail(t, "%s: more than %zu responses", what, n);
    } else {
      int comp = tern_call_message_compressed(call) != 0;
      rc = check_payload(t, label, resp->payload, sizes[got]);
      if (rc == 0 && want_compressed && comp != want_compressed[got])
        rc = fail(t, "%s: compressed flag %s, want %s", label,
                  comp ? "set" : "not set",
                  want_compressed[got] ? "set" : "not set");
    }
    grpc__testing__streaming_output_call_response__free_unpacked(resp, NULL);
    got++;
    if (rc || got > MAX_READS)
      break;
  }
  if (rc)
    return rc;
  code = tern_call_finish(call, &st);
  rc = check_status(t, what, code, &st, TERN_STATUS_OK, NULL);
  tern_status_clear(&st);
  if (rc)
    return rc;
  if (r < 0)
    return fail(t, "%s: read: %s", what, tern_strerror(r));
  if (got != n)
    return fail(t, "%s: %zu responses, want %zu", what, got, n);
  return 0;
}

/* --- the cases ----------------------------------------------------------- */

static int empty_unary(ctx *t) {
  Grpc__Testing__Empty req = GRPC__TESTING__EMPTY__INIT, *resp = NULL;
  tern_status st = TERN_STATUS_INIT;
  tern_call_options o = call_opts();
  tern_status_code code;
  int rc;
  code = grpc__testing__test_service_stub__empty_call(&t->stub, &req, &resp,
                                                      &o, &st);
  rc = check_status(t, "EmptyCall", code, &st, TERN_STATUS_OK, NULL);
  if (rc == 0 && !resp)
    rc = fail(t, "EmptyCall: no response");
  if (resp)
    grpc__testing__empty__free_unpacked(resp, NULL);
  tern_status_clear(&st);
  return rc;
}

static int large_unary(ctx *t) {
  Grpc__Testing__SimpleRequest req = GRPC__TESTING__SIMPLE_REQUEST__INIT;
  tern_call_options o = call_opts();
  return large_unary_call(t, "UnaryCall", &req, &o);
}

static int client_compressed_unary(ctx *t) {
  Grpc__Testing__SimpleRequest req = GRPC__TESTING__SIMPLE_REQUEST__INIT;
  Grpc__Testing__BoolValue expect = GRPC__TESTING__BOOL_VALUE__INIT;
  Grpc__Testing__Payload payload = zero_payload(271828);
  Grpc__Testing__SimpleResponse *resp = NULL;
  tern_status st = TERN_STATUS_INIT;
  tern_call_options o = call_opts();
  tern_status_code code;
  int rc;

  /* The probe: uncompressed, yet claiming to be compressed. */
  expect.value = 1;
  req.expect_compressed = &expect;
  req.response_size = 314159;
  req.payload = &payload;
  o.compression = TERN_COMPRESS_IDENTITY;
  code = grpc__testing__test_service_stub__unary_call(&t->stub, &req, &resp,
                                                      &o, &st);
  rc = check_status(t, "probe (uncompressed, expect_compressed true)", code,
                    &st, TERN_STATUS_INVALID_ARGUMENT, NULL);
  if (resp)
    grpc__testing__simple_response__free_unpacked(resp, NULL);
  tern_status_clear(&st);
  if (rc)
    return rc;

  o.compression = TERN_COMPRESS_GZIP;
  rc = large_unary_call(t, "gzip request, expect_compressed true", &req, &o);
  if (rc)
    return rc;

  expect.value = 0;
  o.compression = TERN_COMPRESS_IDENTITY;
  return large_unary_call(t, "uncompressed request, expect_compressed false",
                          &req, &o);
}

/* UnaryCall through the streaming API, the one that tells whether the
 * response arrived compressed. */
static int server_compressed_unary_one(ctx *t, int compressed) {
  const char *what = compressed ? "response_compressed true"
                                 : "response_compressed false";
  Grpc__Testing__SimpleRequest req = GRPC__TESTING__SIMPLE_REQUEST__INIT;
  Grpc__Testing__BoolValue want = GRPC__TESTING__BOOL_VALUE__INIT;
  Grpc__Testing__Payload payload = zero_payload(271828);
  tern_call_options o = call_opts();
  tern_status st = TERN_STATUS_INIT;
  tern_status_code code;
  tern_call *call = NULL;
  void *msg = NULL;
  int rc, r, got_compressed = 0;

  want.value = compressed;
  req.response_compressed = &want;
  req.response_size = 314159;
  req.payload = &payload;
  rc = tern_call_start(t->channel, GRPC__TESTING__TEST_SERVICE__TERN_UNARY_CALL,
                       &o, &call);
  if (rc)
    return fail(t, "%s: start: %s", what, tern_strerror(rc));
  rc = write_ok(t, what, tern_call_write(call, &req));
  if (rc == 0)
    tern_call_close_send(call);
  r = rc ? 0 : tern_call_read(call, &msg);
  if (r == 1)
    got_compressed = tern_call_message_compressed(call) != 0;
  code = tern_call_finish(call, &st);
  if (rc == 0)
    rc = check_status(t, what, code, &st, TERN_STATUS_OK, NULL);
  if (rc == 0 && r != 1)
    rc = fail(t, "%s: no response (%s)", what,
              r < 0 ? tern_strerror(r) : "end of stream");
  if (rc == 0)
    rc = check_payload(t, what,
                       ((Grpc__Testing__SimpleResponse *)msg)->payload,
                       314159);
  if (rc == 0 && got_compressed != compressed)
    rc = fail(t, "%s: the response's compressed flag is %s", what,
              got_compressed ? "set" : "not set");
  if (msg)
    grpc__testing__simple_response__free_unpacked(msg, NULL);
  tern_status_clear(&st);
  tern_call_free(call);
  return rc;
}

static int server_compressed_unary(ctx *t) {
  int rc = server_compressed_unary_one(t, 1);
  return rc ? rc : server_compressed_unary_one(t, 0);
}

/* One StreamingInputCall: sends n messages of the given sizes, compressed
 * per message as asked (when `compress` is not NULL the call compresses
 * with gzip and each message says for itself), with expect_compressed set
 * from expect (NULL: not set). */
static int streaming_input(ctx *t, const char *what, const size_t *sizes,
                           const int *compress, const int *expect, size_t n,
                           tern_status_code want_code, int32_t want_total) {
  tern_call_options o = call_opts();
  tern_status st = TERN_STATUS_INIT;
  tern_status_code code;
  tern_call *call = NULL;
  Grpc__Testing__StreamingInputCallResponse *resp = NULL;
  size_t i;
  int rc;

  o.compression = compress ? TERN_COMPRESS_GZIP : TERN_COMPRESS_IDENTITY;
  rc = grpc__testing__test_service_stub__streaming_input_call(&t->stub, &o,
                                                              &call);
  if (rc)
    return fail(t, "%s: start: %s", what, tern_strerror(rc));
  for (i = 0; i < n && rc == 0; i++) {
    Grpc__Testing__StreamingInputCallRequest req =
        GRPC__TESTING__STREAMING_INPUT_CALL_REQUEST__INIT;
    Grpc__Testing__BoolValue ex = GRPC__TESTING__BOOL_VALUE__INIT;
    Grpc__Testing__Payload payload = zero_payload(sizes[i]);
    int w;
    req.payload = &payload;
    if (expect) {
      ex.value = expect[i];
      req.expect_compressed = &ex;
    }
    w = tern_call_write_flags(call, &req,
                              (compress && !compress[i])
                                  ? TERN_WRITE_NO_COMPRESS
                                  : 0u);
    rc = write_ok(t, what, w);
    if (w == TERN_ECLOSED)
      break;
  }
  if (rc == 0) {
    code = grpc__testing__test_service_stub__streaming_input_call_close_and_recv(
        call, &resp, &st);
    rc = check_status(t, what, code, &st, want_code, NULL);
    if (rc == 0 && want_code == TERN_STATUS_OK &&
        resp->aggregated_payload_size != want_total)
      rc = fail(t, "%s: aggregated_payload_size %d, want %d", what,
                (int)resp->aggregated_payload_size, (int)want_total);
  }
  if (resp)
    grpc__testing__streaming_input_call_response__free_unpacked(resp, NULL);
  tern_status_clear(&st);
  tern_call_free(call);
  return rc;
}

static int client_streaming(ctx *t) {
  static const size_t sizes[] = {27182, 8, 1828, 45904};
  return streaming_input(t, "StreamingInputCall", sizes, NULL, NULL, 4,
                         TERN_STATUS_OK, 74922);
}

static int client_compressed_streaming(ctx *t) {
  static const size_t probe_size[] = {27182};
  static const int yes[] = {1};
  static const size_t sizes[] = {27182, 45904};
  static const int compress[] = {1, 0};
  int rc = streaming_input(t, "probe (uncompressed, expect_compressed true)",
                           probe_size, NULL, yes, 1,
                           TERN_STATUS_INVALID_ARGUMENT, 0);
  if (rc)
    return rc;
  return streaming_input(t, "gzip message then uncompressed message", sizes,
                         compress, compress, 2, TERN_STATUS_OK, 73086);
}

/* StreamingOutputCall with one ResponseParameters per size; compressed
 * (NULL: not set) gives each its `compressed` field. */
static int streaming_output(ctx *t, const char *what, const size_t *sizes,
                            const int *compressed, size_t n) {
  Grpc__Testing__StreamingOutputCallRequest req =
      GRPC__TESTING__STREAMING_OUTPUT_CALL_REQUEST__INIT;
  Grpc__Testing__ResponseParameters params[4], *pp[4];
  Grpc__Testing__BoolValue comp[4];
  tern_call_options o = call_opts();
  tern_call *call = NULL;
  size_t i;
  int rc;

  if (n > 4)
    return fail(t, "%s: too many responses asked for", what);
  for (i = 0; i < n; i++) {
    grpc__testing__response_parameters__init(&params[i]);
    params[i].size = (int32_t)sizes[i];
    if (compressed) {
      grpc__testing__bool_value__init(&comp[i]);
      comp[i].value = compressed[i];
      params[i].compressed = &comp[i];
    }
    pp[i] = &params[i];
  }
  req.n_response_parameters = n;
  req.response_parameters = pp;
  rc = grpc__testing__test_service_stub__streaming_output_call(&t->stub, &req,
                                                               &o, &call);
  if (rc)
    return fail(t, "%s: start: %s", what, tern_strerror(rc));
  rc = read_responses(t, what, call, sizes, compressed, n);
  tern_call_free(call);
  return rc;
}

static int server_streaming(ctx *t) {
  static const size_t sizes[] = {31415, 9, 2653, 58979};
  return streaming_output(t, "StreamingOutputCall", sizes, NULL, 4);
}

static int server_compressed_streaming(ctx *t) {
  static const size_t sizes[] = {31415, 92653};
  static const int compressed[] = {1, 0};
  return streaming_output(t, "StreamingOutputCall", sizes, compressed, 2);
}

/* A FullDuplexCall request: one response of resp_size for req_size zeros
 * (resp_size < 0: no response parameters). */
typedef struct duplex_req {
  Grpc__Testing__StreamingOutputCallRequest req;
  Grpc__Testing__ResponseParameters param, *pp[1];
  Grpc__Testing__Payload payload;
} duplex_req;

static void duplex_req_init(duplex_req *d, long resp_size, size_t req_size) {
  grpc__testing__streaming_output_call_request__init(&d->req);
  grpc__testing__response_parameters__init(&d->param);
  d->payload = zero_payload(req_size);
  d->req.payload = &d->payload;
  if (resp_size >= 0) {
    d->param.size = (int32_t)resp_size;
    d->pp[0] = &d->param;
    d->req.n_response_parameters = 1;
    d->req.response_parameters = d->pp;
  }
}

static int ping_pong(ctx *t) {
  static const long resp_sizes[] = {31415, 9, 2653, 58979};
  static const size_t req_sizes[] = {27182, 8, 1828, 45904};
  tern_call_options o = call_opts();
  tern_call *call = NULL;
  size_t i;
  int rc;

  rc = grpc__testing__test_service_stub__full_duplex_call(&t->stub, &o,
                                                          &call);
  if (rc)
    return fail(t, "FullDuplexCall: start: %s", tern_strerror(rc));
  for (i = 0; i < 4 && rc == 0; i++) {
    duplex_req d;
    Grpc__Testing__StreamingOutputCallResponse *resp = NULL;
    char label[64];
    int r;
    snprintf(label, sizeof label, "FullDuplexCall: ping %zu", i + 1);
    duplex_req_init(&d, resp_sizes[i], req_sizes[i]);
    r = grpc__testing__test_service_stub__full_duplex_call_write(call, &d.req);
    if (r < 0) {
      rc = fail(t, "%s: write: %s", label, tern_strerror(r));
      break;
    }
    r = grpc__testing__test_service_stub__full_duplex_call_read(call, &resp);
    if (r != 1) {
      rc = fail(t, "%s: no reply (%s)", label,
                r < 0 ? tern_strerror(r) : "end of stream");
      break;
    }
    rc = check_payload(t, label, resp->payload, (size_t)resp_sizes[i]);
    grpc__testing__streaming_output_call_response__free_unpacked(resp, NULL);
  }
  if (rc == 0) {
    /* After the fourth reply: half-close; no fifth reply, then OK. */
    tern_call_close_send(call);
    rc = read_responses(t, "FullDuplexCall after the half-close", call, NULL,
                        NULL, 0);
  } else {
    tern_status st = TERN_STATUS_INIT;
    tern_call_cancel(call);
    tern_call_finish(call, &st);
    tern_status_clear(&st);
  }
  tern_call_free(call);
  return rc;
}

static int empty_stream(ctx *t) {
  tern_call_options o = call_opts();
  tern_call *call = NULL;
  int rc = grpc__testing__test_service_stub__full_duplex_call(&t->stub, &o,
                                                              &call);
  if (rc)
    return fail(t, "FullDuplexCall: start: %s", tern_strerror(rc));
  tern_call_close_send(call);
  rc = read_responses(t, "FullDuplexCall", call, NULL, NULL, 0);
  tern_call_free(call);
  return rc;
}

static int timeout_on_sleeping_server(ctx *t) {
  tern_call_options o = call_opts();
  tern_status st = TERN_STATUS_INIT;
  tern_status_code code;
  tern_call *call = NULL;
  duplex_req d;
  int rc;

  o.timeout_ms = 1;
  rc = grpc__testing__test_service_stub__full_duplex_call(&t->stub, &o,
                                                          &call);
  if (rc)
    return fail(t, "FullDuplexCall: start: %s", tern_strerror(rc));
  duplex_req_init(&d, -1, 27182);
  rc = write_ok(t, "FullDuplexCall",
                grpc__testing__test_service_stub__full_duplex_call_write(
                    call, &d.req));
  /* No half-close: the 1 ms deadline ends the call. */
  code = tern_call_finish(call, &st);
  if (rc == 0)
    rc = check_status(t, "FullDuplexCall (1 ms deadline)", code, &st,
                      TERN_STATUS_DEADLINE_EXCEEDED, NULL);
  tern_status_clear(&st);
  tern_call_free(call);
  return rc;
}

static int cancel_after_begin(ctx *t) {
  tern_call_options o = call_opts();
  tern_status st = TERN_STATUS_INIT;
  tern_status_code code;
  tern_call *call = NULL;
  int rc = grpc__testing__test_service_stub__streaming_input_call(&t->stub,
                                                                  &o, &call);
  if (rc)
    return fail(t, "StreamingInputCall: start: %s", tern_strerror(rc));
  tern_call_cancel(call);
  code = tern_call_finish(call, &st);
  rc = check_status(t, "StreamingInputCall cancelled", code, &st,
                    TERN_STATUS_CANCELLED, NULL);
  tern_status_clear(&st);
  tern_call_free(call);
  return rc;
}

static int cancel_after_first_response(ctx *t) {
  tern_call_options o = call_opts();
  tern_status st = TERN_STATUS_INIT;
  tern_status_code code;
  tern_call *call = NULL;
  Grpc__Testing__StreamingOutputCallResponse *resp = NULL;
  duplex_req d;
  int rc, r;

  rc = grpc__testing__test_service_stub__full_duplex_call(&t->stub, &o,
                                                          &call);
  if (rc)
    return fail(t, "FullDuplexCall: start: %s", tern_strerror(rc));
  duplex_req_init(&d, 31415, 27182);
  r = grpc__testing__test_service_stub__full_duplex_call_write(call, &d.req);
  if (r < 0)
    rc = fail(t, "FullDuplexCall: write: %s", tern_strerror(r));
  if (rc == 0) {
    r = grpc__testing__test_service_stub__full_duplex_call_read(call, &resp);
    if (r != 1)
      rc = fail(t, "FullDuplexCall: no first response (%s)",
                r < 0 ? tern_strerror(r) : "end of stream");
    else
      rc = check_payload(t, "FullDuplexCall: first response", resp->payload,
                         31415);
    if (resp)
      grpc__testing__streaming_output_call_response__free_unpacked(resp,
                                                                   NULL);
  }
  tern_call_cancel(call);
  code = tern_call_finish(call, &st);
  if (rc == 0)
    rc = check_status(t, "FullDuplexCall cancelled", code, &st,
                      TERN_STATUS_CANCELLED, NULL);
  tern_status_clear(&st);
  tern_call_free(call);
  return rc;
}

/* UnaryCall and (unless unary_only) FullDuplexCall asking for status 2
 * with `message`; both must end UNKNOWN with exactly that message. */
static int echo_status_calls(ctx *t, const char *message, int unary_only) {
  Grpc__Testing__SimpleRequest req = GRPC__TESTING__SIMPLE_REQUEST__INIT;
  Grpc__Testing__EchoStatus es = GRPC__TESTING__ECHO_STATUS__INIT;
  Grpc__Testing__SimpleResponse *resp = NULL;
  tern_call_options o = call_opts();
  tern_status st = TERN_STATUS_INIT;
  tern_status_code code;
  tern_call *call = NULL;
  duplex_req d;
  int rc;

  es.code = 2;
  es.message = (char *)message;
  req.response_status = &es;
  code = grpc__testing__test_service_stub__unary_call(&t->stub, &req, &resp,
                                                      &o, &st);
  rc = check_status(t, "UnaryCall", code, &st, TERN_STATUS_UNKNOWN, message);
  if (resp)
    grpc__testing__simple_response__free_unpacked(resp, NULL);
  tern_status_clear(&st);
  if (rc || unary_only)
    return rc;

  rc = grpc__testing__test_service_stub__full_duplex_call(&t->stub, &o,
                                                          &call);
  if (rc)
    return fail(t, "FullDuplexCall: start: %s", tern_strerror(rc));
  duplex_req_init(&d, -1, 0);
  d.req.payload = NULL;
  d.req.response_status = &es;
  rc = write_ok(t, "FullDuplexCall",
                grpc__testing__test_service_stub__full_duplex_call_write(
                    call, &d.req));
  tern_call_close_send(call);
  code = tern_call_finish(call, &st);
  if (rc == 0)
    rc = check_status(t, "FullDuplexCall", code, &st, TERN_STATUS_UNKNOWN,
                      message);
  tern_status_clear(&st);
  tern_call_free(call);
  return rc;
}

static int status_code_and_message(ctx *t) {
  return echo_status_calls(t, STATUS_MESSAGE, 0);
}

static int special_status_message(ctx *t) {
  return echo_status_calls(t, SPECIAL_MESSAGE, 1);
}

static int custom_metadata(ctx *t) {
  static const size_t sizes[] = {314159};
  Grpc__Testing__SimpleRequest req = GRPC__TESTING__SIMPLE_REQUEST__INIT;
  tern_metadata *md = echo_request_metadata(), *hdrs = NULL, *trl = NULL;
  tern_call_options o = call_opts();
  tern_call *call = NULL;
  duplex_req d;
  int rc;

  if (!md || tern_metadata_new(&hdrs) || tern_metadata_new(&trl)) {
    rc = fail(t, "out of memory");
    goto out;
  }
  o.metadata = md;
  o.headers_out = hdrs;
  o.trailers_out = trl;
  rc = large_unary_call(t, "UnaryCall", &req, &o);
  if (rc == 0)
    rc = check_echo(t, "UnaryCall", hdrs, trl);
  if (rc)
    goto out;

  tern_metadata_clear(trl);
  o.headers_out = NULL;
  rc = grpc__testing__test_service_stub__full_duplex_call(&t->stub, &o,
                                                          &call);
  if (rc) {
    rc = fail(t, "FullDuplexCall: start: %s", tern_strerror(rc));
    goto out;
  }
  duplex_req_init(&d, 314159, 271828);
  rc = write_ok(t, "FullDuplexCall",
                grpc__testing__test_service_stub__full_duplex_call_write(
                    call, &d.req));
  tern_call_close_send(call);
  if (rc == 0)
    rc = read_responses(t, "FullDuplexCall", call, sizes, NULL, 1);
  if (rc == 0)
    rc = check_echo(t, "FullDuplexCall", tern_call_headers(call), trl);
out:
  tern_call_free(call);
  tern_metadata_free(md);
  tern_metadata_free(hdrs);
  tern_metadata_free(trl);
  return rc;
}

static int unimplemented_method(ctx *t) {
  Grpc__Testing__Empty req = GRPC__TESTING__EMPTY__INIT, *resp = NULL;
  tern_status st = TERN_STATUS_INIT;
  tern_call_options o = call_opts();
  tern_status_code code;
  int rc;
  code = grpc__testing__test_service_stub__unimplemented_call(&t->stub, &req,
                                                              &resp, &o, &st);
  rc = check_status(t, "TestService/UnimplementedCall", code, &st,
                    TERN_STATUS_UNIMPLEMENTED, NULL);
  if (resp)
    grpc__testing__empty__free_unpacked(resp, NULL);
  tern_status_clear(&st);
  return rc;
}

static int unimplemented_service(ctx *t) {
  Grpc__Testing__Empty req = GRPC__TESTING__EMPTY__INIT, *resp = NULL;
  tern_status st = TERN_STATUS_INIT;
  tern_call_options o = call_opts();
  tern_status_code code;
  int rc;
  code = grpc__testing__unimplemented_service_stub__unimplemented_call(
      &t->unimplemented, &req, &resp, &o, &st);
  rc = check_status(t, "UnimplementedService/UnimplementedCall", code, &st,
                    TERN_STATUS_UNIMPLEMENTED, NULL);
  if (resp)
    grpc__testing__empty__free_unpacked(resp, NULL);
  tern_status_clear(&st);
  return rc;
}

typedef struct test_case {
  const char *name;
  int (*run)(ctx *t);
} test_case;

/* In the order `all` runs them. */
static const test_case CASES[] = {
    {"empty_unary", empty_unary},
    {"large_unary", large_unary},
    {"client_streaming", client_streaming},
    {"server_streaming", server_streaming},
    {"ping_pong", ping_pong},
    {"empty_stream", empty_stream},
    {"timeout_on_sleeping_server", timeout_on_sleeping_server},
    {"cancel_after_begin", cancel_after_begin},
    {"cancel_after_first_response", cancel_after_first_response},
    {"status_code_and_message", status_code_and_message},
    {"special_status_message", special_status_message},
    {"custom_metadata", custom_metadata},
    {"unimplemented_method", unimplemented_method},
    {"unimplemented_service", unimplemented_service},
    {"client_compressed_unary", client_compressed_unary},
    {"server_compressed_unary", server_compressed_unary},
    {"client_compressed_streaming", client_compressed_streaming},
    {"server_compressed_streaming", server_compressed_streaming},
};
#define N_CASES (sizeof CASES / sizeof CASES[0])

/* --- command line -------------------------------------------------------- */

static void usage(FILE *f) {
  size_t i;
  fprintf(f,
          "usage: " PROG " --server_host=H --server_port=N "
          "--test_case=NAME[,NAME...]|all\n"
          "         [--server_host_override=NAME] [--use_tls=false]\n"
          "         [--skip=NAME[,NAME...]] [--skip_reason=TEXT]\n"
          "  --server_host=H            default localhost\n"
          "  --server_port=N            required\n"
          "  --server_host_override=N   :authority (and TLS name) to claim\n"
          "  --use_tls=BOOL             TLS (default false)\n"
          "  --ca_file=F                CAs for TLS (default: the system's)\n"
          "  --skip=NAMES               print SKIP for these cases instead "
          "of running them\n"
          "  --skip_reason=TEXT         the reason printed for them\n"
          "Other official flags (--default_service_account, --oauth_scope, "
          "...) are\naccepted and ignored: no case here needs them.\n"
          "Cases:");
  for (i = 0; i < N_CASES; i++)
    fprintf(f, "%s%s", i % 4 ? " " : "\n  ", CASES[i].name);
  fprintf(f, "\n");
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

static int case_index(const char *name, size_t len) {
  size_t i;
  for (i = 0; i < N_CASES; i++)
    if (strlen(CASES[i].name) == len && strncmp(CASES[i].name, name, len) == 0)
      return (int)i;
  return -1;
}

/* Whether `name` is in the comma-separated list (NULL: empty). */
static int in_list(const char *list, const char *name) {
  size_t len = strlen(name);
  const char *p = list;
  while (p && *p) {
    const char *comma = strchr(p, ',');
    size_t n = comma ? (size_t)(comma - p) : strlen(p);
    if (n == len && strncmp(p, name, n) == 0)
      return 1;
    p = comma ? comma + 1 : NULL;
  }
  return 0;
}

int main(int argc, char **argv) {
  const char *host = "localhost", *override = NULL, *cases = NULL;
  const char *skip = NULL, *skip_reason = NULL;
  long port = -1;
  int use_tls = 0, use_test_ca = 0, i, rc;
  int passed = 0, failed = 0, skipped = 0;
  char target[300];
  tern_channel_options copts = TERN_CHANNEL_OPTIONS_INIT;
  tern_tls_options tls = TERN_TLS_OPTIONS_INIT;
  ctx t;

  for (i = 1; i < argc; i++) {
    const char *v;
    if ((v = flag_value(argc, argv, &i, "--server_host")) != NULL) {
      host = v;
    } else if ((v = flag_value(argc, argv, &i, "--server_port")) != NULL) {
      char *end;
      errno = 0;
      port = strtol(v, &end, 10);
      if (errno || end == v || *end || port < 1 || port > 65535) {
        fprintf(stderr, PROG ": bad --server_port '%s'\n", v);
        return 2;
      }
    } else if ((v = flag_value(argc, argv, &i, "--test_case")) != NULL) {
      cases = v;
    } else if ((v = flag_value(argc, argv, &i, "--server_host_override")) !=
               NULL) {
      override = v;
    } else if ((v = flag_value(argc, argv, &i, "--use_tls")) != NULL) {
      if (parse_bool(v, &use_tls)) {
        fprintf(stderr, PROG ": bad --use_tls value '%s'\n", v);
        return 2;
      }
    } else if ((v = flag_value(argc, argv, &i, "--ca_file")) != NULL) {
      tls.ca_file = v;
    } else if ((v = flag_value(argc, argv, &i, "--use_test_ca")) != NULL) {
      if (parse_bool(v, &use_test_ca)) {
        fprintf(stderr, PROG ": bad --use_test_ca value '%s'\n", v);
        return 2;
      }
    } else if ((v = flag_value(argc, argv, &i, "--skip_reason")) != NULL) {
      skip_reason = v;
    } else if ((v = flag_value(argc, argv, &i, "--skip")) != NULL) {
      skip = v;
    } else if ((v = flag_value(argc, argv, &i,
                               "--default_service_account")) != NULL ||
               (v = flag_value(argc, argv, &i, "--oauth_scope")) != NULL ||
               (v = flag_value(argc, argv, &i,
                               "--service_account_key_file")) != NULL) {
      /* Only the cloud-to-prod auth cases use these. */
    } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      usage(stdout);
      return 0;
    } else {
      fprintf(stderr, PROG ": warning: ignoring unknown argument '%s'\n",
              argv[i]);
    }
  }
  if (port < 0 || !cases) {
    fprintf(stderr, PROG ": --server_port and --test_case are required\n");
    usage(stderr);
    return 2;
  }
  if (use_test_ca) {
    fprintf(stderr, PROG ": --use_test_ca=true: grpc's test CA (ca.pem) is "
                         "not shipped with tern; not supported\n");
    return 2;
  }

  snprintf(target, sizeof target, strchr(host, ':') ? "[%s]:%ld" : "%s:%ld",
           host, port);
  copts.authority = override;
  if (use_tls) {
    tls.server_host_override = override;
    copts.tls = &tls;
  }
  memset(&t, 0, sizeof t);
  rc = tern_channel_new(&t.channel, target, &copts);
  if (rc) {
    fprintf(stderr, PROG ": channel to %s: %s\n", target, tern_strerror(rc));
    return 2;
  }
  grpc__testing__test_service_stub_init(&t.stub, t.channel);
  grpc__testing__unimplemented_service_stub_init(&t.unimplemented, t.channel);

  {
    int order[MAX_CASES];
    size_t n = 0, k;
    if (strcmp(cases, "all") == 0) {
      for (k = 0; k < N_CASES; k++)
        order[n++] = (int)k;
    } else {
      const char *p = cases;
      while (p && *p && n < MAX_CASES) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        int idx = case_index(p, len);
        if (idx < 0) {
          printf("FAIL %.*s: unknown test case\n", (int)len, p);
          fflush(stdout);
          failed++;
        } else {
          order[n++] = idx;
        }
        p = comma ? comma + 1 : NULL;
      }
    }
    for (k = 0; k < n; k++) {
      const test_case *c = &CASES[order[k]];
      if (in_list(skip, c->name)) {
        printf("SKIP %s: %s\n", c->name,
               skip_reason ? skip_reason : "skipped by --skip");
        skipped++;
      } else {
        t.why[0] = '\0';
        if (c->run(&t) == 0) {
          printf("PASS %s\n", c->name);
          passed++;
        } else {
          printf("FAIL %s: %s\n", c->name, t.why[0] ? t.why : "failed");
          failed++;
        }
      }
      fflush(stdout);
    }
  }
  if (skip) {
    const char *p = skip;
    while (p && *p) {
      const char *comma = strchr(p, ',');
      size_t len = comma ? (size_t)(comma - p) : strlen(p);
      if (len && case_index(p, len) < 0)
        fprintf(stderr, PROG ": warning: --skip names no case '%.*s'\n",
                (int)len, p);
      p = comma ? comma + 1 : NULL;
    }
  }

  if (skipped)
    printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
  else
    printf("%d passed, %d failed\n", passed, failed);
  fflush(stdout);
  tern_channel_free(t.channel);
  return failed ? 1 : 0;
}
