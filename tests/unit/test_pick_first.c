/* pick_first (src/channel/lb_pick_first.c) driven through the LB policy
 * interface with fake subchannels: the test plays the subchannels' state
 * changes and records what the policy reports and asks for. No socket, no
 * running loop (the policy's retry timer is only armed). */
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "channel/lb.h"
#include "channel/resolver.h"
#include "test.h"

#define MAX_SUBS 16
#define MAX_EVENTS 32

/* The fake: what a policy sees of a subchannel is only these pointers. */
struct tern__subchannel {
  tern__resolved_addr addr;
  tern_connectivity_state state;
  tern__subchannel_watcher watch;
  void *data;
  int connects;
  int released;
  tern__conn conn; /* never used as a connection: its address is picked */
};

typedef struct fake {
  tern__lb_helper helper;
  struct tern__subchannel subs[MAX_SUBS];
  int n_subs;
  tern_connectivity_state states[MAX_EVENTS]; /* as reported, in order */
  int n_states;
  char why[320];   /* the last TRANSIENT_FAILURE reason */
  int resolutions; /* re-resolution requests */
  struct tern__subchannel *connect_order[MAX_EVENTS];
  int n_connects;
} fake;

static fake g;

static tern__subchannel *f_new(tern__lb_helper *h,
                               const tern__resolved_addr *addr,
                               tern__subchannel_watcher watch, void *data) {
  struct tern__subchannel *sc;
  (void)h;
  if (g.n_subs == MAX_SUBS)
    return NULL;
  sc = &g.subs[g.n_subs++];
  memset(sc, 0, sizeof(*sc));
  sc->addr = *addr;
  sc->state = TERN_CHANNEL_IDLE;
  sc->watch = watch;
  sc->data = data;
  return sc;
}

/* A state change, told as the real subchannel tells it. */
static void play(struct tern__subchannel *sc, tern_connectivity_state st,
                 const char *why) {
  sc->state = st;
  if (!sc->released)
    sc->watch(sc, st, why, sc->data);
}

static void f_connect(tern__lb_helper *h, tern__subchannel *sc) {
  (void)h;
  if (sc->state != TERN_CHANNEL_IDLE)
    return;
  sc->connects++;
  if (g.n_connects < MAX_EVENTS)
    g.connect_order[g.n_connects++] = sc;
  play(sc, TERN_CHANNEL_CONNECTING, NULL);
}

static tern__conn *f_conn(tern__lb_helper *h, tern__subchannel *sc) {
  (void)h;
  return sc->state == TERN_CHANNEL_READY ? &sc->conn : NULL;
}

static void f_release(tern__lb_helper *h, tern__subchannel *sc) {
  (void)h;
  sc->released = 1;
}

static void f_update_state(tern__lb_helper *h, tern_connectivity_state st,
                           const char *why) {
  (void)h;
  if (g.n_states < MAX_EVENTS)
    g.states[g.n_states++] = st;
  if (st == TERN_CHANNEL_TRANSIENT_FAILURE)
    snprintf(g.why, sizeof(g.why), "%s", why ? why : "(null)");
}

static void f_request_resolution(tern__lb_helper *h) {
  (void)h;
  g.resolutions++;
}

static const tern__lb_helper_vt fake_vt = {
    f_new, f_connect, f_conn, f_release, f_update_state, f_request_resolution};

static tern__lb *setup(tern__loop *loop) {
  tern__lb *lb = NULL;
  memset(&g, 0, sizeof(g));
  g.helper.vt = &fake_vt;
  g.helper.loop = loop;
  CHECK_EQ_INT(tern__lb_pick_first_new(&lb, &g.helper, NULL), TERN_OK);
  return lb;
}

static void addrs_of(tern__resolved_addr *a, const int *ports, size_t n) {
  size_t i;
  for (i = 0; i < n; i++) {
    struct sockaddr_in *sin = (struct sockaddr_in *)&a[i].addr;
    memset(&a[i], 0, sizeof(a[i]));
    sin->sin_family = AF_INET;
    sin->sin_port = htons((uint16_t)ports[i]);
    sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a[i].len = sizeof(*sin);
  }
}

static int pick(tern__lb *lb, tern__conn **conn) {
  *conn = NULL;
  return lb->vt->pick(lb, conn);
}

static tern__loop *g_loop;

static void test_first_address_fails_second_is_picked(void) {
  tern__lb *lb = setup(g_loop);
  tern__resolved_addr a[2];
  int ports[2] = {1001, 1002};
  tern__conn *conn;
  addrs_of(a, ports, 2);
  lb->vt->update(lb, a, 2);
  SAY("an update alone leaves pick_first IDLE: no state, no connect");
  CHECK_EQ_INT(g.n_states, 0);
  CHECK_EQ_INT(g.n_connects, 0);
  CHECK_EQ_INT(pick(lb, &conn), TERN__LB_PICK_QUEUE);
  lb->vt->exit_idle(lb);
  SAY("exit_idle: CONNECTING, the first address tried alone");
  CHECK_EQ_INT(g.n_states, 1);
  CHECK_EQ_INT(g.states[0], TERN_CHANNEL_CONNECTING);
  CHECK_EQ_INT(g.n_subs, 2);
  CHECK_EQ_INT(g.n_connects, 1);
  CHECK(g.connect_order[0] == &g.subs[0]);
  play(&g.subs[0], TERN_CHANNEL_TRANSIENT_FAILURE,
       "connect: Connection refused");
  SAY("the first fails: the second is tried, the policy still CONNECTING");
  CHECK_EQ_INT(g.n_connects, 2);
  CHECK(g.connect_order[1] == &g.subs[1]);
  CHECK_EQ_INT(g.n_states, 1);
  play(&g.subs[1], TERN_CHANNEL_READY, NULL);
  SAY("the second is READY: the policy READY, every pick gets it");
  CHECK_EQ_INT(g.n_states, 2);
  CHECK_EQ_INT(g.states[1], TERN_CHANNEL_READY);
  CHECK_EQ_INT(pick(lb, &conn), TERN__LB_PICK_COMPLETE);
  CHECK(conn == &g.subs[1].conn);
  CHECK_EQ_INT(pick(lb, &conn), TERN__LB_PICK_COMPLETE);
  CHECK(conn == &g.subs[1].conn);
  CHECK_EQ_INT(g.resolutions, 0);
  SAY("the first's backoff ending does not disturb READY");
  play(&g.subs[0], TERN_CHANNEL_IDLE, NULL);
  CHECK_EQ_INT(g.n_states, 2);
  lb->vt->destroy(lb);
  SAY("destroy releases every subchannel");
  CHECK(g.subs[0].released && g.subs[1].released);
}

static void test_all_fail_is_transient_failure_then_idle(void) {
  tern__lb *lb = setup(g_loop);
  tern__resolved_addr a[2];
  int ports[2] = {1001, 1002};
  tern__conn *conn;
  addrs_of(a, ports, 2);
  lb->vt->update(lb, a, 2);
  lb->vt->exit_idle(lb);
  play(&g.subs[0], TERN_CHANNEL_TRANSIENT_FAILURE, "connect: refused one");
  play(&g.subs[1], TERN_CHANNEL_TRANSIENT_FAILURE, "connect timed out");
  SAY("both fail: TRANSIENT_FAILURE with the last error: \"%s\"", g.why);
  CHECK_EQ_INT(g.n_states, 2);
  CHECK_EQ_INT(g.states[1], TERN_CHANNEL_TRANSIENT_FAILURE);
  CHECK_EQ_STR(g.why, "failed to connect to all addresses; last error: "
                      "connect timed out");
  SAY("one re-resolution request, and picks fail");
  CHECK_EQ_INT(g.resolutions, 1);
  CHECK_EQ_INT(pick(lb, &conn), TERN__LB_PICK_FAIL);
  SAY("exit_idle in TRANSIENT_FAILURE starts nothing");
  lb->vt->exit_idle(lb);
  CHECK_EQ_INT(g.n_connects, 2);
  play(&g.subs[0], TERN_CHANNEL_IDLE, NULL);
  SAY("one backoff over: still TRANSIENT_FAILURE");
  CHECK_EQ_INT(g.n_states, 2);
  play(&g.subs[1], TERN_CHANNEL_IDLE, NULL);
  SAY("both over: IDLE, and picks queue");
  CHECK_EQ_INT(g.n_states, 3);
  CHECK_EQ_INT(g.states[2], TERN_CHANNEL_IDLE);
  CHECK_EQ_INT(pick(lb, &conn), TERN__LB_PICK_QUEUE);
  lb->vt->exit_idle(lb);
  SAY("a new pass starts at the first address again");
  CHECK_EQ_INT(g.states[3], TERN_CHANNEL_CONNECTING);
  CHECK_EQ_INT(g.n_connects, 3);
  CHECK(g.connect_order[2] == &g.subs[0]);
  CHECK_EQ_INT(g.n_subs, 2); /* the same subchannels, kept */
  lb->vt->destroy(lb);
}

static void test_selected_lost_is_idle_and_re_resolution(void) {
  tern__lb *lb = setup(g_loop);
  tern__resolved_addr a[1];
  int ports[1] = {1001};
  tern__conn *conn;
  addrs_of(a, ports, 1);
  lb->vt->update(lb, a, 1);
  lb->vt->exit_idle(lb);
  play(&g.subs[0], TERN_CHANNEL_READY, NULL);
  CHECK_EQ_INT(pick(lb, &conn), TERN__LB_PICK_COMPLETE);
  play(&g.subs[0], TERN_CHANNEL_IDLE, NULL);
  SAY("the selected subchannel goes IDLE (GOAWAY): the policy IDLE, one "
      "re-resolution, picks queue");
  CHECK_EQ_INT(g.n_states, 3);
  CHECK_EQ_INT(g.states[2], TERN_CHANNEL_IDLE);
  CHECK_EQ_INT(g.resolutions, 1);
  CHECK_EQ_INT(pick(lb, &conn), TERN__LB_PICK_QUEUE);
  SAY("exit_idle reconnects the same subchannel");
  lb->vt->exit_idle(lb);
  CHECK_EQ_INT(g.subs[0].connects, 2);
  lb->vt->destroy(lb);
}

static void test_resolver_error_then_addresses(void) {
  tern__lb *lb = setup(g_loop);
  tern__resolved_addr a[1];
  int ports[1] = {1001};
  tern__conn *conn;
  lb->vt->exit_idle(lb);
  SAY("exit_idle with no address yet: CONNECTING and a resolution asked");
  CHECK_EQ_INT(g.n_states, 1);
  CHECK_EQ_INT(g.states[0], TERN_CHANNEL_CONNECTING);
  CHECK_EQ_INT(g.resolutions, 1);
  lb->vt->resolver_error(lb, "DNS resolution failed for nx.test: "
                             "Domain name not found");
  SAY("the resolver fails: TRANSIENT_FAILURE with its reason, a retry "
      "asked");
  CHECK_EQ_INT(g.states[1], TERN_CHANNEL_TRANSIENT_FAILURE);
  CHECK_EQ_STR(g.why, "DNS resolution failed for nx.test: "
                      "Domain name not found");
  CHECK_EQ_INT(g.resolutions, 2);
  CHECK_EQ_INT(pick(lb, &conn), TERN__LB_PICK_FAIL);
  addrs_of(a, ports, 1);
  lb->vt->update(lb, a, 1);
  SAY("addresses arrive: IDLE at once, not after the backoff");
  CHECK_EQ_INT(g.n_states, 3);
  CHECK_EQ_INT(g.states[2], TERN_CHANNEL_IDLE);
  lb->vt->exit_idle(lb);
  CHECK_EQ_INT(g.n_connects, 1);
  SAY("a failed re-resolution later keeps the addresses (no state)");
  lb->vt->resolver_error(lb, "DNS server returned general failure");
  CHECK_EQ_INT(g.n_states, 4);
  play(&g.subs[0], TERN_CHANNEL_READY, NULL);
  CHECK_EQ_INT(pick(lb, &conn), TERN__LB_PICK_COMPLETE);
  lb->vt->destroy(lb);
}

static void test_update_keeps_or_replaces_the_selected(void) {
  tern__lb *lb = setup(g_loop);
  tern__resolved_addr a[2];
  int ports[2] = {1001, 1002}, other[1] = {1003};
  tern__conn *conn;
  addrs_of(a, ports, 2);
  lb->vt->update(lb, a, 2);
  lb->vt->exit_idle(lb);
  play(&g.subs[0], TERN_CHANNEL_READY, NULL);
  addrs_of(a, ports + 0, 1);
  lb->vt->update(lb, a, 1);
  SAY("an update that still lists the selected address: READY, kept");
  CHECK_EQ_INT(g.n_states, 2);
  CHECK_EQ_INT(pick(lb, &conn), TERN__LB_PICK_COMPLETE);
  CHECK(conn == &g.subs[0].conn);
  CHECK(!g.subs[0].released && g.subs[1].released);
  addrs_of(a, other, 1);
  lb->vt->update(lb, a, 1);
  SAY("one without it: the old one released (it drains), a new pass");
  CHECK(g.subs[0].released);
  CHECK_EQ_INT(g.states[g.n_states - 1], TERN_CHANNEL_CONNECTING);
  CHECK_EQ_INT(g.n_subs, 3);
  CHECK_EQ_INT(g.subs[2].connects, 1);
  CHECK_EQ_INT(pick(lb, &conn), TERN__LB_PICK_QUEUE);
  lb->vt->destroy(lb);
}

int main(void) {
  if (tern__loop_new(&g_loop) != TERN_OK) {
    printf("FAIL: no loop\n");
    return 1;
  }
  RUN_TEST(test_first_address_fails_second_is_picked);
  RUN_TEST(test_all_fail_is_transient_failure_then_idle);
  RUN_TEST(test_selected_lost_is_idle_and_re_resolution);
  RUN_TEST(test_resolver_error_then_addresses);
  RUN_TEST(test_update_keeps_or_replaces_the_selected);
  tern__loop_free(g_loop);
  return TEST_SUMMARY("pick_first");
}
