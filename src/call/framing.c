/* gRPC's message framing (a 5-byte prefix: compressed flag and length,
 * then the message) as a pure transform of bytes: messages out are
 * encoded and framed, body bytes in are cut into messages and decoded. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call/call_int.h"

int tern__call_effective_alg(const struct tern_call *call) {
  int alg = call->send_alg;
  /* A client cannot know what the server accepts before it answers; like
   * grpc it compresses as asked (the server answers UNIMPLEMENTED if it
   * cannot decompress). A server compresses only what the client accepts. */
  if (alg == TERN_COMPRESS_DEFLATE || alg == TERN_COMPRESS_GZIP)
    return (call->is_client || (call->peer_accept & (1u << alg)))
               ? alg
               : TERN_COMPRESS_IDENTITY;
  return TERN_COMPRESS_IDENTITY;
}

int tern__call_encode(struct tern_call *call, const tern_method *method,
                      const void *type, const void *msg, int alg,
                      tern__msg **out) {
  const tern_codec *codec = method->codec;
  size_t n = codec->encoded_size(type, msg);
  tern__msg *m;
  if (n > UINT32_MAX)
    return TERN_EINVAL;
  if (alg == TERN_COMPRESS_DEFLATE || alg == TERN_COMPRESS_GZIP) {
    uint8_t *tmp = tern__malloc(n ? n : 1);
    int rv;
    if (!tmp)
      return TERN_ENOMEM;
    if (n > 0 && codec->encode(type, msg, tmp) != n) {
      tern__free(tmp);
      return TERN_EINVAL;
    }
    rv = tern__compress_frame(call, (tern_compression)alg, tmp, n, out);
    tern__free(tmp);
    return rv;
  }
  m = tern__call_msg_new(call, TERN__MSG_OUT, 5 + n);
  if (!m)
    return TERN_ENOMEM;
  m->data[0] = 0; /* not compressed */
  m->data[1] = (uint8_t)(n >> 24);
  m->data[2] = (uint8_t)(n >> 16);
  m->data[3] = (uint8_t)(n >> 8);
  m->data[4] = (uint8_t)n;
  if (n > 0 && codec->encode(type, msg, m->data + 5) != n) {
    tern__call_msg_free(call, m);
    return TERN_EINVAL;
  }
  *out = m;
  return TERN_OK;
}

static void *arena_alloc_cb(void *ctx, size_t n) {
  return tern__call_alloc(ctx, n, 0);
}

static int decode_bytes(struct tern_call *call, const void *type,
                        const uint8_t *data, size_t len, void **msg_out,
                        int arena) {
  const tern_codec *codec = call->method->codec;
  int rv = arena ? codec->decode_with(type, data, len, arena_alloc_cb, call,
                                      msg_out)
                 : codec->decode(type, data, len, msg_out);
  return rv == 0 ? TERN_OK : TERN_EPROTO;
}

static int decode_msg(struct tern_call *call, const void *type,
                      const tern__msg *m, void **msg_out, int arena) {
  uint8_t *plain = NULL;
  size_t plen = 0;
  int rv;
  call->last_compressed = m->compressed;
  if (!m->compressed)
    return decode_bytes(call, type, m->data, m->len, msg_out, arena);
  /* the deframer let only supported algorithms through */
  rv = tern__decompress((tern_compression)call->recv_alg, m->data, m->len,
                        call->max_recv, &plain, &plen);
  if (rv != TERN_OK)
    return rv;
  rv = decode_bytes(call, type, plain, plen, msg_out, arena);
  tern__free(plain);
  return rv;
}

int tern__call_decode(struct tern_call *call, const void *type,
                      const tern__msg *m, void **msg_out) {
  return decode_msg(call, type, m, msg_out, 0);
}

int tern__call_decode_arena(struct tern_call *call, const void *type,
                            const tern__msg *m, void **msg_out,
                            int *in_arena) {
  *in_arena = call->method->codec->decode_with != NULL;
  return decode_msg(call, type, m, msg_out, *in_arena);
}

tern_status_code tern__call_decode_status(const struct tern_call *call,
                                          int rv, const char **msg) {
  int client = call->is_client;
  if (rv == TERN_ECLOSED) {
    *msg = client ? "the server sent no response message"
                  : "missing request message";
    return TERN_STATUS_INTERNAL;
  }
  if (rv == TERN_ETOOBIG) {
    *msg = client ? "response larger than the limit once decompressed"
                  : "request larger than the limit once decompressed";
    return TERN_STATUS_RESOURCE_EXHAUSTED;
  }
  if (rv == TERN_ENOMEM) {
    *msg = "out of memory decoding a message";
    return TERN_STATUS_RESOURCE_EXHAUSTED;
  }
  *msg = client ? "failed to parse a response message"
                : "failed to parse a request message";
  return TERN_STATUS_INTERNAL;
}

/* A whole message arrived: on the inbound queue. */
static void queue_in(struct tern_call *call, tern__msg *m) {
  tern__call_lock(call);
  if (call->in_tail)
    call->in_tail->next = m;
  else
    call->in_head = m;
  call->in_tail = m;
  call->in_bytes += m->len;
  call->in_count++;
  tern__call_broadcast(call);
  tern__call_unlock(call);
}

/* A complete prefix: checks it and starts the message. 0, or -1 after
 * failing the call. */
static int start_message(tern__attempt *a) {
  struct tern_call *call = a->call;
  uint32_t mlen = ((uint32_t)a->pfx[1] << 24) | ((uint32_t)a->pfx[2] << 16) |
                  ((uint32_t)a->pfx[3] << 8) | a->pfx[4];
  if ((a->pfx[0] & 1) && call->recv_alg <= TERN_COMPRESS_IDENTITY) {
    /* doc/compression.md: a compressed message needs a grpc-encoding
     * we support; an unsupported one is UNIMPLEMENTED (server). */
    if (call->recv_alg < 0 && !call->is_client)
      tern__call_fail(call, TERN_STATUS_UNIMPLEMENTED,
                      "unsupported grpc-encoding");
    else
      tern__call_fail(call, TERN_STATUS_INTERNAL,
                      call->recv_alg < 0
                          ? "unsupported grpc-encoding"
                          : "compressed message without grpc-encoding");
    return -1;
  }
  if (call->max_recv >= 0 && (int64_t)mlen > call->max_recv) {
    char buf[128];
    snprintf(buf, sizeof(buf),
             "received message larger than max (%u vs. %lld)", mlen,
             (long long)call->max_recv);
    tern__call_fail(call, TERN_STATUS_RESOURCE_EXHAUSTED, buf);
    return -1;
  }
  a->partial = tern__call_msg_new(call, TERN__MSG_IN, mlen);
  if (!a->partial) {
    tern__call_fail(call, TERN_STATUS_RESOURCE_EXHAUSTED,
                    "out of memory for a message");
    return -1;
  }
  a->partial->compressed = a->pfx[0] & 1;
  a->partial_have = 0;
  return 0;
}

int tern__call_deframe(tern__attempt *a, const uint8_t *data, size_t len) {
  int queued = 0;
  while (len > 0) {
    size_t need, take;
    if (!a->partial) {
      take = 5 - a->pfx_len;
      if (take > len)
        take = len;
      memcpy(a->pfx + a->pfx_len, data, take);
      a->pfx_len += take;
      data += take;
      len -= take;
      if (a->pfx_len < 5)
        break;
      if (start_message(a) != 0)
        break;
    }
    need = a->partial->len - a->partial_have;
    take = need < len ? need : len;
    memcpy(a->partial->data + a->partial_have, data, take);
    a->partial_have += take;
    data += take;
    len -= take;
    if (a->partial_have == a->partial->len) {
      tern__msg *m = a->partial;
      a->partial = NULL;
      a->pfx_len = 0;
      queue_in(a->call, m);
      queued++;
    }
  }
  return queued;
}
