/* The handler's side of a server call: every public tern_server_call_*
 * function (metadata, status, writes and reads, call memory). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/server_int.h"

const tern_metadata *tern_server_call_metadata(const tern_server_call *sc) {
  return sc->c.in_md ? sc->c.in_md : tern__metadata_empty();
}

const char *tern_server_call_method(const tern_server_call *sc) {
  return sc->c.path ? sc->c.path : "";
}

const char *tern_server_call_authority(const tern_server_call *sc) {
  return sc->c.authority ? sc->c.authority : "";
}

/* Headers added once they have gone out are not sent. */
int tern_server_call_add_header(tern_server_call *sc, const char *key,
                                const char *value) {
  return tern__call_add_metadata(&sc->c, 0, key, value, 0, 0);
}

int tern_server_call_add_header_bin(tern_server_call *sc, const char *key,
                                    const void *value, size_t len) {
  return tern__call_add_metadata(&sc->c, 0, key, value, len, 1);
}

int tern_server_call_add_trailer(tern_server_call *sc, const char *key,
                                 const char *value) {
  return tern__call_add_metadata(&sc->c, 1, key, value, 0, 0);
}

int tern_server_call_add_trailer_bin(tern_server_call *sc, const char *key,
                                     const void *value, size_t len) {
  return tern__call_add_metadata(&sc->c, 1, key, value, len, 1);
}

int tern_server_call_send_headers(tern_server_call *sc) {
  tern__call_send_headers(&sc->c);
  return TERN_OK;
}

int tern_server_call_set_message(tern_server_call *sc, const char *msg) {
  return tern__call_set_message(&sc->c, msg);
}

int tern_server_call_is_cancelled(const tern_server_call *sc) {
  struct tern_server_call *m = (struct tern_server_call *)sc;
  int r;
  tern__call_lock(&m->c);
  r = m->c.done || m->c.aborted;
  tern__call_unlock(&m->c);
  if (!r && sc->c.deadline_ns > 0 && tern__now_ns() >= sc->c.deadline_ns)
    r = 1;
  return r;
}

const char *tern_server_call_peer_identity(const tern_server_call *sc) {
  return sc->peer_identity;
}

int64_t tern_server_call_time_remaining_ms(const tern_server_call *sc) {
  int64_t left;
  if (sc->c.deadline_ns <= 0)
    return INT64_MAX;
  left = sc->c.deadline_ns - tern__now_ns();
  return left <= 0 ? 0 : left / 1000000;
}

void tern_server_call_set_state(tern_server_call *sc, void *state) {
  sc->state = state;
}

void *tern_server_call_state(const tern_server_call *sc) {
  return sc->state;
}

void *tern_server_call_alloc(tern_server_call *sc, size_t size) {
  /* Handlers and the worker both allocate: tern__call_alloc locks. */
  return tern__call_alloc(&sc->c, size, 1);
}

char *tern_server_call_strdup(tern_server_call *sc, const char *s) {
  size_t n = strlen(s) + 1;
  char *d = tern_server_call_alloc(sc, n);
  if (d)
    memcpy(d, s, n);
  return d;
}

int tern_server_call_write(tern_server_call *sc, const void *msg) {
  return tern_server_call_write_flags(sc, msg, 0);
}

int tern_server_call_set_compression(tern_server_call *sc,
                                     tern_compression c) {
  if (!sc || (int)c < TERN_COMPRESS_DEFAULT || c > TERN_COMPRESS_GZIP)
    return TERN_EINVAL;
  return tern__call_set_send_alg(&sc->c,
                                 c == TERN_COMPRESS_DEFAULT
                                     ? sc->server->opts.default_compression
                                     : c);
}

int tern_server_call_message_compressed(const tern_server_call *sc) {
  return sc ? sc->c.last_compressed : 0;
}

int tern_server_call_write_flags(tern_server_call *sc, const void *msg,
                                 unsigned flags) {
  const tern_method *m = sc ? sc->c.method : NULL;
  tern__msg *out;
  int rv, inline_h;
  if (!sc || !msg || !m)
    return TERN_EINVAL;
  if (m->kind != TERN_METHOD_SERVER_STREAMING &&
      m->kind != TERN_METHOD_BIDI_STREAMING)
    return TERN_ESTATE;
  rv = tern__call_encode(&sc->c, m, m->response_type, msg,
                         (flags & TERN_WRITE_NO_COMPRESS)
                             ? TERN_COMPRESS_IDENTITY
                             : tern__call_effective_alg(&sc->c),
                         &out);
  if (rv != TERN_OK)
    return rv;
  if (tern__server_too_big_to_send(sc, out)) {
    tern__call_msg_free(&sc->c, out);
    return TERN_ETOOBIG; /* the call goes on; the handler decides */
  }
  inline_h = (sc->entry->flags & TERN_REGISTER_INLINE) != 0;
  rv = tern__call_queue_out(&sc->c, out,
                            inline_h ? TERN__QUEUE_EAGAIN : TERN__QUEUE_WAIT);
  if (rv == TERN_OK)
    tern__call_wake(&sc->c);
  return rv;
}

int tern_server_call_read(tern_server_call *sc, void **msg_out) {
  const tern_method *m = sc ? sc->c.method : NULL;
  tern__msg *in;
  int rv;
  if (!sc || !msg_out || !m)
    return TERN_EINVAL;
  *msg_out = NULL;
  if (m->kind != TERN_METHOD_CLIENT_STREAMING &&
      m->kind != TERN_METHOD_BIDI_STREAMING)
    return TERN_ESTATE;
  rv = tern__call_take_in(&sc->c, &in,
                          !(sc->entry->flags & TERN_REGISTER_INLINE));
  if (rv == TERN_ETIMEDOUT)
    return TERN_EAGAIN;
  if (rv != 1)
    return rv;
  rv = tern__call_decode(&sc->c, m->request_type, in, msg_out);
  tern__call_msg_free(&sc->c, in);
  if (rv != TERN_OK) {
    /* The call ends with the decode's status whatever the handler
     * returns next. */
    const char *why;
    tern_status_code code = tern__call_decode_status(&sc->c, rv, &why);
    *msg_out = NULL;
    tern__call_end(&sc->c, code, why, TERN__END_ABORT);
    return TERN_EPROTO;
  }
  return 1;
}
