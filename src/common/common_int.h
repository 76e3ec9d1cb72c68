/* Internal helpers shared by every layer: byte buffers, base64,
 * percent-encoding, grpc-timeout, status mapping, targets, backoff. */
#ifndef TERN_COMMON_INT_H
#define TERN_COMMON_INT_H

#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/queue.h"
#include "tern/tern.h"

/* ---- memory: every allocation of tern goes through these ---------------- */

/* The process's allocator (tern_set_allocator); NULL functions: libc's. */
extern tern_allocator tern__allocator;
/* Set (relaxed atomic) by the first allocation: the allocator is fixed
 * from then on. */
extern int tern__allocator_used;

static inline void tern__mem_mark_used(void) {
  if (!__atomic_load_n(&tern__allocator_used, __ATOMIC_RELAXED))
    __atomic_store_n(&tern__allocator_used, 1, __ATOMIC_RELAXED);
}

static inline void *tern__malloc(size_t n) {
  tern__mem_mark_used();
  if (tern__allocator.malloc)
    return tern__allocator.malloc(n ? n : 1, tern__allocator.user_data);
  return malloc(n);
}

static inline void *tern__realloc(void *p, size_t n) {
  tern__mem_mark_used();
  if (tern__allocator.realloc)
    return tern__allocator.realloc(p, n ? n : 1, tern__allocator.user_data);
  return realloc(p, n);
}

static inline void tern__free(void *p) {
  if (!p)
    return;
  if (tern__allocator.free)
    tern__allocator.free(p, tern__allocator.user_data);
  else
    free(p);
}

static inline void *tern__calloc(size_t count, size_t size) {
  void *p;
  if (size && count > SIZE_MAX / size)
    return NULL;
  if (!tern__allocator.malloc) {
    tern__mem_mark_used();
    return calloc(count, size);
  }
  p = tern__malloc(count * size);
  if (p)
    memset(p, 0, count * size);
  return p;
}

static inline char *tern__memdup_str(const char *s, size_t len) {
  char *d = (char *)tern__malloc(len + 1);
  if (d) {
    memcpy(d, s, len);
    d[len] = 0;
  }
  return d;
}

static inline char *tern__strndup(const char *s, size_t n) {
  return tern__memdup_str(s, strnlen(s, n));
}

static inline char *tern__strdup(const char *s) {
  return tern__memdup_str(s, strlen(s));
}

/* ---- the ABI rule for structs compiled into programs (tern.h) ---------- */

/* Copies the caller's struct at src (its first member the uint32_t
 * struct_size it was built with) into dst, dst_size bytes of this
 * library's version: fields the caller's version lacks read as zero.
 * TERN_EINVAL when struct_size is below min_size (the first version's
 * size) or above dst_size with a non-zero byte past dst_size (a field
 * this library does not know was set). */
int tern__struct_in(void *dst, size_t dst_size, const void *src,
                    size_t min_size);

/* The least struct_size of an options struct: any that has the size
 * field itself (missing fields are defaults); 0 means the program did not
 * set it (a `= {0}` or memset instead of the _INIT macro). */
#define TERN__OPTIONS_MIN_SIZE sizeof(uint32_t)

/* The bytes of `type` up to and including `field`. */
#define TERN__SIZE_THROUGH(type, field)                                    \
  (offsetof(type, field) + sizeof(((type *)0)->field))

/* Whether a struct compiled into a program has `field` (its struct_size
 * covers it). */
#define TERN__HAS_FIELD(ptr, type, field)                                  \
  ((ptr)->struct_size >= offsetof(type, field) + sizeof((ptr)->field))

/* malloc and zero. Used instead of calloc for objects made per call:
 * glibc's calloc never takes from the per-thread cache that free fills,
 * so every free of a calloc'd size overflows that cache onto malloc's
 * slow path (a quarter of the client's malloc time at one call in
 * flight). */
static inline void *tern__zalloc(size_t n) {
  void *p = tern__malloc(n);
  if (p) {
    /* Keeps the compiler from fusing malloc + memset back into calloc. */
    __asm__ __volatile__("" : : "r"(p) : "memory");
    memset(p, 0, n);
  }
  return p;
}

/* ---- byte buffer ----------------------------------------------------- */

typedef struct tern__buf {
  uint8_t *data;
  size_t len;
  size_t cap;
} tern__buf;

#define TERN__BUF_INIT {NULL, 0, 0}

/* Makes room for `extra` more bytes. TERN_OK or TERN_ENOMEM. */
int tern__buf_reserve(tern__buf *b, size_t extra);
int tern__buf_append(tern__buf *b, const void *data, size_t len);
/* Drops the first n bytes (memmove). */
void tern__buf_consume(tern__buf *b, size_t n);
void tern__buf_free(tern__buf *b);

/* ---- base64 (metadata "-bin" values) ---------------------------------- */

/* Length of the unpadded encoding of n bytes. */
size_t tern__base64_encoded_len(size_t n);
/* Standard alphabet, no padding (what grpc sends). Writes
 * tern__base64_encoded_len(n) bytes, no NUL. Returns that length. */
size_t tern__base64_encode(const uint8_t *in, size_t n, char *out);
/* Accepts padded and unpadded input. out must hold (len / 4 + 1) * 3
 * bytes. TERN_OK and *out_len, or TERN_EINVAL for bad characters or a
 * bad length. */
int tern__base64_decode(const char *in, size_t len, uint8_t *out,
                        size_t *out_len);

/* ---- percent-encoding (grpc-message, PROTOCOL-HTTP2.md) --------------- */

/* Bytes outside 0x20..0x7e and '%' become %XX (upper-case hex). Returns a
 * malloc'd NUL-terminated string (length in *out_len if not NULL), or NULL
 * when out of memory. */
char *tern__percent_encode(const char *s, size_t len, size_t *out_len);
/* Decodes %XX; a '%' not followed by two hex digits is kept as it is (as
 * grpc does). Returns a malloc'd NUL-terminated string, or NULL (ENOMEM). */
char *tern__percent_decode(const char *s, size_t len, size_t *out_len);

/* ---- grpc-timeout ------------------------------------------------------ */

/* Parses "1S", "250m", "99999999u": 1..8 ASCII digits then one of
 * H M S m u n. Writes nanoseconds (saturating at INT64_MAX). TERN_EINVAL
 * otherwise. */
int tern__timeout_parse(const char *s, size_t len, int64_t *ns_out);
/* Formats a positive timeout as at most 8 digits and the finest unit that
 * fits, rounding up (never shortens the deadline). out must hold 16 bytes;
 * NUL-terminated; returns the length. ns <= 0 gives "1n". */
size_t tern__timeout_format(int64_t ns, char *out);

/* ---- status mapping (doc/http-grpc-status-mapping.md, statuscodes.md) -- */

/* For a response without grpc-status: 400->INTERNAL, 401->UNAUTHENTICATED,
 * 403->PERMISSION_DENIED, 404->UNIMPLEMENTED, 429/502/503/504->UNAVAILABLE,
 * any other->UNKNOWN. */
tern_status_code tern__status_from_http(int http_status);
/* For RST_STREAM / GOAWAY error codes: NO_ERROR/PROTOCOL_ERROR/
 * INTERNAL_ERROR/FLOW_CONTROL_ERROR/SETTINGS_TIMEOUT/FRAME_SIZE_ERROR/
 * COMPRESSION_ERROR/CONNECT_ERROR->INTERNAL, REFUSED_STREAM->UNAVAILABLE,
 * CANCEL->CANCELLED, ENHANCE_YOUR_CALM->RESOURCE_EXHAUSTED,
 * INADEQUATE_SECURITY->PERMISSION_DENIED, other->INTERNAL. */
tern_status_code tern__status_from_h2_error(uint32_t h2_error);
/* The code's name as RFC 9113 spells it ("CANCEL"), or "unknown error
 * code". */
const char *tern__h2_error_name(uint32_t h2_error);
/* Parses a grpc-status value ("0".."16", or any other non-negative
 * integer). TERN_EINVAL when not a decimal number. Unknown numbers are
 * returned as they are; callers map >16 to UNKNOWN. */
int tern__status_parse(const char *s, size_t len, int *code_out);

/* Sets status->code and a malloc'd copy of the formatted message
 * (replacing any old one). */
void tern__status_set(tern_status *status, tern_status_code code,
                      const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- metadata ------------------------------------------------------------ */

/* Key check: 1+ chars of [0-9a-z_.-] (upper-case is accepted by the
 * public add and lowered there). */
int tern__metadata_key_valid(const char *key, size_t len);
/* Non-zero for keys the transport owns, which users may not send and do
 * not see as metadata: pseudo-headers (":..."), "content-type", "te",
 * "user-agent", "grpc-timeout", "grpc-encoding", "grpc-accept-encoding",
 * "grpc-status", "grpc-message", "connection", "host", "content-length",
 * "transfer-encoding", "keep-alive", "upgrade", "proxy-connection".
 * ("grpc-status-details-bin" is user-visible, not reserved.) */
int tern__metadata_key_reserved(const char *key, size_t len);
int tern__metadata_is_bin_key(const char *key, size_t len);
/* Appends an entry from the wire: a "-bin" value is base64-decoded
 * (TERN_EINVAL if it does not decode), others are copied. */
int tern__metadata_add_wire(tern_metadata *md, const char *key, size_t klen,
                            const char *value, size_t vlen);
/* A list with no entries, for callers that must return one. */
const tern_metadata *tern__metadata_empty(void);

/* Appends every entry of src to dst (copies). */
int tern__metadata_append(tern_metadata *dst, const tern_metadata *src);

/* ---- host and port --------------------------------------------------------- */

/* What tern__hostport_split found. host points into the string split (not
 * NUL-terminated), without brackets; it may be empty ("[]:1", ":50051"):
 * callers decide whether that means anything. */
typedef struct tern__hostport {
  const char *host;
  size_t host_len;
  int port;      /* -1 when none was written */
  int bracketed; /* written "[host]": an IPv6 literal, if anything */
} tern__hostport;

/* A port must be written. Then, without brackets, the last colon starts
 * the port ("::1:50051" is host "::1"); without this flag more than one
 * colon is a bare IPv6 literal, which cannot carry a port. */
#define TERN__HOSTPORT_NEED_PORT 1u
/* Port 0 is accepted (a listening address: the system picks one). */
#define TERN__HOSTPORT_PORT_ZERO 2u

/* Splits "host:port", "host", "[v6]:port" or "[v6]" (and a bare IPv6
 * literal) of len bytes. A port is 1 to 5 ASCII digits, 1..65535 (0..
 * with TERN__HOSTPORT_PORT_ZERO): no sign, no spaces. The host is not
 * checked beyond its length (at most 255 bytes) and holding no NUL.
 * TERN_OK, or TERN_EADDR (an empty string, '[' without ']', anything but
 * ":port" after ']', a bad port, a missing one with
 * TERN__HOSTPORT_NEED_PORT, a long host). Allocates nothing. */
int tern__hostport_split(const char *s, size_t len, unsigned flags,
                         tern__hostport *out);

/* ---- targets --------------------------------------------------------------- */

typedef enum tern__addr_kind {
  TERN__ADDR_HOST = 0, /* host name or literal IP, resolved at connect */
  TERN__ADDR_UNIX = 1
} tern__addr_kind;

typedef struct tern__addr {
  tern__addr_kind kind;
  char *host; /* host name or IP literal without brackets; unix: the path */
  int port;   /* 0 for unix */
} tern__addr;

typedef struct tern__target {
  tern__addr *addrs;
  size_t n_addrs;
  char *authority; /* default :authority ("host:port", "localhost" for
                      unix) */
  char *dns_server; /* "dns://server/...": "ip[:port]" or "[v6][:port]";
                       NULL: the system's servers */
} tern__target;

/* Parses a channel target:
 *   "host:port", "host" (port 443, grpc's default), "[v6]:port",
 *   "dns:host:port", "dns:///host:port", "dns://dnsserver/host:port" (the
 *   DNS server must be an IP literal with an optional port, as in grpc; it
 *   goes to dns_server), "ipv4:1.2.3.4:50051,5.6.7.8:50052" (IP literals
 *   only), "ipv6:[::1]:50051,[::2]:1", "unix:relative/or/abs/path",
 *   "unix:///abs/path". Anything else ("unix-abstract:", "xds:", empty
 *   host, bad port, a DNS server named by a host name) is TERN_EADDR.
 *   Ports must be 1..65535. Nothing is allocated on error. */
int tern__target_parse(const char *target, tern__target *out);
void tern__target_free(tern__target *t);

/* ---- connection backoff (grpc doc/connection-backoff.md) ------------------ */

typedef struct tern__backoff {
  int64_t initial_ms;  /* 1000 */
  int64_t max_ms;      /* 120000 */
  double multiplier;   /* 1.6 */
  double jitter;       /* 0.2 */
  double current_ms;
  uint64_t rng;        /* xorshift state, never 0 */
} tern__backoff;

void tern__backoff_init(tern__backoff *b, int64_t initial_ms, int64_t max_ms,
                        uint64_t seed);
/* Delay before the next attempt: current * (1 +- jitter), then
 * current = min(current * multiplier, max). */
int64_t tern__backoff_next(tern__backoff *b);
void tern__backoff_reset(tern__backoff *b);

/* ---- time and logging ------------------------------------------------------ */

/* CLOCK_MONOTONIC in nanoseconds / milliseconds. */
int64_t tern__now_ns(void);
int64_t tern__now_ms(void);

/* Makes a condition variable whose timed waits run on CLOCK_MONOTONIC, so
 * that setting the wall clock neither ends a wait early nor stretches it.
 * 0, or pthread's error number. */
int tern__cond_init_monotonic(pthread_cond_t *cv);
/* The absolute CLOCK_MONOTONIC time ms (>= 0) from now, as
 * pthread_cond_timedwait wants it for a condition made by
 * tern__cond_init_monotonic. */
void tern__deadline_ts(struct timespec *ts, int64_t ms);

/* Logs to stderr when TERN_LOG (environment) is "debug" (level 0) or
 * "info" (level <= 1); warnings (level 2) always. */
void tern__log(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
#define TERN__DEBUG(...) tern__log(0, __VA_ARGS__)
#define TERN__INFO(...) tern__log(1, __VA_ARGS__)
#define TERN__WARN(...) tern__log(2, __VA_ARGS__)

#endif /* TERN_COMMON_INT_H */
