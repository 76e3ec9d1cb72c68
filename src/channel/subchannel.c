/* Subchannels (subchannel.h): one address, a non-blocking connect bounded
 * by the connect timeout (which also bounds the TLS handshake), HTTP/2 over
 * the socket, and backoff between failed attempts. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "channel/subchannel.h"

#define CLIENT_WINDOW (1024 * 1024)
#define MAX_HEADER_LIST (16 * 1024)

struct tern__subchannel {
  tern__subchannel_args args;
  struct sockaddr_storage addr;
  socklen_t addr_len;
  int refs; /* the owner's until release, and one per open connection */
  int released;
  tern_connectivity_state state;
  tern__subchannel_watcher watch;
  void *watch_data;
  int fd; /* the socket being connected, -1 when none */
  tern__io io;
  tern__timer connect_timer;
  tern__timer backoff_timer;
  /* The connection of this attempt (TLS handshaking while CONNECTING) or
   * the READY one; a draining connection is no longer here. */
  tern__conn *conn;
  tern__backoff backoff;
  char error[200];
};

static void unref(tern__subchannel *sc) {
  if (--sc->refs > 0)
    return;
  tern__timer_stop(sc->args.loop, &sc->connect_timer);
  tern__timer_stop(sc->args.loop, &sc->backoff_timer);
  tern__free(sc);
}

/* The one place the state changes: the owner hears of it last, so that
 * it may call back in (connect again, release). */
static void set_state(tern__subchannel *sc, tern_connectivity_state st) {
  sc->state = st;
  if (sc->watch)
    sc->watch(sc, st, st == TERN_CHANNEL_TRANSIENT_FAILURE ? sc->error : NULL,
              sc->watch_data);
}

static void stop_attempt(tern__subchannel *sc) {
  if (sc->fd >= 0) {
    tern__io_stop(sc->args.loop, &sc->io);
    close(sc->fd);
    sc->fd = -1;
  }
  tern__timer_stop(sc->args.loop, &sc->connect_timer);
}

/* This attempt failed: TRANSIENT_FAILURE until the backoff ends. */
static void attempt_failed(tern__subchannel *sc, const char *why) {
  stop_attempt(sc);
  snprintf(sc->error, sizeof(sc->error), "%s", why);
  TERN__DEBUG("subchannel: %s", sc->error);
  tern__timer_start(sc->args.loop, &sc->backoff_timer,
                    tern__now_ns() +
                        tern__backoff_next(&sc->backoff) * 1000000);
  set_state(sc, TERN_CHANNEL_TRANSIENT_FAILURE);
}

static void became_ready(tern__subchannel *sc, tern__conn *conn) {
  tern__timer_stop(sc->args.loop, &sc->connect_timer);
  sc->conn = conn;
  tern__backoff_reset(&sc->backoff);
  set_state(sc, TERN_CHANNEL_READY);
}

/* ---- the connection's owner hooks --------------------------------------- */

static void conn_goaway(tern__conn *conn) {
  tern__subchannel *sc = conn->owner;
  /* No new streams there; the connection closes by itself once its last
   * stream ends. The next call needs a new connection. */
  if (sc->conn == conn && sc->state == TERN_CHANNEL_READY) {
    sc->conn = NULL;
    set_state(sc, TERN_CHANNEL_IDLE);
  }
}

static void conn_closed(tern__conn *conn) {
  tern__subchannel *sc = conn->owner;
  tern__queue_remove(&conn->owner_node);
  if (sc->conn == conn) {
    sc->conn = NULL;
    if (sc->state == TERN_CHANNEL_CONNECTING) /* the TLS handshake failed */
      attempt_failed(sc, conn->error[0] ? conn->error : "TLS handshake failed");
    else
      set_state(sc, TERN_CHANNEL_IDLE);
  }
  unref(sc); /* the connection's */
}

static void conn_ready(tern__conn *conn) {
  tern__subchannel *sc = conn->owner;
  if (sc->conn == conn && sc->state == TERN_CHANNEL_CONNECTING)
    became_ready(sc, conn);
}

static const tern__conn_ops subchannel_conn_ops = {NULL, conn_goaway,
                                                   conn_closed, conn_ready};

/* ---- connecting --------------------------------------------------------- */

static void connected(tern__subchannel *sc) {
  tern__h2_config cfg;
  tern__conn *conn;
  int fd = sc->fd, one = 1;
  tern__io_stop(sc->args.loop, &sc->io);
  sc->fd = -1;
  if (sc->addr.ss_family != AF_UNIX)
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  memset(&cfg, 0, sizeof(cfg));
  cfg.initial_window = CLIENT_WINDOW;
  cfg.max_header_list = MAX_HEADER_LIST;
  cfg.tls = sc->args.tls;
  cfg.tls_host = sc->args.tls_host;
  /* Takes fd over, even when it fails. */
  if (tern__h2_conn_new(&conn, sc->args.loop, fd, 1, &cfg, &subchannel_conn_ops,
                        sc) != TERN_OK) {
    attempt_failed(sc,
                   sc->args.tls ? "TLS setup failed" : "HTTP/2 setup failed");
    return;
  }
  sc->refs++;
  tern__queue_insert_head(sc->args.conns, &conn->owner_node);
  if (sc->args.tls) {
    /* The timer keeps running: it bounds the handshake too. conn_ready
     * or conn_closed goes on. */
    sc->conn = conn;
    return;
  }
  became_ready(sc, conn);
}

static void connect_io_cb(tern__io *io, unsigned events) {
  tern__subchannel *sc = io->data;
  int err = 0;
  socklen_t len = sizeof(err);
  char why[160];
  (void)events;
  if (getsockopt(io->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err) {
    snprintf(why, sizeof(why), "connect: %s", strerror(err ? err : errno));
    attempt_failed(sc, why);
    return;
  }
  connected(sc);
}

static void connect_timeout(tern__timer *t) {
  tern__subchannel *sc = t->data;
  if (sc->conn) {
    /* conn_closed fails the attempt with the connection's error */
    tern__conn_fail(sc->conn, "TLS handshake timed out");
    return;
  }
  attempt_failed(sc, "connect timed out");
}

static void backoff_over(tern__timer *t) {
  tern__subchannel *sc = t->data;
  if (sc->state == TERN_CHANNEL_TRANSIENT_FAILURE)
    set_state(sc, TERN_CHANNEL_IDLE);
}

void tern__subchannel_connect(tern__subchannel *sc) {
  char why[160];
  int fd;
  if (sc->released || sc->state != TERN_CHANNEL_IDLE)
    return;
  /* Held across the watcher, which may release sc. */
  sc->refs++;
  set_state(sc, TERN_CHANNEL_CONNECTING);
  if (sc->released || sc->state != TERN_CHANNEL_CONNECTING) {
    unref(sc); /* the owner changed its mind */
    return;
  }
  sc->refs--;
  fd =
      socket(sc->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    snprintf(why, sizeof(why), "socket: %s", strerror(errno));
    attempt_failed(sc, why);
    return;
  }
  sc->fd = fd;
  if (connect(fd, (struct sockaddr *)&sc->addr, sc->addr_len) == 0) {
    connected(sc); /* unix sockets connect at once */
    return;
  }
  if (errno != EINPROGRESS) {
    snprintf(why, sizeof(why), "connect: %s", strerror(errno));
    attempt_failed(sc, why);
    return;
  }
  tern__io_init(&sc->io, fd, connect_io_cb, sc);
  if (tern__io_set(sc->args.loop, &sc->io, TERN__IO_WRITE) != TERN_OK) {
    attempt_failed(sc, "cannot watch the socket");
    return;
  }
  tern__timer_start(sc->args.loop, &sc->connect_timer,
                    tern__now_ns() + sc->args.connect_timeout_ms * 1000000);
}

/* ---- life --------------------------------------------------------------- */

int tern__subchannel_new(tern__subchannel **sc_out,
                         const tern__subchannel_args *args,
                         const struct sockaddr *addr, socklen_t len,
                         tern__subchannel_watcher watch, void *data) {
  tern__subchannel *sc;
  if ((size_t)len > sizeof(sc->addr))
    return TERN_EINVAL;
  sc = tern__zalloc(sizeof(*sc));
  if (!sc)
    return TERN_ENOMEM;
  sc->args = *args;
  memcpy(&sc->addr, addr, len);
  sc->addr_len = len;
  sc->refs = 1;
  sc->state = TERN_CHANNEL_IDLE;
  sc->watch = watch;
  sc->watch_data = data;
  sc->fd = -1;
  tern__timer_init(&sc->connect_timer, connect_timeout, sc);
  tern__timer_init(&sc->backoff_timer, backoff_over, sc);
  tern__backoff_init(&sc->backoff, args->initial_backoff_ms,
                     args->max_backoff_ms,
                     (uint64_t)tern__now_ns() ^ (uint64_t)(uintptr_t)sc);
  *sc_out = sc;
  return TERN_OK;
}

tern_connectivity_state tern__subchannel_state(const tern__subchannel *sc) {
  return sc->state;
}

tern__conn *tern__subchannel_conn(const tern__subchannel *sc) {
  return sc->state == TERN_CHANNEL_READY ? sc->conn : NULL;
}

const char *tern__subchannel_error(const tern__subchannel *sc) {
  return sc->error;
}

void tern__subchannel_release(tern__subchannel *sc) {
  tern__conn *conn = sc->conn;
  int ready = sc->state == TERN_CHANNEL_READY;
  if (sc->released)
    return;
  sc->released = 1;
  sc->watch = NULL;
  sc->conn = NULL; /* conn_closed must not take it for this attempt */
  stop_attempt(sc);
  tern__timer_stop(sc->args.loop, &sc->backoff_timer);
  sc->state = TERN_CHANNEL_SHUTDOWN;
  if (conn && ready)
    tern__conn_shutdown(conn); /* its streams finish; then it closes */
  else if (conn)
    tern__conn_close(conn); /* a handshake nobody waits for */
  unref(sc);                /* the owner's */
}
