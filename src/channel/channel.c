/* A channel: target, name resolution (resolver.h, never blocking the
 * loop), one connection at a time with pick-first over the resolved
 * addresses, reconnection with exponential backoff, re-resolution after
 * failures, and calls waiting for the connection (wait-for-ready). */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "channel/channel_int.h"

#define DEFAULT_MAX_RECV (4 * 1024 * 1024)
#define CLIENT_WINDOW (1024 * 1024)
#define MAX_HEADER_LIST (16 * 1024)

static void set_state(tern_channel *ch, tern_connectivity_state st) {
  pthread_mutex_lock(&ch->mu);
  ch->state = st;
  pthread_mutex_unlock(&ch->mu);
}

void tern__channel_ref(tern_channel *ch) {
  __atomic_fetch_add(&ch->refs, 1, __ATOMIC_RELAXED);
}

static void channel_destroy(tern_channel *ch) {
  tern__resolver_free(ch->resolver); /* set when close_task never ran */
  free(ch->resolved);
  tern__loop_free(ch->loop);
  tern__target_free(&ch->target);
  free(ch->authority);
  free(ch->user_agent);
  free(ch->addrs);
  free(ch->addr_lens);
  tern__tls_ctx_unref(ch->tls);
  free(ch->tls_host);
  tern_metadata_free(ch->credentials);
  pthread_mutex_destroy(&ch->mu);
  free(ch);
}

void tern__channel_unref(tern_channel *ch) {
  if (__atomic_sub_fetch(&ch->refs, 1, __ATOMIC_ACQ_REL) == 0)
    channel_destroy(ch);
}

/* ---- pending calls ------------------------------------------------------ */

void tern__channel_unqueue(tern_channel *ch, client_call *cc) {
  (void)ch; /* a node unlinks itself; harmless when not queued */
  tern__queue_remove(&cc->pend_node);
}

static void enqueue(tern_channel *ch, client_call *cc) {
  tern__queue_insert_tail(&ch->pending, &cc->pend_node);
}

/* Fails every queued call that did not ask to wait for ready. */
static void fail_pending(tern_channel *ch, int all, const char *why) {
  tern__queue *q, *next;
  tern__queue_foreach_safe(q, next, &ch->pending) {
    client_call *cc = tern__queue_data(q, client_call, pend_node);
    if (all || !cc->wait_for_ready) {
      tern__channel_unqueue(ch, cc);
      tern__client_call_complete(cc, all ? TERN_STATUS_CANCELLED
                                         : TERN_STATUS_UNAVAILABLE,
                                 why);
    }
  }
}

static void flush_pending(tern_channel *ch) {
  while (!tern__queue_empty(&ch->pending) && ch->conn) {
    client_call *cc = tern__queue_data(ch->pending.next, client_call,
                                       pend_node);
    tern__channel_unqueue(ch, cc);
    if (tern__channel_send_request(ch, cc, ch->conn) != 0)
      tern__client_call_complete(cc, TERN_STATUS_UNAVAILABLE,
                                 "could not start a stream");
  }
}

/* ---- connecting ------------------------------------------------------------ */

static void start_connect(tern_channel *ch);

static void attempt_next(tern_channel *ch);
static void resolved(tern__resolver *r, int status,
                     const tern__resolved_addr *addrs, size_t n,
                     const char *why, void *user_data);

/* The resolver is made on first use, on the loop thread: creating a
 * channel stays free of file reads (c-ares reads resolv.conf). */
static int ensure_resolver(tern_channel *ch) {
  tern__resolver_config cfg;
  int rv;
  if (ch->resolver)
    return TERN_OK;
  memset(&cfg, 0, sizeof(cfg));
  cfg.min_interval_ms = ch->dns_min_interval_ms;
  rv = tern__resolver_new(&ch->resolver, ch->loop, &ch->target, &cfg,
                          resolved, ch);
  if (rv != TERN_OK) {
    ch->resolver = NULL;
    snprintf(ch->last_error, sizeof(ch->last_error),
             "cannot start name resolution: %s", tern_strerror(rv));
  }
  return rv;
}

/* As grpc's channel asks its resolver after a failure; the resolver
 * rate-limits, the answer comes to `resolved`. */
static void request_resolution(tern_channel *ch) {
  if (!ch->closing && ensure_resolver(ch) == TERN_OK)
    tern__resolver_request(ch->resolver);
}

/* The addresses of this connection pass: a copy of the latest resolution,
 * so that a result arriving mid-pass does not move them. */
static void use_resolved(tern_channel *ch) {
  size_t i, n = ch->n_resolved;
  struct sockaddr_storage *addrs = NULL;
  socklen_t *lens = NULL;
  ch->n_addrs = 0;
  ch->addr_idx = 0;
  if (n == 0)
    return;
  addrs = malloc(n * sizeof(*addrs));
  lens = malloc(n * sizeof(*lens));
  if (!addrs || !lens) {
    free(addrs);
    free(lens);
    snprintf(ch->last_error, sizeof(ch->last_error), "out of memory");
    return;
  }
  for (i = 0; i < n; i++) {
    memcpy(&addrs[i], &ch->resolved[i].addr, sizeof(addrs[i]));
    lens[i] = ch->resolved[i].len;
  }
  free(ch->addrs);
  free(ch->addr_lens);
  ch->addrs = addrs;
  ch->addr_lens = lens;
  ch->n_addrs = n;
}

static void resolved(tern__resolver *r, int status,
                     const tern__resolved_addr *addrs, size_t n,
                     const char *why, void *user_data) {
  tern_channel *ch = user_data;
  int waiting = ch->resolving, had_none = ch->n_resolved == 0;
  (void)r;
  ch->resolving = 0;
  if (status == TERN_OK) {
    tern__resolved_addr *copy = malloc(n * sizeof(*copy));
    if (copy) {
      memcpy(copy, addrs, n * sizeof(*copy));
      free(ch->resolved);
      ch->resolved = copy;
      ch->n_resolved = n;
      ch->resolve_failed = 0;
    } else {
      status = TERN_ENOMEM;
      why = "out of memory";
    }
  }
  if (status != TERN_OK) {
    TERN__DEBUG("%s", why);
    /* As grpc: a failed re-resolution keeps the addresses we have. */
    if (ch->n_resolved == 0) {
      ch->resolve_failed = 1;
      snprintf(ch->last_error, sizeof(ch->last_error), "%s", why);
    }
  }
  if (waiting) {
    use_resolved(ch);
    attempt_next(ch); /* with no address: TRANSIENT_FAILURE, backoff */
    return;
  }
  /* A re-resolution finished in the background. After a failed one the
   * channel sits in backoff with nothing to try: now it has, so connect
   * now rather than when the backoff ends. */
  if (status == TERN_OK && had_none && !ch->closing && !ch->conn &&
      ch->connect_fd < 0 && !ch->handshaking) {
    tern__timer_stop(ch->loop, &ch->backoff_timer);
    set_state(ch, TERN_CHANNEL_IDLE);
    if (!tern__queue_empty(&ch->pending))
      start_connect(ch);
  }
}

static void conn_goaway(tern__conn *conn) {
  tern_channel *ch = conn->owner;
  /* No new streams there (the connection closes by itself once its last
   * stream ends): the next call opens a new connection. */
  if (ch->conn == conn) {
    ch->conn = NULL;
    set_state(ch, TERN_CHANNEL_IDLE);
  }
}

static void conn_closed(tern__conn *conn) {
  tern_channel *ch = conn->owner;
  tern__queue_remove(&conn->owner_node);
  if (ch->handshaking == conn) {
    /* The TLS handshake failed: that address failed. */
    ch->handshaking = NULL;
    tern__timer_stop(ch->loop, &ch->connect_timer);
    snprintf(ch->last_error, sizeof(ch->last_error), "%s",
             conn->error[0] ? conn->error : "TLS handshake failed");
    if (!ch->closing) {
      ch->addr_idx++;
      attempt_next(ch);
    }
    return;
  }
  if (ch->conn == conn) {
    ch->conn = NULL;
    if (!ch->closing)
      set_state(ch, TERN_CHANNEL_IDLE);
  }
  /* An established connection is gone (lost, or drained after GOAWAY):
   * the server may have moved, so look the name up again (grpc does). */
  request_resolution(ch);
  if (!ch->closing && !tern__queue_empty(&ch->pending))
    start_connect(ch);
}

static void conn_ready(tern_channel *ch, tern__conn *conn) {
  ch->conn = conn;
  tern__backoff_reset(&ch->backoff);
  set_state(ch, TERN_CHANNEL_READY);
  flush_pending(ch);
}

static void conn_tls_ready(tern__conn *conn) {
  tern_channel *ch = conn->owner;
  if (ch->handshaking != conn)
    return;
  ch->handshaking = NULL;
  tern__timer_stop(ch->loop, &ch->connect_timer);
  conn_ready(ch, conn);
}

static const tern__conn_ops client_conn_ops = {NULL, conn_goaway,
                                               conn_closed, conn_tls_ready};

static void backoff_fired(tern__timer *t) {
  tern_channel *ch = t->data;
  if (ch->closing)
    return;
  set_state(ch, TERN_CHANNEL_IDLE);
  if (!tern__queue_empty(&ch->pending))
    start_connect(ch);
}

static void connect_failed(tern_channel *ch) {
  if (ch->connect_fd >= 0) {
    tern__io_stop(ch->loop, &ch->connect_io);
    close(ch->connect_fd);
    ch->connect_fd = -1;
  }
  tern__timer_stop(ch->loop, &ch->connect_timer);
  ch->addr_idx++;
  attempt_next(ch);
}

static void connected(tern_channel *ch) {
  tern__h2_config cfg;
  tern__conn *conn;
  int fd = ch->connect_fd, one = 1;
  tern__io_stop(ch->loop, &ch->connect_io);
  if (!ch->tls) /* with TLS the timer also bounds the handshake */
    tern__timer_stop(ch->loop, &ch->connect_timer);
  ch->connect_fd = -1;
  if (ch->addrs[ch->addr_idx].ss_family != AF_UNIX)
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  memset(&cfg, 0, sizeof(cfg));
  cfg.max_concurrent_streams = 0;
  cfg.initial_window = CLIENT_WINDOW;
  cfg.max_header_list = MAX_HEADER_LIST;
  cfg.tls = ch->tls;
  cfg.tls_host = ch->tls_host;
  /* Takes fd over, even when it fails. */
  if (tern__h2_conn_new(&conn, ch->loop, fd, 1, &cfg, &client_conn_ops, ch) !=
      TERN_OK) {
    if (ch->tls) {
      tern__timer_stop(ch->loop, &ch->connect_timer);
      snprintf(ch->last_error, sizeof(ch->last_error), "TLS setup failed");
    }
    ch->addr_idx++;
    attempt_next(ch);
    return;
  }
  tern__queue_insert_head(&ch->conns, &conn->owner_node);
  if (ch->tls) {
    ch->handshaking = conn; /* conn_tls_ready or conn_closed goes on */
    return;
  }
  conn_ready(ch, conn);
}

static void connect_io_cb(tern__io *io, unsigned events) {
  tern_channel *ch = io->data;
  int err = 0;
  socklen_t len = sizeof(err);
  (void)events;
  if (getsockopt(io->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err) {
    snprintf(ch->last_error, sizeof(ch->last_error), "connect: %s",
             strerror(err ? err : errno));
    TERN__DEBUG("%s", ch->last_error);
    connect_failed(ch);
    return;
  }
  connected(ch);
}

static void connect_timeout(tern__timer *t) {
  tern_channel *ch = t->data;
  if (ch->handshaking) {
    /* conn_closed goes on */
    tern__conn_fail(ch->handshaking, "TLS handshake timed out");
    return;
  }
  snprintf(ch->last_error, sizeof(ch->last_error), "connect timed out");
  connect_failed(ch);
}

static void attempt_next(tern_channel *ch) {
  while (ch->addr_idx < ch->n_addrs) {
    struct sockaddr_storage *sa = &ch->addrs[ch->addr_idx];
    int fd = socket(sa->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    0);
    if (fd < 0) {
      ch->addr_idx++;
      continue;
    }
    if (connect(fd, (struct sockaddr *)sa, ch->addr_lens[ch->addr_idx]) ==
        0) {
      ch->connect_fd = fd;
      connected(ch);
      return;
    }
    if (errno != EINPROGRESS) {
      close(fd);
      ch->addr_idx++;
      continue;
    }
    ch->connect_fd = fd;
    tern__io_init(&ch->connect_io, fd, connect_io_cb, ch);
    if (tern__io_set(ch->loop, &ch->connect_io, TERN__IO_WRITE) != TERN_OK) {
      close(fd);
      ch->connect_fd = -1;
      ch->addr_idx++;
      continue;
    }
    tern__timer_start(ch->loop, &ch->connect_timer,
                      tern__now_ns() + ch->min_connect_timeout_ms * 1000000);
    return;
  }
  /* Every address failed: TRANSIENT_FAILURE until the backoff ends, and
   * a new resolution (rate-limited by the resolver), as grpc does. */
  set_state(ch, TERN_CHANNEL_TRANSIENT_FAILURE);
  request_resolution(ch);
  {
    char why[256];
    if (ch->n_addrs == 0 && !ch->last_error[0])
      snprintf(ch->last_error, sizeof(ch->last_error),
               "name resolution failed");
    snprintf(why, sizeof(why),
             "failed to connect to all addresses; last error: %s",
             ch->last_error[0] ? ch->last_error : "unknown");
    fail_pending(ch, 0, why);
  }
  tern__timer_start(ch->loop, &ch->backoff_timer,
                    tern__now_ns() +
                        tern__backoff_next(&ch->backoff) * 1000000);
}

static void start_connect(tern_channel *ch) {
  if (ch->closing || ch->conn || ch->connect_fd >= 0 || ch->handshaking ||
      ch->resolving || tern__timer_armed(&ch->backoff_timer))
    return;
  set_state(ch, TERN_CHANNEL_CONNECTING);
  if (ch->n_resolved > 0) {
    use_resolved(ch);
    attempt_next(ch);
    return;
  }
  if (ch->resolve_failed || ensure_resolver(ch) != TERN_OK) {
    /* Nothing to try until the resolver answers again (it was asked when
     * the last pass failed): fail this pass with its reason now, so calls
     * without wait-for-ready do not wait for a rate-limited lookup. */
    ch->n_addrs = 0;
    ch->addr_idx = 0;
    attempt_next(ch);
    return;
  }
  /* CONNECTING until the answer; calls wait, their deadlines still run. */
  ch->resolving = 1;
  tern__resolver_request(ch->resolver);
}

/* ---- requests ------------------------------------------------------------ */

int tern__channel_send_request(tern_channel *ch, client_call *cc,
                               tern__conn *conn) {
  tern__request_info info;
  tern__hdrs l;
  int32_t id;
  info.scheme = ch->tls ? "https" : "http";
  info.authority = ch->authority;
  info.user_agent = ch->user_agent;
  info.md[0] = ch->credentials;
  info.md[1] = cc->credentials;
  info.md[2] = cc->send_md;
  tern__hdrs_init(&l);
  tern__call_request_headers(&cc->c, &info, &l);
  id = l.failed ? -1 : tern__call_open_stream(&cc->c, conn, &l);
  tern__hdrs_free(&l);
  return id > 0 ? 0 : -1;
}

void tern__channel_submit(tern_channel *ch, client_call *cc) {
  if (ch->closing) {
    tern__client_call_complete(cc, TERN_STATUS_CANCELLED, "channel closed");
    return;
  }
  if ((ch->credentials || cc->credentials) && !ch->tls &&
      !ch->allow_insecure_credentials) {
    /* Never send a token in the clear unless told to (as grpc-go). */
    tern__client_call_complete(cc, TERN_STATUS_UNAUTHENTICATED,
                               "call credentials need a TLS channel "
                               "(or allow_insecure_credentials)");
    return;
  }
  if (ch->conn) {
    if (tern__channel_send_request(ch, cc, ch->conn) != 0)
      tern__client_call_complete(cc, TERN_STATUS_UNAVAILABLE,
                                 "could not start a stream");
    return;
  }
  if (tern__timer_armed(&ch->backoff_timer) && !cc->wait_for_ready) {
    char why[256];
    snprintf(why, sizeof(why),
             "failed to connect to all addresses; last error: %s",
             ch->last_error[0] ? ch->last_error : "unknown");
    tern__client_call_complete(cc, TERN_STATUS_UNAVAILABLE, why);
    return;
  }
  enqueue(ch, cc);
  start_connect(ch);
}

/* ---- public API ---------------------------------------------------------------- */

int tern_channel_new(tern_channel **channel_out, const char *target,
                     const tern_channel_options *opts) {
  tern_channel_options o = TERN_CHANNEL_OPTIONS_INIT;
  tern_channel *ch;
  int rv;
  size_t ualen;
  if (!channel_out || !target)
    return TERN_EINVAL;
  if (opts)
    o = *opts;
  ch = calloc(1, sizeof(*ch));
  if (!ch)
    return TERN_ENOMEM;
  rv = tern__target_parse(target, &ch->target);
  if (rv != TERN_OK)
    goto fail_alloc;
  rv = TERN_ENOMEM;
  ch->authority = strdup(o.authority ? o.authority : ch->target.authority);
  if (!ch->authority)
    goto fail_target;
  ualen = (o.user_agent_prefix ? strlen(o.user_agent_prefix) + 1 : 0) + 32;
  ch->user_agent = malloc(ualen);
  if (!ch->user_agent)
    goto fail_authority;
  snprintf(ch->user_agent, ualen, "%s%stern-c/%s",
           o.user_agent_prefix ? o.user_agent_prefix : "",
           o.user_agent_prefix ? " " : "", TERN_VERSION);
  ch->max_recv = o.max_receive_message_size ? o.max_receive_message_size
                                            : DEFAULT_MAX_RECV;
  ch->default_compression = o.default_compression;
  ch->allow_insecure_credentials = o.allow_insecure_credentials;
  if (o.credentials) {
    if (tern_metadata_new(&ch->credentials) != TERN_OK)
      goto fail_user_agent;
    if (tern__metadata_append(ch->credentials, o.credentials) != TERN_OK)
      goto fail_credentials;
  }
  if (o.tls) {
    tern__hostport hp;
    rv = tern__tls_ctx_new(&ch->tls, 0, o.tls);
    if (rv != TERN_OK)
      goto fail_credentials;
    rv = TERN_ENOMEM;
    /* The host part of the authority: "[v6]:p" -> "v6", "h:p" -> "h". An
     * authority set by the user that does not split is taken whole: the
     * certificate check then says what is wrong with it. */
    if (tern__hostport_split(ch->authority, strlen(ch->authority),
                             TERN__HOSTPORT_PORT_ZERO, &hp) == TERN_OK)
      ch->tls_host = strndup(hp.host, hp.host_len);
    else
      ch->tls_host = strdup(ch->authority);
    if (!ch->tls_host)
      goto fail_tls;
  }
  ch->min_connect_timeout_ms =
      o.min_connect_timeout_ms > 0 ? o.min_connect_timeout_ms : 20000;
  ch->dns_min_interval_ms = o.dns_min_resolution_interval_ms;
  tern__backoff_init(&ch->backoff,
                     o.initial_backoff_ms > 0 ? o.initial_backoff_ms : 1000,
                     o.max_backoff_ms > 0 ? o.max_backoff_ms : 120000,
                     (uint64_t)tern__now_ns() ^ (uint64_t)(uintptr_t)ch);
  ch->connect_fd = -1;
  tern__queue_init(&ch->conns);
  ch->refs = 1;
  tern__queue_init(&ch->conns);
  tern__queue_init(&ch->pending);
  tern__queue_init(&ch->active);
  ch->state = TERN_CHANNEL_IDLE;
  tern__timer_init(&ch->connect_timer, connect_timeout, ch);
  tern__timer_init(&ch->backoff_timer, backoff_fired, ch);
  if (pthread_mutex_init(&ch->mu, NULL) != 0)
    goto fail_tls_host;
  rv = tern__loop_new(&ch->loop);
  if (rv != TERN_OK)
    goto fail_mu;
  rv = tern__loop_start_thread(ch->loop);
  if (rv != TERN_OK)
    goto fail_loop;
  *channel_out = ch;
  return TERN_OK;
fail_loop:
  tern__loop_free(ch->loop);
fail_mu:
  pthread_mutex_destroy(&ch->mu);
fail_tls_host:
  free(ch->tls_host);
fail_tls:
  tern__tls_ctx_unref(ch->tls);
fail_credentials:
  tern_metadata_free(ch->credentials);
fail_user_agent:
  free(ch->user_agent);
fail_authority:
  free(ch->authority);
fail_target:
  tern__target_free(&ch->target);
fail_alloc:
  free(ch);
  return rv;
}

static void connect_task(void *arg) {
  tern_channel *ch = arg;
  start_connect(ch);
  tern__channel_unref(ch);
}

int tern_channel_connect(tern_channel *ch) {
  int rv;
  if (!ch)
    return TERN_EINVAL;
  tern__channel_ref(ch);
  rv = tern__loop_post_fn(ch->loop, connect_task, ch);
  if (rv != TERN_OK)
    tern__channel_unref(ch);
  return rv;
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
} close_req;

static void close_task(void *arg) {
  close_req *r = arg;
  tern_channel *ch = r->ch;
  tern__queue *q, *next;
  ch->closing = 1;
  /* No resolver callback after this; calls waiting for it end below. */
  tern__resolver_free(ch->resolver);
  ch->resolver = NULL;
  ch->resolving = 0;
  tern__timer_stop(ch->loop, &ch->backoff_timer);
  tern__timer_stop(ch->loop, &ch->connect_timer);
  if (ch->connect_fd >= 0) {
    tern__io_stop(ch->loop, &ch->connect_io);
    close(ch->connect_fd);
    ch->connect_fd = -1;
  }
  fail_pending(ch, 1, "channel closed");
  /* Calls on streams end CANCELLED before their connection goes. */
  tern__queue_foreach_safe(q, next, &ch->active) {
    client_call *cc = tern__queue_data(q, client_call, act_node);
    tern__client_call_complete(cc, TERN_STATUS_CANCELLED, "channel closed");
  }
  while ((q = tern__queue_head(&ch->conns)) != NULL)
    tern__conn_close(tern__queue_data(q, tern__conn, owner_node));
  set_state(ch, TERN_CHANNEL_SHUTDOWN);
  pthread_mutex_lock(&r->mu);
  r->done = 1;
  pthread_cond_signal(&r->cv);
  pthread_mutex_unlock(&r->mu);
}

void tern_channel_free(tern_channel *ch) {
  close_req r;
  if (!ch)
    return;
  r.ch = ch;
  r.done = 0;
  pthread_mutex_init(&r.mu, NULL);
  pthread_cond_init(&r.cv, NULL);
  if (tern__loop_post_fn(ch->loop, close_task, &r) == TERN_OK) {
    pthread_mutex_lock(&r.mu);
    while (!r.done)
      pthread_cond_wait(&r.cv, &r.mu);
    pthread_mutex_unlock(&r.mu);
  }
  pthread_cond_destroy(&r.cv);
  pthread_mutex_destroy(&r.mu);
  tern__loop_stop(ch->loop);
  tern__loop_join(ch->loop);
  tern__channel_unref(ch);
}
