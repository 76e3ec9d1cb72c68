/* The in-process transport carries real calls: a client call and a server
 * call (the call layer's own state machines, with small owners standing
 * in for the channel and the server) on a connected pair on one loop, no
 * sockets. Echo, a message bigger than the window, resets both ways, a
 * lost connection, GOAWAY and a refused stream. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call/call_int.h"
#include "raw_codec.h"
#include "test.h"

static tern__loop *g_loop;

/* ---- the server's owner: echoes what it read when the client is done --- */

typedef struct srv_call {
  struct tern_call c; /* first */
  int headers;
} srv_call;

static int g_srv_calls, g_srv_closed, g_srv_freed;
static uint32_t g_srv_closed_error;
static int g_echo_reset; /* answer with a reset instead */

static void s_headers(struct tern_call *c) { ((srv_call *)c)->headers++; }
static void s_message(struct tern_call *c) { (void)c; }
static void s_half_close(struct tern_call *c) {
  tern__msg *m;
  if (g_echo_reset) {
    tern__call_reset(c, TERN__RST_INTERNAL_ERROR);
    return;
  }
  tern__call_add_metadata(c, 1, "x-count", "1", 0, 0);
  while (tern__call_take_in(c, &m, 0) == 1) {
    tern__msg *out = tern__call_msg_new(c, TERN__MSG_OUT, 5 + m->len);
    out->data[0] = 0;
    out->data[1] = (uint8_t)(m->len >> 24);
    out->data[2] = (uint8_t)(m->len >> 16);
    out->data[3] = (uint8_t)(m->len >> 8);
    out->data[4] = (uint8_t)m->len;
    memcpy(out->data + 5, m->data, m->len);
    tern__call_msg_free(c, m);
    tern__call_queue_out(c, out, TERN__QUEUE_FORCE);
  }
  tern__call_end(c, TERN_STATUS_OK, NULL, 0);
}
static void s_closed(struct tern_call *c, uint32_t error, const char *why) {
  (void)c;
  (void)why;
  g_srv_closed++;
  g_srv_closed_error = error;
}
static void s_destroy(struct tern_call *c) {
  tern__call_cleanup(c);
  free(c);
  g_srv_freed++;
}
static const tern__call_hooks srv_hooks = {
    s_headers, s_message, s_half_close, s_closed, s_destroy, NULL, NULL,
    NULL};

static tern__stream *on_new_stream(tern__conn *conn) {
  srv_call *sc = calloc(1, sizeof(*sc));
  (void)conn;
  if (!sc)
    return NULL;
  tern__call_init(&sc->c, 0, NULL, &srv_hooks, g_loop, -1);
  tern__call_set_method(&sc->c, &raw_method);
  g_srv_calls++;
  return tern__call_stream(&sc->c);
}

static int g_conns_closed, g_goaways;
static void on_closed(tern__conn *conn) {
  (void)conn;
  g_conns_closed++;
}
static void on_goaway(tern__conn *conn) {
  (void)conn;
  g_goaways++;
}
static const tern__conn_ops server_ops = {on_new_stream, NULL, on_closed,
                                          NULL};
static const tern__conn_ops client_ops = {NULL, on_goaway, on_closed, NULL};

/* ---- the client's owner ---------------------------------------------------- */

static int g_cli_half_closes, g_cli_closed;
static uint32_t g_cli_closed_error;
static const char *g_cli_why;

static void c_half_close(struct tern_call *c) {
  (void)c;
  g_cli_half_closes++;
}
static void c_closed(struct tern_call *c, uint32_t error, const char *why) {
  (void)c;
  g_cli_closed++;
  g_cli_closed_error = error;
  g_cli_why = why;
  tern__loop_stop(g_loop);
}
static void c_destroy(struct tern_call *c) { (void)c; }
static const tern__call_hooks cli_hooks = {NULL,     NULL,      c_half_close,
                                           c_closed, c_destroy, NULL,
                                           NULL,     NULL};

static void reset_counts(void) {
  g_srv_calls = g_srv_closed = g_srv_freed = 0;
  g_srv_closed_error = 0;
  g_echo_reset = 0;
  g_conns_closed = g_goaways = 0;
  g_cli_half_closes = g_cli_closed = 0;
  g_cli_closed_error = 0;
  g_cli_why = NULL;
}

/* Runs the loop until the client's stream closes, or ms pass. */
static void stop_timer(tern__timer *t) { tern__loop_stop(t->data); }
static void run_loop(int ms) {
  tern__timer t;
  tern__timer_init(&t, stop_timer, g_loop);
  tern__timer_start(g_loop, &t, tern__now_ns() + (int64_t)ms * 1000000);
  tern__loop_run(g_loop);
  tern__timer_stop(g_loop, &t);
}

static int32_t start(struct tern_call *c, tern__conn *conn, size_t msg_len,
                     int close) {
  tern__request_info info;
  tern__hdrs l;
  int32_t id;
  memset(&info, 0, sizeof(info));
  info.scheme = "http";
  info.authority = "inproc";
  info.user_agent = "test";
  tern__call_init(c, 1, &raw_method, &cli_hooks, g_loop, -1);
  if (msg_len) {
    tern__msg *m = tern__call_msg_new(c, TERN__MSG_OUT, 5 + msg_len);
    size_t i;
    m->data[0] = 0;
    m->data[1] = (uint8_t)(msg_len >> 24);
    m->data[2] = (uint8_t)(msg_len >> 16);
    m->data[3] = (uint8_t)(msg_len >> 8);
    m->data[4] = (uint8_t)msg_len;
    for (i = 0; i < msg_len; i++)
      m->data[5 + i] = (uint8_t)(i * 7);
    tern__call_queue_out(c, m, TERN__QUEUE_FORCE);
  }
  if (close)
    tern__call_close_send(c);
  tern__hdrs_init(&l);
  tern__call_request_headers(c, &info, &l);
  id = tern__call_open_stream(c, conn, &l);
  tern__hdrs_free(&l);
  return id;
}

static void test_echo_of_small_and_window_sized_messages(void) {
  static const size_t sizes[] = {0, 3, 100000, 3 * 1024 * 1024 + 17};
  size_t k;
  for (k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
    tern__conn *cc, *sc;
    struct tern_call c;
    tern__msg *m;
    reset_counts();
    CHECK_EQ_INT(tern__inproc_pair(g_loop, &client_ops, NULL, &server_ops,
                                   NULL, &cc, &sc),
                 TERN_OK);
    CHECK_EQ_INT(start(&c, cc, sizes[k], 1), 1);
    run_loop(5000);
    SAY("a %zu-byte message goes there and back: status 0, trailers, both "
        "streams closed NO_ERROR",
        sizes[k]);
    CHECK_EQ_INT(g_srv_calls, 1);
    CHECK_EQ_INT(c.http_status, 200);
    CHECK_EQ_INT(c.grpc_status, 0);
    CHECK_EQ_STR(tern_metadata_get(c.trailers, "x-count", NULL), "1");
    CHECK_EQ_INT(g_cli_half_closes, 1);
    CHECK_EQ_INT(g_cli_closed, 1);
    CHECK_EQ_INT(g_cli_closed_error, TERN__RST_NO_ERROR);
    CHECK_EQ_INT(g_srv_closed, 1);
    CHECK_EQ_INT(g_srv_freed, 1);
    CHECK_EQ_INT(cc->n_streams, 0);
    CHECK_EQ_INT(sc->n_streams, 0);
    if (sizes[k] > 0) {
      CHECK_EQ_INT(tern__call_take_in(&c, &m, 0), 1);
      CHECK_EQ_INT(m->len, sizes[k]);
      CHECK(m->len == sizes[k] && m->data[m->len - 1] ==
                                      (uint8_t)((sizes[k] - 1) * 7));
      tern__call_msg_free(&c, m);
    }
    tern__call_cleanup(&c);
    tern__conn_close(cc);
    SAY("closing one side closes both: each owner told once");
    CHECK_EQ_INT(g_conns_closed, 2);
    run_loop(1); /* frees the pair */
  }
}

static void test_resets_both_ways(void) {
  tern__conn *cc, *sc;
  struct tern_call c;
  reset_counts();
  CHECK_EQ_INT(tern__inproc_pair(g_loop, &client_ops, NULL, &server_ops, NULL,
                                 &cc, &sc),
               TERN_OK);
  g_echo_reset = 1;
  start(&c, cc, 10, 1);
  run_loop(2000);
  SAY("a server's reset reaches the client with its code");
  CHECK_EQ_INT(g_cli_closed, 1);
  CHECK_EQ_INT(g_cli_closed_error, TERN__RST_INTERNAL_ERROR);
  CHECK_EQ_INT(g_srv_closed_error, TERN__RST_INTERNAL_ERROR);
  tern__call_cleanup(&c);

  reset_counts();
  start(&c, cc, 10, 0); /* not half-closed: the server waits */
  run_loop(20);
  CHECK_EQ_INT(g_srv_calls, 1);
  SAY("a client's cancel reaches the server, whose call is then done");
  tern__call_reset(&c, TERN__RST_CANCEL);
  run_loop(2000);
  CHECK_EQ_INT(g_cli_closed_error, TERN__RST_CANCEL);
  CHECK_EQ_INT(g_srv_closed, 1);
  CHECK_EQ_INT(g_srv_closed_error, TERN__RST_CANCEL);
  CHECK_EQ_INT(g_srv_freed, 1);
  tern__call_cleanup(&c);
  tern__conn_close(sc);
  run_loop(1);
}

static void test_lost_connection_goaway_and_refusal(void) {
  tern__conn *cc, *sc;
  struct tern_call c, c2;
  reset_counts();
  CHECK_EQ_INT(tern__inproc_pair(g_loop, &client_ops, NULL, &server_ops, NULL,
                                 &cc, &sc),
               TERN_OK);
  start(&c, cc, 10, 0);
  run_loop(20);
  SAY("a connection closed under open streams: both sides CONN_LOST");
  tern__conn_close(cc);
  CHECK_EQ_INT(g_cli_closed_error, TERN__CONN_LOST);
  CHECK(g_cli_why != NULL);
  CHECK_EQ_INT(g_srv_closed_error, TERN__CONN_LOST);
  CHECK_EQ_INT(g_conns_closed, 2);
  tern__call_cleanup(&c);
  run_loop(1);

  reset_counts();
  CHECK_EQ_INT(tern__inproc_pair(g_loop, &client_ops, NULL, &server_ops, NULL,
                                 &cc, &sc),
               TERN_OK);
  start(&c, cc, 10, 0);
  run_loop(20);
  SAY("the server's GOAWAY: the client hears it, takes no new stream, and "
      "the open one still completes");
  tern__conn_shutdown(sc);
  run_loop(20);
  CHECK_EQ_INT(g_goaways, 1);
  CHECK_EQ_INT(cc->draining, 1);
  CHECK(start(&c2, cc, 1, 1) < 0);
  tern__call_cleanup(&c2);
  tern__call_close_send(&c);
  tern__call_wake(&c);
  run_loop(2000);
  CHECK_EQ_INT(g_cli_closed_error, TERN__RST_NO_ERROR);
  CHECK_EQ_INT(c.grpc_status, 0);
  SAY("with its last stream done, the draining connection closes");
  run_loop(5);
  CHECK_EQ_INT(g_conns_closed, 2);
  tern__call_cleanup(&c);
  run_loop(1);

  reset_counts();
  CHECK_EQ_INT(tern__inproc_pair(g_loop, &client_ops, NULL, &server_ops, NULL,
                                 &cc, &sc),
               TERN_OK);
  start(&c, cc, 10, 0);
  run_loop(20);
  sc->draining = 1; /* the server stops taking streams, GOAWAY not yet out */
  start(&c2, cc, 10, 1);
  run_loop(2000);
  SAY("a stream the server does not take is refused, unprocessed");
  CHECK_EQ_INT(g_srv_calls, 1);
  CHECK_EQ_INT(g_cli_closed_error, TERN__RST_REFUSED_STREAM);
  tern__call_cleanup(&c2);
  tern__conn_close(cc);
  tern__call_cleanup(&c);
  run_loop(1);
}

int main(void) {
  if (tern__loop_new(&g_loop) != TERN_OK) {
    printf("cannot make a loop\n");
    return 1;
  }
  RUN_TEST(test_echo_of_small_and_window_sized_messages);
  RUN_TEST(test_resets_both_ways);
  RUN_TEST(test_lost_connection_goaway_and_refusal);
  tern__loop_free(g_loop);
  return TEST_SUMMARY("inproc");
}
