/* One gRPC call on one stream of the transport, shared by the client and
 * server sides: a state machine fed header fields and body bytes through
 * the stream upcalls, which answers with header lists and framed
 * messages through the stream downcalls (transport/transport_int.h). It
 * does no I/O and knows no HTTP/2. Here too is the hand-over between the
 * I/O thread and user or worker threads (which read, write and wait under
 * the call's mutex). The server and the channel change a call only
 * through the functions below.
 *
 * Files: call.c (state, the stream upcalls, queues, the end), arena.c
 * (call memory, message buffers), framing.c (the 5-byte framing, encode,
 * decode), compress.c (gzip and deflate), headers.c (the header lists
 * both sides send and what they make of those they receive). */
#ifndef TERN_CALL_INT_H
#define TERN_CALL_INT_H

#include <pthread.h>

#include "common/common_int.h"
#include "loop/loop_int.h"
#include "transport/transport_int.h"

/* A message in a queue: framed bytes (prefix included) on the way out, the
 * body without prefix on the way in. Made and freed with
 * tern__call_msg_new / tern__call_msg_free. */
typedef struct tern__msg {
  struct tern__msg *next;
  size_t len;
  size_t off;         /* always 0: an attempt keeps where it is itself */
  size_t cap;         /* bytes data[] can hold */
  uint8_t compressed; /* the message's compressed flag */
  uint8_t in_arena;   /* memory of the call arena: freed with the call */
  uint8_t dir;        /* TERN__MSG_IN or TERN__MSG_OUT */
  uint8_t data[];
} tern__msg;

enum { TERN__MSG_IN = 0, TERN__MSG_OUT = 1 };

/* A freed message buffer up to this size is kept for the call's next
 * message in the same direction (a stream reuses one buffer). */
#define TERN__SPARE_MAX (64u * 1024u)

/* Alignment unit of the call arena. */
typedef union tern__arena_unit {
  long double ld;
  void *p;
  long long ll;
} tern__arena_unit;

typedef struct tern__arena_block {
  struct tern__arena_block *next;
  size_t units, used;
  tern__arena_unit data[];
} tern__arena_block;

/* The arena's first bytes live inside the call: a small unary call's
 * request, response and message buffers cost no allocation. */
#define TERN__ARENA_INLINE_UNITS 16

/* Above this many queued outbound bytes a writer waits. */
#define TERN__WRITE_HIGH_WATER (256u * 1024u)
/* Up to this many unread inbound bytes per stream, flow-control credit is
 * returned at once; beyond it only as the reader takes messages. */
#define TERN__READ_HIGH_WATER (1024u * 1024u)
/* Sent bytes a client keeps for a transparent retry. */
#define TERN__RETRY_KEEP (64u * 1024u)

/* Hooks of the layer that owns the call (server or channel). All run on
 * the loop thread. */
typedef struct tern__call_hooks {
  /* Server: request headers are complete (dispatch). Client: response
   * headers are in. */
  void (*on_headers)(struct tern_call *call);
  /* A whole inbound message was queued. */
  void (*on_message)(struct tern_call *call);
  /* The peer half-closed (END_STREAM). */
  void (*on_half_close)(struct tern_call *call);
  /* The stream is gone (closed, reset, or its connection died); error is
   * the stream error code (TERN__RST_*), or TERN__CONN_LOST with why the
   * connection went in why (NULL when not known). The call is detached
   * from its stream when this runs. */
  void (*on_stream_closed)(struct tern_call *call, uint32_t error,
                           const char *why);
  /* Frees the owner's part of the call when the last ref is dropped. */
  void (*destroy)(struct tern_call *call);
  /* Optional: runs instead of tern__call_kick_now when the kick task
   * fires (the client uses it to start calls not yet on a stream). */
  void (*on_kick)(struct tern_call *call);
  /* Optional: the outbound queue drained after a writer got TERN_EAGAIN
   * (inline handlers). Runs inside the transport's write: defer real
   * work. */
  void (*on_writable)(struct tern_call *call);
  /* Optional: the deadline passed (tern__call_start_deadline). Without
   * it the call fails DEADLINE_EXCEEDED. */
  void (*on_deadline)(struct tern_call *call);
} tern__call_hooks;

/* One try of a call on one stream (gRFC A6's attempt): the stream and
 * what belongs to it alone (the framing of what it received, its header
 * blocks, its window, where it is in the call's outbound messages). The
 * call's messages, metadata and status are the call's. A server call has
 * one attempt; a client call starts another when a stream is refused
 * (tern__call_rewind), in the same slot since the old one is over; hedged
 * attempts would each take their own. Loop thread only. */
typedef struct tern__attempt {
  tern__stream stream; /* first: the upcalls find their attempt from it */
  struct tern_call *call;
  uint8_t pfx[5];
  uint8_t pfx_len;
  /* Bytes, not ints: the call object must stay small (see
   * TERN__CALL_OBJECT_FITS). */
  uint8_t submitted;          /* request/response headers submitted */
  uint8_t out_eof_sent;       /* the last bytes went to the transport */
  uint8_t headers_frame_seen; /* first header block processed */
  tern__msg *partial;
  size_t partial_have;
  size_t credit_held; /* stream window bytes not yet returned */
  /* The next outbound message to send (NULL: all sent) and how much of
   * it went; under the call's mu. */
  tern__msg *cur;
  size_t cur_off;
} tern__attempt;

struct tern_call {
  /* The attempt the call is on (its stream's conn NULL when none), and
   * the storage of the first. */
  tern__attempt a0;
  tern__attempt *attempt;

  /* fixed at creation */
  int is_client;
  const tern_method *method;
  const tern__call_hooks *hooks;
  tern__loop *loop;
  int64_t max_recv; /* < 0: unlimited */

  /* loop thread only */
  int http_status;        /* client: the answering attempt's :status */
  tern__timer deadline_timer;
  tern__task kick;        /* posted by other threads: see tern__call_wake */
  int64_t deadline_ns;    /* 0: none */

  /* server request, set on the loop thread before dispatch */
  char *path;      /* in the call arena */
  char *authority; /* in the call arena */
  int64_t timeout_ns;     /* grpc-timeout, -1 when absent */
  int bad_method;         /* :method was not POST */
  int bad_content_type;   /* content-type is not application/grpc[+-;]... */

  /* compression: send_alg is the caller's choice (writer thread);
   * recv_alg what the peer's grpc-encoding said (0 none, -1 unsupported);
   * peer_accept the peer's grpc-accept-encoding as a bit mask. */
  int send_alg;
  int recv_alg;
  unsigned peer_accept;
  int out_committed;   /* under mu: a message was queued or headers sent */
  int last_compressed; /* reader: the last message taken was compressed */

  /* client response, under mu */
  int grpc_status;        /* -1 until received */
  char *grpc_message;     /* percent-decoded */
  tern_metadata *out_headers; /* server: initial metadata to send */

  /* The call arena (tern__call_alloc): memory that lives as long as the
   * call. Under mu when shared. arena_msgs: the directions whose first
   * message was put in the arena (at most one each, so a long stream
   * does not grow it). spare: one freed message buffer per direction,
   * taken and given back with atomic exchanges. */
  tern__arena_block *arena;
  size_t arena_inline_used; /* units */
  unsigned arena_msgs;
  tern__msg *spare[2];

  pthread_mutex_t mu;
  pthread_cond_t cv;
  int refs;   /* atomic */
  /* Set (by tern__call_share) once another thread may touch the call: a
   * client call with a handle or a waiter, a server call when handed to
   * a worker. Until then only one thread at a time does (the caller that
   * sets it up, then its loop), and the mutex is skipped: the inline and
   * async hot paths take no lock. mu and cv exist once sync_ready. */
  int shared;
  int sync_ready;

  /* under mu: inbound */
  tern__msg *in_head, *in_tail;
  size_t in_bytes;
  size_t in_count; /* messages received in all */
  int in_closed;   /* peer sent END_STREAM */
  tern_metadata *in_md; /* server: request metadata; client: headers */
  int headers_in;       /* client: response headers arrived */
  /* Client transparent retry: until response headers arrive, messages
   * already sent are kept (up to TERN__RETRY_KEEP bytes, `retained`) so
   * that a new attempt can send them again. */
  int retryable;
  size_t retained;
  int credit_wanted;     /* a reader drained below the high water mark */

  /* under mu: outbound. The messages written and not let go: those kept
   * for a retry, then the ones the attempt has still to send (from its
   * cur); out_bytes counts the latter. */
  tern__msg *out_head, *out_tail;
  size_t out_bytes;
  int out_closed;       /* client: half-closed; server: status is set */
  int send_headers;     /* server: send initial metadata now */
  int want_write;       /* a writer got TERN_EAGAIN: tell on_writable */

  /* under mu: the end */
  int cancel_requested; /* a user thread asked to cancel */
  int aborted;          /* the call failed: output dropped */
  int done;             /* client: status known; server: stream closed */
  tern_status_code code;
  char *message;
  tern_metadata *trailers; /* client: received; server: to send */

  /* Last, and not zeroed by tern__call_init: the arena's inline part. */
  tern__arena_unit arena_inline[TERN__ARENA_INLINE_UNITS];
};

static inline void tern__call_lock(struct tern_call *c) {
  if (c->shared)
    pthread_mutex_lock(&c->mu);
}
static inline void tern__call_unlock(struct tern_call *c) {
  if (c->shared)
    pthread_mutex_unlock(&c->mu);
}
static inline void tern__call_broadcast(struct tern_call *c) {
  if (c->shared)
    pthread_cond_broadcast(&c->cv);
}

/* ---- life (call.c) ------------------------------------------------------ */

/* A method table a program compiled in (tern.h's ABI rule): its size
 * covers the fields this version needs and those are set, as is its
 * codec's. */
static inline int tern__method_ok(const tern_method *m) {
  const tern_codec *c;
  if (!m || m->struct_size < TERN__SIZE_THROUGH(tern_method, invoke) ||
      !m->path || !m->codec || (unsigned)m->kind > TERN_METHOD_BIDI_STREAMING)
    return 0;
  c = m->codec;
  return c->struct_size >= TERN__SIZE_THROUGH(tern_codec, decode_with) &&
         c->encoded_size && c->encode && c->decode && c->free_message &&
         c->message_size && c->init_message;
}

/* Method i of a service: the array's stride is its first entry's
 * struct_size (the sizeof of the program that built it). */
static inline const tern_method *tern__service_method(const tern_service *s,
                                                      size_t i) {
  return (const tern_method *)(const void *)((const char *)s->methods +
                                             i * s->methods[0].struct_size);
}

/* Creates a call with one reference, not shared. Zeroes every field (but
 * not the arena's inline bytes): the owner need not. */
int tern__call_init(struct tern_call *call, int is_client,
                    const tern_method *method, const tern__call_hooks *hooks,
                    tern__loop *loop, int64_t max_recv);
/* An owner's call object (server or client call, struct tern_call first)
 * of size bytes: what follows the struct tern_call is zeroed here, the
 * rest is left to tern__call_init. Not calloc, which skips glibc's
 * thread cache. */
static inline void *tern__call_object_new(size_t size) {
  char *p = tern__malloc(size);
  if (p)
    memset(p + sizeof(struct tern_call), 0, size - sizeof(struct tern_call));
  return p;
}

/* Call objects must fit glibc's per-thread cache (1032-byte chunks):
 * bigger ones take malloc's slow path on every call. */
#define TERN__CALL_OBJECT_FITS(type)                                          \
  typedef char type##_fits_thread_cache[sizeof(type) <= 1016 ? 1 : -1]

/* Makes the call's mutex and condition (once) and sets shared. Before
 * another thread can see the call. TERN_OK or TERN_ENOMEM. */
int tern__call_share(struct tern_call *call);
/* Frees the call's own resources (not the memory of *call itself). */
void tern__call_cleanup(struct tern_call *call);
void tern__call_ref(struct tern_call *call);
/* Drops a reference; the last one runs hooks->destroy. */
void tern__call_unref(struct tern_call *call);

/* Any thread: asks the loop to look at the call (send what was queued,
 * cancel, return flow-control credit...). */
void tern__call_wake(struct tern_call *call);
/* Loop thread: what the kick task does, run now. */
void tern__call_kick_now(struct tern_call *call);

/* ---- memory (arena.c) ------------------------------------------------------ */

/* Any thread: size bytes (aligned for any type) that live until the call
 * is destroyed; zeroed when zero is set. NULL when out of memory. Takes
 * the call's lock when shared: never call it holding mu. */
void *tern__call_alloc(struct tern_call *call, size_t size, int zero);
/* The same, for a caller that holds mu (or a call not shared). */
void *tern__call_alloc_locked(struct tern_call *call, size_t size);

/* Any thread: a message buffer of len bytes (len, cap set; off,
 * compressed 0). The first of each direction comes from the call arena,
 * later ones reuse the direction's spare buffer when it is big enough,
 * else malloc. call may be NULL (plain malloc). NULL when out of
 * memory. */
tern__msg *tern__call_msg_new(struct tern_call *call, int dir, size_t len);
/* Any thread: gives a message buffer back (to the spare slot, the arena,
 * or free). NULL is ignored. */
void tern__call_msg_free(struct tern_call *call, tern__msg *m);
/* Frees a chain of messages (call may be NULL). */
void tern__call_msg_free_all(struct tern_call *call, tern__msg *m);
/* Frees the arena's blocks and spare buffers. */
void tern__call_arena_free(struct tern_call *call);

/* ---- messages (framing.c) ---------------------------------------------------- */

/* Encodes msg into a framed outbound message of call (see msg_new; call
 * may be NULL), compressed with alg (a tern_compression; DEFAULT and
 * IDENTITY send it as it is). */
int tern__call_encode(struct tern_call *call, const tern_method *method,
                      const void *type, const void *msg, int alg,
                      tern__msg **out);

/* Decodes a message taken from the inbound queue (decompressing it when
 * its flag says so, up to the receive limit) and records whether it was
 * compressed. TERN_OK, TERN_EPROTO (bad bytes), TERN_ETOOBIG (over the
 * limit once decompressed), TERN_ENOMEM. Does not free m. The message is
 * the caller's, freed with the codec's free_message. */
int tern__call_decode(struct tern_call *call, const void *type,
                      const tern__msg *m, void **msg_out);
/* The same into the call arena when the codec can (*in_arena set to 1;
 * the message must then not be given to free_message), else as
 * tern__call_decode (*in_arena 0). For messages the library frees. */
int tern__call_decode_arena(struct tern_call *call, const void *type,
                            const tern__msg *m, void **msg_out,
                            int *in_arena);
/* The one mapping of a decode failure (tern__call_decode's result, or
 * TERN_ECLOSED for a missing message) to a status and its message, for
 * the side that decodes: requests on a server, responses on a client. */
tern_status_code tern__call_decode_status(const struct tern_call *call,
                                          int rv, const char **msg);

/* Loop thread: the body bytes of attempt a's stream, split anywhere,
 * through the 5-byte framing into whole messages on its call's inbound
 * queue. A prefix the call cannot take (too big, compressed without an
 * encoding) fails the call. Returns how many whole messages were queued. */
int tern__call_deframe(tern__attempt *a, const uint8_t *data, size_t len);

/* The algorithm a writer uses: send_alg when the peer accepts it, else
 * identity. */
int tern__call_effective_alg(const struct tern_call *call);

/* compress.c */
/* "identity"/"deflate"/"gzip" -> tern_compression, -1 for others. */
int tern__compression_parse(const char *s, size_t len);
/* A grpc-accept-encoding value -> bit mask of 1 << tern_compression
 * (identity always included). */
unsigned tern__accept_encoding_parse(const char *s, size_t len);
int tern__compress_frame(struct tern_call *call, tern_compression alg,
                         const uint8_t *in, size_t n, tern__msg **out);
int tern__decompress(tern_compression alg, const uint8_t *in, size_t n,
                     int64_t max, uint8_t **out, size_t *out_len);

#define TERN__ACCEPT_ENCODING "identity,deflate,gzip"

/* ---- header lists (headers.c) ---------------------------------------------- */

/* What a client's request headers carry besides the call's own. */
typedef struct tern__request_info {
  const char *scheme;     /* "http" or "https" */
  const char *authority;  /* kept: outlives the stream */
  const char *user_agent; /* kept */
  const tern_metadata *md[3]; /* sent in order; NULL entries skipped */
} tern__request_info;

/* Client: the request headers of call. */
void tern__call_request_headers(struct tern_call *call,
                                const tern__request_info *info,
                                tern__hdrs *l);
/* Server: the response headers, and the status when trailers_only. Caller
 * holds mu. */
void tern__call_response_headers(struct tern_call *call, int trailers_only,
                                 tern__hdrs *l);
/* Server: the status and trailing metadata. Caller holds mu. */
void tern__call_status_headers(struct tern_call *call, tern__hdrs *l);
/* One header field attempt a received: what its call makes of it. 0, or
 * -1 when out of memory. */
int tern__call_header_in(tern__attempt *a, const uint8_t *name,
                         size_t namelen, const uint8_t *value,
                         size_t valuelen);

/* ---- the stream (call.c) ------------------------------------------------------ */

/* The upcalls every call gives its stream. */
extern const tern__stream_ops tern__call_stream_ops;

/* Client, loop thread: opens a stream on conn for the call with header
 * list l. The stream holds a reference until it closes. The stream id
 * (> 0), or a negative value. */
int32_t tern__call_open_stream(struct tern_call *call, tern__conn *conn,
                               const tern__hdrs *l);
/* Loop thread: the call's stream is still on a connection. */
static inline int tern__call_on_stream(const struct tern_call *call) {
  return call->attempt->stream.conn != NULL;
}
/* The stream of the call's attempt: what a server's on_new_stream gives
 * the transport for a new call. */
static inline tern__stream *tern__call_stream(struct tern_call *call) {
  return &call->attempt->stream;
}

/* ---- queues (call.c) -------------------------------------------------------- */

/* How tern__call_queue_out treats a full queue (more than the high water
 * mark queued). */
enum { TERN__QUEUE_WAIT = 0, TERN__QUEUE_FORCE = 1, TERN__QUEUE_EAGAIN = 2 };

/* Any thread: appends an encoded message. With a full queue: WAIT blocks,
 * FORCE queues anyway, EAGAIN returns TERN_EAGAIN (sets want_write).
 * TERN_ECLOSED when the call ended, TERN_ESTATE after out_closed. Takes
 * ownership of m in every case. */
int tern__call_queue_out(struct tern_call *call, tern__msg *m, int mode);

/* Any thread: waits for the next inbound message. 1 with *m_out, 0 when the
 * peer half-closed, TERN_ECLOSED when the call ended without that,
 * TERN_ETIMEDOUT when wait is 0 (or the call is not shared) and nothing
 * is there yet. */
int tern__call_take_in(struct tern_call *call, tern__msg **m_out, int wait);

/* Client, before the call is started (no other thread sees it): m is its
 * only message, and the call is half-closed. */
void tern__call_queue_only(struct tern_call *call, tern__msg *m);
/* Client, any thread: half-closes (nothing more to send). 1 when it was
 * open (wake the loop), 0 when closed already or the call is over. */
int tern__call_close_send(struct tern_call *call);
/* Any thread: asks to cancel. 1 when this is news (wake the loop). */
int tern__call_request_cancel(struct tern_call *call);

/* Client, loop thread: starts a new attempt (its stream closed unused)
 * that sends every kept message again from the first, for a replay. 0,
 * or -1 when the call cannot be replayed. */
int tern__call_rewind(struct tern_call *call);

/* ---- status and the end (call.c) -------------------------------------------- */

/* How tern__call_end ends a call. */
#define TERN__END_ABORT 0x1u /* the call failed: queued output is dropped
                                and the handler (server) sees it
                                cancelled; a client's stream is reset */

/* Any thread: the one way a call is ended with a status. Server: sets the
 * status to send (unless one is set: then nothing), after what is queued
 * unless TERN__END_ABORT. Client: the call's status (unless known),
 * and with TERN__END_ABORT the stream is reset. The loop is told (at once
 * on its thread, else woken). Returns 1 when this call set the status. */
int tern__call_end(struct tern_call *call, tern_status_code code,
                   const char *msg, unsigned how);

/* Loop thread: tern__call_end(..., TERN__END_ABORT). */
void tern__call_fail(struct tern_call *call, tern_status_code code,
                     const char *msg);

/* Loop thread: resets the stream once. */
void tern__call_reset(struct tern_call *call, uint32_t error);

/* Server, loop thread: answers with a bare HTTP status (405, 415...) and
 * ends the call. */
void tern__call_http_error(struct tern_call *call, const char *status);

/* Any thread: replaces the status message of a call not ended yet (server:
 * status not set). TERN_ENOMEM. */
int tern__call_set_message(struct tern_call *call, const char *msg);

/* Server, any thread: adds metadata to the response headers (trailers 0)
 * or trailers (1). */
int tern__call_add_metadata(struct tern_call *call, int trailers,
                            const char *key, const void *value, size_t len,
                            int bin);
/* Server, any thread: the response headers go out now. */
void tern__call_send_headers(struct tern_call *call);
/* Server, loop thread: the method, once the request's path is known. */
void tern__call_set_method(struct tern_call *call, const tern_method *m);
/* Any thread: the algorithm to send with, unless a message or the headers
 * went already (TERN_ESTATE). */
int tern__call_set_send_alg(struct tern_call *call, int alg);

/* Loop thread: arms the deadline (absolute, monotonic ns); at expiry
 * hooks->on_deadline, or the call fails DEADLINE_EXCEEDED. */
void tern__call_start_deadline(struct tern_call *call, int64_t deadline_ns);
void tern__call_stop_deadline(struct tern_call *call);

/* Client, loop thread: records the final status unless the call has one;
 * wakes waiters. Returns the status the call ended with. */
tern_status_code tern__call_complete(struct tern_call *call,
                                     tern_status_code code, const char *msg);

#endif /* TERN_CALL_INT_H */
