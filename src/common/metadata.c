/* Metadata lists: ordered (key, value) pairs with the key rules of grpc's
 * PROTOCOL-HTTP2.md, and the "-bin" base64 handling of the wire. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common_int.h"

/* One allocation holds "key\0value\0"; value may contain NULs ("-bin"). */
typedef struct md_entry {
  char *key;
  char *value;
  size_t key_len;
  size_t value_len;
} md_entry;

struct tern_metadata {
  md_entry *entries;
  size_t count;
  size_t cap;
};

static char lower_ascii(char c) {
  return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Case-insensitive equality of a counted key and a NUL-terminated one. */
static int key_equals(const char *key, size_t len, const char *lit) {
  size_t i;
  for (i = 0; i < len; i++) {
    if (lit[i] == '\0' || lower_ascii(key[i]) != lit[i])
      return 0;
  }
  return lit[len] == '\0';
}

static int key_char_valid(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '_' ||
         c == '-' || c == '.';
}

int tern__metadata_key_valid(const char *key, size_t len) {
  size_t i;
  if (!key || len == 0)
    return 0;
  for (i = 0; i < len; i++) {
    if (!key_char_valid(key[i]))
      return 0;
  }
  return 1;
}

int tern__metadata_key_reserved(const char *key, size_t len) {
  static const char *const reserved[] = {
      "content-type",     "te",
      "user-agent",       "grpc-timeout",
      "grpc-encoding",    "grpc-accept-encoding",
      "grpc-status",      "grpc-message",
      "connection",       "host",
      "content-length",   "transfer-encoding",
      "keep-alive",       "upgrade",
      "proxy-connection",
  };
  size_t i;

  if (!key || len == 0)
    return 0;
  if (key[0] == ':')
    return 1;
  for (i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
    if (key_equals(key, len, reserved[i]))
      return 1;
  }
  return 0;
}

int tern__metadata_is_bin_key(const char *key, size_t len) {
  return key && len >= 4 && key_equals(key + len - 4, 4, "-bin");
}

static int value_printable(const char *v, size_t len) {
  size_t i;
  for (i = 0; i < len; i++) {
    unsigned char c = (unsigned char)v[i];
    if (c < 0x20 || c > 0x7e)
      return 0;
  }
  return 1;
}

const tern_metadata *tern__metadata_empty(void) {
  static const tern_metadata empty = {NULL, 0, 0};
  return &empty;
}

int tern_metadata_new(tern_metadata **md_out) {
  tern_metadata *md;
  if (!md_out)
    return TERN_EINVAL;
  md = tern__zalloc(sizeof(*md));
  *md_out = md;
  return md ? TERN_OK : TERN_ENOMEM;
}

static void entry_free(md_entry *e) { tern__free(e->key); }

void tern_metadata_clear(tern_metadata *md) {
  size_t i;
  if (!md)
    return;
  for (i = 0; i < md->count; i++)
    entry_free(&md->entries[i]);
  md->count = 0;
}

void tern_metadata_free(tern_metadata *md) {
  if (!md)
    return;
  tern_metadata_clear(md);
  tern__free(md->entries);
  tern__free(md);
}

/* Drops the entries added after a failure part-way, so that every adding
 * function either appends everything or nothing. */
static void truncate_to(tern_metadata *md, size_t count) {
  while (md->count > count)
    entry_free(&md->entries[--md->count]);
}

static int ensure_room(tern_metadata *md) {
  size_t cap;
  md_entry *p;
  if (md->count < md->cap)
    return TERN_OK;
  cap = md->cap ? md->cap * 2 : 8;
  if (cap > SIZE_MAX / sizeof(md_entry))
    return TERN_ENOMEM;
  p = tern__realloc(md->entries, cap * sizeof(md_entry));
  if (!p)
    return TERN_ENOMEM;
  md->entries = p;
  md->cap = cap;
  return TERN_OK;
}

/* Appends an entry with a lower-cased copy of key and room for vcap value
 * bytes; the caller fills the value and calls entry_finish(). */
static md_entry *entry_start(tern_metadata *md, const char *key, size_t klen,
                             size_t vcap) {
  md_entry *e;
  size_t i;
  char *block;

  if (ensure_room(md) != TERN_OK)
    return NULL;
  if (klen > SIZE_MAX - 2 || vcap > SIZE_MAX - 2 - klen)
    return NULL;
  block = tern__malloc(klen + vcap + 2);
  if (!block)
    return NULL;
  for (i = 0; i < klen; i++)
    block[i] = lower_ascii(key[i]);
  block[klen] = '\0';
  e = &md->entries[md->count++];
  e->key = block;
  e->key_len = klen;
  e->value = block + klen + 1;
  e->value_len = 0;
  return e;
}

static void entry_finish(md_entry *e, size_t vlen) {
  e->value_len = vlen;
  e->value[vlen] = '\0';
}

static int add_copy(tern_metadata *md, const char *key, size_t klen,
                    const void *value, size_t vlen) {
  md_entry *e = entry_start(md, key, klen, vlen);
  if (!e)
    return TERN_ENOMEM;
  if (vlen)
    memcpy(e->value, value, vlen);
  entry_finish(e, vlen);
  return TERN_OK;
}

/* Checks what a user may add: a valid key in any case, not one the
 * transport owns, and a printable value unless the key is "-bin". */
static int user_entry_valid(const char *key, size_t klen, const char *value,
                            size_t vlen) {
  size_t i;
  if (klen == 0)
    return 0;
  for (i = 0; i < klen; i++) {
    if (!key_char_valid(lower_ascii(key[i])))
      return 0;
  }
  if (tern__metadata_key_reserved(key, klen))
    return 0;
  if (!tern__metadata_is_bin_key(key, klen) && !value_printable(value, vlen))
    return 0;
  return 1;
}

int tern_metadata_add(tern_metadata *md, const char *key, const char *value) {
  size_t klen, vlen;
  if (!md || !key || !value)
    return TERN_EINVAL;
  klen = strlen(key);
  vlen = strlen(value);
  if (!user_entry_valid(key, klen, value, vlen))
    return TERN_EINVAL;
  return add_copy(md, key, klen, value, vlen);
}

int tern_metadata_add_bin(tern_metadata *md, const char *key, const void *value,
                          size_t len) {
  size_t klen;
  if (!md || !key || (!value && len > 0))
    return TERN_EINVAL;
  klen = strlen(key);
  if (!user_entry_valid(key, klen, value, len))
    return TERN_EINVAL;
  return add_copy(md, key, klen, value, len);
}

size_t tern_metadata_count(const tern_metadata *md) {
  return md ? md->count : 0;
}

int tern_metadata_get_at(const tern_metadata *md, size_t i, const char **key,
                         const char **value, size_t *len) {
  const md_entry *e;
  if (!md || i >= md->count)
    return TERN_EINVAL;
  e = &md->entries[i];
  if (key)
    *key = e->key;
  if (value)
    *value = e->value;
  if (len)
    *len = e->value_len;
  return TERN_OK;
}

const char *tern_metadata_get(const tern_metadata *md, const char *key,
                              size_t *len_out) {
  size_t i, klen;
  if (!md || !key)
    return NULL;
  klen = strlen(key);
  for (i = 0; i < md->count; i++) {
    const md_entry *e = &md->entries[i];
    /* Stored keys are lower case; the one asked for may not be. */
    if (e->key_len == klen && key_equals(key, klen, e->key)) {
      if (len_out)
        *len_out = e->value_len;
      return e->value;
    }
  }
  return NULL;
}

static int is_ows(char c) { return c == ' ' || c == '\t'; }

/* A "-bin" value from the wire may be several base64 values joined with
 * "," by an intermediary; each becomes its own entry. */
static int add_wire_bin(tern_metadata *md, const char *key, size_t klen,
                        const char *value, size_t vlen) {
  size_t start = 0, before = md->count;

  for (;;) {
    size_t end = start, a, b, out_len;
    md_entry *e;
    while (end < vlen && value[end] != ',')
      end++;
    a = start;
    b = end;
    while (a < b && is_ows(value[a]))
      a++;
    while (b > a && is_ows(value[b - 1]))
      b--;
    e = entry_start(md, key, klen, ((b - a) / 4 + 1) * 3);
    if (!e) {
      truncate_to(md, before);
      return TERN_ENOMEM;
    }
    if (tern__base64_decode(value + a, b - a, (uint8_t *)e->value, &out_len) !=
        TERN_OK) {
      truncate_to(md, before);
      return TERN_EINVAL;
    }
    entry_finish(e, out_len);
    if (end >= vlen)
      break;
    start = end + 1;
  }
  return TERN_OK;
}

int tern__metadata_add_wire(tern_metadata *md, const char *key, size_t klen,
                            const char *value, size_t vlen) {
  if (!md || !key || klen == 0 || memchr(key, '\0', klen) ||
      (!value && vlen > 0))
    return TERN_EINVAL;
  /* Keys are not checked against the stricter gRPC rules: nghttp2 has
   * checked them as HTTP/2 field names, and dropping a peer's metadata
   * for a character gRPC does not name helps nobody. */
  if (tern__metadata_is_bin_key(key, klen))
    return add_wire_bin(md, key, klen, value ? value : "", vlen);
  return add_copy(md, key, klen, value, vlen);
}

int tern__metadata_append(tern_metadata *dst, const tern_metadata *src) {
  size_t i, n, before;
  if (!dst)
    return TERN_EINVAL;
  if (!src)
    return TERN_OK;
  /* dst may be src: copy only what was there, and copy each entry's
   * fields out before the array can move. */
  n = src->count;
  before = dst->count;
  for (i = 0; i < n; i++) {
    md_entry e = src->entries[i];
    if (add_copy(dst, e.key, e.key_len, e.value, e.value_len) != TERN_OK) {
      truncate_to(dst, before);
      return TERN_ENOMEM;
    }
  }
  return TERN_OK;
}

int tern_metadata_add_bearer(tern_metadata *md, const char *token) {
  size_t n;
  char *v;
  int rv;
  if (!md || !token)
    return TERN_EINVAL;
  n = strlen(token) + sizeof("Bearer ");
  v = tern__malloc(n);
  if (!v)
    return TERN_ENOMEM;
  snprintf(v, n, "Bearer %s", token);
  rv = tern_metadata_add(md, "authorization", v);
  tern__free(v);
  return rv;
}
