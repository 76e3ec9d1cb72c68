/* The parts of a call both sides share: the 5-byte message framing, header
 * parsing, queues between the loop and user threads, and the data
 * provider that feeds nghttp2 from the outbound queue. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call/call_int.h"
#include "transport/transport_int.h"

static void kick_task(tern__task *t);

int tern__call_init(struct tern_call *call, int is_client,
                    const tern_method *method, const tern__call_hooks *hooks,
                    tern__loop *loop, int64_t max_recv) {
  memset(call, 0, offsetof(struct tern_call, arena_inline));
  call->is_client = is_client;
  call->method = method;
  call->hooks = hooks;
  call->loop = loop;
  call->max_recv = max_recv;
  call->refs = 1;
  call->retryable = is_client;
  call->timeout_ns = -1;
  call->grpc_status = -1;
  call->send_alg = TERN_COMPRESS_IDENTITY;
  call->peer_accept = 1u << TERN_COMPRESS_IDENTITY;
  tern__task_init(&call->kick, kick_task, call);
  tern__timer_init(&call->deadline_timer, NULL, call);
  /* in_md and trailers are made when their first entry arrives: most
   * calls carry none. The mutex and condition only when the call is
   * shared (tern__call_share). */
  return TERN_OK;
}

int tern__call_share(struct tern_call *call) {
  if (!call->sync_ready) {
    if (pthread_mutex_init(&call->mu, NULL) != 0)
      return TERN_ENOMEM;
    if (pthread_cond_init(&call->cv, NULL) != 0) {
      pthread_mutex_destroy(&call->mu);
      return TERN_ENOMEM;
    }
    call->sync_ready = 1;
  }
  call->shared = 1;
  return TERN_OK;
}

/* ---- the call arena and message buffers ------------------------------------ */

/* Caller holds mu (when shared). */
static void *arena_alloc_locked(struct tern_call *call, size_t size) {
  size_t unit = sizeof(tern__arena_unit);
  size_t units = size ? (size + unit - 1) / unit : 1;
  tern__arena_block *b = call->arena;
  void *p;
  if (size > SIZE_MAX / 2)
    return NULL;
  if (units <= TERN__ARENA_INLINE_UNITS - call->arena_inline_used) {
    p = &call->arena_inline[call->arena_inline_used];
    call->arena_inline_used += units;
    return p;
  }
  if (!b || units > b->units - b->used) {
    /* Blocks double (from 1 KiB, up to 64 KiB) so a decode of many small
     * pieces takes few mallocs. */
    size_t n = b ? b->units * 2 : 1024 / unit;
    if (n > 65536 / unit)
      n = 65536 / unit;
    if (n < units)
      n = units;
    b = malloc(sizeof(*b) + n * unit);
    if (!b)
      return NULL;
    b->units = n;
    b->used = 0;
    b->next = call->arena;
    call->arena = b;
  }
  p = &b->data[b->used];
  b->used += units;
  return p;
}

void *tern__call_alloc(struct tern_call *call, size_t size, int zero) {
  void *p;
  tern__call_lock(call);
  p = arena_alloc_locked(call, size);
  tern__call_unlock(call);
  if (p && zero)
    memset(p, 0, size);
  return p;
}

static void *arena_alloc_cb(void *ctx, size_t n) {
  return tern__call_alloc(ctx, n, 0);
}

tern__msg *tern__call_msg_new(struct tern_call *call, int dir, size_t len) {
  tern__msg *m = NULL;
  if (len > SIZE_MAX / 2)
    return NULL;
  if (call && !(__atomic_load_n(&call->arena_msgs, __ATOMIC_RELAXED) &
                (1u << dir))) {
    /* The first message each way: the arena (a unary call's only ones). */
    tern__call_lock(call);
    if (!(call->arena_msgs & (1u << dir))) {
      m = arena_alloc_locked(call, sizeof(*m) + len);
      if (m) {
        __atomic_fetch_or(&call->arena_msgs, 1u << dir, __ATOMIC_RELAXED);
        m->in_arena = 1;
        m->cap = len;
      }
    }
    tern__call_unlock(call);
  }
  if (!m && call) {
    m = __atomic_exchange_n(&call->spare[dir], NULL, __ATOMIC_ACQ_REL);
    if (m && m->cap < len) {
      free(m);
      m = NULL;
    }
  }
  if (!m) {
    m = malloc(sizeof(*m) + len);
    if (!m)
      return NULL;
    m->in_arena = 0;
    m->cap = len;
  }
  m->next = NULL;
  m->len = len;
  m->off = 0;
  m->compressed = 0;
  m->dir = (uint8_t)dir;
  return m;
}

void tern__call_msg_free(struct tern_call *call, tern__msg *m) {
  if (!m || m->in_arena)
    return;
  if (call && m->cap <= TERN__SPARE_MAX) {
    /* Keep the newest buffer: the one more likely to be the right size. */
    m = __atomic_exchange_n(&call->spare[m->dir], m, __ATOMIC_ACQ_REL);
  }
  free(m);
}

static void free_msgs(struct tern_call *call, tern__msg *m) {
  while (m) {
    tern__msg *next = m->next;
    tern__call_msg_free(call, m);
    m = next;
  }
}

void tern__call_cleanup(struct tern_call *call) {
  tern__arena_block *b = call->arena;
  free_msgs(NULL, call->in_head);
  free_msgs(NULL, call->out_head);
  free_msgs(NULL, call->sent_head);
  tern__call_msg_free(NULL, call->partial);
  tern__call_msg_free(NULL, call->spare[0]);
  tern__call_msg_free(NULL, call->spare[1]);
  while (b) {
    tern__arena_block *next = b->next;
    free(b);
    b = next;
  }
  tern_metadata_free(call->in_md);
  tern_metadata_free(call->trailers);
  tern_metadata_free(call->out_headers);
  free(call->message);
  free(call->grpc_message);
  if (call->sync_ready) {
    pthread_cond_destroy(&call->cv);
    pthread_mutex_destroy(&call->mu);
  }
}

void tern__call_ref(struct tern_call *call) {
  __atomic_fetch_add(&call->refs, 1, __ATOMIC_RELAXED);
}

void tern__call_unref(struct tern_call *call) {
  if (__atomic_sub_fetch(&call->refs, 1, __ATOMIC_ACQ_REL) == 0)
    call->hooks->destroy(call);
}

/* ---- waking the loop ---------------------------------------------------- */

static void kick_task(tern__task *t) {
  struct tern_call *call = t->data;
  if (call->hooks->on_kick)
    call->hooks->on_kick(call);
  else
    tern__call_kick_now(call);
  tern__call_unref(call); /* taken by tern__call_wake */
}

void tern__call_wake(struct tern_call *call) {
  /* A queued kick holds a reference so the call outlives it. */
  tern__call_ref(call);
  if (!tern__loop_post(call->loop, &call->kick))
    tern__call_unref(call); /* already queued: that one holds a ref */
}

/* ---- header building --------------------------------------------------- */

typedef struct nvlist {
  nghttp2_nv *nv;
  size_t n, cap;
  char **owned; /* base64 values to free after submit */
  size_t n_owned;
  int failed;
  nghttp2_nv local[12]; /* most header blocks fit: no allocation */
  char status[12];      /* grpc-status digits */
} nvlist;

static void nv_init(nvlist *l) {
  l->nv = l->local;
  l->n = 0;
  l->cap = sizeof(l->local) / sizeof(l->local[0]);
  l->owned = NULL;
  l->n_owned = 0;
  l->failed = 0;
}

static void nv_add(nvlist *l, const char *name, size_t nlen,
                   const char *value, size_t vlen) {
  if (l->failed)
    return;
  if (l->n == l->cap) {
    size_t cap = l->cap * 2;
    nghttp2_nv *nv = malloc(cap * sizeof(*nv));
    if (!nv) {
      l->failed = 1;
      return;
    }
    memcpy(nv, l->nv, l->n * sizeof(*nv));
    if (l->nv != l->local)
      free(l->nv);
    l->nv = nv;
    l->cap = cap;
  }
  l->nv[l->n].name = (uint8_t *)name;
  l->nv[l->n].namelen = nlen;
  l->nv[l->n].value = (uint8_t *)value;
  l->nv[l->n].valuelen = vlen;
  l->nv[l->n].flags = NGHTTP2_NV_FLAG_NONE;
  l->n++;
}

#define NV_LIT(l, n, v) nv_add(l, n, sizeof(n) - 1, v, sizeof(v) - 1)

static char *nv_own(nvlist *l, char *s) {
  char **o;
  if (!s) {
    l->failed = 1;
    return NULL;
  }
  o = realloc(l->owned, (l->n_owned + 1) * sizeof(*o));
  if (!o) {
    free(s);
    l->failed = 1;
    return NULL;
  }
  l->owned = o;
  o[l->n_owned++] = s;
  return s;
}

static void nv_add_md(nvlist *l, const tern_metadata *md) {
  size_t i, n = md ? tern_metadata_count(md) : 0;
  for (i = 0; i < n; i++) {
    const char *k, *v;
    size_t vlen, klen;
    tern_metadata_get_at(md, i, &k, &v, &vlen);
    klen = strlen(k);
    if (tern__metadata_key_reserved(k, klen))
      continue;
    if (tern__metadata_is_bin_key(k, klen)) {
      char *enc = nv_own(l, malloc(tern__base64_encoded_len(vlen) + 1));
      size_t elen;
      if (!enc)
        return;
      elen = tern__base64_encode((const uint8_t *)v, vlen, enc);
      nv_add(l, k, klen, enc, elen);
    } else {
      nv_add(l, k, klen, v, vlen);
    }
  }
}

static void nv_free(nvlist *l) {
  size_t i;
  for (i = 0; i < l->n_owned; i++)
    free(l->owned[i]);
  free(l->owned);
  if (l->nv != l->local)
    free(l->nv);
}

/* Status lines for a server's trailers. Caller holds mu. */
static void nv_add_status(nvlist *l, struct tern_call *call) {
  unsigned code = (unsigned)call->code;
  size_t len = 0;
  char digits[12];
  /* No snprintf on the hot path: at most two digits in practice. */
  do {
    digits[len++] = (char)('0' + code % 10);
    code /= 10;
  } while (code && len < sizeof(digits));
  for (code = 0; code < len; code++)
    l->status[code] = digits[len - 1 - code];
  nv_add(l, "grpc-status", 11, l->status, len);
  if (call->message && call->message[0]) {
    size_t elen;
    char *enc = nv_own(
        l, tern__percent_encode(call->message, strlen(call->message), &elen));
    if (enc)
      nv_add(l, "grpc-message", 12, enc, elen);
  }
  nv_add_md(l, call->trailers);
}

/* ---- server responses ----------------------------------------------------- */

/* Loop thread. Submits the response headers (with the data provider), or
 * a trailers-only response when the status is set and nothing else is to
 * be sent. */
static void server_submit(struct tern_call *call) {
  nvlist l;
  int trailers_only;
  int rv;
  nv_init(&l);
  tern__call_lock(call);
  /* Trailers-only when there is nothing but a status to send; initial
   * metadata the handler added goes in a HEADERS frame of its own, as
   * grpc C++ and grpc-go do. */
  trailers_only = call->out_closed && !call->out_head && !call->send_headers &&
                  (!call->out_headers || tern_metadata_count(call->out_headers) == 0);
  NV_LIT(&l, ":status", "200");
  NV_LIT(&l, "content-type", "application/grpc");
  NV_LIT(&l, "grpc-accept-encoding", TERN__ACCEPT_ENCODING);
  if (!trailers_only && tern__call_effective_alg(call) > TERN_COMPRESS_IDENTITY) {
    const char *name = tern_compression_name(
        (tern_compression)tern__call_effective_alg(call));
    nv_add(&l, "grpc-encoding", 13, name, strlen(name));
  }
  nv_add_md(&l, call->out_headers);
  if (trailers_only)
    nv_add_status(&l, call);
  tern__call_unlock(call);
  if (l.failed) {
    nv_free(&l);
    tern__call_reset(call, NGHTTP2_INTERNAL_ERROR);
    return;
  }
  call->submitted = 1;
  if (trailers_only) {
    call->out_eof_sent = 1;
    rv = nghttp2_submit_response(call->conn->session, call->stream_id, l.nv,
                                 l.n, NULL);
  } else {
    nghttp2_data_provider dp = tern__call_data_provider;
    dp.source.ptr = call;
    rv = nghttp2_submit_response(call->conn->session, call->stream_id, l.nv,
                                 l.n, &dp);
  }
  nv_free(&l);
  if (rv != 0)
    tern__call_reset(call, NGHTTP2_INTERNAL_ERROR);
}

void tern__call_reset(struct tern_call *call, uint32_t error) {
  if (!call->conn || call->rst_sent || call->stream_id <= 0)
    return;
  call->rst_sent = 1;
  nghttp2_submit_rst_stream(call->conn->session, NGHTTP2_FLAG_NONE,
                            call->stream_id, error);
  tern__conn_schedule_flush(call->conn);
}

void tern__call_kick_now(struct tern_call *call) {
  int has_out, cancel, credit;
  tern__conn *conn = call->conn;
  if (!conn || conn->closed)
    return;
  tern__call_lock(call);
  cancel = call->cancel_requested;
  has_out = call->out_head != NULL || call->out_closed || call->send_headers;
  credit = call->credit_wanted;
  call->credit_wanted = 0;
  if (credit && call->in_bytes > TERN__READ_HIGH_WATER)
    credit = 0;
  tern__call_unlock(call);

  if (cancel) {
    tern__call_reset(call, NGHTTP2_CANCEL);
    return;
  }
  if (credit && call->credit_held > 0) {
    nghttp2_session_consume_stream(conn->session, call->stream_id,
                                   call->credit_held);
    call->credit_held = 0;
  }
  if (!call->is_client && !call->submitted && has_out)
    server_submit(call);
  else if (call->data_deferred && has_out) {
    call->data_deferred = 0;
    nghttp2_session_resume_data(conn->session, call->stream_id);
  }
  tern__conn_schedule_flush(conn);
}

/* ---- messages ---------------------------------------------------------------- */

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
    uint8_t *tmp = malloc(n ? n : 1);
    int rv;
    if (!tmp)
      return TERN_ENOMEM;
    if (n > 0 && codec->encode(type, msg, tmp) != n) {
      free(tmp);
      return TERN_EINVAL;
    }
    rv = tern__compress_frame(call, (tern_compression)alg, tmp, n, out);
    free(tmp);
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
  /* on_data let only supported algorithms through */
  rv = tern__decompress((tern_compression)call->recv_alg, m->data, m->len,
                        call->max_recv, &plain, &plen);
  if (rv != TERN_OK)
    return rv;
  rv = decode_bytes(call, type, plain, plen, msg_out, arena);
  free(plain);
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

int tern__call_queue_out(struct tern_call *call, tern__msg *m, int mode) {
  int rv = TERN_OK;
  tern__call_lock(call);
  /* Only a shared call can wait: its loop thread must never block. */
  while (mode == TERN__QUEUE_WAIT && call->shared && !call->done &&
         !call->aborted &&
         !call->out_closed && call->out_head &&
         call->out_bytes + m->len > TERN__WRITE_HIGH_WATER)
    pthread_cond_wait(&call->cv, &call->mu);
  if (call->done || call->aborted || call->cancel_requested)
    rv = TERN_ECLOSED;
  else if (call->out_closed)
    rv = TERN_ESTATE;
  else if (mode == TERN__QUEUE_EAGAIN && call->out_head &&
           call->out_bytes + m->len > TERN__WRITE_HIGH_WATER) {
    call->want_write = 1;
    rv = TERN_EAGAIN;
  }
  if (rv != TERN_OK) {
    tern__call_unlock(call);
    tern__call_msg_free(call, m);
    return rv;
  }
  if (call->out_tail)
    call->out_tail->next = m;
  else
    call->out_head = m;
  call->out_tail = m;
  call->out_bytes += m->len;
  call->out_committed = 1;
  tern__call_unlock(call);
  return TERN_OK;
}

int tern__call_take_in(struct tern_call *call, tern__msg **m_out, int wait) {
  int rv;
  tern__call_lock(call);
  for (;;) {
    if (call->in_head) {
      tern__msg *m = call->in_head;
      int was_high = call->in_bytes > TERN__READ_HIGH_WATER;
      call->in_head = m->next;
      if (!call->in_head)
        call->in_tail = NULL;
      call->in_bytes -= m->len;
      *m_out = m;
      rv = 1;
      if (was_high && call->in_bytes <= TERN__READ_HIGH_WATER &&
          !call->done) {
        call->credit_wanted = 1;
        tern__call_unlock(call);
        tern__call_wake(call);
        return rv;
      }
      break;
    }
    if (call->in_closed) {
      rv = 0;
      break;
    }
    if (call->done || call->aborted || call->cancel_requested) {
      rv = TERN_ECLOSED;
      break;
    }
    if (!wait || !call->shared) {
      rv = TERN_ETIMEDOUT;
      break;
    }
    pthread_cond_wait(&call->cv, &call->mu);
  }
  tern__call_unlock(call);
  return rv;
}

/* ---- inbound: headers ----------------------------------------------------- */

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
    return 0; /* :scheme; nghttp2 has checked the rest */
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

static int client_header(struct tern_call *call, const uint8_t *name,
                         size_t nlen, const uint8_t *value, size_t vlen) {
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
    free(call->grpc_message);
    call->grpc_message =
        tern__percent_decode((const char *)value, vlen, NULL);
  } else if (!tern__metadata_key_reserved((const char *)name, nlen)) {
    /* First HEADERS frame: initial metadata, unless it turns out to be
     * trailers-only (then moved to the trailers at the frame's end). */
    tern_metadata **slot =
        call->headers_frame_seen ? &call->trailers : &call->in_md;
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

int tern__call_on_header(struct tern_call *call, const uint8_t *name,
                         size_t namelen, const uint8_t *value,
                         size_t valuelen) {
  if (call->is_client)
    return client_header(call, name, namelen, value, valuelen);
  return server_header(call, name, namelen, value, valuelen);
}

void tern__call_on_headers_done(struct tern_call *call, int end_stream) {
  call->header_bytes = 0; /* the limit is per header block */
  if (call->headers_too_big) {
    call->headers_too_big = 0;
    tern__call_fail(call, TERN_STATUS_RESOURCE_EXHAUSTED,
                    "header list larger than the limit");
    return;
  }
  if (call->is_client) {
    tern__call_lock(call);
    if (!call->headers_frame_seen) {
      call->headers_frame_seen = 1;
      if (end_stream) {
        /* Trailers-only: what came is trailing metadata. */
        tern_metadata_free(call->trailers);
        call->trailers = call->in_md;
        call->in_md = NULL;
      }
      call->headers_in = 1;
      /* The server has the call: a replay is no longer possible. */
      call->retryable = 0;
      free_msgs(call, call->sent_head);
      call->sent_head = call->sent_tail = NULL;
      call->sent_bytes = 0;
      tern__call_broadcast(call);
    }
    tern__call_unlock(call);
    if (call->hooks->on_headers)
      call->hooks->on_headers(call);
  } else if (!call->headers_frame_seen) {
    /* Only the request headers dispatch: a second block (request
     * trailers, legal in HTTP/2) must not start the call twice. */
    call->headers_frame_seen = 1;
    if (call->hooks->on_headers)
      call->hooks->on_headers(call);
  }
  if (end_stream && call->conn)
    tern__call_on_end_stream(call);
}

/* ---- inbound: messages --------------------------------------------------- */

void tern__call_fail(struct tern_call *call, tern_status_code code,
                     const char *msg) {
  /* Server: answer with the status; client: reset and end locally. */
  tern__call_lock(call);
  if (!call->done && !call->aborted) {
    call->aborted = 1;
    if (call->is_client) {
      call->done = 1;
      call->code = code;
      free(call->message);
      call->message = strdup(msg);
    } else if (!call->out_closed) {
      call->out_closed = 1;
      call->code = code;
      free(call->message);
      call->message = strdup(msg);
      free_msgs(call, call->out_head);
      call->out_head = call->out_tail = NULL;
      call->out_bytes = 0;
    }
    tern__call_broadcast(call);
  }
  tern__call_unlock(call);
  if (call->is_client) {
    /* The stream's close callback follows the reset; the client layer
     * completes the call there with the status set above. */
    tern__call_reset(call, NGHTTP2_CANCEL);
  } else {
    tern__call_kick_now(call);
  }
}

int tern__call_on_data(struct tern_call *call, const uint8_t *data,
                       size_t len) {
  size_t total = len;
  int queued = 0;
  if (call->aborted) {
    if (call->conn)
      nghttp2_session_consume_stream(call->conn->session, call->stream_id,
                                     len);
    return 0;
  }
  while (len > 0) {
    if (!call->partial) {
      size_t take = 5 - call->pfx_len;
      uint32_t mlen;
      if (take > len)
        take = len;
      memcpy(call->pfx + call->pfx_len, data, take);
      call->pfx_len += take;
      data += take;
      len -= take;
      if (call->pfx_len < 5)
        break;
      mlen = ((uint32_t)call->pfx[1] << 24) | ((uint32_t)call->pfx[2] << 16) |
             ((uint32_t)call->pfx[3] << 8) | call->pfx[4];
      if ((call->pfx[0] & 1) && call->recv_alg <= TERN_COMPRESS_IDENTITY) {
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
        break;
      }
      if (call->max_recv >= 0 && (int64_t)mlen > call->max_recv) {
        char buf[128];
        snprintf(buf, sizeof(buf),
                 "received message larger than max (%u vs. %lld)", mlen,
                 (long long)call->max_recv);
        tern__call_fail(call, TERN_STATUS_RESOURCE_EXHAUSTED, buf);
        break;
      }
      call->partial = tern__call_msg_new(call, TERN__MSG_IN, mlen);
      if (!call->partial) {
        tern__call_fail(call, TERN_STATUS_RESOURCE_EXHAUSTED,
                     "out of memory for a message");
        break;
      }
      call->partial->compressed = call->pfx[0] & 1;
      call->partial_have = 0;
    }
    if (call->partial) {
      size_t need = call->partial->len - call->partial_have;
      size_t take = need < len ? need : len;
      memcpy(call->partial->data + call->partial_have, data, take);
      call->partial_have += take;
      data += take;
      len -= take;
      if (call->partial_have == call->partial->len) {
        tern__msg *m = call->partial;
        call->partial = NULL;
        call->pfx_len = 0;
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
        queued = 1;
      }
    }
  }
  if (!call->conn)
    return 0;
  if (call->aborted) {
    nghttp2_session_consume_stream(call->conn->session, call->stream_id,
                                   total);
  } else {
    size_t unread;
    tern__call_lock(call);
    unread = call->in_bytes;
    tern__call_unlock(call);
    if (unread <= TERN__READ_HIGH_WATER)
      nghttp2_session_consume_stream(call->conn->session, call->stream_id,
                                     total + call->credit_held);
    else
      call->credit_held += total;
    if (unread <= TERN__READ_HIGH_WATER)
      call->credit_held = 0;
  }
  if (queued && !call->aborted && call->hooks->on_message)
    call->hooks->on_message(call);
  return 0;
}

void tern__call_on_end_stream(struct tern_call *call) {
  int incomplete;
  tern__call_lock(call);
  call->in_closed = 1;
  tern__call_broadcast(call);
  tern__call_unlock(call);
  incomplete = call->partial != NULL || call->pfx_len > 0;
  if (incomplete && !call->aborted) {
    tern__call_fail(call, TERN_STATUS_INTERNAL,
                 "stream ended in the middle of a message");
    return;
  }
  if (call->hooks->on_half_close)
    call->hooks->on_half_close(call);
}

void tern__call_on_close(struct tern_call *call, uint32_t error) {
  tern__timer_stop(call->loop, &call->deadline_timer);
  if (call->hooks->on_stream_closed)
    call->hooks->on_stream_closed(call, error);
}

/* ---- outbound: the data provider ------------------------------------------- */

/* nghttp2 asks how much to put in the next DATA frame. The bytes are not
 * copied here: with NGHTTP2_DATA_FLAG_NO_COPY nghttp2 calls the
 * connection's send_data callback, which moves them straight from the
 * queue into the connection's write buffer (tern__call_take_out). */
ssize_t tern__call_read_data(struct tern_call *call, uint8_t *buf,
                             size_t length, uint32_t *data_flags) {
  size_t n;
  int eof;
  (void)buf;
  tern__call_lock(call);
  n = call->out_bytes < length ? call->out_bytes : length;
  eof = call->out_closed && call->out_bytes == n;
  if (n == 0 && !eof) {
    tern__call_unlock(call);
    call->data_deferred = 1;
    return NGHTTP2_ERR_DEFERRED;
  }
  if (n > 0)
    *data_flags |= NGHTTP2_DATA_FLAG_NO_COPY;
  if (eof) {
    call->out_eof_sent = 1;
    *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    if (!call->is_client) {
      nvlist l;
      nv_init(&l);
      nv_add_status(&l, call);
      *data_flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
      tern__call_unlock(call);
      if (l.failed ||
          nghttp2_submit_trailer(call->conn->session, call->stream_id, l.nv,
                                 l.n) != 0) {
        nv_free(&l);
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
      }
      nv_free(&l);
      return (ssize_t)n;
    }
  }
  tern__call_unlock(call);
  return (ssize_t)n;
}

/* Caller holds mu. A fully sent message: kept for a retry, or freed. */
static void keep_sent(struct tern_call *call, tern__msg *m) {
  if (call->retryable && call->sent_bytes + m->len <= TERN__RETRY_KEEP) {
    m->next = NULL;
    if (call->sent_tail)
      call->sent_tail->next = m;
    else
      call->sent_head = m;
    call->sent_tail = m;
    call->sent_bytes += m->len;
    return;
  }
  tern__call_msg_free(call, m);
  if (call->retryable) { /* too much to keep: no replay any more */
    call->retryable = 0;
    free_msgs(call, call->sent_head);
    call->sent_head = call->sent_tail = NULL;
    call->sent_bytes = 0;
  }
}

void tern__call_drop_sent(struct tern_call *call) {
  tern__call_lock(call);
  call->retryable = 0;
  free_msgs(call, call->sent_head);
  call->sent_head = call->sent_tail = NULL;
  call->sent_bytes = 0;
  tern__call_unlock(call);
}

int tern__call_rewind(struct tern_call *call) {
  tern__msg *m;
  tern__call_lock(call);
  if (!call->retryable || call->headers_in || call->in_count > 0 ||
      call->done || call->cancel_requested) {
    tern__call_unlock(call);
    return -1;
  }
  /* A partly sent head message goes back to its start. */
  if (call->out_head) {
    call->out_bytes += call->out_head->off;
    call->out_head->off = 0;
  }
  for (m = call->sent_head; m; m = m->next) {
    m->off = 0;
    call->out_bytes += m->len;
  }
  if (call->sent_head) {
    call->sent_tail->next = call->out_head;
    if (!call->out_head)
      call->out_tail = call->sent_tail;
    call->out_head = call->sent_head;
  }
  call->sent_head = call->sent_tail = NULL;
  call->sent_bytes = 0;
  tern__call_unlock(call);
  call->stream_id = 0;
  call->data_deferred = 0;
  call->submitted = 0;
  call->out_eof_sent = 0;
  call->rst_sent = 0;
  call->headers_frame_seen = 0;
  call->http_status = 0;
  call->pfx_len = 0;
  call->credit_held = 0;
  call->header_bytes = 0;
  return 0;
}

int tern__call_take_out(struct tern_call *call, tern__buf *dst, size_t n) {
  int wake_writers, writable = 0, rv = TERN_OK;
  tern__call_lock(call);
  wake_writers = call->out_bytes > TERN__WRITE_HIGH_WATER / 2;
  if (n > call->out_bytes) {
    rv = TERN_ESTATE; /* cannot happen: only this thread takes */
    n = 0;
  }
  while (n > 0 && rv == TERN_OK) {
    tern__msg *m = call->out_head;
    size_t take = m->len - m->off;
    if (take > n)
      take = n;
    rv = tern__buf_append(dst, m->data + m->off, take);
    m->off += take;
    n -= take;
    call->out_bytes -= take;
    if (m->off == m->len) {
      call->out_head = m->next;
      if (!call->out_head)
        call->out_tail = NULL;
      keep_sent(call, m);
    }
  }
  if (wake_writers && call->out_bytes <= TERN__WRITE_HIGH_WATER / 2)
    tern__call_broadcast(call);
  if (call->want_write && call->out_bytes <= TERN__WRITE_HIGH_WATER / 2) {
    call->want_write = 0;
    writable = 1;
  }
  tern__call_unlock(call);
  if (writable && call->hooks->on_writable)
    call->hooks->on_writable(call); /* defers: we are inside nghttp2 */
  return rv;
}

void tern__call_set_status(struct tern_call *call, tern_status_code code,
                           const char *message) {
  tern__call_lock(call);
  call->code = code;
  free(call->message);
  call->message = message ? strdup(message) : NULL;
  tern__call_unlock(call);
}
