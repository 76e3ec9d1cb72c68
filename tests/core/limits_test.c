/* Server limits and authorization: header list size, max connections,
 * idle timeout, max connection age with grace, handshake timeout, the
 * authorizer hook and call credentials. Each limit gets its protocol
 * answer and the server goes on serving. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "echo.tern.h"
#include "test.h"

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static tern_status_code h_unary(tern_server_call *call,
                                const Tern__Test__EchoRequest *req,
                                Tern__Test__EchoResponse *resp, void *ud) {
  int waited;
  (void)ud;
  (void)resp;
  for (waited = 0; waited < req->delay_ms; waited += 5) {
    if (tern_server_call_is_cancelled(call))
      return TERN_STATUS_CANCELLED;
    usleep(5000);
  }
  return TERN_STATUS_OK;
}

static const Tern__Test__EchoServicer servicer = {h_unary, NULL, NULL, NULL};

static tern_server *start(const tern_server_options *o, int *port) {
  tern_server *s;
  CHECK_EQ_INT(tern_server_new(&s, o), TERN_OK);
  CHECK_EQ_INT(tern__test__add_echo_servicer_to_server(&servicer, s, NULL),
               TERN_OK);
  CHECK_EQ_INT(tern_server_add_insecure_port(s, "127.0.0.1:0", port),
               TERN_OK);
  CHECK_EQ_INT(tern_server_start(s), TERN_OK);
  return s;
}

static tern_channel *chan(int port, const tern_channel_options *o) {
  char t[64];
  tern_channel *ch = NULL;
  snprintf(t, sizeof(t), "127.0.0.1:%d", port);
  CHECK_EQ_INT(tern_channel_new(&ch, t, o), TERN_OK);
  return ch;
}

static tern_status_code unary(tern_channel *ch, int delay_ms,
                              const tern_call_options *o, char *msg,
                              size_t msglen) {
  Tern__Test__EchoStub stub;
  Tern__Test__EchoRequest req = TERN__TEST__ECHO_REQUEST__INIT;
  Tern__Test__EchoResponse *resp = NULL;
  tern_call_options co = TERN_CALL_OPTIONS_INIT;
  tern_status st = TERN_STATUS_INIT;
  tern_status_code code;
  if (o)
    co = *o;
  if (co.timeout_ms == 0)
    co.timeout_ms = 10000;
  tern__test__echo_stub_init(&stub, ch);
  req.delay_ms = delay_ms;
  code = tern__test__echo_stub__unary(&stub, &req, &resp, &co, &st);
  if (msg)
    snprintf(msg, msglen, "%s", st.message ? st.message : "");
  if (resp)
    tern__test__echo_response__free_unpacked(resp, NULL);
  tern_status_clear(&st);
  return code;
}

static void test_header_list_limit(void) {
  int port;
  tern_server *s = start(NULL, &port);
  tern_channel *ch = chan(port, NULL);
  tern_metadata *md;
  tern_call_options o = TERN_CALL_OPTIONS_INIT;
  char big[7000], msg[200];
  memset(big, 'x', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  tern_metadata_new(&md);
  tern_metadata_add(md, "x-big-1", big);
  tern_metadata_add(md, "x-big-2", big);
  tern_metadata_add(md, "x-big-3", big);
  o.metadata = md;
  SAY("21 KiB of request metadata (limit 16 KiB): RESOURCE_EXHAUSTED");
  CHECK_EQ_INT(unary(ch, 0, &o, msg, sizeof(msg)),
               TERN_STATUS_RESOURCE_EXHAUSTED);
  SAY("  %s", msg);
  SAY("the same connection then serves a normal call");
  CHECK_EQ_INT(unary(ch, 0, NULL, NULL, 0), TERN_STATUS_OK);
  tern_metadata_free(md);
  tern_channel_free(ch);
  tern_server_free(s);
}

static void test_max_connections(void) {
  tern_server_options so = TERN_SERVER_OPTIONS_INIT;
  int port;
  tern_server *s;
  tern_channel *a, *b, *c;
  so.max_connections = 2;
  s = start(&so, &port);
  a = chan(port, NULL);
  b = chan(port, NULL);
  SAY("two connections (the limit) are served");
  CHECK_EQ_INT(unary(a, 0, NULL, NULL, 0), TERN_STATUS_OK);
  CHECK_EQ_INT(unary(b, 0, NULL, NULL, 0), TERN_STATUS_OK);
  c = chan(port, NULL);
  SAY("a third is closed at accept: UNAVAILABLE");
  CHECK_EQ_INT(unary(c, 0, NULL, NULL, 0), TERN_STATUS_UNAVAILABLE);
  tern_channel_free(c);
  tern_channel_free(b);
  usleep(200000); /* the server sees b's connection go */
  c = chan(port, NULL);
  SAY("once one goes, a new one is served");
  CHECK_EQ_INT(unary(c, 0, NULL, NULL, 0), TERN_STATUS_OK);
  SAY("the first connection was never disturbed");
  CHECK_EQ_INT(unary(a, 0, NULL, NULL, 0), TERN_STATUS_OK);
  tern_channel_free(c);
  tern_channel_free(a);
  tern_server_free(s);
}

static void test_idle_timeout_sends_goaway(void) {
  tern_server_options so = TERN_SERVER_OPTIONS_INIT;
  int port, i;
  tern_server *s;
  tern_channel *ch;
  so.max_connection_idle_ms = 300;
  s = start(&so, &port);
  ch = chan(port, NULL);
  CHECK_EQ_INT(unary(ch, 0, NULL, NULL, 0), TERN_STATUS_OK);
  CHECK_EQ_INT(tern_channel_state(ch), TERN_CHANNEL_READY);
  for (i = 0; i < 200 && tern_channel_state(ch) == TERN_CHANNEL_READY; i++)
    usleep(10000);
  SAY("after 300 ms without calls the server's GOAWAY makes the channel "
      "IDLE");
  CHECK_EQ_INT(tern_channel_state(ch), TERN_CHANNEL_IDLE);
  SAY("the next call reconnects and succeeds");
  CHECK_EQ_INT(unary(ch, 0, NULL, NULL, 0), TERN_STATUS_OK);
  tern_channel_free(ch);
  tern_server_free(s);
}

static void test_max_age_with_grace(void) {
  tern_server_options so = TERN_SERVER_OPTIONS_INIT;
  int port;
  tern_server *s;
  tern_channel *ch;
  int64_t t0;
  so.max_connection_age_ms = 400;
  so.max_connection_age_grace_ms = 300;
  s = start(&so, &port);
  ch = chan(port, NULL);
  t0 = now_ms();
  SAY("a 5 s call on a connection with max age 400 ms + grace 300 ms is "
      "cut (UNAVAILABLE) within about 0.8 s");
  CHECK_EQ_INT(unary(ch, 5000, NULL, NULL, 0), TERN_STATUS_UNAVAILABLE);
  CHECK(now_ms() - t0 < 2000);
  SAY("a short call afterwards gets a new connection and succeeds");
  CHECK_EQ_INT(unary(ch, 0, NULL, NULL, 0), TERN_STATUS_OK);
  tern_channel_free(ch);
  /* A fresh connection at t=0 gets GOAWAY at 360..440 ms. A 200 ms call
   * started at 250 ms is in flight then and ends within the grace. */
  ch = chan(port, NULL);
  CHECK_EQ_INT(unary(ch, 0, NULL, NULL, 0), TERN_STATUS_OK);
  usleep(250000);
  SAY("a call in flight at the age's GOAWAY that ends within the grace "
      "succeeds");
  CHECK_EQ_INT(unary(ch, 200, NULL, NULL, 0), TERN_STATUS_OK);
  tern_channel_free(ch);
  tern_server_free(s);
}

/* Connections aged out every ~40 ms while a client keeps 8 calls in
 * flight: calls that race a GOAWAY are refused unprocessed by the server
 * and must be replayed transparently on the next connection, never fail. */
typedef struct churn {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int left, ok, failed;
  tern_channel *ch;
} churn;

static void churn_issue(churn *c);

static void churn_done(const tern_status *st, void *resp, void *ud) {
  churn *c = ud;
  if (resp)
    tern__test__echo_response__free_unpacked(resp, NULL);
  pthread_mutex_lock(&c->mu);
  if (st->code == TERN_STATUS_OK)
    c->ok++;
  else
    c->failed++;
  pthread_cond_signal(&c->cv);
  pthread_mutex_unlock(&c->mu);
  churn_issue(c);
}

static void churn_issue(churn *c) {
  Tern__Test__EchoStub stub;
  Tern__Test__EchoRequest req = TERN__TEST__ECHO_REQUEST__INIT;
  tern_call_options o = TERN_CALL_OPTIONS_INIT;
  int go;
  pthread_mutex_lock(&c->mu);
  go = c->left > 0;
  if (go)
    c->left--;
  pthread_mutex_unlock(&c->mu);
  if (!go)
    return;
  o.timeout_ms = 10000;
  tern__test__echo_stub_init(&stub, c->ch);
  if (tern__test__echo_stub__unary_async(&stub, &req, &o, churn_done, c) !=
      TERN_OK) {
    pthread_mutex_lock(&c->mu);
    c->failed++;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
  }
}

static void test_goaway_races_are_replayed_not_failed(void) {
  tern_server_options so = TERN_SERVER_OPTIONS_INIT;
  churn c = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 3000, 0, 0,
             NULL};
  int port, i;
  tern_server *s;
  so.max_connection_age_ms = 40;
  so.max_connection_age_grace_ms = 5000;
  s = start(&so, &port);
  c.ch = chan(port, NULL);
  for (i = 0; i < 8; i++)
    churn_issue(&c);
  pthread_mutex_lock(&c.mu);
  while (c.ok + c.failed < 3000) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 30;
    if (pthread_cond_timedwait(&c.cv, &c.mu, &ts) != 0)
      break;
  }
  pthread_mutex_unlock(&c.mu);
  SAY("3000 calls, 8 in flight, connections aged out every ~40 ms: "
      "%d OK, %d failed", c.ok, c.failed);
  CHECK_EQ_INT(c.ok, 3000);
  CHECK_EQ_INT(c.failed, 0);
  tern_channel_free(c.ch);
  tern_server_free(s);
}

static void test_handshake_timeout_closes_silent_connection(void) {
  tern_server_options so = TERN_SERVER_OPTIONS_INIT;
  int port, fd;
  struct sockaddr_in sa;
  struct pollfd pfd;
  char buf[64];
  ssize_t n = -2;
  tern_server *s;
  int64_t t0;
  so.handshake_timeout_ms = 300;
  s = start(&so, &port);
  fd = socket(AF_INET, SOCK_STREAM, 0);
  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CHECK_EQ_INT(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
  t0 = now_ms();
  /* Read until the server closes: its SETTINGS first, then EOF. */
  pfd.fd = fd;
  pfd.events = POLLIN;
  while (now_ms() - t0 < 5000 && poll(&pfd, 1, 100) >= 0) {
    if (pfd.revents) {
      n = read(fd, buf, sizeof(buf));
      if (n <= 0)
        break;
    }
  }
  SAY("a client that never sends the preface is closed after ~300 ms");
  CHECK_EQ_INT(n, 0);
  CHECK(now_ms() - t0 < 2000);
  close(fd);
  tern_server_free(s);
}

static tern_status_code authorize(tern_server_call *call, void *ud) {
  const char *v = tern_metadata_get(tern_server_call_metadata(call),
                                    "authorization", NULL);
  (void)ud;
  if (!v) {
    tern_server_call_set_message(call, "missing token");
    return TERN_STATUS_UNAUTHENTICATED;
  }
  if (strcmp(v, "Bearer good-token") != 0) {
    tern_server_call_set_message(call, "token not allowed");
    return TERN_STATUS_PERMISSION_DENIED;
  }
  return TERN_STATUS_OK;
}

static void test_authorizer_and_call_credentials(void) {
  tern_server *s;
  int port;
  tern_channel *ch;
  tern_channel_options co = TERN_CHANNEL_OPTIONS_INIT;
  tern_call_options o = TERN_CALL_OPTIONS_INIT;
  tern_metadata *good, *bad;
  char msg[200];
  CHECK_EQ_INT(tern_server_new(&s, NULL), TERN_OK);
  CHECK_EQ_INT(tern__test__add_echo_servicer_to_server(&servicer, s, NULL),
               TERN_OK);
  CHECK_EQ_INT(tern_server_set_authorizer(s, authorize, NULL), TERN_OK);
  CHECK_EQ_INT(tern_server_add_insecure_port(s, "127.0.0.1:0", &port),
               TERN_OK);
  CHECK_EQ_INT(tern_server_start(s), TERN_OK);
  tern_metadata_new(&good);
  tern_metadata_new(&bad);
  CHECK_EQ_INT(tern_metadata_add_bearer(good, "good-token"), TERN_OK);
  CHECK_EQ_INT(tern_metadata_add_bearer(bad, "stolen-token"), TERN_OK);

  ch = chan(port, NULL);
  SAY("no token: UNAUTHENTICATED from the authorizer, before the handler");
  CHECK_EQ_INT(unary(ch, 0, NULL, msg, sizeof(msg)),
               TERN_STATUS_UNAUTHENTICATED);
  CHECK_EQ_STR(msg, "missing token");
  SAY("per-call credentials on a cleartext channel are not sent: "
      "UNAUTHENTICATED locally");
  o.credentials = good;
  CHECK_EQ_INT(unary(ch, 0, &o, msg, sizeof(msg)),
               TERN_STATUS_UNAUTHENTICATED);
  SAY("  %s", msg);
  tern_channel_free(ch);

  co.allow_insecure_credentials = 1;
  co.credentials = bad;
  ch = chan(port, &co);
  SAY("a wrong channel token (insecure allowed): PERMISSION_DENIED");
  CHECK_EQ_INT(unary(ch, 0, NULL, msg, sizeof(msg)),
               TERN_STATUS_PERMISSION_DENIED);
  CHECK_EQ_STR(msg, "token not allowed");
  tern_channel_free(ch);
  co.credentials = good;
  ch = chan(port, &co);
  SAY("the right channel token: OK");
  CHECK_EQ_INT(unary(ch, 0, NULL, NULL, 0), TERN_STATUS_OK);
  tern_channel_free(ch);
  tern_metadata_free(good);
  tern_metadata_free(bad);
  tern_server_free(s);
}

int main(void) {
  RUN_TEST(test_header_list_limit);
  RUN_TEST(test_max_connections);
  RUN_TEST(test_idle_timeout_sends_goaway);
  RUN_TEST(test_max_age_with_grace);
  RUN_TEST(test_handshake_timeout_closes_silent_connection);
  RUN_TEST(test_goaway_races_are_replayed_not_failed);
  RUN_TEST(test_authorizer_and_call_credentials);
  return TEST_SUMMARY("limits");
}
