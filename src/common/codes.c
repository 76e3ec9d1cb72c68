/* Library error names, gRPC status codes and names, and the mappings from
 * HTTP statuses and HTTP/2 error codes to gRPC statuses. */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/common_int.h"

const char *tern_strerror(int err) {
  switch (err) {
  case TERN_OK:
    return "success";
  case TERN_ENOMEM:
    return "out of memory";
  case TERN_EINVAL:
    return "invalid argument";
  case TERN_ESTATE:
    return "not allowed in the current state";
  case TERN_ECLOSED:
    return "the call or stream has ended";
  case TERN_EADDR:
    return "bad address or target";
  case TERN_ESYS:
    return "system call failed";
  case TERN_ETIMEDOUT:
    return "timed out";
  case TERN_EEXIST:
    return "already registered";
  case TERN_EPROTO:
    return "protocol error";
  case TERN_ETOOBIG:
    return "message larger than the limit";
  case TERN_EAGAIN:
    return "not ready yet; try again on the next event";
  default:
    return "unknown error";
  }
}

/* Indexed by code; names as in grpc's doc/statuscodes.md. */
static const char *const status_names[] = {
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
};

const char *tern_status_code_name(tern_status_code code) {
  /* Compared as unsigned so that a negative value read from anywhere is
   * also out of range. */
  unsigned idx = (unsigned)code;
  if (idx >= sizeof(status_names) / sizeof(status_names[0]))
    return "UNKNOWN";
  return status_names[idx];
}

void tern_status_clear(tern_status *status) {
  if (!status)
    return;
  tern__free(status->message);
  status->message = NULL;
  status->code = TERN_STATUS_OK;
}

tern_status_code tern__status_from_http(int http_status) {
  switch (http_status) {
  case 400:
    return TERN_STATUS_INTERNAL;
  case 401:
    return TERN_STATUS_UNAUTHENTICATED;
  case 403:
    return TERN_STATUS_PERMISSION_DENIED;
  case 404:
    return TERN_STATUS_UNIMPLEMENTED;
  case 429:
  case 502:
  case 503:
  case 504:
    return TERN_STATUS_UNAVAILABLE;
  default:
    /* 200 too: a real OK response carries grpc-status. */
    return TERN_STATUS_UNKNOWN;
  }
}

/* HTTP/2 error codes, RFC 9113 section 7. */
enum {
  H2_NO_ERROR = 0x0,
  H2_PROTOCOL_ERROR = 0x1,
  H2_INTERNAL_ERROR = 0x2,
  H2_FLOW_CONTROL_ERROR = 0x3,
  H2_SETTINGS_TIMEOUT = 0x4,
  H2_STREAM_CLOSED = 0x5,
  H2_FRAME_SIZE_ERROR = 0x6,
  H2_REFUSED_STREAM = 0x7,
  H2_CANCEL = 0x8,
  H2_COMPRESSION_ERROR = 0x9,
  H2_CONNECT_ERROR = 0xa,
  H2_ENHANCE_YOUR_CALM = 0xb,
  H2_INADEQUATE_SECURITY = 0xc,
  H2_HTTP_1_1_REQUIRED = 0xd
};

tern_status_code tern__status_from_h2_error(uint32_t h2_error) {
  switch (h2_error) {
  case H2_REFUSED_STREAM:
    /* Nothing was processed: the caller may retry elsewhere. */
    return TERN_STATUS_UNAVAILABLE;
  case H2_CANCEL:
    return TERN_STATUS_CANCELLED;
  case H2_ENHANCE_YOUR_CALM:
    return TERN_STATUS_RESOURCE_EXHAUSTED;
  case H2_INADEQUATE_SECURITY:
    return TERN_STATUS_PERMISSION_DENIED;
  case H2_NO_ERROR:
  case H2_PROTOCOL_ERROR:
  case H2_INTERNAL_ERROR:
  case H2_FLOW_CONTROL_ERROR:
  case H2_SETTINGS_TIMEOUT:
  case H2_STREAM_CLOSED:
  case H2_FRAME_SIZE_ERROR:
  case H2_COMPRESSION_ERROR:
  case H2_CONNECT_ERROR:
  case H2_HTTP_1_1_REQUIRED:
  default:
    return TERN_STATUS_INTERNAL;
  }
}

const char *tern__h2_error_name(uint32_t h2_error) {
  static const char *const names[] = {
      "NO_ERROR",           "PROTOCOL_ERROR",    "INTERNAL_ERROR",
      "FLOW_CONTROL_ERROR", "SETTINGS_TIMEOUT",  "STREAM_CLOSED",
      "FRAME_SIZE_ERROR",   "REFUSED_STREAM",    "CANCEL",
      "COMPRESSION_ERROR",  "CONNECT_ERROR",     "ENHANCE_YOUR_CALM",
      "INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED"};
  return h2_error < sizeof(names) / sizeof(names[0]) ? names[h2_error]
                                                     : "unknown error code";
}

int tern__status_parse(const char *s, size_t len, int *code_out) {
  size_t i;
  int v = 0;

  if (!s || len == 0)
    return TERN_EINVAL;
  for (i = 0; i < len; i++) {
    int d;
    if (s[i] < '0' || s[i] > '9')
      return TERN_EINVAL;
    d = s[i] - '0';
    /* A huge number is still a number: saturate, the caller maps it to
     * UNKNOWN like any other code above 16. */
    if (v > (INT_MAX - d) / 10)
      v = INT_MAX;
    else
      v = v * 10 + d;
  }
  *code_out = v;
  return TERN_OK;
}

void tern__status_set(tern_status *status, tern_status_code code,
                      const char *fmt, ...) {
  va_list ap;
  char *msg = NULL;
  int n;

  if (!status)
    return;
  /* Format before freeing the old message: fmt's arguments may point at
   * it. */
  va_start(ap, fmt);
  n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n >= 0) {
    msg = tern__malloc((size_t)n + 1);
    if (msg) {
      va_start(ap, fmt);
      vsnprintf(msg, (size_t)n + 1, fmt, ap);
      va_end(ap);
    }
  }
  tern__free(status->message);
  status->message = msg; /* NULL when out of memory: the code still counts */
  status->code = code;
}
