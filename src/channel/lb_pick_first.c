/* pick_first, behind the LB policy interface (lb.h), as grpc's: a pass
 * tries the subchannels in address order, one attempt at a time; the
 * first READY one serves every call until it goes (GOAWAY, connection
 * lost: IDLE and a re-resolution). When the whole pass fails the policy is
 * TRANSIENT_FAILURE with the last subchannel's error, asks for a new
 * resolution, and is IDLE again once the subchannels' backoffs are over.
 * With no address at all (the resolver failed) it is TRANSIENT_FAILURE
 * with the resolver's reason and retries after its own backoff, or at
 * once when addresses arrive. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channel/lb.h"
#include "channel/resolver.h"

#define NONE ((size_t)-1)

typedef struct pf_sub {
  tern__subchannel *sc;
  tern__resolved_addr addr;
  tern_connectivity_state state; /* the last one the watcher told */
} pf_sub;

typedef struct pick_first {
  tern__lb base;
  tern__lb_helper *h;
  /* the subchannels of the current (or last) pass, in address order */
  pf_sub *subs;
  size_t n_subs;
  /* the latest address list: the next pass is made of it */
  tern__resolved_addr *addrs;
  size_t n_addrs;
  tern_connectivity_state state;
  size_t idx;          /* CONNECTING: the subchannel being tried */
  size_t sel;          /* READY: the selected subchannel */
  tern__conn *conn;    /* READY: what every pick gets */
  int awaiting_addrs;  /* CONNECTING until the first resolution */
  int resolver_failed; /* the resolver failed and there is no address */
  char resolver_why[256];
  char last_error[200];  /* the last subchannel failure */
  tern__backoff backoff; /* between retries after a resolver failure */
  tern__timer retry_timer;
  char why[320]; /* the reason given with TRANSIENT_FAILURE */
} pick_first;

static void try_next(pick_first *pf);

/* The channel may call pick from inside update_state: state and conn are
 * set before. */
static void report(pick_first *pf, tern_connectivity_state st,
                   const char *why) {
  pf->state = st;
  pf->h->vt->update_state(pf->h, st, why);
}

static size_t find(const pick_first *pf, const tern__subchannel *sc) {
  size_t i;
  for (i = 0; i < pf->n_subs; i++)
    if (pf->subs[i].sc == sc)
      return i;
  return NONE;
}

static int same_addr(const tern__resolved_addr *a,
                     const tern__resolved_addr *b) {
  return a->len == b->len && memcmp(&a->addr, &b->addr, a->len) == 0;
}

static int any_failing(const pick_first *pf) {
  size_t i;
  for (i = 0; i < pf->n_subs; i++)
    if (pf->subs[i].state == TERN_CHANNEL_TRANSIENT_FAILURE)
      return 1;
  return 0;
}

static void watch(tern__subchannel *sc, tern_connectivity_state st,
                  const char *why, void *data);

/* The subchannels for the latest addresses: those of an address already
 * in the list are kept (with their state and connection), the others
 * released. -1 when out of memory (the list is unchanged). */
static int build_list(pick_first *pf) {
  pf_sub *subs;
  size_t i, j, n = 0;
  subs = tern__malloc((pf->n_addrs ? pf->n_addrs : 1) * sizeof(*subs));
  if (!subs)
    return -1;
  for (i = 0; i < pf->n_addrs; i++) {
    pf_sub *s = &subs[n];
    s->addr = pf->addrs[i];
    s->sc = NULL;
    s->state = TERN_CHANNEL_IDLE;
    for (j = 0; j < pf->n_subs && !s->sc; j++) {
      if (pf->subs[j].sc && same_addr(&pf->subs[j].addr, &s->addr)) {
        s->sc = pf->subs[j].sc;
        s->state = pf->subs[j].state;
        pf->subs[j].sc = NULL; /* taken */
      }
    }
    if (!s->sc)
      s->sc = pf->h->vt->subchannel_new(pf->h, &s->addr, watch, pf);
    if (s->sc) /* an address without one (out of memory) is left out */
      n++;
  }
  for (j = 0; j < pf->n_subs; j++)
    if (pf->subs[j].sc)
      pf->h->vt->subchannel_release(pf->h, pf->subs[j].sc);
  tern__free(pf->subs);
  pf->subs = subs;
  pf->n_subs = n;
  return 0;
}

static void start_retry_timer(pick_first *pf) {
  tern__timer_start(pf->h->loop, &pf->retry_timer,
                    tern__now_ns() +
                        tern__backoff_next(&pf->backoff) * 1000000);
}

/* No address to try: TRANSIENT_FAILURE with the resolver's reason. */
static void resolver_failure(pick_first *pf) {
  snprintf(pf->why, sizeof(pf->why), "%s", pf->resolver_why);
  start_retry_timer(pf);
  pf->h->vt->request_resolution(pf->h);
  report(pf, TERN_CHANNEL_TRANSIENT_FAILURE, pf->why);
}

/* Every subchannel of the pass failed, as grpc says it. */
static void pass_failed(pick_first *pf) {
  snprintf(pf->why, sizeof(pf->why),
           "failed to connect to all addresses; last error: %s",
           pf->last_error[0] ? pf->last_error : "unknown");
  /* Normally the subchannels' backoffs bring the policy back to IDLE;
   * with none failing (none could be made) its own timer does. */
  if (!any_failing(pf))
    start_retry_timer(pf);
  pf->h->vt->request_resolution(pf->h);
  report(pf, TERN_CHANNEL_TRANSIENT_FAILURE, pf->why);
}

static void select_sub(pick_first *pf, size_t i) {
  tern__conn *conn = pf->h->vt->subchannel_conn(pf->h, pf->subs[i].sc);
  if (!conn) { /* READY without a connection: count it as failed */
    pf->idx = i + 1;
    try_next(pf);
    return;
  }
  pf->sel = i;
  pf->conn = conn;
  report(pf, TERN_CHANNEL_READY, NULL);
}

static void try_next(pick_first *pf) {
  while (pf->idx < pf->n_subs) {
    pf_sub *s = &pf->subs[pf->idx];
    switch (s->state) {
    case TERN_CHANNEL_READY:
      select_sub(pf, pf->idx);
      return;
    case TERN_CHANNEL_IDLE:
      /* The watcher goes on from here, maybe before this returns. */
      pf->h->vt->subchannel_connect(pf->h, s->sc);
      return;
    case TERN_CHANNEL_CONNECTING:
      return; /* its result goes on */
    default:
      /* Still in its backoff: it failed for this pass too (last_error
       * still says how). */
      pf->idx++;
      break;
    }
  }
  pass_failed(pf);
}

static void start_pass(pick_first *pf) {
  pf->awaiting_addrs = 0;
  pf->conn = NULL;
  if (build_list(pf) != 0)
    snprintf(pf->last_error, sizeof(pf->last_error), "out of memory");
  pf->idx = 0;
  report(pf, TERN_CHANNEL_CONNECTING, NULL);
  if (pf->state == TERN_CHANNEL_CONNECTING && pf->idx == 0)
    try_next(pf);
}

static void watch(tern__subchannel *sc, tern_connectivity_state st,
                  const char *why, void *data) {
  pick_first *pf = data;
  size_t i = find(pf, sc);
  if (i == NONE)
    return;
  pf->subs[i].state = st;
  if (st == TERN_CHANNEL_TRANSIENT_FAILURE && why)
    snprintf(pf->last_error, sizeof(pf->last_error), "%s", why);
  switch (pf->state) {
  case TERN_CHANNEL_CONNECTING:
    if (pf->awaiting_addrs || i != pf->idx)
      return;
    if (st == TERN_CHANNEL_READY) {
      select_sub(pf, i);
    } else if (st != TERN_CHANNEL_CONNECTING) {
      pf->idx++;
      try_next(pf);
    }
    return;
  case TERN_CHANNEL_READY:
    if (i == pf->sel && st != TERN_CHANNEL_READY) {
      /* The selected connection is gone or draining: the server may have
       * moved, so look the name up again (grpc does). */
      pf->conn = NULL;
      pf->h->vt->request_resolution(pf->h);
      report(pf, TERN_CHANNEL_IDLE, NULL);
    }
    return;
  case TERN_CHANNEL_TRANSIENT_FAILURE:
    /* After a failed pass: IDLE once no subchannel is in its backoff. */
    if (st == TERN_CHANNEL_IDLE && !tern__timer_armed(&pf->retry_timer) &&
        !any_failing(pf))
      report(pf, TERN_CHANNEL_IDLE, NULL);
    return;
  default:
    return;
  }
}

static void retry_fired(tern__timer *t) {
  pick_first *pf = t->data;
  if (pf->state == TERN_CHANNEL_TRANSIENT_FAILURE)
    report(pf, TERN_CHANNEL_IDLE, NULL);
}

/* ---- the vtable --------------------------------------------------------- */

static void pf_update(tern__lb *lb, const tern__resolved_addr *addrs,
                      size_t n) {
  pick_first *pf = (pick_first *)lb;
  tern__resolved_addr *copy;
  tern__subchannel *keep;
  if (n == 0)
    return;
  copy = tern__malloc(n * sizeof(*copy));
  if (!copy) {
    if (pf->n_addrs == 0) /* as a failed resolution: keep what we have */
      lb->vt->resolver_error(lb, "out of memory");
    return;
  }
  memcpy(copy, addrs, n * sizeof(*copy));
  tern__free(pf->addrs);
  pf->addrs = copy;
  pf->n_addrs = n;
  pf->resolver_failed = 0;
  tern__backoff_reset(&pf->backoff);
  switch (pf->state) {
  case TERN_CHANNEL_CONNECTING:
    /* A pass in progress goes on with its list; the next one takes this */
    if (pf->awaiting_addrs)
      start_pass(pf);
    return;
  case TERN_CHANNEL_READY:
    /* Keep the selected subchannel while its address is still listed. */
    keep = pf->subs[pf->sel].sc;
    if (build_list(pf) != 0)
      return;
    pf->sel = find(pf, keep);
    if (pf->sel == NONE) /* it was released: its connection drains */
      start_pass(pf);
    return;
  case TERN_CHANNEL_TRANSIENT_FAILURE:
    /* Waiting out a resolver failure: the wait is over. */
    if (tern__timer_armed(&pf->retry_timer)) {
      tern__timer_stop(pf->h->loop, &pf->retry_timer);
      report(pf, TERN_CHANNEL_IDLE, NULL);
    }
    return;
  default:
    return; /* IDLE: the next pass takes it */
  }
}

static void pf_resolver_error(tern__lb *lb, const char *why) {
  pick_first *pf = (pick_first *)lb;
  if (pf->n_addrs > 0)
    return; /* as grpc: a failed re-resolution keeps the addresses */
  pf->resolver_failed = 1;
  snprintf(pf->resolver_why, sizeof(pf->resolver_why), "%s",
           why && why[0] ? why : "name resolution failed");
  if (pf->state == TERN_CHANNEL_CONNECTING && pf->awaiting_addrs) {
    pf->awaiting_addrs = 0;
    resolver_failure(pf);
  } else if (pf->state == TERN_CHANNEL_TRANSIENT_FAILURE) {
    snprintf(pf->why, sizeof(pf->why), "%s", pf->resolver_why);
    report(pf, TERN_CHANNEL_TRANSIENT_FAILURE, pf->why);
  }
}

static void pf_exit_idle(tern__lb *lb) {
  pick_first *pf = (pick_first *)lb;
  if (pf->state != TERN_CHANNEL_IDLE)
    return;
  if (pf->n_addrs > 0) {
    start_pass(pf);
  } else if (pf->resolver_failed) {
    /* Fail now with the reason we have rather than wait for a lookup the
     * resolver may defer (its rate limit). */
    resolver_failure(pf);
  } else {
    /* CONNECTING until the first answer; calls wait, their deadlines
     * still run. */
    pf->awaiting_addrs = 1;
    report(pf, TERN_CHANNEL_CONNECTING, NULL);
    pf->h->vt->request_resolution(pf->h);
  }
}

static int pf_pick(tern__lb *lb, tern__conn **conn) {
  pick_first *pf = (pick_first *)lb;
  if (pf->conn) {
    *conn = pf->conn;
    return TERN__LB_PICK_COMPLETE;
  }
  return pf->state == TERN_CHANNEL_TRANSIENT_FAILURE ? TERN__LB_PICK_FAIL
                                                     : TERN__LB_PICK_QUEUE;
}

static void pf_destroy(tern__lb *lb) {
  pick_first *pf = (pick_first *)lb;
  size_t i;
  tern__timer_stop(pf->h->loop, &pf->retry_timer);
  for (i = 0; i < pf->n_subs; i++)
    pf->h->vt->subchannel_release(pf->h, pf->subs[i].sc);
  tern__free(pf->subs);
  tern__free(pf->addrs);
  tern__free(pf);
}

static const tern__lb_vt pick_first_vt = {"pick_first",      pf_update,
                                          pf_resolver_error, pf_exit_idle,
                                          pf_pick,           pf_destroy};

int tern__lb_pick_first_new(tern__lb **lb_out, tern__lb_helper *helper,
                            const tern__lb_config *cfg) {
  pick_first *pf = tern__zalloc(sizeof(*pf));
  tern__lb_config c;
  if (!pf)
    return TERN_ENOMEM;
  memset(&c, 0, sizeof(c));
  if (cfg)
    c = *cfg;
  pf->base.vt = &pick_first_vt;
  pf->base.helper = helper;
  pf->h = helper;
  pf->state = TERN_CHANNEL_IDLE;
  pf->sel = NONE;
  tern__backoff_init(&pf->backoff, c.initial_backoff_ms, c.max_backoff_ms,
                     c.seed);
  tern__timer_init(&pf->retry_timer, retry_fired, pf);
  *lb_out = &pf->base;
  return TERN_OK;
}
