/* Dispatch: the method table on :path, the call hooks the call layer
 * raises on the loop, and running handlers (inline on the loop, with
 * re-runs, or on the worker pool). Also makes each call for its new
 * stream (tern__server_on_new_stream), since only this file knows the
 * hooks and the re-run task a call starts with. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server_int.h"

static tern_server_call *SC(struct tern_call *c) {
  return (tern_server_call *)c;
}

/* The decoded request, unless it lives in the call arena (then it goes
 * with the call). */
static void free_request(tern_server_call *sc) {
  if (sc->request && !sc->request_in_arena)
    sc->entry->method->codec->free_message(sc->entry->method->request_type,
                                           sc->request);
  sc->request = NULL;
}

/* ---- method table ------------------------------------------------------- */

static uint64_t hash_path(const char *s) {
  uint64_t h = 1469598103934665603ULL; /* FNV-1a */
  for (; *s; s++)
    h = (h ^ (uint8_t)*s) * 1099511628211ULL;
  return h;
}

int tern__server_build_table(tern_server *s) {
  size_t cap = 16, i;
  while (cap < s->n_entries * 2)
    cap *= 2;
  s->table = tern__calloc(cap, sizeof(*s->table));
  if (!s->table)
    return TERN_ENOMEM;
  s->table_cap = cap;
  for (i = 0; i < s->n_entries; i++) {
    size_t j = hash_path(s->entries[i].method->path) & (cap - 1);
    while (s->table[j])
      j = (j + 1) & (cap - 1);
    s->table[j] = i + 1;
  }
  return TERN_OK;
}

static const entry *find_method(const tern_server *s, const char *path) {
  size_t j;
  if (!s->table)
    return NULL;
  j = hash_path(path) & (s->table_cap - 1);
  while (s->table[j]) {
    const entry *e = &s->entries[s->table[j] - 1];
    if (strcmp(e->method->path, path) == 0)
      return e;
    j = (j + 1) & (s->table_cap - 1);
  }
  return NULL;
}

/* ---- handlers ----------------------------------------------------------- */

static void finish_handler(tern_server_call *sc, tern_status_code code) {
  struct tern_call *c = &sc->c;
  /* Past the deadline the call has failed whatever the handler says (it
   * may have stopped because tern_server_call_is_cancelled told it to,
   * before the loop's deadline timer ran). */
  if (c->deadline_ns > 0 && tern__now_ns() >= c->deadline_ns) {
    code = TERN_STATUS_DEADLINE_EXCEEDED;
    tern__call_set_message(c, "deadline exceeded");
  }
  sc->handler_done = 1;
  /* The status follows what the handler queued. */
  tern__call_end(c, code, NULL, 0);
}

/* Decodes the request (unary, server-streaming) and sets up the response
 * (unary, client-streaming). 0, or -1 after finishing the call. */
static int handler_setup(tern_server_call *sc) {
  struct tern_call *c = &sc->c;
  const tern_method *m = sc->entry->method;
  const tern_codec *codec = m->codec;
  tern__msg *msg = NULL;
  if (m->kind == TERN_METHOD_UNARY || m->kind == TERN_METHOD_SERVER_STREAMING) {
    int rv;
    if (tern__call_take_in(c, &msg, 0) != 1) {
      finish_handler(sc, TERN_STATUS_CANCELLED);
      return -1;
    }
    /* The library frees the request after the handler: it goes in the
     * call arena with the message buffer. */
    rv = tern__call_decode_arena(c, m->request_type, msg, &sc->request,
                                 &sc->request_in_arena);
    tern__call_msg_free(c, msg);
    if (rv != TERN_OK) {
      const char *why;
      tern_status_code code = tern__call_decode_status(c, rv, &why);
      sc->request = NULL;
      tern__call_set_message(c, why);
      finish_handler(sc, code);
      return -1;
    }
  }
  if (m->kind == TERN_METHOD_UNARY || m->kind == TERN_METHOD_CLIENT_STREAMING) {
    sc->response =
        tern_server_call_alloc(sc, codec->message_size(m->response_type));
    if (!sc->response) {
      finish_handler(sc, TERN_STATUS_RESOURCE_EXHAUSTED);
      return -1;
    }
    codec->init_message(m->response_type, sc->response);
  }
  return 0;
}

/* Runs the handler once. Returns 1 when it asked to run again (inline
 * streaming), 0 when the call is finished. */
static int handler_invoke(tern_server_call *sc) {
  struct tern_call *c = &sc->c;
  const entry *e = sc->entry;
  const tern_method *m = e->method;
  tern_status_code code;
  code = m->invoke(e->handlers, sc, sc->request, sc->response, e->user_data);
  if (code == TERN_STATUS_PENDING) {
    if (sc->inline_stream)
      return 1;
    tern_server_call_set_message(sc, "handler returned PENDING outside "
                                     "an inline streaming call");
    code = TERN_STATUS_INTERNAL;
  }
  free_request(sc);
  if (code == TERN_STATUS_OK && sc->response) {
    tern__msg *out;
    int rv = tern__call_encode(c, m, m->response_type, sc->response,
                               tern__call_effective_alg(c), &out);
    if (rv == TERN_OK && tern__server_too_big_to_send(sc, out)) {
      tern__call_msg_free(c, out);
      rv = TERN_ETOOBIG;
    }
    if (rv == TERN_OK)
      rv = tern__call_queue_out(c, out, TERN__QUEUE_FORCE);
    if (rv == TERN_ETOOBIG) {
      tern_server_call_set_message(sc, "response larger than "
                                       "max_send_message_size");
      code = TERN_STATUS_RESOURCE_EXHAUSTED;
    } else if (rv == TERN_ENOMEM || rv == TERN_EINVAL) {
      tern_server_call_set_message(sc, "failed to encode the response");
      code = TERN_STATUS_INTERNAL;
    }
  }
  finish_handler(sc, code);
  return 0;
}

static void run_handler(tern_server_call *sc) {
  if (handler_setup(sc) == 0)
    handler_invoke(sc);
}

/* Loop thread, end of turn: runs an inline streaming handler again. */
static void react_task(tern__task *t) {
  tern_server_call *sc = t->data;
  if (sc->pending && !sc->handler_done)
    sc->pending = handler_invoke(sc);
  tern__call_unref(&sc->c); /* taken by react() */
}

/* Loop thread: an event for an inline streaming handler. */
static void react(tern_server_call *sc) {
  if (!sc->pending || sc->react.queued)
    return;
  tern__call_ref(&sc->c);
  tern__loop_defer(sc->c.loop, &sc->react);
}

void *tern__server_worker_main(void *arg) {
  tern_server *s = arg;
  for (;;) {
    tern_server_call *sc;
    tern__queue *q;
    pthread_mutex_lock(&s->mu);
    while (tern__queue_empty(&s->wq) && !s->wq_stop)
      pthread_cond_wait(&s->wq_cv, &s->mu);
    if (tern__queue_empty(&s->wq)) { /* stopping */
      pthread_mutex_unlock(&s->mu);
      return NULL;
    }
    q = s->wq.next;
    tern__queue_remove(q);
    pthread_mutex_unlock(&s->mu);
    sc = tern__queue_data(q, tern_server_call, wq_node);
    run_handler(sc);
    tern__call_unref(&sc->c);
  }
}

static void dispatch(tern_server_call *sc) {
  tern_server *s = sc->server;
  sc->dispatched = 1;
  if (sc->entry->flags & TERN_REGISTER_INLINE) {
    sc->inline_stream = sc->entry->method->kind != TERN_METHOD_UNARY;
    if (handler_setup(sc) == 0)
      sc->pending = handler_invoke(sc);
    return;
  }
  /* From here a worker touches the call too: lock from now on. The
   * queue's mutex orders this before the worker's first look. */
  if (tern__call_share(&sc->c) != TERN_OK) {
    tern__call_fail(&sc->c, TERN_STATUS_RESOURCE_EXHAUSTED,
                    "out of memory");
    return;
  }
  tern__call_ref(&sc->c); /* the worker's */
  pthread_mutex_lock(&s->mu);
  tern__queue_insert_tail(&s->wq, &sc->wq_node);
  pthread_cond_signal(&s->wq_cv);
  pthread_mutex_unlock(&s->mu);
}

/* ---- call hooks (loop thread) ------------------------------------------- */

static void sc_on_headers(struct tern_call *c) {
  tern_server_call *sc = SC(c);
  tern_server *s = sc->server;
  const entry *e;
  if (c->bad_method) {
    tern__call_http_error(c, "405");
    return;
  }
  if (c->bad_content_type) {
    tern__call_http_error(c, "415");
    return;
  }
  e = c->path ? find_method(s, c->path) : NULL;
  if (!e) {
    char buf[256];
    const char *path = c->path ? c->path : "";
    const char *slash = path[0] == '/' ? strchr(path + 1, '/') : NULL;
    size_t i, svc_len = slash ? (size_t)(slash - path - 1) : 0;
    int known_service = 0;
    for (i = 0; i < s->n_services && slash; i++)
      if (strlen(s->services[i]->name) == svc_len &&
          memcmp(s->services[i]->name, path + 1, svc_len) == 0)
        known_service = 1;
    if (known_service)
      snprintf(buf, sizeof(buf), "unknown method %s for service %.*s",
               slash + 1, (int)svc_len, path + 1);
    else
      snprintf(buf, sizeof(buf), "unknown service %.*s",
               (int)(slash ? svc_len : strlen(path)),
               path + (path[0] == '/'));
    tern__call_fail(c, TERN_STATUS_UNIMPLEMENTED, buf);
    return;
  }
  sc->entry = e;
  tern__call_set_method(c, e->method);
  if (s->authorize) {
    tern_status_code code = s->authorize(sc, s->authorize_data);
    if (code != TERN_STATUS_OK) {
      const char *m = c->message ? c->message : "not authorized";
      char *copy = tern__strdup(m);
      tern__call_fail(c, code, copy ? copy : "not authorized");
      tern__free(copy);
      return;
    }
  }
  if (c->timeout_ns >= 0) {
    int64_t now = tern__now_ns();
    /* grpc-timeout may say 99999999H: clamp instead of overflowing. */
    tern__call_start_deadline(c, c->timeout_ns > INT64_MAX - now
                                     ? INT64_MAX
                                     : now + c->timeout_ns);
  }
  if (e->method->kind == TERN_METHOD_CLIENT_STREAMING ||
      e->method->kind == TERN_METHOD_BIDI_STREAMING)
    dispatch(sc);
}

static void sc_on_message(struct tern_call *c) {
  tern_server_call *sc = SC(c);
  react(sc);
  if (!sc->entry || sc->dispatched)
    return;
  if (c->in_count > 1)
    tern__call_fail(c, TERN_STATUS_INTERNAL,
                    "more than one request message for a unary request");
}

static void sc_on_half_close(struct tern_call *c) {
  tern_server_call *sc = SC(c);
  react(sc);
  if (!sc->entry || sc->dispatched || c->aborted)
    return;
  if (c->in_count != 1) {
    tern__call_fail(c, TERN_STATUS_INTERNAL,
                    c->in_count == 0 ? "missing request message"
                                     : "more than one request message");
    return;
  }
  dispatch(sc);
}

static void sc_on_stream_closed(struct tern_call *c, uint32_t error,
                                const char *why) {
  (void)error;
  (void)why;
  react(SC(c)); /* an inline handler learns it was cancelled */
}

static void sc_on_writable(struct tern_call *c) { react(SC(c)); }

static void sc_destroy(struct tern_call *c) {
  tern_server_call *sc = SC(c);
  tern_server *s = sc->server;
  free_request(sc); /* an inline handler that never finished */
  tern__call_cleanup(c); /* the arena too */
  tern__free(sc->peer_identity);
  tern__free(sc);
  /* Atomic: no server-wide lock per call. Only a shutdown waits on the
   * count: the last call to go while it does wakes it, under the mutex so
   * that the wake-up cannot fall between its check and its wait. Both
   * sides are sequentially consistent (a store then a load each, as
   * Dekker's): either the shutdown sees the count at 0, or this sees
   * draining set. */
  if (__atomic_sub_fetch(&s->n_calls, 1, __ATOMIC_SEQ_CST) == 0 &&
      __atomic_load_n(&s->draining, __ATOMIC_SEQ_CST)) {
    pthread_mutex_lock(&s->mu);
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
  }
}

static const tern__call_hooks server_call_hooks = {
    sc_on_headers, sc_on_message, sc_on_half_close, sc_on_stream_closed,
    sc_destroy,    NULL,          sc_on_writable,   NULL};

/* ---- a new stream's call ------------------------------------------------ */

tern__stream *tern__server_on_new_stream(tern__conn *conn) {
  srv_loop *sl = conn->owner;
  tern_server *s = sl->server;
  tern_server_call *sc = tern__call_object_new(sizeof(*sc));
  if (!sc)
    return NULL;
  if (tern__call_init(&sc->c, 0, NULL, &server_call_hooks, sl->loop,
                      s->opts.max_receive_message_size) != TERN_OK) {
    tern__free(sc);
    return NULL;
  }
  sc->server = s;
  if (conn->peer_identity)
    sc->peer_identity = tern__strdup(conn->peer_identity);
  tern__task_init(&sc->react, react_task, sc);
  if (s->opts.default_compression != TERN_COMPRESS_DEFAULT)
    tern__call_set_send_alg(&sc->c, s->opts.default_compression);
  __atomic_fetch_add(&s->n_calls, 1, __ATOMIC_RELAXED);
  /* The call's one reference is its stream's, until it closes. */
  return tern__call_stream(&sc->c);
}
