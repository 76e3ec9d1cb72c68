/* The transport layer as the layers above see it: connections (made by
 * the server and the channel, which own them) and the streams a
 * connection carries (each used by one call). Nothing here names HTTP/2,
 * nghttp2 or TLS: a connection may be HTTP/2 over a socket, with or
 * without TLS (h2.c), or an in-process pair (inproc.c), and the same call
 * code runs over any of them.
 *
 * A stream talks to its call through two tables:
 *   - upcalls (tern__stream_ops, written by the call layer): header
 *     fields, end of a header block, data, end of stream, closed; and on
 *     the way out, how many bytes are ready, take them, the trailers;
 *   - downcalls (tern__stream_* functions below, done by the transport):
 *     submit headers, resume, consume window, reset.
 * Everything here runs on the connection's loop thread. */
#ifndef TERN_TRANSPORT_INT_H
#define TERN_TRANSPORT_INT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/common_int.h"
#include "common/queue.h"
#include "loop/loop_int.h"

typedef struct tern__conn tern__conn;
typedef struct tern__stream tern__stream;

/* ---- header lists ------------------------------------------------------- */

/* One header field. Names and values are not NUL-terminated. */
typedef struct tern__hdr {
  const uint8_t *name;
  const uint8_t *value;
  size_t namelen;
  size_t valuelen;
  uint8_t flags; /* TERN__HDR_* */
} tern__hdr;

/* Name or value outlives the stream: the transport need not copy it. */
#define TERN__HDR_KEEP_NAME 0x02u
#define TERN__HDR_KEEP_VALUE 0x04u
#define TERN__HDR_KEEP (TERN__HDR_KEEP_NAME | TERN__HDR_KEEP_VALUE)

/* A header list being built: fields on the stack for the common case,
 * the strings made for it (base64, percent-encoding) owned until free.
 * Built by the call layer (call/headers.c), read by the transport. */
typedef struct tern__hdrs {
  tern__hdr *v;
  size_t n, cap;
  char **owned;
  size_t n_owned, owned_cap;
  int failed; /* an allocation failed: the list is incomplete */
  tern__hdr local[24];
  char *owned_local[4];
  char digits[12];  /* a grpc-status value */
  char timeout[16]; /* a grpc-timeout value */
} tern__hdrs;

void tern__hdrs_init(tern__hdrs *l);
void tern__hdrs_free(tern__hdrs *l);
/* The slow part of tern__hdrs_add: grows the array. */
void tern__hdrs_add_grow(tern__hdrs *l, const char *name, size_t namelen,
                         const char *value, size_t valuelen, unsigned flags);
/* Appends a field (pointers kept, not copied). Sets failed when out of
 * memory. Inline: a request's dozen fields are on every call's path. */
static inline void tern__hdrs_add(tern__hdrs *l, const char *name,
                                  size_t namelen, const char *value,
                                  size_t valuelen, unsigned flags) {
  tern__hdr *h;
  if (l->n == l->cap || l->failed) {
    tern__hdrs_add_grow(l, name, namelen, value, valuelen, flags);
    return;
  }
  h = &l->v[l->n++];
  h->name = (const uint8_t *)name;
  h->namelen = namelen;
  h->value = (const uint8_t *)value;
  h->valuelen = valuelen;
  h->flags = (uint8_t)flags;
}
/* Takes ownership of s (malloc'd; NULL sets failed) until free; returns
 * s, or NULL. */
char *tern__hdrs_own(tern__hdrs *l, char *s);

/* ---- stream error codes -------------------------------------------------- */

/* Why a stream ended or is reset. The numbers are HTTP/2's (RFC 9113
 * section 7), which gRPC's status mapping is written in; other
 * transports map to them. */
enum {
  TERN__RST_NO_ERROR = 0x0,
  TERN__RST_PROTOCOL_ERROR = 0x1,
  TERN__RST_INTERNAL_ERROR = 0x2,
  TERN__RST_REFUSED_STREAM = 0x7,
  TERN__RST_CANCEL = 0x8,
  TERN__RST_ENHANCE_YOUR_CALM = 0xb
};
/* on_closed: the connection went away under the stream. */
#define TERN__CONN_LOST 0xffffffffu

/* ---- streams ------------------------------------------------------------ */

/* What out_ready says besides a byte count. */
#define TERN__OUT_EOF 0x1u      /* these are the last bytes */
#define TERN__OUT_TRAILERS 0x2u /* ... and the trailers follow them */
/* out_ready: nothing to send now; wait for tern__stream_resume. */
#define TERN__OUT_DEFER (-1)

/* on_headers_end flags */
#define TERN__HEADERS_END_STREAM 0x1u /* the block ended the stream */
#define TERN__HEADERS_TOO_BIG 0x2u    /* past the header list limit:
                                         fields were dropped */

/* Upcalls, written by the layer that uses the stream. All on the loop
 * thread, never re-entered from a downcall of the same stream except
 * where said. */
typedef struct tern__stream_ops {
  /* One header field of a block. Non-zero fails the connection (only
   * when out of memory). */
  int (*on_header)(tern__stream *s, const uint8_t *name, size_t namelen,
                   const uint8_t *value, size_t valuelen);
  /* The block is complete. */
  void (*on_headers_end)(tern__stream *s, unsigned flags);
  /* Body bytes, in order, split anywhere. Non-zero resets the stream. */
  int (*on_data)(tern__stream *s, const uint8_t *data, size_t len);
  /* The peer ended its side after data (a header block that ends the
   * stream says so in on_headers_end instead). */
  void (*on_end)(tern__stream *s);
  /* The stream is gone: closed both ways, reset by either side
   * (error = the reset code), or its connection lost (TERN__CONN_LOST,
   * with why the connection went in why when known, else NULL). The
   * stream is detached from its connection before this runs. */
  void (*on_closed)(tern__stream *s, uint32_t error, const char *why);
  /* Room to write: how many bytes (at most max) are ready, with
   * TERN__OUT_* flags, or TERN__OUT_DEFER. May run inside any downcall
   * that lets the transport write. */
  ssize_t (*out_ready)(tern__stream *s, size_t max, unsigned *flags);
  /* Moves n bytes (no more than out_ready said) to dst. */
  int (*out_take)(tern__stream *s, tern__buf *dst, size_t n);
  /* After TERN__OUT_TRAILERS: the trailing header fields. */
  void (*out_trailers)(tern__stream *s, tern__hdrs *l);
} tern__stream_ops;

/* Embedded in its user (a call), so a stream costs no allocation. The
 * user sets ops (tern__stream_init); the rest belongs to the transport. */
struct tern__stream {
  const tern__stream_ops *ops;
  tern__conn *conn;   /* NULL when not on a connection */
  int32_t id;         /* the transport's stream number, 0 when none */
  tern__queue node;   /* the connection's list */
  uint32_t hdr_bytes; /* the header block so far, for the limit */
  uint8_t too_big;    /* past the limit in this block */
  uint8_t rst_sent;
  uint8_t deferred;   /* out_ready said DEFER */
  uint8_t in_ended;   /* the peer's end of stream was delivered */
  void *tp;           /* the transport's own per-stream state */
};

void tern__stream_init(tern__stream *s, const tern__stream_ops *ops);

/* Server: the response headers. TERN__SUBMIT_END_STREAM: nothing follows
 * (trailers-only, or an HTTP error); otherwise the body is pulled through
 * out_ready. */
#define TERN__SUBMIT_END_STREAM 0x1u
static inline int tern__stream_respond(tern__stream *s, const tern__hdr *h,
                                       size_t n, unsigned flags);
/* out_ready has bytes again (after TERN__OUT_DEFER, or new ones). */
static inline void tern__stream_resume(tern__stream *s);
/* n body bytes were taken by the reader: the peer may send n more. */
static inline void tern__stream_consume(tern__stream *s, size_t n);
/* Resets the stream once (nothing when both sides have ended it
 * already, or it is not on a connection). */
static inline void tern__stream_reset(tern__stream *s, uint32_t error);
/* Both sides have ended the stream (it closes once that is written). */
static inline int tern__stream_ended(const tern__stream *s);
/* (Defined below, after the connection: they are on every call's path.) */

/* ---- connections --------------------------------------------------------- */

/* What a connection tells its owner (server or channel). Loop thread. */
typedef struct tern__conn_ops {
  /* Server: the peer opened a stream. Return the stream of a new call,
   * whose user keeps itself alive until on_closed, or NULL to refuse it
   * (REFUSED_STREAM). */
  tern__stream *(*on_new_stream)(tern__conn *conn);
  /* The peer said it takes no new streams (GOAWAY). A client connection
   * then closes by itself once its last stream ends. */
  void (*on_goaway)(tern__conn *conn);
  /* The connection is closed; every stream on it has been told. Freed
   * after this returns (at the end of the loop turn). */
  void (*on_closed)(tern__conn *conn);
  /* The handshake is done (TLS: ALPN chose h2). Optional. */
  void (*on_ready)(tern__conn *conn);
} tern__conn_ops;

/* A transport implementation. */
typedef struct tern__conn_vt {
  int32_t (*open_stream)(tern__conn *c, tern__stream *s, const tern__hdr *h,
                         size_t n);
  int (*respond)(tern__stream *s, const tern__hdr *h, size_t n,
                 unsigned flags);
  void (*resume)(tern__stream *s);
  void (*consume)(tern__stream *s, size_t n);
  void (*reset)(tern__stream *s, uint32_t error);
  int (*ended)(const tern__stream *s);
  void (*shutdown)(tern__conn *c);
  void (*close)(tern__conn *c);
} tern__conn_vt;

/* The part of every connection the layers above may read (never write:
 * they change it through the functions below). */
struct tern__conn {
  const tern__conn_vt *vt;
  tern__loop *loop;
  const tern__conn_ops *ops;
  void *owner;
  tern__queue owner_node; /* for the owner's list; the transport never
                             touches it */
  tern__queue streams;    /* open streams */
  size_t n_streams;
  int is_client;
  int closed;      /* torn down; freed at the end of the turn */
  int draining;    /* takes no new streams (GOAWAY sent or received) */
  int goaway_rcvd;
  char *peer_identity; /* TLS: the peer certificate's subject CN */
  char error[160];     /* why the connection closed, when known */
};

/* Client: opens a stream with the request headers; the body is pulled
 * through s->ops. Returns the stream id (> 0), or a negative value when
 * the connection cannot take a stream. */
static inline int32_t tern__conn_open_stream(tern__conn *c, tern__stream *s,
                                             const tern__hdr *h, size_t n) {
  if (c->closed || c->draining)
    return -1;
  return c->vt->open_stream(c, s, h, n);
}
/* Graceful: no new streams (GOAWAY); the connection closes by itself once
 * its last stream is done. */
void tern__conn_shutdown(tern__conn *c);
/* At once: every stream gets on_closed(TERN__CONN_LOST) (or REFUSED_STREAM
 * past a GOAWAY's last stream), then the owner's on_closed. */
void tern__conn_close(tern__conn *c);
/* tern__conn_close, saying why (kept as the connection's error unless it
 * has one). */
void tern__conn_fail(tern__conn *c, const char *why);

/* For transports (conn.c): the base's bookkeeping. */
void tern__conn_base_init(tern__conn *c, const tern__conn_vt *vt,
                          tern__loop *loop, int is_client,
                          const tern__conn_ops *ops, void *owner);
void tern__conn_base_cleanup(tern__conn *c);
void tern__conn_attach(tern__conn *c, tern__stream *s, int32_t id);
void tern__conn_detach(tern__conn *c, tern__stream *s);

/* ---- the stream downcalls, through the stream's connection --------------- */

static inline int tern__stream_respond(tern__stream *s, const tern__hdr *h,
                                       size_t n, unsigned flags) {
  if (!s->conn || s->conn->closed)
    return TERN_ECLOSED;
  return s->conn->vt->respond(s, h, n, flags);
}

static inline void tern__stream_resume(tern__stream *s) {
  if (s->conn && !s->conn->closed)
    s->conn->vt->resume(s);
}

static inline void tern__stream_consume(tern__stream *s, size_t n) {
  if (s->conn && !s->conn->closed && n > 0)
    s->conn->vt->consume(s, n);
}

static inline void tern__stream_reset(tern__stream *s, uint32_t error) {
  if (!s->conn || s->conn->closed || s->rst_sent || s->id <= 0)
    return;
  if (s->conn->vt->ended(s))
    return; /* both sides are done: a reset would only cost a frame */
  s->rst_sent = 1;
  s->conn->vt->reset(s, error);
}

static inline int tern__stream_ended(const tern__stream *s) {
  return !s->conn || s->conn->closed || s->conn->vt->ended(s);
}

/* ---- HTTP/2 over a socket (h2.c), with TLS (tls.c) ----------------------- */

typedef struct tern__tls_ctx tern__tls_ctx;
/* TERN_EINVAL (reason logged) when certificates or keys do not load. */
int tern__tls_ctx_new(tern__tls_ctx **out, int is_server,
                      const tern_tls_options *o);
void tern__tls_ctx_ref(tern__tls_ctx *t);
void tern__tls_ctx_unref(tern__tls_ctx *t);

typedef struct tern__h2_config {
  uint32_t max_concurrent_streams; /* advertised (server) */
  uint32_t initial_window;         /* per stream */
  uint32_t max_header_list;        /* advertised and enforced per stream */
  int64_t idle_ms;                 /* 0: none. No streams that long: GOAWAY */
  int64_t age_ms;                  /* 0: none. Then GOAWAY ... */
  int64_t age_grace_ms;            /* ... and close this much later (0:
                                      when the last stream ends) */
  int64_t handshake_ms;            /* 0: none. TLS + first SETTINGS */
  uint32_t reset_burst, reset_rate; /* 0: nghttp2's defaults */
  tern__tls_ctx *tls;              /* NULL: cleartext */
  const char *tls_host;            /* client: the name the server's
                                      certificate must carry */
} tern__h2_config;

/* Takes over fd (non-blocking, connected) in every case, and closes it on
 * failure. The preface and SETTINGS (after the TLS handshake, when
 * there is one) go out at the end of the turn; ops->on_ready follows the
 * handshake. TERN_ENOMEM, TERN_ESYS. */
int tern__h2_conn_new(tern__conn **conn_out, tern__loop *loop, int fd,
                      int is_client, const tern__h2_config *cfg,
                      const tern__conn_ops *ops, void *owner);

/* ---- in-process pairs (inproc.c) ----------------------------------------- */

/* Two connected connections on one loop, client and server, that carry
 * streams without bytes on a wire: what one side submits the other
 * receives through the same upcalls, in a later task of the loop. */
int tern__inproc_pair(tern__loop *loop, const tern__conn_ops *client_ops,
                      void *client_owner, const tern__conn_ops *server_ops,
                      void *server_owner, tern__conn **client_out,
                      tern__conn **server_out);

#endif /* TERN_TRANSPORT_INT_H */
