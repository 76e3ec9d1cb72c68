/* The HTTP/2 connection, shared by its two files: the nghttp2 session and
 * the stream downcalls (h2.c), the bytes, handshake and timers (h2_io.c).
 * Private to those two, which with this header are the only files that
 * include nghttp2. */
#ifndef TERN_TRANSPORT_H2_INT_H
#define TERN_TRANSPORT_H2_INT_H

#include <nghttp2/nghttp2.h>

#include "transport/filter.h"

/* The connection window we advertise (h2.c) and how much a client reads
 * after a failed write before it closes (h2_io.c). */
#define TERN__H2_CONN_WINDOW (16 * 1024 * 1024)

typedef struct h2_conn {
  tern__conn base; /* first */
  tern__filter *filter; /* the top of the stack */
  tern__io io;
  nghttp2_session *session;
  tern__buf out; /* bytes produced by nghttp2, not yet written */
  size_t out_off;
  tern__task flush_task;
  tern__task free_task;
  int handshaking;        /* the filters' handshake is not done */
  int32_t goaway_last_id; /* the peer's GOAWAY: last stream it processed */
  uint32_t max_header_list;
  int64_t idle_ms, age_grace_ms;
  int got_settings; /* the peer's first SETTINGS arrived */
  uint32_t reset_burst, reset_rate; /* our own stream resets: bucket */
  double reset_tokens;
  int64_t reset_last_ns;
  tern__timer handshake_timer, idle_timer, age_timer;
} h2_conn;

/* The helpers below are inline: both files call them on hot paths (a
 * flush per stream downcall and per read, a detach per stream). */

static inline h2_conn *tern__h2_of(tern__conn *c) { return (h2_conn *)c; }

static inline void tern__h2_schedule_flush(h2_conn *conn) {
  if (!conn->base.closed)
    tern__loop_defer(conn->base.loop, &conn->flush_task);
}

/* A stream leaves its connection (closed, or the connection closing):
 * nghttp2 forgets it, and the idle timer starts with the last one. */
static inline void tern__h2_detach(h2_conn *conn, tern__stream *s) {
  if (!conn->base.closed && s->id > 0)
    nghttp2_session_set_stream_user_data(conn->session, s->id, NULL);
  tern__conn_detach(&conn->base, s);
  if (!conn->base.closed && conn->base.n_streams == 0 && conn->idle_ms > 0)
    tern__timer_start(conn->base.loop, &conn->idle_timer,
                      tern__now_ns() + conn->idle_ms * 1000000);
}

/* ---- h2_io.c ------------------------------------------------------------- */

/* Sets up the connection's I/O on fd: the socket's watcher, the flush and
 * free tasks, the handshake, idle and age timers. Nothing is armed. */
void tern__h2_io_init(h2_conn *conn, int fd);

/* Watches the socket for reads and arms the timers cfg asks for.
 * TERN_OK, or TERN_ESYS when epoll_ctl failed (then no timer is armed). */
int tern__h2_io_start(h2_conn *conn, const tern__h2_config *cfg);

/* The connection's close (tern__conn_vt.close): stops its I/O and timers,
 * tells each stream and the owner, frees the connection at the end of the
 * turn. */
void tern__h2_close(tern__conn *c);

#endif
