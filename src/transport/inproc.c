/* In-process connections: a client and a server connection on one loop
 * that carry streams without a wire. What one side submits is delivered
 * to the other through the same stream upcalls HTTP/2 makes, in a task at
 * the end of the loop turn (never inside the downcall), with HTTP/2's
 * stream rules: a window per direction returned by consume, trailers
 * after the body, a stream that closes once the server's side has ended,
 * resets that close both sides with their code. */
#include <stdlib.h>
#include <string.h>

#include "transport/transport_int.h"

#define IP_WINDOW (1024 * 1024)
#define IP_CHUNK (16 * 1024)
/* Chunks moved per stream and turn before the others get theirs. */
#define IP_CHUNKS_PER_TURN 64

enum { CLIENT = 0, SERVER = 1 };

/* A copied header block: the fields point into the same allocation. */
typedef struct ip_block {
  size_t n;
  unsigned end; /* the block ends its direction */
  tern__hdr v[];
} ip_block;

/* One direction of a stream: from side d to side !d. */
typedef struct ip_dir {
  ip_block *head;  /* a header block waiting to be delivered */
  int body;        /* bytes are pulled through the sender's out_ready */
  int ended;       /* the sender's side is done (delivered) */
  size_t window;   /* what the receiver takes before it consumes */
} ip_dir;

typedef struct ip_link ip_link;

typedef struct ip_pair {
  tern__queue node; /* the link's streams */
  int32_t id;
  tern__stream *side[2]; /* NULL once told it closed (or never accepted) */
  int accepted;          /* the server side exists */
  ip_dir dir[2];         /* indexed by the sending side */
  uint32_t reset;        /* a reset asked for, code + 1 (0: none) */
  int dead;              /* both sides told: freed by reap */
} ip_pair;

typedef struct ip_conn {
  tern__conn base; /* first */
  ip_link *link;
  int side;
} ip_conn;

struct ip_link {
  ip_conn conn[2];
  tern__queue pairs;
  int32_t next_id;
  int closed;
  int pumping;
  int goaway_due[2]; /* side d sent GOAWAY, not yet told to !d */
  tern__task pump;
  tern__task free_task;
};

static ip_link *LINK(tern__conn *c) { return ((ip_conn *)c)->link; }
static int SIDE(tern__conn *c) { return ((ip_conn *)c)->side; }

static void schedule(ip_link *k) {
  if (!k->closed)
    tern__loop_defer(k->conn[0].base.loop, &k->pump);
}

static ip_block *copy_block(const tern__hdr *h, size_t n, unsigned end) {
  size_t i, bytes = 0;
  ip_block *b;
  char *p;
  for (i = 0; i < n; i++)
    bytes += h[i].namelen + h[i].valuelen;
  b = tern__malloc(sizeof(*b) + n * sizeof(b->v[0]) + bytes);
  if (!b)
    return NULL;
  b->n = n;
  b->end = end;
  p = (char *)&b->v[n];
  for (i = 0; i < n; i++) {
    memcpy(p, h[i].name, h[i].namelen);
    b->v[i].name = (const uint8_t *)p;
    b->v[i].namelen = h[i].namelen;
    p += h[i].namelen;
    memcpy(p, h[i].value, h[i].valuelen);
    b->v[i].value = (const uint8_t *)p;
    b->v[i].valuelen = h[i].valuelen;
    p += h[i].valuelen;
    b->v[i].flags = 0;
  }
  return b;
}

/* Tells side i its stream is over; the pair dies with its last side. */
static void close_side(ip_link *k, ip_pair *p, int i, uint32_t error,
                       const char *why) {
  tern__stream *s = p->side[i];
  if (!s)
    return;
  p->side[i] = NULL;
  s->tp = NULL;
  tern__conn_detach(&k->conn[i].base, s);
  s->ops->on_closed(s, error, why);
}

static void close_pair(ip_link *k, ip_pair *p, uint32_t error,
                       const char *why) {
  close_side(k, p, SERVER, error, why);
  close_side(k, p, CLIENT, error, why);
  p->dead = 1;
}

static void free_pair(ip_pair *p) {
  tern__free(p->dir[0].head);
  tern__free(p->dir[1].head);
  tern__free(p);
}

/* Frees the dead pairs (never while the pump walks the list). */
static void reap(ip_link *k) {
  tern__queue *q, *n;
  tern__queue_foreach_safe(q, n, &k->pairs) {
    ip_pair *p = tern__queue_data(q, ip_pair, node);
    if (p->dead) {
      tern__queue_remove(&p->node);
      free_pair(p);
    }
  }
}

static int alive(const ip_link *k, const ip_pair *p) {
  return !k->closed && !p->dead && !p->reset;
}

/* Delivers a header block to side `to`. 0, or -1 when the stream ended. */
static int deliver_block(ip_link *k, ip_pair *p, int to, ip_block *b) {
  tern__stream *s = p->side[to];
  size_t i;
  for (i = 0; i < b->n && alive(k, p); i++)
    if (s->ops->on_header(s, b->v[i].name, b->v[i].namelen, b->v[i].value,
                          b->v[i].valuelen) != 0) {
      p->reset = TERN__RST_INTERNAL_ERROR + 1;
      return -1;
    }
  if (!alive(k, p))
    return -1;
  if (b->end) {
    s->in_ended = 1;
    p->dir[!to].ended = 1;
  }
  s->ops->on_headers_end(s, b->end ? TERN__HEADERS_END_STREAM : 0);
  return alive(k, p) ? 0 : -1;
}

/* The server side of a new stream, from its owner. 0, or -1 (refused). */
static int accept_stream(ip_link *k, ip_pair *p) {
  tern__conn *srv = &k->conn[SERVER].base;
  tern__stream *s = srv->draining ? NULL : srv->ops->on_new_stream(srv);
  if (!s) {
    close_side(k, p, CLIENT, TERN__RST_REFUSED_STREAM, NULL);
    p->dead = 1;
    return -1;
  }
  tern__conn_attach(srv, s, p->id);
  s->tp = p;
  p->side[SERVER] = s;
  p->accepted = 1;
  return 0;
}

/* Moves what side `from` has for the other side. */
static void pump_dir(ip_link *k, ip_pair *p, int from) {
  ip_dir *d = &p->dir[from];
  tern__buf buf = TERN__BUF_INIT;
  int chunks = 0;
  if (d->head) {
    ip_block *b = d->head;
    d->head = NULL;
    if (from == CLIENT && !p->accepted && accept_stream(k, p) != 0) {
      tern__free(b);
      return;
    }
    if (deliver_block(k, p, !from, b) != 0 || d->ended) {
      tern__free(b);
      return;
    }
    tern__free(b);
  }
  while (d->body && !d->ended && alive(k, p) && d->window > 0 &&
         !p->side[from]->deferred && chunks++ < IP_CHUNKS_PER_TURN) {
    tern__stream *tx = p->side[from], *rx = p->side[!from];
    unsigned flags = 0;
    size_t max = d->window < IP_CHUNK ? d->window : IP_CHUNK;
    ssize_t n = tx->ops->out_ready(tx, max, &flags);
    if (n == TERN__OUT_DEFER) {
      tx->deferred = 1;
      break;
    }
    if (n < 0 || (size_t)n > max) {
      p->reset = TERN__RST_INTERNAL_ERROR + 1;
      break;
    }
    buf.len = 0;
    if (n > 0) {
      if (tx->ops->out_take(tx, &buf, (size_t)n) != TERN_OK) {
        p->reset = TERN__RST_INTERNAL_ERROR + 1;
        break;
      }
      d->window -= (size_t)n;
      if (rx->ops->on_data(rx, buf.data, (size_t)n) != 0) {
        p->reset = TERN__RST_CANCEL + 1;
        break;
      }
      if (!alive(k, p))
        break;
    }
    if (flags & TERN__OUT_EOF) {
      if (flags & TERN__OUT_TRAILERS) {
        tern__hdrs l;
        ip_block *b;
        tern__hdrs_init(&l);
        tx->ops->out_trailers(tx, &l);
        b = l.failed ? NULL : copy_block(l.v, l.n, 1);
        tern__hdrs_free(&l);
        if (!b) {
          p->reset = TERN__RST_INTERNAL_ERROR + 1;
          break;
        }
        deliver_block(k, p, !from, b);
        tern__free(b);
      } else {
        d->ended = 1;
        rx->in_ended = 1;
        rx->ops->on_end(rx);
      }
      break;
    }
  }
  if (chunks > IP_CHUNKS_PER_TURN)
    schedule(k); /* more next turn */
  tern__buf_free(&buf);
}

static void pump(tern__task *t) {
  ip_link *k = t->data;
  tern__queue *q, *n;
  int i;
  if (k->closed)
    return;
  k->pumping = 1;
  for (i = 0; i < 2 && !k->closed; i++) {
    if (k->goaway_due[i]) {
      tern__conn *peer = &k->conn[!i].base;
      k->goaway_due[i] = 0;
      peer->goaway_rcvd = 1;
      if (peer->is_client)
        peer->draining = 1;
      if (peer->ops->on_goaway)
        peer->ops->on_goaway(peer);
    }
  }
  tern__queue_foreach_safe(q, n, &k->pairs) {
    ip_pair *p = tern__queue_data(q, ip_pair, node);
    if (k->closed)
      break;
    if (p->dead)
      continue;
    if (!p->reset)
      pump_dir(k, p, CLIENT);
    if (!p->reset && !p->dead && p->accepted)
      pump_dir(k, p, SERVER);
    if (k->closed || p->dead)
      continue;
    if (p->reset)
      close_pair(k, p, p->reset - 1, NULL);
    else if (p->dir[SERVER].ended)
      /* The server's side is over: as HTTP/2 does (RFC 9113 8.1), the
       * stream closes whether or not the client has finished sending. */
      close_pair(k, p, TERN__RST_NO_ERROR, NULL);
  }
  k->pumping = 0;
  if (k->closed)
    return;
  reap(k);
  for (i = 0; i < 2; i++)
    if (k->conn[i].base.draining && k->conn[i].base.n_streams == 0) {
      tern__conn_close(&k->conn[i].base);
      return;
    }
}

/* ---- the downcalls ------------------------------------------------------------ */

static int32_t ip_open_stream(tern__conn *c, tern__stream *s,
                              const tern__hdr *h, size_t n) {
  ip_link *k = LINK(c);
  ip_pair *p;
  if (SIDE(c) != CLIENT || k->next_id > INT32_MAX - 2)
    return -1;
  p = tern__calloc(1, sizeof(*p));
  if (!p)
    return -1;
  p->dir[CLIENT].head = copy_block(h, n, 0);
  if (!p->dir[CLIENT].head) {
    tern__free(p);
    return -1;
  }
  p->id = k->next_id;
  k->next_id += 2;
  p->dir[CLIENT].body = 1;
  p->dir[CLIENT].window = IP_WINDOW;
  p->dir[SERVER].window = IP_WINDOW;
  p->side[CLIENT] = s;
  tern__conn_attach(c, s, p->id);
  s->tp = p;
  tern__queue_insert_tail(&k->pairs, &p->node);
  schedule(k);
  return p->id;
}

static int ip_respond(tern__stream *s, const tern__hdr *h, size_t n,
                      unsigned flags) {
  ip_pair *p = s->tp;
  ip_dir *d = &p->dir[SERVER];
  int end = (flags & TERN__SUBMIT_END_STREAM) != 0;
  if (d->head || d->body || d->ended)
    return TERN_ESTATE;
  d->head = copy_block(h, n, end);
  if (!d->head)
    return TERN_ENOMEM;
  d->body = !end;
  schedule(LINK(s->conn));
  return TERN_OK;
}

static void ip_resume(tern__stream *s) {
  s->deferred = 0;
  schedule(LINK(s->conn));
}

static void ip_consume(tern__stream *s, size_t n) {
  ip_pair *p = s->tp;
  ip_dir *d = &p->dir[!SIDE(s->conn)]; /* what the other side sends */
  d->window = n > IP_WINDOW - d->window ? IP_WINDOW : d->window + n;
  schedule(LINK(s->conn));
}

static void ip_reset(tern__stream *s, uint32_t error) {
  ip_pair *p = s->tp;
  if (!p->reset)
    p->reset = error + 1;
  schedule(LINK(s->conn));
}

static int ip_ended(const tern__stream *s) {
  const ip_pair *p = s->tp;
  return s->in_ended && p->dir[SIDE(s->conn)].ended;
}

static void ip_shutdown(tern__conn *c) {
  ip_link *k = LINK(c);
  if (c->draining)
    return;
  c->draining = 1;
  k->goaway_due[SIDE(c)] = 1;
  schedule(k);
}

static void free_task(tern__task *t) {
  ip_link *k = t->data;
  tern__queue *q;
  while ((q = tern__queue_head(&k->pairs)) != NULL) {
    tern__queue_remove(q);
    free_pair(tern__queue_data(q, ip_pair, node));
  }
  tern__conn_base_cleanup(&k->conn[0].base);
  tern__conn_base_cleanup(&k->conn[1].base);
  tern__free(k);
}

/* Closing either side closes both, as a socket would. */
static void ip_close(tern__conn *c) {
  ip_link *k = LINK(c);
  tern__queue *q, *n;
  int i;
  if (k->closed)
    return;
  k->closed = 1;
  k->conn[0].base.closed = 1;
  k->conn[1].base.closed = 1;
  tern__queue_foreach_safe(q, n, &k->pairs) {
    ip_pair *p = tern__queue_data(q, ip_pair, node);
    close_pair(k, p, TERN__CONN_LOST, "in-process connection closed");
  }
  for (i = 0; i < 2; i++)
    if (k->conn[i].base.ops->on_closed)
      k->conn[i].base.ops->on_closed(&k->conn[i].base);
  tern__loop_defer(c->loop, &k->free_task);
}

static const tern__conn_vt ip_vt = {ip_open_stream, ip_respond,  ip_resume,
                                    ip_consume,     ip_reset,    ip_ended,
                                    ip_shutdown,    ip_close};

int tern__inproc_pair(tern__loop *loop, const tern__conn_ops *client_ops,
                      void *client_owner, const tern__conn_ops *server_ops,
                      void *server_owner, tern__conn **client_out,
                      tern__conn **server_out) {
  ip_link *k = tern__calloc(1, sizeof(*k));
  if (!k)
    return TERN_ENOMEM;
  tern__conn_base_init(&k->conn[CLIENT].base, &ip_vt, loop, 1, client_ops,
                       client_owner);
  tern__conn_base_init(&k->conn[SERVER].base, &ip_vt, loop, 0, server_ops,
                       server_owner);
  k->conn[CLIENT].link = k->conn[SERVER].link = k;
  k->conn[CLIENT].side = CLIENT;
  k->conn[SERVER].side = SERVER;
  tern__queue_init(&k->pairs);
  k->next_id = 1;
  tern__task_init(&k->pump, pump, k);
  tern__task_init(&k->free_task, free_task, k);
  *client_out = &k->conn[CLIENT].base;
  *server_out = &k->conn[SERVER].base;
  return TERN_OK;
}
