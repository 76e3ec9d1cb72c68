/* End-to-end tests of the runtime: status codes, limits, multiplexing,
 * inline handlers, deadlines, cancellation, bidi from two threads, large
 * messages, targets, and graceful shutdown. Server and client in one
 * process, on 127.0.0.1 and a unix socket. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "echo.tern.h"
#include "tern/protobuf_c.h"
#include "test.h"

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the service ------------------------------------------------------ */

static int g_cancels_seen; /* handlers that saw their call cancelled */
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;

/* Sleeps delay_ms in 5 ms steps; returns 1 if the call was cancelled. */
static int nap(tern_server_call *call, int delay_ms) {
  int waited;
  for (waited = 0; waited < delay_ms; waited += 5) {
    if (tern_server_call_is_cancelled(call)) {
      pthread_mutex_lock(&g_mu);
      g_cancels_seen++;
      pthread_mutex_unlock(&g_mu);
      return 1;
    }
    usleep(5000);
  }
  return 0;
}

static void fill(tern_server_call *call, const Tern__Test__EchoRequest *req,
                 Tern__Test__EchoResponse *resp) {
  if (req->response_size > 0) {
    uint8_t *p = tern_server_call_alloc(call, (size_t)req->response_size);
    memset(p, 'r', (size_t)req->response_size);
    resp->payload.data = p;
    resp->payload.len = (size_t)req->response_size;
  } else {
    resp->payload = req->payload; /* valid until the handler returns */
    resp->payload.data =
        tern_server_call_alloc(call, req->payload.len ? req->payload.len : 1);
    if (req->payload.len)
      memcpy(resp->payload.data, req->payload.data, req->payload.len);
  }
}

static tern_status_code h_unary(tern_server_call *call,
                                const Tern__Test__EchoRequest *req,
                                Tern__Test__EchoResponse *resp, void *ud) {
  (void)ud;
  if (req->delay_ms && nap(call, req->delay_ms))
    return TERN_STATUS_CANCELLED;
  if (req->code) {
    tern_server_call_set_message(call, req->message);
    return (tern_status_code)req->code;
  }
  fill(call, req, resp);
  return TERN_STATUS_OK;
}

static tern_status_code h_server_stream(tern_server_call *call,
                                        const Tern__Test__EchoRequest *req,
                                        void *ud) {
  int i;
  (void)ud;
  for (i = 0; i < req->count; i++) {
    Tern__Test__EchoResponse r = TERN__TEST__ECHO_RESPONSE__INIT;
    fill(call, req, &r);
    r.index = i;
    if (tern_server_call_write(call, &r) != TERN_OK)
      return TERN_STATUS_CANCELLED;
  }
  if (req->delay_ms && nap(call, req->delay_ms))
    return TERN_STATUS_CANCELLED;
  return (tern_status_code)req->code;
}

static tern_status_code h_client_stream(tern_server_call *call,
                                        Tern__Test__EchoResponse *resp,
                                        void *ud) {
  Tern__Test__EchoRequest *req;
  int n = 0, rv;
  size_t bytes = 0;
  (void)ud;
  while ((rv = tern__test__echo_servicer__client_stream_read(call, &req)) ==
         1) {
    n++;
    bytes += req->payload.len;
    tern__test__echo_request__free_unpacked(req, NULL);
  }
  if (rv < 0)
    return TERN_STATUS_CANCELLED;
  resp->index = n;
  resp->payload.len = bytes; /* echo the byte count as a zero buffer */
  resp->payload.data = tern_server_call_alloc(call, bytes ? bytes : 1);
  return TERN_STATUS_OK;
}

static tern_status_code h_bidi(tern_server_call *call, void *ud) {
  Tern__Test__EchoRequest *req;
  int rv, i = 0;
  (void)ud;
  while ((rv = tern__test__echo_servicer__bidi_read(call, &req)) == 1) {
    Tern__Test__EchoResponse r = TERN__TEST__ECHO_RESPONSE__INIT;
    r.payload = req->payload;
    r.index = i++;
    rv = tern__test__echo_servicer__bidi_write(call, &r);
    tern__test__echo_request__free_unpacked(req, NULL);
    if (rv != TERN_OK)
      return TERN_STATUS_CANCELLED;
  }
  if (rv < 0) {
    pthread_mutex_lock(&g_mu);
    g_cancels_seen++;
    pthread_mutex_unlock(&g_mu);
    return TERN_STATUS_CANCELLED;
  }
  return TERN_STATUS_OK;
}

static const Tern__Test__EchoServicer servicer = {h_unary, h_server_stream,
                                                 h_client_stream, h_bidi};
/* ---- inline versions: never block, return PENDING to be run again ---- */

typedef struct stream_state {
  int next;           /* server-streaming: next index to send */
  int n;              /* client-streaming / bidi: messages seen */
  size_t bytes;
  Tern__Test__EchoRequest *unsent; /* bidi: echo refused with EAGAIN */
} stream_state;

static stream_state *state_of(tern_server_call *call) {
  stream_state *st = tern_server_call_state(call);
  if (!st) {
    st = tern_server_call_alloc(call, sizeof(*st));
    tern_server_call_set_state(call, st);
  }
  return st;
}

static tern_status_code hi_server_stream(tern_server_call *call,
                                         const Tern__Test__EchoRequest *req,
                                         void *ud) {
  stream_state *st = state_of(call);
  (void)ud;
  while (st->next < req->count) {
    Tern__Test__EchoResponse r = TERN__TEST__ECHO_RESPONSE__INIT;
    int rv;
    fill(call, req, &r);
    r.index = st->next;
    rv = tern__test__inline_echo_servicer__server_stream_write(call, &r);
    if (rv == TERN_EAGAIN)
      return TERN_STATUS_PENDING; /* run again when there is room */
    if (rv != TERN_OK)
      return TERN_STATUS_CANCELLED;
    st->next++;
  }
  return (tern_status_code)req->code;
}

static tern_status_code hi_client_stream(tern_server_call *call,
                                         Tern__Test__EchoResponse *resp,
                                         void *ud) {
  stream_state *st = state_of(call);
  Tern__Test__EchoRequest *req;
  int rv;
  (void)ud;
  while ((rv = tern__test__inline_echo_servicer__client_stream_read(
              call, &req)) == 1) {
    st->n++;
    st->bytes += req->payload.len;
    tern__test__echo_request__free_unpacked(req, NULL);
  }
  if (rv == TERN_EAGAIN)
    return TERN_STATUS_PENDING;
  if (rv < 0)
    return TERN_STATUS_CANCELLED;
  resp->index = st->n;
  resp->payload.len = st->bytes;
  resp->payload.data = tern_server_call_alloc(call, st->bytes ? st->bytes : 1);
  return TERN_STATUS_OK;
}

static tern_status_code hi_bidi(tern_server_call *call, void *ud) {
  stream_state *st = state_of(call);
  int rv;
  (void)ud;
  for (;;) {
    Tern__Test__EchoRequest *req = st->unsent;
    Tern__Test__EchoResponse r = TERN__TEST__ECHO_RESPONSE__INIT;
    st->unsent = NULL;
    if (!req) {
      rv = tern__test__inline_echo_servicer__bidi_read(call, &req);
      if (rv == TERN_EAGAIN)
        return TERN_STATUS_PENDING;
      if (rv == 0)
        return TERN_STATUS_OK;
      if (rv < 0)
        return TERN_STATUS_CANCELLED;
    }
    r.payload = req->payload;
    r.index = st->n;
    rv = tern__test__inline_echo_servicer__bidi_write(call, &r);
    if (rv == TERN_EAGAIN) {
      st->unsent = req; /* keep it for the next run */
      return TERN_STATUS_PENDING;
    }
    tern__test__echo_request__free_unpacked(req, NULL);
    if (rv != TERN_OK)
      return TERN_STATUS_CANCELLED;
    st->n++;
  }
}

static const Tern__Test__InlineEchoServicer inline_servicer = {
    h_unary, hi_server_stream, hi_client_stream, hi_bidi};

static tern_server *g_server;
static int g_port;
static int g_port6; /* [::1], when the machine has IPv6 loopback */
static char g_target[64];
static char g_unix_path[64];

static tern_server *start_server(int *port, int with_unix) {
  tern_server *s;
  tern_server_options o = TERN_SERVER_OPTIONS_INIT;
  o.workers = 4;
  CHECK_EQ_INT(tern_server_new(&s, &o), TERN_OK);
  CHECK_EQ_INT(tern__test__add_echo_servicer_to_server(&servicer, s, NULL),
               TERN_OK);
  CHECK_EQ_INT(tern_server_register(s, &tern__test__inline_echo__tern_service,
                                    &inline_servicer, NULL,
                                    TERN_REGISTER_INLINE),
               TERN_OK);
  CHECK_EQ_INT(tern_server_add_insecure_port(s, "127.0.0.1:0", port),
               TERN_OK);
  if (with_unix) {
    char addr[128];
    /* Not every machine has ::1; the test says so when it is missing. */
    if (tern_server_add_insecure_port(s, "[::1]:0", &g_port6) != TERN_OK)
      g_port6 = 0;
    snprintf(addr, sizeof(addr), "unix:%s", g_unix_path);
    CHECK_EQ_INT(tern_server_add_insecure_port(s, addr, NULL), TERN_OK);
  }
  CHECK_EQ_INT(tern_server_start(s), TERN_OK);
  return s;
}

static tern_channel *channel(void) {
  tern_channel *ch = NULL;
  CHECK_EQ_INT(tern_channel_new(&ch, g_target, NULL), TERN_OK);
  return ch;
}

/* ---- tests ------------------------------------------------------------------ */

static void test_every_status_code_and_message_round_trip(void) {
  tern_channel *ch = channel();
  Tern__Test__EchoStub stub;
  int code;
  tern__test__echo_stub_init(&stub, ch);
  for (code = 1; code <= 16; code++) {
    Tern__Test__EchoRequest req = TERN__TEST__ECHO_REQUEST__INIT;
    Tern__Test__EchoResponse *resp = NULL;
    tern_status st = TERN_STATUS_INIT;
    tern_status_code got;
    char msg[64];
    snprintf(msg, sizeof(msg), "code %d: 100%% \xc3\xbc\n\ttab", code);
    req.code = code;
    req.message = msg;
    got = tern__test__echo_stub__unary(&stub, &req, &resp, NULL, &st);
    SAY("%s comes back with its message, percent and UTF-8 intact",
        tern_status_code_name((tern_status_code)code));
    CHECK_EQ_INT(got, code);
    CHECK_EQ_INT(st.code, code);
    CHECK_EQ_STR(st.message, msg);
    CHECK(resp == NULL);
    tern_status_clear(&st);
  }
  tern_channel_free(ch);
}

static void test_receive_limit_gives_resource_exhausted_and_channel_lives(
    void) {
  tern_channel *ch = channel();
  tern_channel *small;
  tern_channel_options co = TERN_CHANNEL_OPTIONS_INIT;
  Tern__Test__EchoStub stub;
  Tern__Test__EchoRequest req = TERN__TEST__ECHO_REQUEST__INIT;
  Tern__Test__EchoResponse *resp = NULL;
  tern_status st = TERN_STATUS_INIT;
  size_t big = 5u << 20;
  uint8_t *payload = calloc(1, big);
  tern__test__echo_stub_init(&stub, ch);
  req.payload.data = payload;
  req.payload.len = big;
  SAY("a 5 MiB request to a server with the 4 MiB default: "
      "RESOURCE_EXHAUSTED");
  CHECK_EQ_INT(tern__test__echo_stub__unary(&stub, &req, &resp, NULL, &st),
               TERN_STATUS_RESOURCE_EXHAUSTED);
  tern_status_clear(&st);
  SAY("the same channel then carries a 3 MiB request and response");
  req.payload.len = 3u << 20;
  CHECK_EQ_INT(tern__test__echo_stub__unary(&stub, &req, &resp, NULL, &st),
               TERN_STATUS_OK);
  CHECK(resp && resp->payload.len == (3u << 20));
  if (resp)
    tern__test__echo_response__free_unpacked(resp, NULL);
  resp = NULL;
  free(payload);

  co.max_receive_message_size = 1024;
  CHECK_EQ_INT(tern_channel_new(&small, g_target, &co), TERN_OK);
  tern__test__echo_stub_init(&stub, small);
  memset(&req, 0, sizeof(req));
  tern__test__echo_request__init(&req);
  req.response_size = 2048;
  SAY("a 2 KiB response to a client limited to 1 KiB: RESOURCE_EXHAUSTED");
  CHECK_EQ_INT(tern__test__echo_stub__unary(&stub, &req, &resp, NULL, &st),
               TERN_STATUS_RESOURCE_EXHAUSTED);
  tern_status_clear(&st);
  req.response_size = 512;
  CHECK_EQ_INT(tern__test__echo_stub__unary(&stub, &req, &resp, NULL, &st),
               TERN_STATUS_OK);
  if (resp)
    tern__test__echo_response__free_unpacked(resp, NULL);
  tern_channel_free(small);
  tern_channel_free(ch);
}

typedef struct async_state {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int done, ok;
} async_state;

static void on_done(const tern_status *st, void *resp, void *ud) {
  async_state *a = ud;
  Tern__Test__EchoResponse *r = resp;
  pthread_mutex_lock(&a->mu);
  a->done++;
  if (st->code == TERN_STATUS_OK && r && r->payload.len == 3)
    a->ok++;
  pthread_cond_signal(&a->cv);
  pthread_mutex_unlock(&a->mu);
  if (r)
    tern__test__echo_response__free_unpacked(r, NULL);
}

static void test_many_concurrent_calls_share_one_connection(void) {
  tern_channel *ch = channel();
  Tern__Test__EchoStub stub;
  Tern__Test__EchoRequest req = TERN__TEST__ECHO_REQUEST__INIT;
  async_state a = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
  int i, n = 300;
  tern__test__echo_stub_init(&stub, ch);
  req.payload.data = (uint8_t *)"abc";
  req.payload.len = 3;
  req.delay_ms = 20;
  for (i = 0; i < n; i++)
    CHECK_EQ_INT(tern__test__echo_stub__unary_async(&stub, &req, NULL,
                                                    on_done, &a),
                 TERN_OK);
  pthread_mutex_lock(&a.mu);
  while (a.done < n) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 30;
    if (pthread_cond_timedwait(&a.cv, &a.mu, &ts) != 0)
      break;
  }
  pthread_mutex_unlock(&a.mu);
  SAY("%d async calls (more than the 100 concurrent streams) all end OK",
      n);
  CHECK_EQ_INT(a.done, n);
  CHECK_EQ_INT(a.ok, n);
  tern_channel_free(ch);
}

static void test_inline_handlers_serve_unary_and_server_streaming(void) {
  tern_channel *ch = channel();
  Tern__Test__InlineEchoStub stub;
  Tern__Test__EchoRequest req = TERN__TEST__ECHO_REQUEST__INIT;
  Tern__Test__EchoResponse *resp = NULL;
  tern_call *call = NULL;
  int n = 0;
  tern__test__inline_echo_stub_init(&stub, ch);
  req.payload.data = (uint8_t *)"hi";
  req.payload.len = 2;
  SAY("inline unary echoes");
  CHECK_EQ_INT(
      tern__test__inline_echo_stub__unary(&stub, &req, &resp, NULL, NULL),
      TERN_STATUS_OK);
  CHECK(resp && resp->payload.len == 2);
  if (resp)
    tern__test__echo_response__free_unpacked(resp, NULL);
  req.count = 500;
  SAY("inline server-streaming sends 500 messages in order");
  CHECK_EQ_INT(
      tern__test__inline_echo_stub__server_stream(&stub, &req, NULL, &call),
      TERN_OK);
  while (call &&
         tern__test__inline_echo_stub__server_stream_read(call, &resp) == 1) {
    CHECK_EQ_INT(resp->index, n);
    n++;
    tern__test__echo_response__free_unpacked(resp, NULL);
  }
  CHECK_EQ_INT(n, 500);
  CHECK_EQ_INT(tern_call_finish(call, NULL), TERN_STATUS_OK);
  tern_call_free(call);
  tern_channel_free(ch);
}

static void test_deadline_reaches_handler_and_client(void) {
  tern_channel *ch = channel();
  Tern__Test__EchoStub stub;
  Tern__Test__EchoRequest req = TERN__TEST__ECHO_REQUEST__INIT;
  Tern__Test__EchoResponse *resp = NULL;
  tern_call_options o = TERN_CALL_OPTIONS_INIT;
  tern_status st = TERN_STATUS_INIT;
  int before, i;
  int64_t t0 = now_ms();
  tern__test__echo_stub_init(&stub, ch);
  pthread_mutex_lock(&g_mu);
  before = g_cancels_seen;
  pthread_mutex_unlock(&g_mu);
  req.delay_ms = 3000;
  o.timeout_ms = 100;
  SAY("a 100 ms deadline on a 3 s handler: DEADLINE_EXCEEDED, soon");
  CHECK_EQ_INT(tern__test__echo_stub__unary(&stub, &req, &resp, &o, &st),
               TERN_STATUS_DEADLINE_EXCEEDED);
  CHECK(now_ms() - t0 < 2000);
  tern_status_clear(&st);
  SAY("the handler saw its call cancelled (grpc-timeout enforced there too)");
  for (i = 0; i < 200; i++) {
    int now;
    pthread_mutex_lock(&g_mu);
    now = g_cancels_seen;
    pthread_mutex_unlock(&g_mu);
    if (now > before)
      break;
    usleep(10000);
  }
  CHECK(i < 200);
  tern_channel_free(ch);
}

typedef struct bidi_writer {
  tern_call *call;
  int n;
  int failures;
} bidi_writer;

static void *write_all(void *arg) {
  bidi_writer *w = arg;
  int i;
  for (i = 0; i < w->n; i++) {
    Tern__Test__EchoRequest req = TERN__TEST__ECHO_REQUEST__INIT;
    uint8_t buf[100];
    memset(buf, i & 0xff, sizeof(buf));
    req.payload.data = buf;
    req.payload.len = sizeof(buf);
    if (tern__test__echo_stub__bidi_write(w->call, &req) != TERN_OK)
      w->failures++;
  }
  tern_call_close_send(w->call);
  return NULL;
}

static void test_bidi_reads_and_writes_from_two_threads(void) {
  tern_channel *ch = channel();
  Tern__Test__EchoStub stub;
  Tern__Test__EchoResponse *resp;
  bidi_writer w = {NULL, 2000, 0};
  pthread_t th;
  int n = 0, in_order = 1;
  tern__test__echo_stub_init(&stub, ch);
  CHECK_EQ_INT(tern__test__echo_stub__bidi(&stub, NULL, &w.call), TERN_OK);
  pthread_create(&th, NULL, write_all, &w);
  while (tern__test__echo_stub__bidi_read(w.call, &resp) == 1) {
    if (resp->index != n || resp->payload.len != 100 ||
        resp->payload.data[0] != (n & 0xff))
      in_order = 0;
    n++;
    tern__test__echo_response__free_unpacked(resp, NULL);
  }
  pthread_join(th, NULL);
  SAY("2000 messages written by one thread come back, in order, to another");
  CHECK_EQ_INT(w.failures, 0);
  CHECK_EQ_INT(n, 2000);
  CHECK(in_order);
  CHECK_EQ_INT(tern_call_finish(w.call, NULL), TERN_STATUS_OK);
  tern_call_free(w.call);
  tern_channel_free(ch);
}

static void test_client_streaming_counts_and_future(void) {
  tern_channel *ch = channel();
  Tern__Test__EchoStub stub;
  Tern__Test__EchoRequest req = TERN__TEST__ECHO_REQUEST__INIT;
  Tern__Test__EchoResponse *resp = NULL;
  tern_call *call;
  tern_future *f;
  uint8_t buf[1000];
  int i;
  tern__test__echo_stub_init(&stub, ch);
  memset(buf, 1, sizeof(buf));
  req.payload.data = buf;
  req.payload.len = sizeof(buf);
  CHECK_EQ_INT(tern__test__echo_stub__client_stream(&stub, NULL, &call),
               TERN_OK);
  for (i = 0; i < 1000; i++)
    CHECK_EQ_INT(tern__test__echo_stub__client_stream_write(call, &req),
                 TERN_OK);
  CHECK_EQ_INT(tern__test__echo_stub__client_stream_future(call, &f), TERN_OK);
  SAY("1000 x 1000 bytes streamed up: the future reports 1000 and 1000000");
  CHECK_EQ_INT(tern_future_wait(f, 20000), TERN_OK);
  CHECK_EQ_INT(tern__test__echo_stub__client_stream_result(f, &resp, NULL),
               TERN_STATUS_OK);
  CHECK(resp && resp->index == 1000 && resp->payload.len == 1000000);
  if (resp)
    tern__test__echo_response__free_unpacked(resp, NULL);
  tern_future_free(f);
  tern_call_free(call);
  tern_channel_free(ch);
}

static void test_client_cancel_reaches_bidi_handler(void) {
  tern_channel *ch = channel();
  Tern__Test__EchoStub stub;
  Tern__Test__EchoRequest req = TERN__TEST__ECHO_REQUEST__INIT;
  Tern__Test__EchoResponse *resp;
  tern_call *call;
  tern_status st = TERN_STATUS_INIT;
  int before, i;
  tern__test__echo_stub_init(&stub, ch);
  pthread_mutex_lock(&g_mu);
  before = g_cancels_seen;
  pthread_mutex_unlock(&g_mu);
  CHECK_EQ_INT(tern__test__echo_stub__bidi(&stub, NULL, &call), TERN_OK);
  CHECK_EQ_INT(tern__test__echo_stub__bidi_write(call, &req), TERN_OK);
  CHECK_EQ_INT(tern__test__echo_stub__bidi_read(call, &resp), 1);
  tern__test__echo_response__free_unpacked(resp, NULL);
  tern_call_cancel(call);
  SAY("after a cancel the call ends CANCELLED and the handler's read fails");
  CHECK_EQ_INT(tern_call_finish(call, &st), TERN_STATUS_CANCELLED);
  tern_status_clear(&st);
  for (i = 0; i < 300; i++) {
    int now;
    pthread_mutex_lock(&g_mu);
    now = g_cancels_seen;
    pthread_mutex_unlock(&g_mu);
    if (now > before)
      break;
    usleep(10000);
  }
  CHECK(i < 300);
  tern_call_free(call);
  tern_channel_free(ch);
}

static void test_unix_socket_and_address_list_targets(void) {
  char t[256];
  tern_channel *ch;
  Tern__Test__EchoStub stub;
  Tern__Test__EchoRequest req = TERN__TEST__ECHO_REQUEST__INIT;
  Tern__Test__EchoResponse *resp = NULL;
  int dead_port;
  tern_server *tmp;
  snprintf(t, sizeof(t), "unix:%s", g_unix_path);
  SAY("target %s", t);
  CHECK_EQ_INT(tern_channel_new(&ch, t, NULL), TERN_OK);
  tern__test__echo_stub_init(&stub, ch);
  CHECK_EQ_INT(tern__test__echo_stub__unary(&stub, &req, &resp, NULL, NULL),
               TERN_STATUS_OK);
  if (resp)
    tern__test__echo_response__free_unpacked(resp, NULL);
  resp = NULL;
  tern_channel_free(ch);

  /* A port that was just free: nothing listens there. */
  CHECK_EQ_INT(tern_server_new(&tmp, NULL), TERN_OK);
  CHECK_EQ_INT(tern_server_add_insecure_port(tmp, "127.0.0.1:0", &dead_port),
               TERN_OK);
  tern_server_free(tmp);
  snprintf(t, sizeof(t), "ipv4:127.0.0.1:%d,127.0.0.1:%d", dead_port,
           g_port);
  SAY("target %s: the dead first address is skipped", t);
  CHECK_EQ_INT(tern_channel_new(&ch, t, NULL), TERN_OK);
  tern__test__echo_stub_init(&stub, ch);
  CHECK_EQ_INT(tern__test__echo_stub__unary(&stub, &req, &resp, NULL, NULL),
               TERN_STATUS_OK);
  if (resp)
    tern__test__echo_response__free_unpacked(resp, NULL);
  tern_channel_free(ch);

  /* localhost may resolve to ::1 first, where nothing listens: pick-first
   * goes on to 127.0.0.1. */
  snprintf(t, sizeof(t), "dns:///localhost:%d", g_port);
  SAY("target %s", t);
  CHECK_EQ_INT(tern_channel_new(&ch, t, NULL), TERN_OK);
  tern__test__echo_stub_init(&stub, ch);
  resp = NULL;
  CHECK_EQ_INT(tern__test__echo_stub__unary(&stub, &req, &resp, NULL, NULL),
               TERN_STATUS_OK);
  if (resp)
    tern__test__echo_response__free_unpacked(resp, NULL);
  tern_channel_free(ch);

  if (g_port6 > 0) {
    snprintf(t, sizeof(t), "ipv6:[::1]:%d", g_port6);
    SAY("target %s", t);
    CHECK_EQ_INT(tern_channel_new(&ch, t, NULL), TERN_OK);
    tern__test__echo_stub_init(&stub, ch);
    resp = NULL;
    CHECK_EQ_INT(
        tern__test__echo_stub__unary(&stub, &req, &resp, NULL, NULL),
        TERN_STATUS_OK);
    if (resp)
      tern__test__echo_response__free_unpacked(resp, NULL);
    tern_channel_free(ch);
  } else {
    SAY("no IPv6 loopback on this machine: ipv6: target not tried");
  }

  snprintf(t, sizeof(t), "127.0.0.1:%d", dead_port);
  SAY("target %s with nothing listening: UNAVAILABLE at once", t);
  CHECK_EQ_INT(tern_channel_new(&ch, t, NULL), TERN_OK);
  tern__test__echo_stub_init(&stub, ch);
  resp = NULL;
  CHECK_EQ_INT(tern__test__echo_stub__unary(&stub, &req, &resp, NULL, NULL),
               TERN_STATUS_UNAVAILABLE);
  tern_channel_free(ch);
  SAY("bad targets are refused with TERN_EADDR");
  CHECK_EQ_INT(tern_channel_new(&ch, "ipv4:nonsense", NULL), TERN_EADDR);
  CHECK_EQ_INT(tern_channel_new(&ch, "", NULL), TERN_EADDR);
}

typedef struct shutdown_arg {
  tern_server *server;
  int64_t grace_ms;
} shutdown_arg;

static void *do_shutdown(void *arg) {
  shutdown_arg *a = arg;
  usleep(100000); /* let the call reach its handler */
  tern_server_shutdown(a->server, a->grace_ms);
  return NULL;
}

static void test_graceful_shutdown_lets_calls_finish_then_cancels(void) {
  int port;
  tern_server *s = start_server(&port, 0);
  char t[64];
  tern_channel *ch;
  Tern__Test__EchoStub stub;
  Tern__Test__EchoRequest req = TERN__TEST__ECHO_REQUEST__INIT;
  Tern__Test__EchoResponse *resp = NULL;
  shutdown_arg a = {s, 3000};
  pthread_t th;
  int64_t t0;
  snprintf(t, sizeof(t), "127.0.0.1:%d", port);
  CHECK_EQ_INT(tern_channel_new(&ch, t, NULL), TERN_OK);
  tern__test__echo_stub_init(&stub, ch);
  req.delay_ms = 500;
  req.payload.data = (uint8_t *)"x";
  req.payload.len = 1;
  pthread_create(&th, NULL, do_shutdown, &a);
  SAY("a 500 ms call in flight when shutdown(grace 3 s) starts ends OK");
  CHECK_EQ_INT(tern__test__echo_stub__unary(&stub, &req, &resp, NULL, NULL),
               TERN_STATUS_OK);
  if (resp)
    tern__test__echo_response__free_unpacked(resp, NULL);
  resp = NULL;
  pthread_join(th, NULL);
  SAY("after shutdown a new call fails UNAVAILABLE");
  CHECK_EQ_INT(tern__test__echo_stub__unary(&stub, &req, &resp, NULL, NULL),
               TERN_STATUS_UNAVAILABLE);
  tern_server_free(s);
  tern_channel_free(ch);

  s = start_server(&port, 0);
  snprintf(t, sizeof(t), "127.0.0.1:%d", port);
  CHECK_EQ_INT(tern_channel_new(&ch, t, NULL), TERN_OK);
  tern__test__echo_stub_init(&stub, ch);
  a.server = s;
  a.grace_ms = 200;
  req.delay_ms = 20000;
  t0 = now_ms();
  pthread_create(&th, NULL, do_shutdown, &a);
  SAY("a 20 s call outliving a 200 ms grace is cut off, not waited for");
  CHECK(tern__test__echo_stub__unary(&stub, &req, &resp, NULL, NULL) !=
        TERN_STATUS_OK);
  pthread_join(th, NULL);
  CHECK(now_ms() - t0 < 5000);
  tern_server_free(s);
  tern_channel_free(ch);
}

static void test_inline_streaming_handlers_resume_on_events(void) {
  tern_channel *ch = channel();
  Tern__Test__InlineEchoStub stub;
  Tern__Test__EchoRequest req = TERN__TEST__ECHO_REQUEST__INIT;
  Tern__Test__EchoResponse *resp = NULL;
  tern_call *call = NULL;
  int n = 0, in_order = 1, i;
  uint8_t buf[1000];
  tern__test__inline_echo_stub_init(&stub, ch);

  /* 400 x 64 KiB = 25 MiB: far past the windows and the 256 KiB write
   * queue, so the handler hits TERN_EAGAIN and must be run again. */
  req.count = 400;
  req.response_size = 64 * 1024;
  CHECK_EQ_INT(
      tern__test__inline_echo_stub__server_stream(&stub, &req, NULL, &call),
      TERN_OK);
  while (tern__test__inline_echo_stub__server_stream_read(call, &resp) == 1) {
    if (resp->index != n || resp->payload.len != 64 * 1024)
      in_order = 0;
    n++;
    tern__test__echo_response__free_unpacked(resp, NULL);
    if (n % 100 == 0)
      usleep(50000); /* a slow reader: the server must wait, not queue */
  }
  SAY("inline server-streaming of 25 MiB to a slow reader: 400 in order");
  CHECK_EQ_INT(n, 400);
  CHECK(in_order);
  CHECK_EQ_INT(tern_call_finish(call, NULL), TERN_STATUS_OK);
  tern_call_free(call);

  memset(buf, 2, sizeof(buf));
  tern__test__echo_request__init(&req);
  req.payload.data = buf;
  req.payload.len = sizeof(buf);
  CHECK_EQ_INT(tern__test__inline_echo_stub__client_stream(&stub, NULL, &call),
               TERN_OK);
  for (i = 0; i < 300; i++)
    CHECK_EQ_INT(tern__test__inline_echo_stub__client_stream_write(call, &req),
                 TERN_OK);
  resp = NULL;
  SAY("inline client-streaming counts 300 messages and 300000 bytes");
  CHECK_EQ_INT(tern__test__inline_echo_stub__client_stream_close_and_recv(
                   call, &resp, NULL),
               TERN_STATUS_OK);
  CHECK(resp && resp->index == 300 && resp->payload.len == 300000);
  if (resp)
    tern__test__echo_response__free_unpacked(resp, NULL);
  tern_call_free(call);

  {
    /* write_all's stub function is a plain tern_call_write: any call. */
    bidi_writer bw = {NULL, 3000, 0};
    pthread_t th;
    int got = 0, ordered = 1;
    CHECK_EQ_INT(tern__test__inline_echo_stub__bidi(&stub, NULL, &bw.call),
                 TERN_OK);
    pthread_create(&th, NULL, write_all, &bw);
    while (tern__test__inline_echo_stub__bidi_read(bw.call, &resp) == 1) {
      if (resp->index != got || resp->payload.len != 100)
        ordered = 0;
      got++;
      tern__test__echo_response__free_unpacked(resp, NULL);
    }
    pthread_join(th, NULL);
    SAY("inline bidi echoes 3000 messages in order");
    CHECK_EQ_INT(bw.failures, 0);
    CHECK_EQ_INT(got, 3000);
    CHECK(ordered);
    CHECK_EQ_INT(tern_call_finish(bw.call, NULL), TERN_STATUS_OK);
    tern_call_free(bw.call);
  }
  tern_channel_free(ch);
}

/* The codec tern uses for messages it frees itself (a unary handler's
 * request): every piece from the given allocator, nothing to free alone. */
typedef struct bump {
  unsigned char buf[4096];
  size_t used;
  int calls;
} bump;

static void *bump_alloc(void *ctx, size_t n) {
  bump *b = ctx;
  void *p;
  n = (n + 15) & ~(size_t)15;
  if (n > sizeof(b->buf) - b->used)
    return NULL;
  p = b->buf + b->used;
  b->used += n;
  b->calls++;
  return p;
}

static int in_bump(const bump *b, const void *p) {
  return (const unsigned char *)p >= b->buf &&
         (const unsigned char *)p < b->buf + sizeof(b->buf);
}

static void test_protobuf_codec_decodes_into_an_arena(void) {
  Tern__Test__EchoRequest req = TERN__TEST__ECHO_REQUEST__INIT, *out = NULL;
  static bump b;
  uint8_t wire[256];
  size_t n;
  const tern_codec *codec = &tern_protobuf_c_codec;
  req.payload.data = (uint8_t *)"0123456789";
  req.payload.len = 10;
  req.message = "a string field";
  req.count = 7;
  n = protobuf_c_message_pack(&req.base, wire);
  SAY("an EchoRequest with bytes and a string decodes through decode_with");
  CHECK(codec->decode_with != NULL);
  CHECK_EQ_INT(codec->decode_with(&tern__test__echo_request__descriptor, wire,
                                  n, bump_alloc, &b, (void **)&out),
               0);
  CHECK(out != NULL);
  if (!out)
    return;
  CHECK_EQ_INT(out->count, 7);
  CHECK_EQ_MEM(out->payload.data, out->payload.len, "0123456789", 10);
  CHECK_EQ_STR(out->message, "a string field");
  SAY("the message, its bytes and its string all came from the allocator "
      "(%d pieces)", b.calls);
  CHECK(in_bump(&b, out) && in_bump(&b, out->payload.data) &&
        in_bump(&b, out->message));
  SAY("bad bytes fail cleanly (the pieces stay with the arena)");
  wire[0] = 0xff;
  CHECK(codec->decode_with(&tern__test__echo_request__descriptor, wire, n,
                           bump_alloc, &b, (void **)&out) != 0);
}

/* The shutdown is woken by the last call and connection going, not by
 * polling or by the end of its grace: were a wake-up lost between its
 * check and its wait, it would last the whole 5 s grace. Calls of 0 to
 * 45 ms end just before, during and after it starts, in each round. */
static void test_shutdown_returns_when_the_last_call_ends(void) {
  int round;
  for (round = 0; round < 10; round++) {
    tern_future *f[32];
    tern_server *s;
    tern_channel *ch;
    Tern__Test__EchoStub stub;
    Tern__Test__EchoRequest req = TERN__TEST__ECHO_REQUEST__INIT;
    char t[64];
    int port, i, n = 0;
    int64_t t0, took;
    s = start_server(&port, 0);
    snprintf(t, sizeof(t), "127.0.0.1:%d", port);
    CHECK_EQ_INT(tern_channel_new(&ch, t, NULL), TERN_OK);
    tern__test__echo_stub_init(&stub, ch);
    req.payload.data = (uint8_t *)"x";
    req.payload.len = 1;
    for (i = 0; i < 32; i++) {
      req.delay_ms = (i % 10) * 5;
      if (tern__test__echo_stub__unary_future(&stub, &req, NULL, &f[n]) ==
          TERN_OK)
        n++;
    }
    usleep((useconds_t)round * 2000);
    t0 = now_ms();
    tern_server_shutdown(s, 5000);
    took = now_ms() - t0;
    if (took >= 2500)
      printf("  round %d: shutdown took %lld ms\n", round, (long long)took);
    CHECK(took < 2500);
    for (i = 0; i < n; i++) {
      CHECK_EQ_INT(tern_future_wait(f[i], 10000), TERN_OK);
      tern_future_free(f[i]);
    }
    tern_server_free(s);
    tern_channel_free(ch);
  }
}

static void test_listening_address_forms(void) {
  const char *good[] = {"127.0.0.1:0", "0.0.0.0:0", "localhost:0", ":0"};
  const char *bad[] = {"localhost",       "[::1]",      "127.0.0.1:",
                       "127.0.0.1:65536", "127.0.0.1:+1", "[::1]x:0",
                       "[::1:0",          "unix:"};
  tern_server *s;
  size_t i;
  int port;
  CHECK_EQ_INT(tern_server_new(&s, NULL), TERN_OK);
  for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
    SAY("\"%s\" binds a port the system picks", good[i]);
    port = -1;
    CHECK_EQ_INT(tern_server_add_insecure_port(s, good[i], &port), TERN_OK);
    CHECK(port > 0);
  }
  SAY("\"[::]:0\" binds too, where the machine has IPv6");
  port = -1;
  if (tern_server_add_insecure_port(s, "[::]:0", &port) == TERN_OK)
    CHECK(port > 0);
  for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    SAY("\"%s\" is TERN_EADDR", bad[i]);
    CHECK_EQ_INT(tern_server_add_insecure_port(s, bad[i], &port), TERN_EADDR);
  }
  tern_server_free(s);
}

int main(void) {
  snprintf(g_unix_path, sizeof(g_unix_path), "/tmp/tern-core-%d.sock",
           (int)getpid());
  g_server = start_server(&g_port, 1);
  snprintf(g_target, sizeof(g_target), "127.0.0.1:%d", g_port);
  printf("server on %s and unix:%s\n", g_target, g_unix_path);
  RUN_TEST(test_protobuf_codec_decodes_into_an_arena);
  RUN_TEST(test_listening_address_forms);
  RUN_TEST(test_every_status_code_and_message_round_trip);
  RUN_TEST(test_receive_limit_gives_resource_exhausted_and_channel_lives);
  RUN_TEST(test_many_concurrent_calls_share_one_connection);
  RUN_TEST(test_inline_handlers_serve_unary_and_server_streaming);
  RUN_TEST(test_inline_streaming_handlers_resume_on_events);
  RUN_TEST(test_deadline_reaches_handler_and_client);
  RUN_TEST(test_bidi_reads_and_writes_from_two_threads);
  RUN_TEST(test_client_streaming_counts_and_future);
  RUN_TEST(test_client_cancel_reaches_bidi_handler);
  RUN_TEST(test_unix_socket_and_address_list_targets);
  RUN_TEST(test_graceful_shutdown_lets_calls_finish_then_cancels);
  RUN_TEST(test_shutdown_returns_when_the_last_call_ends);
  tern_server_free(g_server);
  unlink(g_unix_path);
  return TEST_SUMMARY("core");
}
