/* fuzz_metadata: what a peer's header values go through.
 *   - the header parsers of both call sides (the stream's on_header, then
 *     on_headers_end upcalls), which reach tern__metadata_add_wire
 *     (base64 "-bin" values, comma-joined lists), tern__timeout_parse,
 *     tern__percent_decode (grpc-message), tern__status_parse
 *     (grpc-status), tern__compression_parse and
 *     tern__accept_encoding_parse;
 *   - each of those parsers directly on the whole input, with round-trip
 *     checks against the matching encoder;
 *   - the public metadata API on the parsed lists (add, get, append).
 *
 * Input: a header block as lines "name:value" separated by '\n' (a line
 * without ':' is a name with an empty value). The first byte's low bit
 * picks the side (1: client), the second-lowest ends the block with
 * END_STREAM (client: trailers-only). */
#include <stdio.h>

#include "call/call_int.h"
#include "fuzz_common.h"

static const tern_method raw_method = {sizeof(tern_method), "M", "/f.F/M",
                                       TERN_METHOD_BIDI_STREAMING,
                                       &fuzz_raw_codec, NULL, NULL, NULL};
static void destroy_noop(struct tern_call *c) { (void)c; }
static const tern__call_hooks hooks = {NULL, NULL, NULL, NULL, destroy_noop,
                                       NULL, NULL, NULL};

static void check_list(const tern_metadata *md) {
  size_t i, n = tern_metadata_count(md);
  for (i = 0; i < n; i++) {
    const char *k, *v;
    size_t len;
    FUZZ_CHECK(tern_metadata_get_at(md, i, &k, &v, &len) == TERN_OK);
    FUZZ_CHECK(k != NULL && v != NULL && v[len] == '\0');
    FUZZ_CHECK(tern_metadata_get(md, k, NULL) != NULL);
  }
  FUZZ_CHECK(tern_metadata_get_at(md, n, NULL, NULL, NULL) == TERN_EINVAL);
}

/* The parsers on their own, on the same bytes. */
static void parsers(const char *s, size_t n) {
  int64_t ns;
  int code;
  size_t out_len, i;
  char *dec, *enc;
  uint8_t *bin;

  if (tern__timeout_parse(s, n, &ns) == TERN_OK) {
    char buf[16];
    int64_t back;
    size_t flen;
    FUZZ_CHECK(ns >= 0);
    flen = tern__timeout_format(ns, buf);
    FUZZ_CHECK(flen >= 2 && flen <= 9 && buf[flen] == '\0');
    FUZZ_CHECK(tern__timeout_parse(buf, flen, &back) == TERN_OK);
    /* Formatting rounds up, never shortens a deadline. */
    FUZZ_CHECK(back >= ns || ns == 0);
  }

  if (tern__status_parse(s, n, &code) == TERN_OK)
    FUZZ_CHECK(code >= 0);

  FUZZ_CHECK(tern__accept_encoding_parse(s, n) &
             (1u << TERN_COMPRESS_IDENTITY));
  code = tern__compression_parse(s, n);
  FUZZ_CHECK(code == -1 || code == TERN_COMPRESS_IDENTITY ||
             code == TERN_COMPRESS_DEFLATE || code == TERN_COMPRESS_GZIP);

  dec = tern__percent_decode(s, n, &out_len);
  FUZZ_CHECK(dec != NULL);
  FUZZ_CHECK(out_len <= n && dec[out_len] == '\0');
  free(dec);
  enc = tern__percent_encode(s, n, &out_len);
  FUZZ_CHECK(enc != NULL);
  for (i = 0; i < out_len; i++)
    FUZZ_CHECK(enc[i] >= 0x20 && enc[i] <= 0x7e);
  dec = tern__percent_decode(enc, out_len, &out_len);
  FUZZ_CHECK(dec != NULL && out_len == n && memcmp(dec, s, n) == 0);
  free(dec);
  free(enc);

  /* Exactly the documented room, so that ASan sees any overrun. */
  bin = malloc((n / 4 + 1) * 3);
  FUZZ_CHECK(bin != NULL);
  if (tern__base64_decode(s, n, bin, &out_len) == TERN_OK)
    FUZZ_CHECK(out_len <= (n / 4 + 1) * 3 && out_len <= n);
  free(bin);
  enc = malloc(tern__base64_encoded_len(n) + 1);
  bin = malloc((tern__base64_encoded_len(n) / 4 + 1) * 3);
  FUZZ_CHECK(enc && bin);
  out_len = tern__base64_encode((const uint8_t *)s, n, enc);
  FUZZ_CHECK(out_len == tern__base64_encoded_len(n));
  FUZZ_CHECK(tern__base64_decode(enc, out_len, bin, &out_len) == TERN_OK);
  FUZZ_CHECK(out_len == n && memcmp(bin, s, n) == 0);
  free(enc);
  free(bin);

  (void)tern__metadata_key_valid(s, n);
  (void)tern__metadata_key_reserved(s, n);
  (void)tern__metadata_is_bin_key(s, n);
}

/* Feeds the lines as one header block to a call of the given side. */
static void header_block(const char *s, size_t n, int is_client,
                         int end_stream) {
  struct tern_call c;
  tern_metadata *copy;
  size_t off = 0;

  FUZZ_CHECK(tern__call_init(&c, is_client, &raw_method, &hooks, NULL,
                             1024) == TERN_OK);
  while (off < n) {
    const char *line = s + off, *nl = memchr(line, '\n', n - off);
    size_t llen = nl ? (size_t)(nl - line) : n - off;
    const char *colon = memchr(line + (llen > 0 && line[0] == ':'), ':',
                               llen - (llen > 0 && line[0] == ':'));
    size_t klen = colon ? (size_t)(colon - line) : llen;
    const char *v = colon ? colon + 1 : line + llen;
    size_t vlen = colon ? llen - klen - 1 : 0;
    /* 0 or -1 (out of memory); either is fine, a crash is not. */
    int rv = c.a0.stream.ops->on_header(&c.a0.stream, (const uint8_t *)line, klen,
                                     (const uint8_t *)v, vlen);
    FUZZ_CHECK(rv == 0 || rv == -1);
    off += llen + 1;
  }
  c.a0.stream.ops->on_headers_end(&c.a0.stream,
                               end_stream ? TERN__HEADERS_END_STREAM : 0);

  /* What the call kept is a well-formed list that copies. */
  FUZZ_CHECK(tern_metadata_new(&copy) == TERN_OK);
  if (c.in_md) {
    check_list(c.in_md);
    FUZZ_CHECK(tern__metadata_append(copy, c.in_md) == TERN_OK);
    FUZZ_CHECK(tern__metadata_append(copy, copy) == TERN_OK);
    FUZZ_CHECK(tern_metadata_count(copy) == 2 * tern_metadata_count(c.in_md));
  }
  if (c.trailers)
    check_list(c.trailers);
  check_list(copy);
  tern_metadata_free(copy);
  if (c.grpc_message)
    FUZZ_CHECK(strlen(c.grpc_message) <= n);
  FUZZ_CHECK(c.grpc_status == -1 ||
             (c.grpc_status >= 0 && c.grpc_status <= 16));
  FUZZ_CHECK(c.timeout_ns >= -1);
  tern__call_cleanup(&c);
}

/* The public adder on key/value split at the first '=' (NUL-terminated
 * copies: it takes C strings). */
static void public_add(const char *s, size_t n) {
  tern_metadata *md;
  const char *eq = memchr(s, '=', n);
  size_t klen = eq ? (size_t)(eq - s) : n;
  char *k = malloc(klen + 1), *v = malloc(n - klen + 1);
  FUZZ_CHECK(k && v);
  memcpy(k, s, klen);
  k[klen] = '\0';
  memcpy(v, eq ? eq + 1 : s + n, eq ? n - klen - 1 : 0);
  v[eq ? n - klen - 1 : 0] = '\0';
  FUZZ_CHECK(tern_metadata_new(&md) == TERN_OK);
  if (tern_metadata_add(md, k, v) == TERN_OK) {
    const char *got;
    size_t len;
    FUZZ_CHECK(tern_metadata_count(md) == 1);
    got = tern_metadata_get(md, k, &len);
    FUZZ_CHECK(got != NULL && len == strlen(v) && strcmp(got, v) == 0);
  }
  (void)tern_metadata_add_bin(md, k, v, strlen(v));
  (void)tern_metadata_add_bearer(md, v);
  check_list(md);
  tern_metadata_clear(md);
  FUZZ_CHECK(tern_metadata_count(md) == 0);
  tern_metadata_free(md);
  free(k);
  free(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *s = (const char *)data;
  if (size > 64 * 1024)
    return 0;
  parsers(s, size);
  if (size > 0) {
    header_block(s + 1, size - 1, data[0] & 1, (data[0] >> 1) & 1);
    public_add(s + 1, size - 1);
  }
  return 0;
}
