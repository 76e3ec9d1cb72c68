/* Wire encodings from grpc's PROTOCOL-HTTP2.md: base64 for "-bin" metadata
 * values, percent-encoding for grpc-message, and the grpc-timeout header. */
#include <stdio.h>
#include <stdlib.h>

#include "common/common_int.h"

/* ---- base64 (RFC 4648 section 4, standard alphabet) ------------------- */

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t tern__base64_encoded_len(size_t n) {
  return n / 3 * 4 + (n % 3 == 0 ? 0 : n % 3 + 1);
}

size_t tern__base64_encode(const uint8_t *in, size_t n, char *out) {
  size_t i = 0, o = 0;
  uint32_t v;

  for (; i + 3 <= n; i += 3) {
    v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
    out[o++] = b64_alphabet[v >> 18 & 63];
    out[o++] = b64_alphabet[v >> 12 & 63];
    out[o++] = b64_alphabet[v >> 6 & 63];
    out[o++] = b64_alphabet[v & 63];
  }
  if (n - i == 1) {
    v = (uint32_t)in[i] << 16;
    out[o++] = b64_alphabet[v >> 18 & 63];
    out[o++] = b64_alphabet[v >> 12 & 63];
  } else if (n - i == 2) {
    v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
    out[o++] = b64_alphabet[v >> 18 & 63];
    out[o++] = b64_alphabet[v >> 12 & 63];
    out[o++] = b64_alphabet[v >> 6 & 63];
  }
  return o;
}

static int b64_value(unsigned char c) {
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '+')
    return 62;
  if (c == '/')
    return 63;
  return -1;
}

int tern__base64_decode(const char *in, size_t len, uint8_t *out,
                        size_t *out_len) {
  size_t n = len, i, o = 0, rest;
  uint32_t acc = 0;

  if (len > 0 && !in)
    return TERN_EINVAL;
  /* Padding, when present, must complete the last group of four. */
  if (n > 0 && in[n - 1] == '=') {
    if (n % 4 != 0)
      return TERN_EINVAL;
    n--;
    if (in[n - 1] == '=')
      n--;
  }
  rest = n % 4;
  if (rest == 1)
    return TERN_EINVAL; /* 6 bits cannot make a byte */
  for (i = 0; i < n; i++) {
    int v = b64_value((unsigned char)in[i]);
    if (v < 0)
      return TERN_EINVAL;
    acc = acc << 6 | (uint32_t)v;
    if (i % 4 == 3) {
      out[o++] = (uint8_t)(acc >> 16);
      out[o++] = (uint8_t)(acc >> 8);
      out[o++] = (uint8_t)acc;
      acc = 0;
    }
  }
  /* Unused low bits of the last character are ignored (RFC 4648 lets a
   * decoder accept them; grpc peers do). */
  if (rest == 2) {
    out[o++] = (uint8_t)(acc >> 4);
  } else if (rest == 3) {
    out[o++] = (uint8_t)(acc >> 10);
    out[o++] = (uint8_t)(acc >> 2);
  }
  *out_len = o;
  return TERN_OK;
}

/* ---- percent-encoding ------------------------------------------------- */

static const char hex_upper[] = "0123456789ABCDEF";

static int percent_needed(unsigned char c) {
  return c < 0x20 || c > 0x7e || c == '%';
}

char *tern__percent_encode(const char *s, size_t len, size_t *out_len) {
  size_t i, n = 0, o = 0;
  char *out;

  for (i = 0; i < len; i++) {
    size_t w = percent_needed((unsigned char)s[i]) ? 3 : 1;
    if (n > SIZE_MAX - 1 - w)
      return NULL;
    n += w;
  }
  out = tern__malloc(n + 1);
  if (!out)
    return NULL;
  for (i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (percent_needed(c)) {
      out[o++] = '%';
      out[o++] = hex_upper[c >> 4];
      out[o++] = hex_upper[c & 15];
    } else {
      out[o++] = (char)c;
    }
  }
  out[o] = '\0';
  if (out_len)
    *out_len = o;
  return out;
}

static int hex_value(unsigned char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  return -1;
}

char *tern__percent_decode(const char *s, size_t len, size_t *out_len) {
  size_t i, o = 0;
  char *out;

  if (len == SIZE_MAX)
    return NULL;
  /* Decoding never grows the text. */
  out = tern__malloc(len + 1);
  if (!out)
    return NULL;
  for (i = 0; i < len; i++) {
    if (s[i] == '%' && len - i >= 3) {
      int hi = hex_value((unsigned char)s[i + 1]);
      int lo = hex_value((unsigned char)s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out[o++] = (char)(hi << 4 | lo);
        i += 2;
        continue;
      }
    }
    /* Not a valid escape: kept as it came, as grpc does. */
    out[o++] = s[i];
  }
  out[o] = '\0';
  if (out_len)
    *out_len = o;
  return out;
}

/* ---- grpc-timeout ----------------------------------------------------- */

#define TIMEOUT_MAX_VALUE 99999999 /* 8 digits */

static int64_t unit_ns(char unit) {
  switch (unit) {
  case 'H':
    return INT64_C(3600000000000);
  case 'M':
    return INT64_C(60000000000);
  case 'S':
    return INT64_C(1000000000);
  case 'm':
    return INT64_C(1000000);
  case 'u':
    return INT64_C(1000);
  case 'n':
    return 1;
  default:
    return 0;
  }
}

int tern__timeout_parse(const char *s, size_t len, int64_t *ns_out) {
  size_t i, digits;
  int64_t v = 0, mult;

  if (!s || len < 2)
    return TERN_EINVAL;
  digits = len - 1;
  if (digits > 8)
    return TERN_EINVAL;
  for (i = 0; i < digits; i++) {
    if (s[i] < '0' || s[i] > '9')
      return TERN_EINVAL;
    v = v * 10 + (s[i] - '0');
  }
  mult = unit_ns(s[digits]);
  if (mult == 0)
    return TERN_EINVAL;
  /* 99999999H is about 40 times INT64_MAX nanoseconds. */
  if (v > INT64_MAX / mult)
    *ns_out = INT64_MAX;
  else
    *ns_out = v * mult;
  return TERN_OK;
}

size_t tern__timeout_format(int64_t ns, char *out) {
  static const char units[] = "numSMH";
  size_t i;
  int64_t v = 1;
  char unit = 'n';

  if (ns > 0) {
    for (i = 0; units[i]; i++) {
      int64_t d = unit_ns(units[i]);
      /* Round up: a shorter deadline would fail calls early. */
      v = ns / d + (ns % d != 0);
      unit = units[i];
      if (v <= TIMEOUT_MAX_VALUE)
        break;
    }
  }
  /* INT64_MAX ns is about 2.6 million hours, so 'H' always fits. */
  return (size_t)snprintf(out, 16, "%lld%c", (long long)v, unit);
}
