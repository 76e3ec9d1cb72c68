/* Message compression with zlib: grpc's "deflate" is the zlib format
 * (RFC 1950), "gzip" the gzip format (RFC 1952). Decompression is bounded
 * by the receive limit, so a small bomb costs no more than the limit. */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "call/call_int.h"

const char *tern_compression_name(tern_compression c) {
  switch (c) {
  case TERN_COMPRESS_DEFLATE:
    return "deflate";
  case TERN_COMPRESS_GZIP:
    return "gzip";
  default:
    return "identity";
  }
}

int tern__compression_parse(const char *s, size_t len) {
  if (len == 8 && memcmp(s, "identity", 8) == 0)
    return TERN_COMPRESS_IDENTITY;
  if (len == 7 && memcmp(s, "deflate", 7) == 0)
    return TERN_COMPRESS_DEFLATE;
  if (len == 4 && memcmp(s, "gzip", 4) == 0)
    return TERN_COMPRESS_GZIP;
  return -1;
}

unsigned tern__accept_encoding_parse(const char *s, size_t len) {
  unsigned mask = 1u << TERN_COMPRESS_IDENTITY;
  size_t i = 0;
  /* What tern and grpc's C core (C++, Python) send on every call. */
  static const char spaced[] = "identity, deflate, gzip";
  if ((len == sizeof(TERN__ACCEPT_ENCODING) - 1 &&
       memcmp(s, TERN__ACCEPT_ENCODING, len) == 0) ||
      (len == sizeof(spaced) - 1 && memcmp(s, spaced, len) == 0))
    return mask | (1u << TERN_COMPRESS_DEFLATE) | (1u << TERN_COMPRESS_GZIP);
  while (i < len) {
    size_t start, end;
    int alg;
    while (i < len && (s[i] == ' ' || s[i] == ','))
      i++;
    start = i;
    while (i < len && s[i] != ',')
      i++;
    end = i;
    while (end > start && s[end - 1] == ' ')
      end--;
    alg = tern__compression_parse(s + start, end - start);
    if (alg > 0)
      mask |= 1u << alg;
  }
  return mask;
}

static int window_bits(tern_compression alg) {
  return alg == TERN_COMPRESS_GZIP ? 15 + 16 : 15;
}

int tern__compress_frame(struct tern_call *call, tern_compression alg,
                         const uint8_t *in, size_t n, tern__msg **out) {
  z_stream zs;
  tern__msg *m;
  uLong bound;
  int rv;
  memset(&zs, 0, sizeof(zs));
  if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, window_bits(alg),
                   8, Z_DEFAULT_STRATEGY) != Z_OK)
    return TERN_ENOMEM;
  bound = deflateBound(&zs, (uLong)n);
  m = tern__call_msg_new(call, TERN__MSG_OUT, 5 + bound);
  if (!m) {
    deflateEnd(&zs);
    return TERN_ENOMEM;
  }
  zs.next_in = (Bytef *)in;
  zs.avail_in = (uInt)n;
  zs.next_out = m->data + 5;
  zs.avail_out = (uInt)bound;
  rv = deflate(&zs, Z_FINISH);
  deflateEnd(&zs);
  if (rv != Z_STREAM_END || zs.total_out > UINT32_MAX) {
    tern__call_msg_free(call, m);
    return TERN_EINVAL;
  }
  m->compressed = 1;
  m->len = 5 + zs.total_out;
  m->data[0] = 1;
  m->data[1] = (uint8_t)(zs.total_out >> 24);
  m->data[2] = (uint8_t)(zs.total_out >> 16);
  m->data[3] = (uint8_t)(zs.total_out >> 8);
  m->data[4] = (uint8_t)zs.total_out;
  *out = m;
  return TERN_OK;
}

int tern__decompress(tern_compression alg, const uint8_t *in, size_t n,
                     int64_t max, uint8_t **out, size_t *out_len) {
  z_stream zs;
  uint8_t *buf = NULL;
  size_t cap = n * 4 + 64, len = 0;
  int rv;
  if (max >= 0 && cap > (size_t)max + 1)
    cap = (size_t)max + 1;
  memset(&zs, 0, sizeof(zs));
  if (inflateInit2(&zs, window_bits(alg)) != Z_OK)
    return TERN_ENOMEM;
  zs.next_in = (Bytef *)in;
  zs.avail_in = (uInt)n;
  for (;;) {
    if (len == cap || !buf) {
      uint8_t *nb;
      if (buf) {
        if (max >= 0 && cap > (size_t)max) {
          rv = TERN_ETOOBIG;
          break;
        }
        cap *= 2;
        if (max >= 0 && cap > (size_t)max + 1)
          cap = (size_t)max + 1;
      }
      nb = tern__realloc(buf, cap ? cap : 1);
      if (!nb) {
        rv = TERN_ENOMEM;
        break;
      }
      buf = nb;
    }
    zs.next_out = buf + len;
    zs.avail_out = (uInt)(cap - len);
    rv = inflate(&zs, Z_NO_FLUSH);
    len = cap - zs.avail_out;
    if (rv == Z_STREAM_END) {
      rv = (max >= 0 && len > (size_t)max) ? TERN_ETOOBIG : TERN_OK;
      break;
    }
    if (rv != Z_OK && !(rv == Z_BUF_ERROR && zs.avail_out == 0)) {
      rv = TERN_EPROTO; /* corrupt, or input ended early */
      break;
    }
    if (zs.avail_in == 0 && zs.avail_out != 0) {
      rv = TERN_EPROTO;
      break;
    }
  }
  inflateEnd(&zs);
  if (rv != TERN_OK) {
    tern__free(buf);
    return rv;
  }
  *out = buf;
  *out_len = len;
  return TERN_OK;
}
