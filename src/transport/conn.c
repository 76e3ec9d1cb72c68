/* HTTP/2 connection over a socket. nghttp2 does the protocol; this file
 * moves bytes (many reads in, one batched write out per loop turn) and
 * routes stream events to calls. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

#include "transport/transport_int.h"

#define READ_CHUNK (64 * 1024)
#define READS_PER_TURN 8
#define WRITE_BATCH (256 * 1024)
#define CONN_WINDOW (16 * 1024 * 1024)

static struct tern_call *stream_call(nghttp2_session *s, int32_t id) {
  return nghttp2_session_get_stream_user_data(s, id);
}

static void detach(tern__conn *conn, struct tern_call *call) {
  if (call->conn_prev)
    call->conn_prev->conn_next = call->conn_next;
  else
    conn->calls = call->conn_next;
  if (call->conn_next)
    call->conn_next->conn_prev = call->conn_prev;
  call->conn_prev = call->conn_next = NULL;
  call->conn = NULL;
  conn->n_calls--;
  if (!conn->closed && call->stream_id > 0)
    nghttp2_session_set_stream_user_data(conn->session, call->stream_id,
                                         NULL);
  if (!conn->closed && conn->n_calls == 0 && conn->idle_ms > 0)
    tern__timer_start(conn->loop, &conn->idle_timer,
                      tern__now_ns() + conn->idle_ms * 1000000);
}

void tern__conn_attach(tern__conn *conn, struct tern_call *call,
                       int32_t stream_id) {
  call->conn = conn;
  call->stream_id = stream_id;
  call->conn_prev = NULL;
  call->conn_next = conn->calls;
  if (conn->calls)
    conn->calls->conn_prev = call;
  conn->calls = call;
  conn->n_calls++;
  tern__timer_stop(conn->loop, &conn->idle_timer);
  nghttp2_session_set_stream_user_data(conn->session, stream_id, call);
}

/* ---- nghttp2 callbacks ------------------------------------------------ */

static int on_begin_headers(nghttp2_session *s, const nghttp2_frame *frame,
                            void *user_data) {
  tern__conn *conn = user_data;
  struct tern_call *call;
  if (conn->is_client || frame->hd.type != NGHTTP2_HEADERS ||
      frame->headers.cat != NGHTTP2_HCAT_REQUEST)
    return 0;
  if (conn->draining) {
    nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, frame->hd.stream_id,
                              NGHTTP2_REFUSED_STREAM);
    return 0;
  }
  call = conn->ops->on_new_stream(conn, frame->hd.stream_id);
  if (!call) {
    nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, frame->hd.stream_id,
                              NGHTTP2_REFUSED_STREAM);
    return 0;
  }
  tern__conn_attach(conn, call, frame->hd.stream_id);
  return 0;
}

static int on_header(nghttp2_session *s, const nghttp2_frame *frame,
                     const uint8_t *name, size_t namelen,
                     const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *user_data) {
  tern__conn *conn = user_data;
  struct tern_call *call = stream_call(s, frame->hd.stream_id);
  (void)flags;
  if (!call || frame->hd.type != NGHTTP2_HEADERS)
    return 0;
  /* RFC 9113 6.5.2's measure: name + value + 32 per field. Past the limit
   * the rest is dropped and the call fails RESOURCE_EXHAUSTED once the
   * block ends: memory stays bounded, the connection lives on. */
  call->header_bytes += namelen + valuelen + 32;
  if (call->header_bytes > conn->max_header_list) {
    call->headers_too_big = 1;
    return 0;
  }
  if (tern__call_on_header(call, name, namelen, value, valuelen) != 0)
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  return 0;
}

static int on_frame_recv(nghttp2_session *s, const nghttp2_frame *frame,
                         void *user_data) {
  tern__conn *conn = user_data;
  struct tern_call *call;
  int end = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
  switch (frame->hd.type) {
  case NGHTTP2_HEADERS:
    call = stream_call(s, frame->hd.stream_id);
    if (call)
      tern__call_on_headers_done(call, end);
    break;
  case NGHTTP2_DATA:
    call = stream_call(s, frame->hd.stream_id);
    if (call && end)
      tern__call_on_end_stream(call);
    break;
  case NGHTTP2_SETTINGS:
    if (!conn->got_settings && !(frame->hd.flags & NGHTTP2_FLAG_ACK)) {
      conn->got_settings = 1;
      tern__timer_stop(conn->loop, &conn->handshake_timer);
    }
    break;
  case NGHTTP2_GOAWAY:
    conn->goaway_rcvd = 1;
    conn->goaway_last_id = frame->goaway.last_stream_id;
    if (conn->ops->on_goaway)
      conn->ops->on_goaway(conn);
    break;
  default:
    break;
  }
  return 0;
}

static int on_data_chunk(nghttp2_session *s, uint8_t flags, int32_t id,
                         const uint8_t *data, size_t len, void *user_data) {
  struct tern_call *call = stream_call(s, id);
  (void)flags;
  (void)user_data;
  /* The connection window is always handed back at once: only stream
   * windows push back on a sender whose reader is slow. */
  nghttp2_session_consume_connection(s, len);
  if (!call)
    return 0;
  if (tern__call_on_data(call, data, len) != 0)
    tern__call_reset(call, NGHTTP2_CANCEL);
  return 0;
}

static int on_stream_close(nghttp2_session *s, int32_t id, uint32_t error,
                           void *user_data) {
  tern__conn *conn = user_data;
  struct tern_call *call = stream_call(s, id);
  if (!call)
    return 0;
  detach(conn, call);
  tern__call_on_close(call, error);
  tern__call_unref(call);
  return 0;
}

/* Token bucket over the RST_STREAMs we send for the peer's stream errors
 * (MadeYouReset, CVE-2025-8671: nghttp2 counts only resets it receives).
 * Past it: GOAWAY ENHANCE_YOUR_CALM. */
static void count_own_reset(tern__conn *conn) {
  int64_t now = tern__now_ns();
  if (conn->reset_rate == 0)
    return;
  conn->reset_tokens +=
      (double)(now - conn->reset_last_ns) * conn->reset_rate / 1e9;
  if (conn->reset_tokens > conn->reset_burst)
    conn->reset_tokens = conn->reset_burst;
  conn->reset_last_ns = now;
  conn->reset_tokens -= 1;
  if (conn->reset_tokens < 0)
    nghttp2_session_terminate_session(conn->session,
                                      NGHTTP2_ENHANCE_YOUR_CALM);
}

static int on_frame_send(nghttp2_session *s, const nghttp2_frame *frame,
                         void *user_data) {
  tern__conn *conn = user_data;
  if (frame->hd.type == NGHTTP2_RST_STREAM &&
      frame->rst_stream.error_code != NGHTTP2_NO_ERROR &&
      frame->rst_stream.error_code != NGHTTP2_CANCEL)
    count_own_reset(conn);
  /* A server that has sent its trailers while the client is still sending
   * resets the stream with NO_ERROR, so the client stops (RFC 9113 8.1). */
  if (!conn->is_client && frame->hd.type == NGHTTP2_HEADERS &&
      (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) &&
      nghttp2_session_get_stream_remote_close(s, frame->hd.stream_id) == 0)
    nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, frame->hd.stream_id,
                              NGHTTP2_NO_ERROR);
  return 0;
}

static ssize_t data_read(nghttp2_session *s, int32_t id, uint8_t *buf,
                         size_t length, uint32_t *data_flags,
                         nghttp2_data_source *source, void *user_data) {
  struct tern_call *call = source->ptr;
  (void)s;
  (void)id;
  (void)user_data;
  return tern__call_read_data(call, buf, length, data_flags);
}

const nghttp2_data_provider tern__call_data_provider = {{0}, data_read};

/* A DATA frame whose payload read_data left in the call's queue: header
 * and payload go straight into the batched write buffer. */
static int send_data(nghttp2_session *s, nghttp2_frame *frame,
                     const uint8_t *framehd, size_t length,
                     nghttp2_data_source *source, void *user_data) {
  tern__conn *conn = user_data;
  struct tern_call *call = source->ptr;
  uint8_t pad = 0;
  (void)s;
  if (tern__buf_append(&conn->out, framehd, 9) != TERN_OK)
    return NGHTTP2_ERR_CALLBACK_FAILURE;
  if (frame->data.padlen > 0) { /* we never pad, but follow the rules */
    pad = (uint8_t)(frame->data.padlen - 1);
    if (tern__buf_append(&conn->out, &pad, 1) != TERN_OK)
      return NGHTTP2_ERR_CALLBACK_FAILURE;
  }
  if (tern__call_take_out(call, &conn->out, length) != TERN_OK)
    return NGHTTP2_ERR_CALLBACK_FAILURE;
  if (frame->data.padlen > 1) {
    size_t i;
    pad = 0;
    for (i = 0; i + 1 < frame->data.padlen; i++)
      if (tern__buf_append(&conn->out, &pad, 1) != TERN_OK)
        return NGHTTP2_ERR_CALLBACK_FAILURE;
  }
  return 0;
}

/* ---- I/O ------------------------------------------------------------------ */

static void conn_free_task(tern__task *t) {
  tern__conn *conn = t->data;
  if (conn->ssl)
    SSL_free(conn->ssl);
  free(conn->peer_cn);
  nghttp2_session_del(conn->session);
  tern__buf_free(&conn->out);
  free(conn);
}

void tern__conn_close(tern__conn *conn) {
  if (conn->closed)
    return;
  conn->closed = 1;
  tern__timer_stop(conn->loop, &conn->handshake_timer);
  tern__timer_stop(conn->loop, &conn->idle_timer);
  tern__timer_stop(conn->loop, &conn->age_timer);
  tern__io_stop(conn->loop, &conn->io);
  close(conn->io.fd);
  while (conn->calls) {
    struct tern_call *call = conn->calls;
    detach(conn, call);
    call->close_reason = conn->error[0] ? conn->error : NULL;
    /* Past the peer's GOAWAY last stream id a stream was never processed:
     * say so (REFUSED_STREAM), so the client may replay it elsewhere. */
    tern__call_on_close(call, conn->goaway_rcvd && conn->is_client &&
                                      call->stream_id > conn->goaway_last_id
                                  ? NGHTTP2_REFUSED_STREAM
                                  : TERN__CONN_LOST);
    call->close_reason = NULL;
    tern__call_unref(call);
  }
  if (conn->ops->on_closed)
    conn->ops->on_closed(conn);
  /* Freed at the end of the turn: callers up the stack may still hold the
   * pointer (inside mem_recv, or an epoll batch). */
  tern__loop_defer(conn->loop, &conn->free_task);
}

/* send() or SSL_write(): bytes written, -1 with errno EAGAIN when the
 * socket is full, -1 otherwise. */
static ssize_t conn_send(tern__conn *conn, const uint8_t *p, size_t len) {
  int n, err;
  if (!conn->ssl)
    return send(conn->io.fd, p, len, MSG_NOSIGNAL);
  ERR_clear_error();
  n = SSL_write(conn->ssl, p, len > INT32_MAX ? INT32_MAX : (int)len);
  if (n > 0)
    return n;
  err = SSL_get_error(conn->ssl, n);
  errno = (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ)
              ? EAGAIN
              : EPIPE;
  return -1;
}

/* recv() or SSL_read(): bytes read, 0 at the end, -1 with errno. */
static ssize_t conn_recv(tern__conn *conn, uint8_t *p, size_t len) {
  int n, err;
  if (!conn->ssl)
    return recv(conn->io.fd, p, len, 0);
  ERR_clear_error();
  n = SSL_read(conn->ssl, p, (int)len);
  if (n > 0)
    return n;
  err = SSL_get_error(conn->ssl, n);
  if (err == SSL_ERROR_ZERO_RETURN)
    return 0;
  if (err == SSL_ERROR_SSL && !conn->error[0]) {
    /* e.g. the server's alert for a missing client certificate */
    char why[120];
    tern__tls_error(why, sizeof(why));
    snprintf(conn->error, sizeof(conn->error), "TLS: %s", why);
  }
  errno = (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
              ? EAGAIN
              : ECONNRESET;
  return -1;
}

static int write_out(tern__conn *conn) {
  while (conn->out_off < conn->out.len) {
    ssize_t n = conn_send(conn, conn->out.data + conn->out_off,
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
static int output_stuck(tern__conn *conn) {
  return conn->out_off < conn->out.len &&
         nghttp2_session_get_outbound_queue_size(conn->session) >
             OUTBOUND_QUEUE_STUCK;
}

/* Drives the TLS handshake. 1 when done, 0 while in progress, -1 after
 * closing the connection. */
static int handshake(tern__conn *conn) {
  int r, err;
  ERR_clear_error();
  r = SSL_do_handshake(conn->ssl);
  if (r == 1) {
    if (!tern__tls_alpn_is_h2(conn->ssl)) {
      snprintf(conn->error, sizeof(conn->error),
               "TLS peer did not negotiate ALPN h2");
      tern__conn_close(conn);
      return -1;
    }
    conn->handshaking = 0;
    conn->peer_cn = tern__tls_peer_common_name(conn->ssl);
    if (conn->ops->on_ready)
      conn->ops->on_ready(conn);
    return conn->closed ? -1 : 1;
  }
  err = SSL_get_error(conn->ssl, r);
  if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
    if (tern__io_set(conn->loop, &conn->io,
                     err == SSL_ERROR_WANT_READ
                         ? TERN__IO_READ
                         : TERN__IO_READ | TERN__IO_WRITE) != TERN_OK)
      tern__conn_close(conn);
    return conn->closed ? -1 : 0;
  }
  {
    char why[128];
    long v = SSL_get_verify_result(conn->ssl);
    tern__tls_error(why, sizeof(why));
    if (v != X509_V_OK)
      snprintf(conn->error, sizeof(conn->error),
               "TLS handshake failed: certificate verify failed: %s",
               X509_verify_cert_error_string(v));
    else
      snprintf(conn->error, sizeof(conn->error), "TLS handshake failed: %s",
               why);
  }
  TERN__DEBUG("%s", conn->error);
  tern__conn_close(conn);
  return -1;
}

/* Client: our write failed, typically a reset from a server that closed
 * with our last frames unread. What it sent before (its GOAWAY, the last
 * responses) is still in our receive buffer: hand it to nghttp2 before
 * closing, so finished calls complete and streams past the GOAWAY count as
 * refused, not lost. At most a connection window's worth. */
static void read_rest(tern__conn *conn) {
  uint8_t buf[READ_CHUNK];
  size_t total = 0;
  while (!conn->closed && total < CONN_WINDOW) {
    ssize_t n = conn_recv(conn, buf, sizeof(buf));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0 || nghttp2_session_mem_recv(conn->session, buf, (size_t)n) < 0)
      return;
    total += (size_t)n;
  }
}

/* Drains nghttp2 into one buffer and writes it: one send() per batch. */
static void conn_flush(tern__task *t) {
  tern__conn *conn = t->data;
  unsigned interest;
  if (conn->closed)
    return;
  if (conn->handshaking && handshake(conn) <= 0)
    return;
  for (;;) {
    int r = write_out(conn);
    if (r < 0) {
      if (conn->is_client)
        read_rest(conn);
      tern__conn_close(conn);
      return;
    }
    if (r > 0)
      break; /* socket full: wait for EPOLLOUT */
    while (conn->out.len < WRITE_BATCH) {
      const uint8_t *data;
      ssize_t n = nghttp2_session_mem_send(conn->session, &data);
      if (n < 0) {
        tern__conn_close(conn);
        return;
      }
      if (n == 0)
        break;
      if (tern__buf_append(&conn->out, data, (size_t)n) != TERN_OK) {
        tern__conn_close(conn);
        return;
      }
    }
    if (conn->out.len == 0)
      break;
  }
  if (conn->closed)
    return;
  if (conn->out_off < conn->out.len) {
    interest = output_stuck(conn) ? TERN__IO_WRITE
                                  : TERN__IO_READ | TERN__IO_WRITE;
  } else if (!nghttp2_session_want_read(conn->session) &&
             !nghttp2_session_want_write(conn->session)) {
    tern__conn_close(conn); /* GOAWAY exchanged and nothing left */
    return;
  } else if (conn->draining && conn->n_calls == 0) {
    tern__conn_close(conn);
    return;
  } else {
    interest = TERN__IO_READ;
  }
  if (tern__io_set(conn->loop, &conn->io, interest) != TERN_OK)
    tern__conn_close(conn);
}

void tern__conn_schedule_flush(tern__conn *conn) {
  if (!conn->closed)
    tern__loop_defer(conn->loop, &conn->flush_task);
}

static void conn_io(tern__io *io, unsigned events) {
  tern__conn *conn = io->data;
  uint8_t buf[READ_CHUNK];
  int i;
  if (conn->closed)
    return;
  if (conn->handshaking) {
    (void)events;
    if (handshake(conn) <= 0)
      return;
    events |= TERN__IO_READ; /* data may have come with the last flight */
  }
  if ((events & TERN__IO_READ) && output_stuck(conn))
    events &= ~TERN__IO_READ; /* read again once the peer reads ours */
  if (events & TERN__IO_READ) {
    for (i = 0; i < READS_PER_TURN && !conn->closed; i++) {
      ssize_t n = conn_recv(conn, buf, sizeof(buf));
      ssize_t used;
      if (n < 0) {
        if (errno == EINTR)
          continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
          break;
        tern__conn_close(conn);
        return;
      }
      if (n == 0) {
        tern__conn_close(conn);
        return;
      }
      used = nghttp2_session_mem_recv(conn->session, buf, (size_t)n);
      if (conn->closed)
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
        tern__conn_close(conn);
        return;
      }
      if ((size_t)n < sizeof(buf) && !(conn->ssl && SSL_pending(conn->ssl)))
        break;
    }
  }
  tern__conn_schedule_flush(conn);
}

static void handshake_timeout(tern__timer *t) {
  tern__conn *conn = t->data;
  snprintf(conn->error, sizeof(conn->error), "handshake timed out");
  tern__conn_close(conn);
}

static void idle_timeout(tern__timer *t) {
  tern__conn *conn = t->data;
  if (conn->n_calls == 0)
    tern__conn_shutdown(conn); /* GOAWAY; closes at once: no streams */
}

static void age_grace_over(tern__timer *t) {
  tern__conn *conn = t->data;
  snprintf(conn->error, sizeof(conn->error), "max connection age");
  tern__conn_close(conn);
}

static void age_reached(tern__timer *t) {
  tern__conn *conn = t->data;
  tern__conn_shutdown(conn);
  if (!conn->closed && conn->age_grace_ms > 0) {
    conn->age_timer.cb = age_grace_over;
    tern__timer_start(conn->loop, &conn->age_timer,
                      tern__now_ns() + conn->age_grace_ms * 1000000);
  }
}

int tern__conn_new(tern__conn **conn_out, tern__loop *loop, int fd,
                   int is_client, const tern__conn_config *cfg,
                   const tern__conn_ops *ops, void *owner) {
  nghttp2_session_callbacks *cbs;
  nghttp2_option *opt;
  nghttp2_settings_entry iv[5];
  size_t niv = 0;
  tern__conn *conn;
  int rv;

  conn = calloc(1, sizeof(*conn));
  if (!conn)
    return TERN_ENOMEM;
  if (nghttp2_session_callbacks_new(&cbs) != 0) {
    free(conn);
    return TERN_ENOMEM;
  }
  nghttp2_session_callbacks_set_on_begin_headers_callback(cbs,
                                                          on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs,
                                                            on_data_chunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs,
                                                         on_stream_close);
  nghttp2_session_callbacks_set_on_frame_send_callback(cbs, on_frame_send);
  nghttp2_session_callbacks_set_send_data_callback(cbs, send_data);
  if (nghttp2_option_new(&opt) != 0) {
    nghttp2_session_callbacks_del(cbs);
    free(conn);
    return TERN_ENOMEM;
  }
  nghttp2_option_set_no_auto_window_update(opt, 1);
  /* gRPC has no use for RFC 7540 priorities: closed streams need not be
   * kept for a priority tree. */
  nghttp2_option_set_no_closed_streams(opt, 1);
  /* Bound what a peer can make us queue or hold. */
  nghttp2_option_set_max_outbound_ack(opt, 1000);
  nghttp2_option_set_max_settings(opt, 32);
  /* CVE-2023-44487 (rapid reset) and CONTINUATION floods: nghttp2 ends
   * the connection with GOAWAY past these. */
  if (cfg->reset_burst > 0)
    nghttp2_option_set_stream_reset_rate_limit(opt, cfg->reset_burst,
                                               cfg->reset_rate ? cfg->reset_rate
                                                               : 33);
  nghttp2_option_set_max_continuations(opt, 8);
  if (is_client)
    rv = nghttp2_session_client_new2(&conn->session, cbs, conn, opt);
  else
    rv = nghttp2_session_server_new2(&conn->session, cbs, conn, opt);
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cbs);
  if (rv != 0) {
    free(conn);
    return TERN_ENOMEM;
  }

  conn->loop = loop;
  conn->is_client = is_client;
  conn->ops = ops;
  conn->owner = owner;
  tern__io_init(&conn->io, fd, conn_io, conn);
  tern__task_init(&conn->flush_task, conn_flush, conn);
  tern__task_init(&conn->free_task, conn_free_task, conn);
  tern__timer_init(&conn->handshake_timer, handshake_timeout, conn);
  tern__timer_init(&conn->idle_timer, idle_timeout, conn);
  tern__timer_init(&conn->age_timer, age_reached, conn);
  conn->max_header_list = cfg->max_header_list;
  conn->reset_burst = cfg->reset_burst;
  conn->reset_rate = cfg->reset_rate;
  conn->reset_tokens = cfg->reset_burst;
  conn->reset_last_ns = tern__now_ns();
  conn->idle_ms = cfg->idle_ms;
  conn->age_grace_ms = cfg->age_grace_ms;

  if (!is_client) {
    iv[niv].settings_id = NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS;
    iv[niv++].value = cfg->max_concurrent_streams;
  }
  iv[niv].settings_id = NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE;
  iv[niv++].value = cfg->initial_window;
  iv[niv].settings_id = NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE;
  iv[niv++].value = cfg->max_header_list;
  if (is_client) {
    iv[niv].settings_id = NGHTTP2_SETTINGS_ENABLE_PUSH;
    iv[niv++].value = 0;
  }
  /* RFC 9218: we do not use RFC 7540 priorities. nghttp2 then schedules
   * streams without its dependency tree, which costs less per stream;
   * peers that do not know the setting ignore it. */
  iv[niv].settings_id = NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES;
  iv[niv++].value = 1;
  rv = nghttp2_submit_settings(conn->session, NGHTTP2_FLAG_NONE, iv, niv);
  if (rv == 0)
    rv = nghttp2_session_set_local_window_size(conn->session,
                                               NGHTTP2_FLAG_NONE, 0,
                                               CONN_WINDOW);
  if (rv == 0 && tern__io_set(loop, &conn->io, TERN__IO_READ) != TERN_OK)
    rv = TERN_ESYS; /* epoll_ctl refused it; nghttp2's codes are <= -500 */
  if (rv != 0) {
    nghttp2_session_del(conn->session);
    free(conn);
    return rv == TERN_ESYS ? TERN_ESYS : TERN_ENOMEM;
  }
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
  tern__conn_schedule_flush(conn);
  *conn_out = conn;
  return TERN_OK;
}

int tern__conn_start_tls(tern__conn *conn, tern__tls_ctx *tls,
                         const char *host) {
  conn->ssl = tern__tls_new_ssl(tls, conn->io.fd, host);
  if (!conn->ssl)
    return TERN_ENOMEM;
  conn->handshaking = 1;
  /* The client speaks first: make the flush start the handshake. */
  tern__conn_schedule_flush(conn);
  return TERN_OK;
}

void tern__conn_shutdown(tern__conn *conn) {
  if (conn->closed || conn->draining)
    return;
  conn->draining = 1;
  nghttp2_submit_goaway(
      conn->session, NGHTTP2_FLAG_NONE,
      nghttp2_session_get_last_proc_stream_id(conn->session),
      NGHTTP2_NO_ERROR, NULL, 0);
  tern__conn_schedule_flush(conn);
}

int32_t tern__conn_submit_request(tern__conn *conn, struct tern_call *call,
                                  const nghttp2_nv *nva, size_t nvlen) {
  nghttp2_data_provider dp = tern__call_data_provider;
  int32_t id;
  dp.source.ptr = call;
  id = nghttp2_submit_request(conn->session, NULL, nva, nvlen, &dp, call);
  if (id > 0) {
    tern__conn_attach(conn, call, id);
    tern__call_ref(call); /* the connection's reference */
    tern__conn_schedule_flush(conn);
  }
  return id;
}
