/* Name resolution without blocking the loop, against a DNS server the
 * wrapper (run_dns_test.py) starts on 127.0.0.1 with dns_server.py: the
 * resolver interface on its own (delays, errors, order, rate limit, free
 * while in flight), then channels using it (deadlines while a lookup is
 * slow, NXDOMAIN / SERVFAIL statuses, several records, re-resolution after
 * failures, dns://server/ authorities). An in-process tern server on
 * 127.0.0.1 answers the calls.
 *
 *   dns_test --dns-port N --log QUERY_LOG --table-file FILE
 *
 * The wrapper's table (see run_dns_test.py) holds fast.test, slow.test
 * (2 s late), nx.test, fail.test, multi.test, dual.test, custom.test and
 * rate.test; moving.test lives in FILE, which a test rewrites. */
#include <ares.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "channel/channel_int.h"
#include "channel/resolver.h"
#include "echo.tern.h"
#include "test.h"

static int g_dns_port;
static const char *g_log_path;
static const char *g_table_path;
static int g_srv_port;  /* the tern server on 127.0.0.1 */
static int g_dead_port; /* nothing listens there */

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Queries the DNS server logged for name with type ("A", "AAAA"). */
static int queries(const char *name, const char *type) {
  FILE *f = fopen(g_log_path, "r");
  char line[300], want[300];
  int n = 0;
  if (!f)
    return 0;
  snprintf(want, sizeof(want), "%s %s\n", name, type);
  while (fgets(line, sizeof(line), f))
    n += strcmp(line, want) == 0;
  fclose(f);
  return n;
}

static void write_table(const char *text) {
  char tmp[512];
  FILE *f;
  snprintf(tmp, sizeof(tmp), "%s.tmp", g_table_path);
  f = fopen(tmp, "w");
  CHECK(f != NULL);
  if (!f)
    return;
  fputs(text, f);
  fclose(f);
  CHECK_EQ_INT(rename(tmp, g_table_path), 0); /* the server sees all or none */
}

/* ---- the tern server ------------------------------------------------------ */

static tern_status_code h_unary(tern_server_call *call,
                                const Tern__Test__EchoRequest *req,
                                Tern__Test__EchoResponse *resp, void *ud) {
  /* Answers with the server's name, so a test sees which one it reached. */
  const char *name = ud;
  size_t n = strlen(name);
  (void)req;
  resp->payload.data = tern_server_call_alloc(call, n);
  memcpy(resp->payload.data, name, n);
  resp->payload.len = n;
  return TERN_STATUS_OK;
}

static tern_status_code h_server_stream(tern_server_call *call,
                                        const Tern__Test__EchoRequest *req,
                                        void *ud) {
  (void)call, (void)req, (void)ud;
  return TERN_STATUS_UNIMPLEMENTED;
}

static tern_status_code h_client_stream(tern_server_call *call,
                                        Tern__Test__EchoResponse *resp,
                                        void *ud) {
  (void)call, (void)resp, (void)ud;
  return TERN_STATUS_UNIMPLEMENTED;
}

static tern_status_code h_bidi(tern_server_call *call, void *ud) {
  (void)call, (void)ud;
  return TERN_STATUS_UNIMPLEMENTED;
}

static const Tern__Test__EchoServicer servicer = {h_unary, h_server_stream,
                                                 h_client_stream, h_bidi};

/* addr "127.0.0.1:0" etc.; *port gets the bound port. NULL on failure. */
static tern_server *start_server(const char *addr, const char *name,
                                 int *port) {
  tern_server *s = NULL;
  tern_server_options o = TERN_SERVER_OPTIONS_INIT;
  o.workers = 2;
  if (tern_server_new(&s, &o) != TERN_OK)
    return NULL;
  if (tern__test__add_echo_servicer_to_server(&servicer, s, (void *)name) !=
          TERN_OK ||
      tern_server_add_insecure_port(s, addr, port) != TERN_OK ||
      tern_server_start(s) != TERN_OK) {
    tern_server_free(s);
    return NULL;
  }
  return s;
}

/* One unary call; the status, the server's name in *who (if OK), and how
 * long it took. */
typedef struct call_result {
  tern_status_code code;
  char message[300];
  char who[32];
  int64_t ms;
} call_result;

static call_result call(tern_channel *ch, int64_t timeout_ms,
                        int wait_for_ready) {
  Tern__Test__EchoStub stub;
  Tern__Test__EchoRequest req = TERN__TEST__ECHO_REQUEST__INIT;
  Tern__Test__EchoResponse *resp = NULL;
  tern_call_options co = TERN_CALL_OPTIONS_INIT;
  tern_status st = TERN_STATUS_INIT;
  call_result r;
  int64_t t0 = now_ms();
  memset(&r, 0, sizeof(r));
  co.timeout_ms = timeout_ms;
  co.wait_for_ready = wait_for_ready;
  tern__test__echo_stub_init(&stub, ch);
  r.code = tern__test__echo_stub__unary(&stub, &req, &resp, &co, &st);
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

static tern_channel *dns_channel(const char *name, int port,
                                 tern_channel_options *o) {
  char t[200];
  tern_channel *ch = NULL;
  snprintf(t, sizeof(t), "dns://127.0.0.1:%d/%s:%d", g_dns_port, name, port);
  CHECK_EQ_INT(tern_channel_new(&ch, t, o), TERN_OK);
  return ch;
}

/* ---- resolver-level helpers ------------------------------------------------ */

/* Resolvers live on a loop running on its own thread, as a channel's does;
 * the test thread hands each step to it with on_loop and waits for the
 * callbacks under g_mu. */
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;

typedef struct hop {
  void (*fn)(void *);
  void *arg;
  int done;
} hop;

static void hop_run(void *a) {
  hop *h = a;
  h->fn(h->arg);
  pthread_mutex_lock(&g_mu);
  h->done = 1;
  pthread_cond_broadcast(&g_cv);
  pthread_mutex_unlock(&g_mu);
}

/* Runs fn(arg) on the loop's thread and returns when it has. */
static void on_loop(tern__loop *loop, void (*fn)(void *), void *arg) {
  hop h = {fn, arg, 0};
  if (tern__loop_post_fn(loop, hop_run, &h) != TERN_OK) {
    CHECK(!"post");
    return;
  }
  pthread_mutex_lock(&g_mu);
  while (!h.done)
    pthread_cond_wait(&g_cv, &g_mu);
  pthread_mutex_unlock(&g_mu);
}

typedef struct res_rec {
  tern__loop *loop;
  tern__resolver *r;
  tern__target target;
  tern__resolver_config cfg;
  const char *target_str;
  int new_rv;
  int done, status, inside_request;
  int called_from_request; /* must stay 0 */
  size_t n;
  tern__resolved_addr addrs[8];
  char why[256];
  int64_t at_ms;
} res_rec;

static void rec_cb(tern__resolver *r, int status,
                   const tern__resolved_addr *addrs, size_t n,
                   const char *why, void *ud) {
  res_rec *rec = ud;
  (void)r;
  pthread_mutex_lock(&g_mu);
  if (rec->inside_request)
    rec->called_from_request = 1;
  rec->done++;
  rec->status = status;
  rec->n = n < 8 ? n : 8;
  if (rec->n)
    memcpy(rec->addrs, addrs, rec->n * sizeof(*addrs));
  snprintf(rec->why, sizeof(rec->why), "%s", why ? why : "");
  rec->at_ms = now_ms();
  pthread_cond_broadcast(&g_cv);
  pthread_mutex_unlock(&g_mu);
}

static void rec_new_on_loop(void *a) {
  res_rec *rec = a;
  rec->new_rv = tern__resolver_new(&rec->r, rec->loop, &rec->target,
                                   &rec->cfg, rec_cb, rec);
}

static int rec_new(res_rec *rec, tern__loop *loop, const char *target,
                   int64_t min_interval_ms) {
  memset(rec, 0, sizeof(*rec));
  rec->loop = loop;
  rec->cfg.min_interval_ms = min_interval_ms;
  if (tern__target_parse(target, &rec->target) != TERN_OK)
    return -1;
  on_loop(loop, rec_new_on_loop, rec);
  return rec->new_rv;
}

static void rec_request_on_loop(void *a) {
  res_rec *rec = a;
  rec->inside_request = 1;
  tern__resolver_request(rec->r);
  rec->inside_request = 0;
}

static void rec_request(res_rec *rec) {
  on_loop(rec->loop, rec_request_on_loop, rec);
}

static void rec_free_on_loop(void *a) {
  res_rec *rec = a;
  tern__resolver_free(rec->r);
  rec->r = NULL;
}

static void rec_free(res_rec *rec) {
  on_loop(rec->loop, rec_free_on_loop, rec);
  tern__target_free(&rec->target);
}

/* Waits until rec has `count` results, or max_ms. */
static void rec_wait(res_rec *rec, int count, int64_t max_ms) {
  int64_t end = now_ms() + max_ms;
  pthread_mutex_lock(&g_mu);
  while (rec->done < count && now_ms() < end) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 10 * 1000000;
    if (ts.tv_nsec >= 1000000000) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait(&g_cv, &g_mu, &ts);
  }
  pthread_mutex_unlock(&g_mu);
}

static tern__loop *loop_start(void) {
  tern__loop *loop = NULL;
  CHECK_EQ_INT(tern__loop_new(&loop), TERN_OK);
  CHECK_EQ_INT(tern__loop_start_thread(loop), TERN_OK);
  return loop;
}

static void loop_end(tern__loop *loop) {
  tern__loop_stop(loop);
  tern__loop_join(loop);
  tern__loop_free(loop);
}

static const char *addr_str(const tern__resolved_addr *a, char *buf,
                            size_t len) {
  char ip[INET6_ADDRSTRLEN] = "?";
  if (a->addr.ss_family == AF_INET) {
    const struct sockaddr_in *s = (const struct sockaddr_in *)&a->addr;
    inet_ntop(AF_INET, &s->sin_addr, ip, sizeof(ip));
    snprintf(buf, len, "%s:%d", ip, ntohs(s->sin_port));
  } else if (a->addr.ss_family == AF_INET6) {
    const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)&a->addr;
    inet_ntop(AF_INET6, &s->sin6_addr, ip, sizeof(ip));
    snprintf(buf, len, "[%s]:%d", ip, ntohs(s->sin6_port));
  } else {
    snprintf(buf, len, "family %d", a->addr.ss_family);
  }
  return buf;
}

static char g_tgt[200];
static const char *dns_target(const char *name, int port) {
  snprintf(g_tgt, sizeof(g_tgt), "dns://127.0.0.1:%d/%s:%d", g_dns_port, name,
           port);
  return g_tgt;
}

/* ---- resolver tests ------------------------------------------------------- */

typedef struct tick {
  tern__loop *loop;
  tern__timer timer;
  int64_t start_ms, fired_ms;
} tick;

static void tick_cb(tern__timer *t) {
  tick *k = t->data;
  pthread_mutex_lock(&g_mu);
  k->fired_ms = now_ms();
  pthread_mutex_unlock(&g_mu);
}

/* On the loop: both lookups, then a 100 ms timer, in one turn. */
typedef struct two_lookups {
  res_rec *slow, *fast;
  tick *k;
} two_lookups;

static void start_two_on_loop(void *a) {
  two_lookups *t = a;
  rec_request_on_loop(t->slow); /* first: it must not hold up the next */
  rec_request_on_loop(t->fast);
  tern__timer_init(&t->k->timer, tick_cb, t->k);
  t->k->start_ms = now_ms();
  tern__timer_start(t->k->loop, &t->k->timer,
                    tern__now_ns() + 100 * 1000000);
}

static void test_delayed_answer_does_not_delay_other_work_on_the_loop(void) {
  tern__loop *loop = loop_start();
  res_rec slow, fast;
  tick k;
  two_lookups two = {&slow, &fast, &k};
  int64_t t0;
  memset(&k, 0, sizeof(k));
  k.loop = loop;
  CHECK_EQ_INT(rec_new(&slow, loop, dns_target("slow.test", 1000), 0),
               TERN_OK);
  CHECK_EQ_INT(rec_new(&fast, loop, dns_target("fast.test", 1001), 0),
               TERN_OK);
  CHECK_EQ_STR(tern__resolver_name(slow.r), "dns");
  t0 = now_ms();
  on_loop(loop, start_two_on_loop, &two);
  rec_wait(&fast, 1, 5000);
  rec_wait(&slow, 1, 10000);
  SAY("two lookups on one loop, slow.test answered 2 s late: fast.test "
      "done after %lld ms, slow.test after %lld ms",
      (long long)(fast.at_ms - t0), (long long)(slow.at_ms - t0));
  CHECK_EQ_INT(fast.done, 1);
  CHECK_EQ_INT(slow.done, 1);
  CHECK_EQ_INT(fast.status, TERN_OK);
  CHECK_EQ_INT(slow.status, TERN_OK);
  CHECK(fast.at_ms - t0 < 1000);
  CHECK(slow.at_ms - t0 >= 1800);
  CHECK(fast.at_ms < slow.at_ms);
  SAY("a 100 ms loop timer fired after %lld ms, while slow.test waited",
      (long long)(k.fired_ms - k.start_ms));
  CHECK(k.fired_ms > 0);
  CHECK(k.fired_ms - k.start_ms >= 90 && k.fired_ms - k.start_ms < 600);
  CHECK(k.fired_ms < slow.at_ms);
  SAY("no callback ran from inside tern__resolver_request");
  CHECK_EQ_INT(slow.called_from_request + fast.called_from_request, 0);
  CHECK_EQ_INT(fast.n, 1);
  if (fast.n >= 1) {
    char b[80];
    SAY("fast.test -> %s", addr_str(&fast.addrs[0], b, sizeof(b)));
    CHECK_EQ_STR(b, "127.0.0.1:1001");
  }
  rec_free(&slow);
  rec_free(&fast);
  loop_end(loop);
}

static void test_resolver_answers_in_the_order_given_and_reports_errors(
    void) {
  tern__loop *loop = loop_start();
  res_rec multi, dual, nx, sf, local, lit;
  char b[80];
  size_t i;
  int saw4 = 0, saw6 = 0;
  CHECK_EQ_INT(rec_new(&multi, loop, dns_target("multi.test", 7), 0),
               TERN_OK);
  CHECK_EQ_INT(rec_new(&dual, loop, dns_target("dual.test", 8), 0), TERN_OK);
  CHECK_EQ_INT(rec_new(&nx, loop, dns_target("nx.test", 9), 0), TERN_OK);
  CHECK_EQ_INT(rec_new(&sf, loop, dns_target("fail.test", 9), 0), TERN_OK);
  CHECK_EQ_INT(rec_new(&local, loop, "localhost:10", 0), TERN_OK);
  CHECK_EQ_INT(rec_new(&lit, loop, "ipv4:127.0.0.5:11,127.0.0.6:12", 0),
               TERN_OK);
  rec_request(&multi);
  rec_request(&dual);
  rec_request(&nx);
  rec_request(&sf);
  rec_request(&local);
  rec_request(&lit);
  rec_wait(&multi, 1, 10000);
  rec_wait(&dual, 1, 10000);
  rec_wait(&nx, 1, 10000);
  rec_wait(&sf, 1, 10000);
  rec_wait(&local, 1, 10000);
  rec_wait(&lit, 1, 10000);

  SAY("multi.test (A 127.0.0.2, A 127.0.0.1): both, in the server's order");
  CHECK_EQ_INT(multi.status, TERN_OK);
  CHECK_EQ_INT(multi.n, 2);
  if (multi.n == 2) {
    CHECK_EQ_STR(addr_str(&multi.addrs[0], b, sizeof(b)), "127.0.0.2:7");
    CHECK_EQ_STR(addr_str(&multi.addrs[1], b, sizeof(b)), "127.0.0.1:7");
  }
  SAY("dual.test (AAAA ::1, A 127.0.0.1): both families asked, both "
      "addresses");
  CHECK_EQ_INT(dual.status, TERN_OK);
  CHECK_EQ_INT(dual.n, 2);
  for (i = 0; i < dual.n; i++) {
    addr_str(&dual.addrs[i], b, sizeof(b));
    saw4 |= strcmp(b, "127.0.0.1:8") == 0;
    saw6 |= strcmp(b, "[::1]:8") == 0;
  }
  CHECK(saw4 && saw6);
  CHECK(queries("dual.test", "A") >= 1 && queries("dual.test", "AAAA") >= 1);
  SAY("nx.test: TERN_EADDR, why = \"%s\"", nx.why);
  CHECK_EQ_INT(nx.status, TERN_EADDR);
  CHECK_EQ_INT(nx.n, 0);
  CHECK(strstr(nx.why, "DNS resolution failed for nx.test") != NULL);
  CHECK(strstr(nx.why, "Domain name not found") != NULL);
  SAY("fail.test (SERVFAIL): TERN_EADDR, why = \"%s\"", sf.why);
  CHECK_EQ_INT(sf.status, TERN_EADDR);
  CHECK(strstr(sf.why, ares_strerror(ARES_ESERVFAIL)) != NULL);
  CHECK(strstr(sf.why, ares_strerror(ARES_ENOTFOUND)) == NULL);
  SAY("localhost (from /etc/hosts, no query): resolver %s, %zu address(es)",
      tern__resolver_name(local.r), local.n);
  CHECK_EQ_STR(tern__resolver_name(local.r), "dns");
  CHECK_EQ_INT(local.status, TERN_OK);
  CHECK(local.n >= 1);
  SAY("an ipv4: list needs no lookup: the static resolver, in order");
  CHECK_EQ_STR(tern__resolver_name(lit.r), "static");
  CHECK_EQ_INT(lit.n, 2);
  if (lit.n == 2) {
    CHECK_EQ_STR(addr_str(&lit.addrs[0], b, sizeof(b)), "127.0.0.5:11");
    CHECK_EQ_STR(addr_str(&lit.addrs[1], b, sizeof(b)), "127.0.0.6:12");
  }
  CHECK_EQ_INT(multi.called_from_request + dual.called_from_request +
                   nx.called_from_request + sf.called_from_request +
                   local.called_from_request + lit.called_from_request,
               0);
  rec_free(&multi);
  rec_free(&dual);
  rec_free(&nx);
  rec_free(&sf);
  rec_free(&local);
  rec_free(&lit);
  loop_end(loop);
}

static void test_static_resolver_literals_and_unix(void) {
  tern__loop *loop = loop_start();
  res_rec v6, un, host;
  CHECK_EQ_INT(rec_new(&v6, loop, "[::1]:5", 0), TERN_OK);
  CHECK_EQ_INT(rec_new(&un, loop, "unix:/tmp/tern-dns-none.sock", 0),
               TERN_OK);
  CHECK_EQ_INT(rec_new(&host, loop, "dns:///127.0.0.9:6", 0), TERN_OK);
  rec_request(&v6);
  rec_request(&un);
  rec_request(&host);
  rec_wait(&v6, 1, 5000);
  rec_wait(&un, 1, 5000);
  rec_wait(&host, 1, 5000);
  SAY("[::1]:5, unix:, and an IP literal after dns:///: static, answered "
      "on the loop, never from inside the request");
  CHECK_EQ_STR(tern__resolver_name(v6.r), "static");
  CHECK_EQ_STR(tern__resolver_name(un.r), "static");
  CHECK_EQ_STR(tern__resolver_name(host.r), "static");
  CHECK_EQ_INT(v6.done + un.done + host.done, 3);
  CHECK_EQ_INT(v6.n + un.n + host.n, 3);
  CHECK_EQ_INT(un.addrs[0].addr.ss_family, AF_UNIX);
  CHECK_EQ_INT(v6.called_from_request + un.called_from_request +
                   host.called_from_request,
               0);
  rec_free(&v6);
  rec_free(&un);
  rec_free(&host);
  loop_end(loop);
}

static void test_free_while_a_query_is_in_flight(void) {
  tern__loop *loop = loop_start();
  res_rec slow;
  CHECK_EQ_INT(rec_new(&slow, loop, dns_target("slow.test", 1), 0), TERN_OK);
  rec_request(&slow);
  usleep(100000);
  rec_free(&slow);
  usleep(2300000); /* past the 2 s answer */
  SAY("freed 100 ms into a 2 s lookup: the callback never ran");
  CHECK_EQ_INT(slow.done, 0);
  loop_end(loop);
}

static void test_resolver_rate_limits_and_defers_requests(void) {
  tern__loop *loop = loop_start();
  res_rec rec;
  int q0, i;
  int64_t t_first;
  CHECK_EQ_INT(rec_new(&rec, loop, dns_target("rate.test", 1), 400),
               TERN_OK);
  q0 = queries("rate.test", "A");
  rec_request(&rec);
  rec_wait(&rec, 1, 5000);
  t_first = rec.at_ms;
  CHECK_EQ_INT(rec.done, 1);
  CHECK_EQ_INT(queries("rate.test", "A"), q0 + 1);
  for (i = 0; i < 5; i++)
    rec_request(&rec);
  SAY("5 requests just after a lookup (interval 400 ms): none sent yet");
  CHECK_EQ_INT(queries("rate.test", "A"), q0 + 1);
  rec_wait(&rec, 2, 5000);
  SAY("then exactly one, %lld ms after the first",
      (long long)(rec.at_ms - t_first));
  CHECK_EQ_INT(rec.done, 2);
  CHECK_EQ_INT(queries("rate.test", "A"), q0 + 2);
  CHECK(rec.at_ms - t_first >= 350);
  usleep(600000);
  SAY("and no more after it");
  CHECK_EQ_INT(rec.done, 2);
  CHECK_EQ_INT(queries("rate.test", "A"), q0 + 2);
  rec_free(&rec);
  loop_end(loop);
}

/* ---- channel tests ---------------------------------------------------------- */

static void test_channel_deadline_fires_while_dns_is_slow(void) {
  tern_channel *ch = dns_channel("slow.test", g_srv_port, NULL);
  call_result r;
  SAY("a call with a 500 ms deadline, slow.test answered after 2 s");
  r = call(ch, 500, 0);
  SAY("ends %s after %lld ms", tern_status_code_name(r.code),
      (long long)r.ms);
  CHECK_EQ_INT(r.code, TERN_STATUS_DEADLINE_EXCEEDED);
  CHECK(r.ms >= 400 && r.ms < 1500);
  SAY("meanwhile the channel is CONNECTING");
  CHECK_EQ_INT(tern_channel_state(ch), TERN_CHANNEL_CONNECTING);
  SAY("freed while its lookup is still in flight: no crash, no callback");
  tern_channel_free(ch);

  ch = dns_channel("slow.test", g_srv_port, NULL);
  r = call(ch, 5000, 1);
  SAY("a wait-for-ready call on slow.test succeeds once the answer comes "
      "(%lld ms)",
      (long long)r.ms);
  CHECK_EQ_INT(r.code, TERN_STATUS_OK);
  CHECK(r.ms >= 1500);
  tern_channel_free(ch);
}

typedef struct slow_call {
  tern_channel *ch;
  call_result r;
} slow_call;

static void *slow_call_main(void *arg) {
  slow_call *c = arg;
  c->r = call(c->ch, 5000, 1);
  return NULL;
}

static void test_channels_sharing_a_loop_do_not_wait_for_each_others_dns(
    void) {
  tern__loop *loop = loop_start();
  tern_channel *a = NULL, *b = NULL;
  slow_call sa;
  pthread_t t;
  call_result rb;
  char tb[64];
  int64_t t0;
  CHECK_EQ_INT(tern__channel_new_on_loop(&a, dns_target("slow.test",
                                                        g_srv_port),
                                         NULL, loop),
               TERN_OK);
  snprintf(tb, sizeof(tb), "127.0.0.1:%d", g_srv_port);
  CHECK_EQ_INT(tern__channel_new_on_loop(&b, tb, NULL, loop), TERN_OK);
  sa.ch = a;
  t0 = now_ms();
  CHECK_EQ_INT(pthread_create(&t, NULL, slow_call_main, &sa), 0);
  usleep(100 * 1000); /* channel A's lookup is under way */
  rb = call(b, 2000, 0);
  SAY("two channels on one loop, A's name answered 2 s late: B's call "
      "ends %s after %lld ms (%lld ms after A's call began), A still "
      "CONNECTING",
      tern_status_code_name(rb.code), (long long)rb.ms,
      (long long)(now_ms() - t0));
  CHECK_EQ_INT(rb.code, TERN_STATUS_OK);
  CHECK(rb.ms < 1000);
  CHECK(now_ms() - t0 < 1500);
  CHECK_EQ_INT(tern_channel_state(a), TERN_CHANNEL_CONNECTING);
  pthread_join(t, NULL);
  SAY("A's wait-for-ready call ends %s once its answer comes, after %lld ms",
      tern_status_code_name(sa.r.code), (long long)sa.r.ms);
  CHECK_EQ_INT(sa.r.code, TERN_STATUS_OK);
  CHECK(sa.r.ms >= 1500);
  tern_channel_free(a);
  tern_channel_free(b);
  loop_end(loop);
}

static void test_channel_nxdomain_and_servfail_are_unavailable(void) {
  tern_channel *ch = dns_channel("nx.test", g_srv_port, NULL);
  call_result r = call(ch, 5000, 0);
  int q;
  SAY("nx.test: %s \"%s\"", tern_status_code_name(r.code), r.message);
  CHECK_EQ_INT(r.code, TERN_STATUS_UNAVAILABLE);
  CHECK(strstr(r.message, "DNS resolution failed for nx.test") != NULL);
  CHECK(strstr(r.message, "Domain name not found") != NULL);
  SAY("the channel is TRANSIENT_FAILURE");
  CHECK_EQ_INT(tern_channel_state(ch), TERN_CHANNEL_TRANSIENT_FAILURE);
  q = queries("nx.test", "A");
  r = call(ch, 5000, 0);
  SAY("a second call fails at once with the same reason, without a new "
      "query inside the 30 s interval (%lld ms)",
      (long long)r.ms);
  CHECK_EQ_INT(r.code, TERN_STATUS_UNAVAILABLE);
  CHECK(strstr(r.message, "Domain name not found") != NULL);
  CHECK(r.ms < 1000);
  CHECK_EQ_INT(queries("nx.test", "A"), q);
  tern_channel_free(ch);

  ch = dns_channel("fail.test", g_srv_port, NULL);
  r = call(ch, 5000, 0);
  SAY("fail.test (SERVFAIL): %s \"%s\"", tern_status_code_name(r.code),
      r.message);
  CHECK_EQ_INT(r.code, TERN_STATUS_UNAVAILABLE);
  CHECK(strstr(r.message, "DNS resolution failed for fail.test") != NULL);
  CHECK(strstr(r.message, ares_strerror(ARES_ESERVFAIL)) != NULL);
  tern_channel_free(ch);
}

static void test_channel_tries_every_record(void) {
  tern_channel *ch = dns_channel("multi.test", g_srv_port, NULL);
  call_result r = call(ch, 5000, 0);
  SAY("multi.test: A 127.0.0.2 (nothing on port %d) then A 127.0.0.1: %s",
      g_srv_port, tern_status_code_name(r.code));
  CHECK_EQ_INT(r.code, TERN_STATUS_OK);
  CHECK_EQ_STR(r.who, "main");
  tern_channel_free(ch);

  ch = dns_channel("dual.test", g_srv_port, NULL);
  r = call(ch, 5000, 0);
  SAY("dual.test: AAAA ::1 (nothing there) and A 127.0.0.1: %s",
      tern_status_code_name(r.code));
  CHECK_EQ_INT(r.code, TERN_STATUS_OK);
  tern_channel_free(ch);
}

static void test_channel_uses_the_dns_server_of_its_target(void) {
  int q = queries("custom.test", "A");
  tern_channel *ch = dns_channel("custom.test", g_srv_port, NULL);
  call_result r = call(ch, 5000, 0);
  SAY("dns://127.0.0.1:%d/custom.test:%d: %s, and that server saw the "
      "query",
      g_dns_port, g_srv_port, tern_status_code_name(r.code));
  CHECK_EQ_INT(r.code, TERN_STATUS_OK);
  CHECK_EQ_INT(queries("custom.test", "A"), q + 1);
  tern_channel_free(ch);
}

static void test_channel_localhost_still_resolves(void) {
  char t[64];
  tern_channel *ch = NULL;
  call_result r;
  snprintf(t, sizeof(t), "localhost:%d", g_srv_port);
  CHECK_EQ_INT(tern_channel_new(&ch, t, NULL), TERN_OK);
  r = call(ch, 5000, 0);
  SAY("%s (c-ares reads /etc/hosts first): %s", t,
      tern_status_code_name(r.code));
  CHECK_EQ_INT(r.code, TERN_STATUS_OK);
  tern_channel_free(ch);
}

static void test_channel_resolves_again_after_the_server_goes(void) {
  tern_channel_options o = TERN_CHANNEL_OPTIONS_INIT;
  tern_channel *ch;
  tern_server *s1, *s2;
  call_result r;
  int port = 0, port2, q1;
  char addr[64];
  write_table("moving.test=A:127.0.0.1\n");
  s1 = start_server("127.0.0.1:0", "one", &port);
  CHECK(s1 != NULL);
  o.dns_min_resolution_interval_ms = 200;
  o.initial_backoff_ms = 100;
  o.max_backoff_ms = 200;
  ch = dns_channel("moving.test", port, &o);
  r = call(ch, 5000, 0);
  SAY("moving.test -> 127.0.0.1:%d: %s from server \"%s\"", port,
      tern_status_code_name(r.code), r.who);
  CHECK_EQ_INT(r.code, TERN_STATUS_OK);
  CHECK_EQ_STR(r.who, "one");
  q1 = queries("moving.test", "A");
  CHECK_EQ_INT(q1, 1);

  /* The name moves to 127.0.0.3, where a second server listens on the
   * same port; then the first server goes away. */
  write_table("moving.test=A:127.0.0.3\n");
  snprintf(addr, sizeof(addr), "127.0.0.3:%d", port);
  s2 = start_server(addr, "two", &port2);
  CHECK(s2 != NULL);
  tern_server_free(s1);
  r = call(ch, 5000, 1);
  SAY("after server one stops: %s from server \"%s\" (%lld ms), "
      "moving.test looked up %d times",
      tern_status_code_name(r.code), r.who, (long long)r.ms,
      queries("moving.test", "A"));
  CHECK_EQ_INT(r.code, TERN_STATUS_OK);
  CHECK_EQ_STR(r.who, "two");
  CHECK(queries("moving.test", "A") > q1);
  tern_channel_free(ch);
  tern_server_free(s2);
}

static void test_channel_recovers_when_the_name_appears(void) {
  tern_channel_options o = TERN_CHANNEL_OPTIONS_INIT;
  tern_channel *ch;
  call_result r;
  write_table("appearing.test=NXDOMAIN\n");
  o.dns_min_resolution_interval_ms = 300;
  o.initial_backoff_ms = 5000; /* the lookup, not the backoff, ends it */
  o.max_backoff_ms = 5000;
  ch = dns_channel("appearing.test", g_srv_port, &o);
  r = call(ch, 5000, 0);
  SAY("appearing.test, not there yet: %s", tern_status_code_name(r.code));
  CHECK_EQ_INT(r.code, TERN_STATUS_UNAVAILABLE);
  CHECK(strstr(r.message, "Domain name not found") != NULL);
  write_table("appearing.test=A:127.0.0.1\n");
  r = call(ch, 5000, 1);
  SAY("once the name exists, a wait-for-ready call gets through after "
      "%lld ms: the next lookup (300 ms interval) ends the 5 s backoff",
      (long long)r.ms);
  CHECK_EQ_INT(r.code, TERN_STATUS_OK);
  CHECK(r.ms < 3000);
  CHECK_EQ_INT(queries("appearing.test", "A"), 2);
  tern_channel_free(ch);
}

static void test_channel_rate_limits_re_resolution(void) {
  tern_channel_options o = TERN_CHANNEL_OPTIONS_INIT;
  tern_channel *ch;
  int q0 = queries("rate.test", "A"), q, calls = 0, unavailable = 0;
  int64_t t0, elapsed;
  o.dns_min_resolution_interval_ms = 1000;
  o.initial_backoff_ms = 20;
  o.max_backoff_ms = 40;
  ch = dns_channel("rate.test", g_dead_port, &o);
  t0 = now_ms();
  while (now_ms() - t0 < 2500) {
    call_result r = call(ch, 2000, 0);
    calls++;
    unavailable += r.code == TERN_STATUS_UNAVAILABLE;
    usleep(10000);
  }
  elapsed = now_ms() - t0;
  q = queries("rate.test", "A") - q0;
  SAY("%d calls to a dead port in %lld ms (%d UNAVAILABLE), interval "
      "1000 ms: %d lookups",
      calls, (long long)elapsed, unavailable, q);
  CHECK_EQ_INT(unavailable, calls);
  CHECK(calls >= 20);
  SAY("re-resolved after failures, but at most one per interval");
  CHECK(q >= 2);
  CHECK(q <= elapsed / 1000 + 1);
  tern_channel_free(ch);
}

int main(int argc, char **argv) {
  tern_server *srv, *tmp;
  int i;
  for (i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--dns-port") == 0)
      g_dns_port = atoi(argv[i + 1]);
    else if (strcmp(argv[i], "--log") == 0)
      g_log_path = argv[i + 1];
    else if (strcmp(argv[i], "--table-file") == 0)
      g_table_path = argv[i + 1];
  }
  if (!g_dns_port || !g_log_path || !g_table_path) {
    fprintf(stderr, "usage: dns_test --dns-port N --log FILE "
                    "--table-file FILE (run_dns_test.py starts the server)\n");
    return 2;
  }
  srv = start_server("127.0.0.1:0", "main", &g_srv_port);
  /* A port that was just free: nothing listens there. */
  tmp = start_server("127.0.0.1:0", "gone", &g_dead_port);
  if (!srv || !tmp) {
    fprintf(stderr, "cannot start the tern server\n");
    return 1;
  }
  tern_server_free(tmp);
  printf("DNS server 127.0.0.1:%d, tern server 127.0.0.1:%d\n", g_dns_port,
         g_srv_port);
  RUN_TEST(test_delayed_answer_does_not_delay_other_work_on_the_loop);
  RUN_TEST(test_resolver_answers_in_the_order_given_and_reports_errors);
  RUN_TEST(test_static_resolver_literals_and_unix);
  RUN_TEST(test_free_while_a_query_is_in_flight);
  RUN_TEST(test_resolver_rate_limits_and_defers_requests);
  RUN_TEST(test_channel_deadline_fires_while_dns_is_slow);
  RUN_TEST(test_channels_sharing_a_loop_do_not_wait_for_each_others_dns);
  RUN_TEST(test_channel_nxdomain_and_servfail_are_unavailable);
  RUN_TEST(test_channel_tries_every_record);
  RUN_TEST(test_channel_uses_the_dns_server_of_its_target);
  RUN_TEST(test_channel_localhost_still_resolves);
  RUN_TEST(test_channel_resolves_again_after_the_server_goes);
  RUN_TEST(test_channel_recovers_when_the_name_appears);
  RUN_TEST(test_channel_rate_limits_re_resolution);
  tern_server_free(srv);
  return TEST_SUMMARY("dns");
}
