/* tern: gRPC for C. The whole public API: status codes, metadata, the
 * server, channels and calls. Generated service code (protoc-gen-tern)
 * builds typed functions on top of what is declared here. */
#ifndef TERN_TERN_H
#define TERN_TERN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The release, and the ABI it provides: a binary built against any
 * header of ABI 1 runs on every libtern.so.1 (docs/api-stability.md). */
#define TERN_VERSION "1.0.0"
#define TERN_VERSION_MAJOR 1
#define TERN_VERSION_MINOR 0
#define TERN_VERSION_PATCH 0
#define TERN_VERSION_NUM                                                 \
  ((TERN_VERSION_MAJOR << 16) | (TERN_VERSION_MINOR << 8) | TERN_VERSION_PATCH)

/* What the library exports: every public function and object carries it;
 * the library is built with hidden visibility, so nothing else is seen. */
#if defined(TERN_BUILDING_LIBRARY) && defined(__GNUC__)
#define TERN_EXTERN __attribute__((visibility("default")))
#else
#define TERN_EXTERN
#endif

/* The ABI rule for every struct a program fills or compiles in (options,
 * and the codec, method and service tables): its first member is
 * `uint32_t struct_size`, which the program sets to the sizeof it was
 * built with (the TERN_*_INIT macros and generated code do). Fields are
 * only ever added at the end; the library reads a smaller struct as if
 * the missing fields were zero, and refuses (TERN_EINVAL) a larger one
 * whose extra bytes it does not know unless they are all zero. */

/* The initialiser of every such struct: struct_size set, every other
 * field zero (its default). -Wextra clean in C99 and C++11. */
#ifdef __cplusplus
} /* extern "C": a template cannot have C linkage */
template <typename T> inline T tern__sized_init() {
  T v = T();
  v.struct_size = sizeof(T);
  return v;
}
extern "C" {
#define TERN_SIZED_INIT(type) (tern__sized_init<type>())
#else
#define TERN_SIZED_INIT(type) {.struct_size = sizeof(type)}
#endif

/* The release of the library actually loaded: TERN_VERSION_NUM's form. */
TERN_EXTERN unsigned tern_version(void);

/* ------------------------------------------------------------------ */
/* Library errors: how a *function* failed. Never renumbered. */

enum {
  TERN_OK = 0,
  TERN_ENOMEM = -1,    /* out of memory */
  TERN_EINVAL = -2,    /* bad argument */
  TERN_ESTATE = -3,    /* not allowed in the object's current state */
  TERN_ECLOSED = -4,   /* the call or stream has ended */
  TERN_EADDR = -5,     /* bad address or target string */
  TERN_ESYS = -6,      /* a system call failed (errno kept) */
  TERN_ETIMEDOUT = -7, /* a wait ran out of time */
  TERN_EEXIST = -8,    /* already registered */
  TERN_EPROTO = -9,    /* the peer broke the protocol */
  TERN_ETOOBIG = -10,  /* a message is larger than the limit */
  TERN_EAGAIN = -11    /* inline handler: nothing to read / no room yet */
};

/* A static English name for a TERN_E* code. Never NULL. */
TERN_EXTERN const char *tern_strerror(int err);

/* ------------------------------------------------------------------ */
/* Memory. Every allocation tern makes goes through one allocator, in the
 * style of nghttp2_mem: libc's unless the program sets its own. */

typedef struct tern_allocator {
  uint32_t struct_size; /* sizeof(tern_allocator) */
  /* As malloc, realloc and free, with user_data last. Never asked for 0
   * bytes; free is never given NULL. */
  void *(*malloc)(size_t size, void *user_data);
  void *(*realloc)(void *ptr, size_t size, void *user_data);
  void (*free)(void *ptr, void *user_data);
  void *user_data;
} tern_allocator;

/* Sets the process's allocator (copied; NULL: libc's). Only before tern
 * allocates anything, i.e. before any other tern call that makes an
 * object: TERN_ESTATE after. TERN_EINVAL when a function is missing. */
TERN_EXTERN int tern_set_allocator(const tern_allocator *allocator);

/* ------------------------------------------------------------------ */
/* gRPC status codes: how an *RPC* ended (grpc doc/statuscodes.md). */

typedef enum tern_status_code {
  TERN_STATUS_OK = 0,
  TERN_STATUS_CANCELLED = 1,
  TERN_STATUS_UNKNOWN = 2,
  TERN_STATUS_INVALID_ARGUMENT = 3,
  TERN_STATUS_DEADLINE_EXCEEDED = 4,
  TERN_STATUS_NOT_FOUND = 5,
  TERN_STATUS_ALREADY_EXISTS = 6,
  TERN_STATUS_PERMISSION_DENIED = 7,
  TERN_STATUS_RESOURCE_EXHAUSTED = 8,
  TERN_STATUS_FAILED_PRECONDITION = 9,
  TERN_STATUS_ABORTED = 10,
  TERN_STATUS_OUT_OF_RANGE = 11,
  TERN_STATUS_UNIMPLEMENTED = 12,
  TERN_STATUS_INTERNAL = 13,
  TERN_STATUS_UNAVAILABLE = 14,
  TERN_STATUS_DATA_LOSS = 15,
  TERN_STATUS_UNAUTHENTICATED = 16,
  /* Not a gRPC status: what an inline streaming handler returns to be
   * called again on its call's next event (see TERN_REGISTER_INLINE). */
  TERN_STATUS_PENDING = -1
} tern_status_code;

/* "OK", "CANCELLED", ... "UNAUTHENTICATED"; "UNKNOWN" for other values. */
TERN_EXTERN const char *tern_status_code_name(tern_status_code code);

/* The end of an RPC as the client sees it. `message` is malloc'd (or NULL)
 * and released by tern_status_clear(). */
typedef struct tern_status {
  tern_status_code code;
  char *message;
} tern_status;

#define TERN_STATUS_INIT {TERN_STATUS_OK, NULL}

/* Frees the message and resets to OK. Safe on an already clear status. */
TERN_EXTERN void tern_status_clear(tern_status *status);

/* ------------------------------------------------------------------ */
/* Metadata: an ordered list of (key, value) pairs. Keys are lower-case
 * ASCII. Keys ending in "-bin" hold arbitrary bytes (base64 on the wire,
 * raw here); other values are printable ASCII. */

typedef struct tern_metadata tern_metadata;

/* Returns TERN_OK or TERN_ENOMEM. Free with tern_metadata_free(). */
TERN_EXTERN int tern_metadata_new(tern_metadata **md_out);
TERN_EXTERN void tern_metadata_free(tern_metadata *md);

/* Appends a copy of key and value. The key is lower-cased. TERN_EINVAL for
 * an invalid key, or a non "-bin" value with bytes outside 0x20..0x7e. */
TERN_EXTERN int tern_metadata_add(tern_metadata *md, const char *key, const char *value);
TERN_EXTERN int tern_metadata_add_bin(tern_metadata *md, const char *key,
                          const void *value, size_t len);

TERN_EXTERN size_t tern_metadata_count(const tern_metadata *md);

/* Entry i (0-based): borrowed pointers valid until the list is changed or
 * freed. Values are NUL-terminated; len excludes the NUL. TERN_EINVAL when
 * i is out of range. */
TERN_EXTERN int tern_metadata_get_at(const tern_metadata *md, size_t i, const char **key,
                         const char **value, size_t *len);

/* First value for key, or NULL. len_out may be NULL. */
TERN_EXTERN const char *tern_metadata_get(const tern_metadata *md, const char *key,
                              size_t *len_out);

/* Removes every entry. */
TERN_EXTERN void tern_metadata_clear(tern_metadata *md);

/* Adds "authorization: Bearer <token>" (call credentials). */
TERN_EXTERN int tern_metadata_add_bearer(tern_metadata *md, const char *token);

/* ------------------------------------------------------------------ */
/* Message compression (grpc doc/compression.md). */

typedef enum tern_compression {
  TERN_COMPRESS_DEFAULT = 0, /* per call: the channel's or server's default */
  TERN_COMPRESS_IDENTITY = 1, /* no compression */
  TERN_COMPRESS_DEFLATE = 2,
  TERN_COMPRESS_GZIP = 3
} tern_compression;

/* "identity", "deflate", "gzip" (DEFAULT gives "identity"). */
TERN_EXTERN const char *tern_compression_name(tern_compression c);

/* Write flag: send this message uncompressed even when the call
 * compresses (grpc's WriteOptions::set_no_compression). */
#define TERN_WRITE_NO_COMPRESS 1u

/* ------------------------------------------------------------------ */
/* TLS (OpenSSL; TLS 1.2 and 1.3, ALPN "h2" required). Strings are copied
 * when the port or channel is created. PEM files or PEM text in memory:
 * set one of each pair. */

typedef struct tern_tls_options {
  uint32_t struct_size; /* sizeof(tern_tls_options): TERN_TLS_OPTIONS_INIT */
  /* Our certificate chain and key: required for a server; for a client,
   * only to present a certificate (mutual TLS). */
  const char *cert_chain_file;
  const char *private_key_file;
  const char *cert_chain_pem;
  const char *private_key_pem;
  /* CAs that verify the peer. Client: NULL uses the system's bundle.
   * Server: the CAs client certificates must chain to (mutual TLS). */
  const char *ca_file;
  const char *ca_pem;
  /* Server: require and verify a client certificate (mutual TLS). */
  int require_client_cert;
  /* Client: the name the server's certificate must carry, instead of the
   * target's host (grpc's ssl_target_name_override). Also sent as SNI. */
  const char *server_host_override;
} tern_tls_options;

/* Everything unset. */
#define TERN_TLS_OPTIONS_INIT TERN_SIZED_INIT(tern_tls_options)

/* ------------------------------------------------------------------ */
/* Messages and methods. The core never includes protobuf-c: a codec is a
 * small vtable; tern/protobuf_c.h provides the one generated code uses. */

typedef struct tern_codec {
  uint32_t struct_size; /* sizeof(tern_codec) */
  /* Serialized size of msg. */
  size_t (*encoded_size)(const void *type, const void *msg);
  /* Writes exactly encoded_size() bytes to out; returns that count. */
  size_t (*encode)(const void *type, const void *msg, uint8_t *out);
  /* Decodes into a new message (malloc'd). 0 or negative on failure. */
  int (*decode)(const void *type, const uint8_t *data, size_t len,
                void **msg_out);
  /* Frees a message returned by decode. */
  void (*free_message)(const void *type, void *msg);
  /* sizeof the message struct, and its initialiser. */
  size_t (*message_size)(const void *type);
  void (*init_message)(const void *type, void *msg);
  /* Optional (may be NULL): decodes taking all memory from alloc(ctx, n),
   * which tern frees all at once with the call (its arena); such a
   * message is never given to free_message. Used for messages tern
   * itself frees, e.g. a unary handler's request. */
  int (*decode_with)(const void *type, const uint8_t *data, size_t len,
                     void *(*alloc)(void *ctx, size_t n), void *ctx,
                     void **msg_out);
} tern_codec;

typedef enum tern_method_kind {
  TERN_METHOD_UNARY = 0,
  TERN_METHOD_SERVER_STREAMING = 1,
  TERN_METHOD_CLIENT_STREAMING = 2,
  TERN_METHOD_BIDI_STREAMING = 3
} tern_method_kind;

typedef struct tern_server_call tern_server_call;

/* Server side trampoline, generated per method: calls the typed handler
 * in `handlers` (the generated servicer struct). `request` is set for
 * unary and server-streaming, `response` for unary and client-streaming.
 * Returns TERN_STATUS_UNIMPLEMENTED when that handler is NULL. */
typedef tern_status_code (*tern_invoke_fn)(const void *handlers,
                                           tern_server_call *call,
                                           const void *request,
                                           void *response, void *user_data);

typedef struct tern_method {
  uint32_t struct_size;      /* sizeof(tern_method) */
  const char *name;          /* "GetFeature" */
  const char *path;          /* "/routeguide.RouteGuide/GetFeature" */
  tern_method_kind kind;
  const tern_codec *codec;
  const void *request_type;  /* e.g. &routeguide__point__descriptor */
  const void *response_type; /* e.g. &routeguide__feature__descriptor */
  tern_invoke_fn invoke;
} tern_method;

typedef struct tern_service {
  uint32_t struct_size; /* sizeof(tern_service) */
  const char *name; /* full name: "routeguide.RouteGuide" */
  size_t n_methods;
  /* n_methods entries, all of methods[0].struct_size bytes (the array's
   * stride: an older binary's tern_method may be smaller). */
  const tern_method *methods;
} tern_service;

/* ------------------------------------------------------------------ */
/* Server. */

typedef struct tern_server tern_server;

typedef struct tern_server_options {
  uint32_t struct_size; /* sizeof(tern_server_options) */
  int workers;          /* blocking-handler pool size; 0 = 10 */
  int io_threads;       /* 0 = 1 */
  /* Largest message accepted, in bytes; 0 = 4 MiB; -1 = no limit. */
  int64_t max_receive_message_size;
  /* Largest message a handler may send; 0 = no limit. Over it: a write
   * fails TERN_ETOOBIG, a unary response ends RESOURCE_EXHAUSTED. */
  int64_t max_send_message_size;
  uint32_t max_concurrent_streams; /* per connection; 0 = 100 */
  /* How responses are compressed unless a handler says otherwise; only
   * used when the client accepts it (grpc-accept-encoding). */
  tern_compression default_compression;

  /* Limits against hostile or broken peers (0 = the default shown). */
  uint32_t max_header_list_size;   /* 16 KiB; more: RESOURCE_EXHAUSTED */
  int max_connections;             /* 10000; more are closed at accept */
  int64_t max_connection_idle_ms;  /* none; then GOAWAY */
  int64_t max_connection_age_ms;   /* none; then GOAWAY, +-10% jitter */
  int64_t max_connection_age_grace_ms; /* none: after the age's GOAWAY,
                                          calls may run this long */
  int64_t handshake_timeout_ms;    /* 20000: TLS + HTTP/2 preface */
  uint32_t reset_burst;            /* rapid reset: 1000 RST_STREAMs at */
  uint32_t reset_rate;             /* once, then 33/s; more: GOAWAY */
} tern_server_options;

/* Every field at its default (zero). */
#define TERN_SERVER_OPTIONS_INIT TERN_SIZED_INIT(tern_server_options)

/* opts may be NULL for the defaults (copied). */
TERN_EXTERN int tern_server_new(tern_server **server_out, const tern_server_options *opts);

/* Listens on "host:port" ("[::]:50051", "127.0.0.1:0", "localhost:0") or
 * "unix:/path". Port 0 picks a free port; the bound port is written to
 * *port_out when port_out is not NULL. Before tern_server_start only. */
TERN_EXTERN int tern_server_add_insecure_port(tern_server *server, const char *addr,
                                  int *port_out);

/* The same over TLS. TERN_EINVAL when the certificate, key or CA cannot be
 * loaded (the reason is logged). */
TERN_EXTERN int tern_server_add_secure_port(tern_server *server, const char *addr,
                                const tern_tls_options *tls, int *port_out);

/* Handlers run on the worker pool and may block (the default). */
#define TERN_REGISTER_BLOCKING 0u
/* Handlers run on the I/O thread and must not block: no thread hand-off,
 * the fastest path. A unary handler runs once. A streaming handler runs
 * when the call starts and, while it returns TERN_STATUS_PENDING, again on
 * each event of its call: messages arrived, the client half-closed, room
 * to write after a TERN_EAGAIN, or the call was cancelled or timed out.
 * There tern_server_call_read and tern_server_call_write never block:
 * they return TERN_EAGAIN instead (nothing to read yet / the client's
 * window is full: the message was not taken, write it again on the next
 * run). Keep state across runs with tern_server_call_set_state. */
#define TERN_REGISTER_INLINE 1u

/* Authorization: runs on the I/O thread for every call, once its request
 * headers are in and before any handler; it must not block. It can read
 * tern_server_call_metadata (e.g. "authorization") and
 * tern_server_call_peer_identity. Returning anything but TERN_STATUS_OK
 * (typically UNAUTHENTICATED or PERMISSION_DENIED, with
 * tern_server_call_set_message) ends the call with that status. */
typedef tern_status_code (*tern_authorize_fn)(tern_server_call *call,
                                              void *user_data);

/* Before start only. NULL removes it. */
TERN_EXTERN int tern_server_set_authorizer(tern_server *server, tern_authorize_fn fn,
                               void *user_data);

/* Adds a service. `handlers` (a generated servicer struct) is borrowed for
 * the server's life; user_data is passed to every handler. Before start
 * only. TERN_EEXIST when the service name is already registered. */
TERN_EXTERN int tern_server_register(tern_server *server, const tern_service *service,
                         const void *handlers, void *user_data,
                         unsigned flags);

TERN_EXTERN int tern_server_start(tern_server *server);

/* Blocks until the server has shut down. */
TERN_EXTERN int tern_server_wait(tern_server *server);

/* Graceful shutdown: stop accepting, GOAWAY to every connection, let
 * in-flight calls finish for up to grace_ms (negative: forever), then
 * cancel the rest. Returns when every call and connection is gone. Any
 * thread but a handler's. */
TERN_EXTERN int tern_server_shutdown(tern_server *server, int64_t grace_ms);

/* Shuts down with grace 0 if still running, then frees. */
TERN_EXTERN void tern_server_free(tern_server *server);

/* --- inside a handler ------------------------------------------------ */

/* Metadata the client sent. Borrowed for the call's life. */
TERN_EXTERN const tern_metadata *tern_server_call_metadata(const tern_server_call *call);

/* The ":path" and ":authority" of the request. */
TERN_EXTERN const char *tern_server_call_method(const tern_server_call *call);
TERN_EXTERN const char *tern_server_call_authority(const tern_server_call *call);

/* Adds initial metadata (sent with the first message or the status) and
 * trailing metadata. Copied. */
TERN_EXTERN int tern_server_call_add_header(tern_server_call *call, const char *key,
                                const char *value);
TERN_EXTERN int tern_server_call_add_header_bin(tern_server_call *call, const char *key,
                                    const void *value, size_t len);
TERN_EXTERN int tern_server_call_add_trailer(tern_server_call *call, const char *key,
                                 const char *value);
TERN_EXTERN int tern_server_call_add_trailer_bin(tern_server_call *call, const char *key,
                                     const void *value, size_t len);

/* Sends the initial metadata now instead of with the first message. */
TERN_EXTERN int tern_server_call_send_headers(tern_server_call *call);

/* The message that goes with a non-OK status the handler returns. */
TERN_EXTERN int tern_server_call_set_message(tern_server_call *call, const char *msg);

/* Compresses the messages this call sends from now on (when the client
 * accepts that algorithm; identity otherwise). */
TERN_EXTERN int tern_server_call_set_compression(tern_server_call *call,
                                     tern_compression c);

/* Non-zero when the last request message taken (the request of a unary or
 * server-streaming call, or the last tern_server_call_read) arrived
 * compressed. */
TERN_EXTERN int tern_server_call_message_compressed(const tern_server_call *call);

/* Non-zero once the client cancelled, the deadline passed or the
 * connection went away. Handlers of long calls should poll it. */
TERN_EXTERN int tern_server_call_is_cancelled(const tern_server_call *call);

/* Over mutual TLS: the client certificate's subject common name, or NULL
 * (no TLS, or no client certificate). Borrowed for the call's life. */
TERN_EXTERN const char *tern_server_call_peer_identity(const tern_server_call *call);

/* Milliseconds until the call's deadline; INT64_MAX when it has none. */
TERN_EXTERN int64_t tern_server_call_time_remaining_ms(const tern_server_call *call);

/* A pointer kept for the handler across the runs of an inline streaming
 * handler (NULL at first). Memory from tern_server_call_alloc is freed
 * with the call. */
TERN_EXTERN void tern_server_call_set_state(tern_server_call *call, void *state);
TERN_EXTERN void *tern_server_call_state(const tern_server_call *call);

/* Memory that lives until the call ends: for strings and sub-messages a
 * handler puts in its response. NULL when out of memory. */
TERN_EXTERN void *tern_server_call_alloc(tern_server_call *call, size_t size);
TERN_EXTERN char *tern_server_call_strdup(tern_server_call *call, const char *s);

/* Streaming: sends one response message (encoded before returning; msg is
 * borrowed). Blocks while the client's flow-control window is full; an
 * inline handler gets TERN_EAGAIN instead. TERN_ECLOSED when the call has
 * ended. */
TERN_EXTERN int tern_server_call_write(tern_server_call *call, const void *msg);
/* The same with TERN_WRITE_* flags. */
TERN_EXTERN int tern_server_call_write_flags(tern_server_call *call, const void *msg,
                                 unsigned flags);

/* Streaming: the next request message. Returns 1 and a new message in
 * *msg_out (free it with the codec's free, i.e. foo__free_unpacked(m,
 * NULL)), 0 when the client half-closed, or a negative TERN_E* (the call
 * was cancelled or the message did not decode; the handler should return).
 * Inline handlers get TERN_EAGAIN when no message has arrived yet. */
TERN_EXTERN int tern_server_call_read(tern_server_call *call, void **msg_out);

/* ------------------------------------------------------------------ */
/* Channel: a client's connection to a target. */

typedef struct tern_channel tern_channel;

typedef struct tern_channel_options {
  uint32_t struct_size; /* sizeof(tern_channel_options) */
  int64_t max_receive_message_size; /* 0 = 4 MiB, -1 = no limit */
  int64_t initial_backoff_ms;       /* 0 = 1000 */
  int64_t max_backoff_ms;           /* 0 = 120000 */
  int64_t min_connect_timeout_ms;   /* 0 = 20000 */
  const char *authority;            /* :authority; NULL = from the target */
  const char *user_agent_prefix;    /* put before "tern-c/VERSION" */
  tern_compression default_compression; /* for requests; DEFAULT = none */
  const tern_tls_options *tls;          /* NULL: cleartext (h2c) */
  /* Call credentials: metadata added to every call (e.g. from
   * tern_metadata_add_bearer). Copied. Sent only over TLS unless
   * allow_insecure_credentials is set; otherwise such calls fail
   * UNAUTHENTICATED without being sent. */
  const tern_metadata *credentials;
  int allow_insecure_credentials;
  /* The least time between two DNS resolutions of the target's name, as
   * grpc's grpc.dns_min_time_between_resolutions_ms. The channel looks
   * the name up again when every address failed or a connection was lost;
   * a lookup asked for sooner than this after the last one starts when
   * the interval has passed. 0 = 30000. */
  int64_t dns_min_resolution_interval_ms;
} tern_channel_options;

/* Every field at its default (zero / NULL). */
#define TERN_CHANNEL_OPTIONS_INIT TERN_SIZED_INIT(tern_channel_options)

/* Targets: "host:port", "dns:///host:port", "dns://1.2.3.4:53/host:port"
 * (that DNS server; an IP literal), "ipv4:1.2.3.4:5,6.7.8.9:10",
 * "ipv6:[::1]:5", "unix:/path", "unix:///abs/path". Names are looked up
 * with c-ares on the channel's I/O thread without blocking it (/etc/hosts
 * first). Connects lazily on the first call (or tern_channel_connect),
 * reconnects with exponential backoff and jitter, and looks the name up
 * again after failures (see dns_min_resolution_interval_ms). opts may be
 * NULL. TERN_EADDR for a target that does not parse. */
TERN_EXTERN int tern_channel_new(tern_channel **channel_out, const char *target,
                     const tern_channel_options *opts);

typedef enum tern_connectivity_state {
  TERN_CHANNEL_IDLE = 0,
  TERN_CHANNEL_CONNECTING = 1,
  TERN_CHANNEL_READY = 2,
  TERN_CHANNEL_TRANSIENT_FAILURE = 3,
  TERN_CHANNEL_SHUTDOWN = 4
} tern_connectivity_state;

/* Starts connecting if idle. */
TERN_EXTERN int tern_channel_connect(tern_channel *channel);
TERN_EXTERN tern_connectivity_state tern_channel_state(tern_channel *channel);

/* Cancels every call still running (they end CANCELLED) and frees. Calls,
 * futures and streams made on it must be freed by their owners. */
TERN_EXTERN void tern_channel_free(tern_channel *channel);

/* Per-call options; everything optional. */
typedef struct tern_call_options {
  uint32_t struct_size;          /* sizeof(tern_call_options) */
  int64_t timeout_ms;            /* 0 = no deadline */
  const tern_metadata *metadata; /* sent as request headers; copied */
  /* Filled (appended) with the response's initial and trailing metadata
   * once the call ends, when not NULL. Owned by the caller. */
  tern_metadata *headers_out;
  tern_metadata *trailers_out;
  int wait_for_ready; /* queue while the channel is not ready */
  tern_compression compression; /* requests; DEFAULT = the channel's */
  /* Per-call credentials, added after the channel's (same rules). */
  const tern_metadata *credentials;
} tern_call_options;

/* Every field at its default (zero / NULL). */
#define TERN_CALL_OPTIONS_INIT TERN_SIZED_INIT(tern_call_options)

/* --- unary ------------------------------------------------------------ */

/* Blocking unary call. On OK, *response_out is a new message (free it with
 * the codec's free: foo__free_unpacked(m, NULL)); otherwise it is NULL.
 * status_out (may be NULL) receives code and message. Local failures are
 * reported as statuses too (INTERNAL, RESOURCE_EXHAUSTED...). opts may be
 * NULL. Any thread but the channel's own. */
TERN_EXTERN tern_status_code tern_unary_call(tern_channel *channel,
                                 const tern_method *method,
                                 const void *request, void **response_out,
                                 const tern_call_options *opts,
                                 tern_status *status_out);

/* Completion callback for async calls. Runs on the channel's I/O thread
 * and must not block. `response` (NULL unless OK) belongs to the callback;
 * `status` is borrowed for the callback's duration. */
typedef void (*tern_unary_cb)(const tern_status *status, void *response,
                              void *user_data);

/* Starts a unary call and returns at once; cb runs exactly once when it
 * ends, unless this returns an error. */
TERN_EXTERN int tern_unary_call_async(tern_channel *channel, const tern_method *method,
                          const void *request, const tern_call_options *opts,
                          tern_unary_cb cb, void *user_data);

/* --- futures ------------------------------------------------------- */

typedef struct tern_future tern_future;

/* Starts a unary call whose result is collected through a future. */
TERN_EXTERN int tern_unary_call_future(tern_channel *channel, const tern_method *method,
                           const void *request, const tern_call_options *opts,
                           tern_future **future_out);

/* Waits until done: TERN_OK, or TERN_ETIMEDOUT after timeout_ms (negative
 * waits forever). */
TERN_EXTERN int tern_future_wait(tern_future *future, int64_t timeout_ms);
TERN_EXTERN int tern_future_done(tern_future *future);

/* Waits, then hands over the result: the response (owned by the caller;
 * NULL unless OK) and the status. Only once per future. */
TERN_EXTERN tern_status_code tern_future_result(tern_future *future, void **response_out,
                                    tern_status *status_out);

/* Cancels the call behind the future; it ends CANCELLED unless it had
 * already ended. */
TERN_EXTERN void tern_future_cancel(tern_future *future);

/* Cancels if needed and frees. */
TERN_EXTERN void tern_future_free(tern_future *future);

/* --- streaming calls ---------------------------------------------- */

typedef struct tern_call tern_call;

/* Starts a streaming call (any kind). For server-streaming, write the one
 * request then close_send (the generated stubs do this). */
TERN_EXTERN int tern_call_start(tern_channel *channel, const tern_method *method,
                    const tern_call_options *opts, tern_call **call_out);

/* Sends one message (encoded before returning; msg borrowed). Blocks while
 * the flow-control window is full. TERN_ECLOSED if the call has ended
 * (finish tells how), TERN_ESTATE after close_send. */
TERN_EXTERN int tern_call_write(tern_call *call, const void *msg);

/* The same with TERN_WRITE_* flags. */
TERN_EXTERN int tern_call_write_flags(tern_call *call, const void *msg, unsigned flags);

/* Non-zero when the last message tern_call_read (or close_and_recv)
 * returned arrived compressed. */
TERN_EXTERN int tern_call_message_compressed(const tern_call *call);

/* Half-closes: no more messages from this side. */
TERN_EXTERN int tern_call_close_send(tern_call *call);

/* Next response message: 1 and a new message (caller frees), 0 at the end
 * of the stream (then finish gives the status), or a negative TERN_E*.
 * Reading and writing may happen on different threads. */
TERN_EXTERN int tern_call_read(tern_call *call, void **msg_out);

/* Waits for the call to end and returns its status; discards unread
 * messages. Fills the options' headers_out / trailers_out. */
TERN_EXTERN tern_status_code tern_call_finish(tern_call *call, tern_status *status_out);

/* Client-streaming: close_send, then wait for the single response. */
TERN_EXTERN tern_status_code tern_call_close_and_recv(tern_call *call,
                                          void **response_out,
                                          tern_status *status_out);

/* Client-streaming: close_send, and collect the response through a future
 * (the call must stay alive until the future is done). */
TERN_EXTERN int tern_call_close_and_recv_future(tern_call *call,
                                    tern_future **future_out);

/* Initial metadata from the server, once it has arrived (blocks until then
 * or the end of the call). Borrowed for the call's life. */
TERN_EXTERN const tern_metadata *tern_call_headers(tern_call *call);

/* Cancels: RST_STREAM(CANCEL) to the server; the call ends CANCELLED. */
TERN_EXTERN void tern_call_cancel(tern_call *call);

/* Cancels if still running and frees. */
TERN_EXTERN void tern_call_free(tern_call *call);

#ifdef __cplusplus
}
#endif

#endif /* TERN_TERN_H */
