/* What every transport shares: the list of streams on a connection, and
 * the downcalls, which go to the connection's implementation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "transport/transport_int.h"

void tern__stream_init(tern__stream *s, const tern__stream_ops *ops) {
  s->ops = ops;
  s->conn = NULL;
  s->id = 0;
  tern__queue_init(&s->node);
  s->hdr_bytes = 0;
  s->too_big = 0;
  s->rst_sent = 0;
  s->deferred = 0;
  s->in_ended = 0;
  s->tp = NULL;
}

void tern__conn_base_init(tern__conn *c, const tern__conn_vt *vt,
                          tern__loop *loop, int is_client,
                          const tern__conn_ops *ops, void *owner) {
  c->vt = vt;
  c->loop = loop;
  c->ops = ops;
  c->owner = owner;
  tern__queue_init(&c->owner_node);
  tern__queue_init(&c->streams);
  c->n_streams = 0;
  c->is_client = is_client;
  c->closed = 0;
  c->draining = 0;
  c->goaway_rcvd = 0;
  c->peer_identity = NULL;
  c->error[0] = '\0';
}

void tern__conn_base_cleanup(tern__conn *c) { tern__free(c->peer_identity); }

void tern__conn_attach(tern__conn *c, tern__stream *s, int32_t id) {
  s->conn = c;
  s->id = id;
  s->hdr_bytes = 0;
  s->too_big = 0;
  s->rst_sent = 0;
  s->deferred = 0;
  s->in_ended = 0;
  tern__queue_insert_head(&c->streams, &s->node);
  c->n_streams++;
}

void tern__conn_detach(tern__conn *c, tern__stream *s) {
  tern__queue_remove(&s->node);
  s->conn = NULL;
  c->n_streams--;
}

void tern__conn_shutdown(tern__conn *c) {
  if (!c->closed)
    c->vt->shutdown(c);
}

void tern__conn_close(tern__conn *c) {
  if (!c->closed)
    c->vt->close(c);
}

void tern__conn_fail(tern__conn *c, const char *why) {
  if (!c->error[0])
    snprintf(c->error, sizeof(c->error), "%s", why);
  tern__conn_close(c);
}

/* ---- header lists ----------------------------------------------------------- */

void tern__hdrs_init(tern__hdrs *l) {
  l->v = l->local;
  l->n = 0;
  l->cap = sizeof(l->local) / sizeof(l->local[0]);
  l->owned = l->owned_local;
  l->n_owned = 0;
  l->owned_cap = sizeof(l->owned_local) / sizeof(l->owned_local[0]);
  l->failed = 0;
}

void tern__hdrs_free(tern__hdrs *l) {
  size_t i;
  for (i = 0; i < l->n_owned; i++)
    tern__free(l->owned[i]);
  if (l->owned != l->owned_local)
    tern__free(l->owned);
  if (l->v != l->local)
    tern__free(l->v);
  tern__hdrs_init(l);
}

void tern__hdrs_add_grow(tern__hdrs *l, const char *name, size_t namelen,
                         const char *value, size_t valuelen, unsigned flags) {
  size_t cap = l->cap * 2;
  tern__hdr *v;
  if (l->failed)
    return;
  v = tern__malloc(cap * sizeof(*v));
  if (!v) {
    l->failed = 1;
    return;
  }
  memcpy(v, l->v, l->n * sizeof(*v));
  if (l->v != l->local)
    tern__free(l->v);
  l->v = v;
  l->cap = cap;
  tern__hdrs_add(l, name, namelen, value, valuelen, flags); /* has room */
}

char *tern__hdrs_own(tern__hdrs *l, char *s) {
  if (!s) {
    l->failed = 1;
    return NULL;
  }
  if (l->n_owned == l->owned_cap) {
    size_t cap = l->owned_cap * 2;
    char **o = tern__malloc(cap * sizeof(*o));
    if (!o) {
      tern__free(s);
      l->failed = 1;
      return NULL;
    }
    memcpy(o, l->owned, l->n_owned * sizeof(*o));
    if (l->owned != l->owned_local)
      tern__free(l->owned);
    l->owned = o;
    l->owned_cap = cap;
  }
  l->owned[l->n_owned++] = s;
  return s;
}
