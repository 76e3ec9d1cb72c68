/* The channel as a picker, end to end on 127.0.0.1: pick_first over an
 * address list, a server that goes away and another that takes over,
 * wait-for-ready calls queued through TRANSIENT_FAILURE, and queued picks
 * ended by their deadline and by the channel's close. Each server answers
 * with its own name, so a test sees which one served a call. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
  const char *name = ud;
  size_t n = strlen(name);
  (void)req;
  resp->payload.data = tern_server_call_alloc(call, n);
  memcpy(resp->payload.data, name, n);
  resp->payload.len = n;
  return TERN_STATUS_OK;
}

static const Tern__Test__EchoServicer servicer = {h_unary, NULL, NULL, NULL};

/* A server called name on addr ("127.0.0.1:0" for any port). */
static tern_server *start(const char *addr, const char *name, int *port) {
  tern_server *s;
  CHECK_EQ_INT(tern_server_new(&s, NULL), TERN_OK);
  CHECK_EQ_INT(
      tern__test__add_echo_servicer_to_server(&servicer, s, (void *)name),
      TERN_OK);
  if (tern_server_add_insecure_port(s, addr, port) != TERN_OK ||
      tern_server_start(s) != TERN_OK) {
    tern_server_free(s);
    return NULL;
  }
  return s;
}

/* A port that was just free: nothing listens there. */
static int dead_port(void) {
  int port = 0;
  tern_server *s = start("127.0.0.1:0", "gone", &port);
  tern_server_free(s);
  return port;
}

typedef struct result {
  tern_status_code code;
  char who[32];
  char message[300];
  int64_t ms;
} result;

static result call(tern_channel *ch, int64_t timeout_ms, int wait_for_ready) {
  Tern__Test__EchoStub stub;
  Tern__Test__EchoRequest req = TERN__TEST__ECHO_REQUEST__INIT;
  Tern__Test__EchoResponse *resp = NULL;
  tern_call_options o = TERN_CALL_OPTIONS_INIT;
  tern_status st = TERN_STATUS_INIT;
  result r;
  int64_t t0 = now_ms();
  memset(&r, 0, sizeof(r));
  o.timeout_ms = timeout_ms;
  o.wait_for_ready = wait_for_ready;
  tern__test__echo_stub_init(&stub, ch);
  r.code = tern__test__echo_stub__unary(&stub, &req, &resp, &o, &st);
  r.ms = now_ms() - t0;
  snprintf(r.message, sizeof(r.message), "%s", st.message ? st.message : "");
  if (resp) {
    snprintf(r.who, sizeof(r.who), "%.*s", (int)resp->payload.len,
             (const char *)resp->payload.data);
    tern__test__echo_response__free_unpacked(resp, NULL);
  }
  tern_status_clear(&st);
  return r;
}

static int wait_state(tern_channel *ch, tern_connectivity_state want, int ms) {
  int i;
  for (i = 0; i < ms / 10 && tern_channel_state(ch) != want; i++)
    usleep(10000);
  return tern_channel_state(ch) == want;
}

/* ---- async calls, counted ------------------------------------------------ */

typedef struct tally {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int done, ok, cancelled;
  char last_message[300];
} tally;

static void on_done(const tern_status *st, void *resp, void *ud) {
  tally *t = ud;
  pthread_mutex_lock(&t->mu);
  t->done++;
  t->ok += st->code == TERN_STATUS_OK;
  t->cancelled += st->code == TERN_STATUS_CANCELLED;
  snprintf(t->last_message, sizeof(t->last_message), "%s",
           st->message ? st->message : "");
  pthread_cond_broadcast(&t->cv);
  pthread_mutex_unlock(&t->mu);
  if (resp)
    tern__test__echo_response__free_unpacked(resp, NULL);
}

static int tally_wait(tally *t, int n, int ms) {
  int64_t end = now_ms() + ms;
  int done;
  pthread_mutex_lock(&t->mu);
  while (t->done < n && now_ms() < end) {
    pthread_mutex_unlock(&t->mu);
    usleep(10000);
    pthread_mutex_lock(&t->mu);
  }
  done = t->done;
  pthread_mutex_unlock(&t->mu);
  return done;
}

static void start_async(tern_channel *ch, tally *t, int n, int64_t timeout_ms) {
  Tern__Test__EchoStub stub;
  Tern__Test__EchoRequest req = TERN__TEST__ECHO_REQUEST__INIT;
  tern_call_options o = TERN_CALL_OPTIONS_INIT;
  int i;
  o.wait_for_ready = 1;
  o.timeout_ms = timeout_ms;
  tern__test__echo_stub_init(&stub, ch);
  for (i = 0; i < n; i++)
    CHECK_EQ_INT(
        tern__test__echo_stub__unary_async(&stub, &req, &o, on_done, t),
        TERN_OK);
}

/* ---- tests -------------------------------------------------------------- */

static void test_two_addresses_pick_the_working_one(void) {
  int port, dead = dead_port();
  tern_server *s = start("127.0.0.1:0", "live", &port);
  tern_channel *ch;
  char t[128];
  result r;
  int i, all = 1;
  snprintf(t, sizeof(t), "ipv4:127.0.0.1:%d,127.0.0.1:%d", dead, port);
  CHECK_EQ_INT(tern_channel_new(&ch, t, NULL), TERN_OK);
  r = call(ch, 5000, 0);
  SAY("%s: the closed first port is passed over, \"%s\" answers (%s)", t, r.who,
      tern_status_code_name(r.code));
  CHECK_EQ_INT(r.code, TERN_STATUS_OK);
  CHECK_EQ_STR(r.who, "live");
  CHECK_EQ_INT(tern_channel_state(ch), TERN_CHANNEL_READY);
  for (i = 0; i < 20; i++) {
    r = call(ch, 5000, 0);
    all = all && r.code == TERN_STATUS_OK && strcmp(r.who, "live") == 0;
  }
  SAY("20 more calls all go to the picked one");
  CHECK(all);
  tern_channel_free(ch);
  tern_server_free(s);
}

static void test_server_gone_then_another_takes_over(void) {
  int p1, p2;
  tern_server *s1 = start("127.0.0.1:0", "one", &p1);
  tern_server *s2 = start("127.0.0.1:0", "two", &p2);
  tern_channel_options o = TERN_CHANNEL_OPTIONS_INIT;
  tern_channel *ch;
  char t[128];
  result r;
  o.initial_backoff_ms = 100;
  o.max_backoff_ms = 200;
  snprintf(t, sizeof(t), "ipv4:127.0.0.1:%d,127.0.0.1:%d", p1, p2);
  CHECK_EQ_INT(tern_channel_new(&ch, t, &o), TERN_OK);
  r = call(ch, 5000, 0);
  SAY("%s: the first address serves (\"%s\")", t, r.who);
  CHECK_EQ_INT(r.code, TERN_STATUS_OK);
  CHECK_EQ_STR(r.who, "one");
  tern_server_free(s1);
  SAY("server one goes (GOAWAY, then closed): the channel is IDLE");
  CHECK(wait_state(ch, TERN_CHANNEL_IDLE, 3000));
  r = call(ch, 5000, 0);
  SAY("the next call: a new pass over the (re-resolved) list, \"%s\" "
      "answers, %s after %lld ms",
      r.who, tern_status_code_name(r.code), (long long)r.ms);
  CHECK_EQ_INT(r.code, TERN_STATUS_OK);
  CHECK_EQ_STR(r.who, "two");
  CHECK_EQ_INT(tern_channel_state(ch), TERN_CHANNEL_READY);
  tern_channel_free(ch);
  tern_server_free(s2);
}

static void test_wait_for_ready_waits_through_transient_failure(void) {
  int port = dead_port(), got;
  tern_channel_options o = TERN_CHANNEL_OPTIONS_INIT;
  tern_channel *ch;
  tern_server *s;
  tally t = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, ""};
  char target[64], addr[64];
  result r;
  o.initial_backoff_ms = 100;
  o.max_backoff_ms = 200;
  snprintf(target, sizeof(target), "127.0.0.1:%d", port);
  CHECK_EQ_INT(tern_channel_new(&ch, target, &o), TERN_OK);
  r = call(ch, 5000, 0);
  SAY("nothing on %s: a call fails UNAVAILABLE \"%s\"", target, r.message);
  CHECK_EQ_INT(r.code, TERN_STATUS_UNAVAILABLE);
  CHECK(strstr(r.message, "failed to connect to all addresses") != NULL);
  CHECK(strstr(r.message, "Connection refused") != NULL);
  CHECK_EQ_INT(tern_channel_state(ch), TERN_CHANNEL_TRANSIENT_FAILURE);
  start_async(ch, &t, 5, 10000);
  usleep(500000); /* several backoffs and failed passes */
  pthread_mutex_lock(&t.mu);
  got = t.done;
  pthread_mutex_unlock(&t.mu);
  SAY("5 wait-for-ready calls are still waiting after 500 ms (%d ended)", got);
  CHECK_EQ_INT(got, 0);
  snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
  s = start(addr, "late", NULL);
  CHECK(s != NULL);
  got = tally_wait(&t, 5, 8000);
  pthread_mutex_lock(&t.mu);
  SAY("a server appears on the port: all of them succeed (%d of 5 OK)", t.ok);
  CHECK_EQ_INT(got, 5);
  CHECK_EQ_INT(t.ok, 5);
  pthread_mutex_unlock(&t.mu);
  CHECK_EQ_INT(tern_channel_state(ch), TERN_CHANNEL_READY);
  tern_channel_free(ch);
  if (s)
    tern_server_free(s);
}

static void test_queued_picks_end_by_deadline_and_close(void) {
  int port = dead_port();
  tern_channel_options o = TERN_CHANNEL_OPTIONS_INIT;
  tern_channel *ch;
  tally t = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, ""};
  char target[64];
  result r;
  o.initial_backoff_ms = 50;
  o.max_backoff_ms = 100;
  snprintf(target, sizeof(target), "127.0.0.1:%d", port);
  CHECK_EQ_INT(tern_channel_new(&ch, target, &o), TERN_OK);
  r = call(ch, 300, 1);
  SAY("a wait-for-ready call with a 300 ms deadline on a dead port: %s "
      "after %lld ms",
      tern_status_code_name(r.code), (long long)r.ms);
  CHECK_EQ_INT(r.code, TERN_STATUS_DEADLINE_EXCEEDED);
  CHECK(r.ms >= 250 && r.ms < 2000);
  SAY("the channel goes on failing passes with that pick withdrawn");
  usleep(300000);
  start_async(ch, &t, 3, 0);
  usleep(100000);
  tern_channel_free(ch);
  pthread_mutex_lock(&t.mu);
  SAY("3 queued calls end CANCELLED \"%s\" when the channel is freed",
      t.last_message);
  CHECK_EQ_INT(t.done, 3);
  CHECK_EQ_INT(t.cancelled, 3);
  CHECK_EQ_STR(t.last_message, "channel closed");
  pthread_mutex_unlock(&t.mu);
}

int main(void) {
  RUN_TEST(test_two_addresses_pick_the_working_one);
  RUN_TEST(test_server_gone_then_another_takes_over);
  RUN_TEST(test_wait_for_ready_waits_through_transient_failure);
  RUN_TEST(test_queued_picks_end_by_deadline_and_close);
  return TEST_SUMMARY("lb");
}
