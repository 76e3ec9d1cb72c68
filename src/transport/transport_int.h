/* One HTTP/2 connection: a non-blocking socket, an nghttp2 session fed with
 * the bytes read and drained once per loop turn into one write. */
#ifndef TERN_TRANSPORT_INT_H
#define TERN_TRANSPORT_INT_H

#include <nghttp2/nghttp2.h>
#include <openssl/ssl.h>

#include "call/call_int.h"
#include "common/common_int.h"
#include "loop/loop_int.h"

/* What the connection's owner (server or channel) is told. Loop thread. */
typedef struct tern__conn_ops {
  /* Server: a client opened stream_id; return a new call (one ref, which
   * the connection keeps until the stream closes), or NULL to refuse it
   * with RST_STREAM(REFUSED_STREAM). */
  struct tern_call *(*on_new_stream)(tern__conn *conn, int32_t stream_id);
  /* The peer sent GOAWAY (client side: stop using this connection). */
  void (*on_goaway)(tern__conn *conn);
  /* The connection is closed; every call on it has been told. The conn is
   * freed after this returns. */
  void (*on_closed)(tern__conn *conn);
  /* TLS: the handshake is done and ALPN chose h2 (optional). */
  void (*on_ready)(tern__conn *conn);
} tern__conn_ops;

/* ---- TLS (tls.c) ---- */
typedef struct tern__tls_ctx tern__tls_ctx;
/* TERN_EINVAL (reason logged) when certificates or keys do not load. */
int tern__tls_ctx_new(tern__tls_ctx **out, int is_server,
                      const tern_tls_options *o);
void tern__tls_ctx_ref(tern__tls_ctx *t);
void tern__tls_ctx_unref(tern__tls_ctx *t);
/* A new SSL on fd; host (client) is checked against the certificate
 * unless the context has a server_host_override. */
SSL *tern__tls_new_ssl(tern__tls_ctx *t, int fd, const char *host);
int tern__tls_alpn_is_h2(SSL *ssl);
/* The peer certificate's subject CN, malloc'd, or NULL. */
char *tern__tls_peer_common_name(SSL *ssl);
/* The most telling queued OpenSSL error as text (clears the queue). */
void tern__tls_error(char *buf, size_t len);

typedef struct tern__conn_config {
  uint32_t max_concurrent_streams; /* advertised (server) */
  uint32_t initial_window;         /* per stream */
  uint32_t max_header_list;        /* advertised and enforced per stream */
  int64_t idle_ms;                 /* 0: none. No streams that long: GOAWAY */
  int64_t age_ms;                  /* 0: none. Then GOAWAY ... */
  int64_t age_grace_ms;            /* ... and close this much later (0:
                                      when the last stream ends) */
  int64_t handshake_ms;            /* 0: none. TLS + first SETTINGS */
  uint32_t reset_burst, reset_rate; /* 0: nghttp2's defaults */
} tern__conn_config;

struct tern__conn {
  tern__loop *loop;
  tern__io io;
  int is_client;
  nghttp2_session *session;
  const tern__conn_ops *ops;
  void *owner;
  tern__buf out;     /* bytes produced by nghttp2, not yet written */
  size_t out_off;
  tern__task flush_task;
  tern__task free_task;
  struct tern_call *calls; /* streams on this connection */
  size_t n_calls;
  int closed;        /* torn down; waiting to be freed */
  int goaway_rcvd;
  int32_t goaway_last_id; /* the peer's GOAWAY: last stream it processed */
  int draining;      /* we sent GOAWAY: close when the last stream ends */
  SSL *ssl;          /* NULL for cleartext */
  int handshaking;   /* TLS handshake not finished: no HTTP/2 yet */
  char *peer_cn;     /* TLS: the peer certificate's subject CN */
  char error[160];   /* why the connection closed, when known */
  uint32_t max_header_list;
  int64_t idle_ms, age_grace_ms;
  int got_settings;  /* the peer's first SETTINGS arrived */
  uint32_t reset_burst, reset_rate; /* our own stream resets: bucket */
  double reset_tokens;
  int64_t reset_last_ns;
  tern__timer handshake_timer, idle_timer, age_timer;
  tern__queue owner_node; /* on the owner's list of connections */
};

/* Takes over fd (non-blocking, connected). The session's preface and
 * SETTINGS are queued and flushed at the end of the turn. */
int tern__conn_new(tern__conn **conn_out, tern__loop *loop, int fd,
                   int is_client, const tern__conn_config *cfg,
                   const tern__conn_ops *ops, void *owner);

/* Wraps the connection in TLS before any byte moves: call right after
 * tern__conn_new. The handshake runs on the loop; ops->on_ready follows.
 * host: what the server's certificate must name (client). */
int tern__conn_start_tls(tern__conn *conn, tern__tls_ctx *tls,
                         const char *host);

/* Schedules a flush at the end of this loop turn. */
void tern__conn_schedule_flush(tern__conn *conn);

/* Tears down at once: every call gets on_close(TERN__CONN_LOST), the
 * owner's on_closed runs, memory is freed at the end of the turn. */
void tern__conn_close(tern__conn *conn);

/* Graceful: GOAWAY(NO_ERROR, last stream); the connection closes by itself
 * once its last stream is done. */
void tern__conn_shutdown(tern__conn *conn);

/* Attaches a call to a stream (both directions keep a pointer). */
void tern__conn_attach(tern__conn *conn, struct tern_call *call,
                       int32_t stream_id);

/* Client: submits the request for a call; returns the stream id or a
 * negative nghttp2 error. */
int32_t tern__conn_submit_request(tern__conn *conn, struct tern_call *call,
                                  const nghttp2_nv *nva, size_t nvlen);

#endif /* TERN_TRANSPORT_INT_H */
