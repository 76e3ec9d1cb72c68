/* A channel, the owner of the picker (grpc's client channel, gRFC A6):
 * its resolver (resolver.h) feeds address lists and errors to its load
 * balancing policy (lb.h, pick_first), the policy's state is the
 * channel's, and calls pick a connection through tern__channel_pick:
 * at once when the policy has one, else they wait here until its next
 * state (wait-for-ready calls through TRANSIENT_FAILURE too). The helper
 * the policy gets makes subchannels (subchannel.h) with the channel's TLS
 * and backoff settings. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channel/channel_int.h"
#include "channel/lb.h"
#include "channel/resolver.h"
#include "channel/subchannel.h"

#define DEFAULT_MAX_RECV (4 * 1024 * 1024)

struct tern_channel {
  tern__channel_settings set; /* what calls read */
  tern__target target;
  char *authority;
  char *user_agent;
  tern__tls_ctx *tls;          /* NULL: cleartext */
  char *tls_host;              /* the name the server certificate must carry */
  tern_metadata *credentials;  /* call credentials for every call */
  int64_t dns_min_interval_ms; /* 0: the resolver's default */
  tern__subchannel_args sc_args;

  pthread_mutex_t mu;
  int refs;                      /* atomic: the user's + one per call */
  tern_connectivity_state state; /* written on the loop, under mu */

  /* loop thread only */
  tern__lb *lb;
  tern__lb_helper helper;
  tern__resolver *resolver; /* made on first use */
  tern__queue picks;        /* of tern__pick.node: waiting for a state */
  tern__queue users;        /* of tern__channel_user.node */
  tern__queue conns;        /* every open connection (incl. draining) */
  tern__task idle_task;     /* leaves IDLE for waiting picks */
  int own_loop;             /* the loop and its thread are the channel's */
  char why[320];            /* the policy's TRANSIENT_FAILURE reason */
  int closing;
};

static void set_state(tern_channel *ch, tern_connectivity_state st) {
  pthread_mutex_lock(&ch->mu);
  ch->state = st;
  pthread_mutex_unlock(&ch->mu);
}

const tern__channel_settings *
tern__channel_settings_of(const tern_channel *ch) {
  return &ch->set;
}

void tern__channel_ref(tern_channel *ch) {
  __atomic_fetch_add(&ch->refs, 1, __ATOMIC_RELAXED);
}

static void channel_destroy(tern_channel *ch) {
  tern__resolver_free(ch->resolver); /* set when close_task never ran */
  if (ch->lb)
    ch->lb->vt->destroy(ch->lb);
  if (ch->own_loop)
    tern__loop_free(ch->set.loop);
  tern__target_free(&ch->target);
  tern__free(ch->authority);
  tern__free(ch->user_agent);
  tern__tls_ctx_unref(ch->tls);
  tern__free(ch->tls_host);
  tern_metadata_free(ch->credentials);
  pthread_mutex_destroy(&ch->mu);
  tern__free(ch);
}

void tern__channel_unref(tern_channel *ch) {
  if (__atomic_sub_fetch(&ch->refs, 1, __ATOMIC_ACQ_REL) == 0)
    channel_destroy(ch);
}

/* ---- the resolver -------------------------------------------------------- */

static void resolved(tern__resolver *r, int status,
                     const tern__resolved_addr *addrs, size_t n,
                     const char *why, void *user_data) {
  tern_channel *ch = user_data;
  (void)r;
  if (ch->closing)
    return;
  if (status == TERN_OK && n > 0) {
    ch->lb->vt->update(ch->lb, addrs, n);
  } else {
    TERN__DEBUG("%s", why ? why : "name resolution failed");
    ch->lb->vt->resolver_error(ch->lb, why);
  }
}

/* The resolver is made on first use, on the loop thread: creating a
 * channel stays free of file reads (c-ares reads resolv.conf). A resolver
 * that cannot start is a resolver error for the policy. */
static int ensure_resolver(tern_channel *ch) {
  tern__resolver_config cfg;
  char why[120];
  int rv;
  if (ch->resolver)
    return TERN_OK;
  memset(&cfg, 0, sizeof(cfg));
  cfg.min_interval_ms = ch->dns_min_interval_ms;
  rv = tern__resolver_new(&ch->resolver, ch->set.loop, &ch->target, &cfg,
                          resolved, ch);
  if (rv != TERN_OK) {
    ch->resolver = NULL;
    snprintf(why, sizeof(why), "cannot start name resolution: %s",
             tern_strerror(rv));
    ch->lb->vt->resolver_error(ch->lb, why);
  }
  return rv;
}

/* ---- picks -------------------------------------------------------------- */

static void exit_idle(tern_channel *ch) {
  if (ch->closing)
    return;
  /* Made before the policy asks for a resolution, so that a resolver
   * that cannot start reaches the policy as a resolver error first (and
   * exit_idle fails at once with it), not from inside its request. */
  if (!ch->resolver)
    (void)ensure_resolver(ch);
  ch->lb->vt->exit_idle(ch->lb);
}

int tern__channel_pick(tern_channel *ch, tern__pick *p, tern__conn **conn,
                       tern_status_code *code, const char **why) {
  int r;
  if (ch->closing) {
    *code = TERN_STATUS_CANCELLED;
    *why = "channel closed";
    return TERN__PICK_FAILED;
  }
  r = ch->lb->vt->pick(ch->lb, conn);
  if (r == TERN__LB_PICK_COMPLETE)
    return TERN__PICK_READY;
  if (ch->state == TERN_CHANNEL_IDLE) {
    /* Before p is queued: the policy may report a state at once (an
     * address list that fails, a unix socket that connects). */
    exit_idle(ch);
    r = ch->lb->vt->pick(ch->lb, conn);
    if (r == TERN__LB_PICK_COMPLETE)
      return TERN__PICK_READY;
  }
  if (r == TERN__LB_PICK_FAIL && !p->wait_for_ready) {
    *code = TERN_STATUS_UNAVAILABLE;
    *why = ch->why;
    return TERN__PICK_FAILED;
  }
  tern__queue_insert_tail(&ch->picks, &p->node);
  return TERN__PICK_QUEUED;
}

void tern__channel_cancel_pick(tern_channel *ch, tern__pick *p) {
  (void)ch; /* a node unlinks itself; harmless when not queued */
  tern__queue_remove(&p->node);
}

/* The policy has a new state: every waiting pick is tried again. A done
 * callback may withdraw other picks or queue new ones: the list is taken
 * first, and a pick still waiting goes back. */
static void retry_picks(tern_channel *ch) {
  tern__queue todo;
  tern__queue *q;
  tern__queue_init(&todo);
  tern__queue_move(&ch->picks, &todo);
  while ((q = tern__queue_head(&todo)) != NULL) {
    tern__pick *p = tern__queue_data(q, tern__pick, node);
    tern__conn *conn = NULL;
    int r = ch->lb->vt->pick(ch->lb, &conn);
    tern__queue_remove(q);
    if (r == TERN__LB_PICK_COMPLETE)
      p->done(p, conn, TERN_STATUS_OK, NULL);
    else if (r == TERN__LB_PICK_FAIL && !p->wait_for_ready)
      p->done(p, NULL, TERN_STATUS_UNAVAILABLE, ch->why);
    else
      tern__queue_insert_tail(&ch->picks, q);
  }
  /* IDLE with calls waiting (a backoff ended, a connection went):
   * connect again, at the end of the turn, outside the policy's call. */
  if (ch->state == TERN_CHANNEL_IDLE && !tern__queue_empty(&ch->picks))
    tern__loop_defer(ch->set.loop, &ch->idle_task);
}

static void idle_task_run(tern__task *t) {
  tern_channel *ch = t->data;
  if (!ch->closing && ch->state == TERN_CHANNEL_IDLE &&
      !tern__queue_empty(&ch->picks)) {
    exit_idle(ch);
    retry_picks(ch);
  }
}

/* ---- the helper the policy gets ----------------------------------------- */

/* The helper is embedded in its channel. */
#define CH(h) ((tern_channel *)((char *)(h)-offsetof(tern_channel, helper)))

static tern__subchannel *h_subchannel_new(tern__lb_helper *h,
                                          const tern__resolved_addr *addr,
                                          tern__subchannel_watcher watch,
                                          void *data) {
  tern__subchannel *sc;
  if (tern__subchannel_new(&sc, &CH(h)->sc_args,
                           (const struct sockaddr *)&addr->addr, addr->len,
                           watch, data) != TERN_OK)
    return NULL;
  return sc;
}

static void h_subchannel_connect(tern__lb_helper *h, tern__subchannel *sc) {
  (void)h;
  tern__subchannel_connect(sc);
}

static tern__conn *h_subchannel_conn(tern__lb_helper *h, tern__subchannel *sc) {
  (void)h;
  return tern__subchannel_conn(sc);
}

static void h_subchannel_release(tern__lb_helper *h, tern__subchannel *sc) {
  (void)h;
  tern__subchannel_release(sc);
}

static void h_update_state(tern__lb_helper *h, tern_connectivity_state st,
                           const char *why) {
  tern_channel *ch = CH(h);
  if (ch->closing)
    return;
  if (st == TERN_CHANNEL_TRANSIENT_FAILURE)
    snprintf(ch->why, sizeof(ch->why), "%s", why ? why : "unavailable");
  set_state(ch, st);
  retry_picks(ch);
}

/* As grpc's channel asks its resolver; the resolver rate-limits, the
 * answer comes to `resolved`. */
static void h_request_resolution(tern__lb_helper *h) {
  tern_channel *ch = CH(h);
  if (!ch->closing && ch->resolver)
    tern__resolver_request(ch->resolver);
}

static const tern__lb_helper_vt channel_helper_vt = {
    h_subchannel_new,     h_subchannel_connect, h_subchannel_conn,
    h_subchannel_release, h_update_state,       h_request_resolution};

/* ---- users -------------------------------------------------------------- */

void tern__channel_add_user(tern_channel *ch, tern__channel_user *u) {
  tern__queue_insert_head(&ch->users, &u->node);
}

void tern__channel_remove_user(tern_channel *ch, tern__channel_user *u) {
  (void)ch;
  tern__queue_remove(&u->node);
}

/* ---- public API --------------------------------------------------------- */

/* The settings from the options: strings, TLS, credentials. */
static int channel_setup(tern_channel *ch, const tern_channel_options *o) {
  size_t ualen;
  ch->authority = tern__strdup(o->authority ? o->authority : ch->target.authority);
  if (!ch->authority)
    return TERN_ENOMEM;
  ualen = (o->user_agent_prefix ? strlen(o->user_agent_prefix) + 1 : 0) + 32;
  ch->user_agent = tern__malloc(ualen);
  if (!ch->user_agent)
    return TERN_ENOMEM;
  snprintf(ch->user_agent, ualen, "%s%stern-c/%s",
           o->user_agent_prefix ? o->user_agent_prefix : "",
           o->user_agent_prefix ? " " : "", TERN_VERSION);
  if (o->credentials) {
    if (tern_metadata_new(&ch->credentials) != TERN_OK)
      return TERN_ENOMEM;
    if (tern__metadata_append(ch->credentials, o->credentials) != TERN_OK)
      return TERN_ENOMEM;
  }
  if (o->tls) {
    tern__hostport hp;
    int rv = tern__tls_ctx_new(&ch->tls, 0, o->tls);
    if (rv != TERN_OK)
      return rv;
    /* The host part of the authority: "[v6]:p" -> "v6", "h:p" -> "h". An
     * authority set by the user that does not split is taken whole: the
     * certificate check then says what is wrong with it. */
    if (tern__hostport_split(ch->authority, strlen(ch->authority),
                             TERN__HOSTPORT_PORT_ZERO, &hp) == TERN_OK)
      ch->tls_host = tern__strndup(hp.host, hp.host_len);
    else
      ch->tls_host = tern__strdup(ch->authority);
    if (!ch->tls_host)
      return TERN_ENOMEM;
  }
  ch->set.authority = ch->authority;
  ch->set.user_agent = ch->user_agent;
  ch->set.scheme = ch->tls ? "https" : "http";
  ch->set.credentials = ch->credentials;
  ch->set.tls = ch->tls != NULL;
  ch->set.allow_insecure_credentials = o->allow_insecure_credentials;
  ch->set.max_recv = o->max_receive_message_size ? o->max_receive_message_size
                                                 : DEFAULT_MAX_RECV;
  ch->set.default_compression = o->default_compression;
  ch->dns_min_interval_ms = o->dns_min_resolution_interval_ms;
  return TERN_OK;
}

/* loop NULL: a loop and a thread of the channel's own. */
static int channel_new(tern_channel **channel_out, const char *target,
                       const tern_channel_options *opts, tern__loop *loop) {
  tern_channel_options o = TERN_CHANNEL_OPTIONS_INIT;
  tern__lb_config lbc;
  tern_channel *ch;
  int rv;
  if (!channel_out || !target)
    return TERN_EINVAL;
  if (opts &&
      tern__struct_in(&o, sizeof(o), opts, TERN__OPTIONS_MIN_SIZE) != TERN_OK)
    return TERN_EINVAL;
  ch = tern__calloc(1, sizeof(*ch));
  if (!ch)
    return TERN_ENOMEM;
  rv = tern__target_parse(target, &ch->target);
  if (rv != TERN_OK)
    goto fail_alloc;
  rv = channel_setup(ch, &o);
  if (rv != TERN_OK)
    goto fail_setup;
  rv = TERN_ENOMEM;
  ch->refs = 1;
  tern__queue_init(&ch->picks);
  tern__queue_init(&ch->users);
  tern__queue_init(&ch->conns);
  tern__task_init(&ch->idle_task, idle_task_run, ch);
  ch->state = TERN_CHANNEL_IDLE;
  if (pthread_mutex_init(&ch->mu, NULL) != 0)
    goto fail_setup;
  ch->own_loop = loop == NULL;
  if (loop)
    ch->set.loop = loop;
  else if ((rv = tern__loop_new(&ch->set.loop)) != TERN_OK)
    goto fail_mu;
  ch->sc_args.loop = ch->set.loop;
  ch->sc_args.tls = ch->tls;
  ch->sc_args.tls_host = ch->tls_host;
  ch->sc_args.connect_timeout_ms =
      o.min_connect_timeout_ms > 0 ? o.min_connect_timeout_ms : 20000;
  ch->sc_args.initial_backoff_ms = o.initial_backoff_ms;
  ch->sc_args.max_backoff_ms = o.max_backoff_ms;
  ch->sc_args.conns = &ch->conns;
  ch->helper.vt = &channel_helper_vt;
  ch->helper.loop = ch->set.loop;
  memset(&lbc, 0, sizeof(lbc));
  lbc.initial_backoff_ms = o.initial_backoff_ms;
  lbc.max_backoff_ms = o.max_backoff_ms;
  lbc.seed = (uint64_t)tern__now_ns() ^ (uint64_t)(uintptr_t)ch;
  rv = tern__lb_pick_first_new(&ch->lb, &ch->helper, &lbc);
  if (rv != TERN_OK)
    goto fail_loop;
  if (ch->own_loop && (rv = tern__loop_start_thread(ch->set.loop)) != TERN_OK)
    goto fail_lb;
  *channel_out = ch;
  return TERN_OK;
fail_lb:
  ch->lb->vt->destroy(ch->lb);
fail_loop:
  if (ch->own_loop)
    tern__loop_free(ch->set.loop);
fail_mu:
  pthread_mutex_destroy(&ch->mu);
fail_setup:
  tern__free(ch->tls_host);
  tern__tls_ctx_unref(ch->tls);
  tern_metadata_free(ch->credentials);
  tern__free(ch->user_agent);
  tern__free(ch->authority);
  tern__target_free(&ch->target);
fail_alloc:
  tern__free(ch);
  return rv;
}

static void connect_task(void *arg) {
  tern_channel *ch = arg;
  if (ch->state == TERN_CHANNEL_IDLE)
    exit_idle(ch);
  tern__channel_unref(ch);
}

int tern_channel_connect(tern_channel *ch) {
  int rv;
  if (!ch)
    return TERN_EINVAL;
  tern__channel_ref(ch);
  rv = tern__loop_post_fn(ch->set.loop, connect_task, ch);
  if (rv != TERN_OK)
    tern__channel_unref(ch);
  return rv;
}

int tern_channel_new(tern_channel **channel_out, const char *target,
                     const tern_channel_options *opts) {
  return channel_new(channel_out, target, opts, NULL);
}

int tern__channel_new_on_loop(tern_channel **channel_out, const char *target,
                              const tern_channel_options *opts,
                              tern__loop *loop) {
  if (!loop)
    return TERN_EINVAL;
  return channel_new(channel_out, target, opts, loop);
}

tern_connectivity_state tern_channel_state(tern_channel *ch) {
  tern_connectivity_state st;
  pthread_mutex_lock(&ch->mu);
  st = ch->state;
  pthread_mutex_unlock(&ch->mu);
  return st;
}

typedef struct close_req {
  tern_channel *ch;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int done;
  tern__task end_of_turn;
} close_req;

/* The last of the closing turn: what the close left for the end of the
 * turn (the idle task, connections' flushes) has run, so a loop that
 * goes on (a shared one) never touches the channel after its free. */
static void close_done(tern__task *t) {
  close_req *r = t->data;
  pthread_mutex_lock(&r->mu);
  r->done = 1;
  pthread_cond_signal(&r->cv);
  pthread_mutex_unlock(&r->mu);
}

static void close_task(void *arg) {
  close_req *r = arg;
  tern_channel *ch = r->ch;
  tern__queue *q;
  ch->closing = 1;
  /* No resolver callback after this. */
  tern__resolver_free(ch->resolver);
  ch->resolver = NULL;
  while ((q = tern__queue_head(&ch->picks)) != NULL) {
    tern__pick *p = tern__queue_data(q, tern__pick, node);
    tern__queue_remove(q);
    p->done(p, NULL, TERN_STATUS_CANCELLED, "channel closed");
  }
  /* Calls on streams end CANCELLED before their connection goes. */
  while ((q = tern__queue_head(&ch->users)) != NULL) {
    tern__channel_user *u = tern__queue_data(q, tern__channel_user, node);
    tern__queue_remove(q);
    u->on_channel_close(u);
  }
  /* The policy lets go of its subchannels; their connections, draining
   * ones too, close here. */
  ch->lb->vt->destroy(ch->lb);
  ch->lb = NULL;
  while ((q = tern__queue_head(&ch->conns)) != NULL)
    tern__conn_close(tern__queue_data(q, tern__conn, owner_node));
  set_state(ch, TERN_CHANNEL_SHUTDOWN);
  tern__task_init(&r->end_of_turn, close_done, r);
  tern__loop_defer(ch->set.loop, &r->end_of_turn);
}

void tern_channel_free(tern_channel *ch) {
  close_req r;
  if (!ch)
    return;
  r.ch = ch;
  r.done = 0;
  pthread_mutex_init(&r.mu, NULL);
  pthread_cond_init(&r.cv, NULL);
  if (tern__loop_post_fn(ch->set.loop, close_task, &r) == TERN_OK) {
    pthread_mutex_lock(&r.mu);
    while (!r.done)
      pthread_cond_wait(&r.cv, &r.mu);
    pthread_mutex_unlock(&r.mu);
  }
  pthread_cond_destroy(&r.cv);
  pthread_mutex_destroy(&r.mu);
  if (ch->own_loop) {
    tern__loop_stop(ch->set.loop);
    tern__loop_join(ch->set.loop);
  }
  tern__channel_unref(ch);
}
