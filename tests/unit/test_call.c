/* The call as a state machine with no sockets: a recording transport
 * stands in for HTTP/2. The test feeds header fields and body bytes
 * through the stream upcalls, split anywhere, plays the loop, and checks
 * what the call emits through the downcalls (header lists, framed bytes,
 * trailers, resets), for both roles: unary and trailers-only responses,
 * cancellation, deadlines, header limits, transparent-retry rewinds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call/call_int.h"
#include "raw_codec.h"
#include "test.h"

/* ---- a transport that records what the call asks of it ------------------ */

typedef struct rec {
  tern__conn base;
  char hdrs[4096]; /* the last header list given: "name: value\n"... */
  unsigned hdr_flags;
  int responds, opens, resumes, resets;
  uint32_t reset_code;
  size_t consumed;
} rec;

static void print_list(rec *r, const tern__hdr *h, size_t n) {
  size_t i, off = 0;
  r->hdrs[0] = '\0';
  for (i = 0; i < n && off < sizeof(r->hdrs); i++)
    off += (size_t)snprintf(r->hdrs + off, sizeof(r->hdrs) - off,
                            "%.*s: %.*s\n", (int)h[i].namelen,
                            (const char *)h[i].name, (int)h[i].valuelen,
                            (const char *)h[i].value);
}

static int32_t rec_open(tern__conn *c, tern__stream *s, const tern__hdr *h,
                        size_t n) {
  rec *r = (rec *)c;
  print_list(r, h, n);
  r->opens++;
  tern__conn_attach(c, s, 1);
  return 1;
}

static int rec_respond(tern__stream *s, const tern__hdr *h, size_t n,
                       unsigned flags) {
  rec *r = (rec *)s->conn;
  print_list(r, h, n);
  r->hdr_flags = flags;
  r->responds++;
  return TERN_OK;
}

static void rec_resume(tern__stream *s) { ((rec *)s->conn)->resumes++; }
static void rec_consume(tern__stream *s, size_t n) {
  ((rec *)s->conn)->consumed += n;
}
static void rec_reset(tern__stream *s, uint32_t error) {
  rec *r = (rec *)s->conn;
  r->resets++;
  r->reset_code = error;
}
static int rec_ended(const tern__stream *s) {
  (void)s;
  return 0;
}
static void rec_shutdown(tern__conn *c) { c->draining = 1; }
static void rec_close(tern__conn *c) { c->closed = 1; }

static const tern__conn_vt rec_vt = {rec_open,    rec_respond, rec_resume,
                                     rec_consume, rec_reset,   rec_ended,
                                     rec_shutdown, rec_close};
static const tern__conn_ops no_ops = {NULL, NULL, NULL, NULL};

static tern__loop *g_loop;

static void rec_init(rec *r, int is_client) {
  memset(r, 0, sizeof(*r));
  tern__conn_base_init(&r->base, &rec_vt, g_loop, is_client, &no_ops, NULL);
}

/* ---- the owner's hooks: what the call told its server or client -------- */

static int g_headers, g_messages, g_half_closes, g_closed, g_deadlines;
static uint32_t g_closed_error;

static void h_headers(struct tern_call *c) {
  (void)c;
  g_headers++;
}
static void h_message(struct tern_call *c) {
  (void)c;
  g_messages++;
}
static void h_half_close(struct tern_call *c) {
  (void)c;
  g_half_closes++;
}
static void h_closed(struct tern_call *c, uint32_t error, const char *why) {
  (void)c;
  (void)why;
  g_closed++;
  g_closed_error = error;
}
static void h_deadline(struct tern_call *c) {
  (void)c;
  g_deadlines++;
  tern__call_reset(c, TERN__RST_CANCEL);
}
static void h_destroy(struct tern_call *c) { (void)c; }

static const tern__call_hooks server_hooks = {
    h_headers, h_message, h_half_close, h_closed, h_destroy, NULL, NULL,
    NULL};
static const tern__call_hooks client_hooks = {
    h_headers, h_message, h_half_close, h_closed, h_destroy, NULL, NULL,
    h_deadline};

static void reset_counts(void) {
  g_headers = g_messages = g_half_closes = g_closed = g_deadlines = 0;
  g_closed_error = 0;
}

/* Runs the loop for about ms milliseconds: posted kicks and timers. */
static void stop_timer(tern__timer *t) { tern__loop_stop(t->data); }
static void run_loop(int ms) {
  tern__timer t;
  tern__timer_init(&t, stop_timer, g_loop);
  tern__timer_start(g_loop, &t, tern__now_ns() + (int64_t)ms * 1000000);
  tern__loop_run(g_loop);
  tern__timer_stop(g_loop, &t);
}

/* ---- feeding the call ------------------------------------------------------ */

/* "name: value\n" lines as one header block. */
static void feed_block(struct tern_call *c, const char *lines,
                       unsigned flags) {
  const char *p = lines;
  while (*p) {
    const char *nl = strchr(p, '\n');
    const char *sep = strstr(p + 1, ": ");
    CHECK(nl && sep && sep < nl);
    if (!nl || !sep)
      return;
    CHECK_EQ_INT(c->a0.stream.ops->on_header(
                     &c->a0.stream, (const uint8_t *)p, (size_t)(sep - p),
                     (const uint8_t *)sep + 2, (size_t)(nl - sep - 2)),
                 0);
    p = nl + 1;
  }
  c->a0.stream.ops->on_headers_end(&c->a0.stream, flags);
}

static void feed_bytes(struct tern_call *c, const uint8_t *d, size_t n,
                       size_t step) {
  size_t off;
  for (off = 0; off < n; off += step)
    CHECK_EQ_INT(c->a0.stream.ops->on_data(&c->a0.stream, d + off,
                                        off + step > n ? n - off : step),
                 0);
}

/* Everything the call has ready to send, as the transport would pull
 * it in frames of at most max bytes; *flags gets the last TERN__OUT_*. */
static size_t pull_all(struct tern_call *c, tern__buf *out, size_t max,
                       unsigned *flags) {
  size_t total = 0;
  *flags = 0;
  for (;;) {
    unsigned f = 0;
    ssize_t n = c->a0.stream.ops->out_ready(&c->a0.stream, max, &f);
    if (n == TERN__OUT_DEFER)
      break;
    CHECK(n >= 0 && (size_t)n <= max);
    if (n < 0)
      break;
    CHECK_EQ_INT(c->a0.stream.ops->out_take(&c->a0.stream, out, (size_t)n),
                 TERN_OK);
    total += (size_t)n;
    *flags = f;
    if (f & TERN__OUT_EOF)
      break;
  }
  return total;
}

static const char *trailers_of(struct tern_call *c, rec *r) {
  tern__hdrs l;
  tern__hdrs_init(&l);
  c->a0.stream.ops->out_trailers(&c->a0.stream, &l);
  print_list(r, l.v, l.n);
  tern__hdrs_free(&l);
  return r->hdrs;
}

static tern__msg *encode(const char *s) {
  raw r;
  tern__msg *m = NULL;
  r.len = strlen(s);
  r.data = (const uint8_t *)s;
  CHECK_EQ_INT(tern__call_encode(NULL, &raw_method, NULL, &r,
                                 TERN_COMPRESS_IDENTITY, &m),
               TERN_OK);
  return m;
}

/* A server call on the recording transport, as on_new_stream makes it
 * (the stream's reference is the call's first). */
static void server_call(struct tern_call *c, rec *r) {
  rec_init(r, 0);
  CHECK_EQ_INT(tern__call_init(c, 0, &raw_method, &server_hooks, g_loop, -1),
               TERN_OK);
  tern__conn_attach(&r->base, &c->a0.stream, 1);
  tern__call_ref(c); /* the test's own */
}

static const char request_block[] =
    ":method: POST\n:scheme: http\n:path: /s.S/M\n:authority: example:1\n"
    "content-type: application/grpc\nte: trailers\ngrpc-timeout: 2S\n"
    "x-token: abc\nx-bin-bin: AAEC\n";

/* ---- server ------------------------------------------------------------------ */

static void test_server_parses_request_headers_and_body_split_anywhere(void) {
  static const uint8_t body[] = "\x00\x00\x00\x00\x02hi\x00\x00\x00\x00\x03"
                                "you";
  size_t step;
  for (step = 1; step <= sizeof(body) - 1; step++) {
    struct tern_call c;
    rec r;
    tern__msg *m;
    const char *v;
    size_t vlen;
    reset_counts();
    server_call(&c, &r);
    feed_block(&c, request_block, 0);
    if (step == 1) {
      SAY("the request block gives path, authority, timeout and metadata");
      CHECK_EQ_STR(c.path, "/s.S/M");
      CHECK_EQ_STR(c.authority, "example:1");
      CHECK_EQ_INT(c.timeout_ns, 2000000000LL);
      CHECK_EQ_INT(c.bad_method, 0);
      CHECK_EQ_INT(c.bad_content_type, 0);
      CHECK_EQ_INT(tern_metadata_count(c.in_md), 2);
      CHECK_EQ_STR(tern_metadata_get(c.in_md, "x-token", NULL), "abc");
      CHECK_EQ_INT(tern_metadata_get_at(c.in_md, 1, NULL, &v, &vlen),
                   TERN_OK);
      CHECK_EQ_MEM(v, vlen, "\x00\x01\x02", 3);
      SAY("the owner hears of the headers once");
    }
    CHECK_EQ_INT(g_headers, 1);
    feed_bytes(&c, body, sizeof(body) - 1, step);
    c.a0.stream.ops->on_end(&c.a0.stream);
    SAY("body in chunks of %zu: two messages (told per chunk that completes "
        "any) and a half-close",
        step);
    CHECK_EQ_INT(c.in_count, 2);
    CHECK_EQ_INT(g_messages, 6 / step == 14 / step ? 1 : 2);
    CHECK_EQ_INT(g_half_closes, 1);
    CHECK_EQ_INT(tern__call_take_in(&c, &m, 0), 1);
    CHECK_EQ_MEM(m->data, m->len, "hi", 2);
    tern__call_msg_free(&c, m);
    CHECK_EQ_INT(tern__call_take_in(&c, &m, 0), 1);
    CHECK_EQ_MEM(m->data, m->len, "you", 3);
    tern__call_msg_free(&c, m);
    CHECK_EQ_INT(tern__call_take_in(&c, &m, 0), 0);
    SAY("the window of every byte read is handed back");
    CHECK_EQ_INT(r.consumed, sizeof(body) - 1);
    c.a0.stream.ops->on_closed(&c.a0.stream, TERN__RST_NO_ERROR, NULL);
    tern__conn_detach(&r.base, &c.a0.stream);
    tern__call_cleanup(&c);
  }
}

static void test_server_unary_response_headers_message_trailers(void) {
  struct tern_call c;
  rec r;
  tern__buf out = TERN__BUF_INIT;
  unsigned flags;
  reset_counts();
  server_call(&c, &r);
  feed_block(&c, request_block, 0);
  CHECK_EQ_INT(tern__call_add_metadata(&c, 0, "x-h", "1", 0, 0), TERN_OK);
  CHECK_EQ_INT(tern__call_add_metadata(&c, 1, "x-t", "2", 0, 0), TERN_OK);
  CHECK_EQ_INT(tern__call_queue_out(&c, encode("pong"), TERN__QUEUE_FORCE),
               TERN_OK);
  tern__call_end(&c, TERN_STATUS_OK, NULL, 0);
  SAY("nothing goes out until the loop looks at the call");
  CHECK_EQ_INT(r.responds, 0);
  run_loop(5);
  SAY("the response headers, with the handler's metadata, a body to follow");
  CHECK_EQ_INT(r.responds, 1);
  CHECK_EQ_INT(r.hdr_flags, 0);
  CHECK_EQ_STR(r.hdrs, ":status: 200\ncontent-type: application/grpc\n"
                       "grpc-accept-encoding: identity,deflate,gzip\n"
                       "x-h: 1\n");
  SAY("the body is the framed message, pulled in 3-byte frames, then EOF "
      "with trailers");
  CHECK_EQ_INT(pull_all(&c, &out, 3, &flags), 9);
  CHECK_EQ_MEM(out.data, out.len, "\x00\x00\x00\x00\x04pong", 9);
  CHECK_EQ_INT(flags, TERN__OUT_EOF | TERN__OUT_TRAILERS);
  CHECK_EQ_STR(trailers_of(&c, &r), "grpc-status: 0\nx-t: 2\n");
  tern__buf_free(&out);
  c.a0.stream.ops->on_closed(&c.a0.stream, TERN__RST_NO_ERROR, NULL);
  tern__call_cleanup(&c);
}

static void test_server_status_alone_is_trailers_only(void) {
  struct tern_call c;
  rec r;
  reset_counts();
  server_call(&c, &r);
  feed_block(&c, request_block, 0);
  SAY("a status with nothing sent goes as one header block that ends the "
      "stream, message percent-encoded");
  tern__call_end(&c, TERN_STATUS_NOT_FOUND, "no 100%", 0);
  run_loop(5);
  CHECK_EQ_INT(r.responds, 1);
  CHECK_EQ_INT(r.hdr_flags, TERN__SUBMIT_END_STREAM);
  CHECK_EQ_STR(r.hdrs, ":status: 200\ncontent-type: application/grpc\n"
                       "grpc-accept-encoding: identity,deflate,gzip\n"
                       "grpc-status: 5\ngrpc-message: no 100%25\n");
  c.a0.stream.ops->on_closed(&c.a0.stream, TERN__RST_NO_ERROR, NULL);
  tern__call_cleanup(&c);
}

static void test_server_bad_requests_and_header_limit(void) {
  struct tern_call c;
  rec r;
  reset_counts();
  server_call(&c, &r);
  SAY("a header block past the limit fails the call RESOURCE_EXHAUSTED, "
      "trailers-only, without dispatching it");
  c.a0.stream.ops->on_headers_end(&c.a0.stream, TERN__HEADERS_TOO_BIG);
  run_loop(5);
  CHECK_EQ_INT(g_headers, 0);
  CHECK_EQ_INT(r.responds, 1);
  CHECK_EQ_INT(r.hdr_flags, TERN__SUBMIT_END_STREAM);
  CHECK(strstr(r.hdrs, "grpc-status: 8\n") != NULL);
  CHECK(strstr(r.hdrs, "grpc-message: header list larger than the limit\n"));
  c.a0.stream.ops->on_closed(&c.a0.stream, TERN__RST_NO_ERROR, NULL);
  tern__call_cleanup(&c);

  reset_counts();
  server_call(&c, &r);
  feed_block(&c, ":method: GET\n:path: /s.S/M\ncontent-type: text/html\n",
             0);
  SAY("GET and a non-gRPC content-type are noticed for the owner to refuse");
  CHECK_EQ_INT(c.bad_method, 1);
  CHECK_EQ_INT(c.bad_content_type, 1);
  tern__call_http_error(&c, "405");
  CHECK_EQ_STR(r.hdrs, ":status: 405\n");
  CHECK_EQ_INT(r.hdr_flags, TERN__SUBMIT_END_STREAM);
  c.a0.stream.ops->on_closed(&c.a0.stream, TERN__RST_NO_ERROR, NULL);
  tern__call_cleanup(&c);

  reset_counts();
  server_call(&c, &r);
  feed_block(&c, request_block, 0);
  SAY("a compressed message without grpc-encoding: INTERNAL, queue dropped");
  CHECK_EQ_INT(tern__call_queue_out(&c, encode("x"), TERN__QUEUE_FORCE),
               TERN_OK);
  feed_bytes(&c, (const uint8_t *)"\x01\x00\x00\x00\x01z", 6, 6);
  run_loop(5);
  CHECK_EQ_INT(c.aborted, 1);
  CHECK_EQ_INT(c.out_head == NULL, 1);
  CHECK_EQ_INT(r.hdr_flags, TERN__SUBMIT_END_STREAM);
  CHECK(strstr(r.hdrs, "grpc-status: 13\n") != NULL);
  c.a0.stream.ops->on_closed(&c.a0.stream, TERN__RST_NO_ERROR, NULL);
  tern__call_cleanup(&c);
}

static void test_server_cancelled_by_the_client(void) {
  struct tern_call c;
  rec r;
  tern__msg *m;
  reset_counts();
  server_call(&c, &r);
  feed_block(&c, request_block, 0);
  SAY("a reset from the client closes the stream: the owner hears the code");
  tern__conn_detach(&r.base, &c.a0.stream);
  c.a0.stream.ops->on_closed(&c.a0.stream, TERN__RST_CANCEL, NULL);
  CHECK_EQ_INT(g_closed, 1);
  CHECK_EQ_INT(g_closed_error, TERN__RST_CANCEL);
  SAY("the handler's reads and writes then fail TERN_ECLOSED");
  CHECK_EQ_INT(c.done, 1);
  CHECK_EQ_INT(tern__call_take_in(&c, &m, 0), TERN_ECLOSED);
  CHECK_EQ_INT(tern__call_queue_out(&c, encode("late"), TERN__QUEUE_FORCE),
               TERN_ECLOSED);
  tern__call_end(&c, TERN_STATUS_OK, NULL, 0);
  run_loop(5);
  SAY("and its status goes nowhere: the stream is gone");
  CHECK_EQ_INT(r.responds, 0);
  tern__call_cleanup(&c);
}

static void test_server_deadline_fails_the_call(void) {
  struct tern_call c;
  rec r;
  int64_t start = tern__now_ns();
  reset_counts();
  server_call(&c, &r);
  feed_block(&c, request_block, 0);
  SAY("a 30 ms deadline: DEADLINE_EXCEEDED goes out trailers-only");
  tern__call_start_deadline(&c, start + 30000000);
  run_loop(10);
  CHECK_EQ_INT(r.responds, 0);
  run_loop(60);
  CHECK_EQ_INT(r.responds, 1);
  CHECK(strstr(r.hdrs, "grpc-status: 4\ngrpc-message: deadline exceeded\n"));
  CHECK_EQ_INT(c.aborted, 1);
  c.a0.stream.ops->on_closed(&c.a0.stream, TERN__RST_NO_ERROR, NULL);
  tern__call_cleanup(&c);
}

/* ---- client ------------------------------------------------------------------ */

static void client_call(struct tern_call *c, rec *r) {
  rec_init(r, 1);
  CHECK_EQ_INT(tern__call_init(c, 1, &raw_method, &client_hooks, g_loop, -1),
               TERN_OK);
}

static void open_request(struct tern_call *c, rec *r, tern_metadata *md) {
  tern__request_info info;
  tern__hdrs l;
  memset(&info, 0, sizeof(info));
  info.scheme = "http";
  info.authority = "example:1";
  info.user_agent = "test/1";
  info.md[1] = md;
  tern__hdrs_init(&l);
  tern__call_request_headers(c, &info, &l);
  CHECK_EQ_INT(l.failed, 0);
  CHECK_EQ_INT(tern__call_open_stream(c, &r->base, &l), 1);
  tern__hdrs_free(&l);
}

static void test_client_request_headers_and_body(void) {
  struct tern_call c;
  rec r;
  tern_metadata *md;
  tern__buf out = TERN__BUF_INIT;
  unsigned flags;
  reset_counts();
  client_call(&c, &r);
  CHECK_EQ_INT(tern_metadata_new(&md), TERN_OK);
  CHECK_EQ_INT(tern_metadata_add(md, "x-a", "b"), TERN_OK);
  CHECK_EQ_INT(tern_metadata_add_bin(md, "x-b-bin", "\x00\x01\x02", 3),
               TERN_OK);
  CHECK_EQ_INT(tern__call_set_send_alg(&c, TERN_COMPRESS_GZIP), TERN_OK);
  c.deadline_ns = tern__now_ns() + 1500000000LL;
  open_request(&c, &r, md);
  SAY("the request headers: pseudo-headers, gRPC's, the timeout rounded up, "
      "metadata with -bin in base64");
  {
    static const char head[] =
        ":method: POST\n:scheme: http\n:path: /s.S/M\n"
        ":authority: example:1\nte: trailers\n"
        "content-type: application/grpc\nuser-agent: test/1\n"
        "grpc-accept-encoding: identity,deflate,gzip\n"
        "grpc-encoding: gzip\ngrpc-timeout: ";
    const char *t = r.hdrs + sizeof(head) - 1;
    char *end;
    long us;
    CHECK_EQ_MEM(r.hdrs, sizeof(head) - 1, head, sizeof(head) - 1);
    us = strtol(t, &end, 10);
    SAY("grpc-timeout is what is left of 1.5 s, in microseconds: %ld", us);
    CHECK(us > 1000000 && us <= 1500000);
    CHECK_EQ_STR(end, "u\nx-a: b\nx-b-bin: AAEC\n");
  }
  SAY("a message and the half-close: its bytes, then EOF without trailers");
  CHECK_EQ_INT(tern__call_queue_out(&c, encode("ping"), TERN__QUEUE_FORCE),
               TERN_OK);
  CHECK_EQ_INT(pull_all(&c, &out, 1024, &flags), 9);
  CHECK_EQ_INT(flags, 0);
  CHECK_EQ_INT(tern__call_close_send(&c), 1);
  CHECK_EQ_INT(pull_all(&c, &out, 1024, &flags), 0);
  CHECK_EQ_INT(flags, TERN__OUT_EOF);
  CHECK_EQ_MEM(out.data, out.len, "\x00\x00\x00\x00\x04ping", 9);
  SAY("after the half-close a write is TERN_ESTATE");
  CHECK_EQ_INT(tern__call_queue_out(&c, encode("x"), TERN__QUEUE_FORCE),
               TERN_ESTATE);
  tern__buf_free(&out);
  tern_metadata_free(md);
  tern__conn_detach(&r.base, &c.a0.stream);
  c.a0.stream.ops->on_closed(&c.a0.stream, TERN__RST_NO_ERROR, NULL);
  tern__call_cleanup(&c);
}

static void test_client_request_with_many_metadata_entries(void) {
  struct tern_call c;
  rec r;
  tern_metadata *md;
  char key[16], want[32];
  int i, found = 0;
  reset_counts();
  client_call(&c, &r);
  CHECK_EQ_INT(tern_metadata_new(&md), TERN_OK);
  for (i = 0; i < 40; i++) {
    snprintf(key, sizeof(key), "x-k%d", i);
    CHECK_EQ_INT(tern_metadata_add(md, key, "v"), TERN_OK);
  }
  open_request(&c, &r, md);
  SAY("40 metadata entries, past the list's 24 fields on the stack: all "
      "sent, in order");
  for (i = 0; i < 40; i++) {
    snprintf(want, sizeof(want), "\nx-k%d: v\n", i);
    found += strstr(r.hdrs, want) != NULL;
  }
  CHECK_EQ_INT(found, 40);
  CHECK(strstr(r.hdrs, "x-k0: v\nx-k1: v\n") != NULL);
  tern_metadata_free(md);
  tern__conn_detach(&r.base, &c.a0.stream);
  c.a0.stream.ops->on_closed(&c.a0.stream, TERN__RST_NO_ERROR, NULL);
  tern__call_cleanup(&c);
}

static void test_client_response_split_anywhere(void) {
  static const uint8_t body[] = "\x00\x00\x00\x00\x05hello";
  size_t step;
  for (step = 1; step <= sizeof(body) - 1; step += 3) {
    struct tern_call c;
    rec r;
    tern__msg *m;
    reset_counts();
    client_call(&c, &r);
    open_request(&c, &r, NULL);
    feed_block(&c, ":status: 200\ncontent-type: application/grpc\nx-h: 1\n",
               0);
    feed_bytes(&c, body, sizeof(body) - 1, step);
    feed_block(&c, "grpc-status: 0\nx-t: 2\n", TERN__HEADERS_END_STREAM);
    SAY("headers, a message in %zu-byte chunks, trailers: status OK, "
        "metadata in the right lists",
        step);
    CHECK_EQ_INT(c.http_status, 200);
    CHECK_EQ_INT(c.grpc_status, 0);
    CHECK_EQ_INT(c.headers_in, 1);
    CHECK_EQ_STR(tern_metadata_get(c.in_md, "x-h", NULL), "1");
    CHECK_EQ_STR(tern_metadata_get(c.trailers, "x-t", NULL), "2");
    CHECK_EQ_INT(g_messages, 1);
    CHECK_EQ_INT(g_half_closes, 1);
    CHECK_EQ_INT(tern__call_take_in(&c, &m, 0), 1);
    CHECK_EQ_MEM(m->data, m->len, "hello", 5);
    tern__call_msg_free(&c, m);
    SAY("once the response headers are in, the call cannot be replayed");
    CHECK_EQ_INT(tern__call_rewind(&c), -1);
    tern__conn_detach(&r.base, &c.a0.stream);
    c.a0.stream.ops->on_closed(&c.a0.stream, TERN__RST_NO_ERROR, NULL);
    tern__call_cleanup(&c);
  }
}

static void test_client_trailers_only_response(void) {
  struct tern_call c;
  rec r;
  reset_counts();
  client_call(&c, &r);
  open_request(&c, &r, NULL);
  SAY("one block that ends the stream is trailers-only: its metadata are "
      "trailers, grpc-message percent-decoded");
  feed_block(&c,
             ":status: 200\ncontent-type: application/grpc\n"
             "grpc-status: 7\ngrpc-message: no%20way\nx-why: policy\n",
             TERN__HEADERS_END_STREAM);
  CHECK_EQ_INT(c.grpc_status, TERN_STATUS_PERMISSION_DENIED);
  CHECK_EQ_STR(c.grpc_message, "no way");
  CHECK(c.in_md == NULL);
  CHECK_EQ_STR(tern_metadata_get(c.trailers, "x-why", NULL), "policy");
  CHECK_EQ_INT(g_half_closes, 1);
  tern__conn_detach(&r.base, &c.a0.stream);
  c.a0.stream.ops->on_closed(&c.a0.stream, TERN__RST_NO_ERROR, NULL);
  tern__call_cleanup(&c);
}

static void test_client_cancel_and_deadline_reset_the_stream(void) {
  struct tern_call c;
  rec r;
  reset_counts();
  client_call(&c, &r);
  CHECK_EQ_INT(tern__call_share(&c), TERN_OK);
  open_request(&c, &r, NULL);
  SAY("a cancel from another thread: the loop resets the stream CANCEL");
  CHECK_EQ_INT(tern__call_request_cancel(&c), 1);
  CHECK_EQ_INT(tern__call_request_cancel(&c), 0);
  tern__call_wake(&c);
  run_loop(5);
  CHECK_EQ_INT(r.resets, 1);
  CHECK_EQ_INT(r.reset_code, TERN__RST_CANCEL);
  tern__conn_detach(&r.base, &c.a0.stream);
  c.a0.stream.ops->on_closed(&c.a0.stream, TERN__RST_CANCEL, NULL);
  tern__call_cleanup(&c);

  reset_counts();
  client_call(&c, &r);
  open_request(&c, &r, NULL);
  SAY("a 20 ms deadline runs the owner's deadline hook, which resets");
  tern__call_start_deadline(&c, tern__now_ns() + 20000000);
  run_loop(60);
  CHECK_EQ_INT(g_deadlines, 1);
  CHECK_EQ_INT(r.resets, 1);
  CHECK_EQ_INT(r.reset_code, TERN__RST_CANCEL);
  tern__conn_detach(&r.base, &c.a0.stream);
  c.a0.stream.ops->on_closed(&c.a0.stream, TERN__RST_CANCEL, NULL);
  tern__call_stop_deadline(&c);
  tern__call_cleanup(&c);
}

static void test_client_refused_stream_rewinds_for_a_replay(void) {
  struct tern_call c;
  rec r;
  tern__buf out = TERN__BUF_INIT;
  unsigned flags;
  reset_counts();
  client_call(&c, &r);
  open_request(&c, &r, NULL);
  CHECK_EQ_INT(tern__call_queue_out(&c, encode("one"), TERN__QUEUE_FORCE),
               TERN_OK);
  tern__call_close_send(&c);
  CHECK_EQ_INT(pull_all(&c, &out, 1024, &flags), 8);
  CHECK_EQ_INT(flags, TERN__OUT_EOF);
  tern__conn_detach(&r.base, &c.a0.stream);
  c.a0.stream.ops->on_closed(&c.a0.stream, TERN__RST_REFUSED_STREAM, NULL);
  SAY("a refused stream: the sent message comes back for a new stream");
  CHECK_EQ_INT(g_closed_error, TERN__RST_REFUSED_STREAM);
  CHECK_EQ_INT(tern__call_rewind(&c), 0);
  open_request(&c, &r, NULL);
  out.len = 0;
  CHECK_EQ_INT(pull_all(&c, &out, 1024, &flags), 8);
  CHECK_EQ_INT(flags, TERN__OUT_EOF);
  CHECK_EQ_MEM(out.data, out.len, "\x00\x00\x00\x00\x03one", 8);
  tern__buf_free(&out);
  tern__conn_detach(&r.base, &c.a0.stream);
  c.a0.stream.ops->on_closed(&c.a0.stream, TERN__RST_NO_ERROR, NULL);
  tern__call_cleanup(&c);
}

int main(void) {
  if (tern__loop_new(&g_loop) != TERN_OK) {
    printf("cannot make a loop\n");
    return 1;
  }
  RUN_TEST(test_server_parses_request_headers_and_body_split_anywhere);
  RUN_TEST(test_server_unary_response_headers_message_trailers);
  RUN_TEST(test_server_status_alone_is_trailers_only);
  RUN_TEST(test_server_bad_requests_and_header_limit);
  RUN_TEST(test_server_cancelled_by_the_client);
  RUN_TEST(test_server_deadline_fails_the_call);
  RUN_TEST(test_client_request_headers_and_body);
  RUN_TEST(test_client_request_with_many_metadata_entries);
  RUN_TEST(test_client_response_split_anywhere);
  RUN_TEST(test_client_trailers_only_response);
  RUN_TEST(test_client_cancel_and_deadline_reset_the_stream);
  RUN_TEST(test_client_refused_stream_rewinds_for_a_replay);
  tern__loop_free(g_loop);
  return TEST_SUMMARY("call");
}
