/* Listening: the listening sockets, accepting, the hand-off of accepted
 * sockets to the loops, and each connection from its making to its close
 * (add_conn, on_conn_closed), which keep the server's connection count.
 * A connection's new streams are calls, made where the call hooks are
 * (tern__server_on_new_stream, dispatch.c). */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "server/server_int.h"

/* The stream window the server advertises (SETTINGS_INITIAL_WINDOW_SIZE). */
#define SERVER_WINDOW (1024 * 1024)

/* ---- connections -------------------------------------------------------- */

static void on_conn_closed(tern__conn *conn) {
  srv_loop *sl = conn->owner;
  tern_server *s = sl->server;
  tern__queue_remove(&conn->owner_node);
  pthread_mutex_lock(&s->mu);
  s->n_conns--;
  pthread_cond_broadcast(&s->cv);
  pthread_mutex_unlock(&s->mu);
}

static const tern__conn_ops server_conn_ops = {tern__server_on_new_stream, NULL,
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
  tern__free(h);
}

void tern__server_resume_accept(tern__timer *t) {
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
      handoff *h = tern__malloc(sizeof(*h));
      if (!h || (h->sl = sl, h->fd = fd, h->tls = l->tls,
                 tern__loop_post_fn(sl->loop, handoff_run, h)) != TERN_OK) {
        tern__free(h);
        close(fd);
      }
    }
  }
}

/* ---- listening sockets -------------------------------------------------- */

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
  ls = tern__realloc(s->listeners, (s->n_listeners + 1) * sizeof(*ls));
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
