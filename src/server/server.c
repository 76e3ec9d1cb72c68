/* The server: listeners, the method table, dispatch of calls to handlers
 * (worker pool or inline on the I/O thread), graceful shutdown. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "call/call_int.h"

#define DEFAULT_WORKERS 10
#define DEFAULT_MAX_RECV (4 * 1024 * 1024)
#define DEFAULT_MAX_STREAMS 100
#define SERVER_WINDOW (1024 * 1024)
#define MAX_HEADER_LIST (16 * 1024)
#define DEFAULT_MAX_CONNECTIONS 10000
#define DEFAULT_HANDSHAKE_MS 20000
/* nghttp2's own defaults for the stream reset rate limit */
#define DEFAULT_RESET_BURST 1000
#define DEFAULT_RESET_RATE 33

typedef struct entry {
  const tern_method *method;
  const void *handlers;
  void *user_data;
  unsigned flags;
} entry;

typedef struct listener {
  tern__io io;
  struct tern_server *server;
  tern__tls_ctx *tls; /* NULL: cleartext */
  tern__timer resume; /* accept paused: out of descriptors */
  int64_t last_warn_ns;
} listener;

typedef struct srv_loop {
  tern__loop *loop;
  struct tern_server *server;
  tern__queue conns; /* loop thread only: via conn->owner_node */
} srv_loop;

enum { S_NEW, S_RUNNING, S_SHUTTING, S_DONE };

struct tern_server {
  tern_server_options opts;
  /* method table: open addressing on the :path */
  entry *entries;
  size_t n_entries;
  size_t *table; /* indexes + 1; 0 = empty */
  size_t table_cap;
  const tern_service **services;
  size_t n_services;

  listener *listeners;
  size_t n_listeners;
  srv_loop *loops;
  int n_loops;
  unsigned next_loop; /* loop 0 thread only */

  pthread_t *workers;
  int n_workers;
  tern__queue wq; /* calls waiting for a worker, under mu */
  int wq_stop;
  pthread_cond_t wq_cv; /* workers wait here, apart from state waiters */

  tern_authorize_fn authorize;
  void *authorize_data;

  pthread_mutex_t mu;
  pthread_cond_t cv; /* CLOCK_MONOTONIC: the shutdown waits with a deadline */
  int state;
  size_t n_calls;  /* atomic: no lock per call */
  int draining;    /* atomic: set once shutdown waits for n_calls */
  size_t n_conns;
};

struct tern_server_call {
  struct tern_call c; /* first: hooks get a tern_call * */
  struct tern_server *server;
  const entry *entry;
  tern__queue wq_node;
  int dispatched;
  int handler_done;
  void *request;  /* decoded request (unary, server-streaming) */
  int request_in_arena; /* decoded into the call arena: not freed alone */
  void *response; /* response being filled (unary, client-streaming) */
  void *state;    /* tern_server_call_set_state */
  char *peer_identity; /* TLS client certificate CN */
  /* inline streaming (loop thread only) */
  int inline_stream;
  int pending;    /* the handler returned TERN_STATUS_PENDING */
  tern__task react;
};

static tern_server_call *SC(struct tern_call *c) {
  return (tern_server_call *)c;
}
TERN__CALL_OBJECT_FITS(tern_server_call);

/* The decoded request, unless it lives in the call arena (then it goes
 * with the call). */
static void free_request(tern_server_call *sc) {
  if (sc->request && !sc->request_in_arena)
    sc->entry->method->codec->free_message(sc->entry->method->request_type,
                                           sc->request);
  sc->request = NULL;
}

/* ---- method table --------------------------------------------------------- */

static uint64_t hash_path(const char *s) {
  uint64_t h = 1469598103934665603ULL; /* FNV-1a */
  for (; *s; s++)
    h = (h ^ (uint8_t)*s) * 1099511628211ULL;
  return h;
}

static int build_table(tern_server *s) {
  size_t cap = 16, i;
  while (cap < s->n_entries * 2)
    cap *= 2;
  s->table = calloc(cap, sizeof(*s->table));
  if (!s->table)
    return TERN_ENOMEM;
  s->table_cap = cap;
  for (i = 0; i < s->n_entries; i++) {
    size_t j = hash_path(s->entries[i].method->path) & (cap - 1);
    while (s->table[j])
      j = (j + 1) & (cap - 1);
    s->table[j] = i + 1;
  }
  return TERN_OK;
}

static const entry *find_method(const tern_server *s, const char *path) {
  size_t j;
  if (!s->table)
    return NULL;
  j = hash_path(path) & (s->table_cap - 1);
  while (s->table[j]) {
    const entry *e = &s->entries[s->table[j] - 1];
    if (strcmp(e->method->path, path) == 0)
      return e;
    j = (j + 1) & (s->table_cap - 1);
  }
  return NULL;
}

/* ---- handlers ------------------------------------------------------------------- */

static void finish_handler(tern_server_call *sc, tern_status_code code) {
  struct tern_call *c = &sc->c;
  /* Past the deadline the call has failed whatever the handler says (it
   * may have stopped because tern_server_call_is_cancelled told it to,
   * before the loop's deadline timer ran). */
  if (c->deadline_ns > 0 && tern__now_ns() >= c->deadline_ns) {
    code = TERN_STATUS_DEADLINE_EXCEEDED;
    tern__call_set_message(c, "deadline exceeded");
  }
  sc->handler_done = 1;
  /* The status follows what the handler queued. */
  tern__call_end(c, code, NULL, 0);
}

/* The server's max_send_message_size, on the message as it goes out. */
static int too_big_to_send(const tern_server_call *sc, const tern__msg *m) {
  int64_t max = sc->server->opts.max_send_message_size;
  return max > 0 && (int64_t)(m->len - 5) > max;
}

/* Decodes the request (unary, server-streaming) and sets up the response
 * (unary, client-streaming). 0, or -1 after finishing the call. */
static int handler_setup(tern_server_call *sc) {
  struct tern_call *c = &sc->c;
  const tern_method *m = sc->entry->method;
  const tern_codec *codec = m->codec;
  tern__msg *msg = NULL;
  if (m->kind == TERN_METHOD_UNARY || m->kind == TERN_METHOD_SERVER_STREAMING) {
    int rv;
    if (tern__call_take_in(c, &msg, 0) != 1) {
      finish_handler(sc, TERN_STATUS_CANCELLED);
      return -1;
    }
    /* The library frees the request after the handler: it goes in the
     * call arena with the message buffer. */
    rv = tern__call_decode_arena(c, m->request_type, msg, &sc->request,
                                 &sc->request_in_arena);
    tern__call_msg_free(c, msg);
    if (rv != TERN_OK) {
      const char *why;
      tern_status_code code = tern__call_decode_status(c, rv, &why);
      sc->request = NULL;
      tern__call_set_message(c, why);
      finish_handler(sc, code);
      return -1;
    }
  }
  if (m->kind == TERN_METHOD_UNARY || m->kind == TERN_METHOD_CLIENT_STREAMING) {
    sc->response =
        tern_server_call_alloc(sc, codec->message_size(m->response_type));
    if (!sc->response) {
      finish_handler(sc, TERN_STATUS_RESOURCE_EXHAUSTED);
      return -1;
    }
    codec->init_message(m->response_type, sc->response);
  }
  return 0;
}

/* Runs the handler once. Returns 1 when it asked to run again (inline
 * streaming), 0 when the call is finished. */
static int handler_invoke(tern_server_call *sc) {
  struct tern_call *c = &sc->c;
  const entry *e = sc->entry;
  const tern_method *m = e->method;
  tern_status_code code;
  code = m->invoke(e->handlers, sc, sc->request, sc->response, e->user_data);
  if (code == TERN_STATUS_PENDING) {
    if (sc->inline_stream)
      return 1;
    tern_server_call_set_message(sc, "handler returned PENDING outside "
                                     "an inline streaming call");
    code = TERN_STATUS_INTERNAL;
  }
  free_request(sc);
  if (code == TERN_STATUS_OK && sc->response) {
    tern__msg *out;
    int rv = tern__call_encode(c, m, m->response_type, sc->response,
                               tern__call_effective_alg(c), &out);
    if (rv == TERN_OK && too_big_to_send(sc, out)) {
      tern__call_msg_free(c, out);
      rv = TERN_ETOOBIG;
    }
    if (rv == TERN_OK)
      rv = tern__call_queue_out(c, out, TERN__QUEUE_FORCE);
    if (rv == TERN_ETOOBIG) {
      tern_server_call_set_message(sc, "response larger than "
                                       "max_send_message_size");
      code = TERN_STATUS_RESOURCE_EXHAUSTED;
    } else if (rv == TERN_ENOMEM || rv == TERN_EINVAL) {
      tern_server_call_set_message(sc, "failed to encode the response");
      code = TERN_STATUS_INTERNAL;
    }
  }
  finish_handler(sc, code);
  return 0;
}

static void run_handler(tern_server_call *sc) {
  if (handler_setup(sc) == 0)
    handler_invoke(sc);
}

/* Loop thread, end of turn: runs an inline streaming handler again. */
static void react_task(tern__task *t) {
  tern_server_call *sc = t->data;
  if (sc->pending && !sc->handler_done)
    sc->pending = handler_invoke(sc);
  tern__call_unref(&sc->c); /* taken by react() */
}

/* Loop thread: an event for an inline streaming handler. */
static void react(tern_server_call *sc) {
  if (!sc->pending || sc->react.queued)
    return;
  tern__call_ref(&sc->c);
  tern__loop_defer(sc->c.loop, &sc->react);
}

static void *worker_main(void *arg) {
  tern_server *s = arg;
  for (;;) {
    tern_server_call *sc;
    tern__queue *q;
    pthread_mutex_lock(&s->mu);
    while (tern__queue_empty(&s->wq) && !s->wq_stop)
      pthread_cond_wait(&s->wq_cv, &s->mu);
    if (tern__queue_empty(&s->wq)) { /* stopping */
      pthread_mutex_unlock(&s->mu);
      return NULL;
    }
    q = s->wq.next;
    tern__queue_remove(q);
    pthread_mutex_unlock(&s->mu);
    sc = tern__queue_data(q, tern_server_call, wq_node);
    run_handler(sc);
    tern__call_unref(&sc->c);
  }
}

static void dispatch(tern_server_call *sc) {
  tern_server *s = sc->server;
  sc->dispatched = 1;
  if (sc->entry->flags & TERN_REGISTER_INLINE) {
    sc->inline_stream = sc->entry->method->kind != TERN_METHOD_UNARY;
    if (handler_setup(sc) == 0)
      sc->pending = handler_invoke(sc);
    return;
  }
  /* From here a worker touches the call too: lock from now on. The
   * queue's mutex orders this before the worker's first look. */
  if (tern__call_share(&sc->c) != TERN_OK) {
    tern__call_fail(&sc->c, TERN_STATUS_RESOURCE_EXHAUSTED,
                    "out of memory");
    return;
  }
  tern__call_ref(&sc->c); /* the worker's */
  pthread_mutex_lock(&s->mu);
  tern__queue_insert_tail(&s->wq, &sc->wq_node);
  pthread_cond_signal(&s->wq_cv);
  pthread_mutex_unlock(&s->mu);
}

/* ---- call hooks (loop thread) --------------------------------------------- */

static void sc_on_headers(struct tern_call *c) {
  tern_server_call *sc = SC(c);
  tern_server *s = sc->server;
  const entry *e;
  if (c->bad_method) {
    tern__call_http_error(c, "405");
    return;
  }
  if (c->bad_content_type) {
    tern__call_http_error(c, "415");
    return;
  }
  e = c->path ? find_method(s, c->path) : NULL;
  if (!e) {
    char buf[256];
    const char *path = c->path ? c->path : "";
    const char *slash = path[0] == '/' ? strchr(path + 1, '/') : NULL;
    size_t i, svc_len = slash ? (size_t)(slash - path - 1) : 0;
    int known_service = 0;
    for (i = 0; i < s->n_services && slash; i++)
      if (strlen(s->services[i]->name) == svc_len &&
          memcmp(s->services[i]->name, path + 1, svc_len) == 0)
        known_service = 1;
    if (known_service)
      snprintf(buf, sizeof(buf), "unknown method %s for service %.*s",
               slash + 1, (int)svc_len, path + 1);
    else
      snprintf(buf, sizeof(buf), "unknown service %.*s",
               (int)(slash ? svc_len : strlen(path)),
               path + (path[0] == '/'));
    tern__call_fail(c, TERN_STATUS_UNIMPLEMENTED, buf);
    return;
  }
  sc->entry = e;
  tern__call_set_method(c, e->method);
  if (s->authorize) {
    tern_status_code code = s->authorize(sc, s->authorize_data);
    if (code != TERN_STATUS_OK) {
      const char *m = c->message ? c->message : "not authorized";
      char *copy = strdup(m);
      tern__call_fail(c, code, copy ? copy : "not authorized");
      free(copy);
      return;
    }
  }
  if (c->timeout_ns >= 0) {
    int64_t now = tern__now_ns();
    /* grpc-timeout may say 99999999H: clamp instead of overflowing. */
    tern__call_start_deadline(c, c->timeout_ns > INT64_MAX - now
                                     ? INT64_MAX
                                     : now + c->timeout_ns);
  }
  if (e->method->kind == TERN_METHOD_CLIENT_STREAMING ||
      e->method->kind == TERN_METHOD_BIDI_STREAMING)
    dispatch(sc);
}

static void sc_on_message(struct tern_call *c) {
  tern_server_call *sc = SC(c);
  react(sc);
  if (!sc->entry || sc->dispatched)
    return;
  if (c->in_count > 1)
    tern__call_fail(c, TERN_STATUS_INTERNAL,
                    "more than one request message for a unary request");
}

static void sc_on_half_close(struct tern_call *c) {
  tern_server_call *sc = SC(c);
  react(sc);
  if (!sc->entry || sc->dispatched || c->aborted)
    return;
  if (c->in_count != 1) {
    tern__call_fail(c, TERN_STATUS_INTERNAL,
                    c->in_count == 0 ? "missing request message"
                                     : "more than one request message");
    return;
  }
  dispatch(sc);
}

static void sc_on_stream_closed(struct tern_call *c, uint32_t error,
                                const char *why) {
  (void)error;
  (void)why;
  react(SC(c)); /* an inline handler learns it was cancelled */
}

static void sc_on_writable(struct tern_call *c) { react(SC(c)); }

static void sc_destroy(struct tern_call *c) {
  tern_server_call *sc = SC(c);
  tern_server *s = sc->server;
  free_request(sc); /* an inline handler that never finished */
  tern__call_cleanup(c); /* the arena too */
  free(sc->peer_identity);
  free(sc);
  /* Atomic: no server-wide lock per call. Only a shutdown waits on the
   * count: the last call to go while it does wakes it, under the mutex so
   * that the wake-up cannot fall between its check and its wait. Both
   * sides are sequentially consistent (a store then a load each, as
   * Dekker's): either the shutdown sees the count at 0, or this sees
   * draining set. */
  if (__atomic_sub_fetch(&s->n_calls, 1, __ATOMIC_SEQ_CST) == 0 &&
      __atomic_load_n(&s->draining, __ATOMIC_SEQ_CST)) {
    pthread_mutex_lock(&s->mu);
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
  }
}

static const tern__call_hooks server_call_hooks = {
    sc_on_headers, sc_on_message, sc_on_half_close, sc_on_stream_closed,
    sc_destroy,    NULL,          sc_on_writable,   NULL};

/* ---- connections ---------------------------------------------------------- */

static tern__stream *on_new_stream(tern__conn *conn) {
  srv_loop *sl = conn->owner;
  tern_server *s = sl->server;
  tern_server_call *sc = tern__call_object_new(sizeof(*sc));
  if (!sc)
    return NULL;
  if (tern__call_init(&sc->c, 0, NULL, &server_call_hooks, sl->loop,
                      s->opts.max_receive_message_size) != TERN_OK) {
    free(sc);
    return NULL;
  }
  sc->server = s;
  if (conn->peer_identity)
    sc->peer_identity = strdup(conn->peer_identity);
  tern__task_init(&sc->react, react_task, sc);
  if (s->opts.default_compression != TERN_COMPRESS_DEFAULT)
    tern__call_set_send_alg(&sc->c, s->opts.default_compression);
  __atomic_fetch_add(&s->n_calls, 1, __ATOMIC_RELAXED);
  /* The call's one reference is its stream's, until it closes. */
  return tern__call_stream(&sc->c);
}

static void on_conn_closed(tern__conn *conn) {
  srv_loop *sl = conn->owner;
  tern_server *s = sl->server;
  tern__queue_remove(&conn->owner_node);
  pthread_mutex_lock(&s->mu);
  s->n_conns--;
  pthread_cond_broadcast(&s->cv);
  pthread_mutex_unlock(&s->mu);
}

static const tern__conn_ops server_conn_ops = {on_new_stream, NULL,
                                               on_conn_closed, NULL};

static void add_conn(srv_loop *sl, int fd, tern__tls_ctx *tls) {
  tern_server *s = sl->server;
  tern__h2_config cfg;
  tern__conn *conn;
  int shutting;
  pthread_mutex_lock(&s->mu);
  shutting = s->state != S_RUNNING ||
             s->n_conns >= (size_t)s->opts.max_connections;
  if (!shutting)
    s->n_conns++;
  pthread_mutex_unlock(&s->mu);
  if (shutting) {
    /* Over max_connections (or shutting down): refused at once. */
    close(fd);
    return;
  }
  memset(&cfg, 0, sizeof(cfg));
  cfg.max_concurrent_streams = s->opts.max_concurrent_streams;
  cfg.initial_window = SERVER_WINDOW;
  cfg.max_header_list = s->opts.max_header_list_size;
  cfg.idle_ms = s->opts.max_connection_idle_ms;
  cfg.age_ms = s->opts.max_connection_age_ms;
  cfg.age_grace_ms = s->opts.max_connection_age_grace_ms;
  cfg.handshake_ms = s->opts.handshake_timeout_ms;
  cfg.reset_burst = s->opts.reset_burst;
  cfg.reset_rate = s->opts.reset_rate;
  cfg.tls = tls;
  /* Takes fd over, even when it fails. */
  if (tern__h2_conn_new(&conn, sl->loop, fd, 0, &cfg, &server_conn_ops, sl) !=
      TERN_OK) {
    pthread_mutex_lock(&s->mu);
    s->n_conns--;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return;
  }
  tern__queue_insert_head(&sl->conns, &conn->owner_node);
}

typedef struct handoff {
  srv_loop *sl;
  int fd;
  tern__tls_ctx *tls;
} handoff;

static void handoff_run(void *arg) {
  handoff *h = arg;
  add_conn(h->sl, h->fd, h->tls);
  free(h);
}

static void resume_accept(tern__timer *t) {
  listener *l = t->data;
  tern_server *s = l->server;
  int running;
  pthread_mutex_lock(&s->mu);
  running = s->state == S_RUNNING;
  pthread_mutex_unlock(&s->mu);
  if (l->io.fd >= 0 && running)
    tern__io_set(s->loops[0].loop, &l->io, TERN__IO_READ);
}

static void on_accept(tern__io *io, unsigned events) {
  listener *l = io->data;
  tern_server *s = l->server;
  int i;
  (void)events;
  for (i = 0; i < 64; i++) {
    int fd = accept4(io->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    int one = 1;
    srv_loop *sl;
    if (fd < 0) {
      int64_t now;
      if (errno == EINTR || errno == ECONNABORTED)
        continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        return;
      /* Out of descriptors or memory: the listener stays readable, so
       * stop watching it for 100 ms instead of spinning, and say so at
       * most once a second. */
      now = tern__now_ns();
      if (now - l->last_warn_ns > 1000000000) {
        TERN__WARN("accept: %s (pausing accepts)", strerror(errno));
        l->last_warn_ns = now;
      }
      tern__io_set(s->loops[0].loop, io, 0);
      tern__timer_start(s->loops[0].loop, &l->resume, now + 100000000);
      return;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    sl = &s->loops[s->next_loop++ % (unsigned)s->n_loops];
    if (sl == &s->loops[0]) {
      add_conn(sl, fd, l->tls);
    } else {
      handoff *h = malloc(sizeof(*h));
      if (!h || (h->sl = sl, h->fd = fd, h->tls = l->tls,
                 tern__loop_post_fn(sl->loop, handoff_run, h)) != TERN_OK) {
        free(h);
        close(fd);
      }
    }
  }
}

/* ---- public API ----------------------------------------------------------- */

int tern_server_new(tern_server **server_out, const tern_server_options *opts) {
  tern_server *s;
  if (!server_out)
    return TERN_EINVAL;
  s = calloc(1, sizeof(*s));
  if (!s)
    return TERN_ENOMEM;
  if (opts)
    s->opts = *opts;
  if (s->opts.workers <= 0)
    s->opts.workers = DEFAULT_WORKERS;
  if (s->opts.io_threads <= 0)
    s->opts.io_threads = 1;
  if (s->opts.max_receive_message_size == 0)
    s->opts.max_receive_message_size = DEFAULT_MAX_RECV;
  if (s->opts.max_concurrent_streams == 0)
    s->opts.max_concurrent_streams = DEFAULT_MAX_STREAMS;
  if (s->opts.max_header_list_size == 0)
    s->opts.max_header_list_size = MAX_HEADER_LIST;
  if (s->opts.max_connections <= 0)
    s->opts.max_connections = DEFAULT_MAX_CONNECTIONS;
  if (s->opts.handshake_timeout_ms == 0)
    s->opts.handshake_timeout_ms = DEFAULT_HANDSHAKE_MS;
  if (s->opts.reset_burst == 0)
    s->opts.reset_burst = DEFAULT_RESET_BURST;
  if (s->opts.reset_rate == 0)
    s->opts.reset_rate = DEFAULT_RESET_RATE;
  tern__queue_init(&s->wq);
  if (pthread_mutex_init(&s->mu, NULL) != 0)
    goto fail_alloc;
  if (tern__cond_init_monotonic(&s->cv) != 0)
    goto fail_mu;
  if (pthread_cond_init(&s->wq_cv, NULL) != 0)
    goto fail_cv;
  *server_out = s;
  return TERN_OK;
fail_cv:
  pthread_cond_destroy(&s->cv);
fail_mu:
  pthread_mutex_destroy(&s->mu);
fail_alloc:
  free(s);
  return TERN_ENOMEM; /* what pthread's EAGAIN / ENOMEM come to */
}

static int bind_one(tern_server *s, int family, const struct sockaddr *sa,
                    socklen_t salen, int *port_io, tern__tls_ctx *tls) {
  int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  listener *ls;
  struct sockaddr_storage ss;
  socklen_t sslen = sizeof(ss);
  if (fd < 0)
    return TERN_ESYS;
  if (family != AF_UNIX)
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (family == AF_INET6) {
    /* "[::]" takes IPv4 too; any other v6 address only itself. */
    int v6only =
        memcmp(&((const struct sockaddr_in6 *)sa)->sin6_addr, &in6addr_any,
               sizeof(in6addr_any)) != 0;
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only));
  }
  memcpy(&ss, sa, salen);
  if (family == AF_INET && *port_io > 0)
    ((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)*port_io);
  if (family == AF_INET6 && *port_io > 0)
    ((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)*port_io);
  if (bind(fd, (struct sockaddr *)&ss, salen) != 0 || listen(fd, 1024) != 0) {
    TERN__WARN("bind/listen: %s", strerror(errno));
    close(fd);
    return TERN_ESYS;
  }
  if (family != AF_UNIX &&
      getsockname(fd, (struct sockaddr *)&ss, &sslen) == 0) {
    if (ss.ss_family == AF_INET)
      *port_io = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    else if (ss.ss_family == AF_INET6)
      *port_io = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
  }
  ls = realloc(s->listeners, (s->n_listeners + 1) * sizeof(*ls));
  if (!ls) {
    close(fd);
    return TERN_ENOMEM;
  }
  s->listeners = ls;
  ls[s->n_listeners].server = s;
  ls[s->n_listeners].tls = tls;
  if (tls)
    tern__tls_ctx_ref(tls);
  tern__io_init(&ls[s->n_listeners].io, fd, on_accept, NULL);
  s->n_listeners++;
  return TERN_OK;
}

static int add_port(tern_server *s, const char *addr, int *port_out,
                    tern__tls_ctx *tls) {
  char host[256], port_s[8];
  tern__hostport hp;
  struct addrinfo hints, *res = NULL, *ai;
  int port = 0, rv = TERN_EADDR, bound = 0;

  if (!s || !addr)
    return TERN_EINVAL;
  if (s->state != S_NEW)
    return TERN_ESTATE;
  if (strncmp(addr, "unix:", 5) == 0) {
    struct sockaddr_un un;
    const char *path = addr + 5;
    if (strncmp(path, "//", 2) == 0)
      path += 2;
    if (!*path || strlen(path) >= sizeof(un.sun_path))
      return TERN_EADDR;
    memset(&un, 0, sizeof(un));
    un.sun_family = AF_UNIX;
    memcpy(un.sun_path, path, strlen(path));
    unlink(path);
    rv = bind_one(s, AF_UNIX, (struct sockaddr *)&un, sizeof(un), &port,
                  tls);
    if (rv == TERN_OK && port_out)
      *port_out = 0;
    return rv;
  }
  /* "[::]:50051", "0.0.0.0:0", "localhost:0", ":50051" (an empty host:
   * every address). */
  rv = tern__hostport_split(addr, strlen(addr),
                            TERN__HOSTPORT_NEED_PORT | TERN__HOSTPORT_PORT_ZERO,
                            &hp);
  if (rv != TERN_OK)
    return rv;
  memcpy(host, hp.host, hp.host_len); /* at most 255 bytes */
  host[hp.host_len] = '\0';
  port = hp.port;
  snprintf(port_s, sizeof(port_s), "%d", port);
  memset(&hints, 0, sizeof(hints));
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  if (getaddrinfo(hp.host_len ? host : NULL, port_s, &hints, &res) != 0)
    return TERN_EADDR;
  for (ai = res; ai; ai = ai->ai_next) {
    if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
      continue;
    /* With port 0, every address of the name shares the first one's. */
    if (bind_one(s, ai->ai_family, ai->ai_addr, ai->ai_addrlen, &port,
                 tls) == TERN_OK)
      bound++;
  }
  freeaddrinfo(res);
  if (bound == 0)
    return TERN_ESYS;
  if (port_out)
    *port_out = port;
  return TERN_OK;
}

int tern_server_add_insecure_port(tern_server *s, const char *addr,
                                  int *port_out) {
  return add_port(s, addr, port_out, NULL);
}

int tern_server_add_secure_port(tern_server *s, const char *addr,
                                const tern_tls_options *tls, int *port_out) {
  tern__tls_ctx *ctx;
  int rv;
  if (!s || !addr || !tls)
    return TERN_EINVAL;
  if (s->state != S_NEW)
    return TERN_ESTATE;
  rv = tern__tls_ctx_new(&ctx, 1, tls);
  if (rv != TERN_OK)
    return rv;
  rv = add_port(s, addr, port_out, ctx);
  tern__tls_ctx_unref(ctx); /* the listeners hold their own references */
  return rv;
}

int tern_server_set_authorizer(tern_server *s, tern_authorize_fn fn,
                               void *user_data) {
  if (!s)
    return TERN_EINVAL;
  if (s->state != S_NEW)
    return TERN_ESTATE;
  s->authorize = fn;
  s->authorize_data = user_data;
  return TERN_OK;
}

int tern_server_register(tern_server *s, const tern_service *service,
                         const void *handlers, void *user_data,
                         unsigned flags) {
  size_t i, j;
  entry *e;
  const tern_service **sv;
  if (!s || !service || !handlers || (flags & ~TERN_REGISTER_INLINE))
    return TERN_EINVAL;
  if (s->state != S_NEW)
    return TERN_ESTATE;
  for (i = 0; i < s->n_services; i++)
    if (strcmp(s->services[i]->name, service->name) == 0)
      return TERN_EEXIST;
  sv = realloc(s->services, (s->n_services + 1) * sizeof(*sv));
  if (!sv)
    return TERN_ENOMEM;
  s->services = sv;
  e = realloc(s->entries,
              (s->n_entries + service->n_methods) * sizeof(*e));
  if (!e)
    return TERN_ENOMEM;
  s->entries = e;
  sv[s->n_services++] = service;
  for (j = 0; j < service->n_methods; j++) {
    entry *ne = &s->entries[s->n_entries++];
    ne->method = &service->methods[j];
    ne->handlers = handlers;
    ne->user_data = user_data;
    ne->flags = flags;
  }
  return TERN_OK;
}

int tern_server_start(tern_server *s) {
  int i, rv;
  size_t k;
  if (!s)
    return TERN_EINVAL;
  if (s->state != S_NEW)
    return TERN_ESTATE;
  if (s->n_listeners == 0)
    return TERN_ESTATE;
  /* Until the server runs, a failure undoes everything, so that start may
   * be called again (each call used to leak the last one's table and
   * loops). Past that, tern_server_free cleans up. */
  rv = build_table(s);
  if (rv != TERN_OK)
    return rv;
  rv = TERN_ENOMEM;
  s->loops = calloc((size_t)s->opts.io_threads, sizeof(*s->loops));
  if (!s->loops)
    goto fail_table;
  s->workers = calloc((size_t)s->opts.workers, sizeof(*s->workers));
  if (!s->workers)
    goto fail_loops_array;
  for (i = 0; i < s->opts.io_threads; i++) {
    s->loops[i].server = s;
    tern__queue_init(&s->loops[i].conns);
    rv = tern__loop_new(&s->loops[i].loop);
    if (rv != TERN_OK)
      goto fail_loops;
    s->n_loops++;
  }
  for (k = 0; k < s->n_listeners; k++) {
    s->listeners[k].io.data = &s->listeners[k];
    tern__timer_init(&s->listeners[k].resume, resume_accept,
                     &s->listeners[k]);
    if (tern__io_set(s->loops[0].loop, &s->listeners[k].io, TERN__IO_READ)) {
      rv = TERN_ESYS;
      goto fail_loops;
    }
  }
  s->state = S_RUNNING;
  for (i = 0; i < s->opts.workers; i++) {
    if (pthread_create(&s->workers[i], NULL, worker_main, s) != 0)
      return TERN_ESYS;
    s->n_workers++;
  }
  for (i = 0; i < s->n_loops; i++) {
    rv = tern__loop_start_thread(s->loops[i].loop);
    if (rv != TERN_OK)
      return rv;
  }
  return TERN_OK;
fail_loops:
  for (i = 0; i < s->n_loops; i++)
    tern__loop_free(s->loops[i].loop);
  s->n_loops = 0;
  /* Their registrations went with loop 0's epoll descriptor. */
  for (k = 0; k < s->n_listeners; k++)
    s->listeners[k].io.events = 0;
  free(s->workers);
  s->workers = NULL;
fail_loops_array:
  free(s->loops);
  s->loops = NULL;
fail_table:
  free(s->table);
  s->table = NULL;
  return rv;
}

int tern_server_wait(tern_server *s) {
  if (!s)
    return TERN_EINVAL;
  pthread_mutex_lock(&s->mu);
  while (s->state == S_RUNNING || s->state == S_SHUTTING)
    pthread_cond_wait(&s->cv, &s->mu);
  pthread_mutex_unlock(&s->mu);
  return TERN_OK;
}

static void loop_goaway(void *arg) {
  srv_loop *sl = arg;
  tern__queue *q, *n;
  size_t k;
  /* Close the listening sockets: new connections are refused, not left
   * waiting in the backlog. */
  if (sl == &sl->server->loops[0])
    for (k = 0; k < sl->server->n_listeners; k++) {
      tern__timer_stop(sl->loop, &sl->server->listeners[k].resume);
      tern__io_stop(sl->loop, &sl->server->listeners[k].io);
      close(sl->server->listeners[k].io.fd);
      sl->server->listeners[k].io.fd = -1;
    }
  tern__queue_foreach_safe(q, n, &sl->conns) {
    tern__conn *c = tern__queue_data(q, tern__conn, owner_node);
    tern__conn_shutdown(c);
    if (c->n_streams == 0)
      tern__conn_close(c);
  }
}

static void loop_close_all(void *arg) {
  srv_loop *sl = arg;
  tern__queue *q;
  while ((q = tern__queue_head(&sl->conns)) != NULL)
    tern__conn_close(tern__queue_data(q, tern__conn, owner_node));
}

static void post_all(tern_server *s, void (*fn)(void *)) {
  int i;
  for (i = 0; i < s->n_loops; i++)
    while (tern__loop_post_fn(s->loops[i].loop, fn, &s->loops[i]) != TERN_OK)
      usleep(1000);
}

/* Under mu: calls not yet destroyed, or connections not yet closed. */
static int work_left(tern_server *s) {
  return __atomic_load_n(&s->n_calls, __ATOMIC_SEQ_CST) > 0 || s->n_conns > 0;
}

int tern_server_shutdown(tern_server *s, int64_t grace_ms) {
  int i;
  if (!s)
    return TERN_EINVAL;
  pthread_mutex_lock(&s->mu);
  if (s->state != S_RUNNING) {
    int st = s->state;
    if (st == S_NEW)
      s->state = S_DONE;
    pthread_cond_broadcast(&s->cv);
    while (s->state == S_SHUTTING)
      pthread_cond_wait(&s->cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
    return TERN_OK;
  }
  s->state = S_SHUTTING;
  /* From here the last call destroyed broadcasts cv (sc_destroy); set
   * before work_left() first reads the count. */
  __atomic_store_n(&s->draining, 1, __ATOMIC_SEQ_CST);
  pthread_mutex_unlock(&s->mu);

  post_all(s, loop_goaway);
  /* Woken by the last connection closing (on_conn_closed) or the last
   * call going (sc_destroy); bounded by the grace period. */
  pthread_mutex_lock(&s->mu);
  if (grace_ms < 0) {
    while (work_left(s))
      pthread_cond_wait(&s->cv, &s->mu);
  } else {
    struct timespec deadline;
    tern__deadline_ts(&deadline, grace_ms);
    while (work_left(s))
      if (pthread_cond_timedwait(&s->cv, &s->mu, &deadline) == ETIMEDOUT)
        break;
  }
  pthread_mutex_unlock(&s->mu);

  /* Grace is over: cancel what is left; handlers see it and return. */
  post_all(s, loop_close_all);
  pthread_mutex_lock(&s->mu);
  while (work_left(s))
    pthread_cond_wait(&s->cv, &s->mu);
  s->wq_stop = 1;
  pthread_cond_broadcast(&s->wq_cv);
  pthread_mutex_unlock(&s->mu);

  for (i = 0; i < s->n_workers; i++)
    pthread_join(s->workers[i], NULL);
  s->n_workers = 0;
  for (i = 0; i < s->n_loops; i++)
    tern__loop_stop(s->loops[i].loop);
  for (i = 0; i < s->n_loops; i++)
    tern__loop_join(s->loops[i].loop);

  pthread_mutex_lock(&s->mu);
  s->state = S_DONE;
  pthread_cond_broadcast(&s->cv);
  pthread_mutex_unlock(&s->mu);
  return TERN_OK;
}

void tern_server_free(tern_server *s) {
  size_t k;
  int i;
  if (!s)
    return;
  tern_server_shutdown(s, 0);
  /* Workers that failed to start in tern_server_start still need joining. */
  pthread_mutex_lock(&s->mu);
  s->wq_stop = 1;
  pthread_cond_broadcast(&s->wq_cv);
  pthread_mutex_unlock(&s->mu);
  for (i = 0; i < s->n_workers; i++)
    pthread_join(s->workers[i], NULL);
  for (k = 0; k < s->n_listeners; k++) {
    if (s->listeners[k].io.fd >= 0)
      close(s->listeners[k].io.fd);
    tern__tls_ctx_unref(s->listeners[k].tls);
  }
  for (i = 0; i < s->n_loops; i++) {
    tern__loop_stop(s->loops[i].loop);
    tern__loop_join(s->loops[i].loop);
    tern__loop_free(s->loops[i].loop);
  }
  free(s->loops);
  free(s->workers);
  free(s->listeners);
  free(s->entries);
  free(s->services);
  free(s->table);
  pthread_cond_destroy(&s->cv);
  pthread_cond_destroy(&s->wq_cv);
  pthread_mutex_destroy(&s->mu);
  free(s);
}

/* ---- inside a handler ------------------------------------------------------- */

const tern_metadata *tern_server_call_metadata(const tern_server_call *sc) {
  return sc->c.in_md ? sc->c.in_md : tern__metadata_empty();
}

const char *tern_server_call_method(const tern_server_call *sc) {
  return sc->c.path ? sc->c.path : "";
}

const char *tern_server_call_authority(const tern_server_call *sc) {
  return sc->c.authority ? sc->c.authority : "";
}

/* Headers added once they have gone out are not sent. */
int tern_server_call_add_header(tern_server_call *sc, const char *key,
                                const char *value) {
  return tern__call_add_metadata(&sc->c, 0, key, value, 0, 0);
}

int tern_server_call_add_header_bin(tern_server_call *sc, const char *key,
                                    const void *value, size_t len) {
  return tern__call_add_metadata(&sc->c, 0, key, value, len, 1);
}

int tern_server_call_add_trailer(tern_server_call *sc, const char *key,
                                 const char *value) {
  return tern__call_add_metadata(&sc->c, 1, key, value, 0, 0);
}

int tern_server_call_add_trailer_bin(tern_server_call *sc, const char *key,
                                     const void *value, size_t len) {
  return tern__call_add_metadata(&sc->c, 1, key, value, len, 1);
}

int tern_server_call_send_headers(tern_server_call *sc) {
  tern__call_send_headers(&sc->c);
  return TERN_OK;
}

int tern_server_call_set_message(tern_server_call *sc, const char *msg) {
  return tern__call_set_message(&sc->c, msg);
}

int tern_server_call_is_cancelled(const tern_server_call *sc) {
  struct tern_server_call *m = (struct tern_server_call *)sc;
  int r;
  tern__call_lock(&m->c);
  r = m->c.done || m->c.aborted;
  tern__call_unlock(&m->c);
  if (!r && sc->c.deadline_ns > 0 && tern__now_ns() >= sc->c.deadline_ns)
    r = 1;
  return r;
}

const char *tern_server_call_peer_identity(const tern_server_call *sc) {
  return sc->peer_identity;
}

int64_t tern_server_call_time_remaining_ms(const tern_server_call *sc) {
  int64_t left;
  if (sc->c.deadline_ns <= 0)
    return INT64_MAX;
  left = sc->c.deadline_ns - tern__now_ns();
  return left <= 0 ? 0 : left / 1000000;
}

void tern_server_call_set_state(tern_server_call *sc, void *state) {
  sc->state = state;
}

void *tern_server_call_state(const tern_server_call *sc) {
  return sc->state;
}

void *tern_server_call_alloc(tern_server_call *sc, size_t size) {
  /* Handlers and the worker both allocate: tern__call_alloc locks. */
  return tern__call_alloc(&sc->c, size, 1);
}

char *tern_server_call_strdup(tern_server_call *sc, const char *s) {
  size_t n = strlen(s) + 1;
  char *d = tern_server_call_alloc(sc, n);
  if (d)
    memcpy(d, s, n);
  return d;
}

int tern_server_call_write(tern_server_call *sc, const void *msg) {
  return tern_server_call_write_flags(sc, msg, 0);
}

int tern_server_call_set_compression(tern_server_call *sc,
                                     tern_compression c) {
  if (!sc || (int)c < TERN_COMPRESS_DEFAULT || c > TERN_COMPRESS_GZIP)
    return TERN_EINVAL;
  return tern__call_set_send_alg(&sc->c,
                                 c == TERN_COMPRESS_DEFAULT
                                     ? sc->server->opts.default_compression
                                     : c);
}

int tern_server_call_message_compressed(const tern_server_call *sc) {
  return sc ? sc->c.last_compressed : 0;
}

int tern_server_call_write_flags(tern_server_call *sc, const void *msg,
                                 unsigned flags) {
  const tern_method *m = sc ? sc->c.method : NULL;
  tern__msg *out;
  int rv, inline_h;
  if (!sc || !msg || !m)
    return TERN_EINVAL;
  if (m->kind != TERN_METHOD_SERVER_STREAMING &&
      m->kind != TERN_METHOD_BIDI_STREAMING)
    return TERN_ESTATE;
  rv = tern__call_encode(&sc->c, m, m->response_type, msg,
                         (flags & TERN_WRITE_NO_COMPRESS)
                             ? TERN_COMPRESS_IDENTITY
                             : tern__call_effective_alg(&sc->c),
                         &out);
  if (rv != TERN_OK)
    return rv;
  if (too_big_to_send(sc, out)) {
    tern__call_msg_free(&sc->c, out);
    return TERN_ETOOBIG; /* the call goes on; the handler decides */
  }
  inline_h = (sc->entry->flags & TERN_REGISTER_INLINE) != 0;
  rv = tern__call_queue_out(&sc->c, out,
                            inline_h ? TERN__QUEUE_EAGAIN : TERN__QUEUE_WAIT);
  if (rv == TERN_OK)
    tern__call_wake(&sc->c);
  return rv;
}

int tern_server_call_read(tern_server_call *sc, void **msg_out) {
  const tern_method *m = sc ? sc->c.method : NULL;
  tern__msg *in;
  int rv;
  if (!sc || !msg_out || !m)
    return TERN_EINVAL;
  *msg_out = NULL;
  if (m->kind != TERN_METHOD_CLIENT_STREAMING &&
      m->kind != TERN_METHOD_BIDI_STREAMING)
    return TERN_ESTATE;
  rv = tern__call_take_in(&sc->c, &in,
                          !(sc->entry->flags & TERN_REGISTER_INLINE));
  if (rv == TERN_ETIMEDOUT)
    return TERN_EAGAIN;
  if (rv != 1)
    return rv;
  rv = tern__call_decode(&sc->c, m->request_type, in, msg_out);
  tern__call_msg_free(&sc->c, in);
  if (rv != TERN_OK) {
    /* The call ends with the decode's status whatever the handler
     * returns next. */
    const char *why;
    tern_status_code code = tern__call_decode_status(&sc->c, rv, &why);
    *msg_out = NULL;
    tern__call_end(&sc->c, code, why, TERN__END_ABORT);
    return TERN_EPROTO;
  }
  return 1;
}
