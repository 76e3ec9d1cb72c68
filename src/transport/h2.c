/* HTTP/2 over a filter stack (socket, then TLS when there is one): the
 * nghttp2 session. nghttp2 does the protocol; this file turns its
 * callbacks into the stream upcalls of transport_int.h and the stream
 * downcalls into nghttp2 submissions. The bytes are h2_io.c's. */
#include <stdlib.h>
#include <unistd.h>

#include "transport/h2_int.h"

/* tern__hdr is laid out as nghttp2_nv, so header lists go to nghttp2
 * without a copy. */
#define SAME_FIELD(f)                                                         \
  (offsetof(tern__hdr, f) == offsetof(nghttp2_nv, f) &&                       \
   sizeof(((tern__hdr *)0)->f) == sizeof(((nghttp2_nv *)0)->f))
typedef char hdr_is_nv[(sizeof(tern__hdr) == sizeof(nghttp2_nv) &&
                        SAME_FIELD(name) && SAME_FIELD(value) &&
                        SAME_FIELD(namelen) && SAME_FIELD(valuelen) &&
                        SAME_FIELD(flags) &&
                        TERN__HDR_KEEP_NAME == NGHTTP2_NV_FLAG_NO_COPY_NAME &&
                        TERN__HDR_KEEP_VALUE == NGHTTP2_NV_FLAG_NO_COPY_VALUE)
                           ? 1
                           : -1];
#define NV(h) ((const nghttp2_nv *)(const void *)(h))

static tern__stream *stream_of(nghttp2_session *s, int32_t id) {
  return nghttp2_session_get_stream_user_data(s, id);
}

static void attach(h2_conn *conn, tern__stream *s, int32_t id) {
  tern__conn_attach(&conn->base, s, id);
  tern__timer_stop(conn->base.loop, &conn->idle_timer);
}

/* ---- the data provider ------------------------------------------------- */

/* nghttp2 asks how much to put in the next DATA frame. The bytes are not
 * copied here: with NGHTTP2_DATA_FLAG_NO_COPY nghttp2 calls send_data,
 * which moves them from the stream's user straight into the write
 * buffer. At the end, the trailers (server) follow the last DATA. */
static ssize_t data_read(nghttp2_session *session, int32_t id, uint8_t *buf,
                         size_t length, uint32_t *data_flags,
                         nghttp2_data_source *source, void *user_data) {
  tern__stream *s = source->ptr;
  unsigned flags = 0;
  ssize_t n;
  (void)buf;
  (void)user_data;
  n = s->ops->out_ready(s, length, &flags);
  if (n == TERN__OUT_DEFER) {
    s->deferred = 1;
    return NGHTTP2_ERR_DEFERRED;
  }
  if (n < 0)
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  if (n > 0)
    *data_flags |= NGHTTP2_DATA_FLAG_NO_COPY;
  if (flags & TERN__OUT_EOF) {
    *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    if (flags & TERN__OUT_TRAILERS) {
      tern__hdrs l;
      int rv;
      tern__hdrs_init(&l);
      s->ops->out_trailers(s, &l);
      *data_flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
      rv = l.failed ? -1 : nghttp2_submit_trailer(session, id, NV(l.v), l.n);
      tern__hdrs_free(&l);
      if (rv != 0)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
  }
  return n;
}

/* A DATA frame whose payload data_read left with the stream's user:
 * header and payload go straight into the batched write buffer. */
static int send_data(nghttp2_session *session, nghttp2_frame *frame,
                     const uint8_t *framehd, size_t length,
                     nghttp2_data_source *source, void *user_data) {
  h2_conn *conn = user_data;
  tern__stream *s = source->ptr;
  uint8_t pad = 0;
  (void)session;
  if (tern__buf_append(&conn->out, framehd, 9) != TERN_OK)
    return NGHTTP2_ERR_CALLBACK_FAILURE;
  if (frame->data.padlen > 0) { /* we never pad, but follow the rules */
    pad = (uint8_t)(frame->data.padlen - 1);
    if (tern__buf_append(&conn->out, &pad, 1) != TERN_OK)
      return NGHTTP2_ERR_CALLBACK_FAILURE;
  }
  if (s->ops->out_take(s, &conn->out, length) != TERN_OK)
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

/* ---- nghttp2 callbacks ------------------------------------------------ */

static int on_begin_headers(nghttp2_session *session,
                            const nghttp2_frame *frame, void *user_data) {
  h2_conn *conn = user_data;
  tern__stream *s;
  if (conn->base.is_client || frame->hd.type != NGHTTP2_HEADERS ||
      frame->headers.cat != NGHTTP2_HCAT_REQUEST)
    return 0;
  s = conn->base.draining ? NULL : conn->base.ops->on_new_stream(&conn->base);
  if (!s) {
    nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, frame->hd.stream_id,
                              NGHTTP2_REFUSED_STREAM);
    return 0;
  }
  attach(conn, s, frame->hd.stream_id);
  nghttp2_session_set_stream_user_data(session, frame->hd.stream_id, s);
  return 0;
}

static int on_header(nghttp2_session *session, const nghttp2_frame *frame,
                     const uint8_t *name, size_t namelen,
                     const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *user_data) {
  h2_conn *conn = user_data;
  tern__stream *s = stream_of(session, frame->hd.stream_id);
  (void)flags;
  if (!s || frame->hd.type != NGHTTP2_HEADERS || s->too_big)
    return 0;
  /* RFC 9113 6.5.2's measure: name + value + 32 per field. Past the limit
   * the rest is dropped and the user hears of it when the block ends:
   * memory stays bounded, the connection lives on. */
  if (namelen + valuelen + 32 > conn->max_header_list - s->hdr_bytes) {
    s->too_big = 1;
    return 0;
  }
  s->hdr_bytes += (uint32_t)(namelen + valuelen + 32);
  if (s->ops->on_header(s, name, namelen, value, valuelen) != 0)
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  return 0;
}

static int on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame,
                         void *user_data) {
  h2_conn *conn = user_data;
  tern__stream *s;
  int end = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
  switch (frame->hd.type) {
  case NGHTTP2_HEADERS:
    s = stream_of(session, frame->hd.stream_id);
    if (s) {
      unsigned f = (end ? TERN__HEADERS_END_STREAM : 0) |
                   (s->too_big ? TERN__HEADERS_TOO_BIG : 0);
      s->hdr_bytes = 0; /* the limit is per header block */
      s->too_big = 0;
      if (end)
        s->in_ended = 1;
      s->ops->on_headers_end(s, f);
    }
    break;
  case NGHTTP2_DATA:
    s = stream_of(session, frame->hd.stream_id);
    if (s && end) {
      s->in_ended = 1;
      s->ops->on_end(s);
    }
    break;
  case NGHTTP2_SETTINGS:
    if (!conn->got_settings && !(frame->hd.flags & NGHTTP2_FLAG_ACK)) {
      conn->got_settings = 1;
      tern__timer_stop(conn->base.loop, &conn->handshake_timer);
    }
    break;
  case NGHTTP2_GOAWAY:
    conn->base.goaway_rcvd = 1;
    conn->goaway_last_id = frame->goaway.last_stream_id;
    if (conn->base.is_client) {
      /* No new streams here; close once the last one ends. */
      conn->base.draining = 1;
      tern__h2_schedule_flush(conn);
    }
    if (conn->base.ops->on_goaway)
      conn->base.ops->on_goaway(&conn->base);
    break;
  default:
    break;
  }
  return 0;
}

static int on_data_chunk(nghttp2_session *session, uint8_t flags, int32_t id,
                         const uint8_t *data, size_t len, void *user_data) {
  tern__stream *s = stream_of(session, id);
  (void)flags;
  (void)user_data;
  /* The connection window is always handed back at once: only stream
   * windows push back on a sender whose reader is slow. */
  nghttp2_session_consume_connection(session, len);
  if (s && s->ops->on_data(s, data, len) != 0)
    tern__stream_reset(s, TERN__RST_CANCEL);
  return 0;
}

static int on_stream_close(nghttp2_session *session, int32_t id,
                           uint32_t error, void *user_data) {
  h2_conn *conn = user_data;
  tern__stream *s = stream_of(session, id);
  if (!s)
    return 0;
  tern__h2_detach(conn, s);
  s->ops->on_closed(s, error, NULL);
  return 0;
}

/* Token bucket over the RST_STREAMs we send for the peer's stream errors
 * (MadeYouReset, CVE-2025-8671: nghttp2 counts only resets it receives).
 * Past it: GOAWAY ENHANCE_YOUR_CALM. */
static void count_own_reset(h2_conn *conn) {
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

static int on_frame_send(nghttp2_session *session, const nghttp2_frame *frame,
                         void *user_data) {
  h2_conn *conn = user_data;
  if (frame->hd.type == NGHTTP2_RST_STREAM &&
      frame->rst_stream.error_code != NGHTTP2_NO_ERROR &&
      frame->rst_stream.error_code != NGHTTP2_CANCEL)
    count_own_reset(conn);
  /* A server that has sent its trailers while the client is still sending
   * resets the stream with NO_ERROR, so the client stops (RFC 9113 8.1). */
  if (!conn->base.is_client && frame->hd.type == NGHTTP2_HEADERS &&
      (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) &&
      nghttp2_session_get_stream_remote_close(session, frame->hd.stream_id) ==
          0)
    nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, frame->hd.stream_id,
                              NGHTTP2_NO_ERROR);
  return 0;
}

/* ---- the stream downcalls ------------------------------------------------ */

static int32_t h2_open_stream(tern__conn *c, tern__stream *s,
                              const tern__hdr *h, size_t n) {
  h2_conn *conn = tern__h2_of(c);
  nghttp2_data_provider dp;
  int32_t id;
  dp.source.ptr = s;
  dp.read_callback = data_read;
  id = nghttp2_submit_request(conn->session, NULL, NV(h), n, &dp, s);
  if (id > 0) {
    attach(conn, s, id);
    tern__h2_schedule_flush(conn);
  }
  return id;
}

static int h2_respond(tern__stream *s, const tern__hdr *h, size_t n,
                      unsigned flags) {
  h2_conn *conn = tern__h2_of(s->conn);
  nghttp2_data_provider dp;
  int rv;
  dp.source.ptr = s;
  dp.read_callback = data_read;
  rv = nghttp2_submit_response(conn->session, s->id, NV(h), n,
                               (flags & TERN__SUBMIT_END_STREAM) ? NULL : &dp);
  tern__h2_schedule_flush(conn);
  return rv == 0 ? TERN_OK : TERN_ENOMEM;
}

/* Also a plain "write what is ready": the flush asks for it. */
static void h2_resume(tern__stream *s) {
  h2_conn *conn = tern__h2_of(s->conn);
  if (s->deferred) {
    s->deferred = 0;
    nghttp2_session_resume_data(conn->session, s->id);
  }
  tern__h2_schedule_flush(conn);
}

static void h2_consume(tern__stream *s, size_t n) {
  h2_conn *conn = tern__h2_of(s->conn);
  nghttp2_session_consume_stream(conn->session, s->id, n);
  tern__h2_schedule_flush(conn);
}

static void h2_reset(tern__stream *s, uint32_t error) {
  h2_conn *conn = tern__h2_of(s->conn);
  nghttp2_submit_rst_stream(conn->session, NGHTTP2_FLAG_NONE, s->id, error);
  tern__h2_schedule_flush(conn);
}

/* Both sides ended: the peer's end was delivered and ours went to
 * nghttp2 (it closes the stream once the frame is out). */
static int h2_ended(const tern__stream *s) {
  return s->in_ended &&
         nghttp2_session_get_stream_local_close(tern__h2_of(s->conn)->session,
                                                s->id) == 1;
}

static void h2_shutdown(tern__conn *c) {
  h2_conn *conn = tern__h2_of(c);
  if (c->draining)
    return;
  c->draining = 1;
  nghttp2_submit_goaway(conn->session, NGHTTP2_FLAG_NONE,
                        nghttp2_session_get_last_proc_stream_id(conn->session),
                        NGHTTP2_NO_ERROR, NULL, 0);
  tern__h2_schedule_flush(conn);
}

/* close stops the connection's I/O: it is h2_io.c's. */
static const tern__conn_vt h2_vt = {h2_open_stream, h2_respond, h2_resume,
                                    h2_consume,     h2_reset,   h2_ended,
                                    h2_shutdown,    tern__h2_close};

/* The nghttp2 session, its callbacks and options. TERN_ENOMEM. */
static int session_new(h2_conn *conn, const tern__h2_config *cfg) {
  nghttp2_session_callbacks *cbs;
  nghttp2_option *opt;
  int rv;
  if (nghttp2_session_callbacks_new(&cbs) != 0)
    return TERN_ENOMEM;
  if (nghttp2_option_new(&opt) != 0) {
    rv = TERN_ENOMEM;
    goto out_cbs;
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
  if (conn->base.is_client)
    rv = nghttp2_session_client_new2(&conn->session, cbs, conn, opt);
  else
    rv = nghttp2_session_server_new2(&conn->session, cbs, conn, opt);
  rv = rv == 0 ? TERN_OK : TERN_ENOMEM;
  nghttp2_option_del(opt);
out_cbs:
  nghttp2_session_callbacks_del(cbs);
  return rv;
}

/* Our SETTINGS and the connection window: queued, sent with the first
 * flush. */
static int submit_settings(h2_conn *conn, const tern__h2_config *cfg) {
  nghttp2_settings_entry iv[5];
  size_t niv = 0;
  if (!conn->base.is_client) {
    iv[niv].settings_id = NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS;
    iv[niv++].value = cfg->max_concurrent_streams;
  }
  iv[niv].settings_id = NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE;
  iv[niv++].value = cfg->initial_window;
  iv[niv].settings_id = NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE;
  iv[niv++].value = cfg->max_header_list;
  if (conn->base.is_client) {
    iv[niv].settings_id = NGHTTP2_SETTINGS_ENABLE_PUSH;
    iv[niv++].value = 0;
  }
  /* RFC 9218: we do not use RFC 7540 priorities. nghttp2 then schedules
   * streams without its dependency tree, which costs less per stream;
   * peers that do not know the setting ignore it. */
  iv[niv].settings_id = NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES;
  iv[niv++].value = 1;
  if (nghttp2_submit_settings(conn->session, NGHTTP2_FLAG_NONE, iv, niv) !=
          0 ||
      nghttp2_session_set_local_window_size(conn->session, NGHTTP2_FLAG_NONE,
                                            0, TERN__H2_CONN_WINDOW) != 0)
    return TERN_ENOMEM;
  return TERN_OK;
}

int tern__h2_conn_new(tern__conn **conn_out, tern__loop *loop, int fd,
                      int is_client, const tern__h2_config *cfg,
                      const tern__conn_ops *ops, void *owner) {
  tern__filter *filter;
  h2_conn *conn;
  int rv;

  rv = tern__sock_filter_new(&filter, fd);
  if (rv != TERN_OK) {
    close(fd);
    return rv;
  }
  if (cfg->tls) {
    rv = tern__tls_filter_new(&filter, filter, cfg->tls, cfg->tls_host);
    if (rv != TERN_OK)
      return rv; /* the socket went with the lower filter */
  }
  conn = tern__zalloc(sizeof(*conn));
  if (!conn) {
    rv = TERN_ENOMEM;
    goto fail_filter;
  }
  tern__conn_base_init(&conn->base, &h2_vt, loop, is_client, ops, owner);
  conn->filter = filter;
  conn->handshaking = cfg->tls != NULL;
  tern__h2_io_init(conn, fd);
  conn->max_header_list = cfg->max_header_list;
  conn->reset_burst = cfg->reset_burst;
  conn->reset_rate = cfg->reset_rate;
  conn->reset_tokens = cfg->reset_burst;
  conn->reset_last_ns = tern__now_ns();
  conn->idle_ms = cfg->idle_ms;
  conn->age_grace_ms = cfg->age_grace_ms;

  rv = session_new(conn, cfg);
  if (rv != TERN_OK)
    goto fail_conn;
  rv = submit_settings(conn, cfg);
  if (rv != TERN_OK)
    goto fail_session;
  rv = tern__h2_io_start(conn, cfg);
  if (rv != TERN_OK)
    goto fail_session;
  /* The client speaks first: with TLS the flush starts the handshake. */
  tern__h2_schedule_flush(conn);
  *conn_out = &conn->base;
  return TERN_OK;

fail_session:
  nghttp2_session_del(conn->session);
fail_conn:
  tern__conn_base_cleanup(&conn->base);
  tern__free(conn);
fail_filter:
  tern__filter_free(filter);
  return rv;
}
