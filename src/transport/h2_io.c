/* The bytes of an HTTP/2 connection: reads into nghttp2 (many per turn),
 * nghttp2's output drained into one buffer and written once per turn, the
 * filters' handshake, the handshake, idle and age timers, close and free.
 * The session and the stream downcalls are in h2.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "transport/h2_int.h"

#define READ_CHUNK (64 * 1024)
#define READS_PER_TURN 8
#define WRITE_BATCH (256 * 1024)

/* ---- close and free ----------------------------------------------------- */

static void conn_free_task(tern__task *t) {
  h2_conn *conn = t->data;
  tern__filter_free(conn->filter);
  nghttp2_session_del(conn->session);
  tern__buf_free(&conn->out);
  tern__conn_base_cleanup(&conn->base);
  tern__free(conn);
}

void tern__h2_close(tern__conn *c) {
  h2_conn *conn = tern__h2_of(c);
  tern__queue *q;
  conn->base.closed = 1;
  tern__timer_stop(c->loop, &conn->handshake_timer);
  tern__timer_stop(c->loop, &conn->idle_timer);
  tern__timer_stop(c->loop, &conn->age_timer);
  tern__io_stop(c->loop, &conn->io);
  tern__filter_close_socket(conn->filter);
  while ((q = tern__queue_head(&c->streams)) != NULL) {
    tern__stream *s = tern__queue_data(q, tern__stream, node);
    /* Past the peer's GOAWAY last stream id a stream was never processed:
     * say so (REFUSED_STREAM), so the client may replay it elsewhere. */
    uint32_t why = c->goaway_rcvd && c->is_client &&
                           s->id > conn->goaway_last_id
                       ? TERN__RST_REFUSED_STREAM
                       : TERN__CONN_LOST;
    tern__h2_detach(conn, s);
    s->ops->on_closed(s, why, c->error[0] ? c->error : NULL);
  }
  if (c->ops->on_closed)
    c->ops->on_closed(c);
  /* Freed at the end of the turn: callers up the stack may still hold the
   * pointer (inside mem_recv, or an epoll batch). */
  tern__loop_defer(c->loop, &conn->free_task);
}

/* ---- bytes out and in --------------------------------------------------- */

static int write_out(h2_conn *conn) {
  while (conn->out_off < conn->out.len) {
    ssize_t n = conn->filter->vt->send(conn->filter,
                                       conn->out.data + conn->out_off,
                                       conn->out.len - conn->out_off);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        return 1;
      return -1;
    }
    conn->out_off += (size_t)n;
  }
  conn->out.len = 0;
  conn->out_off = 0;
  return 0;
}

/* A peer that does not read while making us answer (RST_STREAMs for
 * malformed requests, PING and SETTINGS acks: CVE-2019-9512/9514) would
 * grow nghttp2's outbound queue without bound: while our writes are
 * blocked and that queue is long, stop reading from it. */
#define OUTBOUND_QUEUE_STUCK 256
static int output_stuck(h2_conn *conn) {
  return conn->out_off < conn->out.len &&
         nghttp2_session_get_outbound_queue_size(conn->session) >
             OUTBOUND_QUEUE_STUCK;
}

/* Drives the filters' handshake. 1 when done, 0 while in progress, -1
 * after closing the connection. */
static int handshake(h2_conn *conn) {
  unsigned want = TERN__IO_READ;
  int r = conn->filter->vt->handshake(conn->filter, &want, conn->base.error,
                                      sizeof(conn->base.error));
  if (r > 0) {
    conn->handshaking = 0;
    conn->base.peer_identity = conn->filter->vt->peer_identity(conn->filter);
    if (conn->base.ops->on_ready)
      conn->base.ops->on_ready(&conn->base);
    return conn->base.closed ? -1 : 1;
  }
  if (r == 0) {
    if (tern__io_set(conn->base.loop, &conn->io, want) != TERN_OK)
      tern__conn_close(&conn->base);
    return conn->base.closed ? -1 : 0;
  }
  TERN__DEBUG("%s", conn->base.error);
  tern__conn_close(&conn->base);
  return -1;
}

/* Client: our write failed, typically a reset from a server that closed
 * with our last frames unread. What it sent before (its GOAWAY, the last
 * responses) is still in our receive buffer: hand it to nghttp2 before
 * closing, so finished calls complete and streams past the GOAWAY count as
 * refused, not lost. At most a connection window's worth. */
static void read_rest(h2_conn *conn) {
  uint8_t buf[READ_CHUNK];
  size_t total = 0;
  while (!conn->base.closed && total < TERN__H2_CONN_WINDOW) {
    ssize_t n = conn->filter->vt->recv(conn->filter, buf, sizeof(buf),
                                       conn->base.error,
                                       sizeof(conn->base.error));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0 || nghttp2_session_mem_recv(conn->session, buf, (size_t)n) < 0)
      return;
    total += (size_t)n;
  }
}

/* Drains nghttp2 into one buffer and writes it: one send() per batch. */
static void conn_flush(tern__task *t) {
  h2_conn *conn = t->data;
  unsigned interest;
  if (conn->base.closed)
    return;
  if (conn->handshaking && handshake(conn) <= 0)
    return;
  for (;;) {
    int r = write_out(conn);
    if (r < 0) {
      if (conn->base.is_client)
        read_rest(conn);
      tern__conn_close(&conn->base);
      return;
    }
    if (r > 0)
      break; /* socket full: wait for EPOLLOUT */
    while (conn->out.len < WRITE_BATCH) {
      const uint8_t *data;
      ssize_t n = nghttp2_session_mem_send(conn->session, &data);
      if (n < 0) {
        tern__conn_close(&conn->base);
        return;
      }
      if (n == 0)
        break;
      if (tern__buf_append(&conn->out, data, (size_t)n) != TERN_OK) {
        tern__conn_close(&conn->base);
        return;
      }
    }
    if (conn->out.len == 0)
      break;
  }
  if (conn->base.closed)
    return;
  if (conn->out_off < conn->out.len) {
    interest = output_stuck(conn) ? TERN__IO_WRITE
                                  : TERN__IO_READ | TERN__IO_WRITE;
  } else if (!nghttp2_session_want_read(conn->session) &&
             !nghttp2_session_want_write(conn->session)) {
    tern__conn_close(&conn->base); /* GOAWAY exchanged and nothing left */
    return;
  } else if (conn->base.draining && conn->base.n_streams == 0) {
    tern__conn_close(&conn->base);
    return;
  } else {
    interest = TERN__IO_READ;
  }
  if (tern__io_set(conn->base.loop, &conn->io, interest) != TERN_OK)
    tern__conn_close(&conn->base);
}

static void conn_io(tern__io *io, unsigned events) {
  h2_conn *conn = io->data;
  uint8_t buf[READ_CHUNK];
  int i;
  if (conn->base.closed)
    return;
  if (conn->handshaking) {
    if (handshake(conn) <= 0)
      return;
    events |= TERN__IO_READ; /* data may have come with the last flight */
  }
  if ((events & TERN__IO_READ) && output_stuck(conn))
    events &= ~TERN__IO_READ; /* read again once the peer reads ours */
  if (events & TERN__IO_READ) {
    for (i = 0; i < READS_PER_TURN && !conn->base.closed; i++) {
      ssize_t n = conn->filter->vt->recv(conn->filter, buf, sizeof(buf),
                                         conn->base.error,
                                         sizeof(conn->base.error));
      ssize_t used;
      if (n < 0) {
        if (errno == EINTR)
          continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
          break;
        tern__conn_close(&conn->base);
        return;
      }
      if (n == 0) {
        tern__conn_close(&conn->base);
        return;
      }
      used = nghttp2_session_mem_recv(conn->session, buf, (size_t)n);
      if (conn->base.closed)
        return;
      if (used < 0) {
        /* nghttp2 queued a GOAWAY for protocol errors; for its flood
         * limits it did not: say ENHANCE_YOUR_CALM. Send, then close. */
        TERN__DEBUG("nghttp2: %s", nghttp2_strerror((int)used));
        if (used == NGHTTP2_ERR_FLOODED ||
            used == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS)
          nghttp2_session_terminate_session(conn->session,
                                            NGHTTP2_ENHANCE_YOUR_CALM);
        conn_flush(&conn->flush_task);
        tern__conn_close(&conn->base);
        return;
      }
      if ((size_t)n < sizeof(buf) && !conn->filter->vt->pending(conn->filter))
        break;
    }
  }
  tern__h2_schedule_flush(conn);
}

/* ---- timers ------------------------------------------------------------- */

static void handshake_timeout(tern__timer *t) {
  h2_conn *conn = t->data;
  snprintf(conn->base.error, sizeof(conn->base.error),
           "handshake timed out");
  tern__conn_close(&conn->base);
}

static void idle_timeout(tern__timer *t) {
  h2_conn *conn = t->data;
  if (conn->base.n_streams == 0)
    tern__conn_shutdown(&conn->base); /* GOAWAY; closes at once: no streams */
}

static void age_grace_over(tern__timer *t) {
  h2_conn *conn = t->data;
  snprintf(conn->base.error, sizeof(conn->base.error), "max connection age");
  tern__conn_close(&conn->base);
}

static void age_reached(tern__timer *t) {
  h2_conn *conn = t->data;
  tern__conn_shutdown(&conn->base);
  if (!conn->base.closed && conn->age_grace_ms > 0) {
    conn->age_timer.cb = age_grace_over;
    tern__timer_start(conn->base.loop, &conn->age_timer,
                      tern__now_ns() + conn->age_grace_ms * 1000000);
  }
}

/* ---- set-up ------------------------------------------------------------- */

void tern__h2_io_init(h2_conn *conn, int fd) {
  tern__io_init(&conn->io, fd, conn_io, conn);
  tern__task_init(&conn->flush_task, conn_flush, conn);
  tern__task_init(&conn->free_task, conn_free_task, conn);
  tern__timer_init(&conn->handshake_timer, handshake_timeout, conn);
  tern__timer_init(&conn->idle_timer, idle_timeout, conn);
  tern__timer_init(&conn->age_timer, age_reached, conn);
}

int tern__h2_io_start(h2_conn *conn, const tern__h2_config *cfg) {
  tern__loop *loop = conn->base.loop;
  if (tern__io_set(loop, &conn->io, TERN__IO_READ) != TERN_OK)
    return TERN_ESYS; /* epoll_ctl failed */
  if (cfg->handshake_ms > 0)
    tern__timer_start(loop, &conn->handshake_timer,
                      tern__now_ns() + cfg->handshake_ms * 1000000);
  if (cfg->idle_ms > 0)
    tern__timer_start(loop, &conn->idle_timer,
                      tern__now_ns() + cfg->idle_ms * 1000000);
  if (cfg->age_ms > 0) {
    /* +-10% so that connections made together do not all go together */
    int64_t age = cfg->age_ms * 1000000;
    int64_t span = age / 5;
    if (span > 0)
      age += (int64_t)((uint64_t)tern__now_ns() % (uint64_t)span) - span / 2;
    tern__timer_start(loop, &conn->age_timer, tern__now_ns() + age);
  }
  return TERN_OK;
}
