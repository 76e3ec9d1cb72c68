/* The header lists of gRPC over HTTP/2 (grpc's PROTOCOL-HTTP2.md), built
 * the same way for both roles, and what a call makes of the fields it
 * receives. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "call/call_int.h"

#define LIT(l, n, v)                                                          \
  tern__hdrs_add(l, n, sizeof(n) - 1, v, sizeof(v) - 1, TERN__HDR_KEEP)

/* User metadata: reserved keys are skipped, "-bin" values go as base64. */
static void add_md(tern__hdrs *l, const tern_metadata *md) {
  size_t i, n = md ? tern_metadata_count(md) : 0;
  for (i = 0; i < n; i++) {
    const char *k, *v;
    size_t vlen, klen;
    tern_metadata_get_at(md, i, &k, &v, &vlen);
    klen = strlen(k);
    if (tern__metadata_key_reserved(k, klen))
      continue;
    if (tern__metadata_is_bin_key(k, klen)) {
      char *enc = tern__hdrs_own(l, tern__malloc(tern__base64_encoded_len(vlen) + 1));
      size_t elen;
      if (!enc)
        return;
      elen = tern__base64_encode((const uint8_t *)v, vlen, enc);
      tern__hdrs_add(l, k, klen, enc, elen, 0);
    } else {
      tern__hdrs_add(l, k, klen, v, vlen, 0);
    }
  }
}

/* grpc-encoding when the call compresses what it sends. */
static void add_encoding(tern__hdrs *l, const struct tern_call *call) {
  int alg = tern__call_effective_alg(call);
  if (alg > TERN_COMPRESS_IDENTITY) {
    const char *name = tern_compression_name((tern_compression)alg);
    tern__hdrs_add(l, "grpc-encoding", 13, name, strlen(name),
                   TERN__HDR_KEEP);
  }
}

void tern__call_request_headers(struct tern_call *call,
                                const tern__request_info *info,
                                tern__hdrs *l) {
  const char *path = call->method->path;
  size_t k;
  /* Names and values that outlive the stream (literals, the method's
   * path, the channel's strings) are not copied by the transport. */
  LIT(l, ":method", "POST");
  tern__hdrs_add(l, ":scheme", 7, info->scheme, strlen(info->scheme),
                 TERN__HDR_KEEP);
  tern__hdrs_add(l, ":path", 5, path, strlen(path), TERN__HDR_KEEP);
  tern__hdrs_add(l, ":authority", 10, info->authority,
                 strlen(info->authority), TERN__HDR_KEEP);
  LIT(l, "te", "trailers");
  LIT(l, "content-type", "application/grpc");
  tern__hdrs_add(l, "user-agent", 10, info->user_agent,
                 strlen(info->user_agent), TERN__HDR_KEEP);
  LIT(l, "grpc-accept-encoding", TERN__ACCEPT_ENCODING);
  add_encoding(l, call);
  if (call->deadline_ns > 0) {
    int64_t left = call->deadline_ns - tern__now_ns();
    size_t n = tern__timeout_format(left > 0 ? left : 1, l->timeout);
    tern__hdrs_add(l, "grpc-timeout", 12, l->timeout, n, 0);
  }
  for (k = 0; k < sizeof(info->md) / sizeof(info->md[0]); k++)
    add_md(l, info->md[k]);
}

/* "grpc-status: N" without snprintf (the hot path): at most two digits
 * in practice. */
static void add_status(tern__hdrs *l, const struct tern_call *call) {
  unsigned code = (unsigned)call->code;
  size_t len = 0, i;
  char digits[12];
  do {
    digits[len++] = (char)('0' + code % 10);
    code /= 10;
  } while (code && len < sizeof(digits));
  for (i = 0; i < len; i++)
    l->digits[i] = digits[len - 1 - i];
  tern__hdrs_add(l, "grpc-status", 11, l->digits, len, TERN__HDR_KEEP_NAME);
  if (call->message && call->message[0]) {
    size_t elen;
    char *enc = tern__hdrs_own(
        l, tern__percent_encode(call->message, strlen(call->message), &elen));
    if (enc)
      tern__hdrs_add(l, "grpc-message", 12, enc, elen, TERN__HDR_KEEP_NAME);
  }
}

void tern__call_status_headers(struct tern_call *call, tern__hdrs *l) {
  add_status(l, call);
  add_md(l, call->trailers);
}

void tern__call_response_headers(struct tern_call *call, int trailers_only,
                                 tern__hdrs *l) {
  LIT(l, ":status", "200");
  LIT(l, "content-type", "application/grpc");
  LIT(l, "grpc-accept-encoding", TERN__ACCEPT_ENCODING);
  if (!trailers_only)
    add_encoding(l, call);
  add_md(l, call->out_headers);
  if (trailers_only)
    tern__call_status_headers(call, l);
}

/* ---- fields received ------------------------------------------------------ */

static int name_is(const uint8_t *name, size_t len, const char *lit) {
  size_t n = strlen(lit);
  return len == n && memcmp(name, lit, n) == 0;
}

/* The request's path and authority live in the call arena. */
static char *dup_bytes(struct tern_call *call, const uint8_t *p, size_t len) {
  char *s = len < SIZE_MAX ? tern__call_alloc(call, len + 1, 0) : NULL;
  if (s) {
    memcpy(s, p, len);
    s[len] = '\0';
  }
  return s;
}

/* "application/grpc" optionally followed by "+proto", ";..." etc. */
static int grpc_content_type(const uint8_t *v, size_t len) {
  static const char ct[] = "application/grpc";
  size_t n = sizeof(ct) - 1;
  if (len < n || strncasecmp((const char *)v, ct, n) != 0)
    return 0;
  return len == n || v[n] == '+' || v[n] == ';';
}

static int server_header(struct tern_call *call, const uint8_t *name,
                         size_t nlen, const uint8_t *value, size_t vlen) {
  if (nlen > 0 && name[0] == ':') {
    if (name_is(name, nlen, ":path")) {
      call->path = dup_bytes(call, value, vlen);
      return call->path ? 0 : -1;
    }
    if (name_is(name, nlen, ":authority")) {
      call->authority = dup_bytes(call, value, vlen);
      return call->authority ? 0 : -1;
    }
    if (name_is(name, nlen, ":method"))
      call->bad_method = !(vlen == 4 && memcmp(value, "POST", 4) == 0);
    return 0; /* :scheme; the transport has checked the rest */
  }
  if (name_is(name, nlen, "content-type")) {
    call->bad_content_type = !grpc_content_type(value, vlen);
    return 0;
  }
  if (name_is(name, nlen, "grpc-encoding")) {
    int alg = tern__compression_parse((const char *)value, vlen);
    call->recv_alg = alg < 0 ? -1 : alg;
    return 0;
  }
  if (name_is(name, nlen, "grpc-accept-encoding")) {
    call->peer_accept =
        tern__accept_encoding_parse((const char *)value, vlen);
    return 0;
  }
  if (name_is(name, nlen, "grpc-timeout")) {
    int64_t ns;
    /* An unparsable timeout is ignored, as grpc C++ does. */
    if (tern__timeout_parse((const char *)value, vlen, &ns) == TERN_OK)
      call->timeout_ns = ns;
    return 0;
  }
  if (name_is(name, nlen, "host")) {
    if (!call->authority)
      call->authority = dup_bytes(call, value, vlen);
    return 0;
  }
  if (tern__metadata_key_reserved((const char *)name, nlen))
    return 0;
  if (!call->in_md && tern_metadata_new(&call->in_md) != TERN_OK)
    return -1;
  /* A -bin value that is not base64 drops the entry, not the call. */
  (void)tern__metadata_add_wire(call->in_md, (const char *)name, nlen,
                                (const char *)value, vlen);
  return 0;
}

static int client_header(tern__attempt *a, const uint8_t *name,
                         size_t nlen, const uint8_t *value, size_t vlen) {
  struct tern_call *call = a->call;
  tern_metadata *md;
  if (name_is(name, nlen, ":status")) {
    int code = 0;
    size_t i;
    for (i = 0; i < vlen && i < 4; i++)
      code = code * 10 + (value[i] - '0');
    call->http_status = code;
    return 0;
  }
  if (nlen > 0 && name[0] == ':')
    return 0;
  if (name_is(name, nlen, "content-type")) {
    if (!grpc_content_type(value, vlen))
      call->http_status = call->http_status == 200 ? 415 : call->http_status;
    return 0;
  }
  tern__call_lock(call);
  if (name_is(name, nlen, "grpc-status")) {
    int code;
    if (tern__status_parse((const char *)value, vlen, &code) == TERN_OK)
      call->grpc_status = code > 16 ? TERN_STATUS_UNKNOWN : code;
    else
      call->grpc_status = TERN_STATUS_UNKNOWN;
  } else if (name_is(name, nlen, "grpc-encoding")) {
    int alg = tern__compression_parse((const char *)value, vlen);
    call->recv_alg = alg < 0 ? -1 : alg;
  } else if (name_is(name, nlen, "grpc-accept-encoding")) {
    call->peer_accept = tern__accept_encoding_parse((const char *)value, vlen);
  } else if (name_is(name, nlen, "grpc-message")) {
    tern__free(call->grpc_message);
    call->grpc_message =
        tern__percent_decode((const char *)value, vlen, NULL);
  } else if (!tern__metadata_key_reserved((const char *)name, nlen)) {
    /* First header block: initial metadata, unless it turns out to be
     * trailers-only (then moved to the trailers at the block's end). */
    tern_metadata **slot =
        a->headers_frame_seen ? &call->trailers : &call->in_md;
    if (!*slot)
      (void)tern_metadata_new(slot);
    md = *slot;
    if (md)
      (void)tern__metadata_add_wire(md, (const char *)name, nlen,
                                    (const char *)value, vlen);
  }
  tern__call_unlock(call);
  return 0;
}

int tern__call_header_in(tern__attempt *a, const uint8_t *name,
                         size_t namelen, const uint8_t *value,
                         size_t valuelen) {
  if (a->call->is_client)
    return client_header(a, name, namelen, value, valuelen);
  return server_header(a->call, name, namelen, value, valuelen);
}
