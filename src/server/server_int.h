/* The server's internals, shared by its files: lifecycle (server.c),
 * listening and connections (listen.c), dispatch (dispatch.c) and the
 * handler's call API (call_api.c). Private to the server layer. */
#ifndef TERN_SERVER_INT_H
#define TERN_SERVER_INT_H

#include <stdint.h>

#include "call/call_int.h"

typedef struct entry {
  const tern_method *method;
  const void *handlers;
  void *user_data;
  unsigned flags;
} entry;

typedef struct listener {
  tern__io io;
  struct tern_server *server;
  tern__tls_ctx *tls; /* NULL: cleartext */
  tern__timer resume; /* accept paused: out of descriptors */
  int64_t last_warn_ns;
} listener;

typedef struct srv_loop {
  tern__loop *loop;
  struct tern_server *server;
  tern__queue conns; /* loop thread only: via conn->owner_node */
} srv_loop;

enum { S_NEW, S_RUNNING, S_SHUTTING, S_DONE };

struct tern_server {
  tern_server_options opts;
  /* method table: open addressing on the :path */
  entry *entries;
  size_t n_entries;
  size_t *table; /* indexes + 1; 0 = empty */
  size_t table_cap;
  const tern_service **services;
  size_t n_services;

  listener *listeners;
  size_t n_listeners;
  srv_loop *loops;
  int n_loops;
  unsigned next_loop; /* loop 0 thread only */

  pthread_t *workers;
  int n_workers;
  tern__queue wq; /* calls waiting for a worker, under mu */
  int wq_stop;
  pthread_cond_t wq_cv; /* workers wait here, apart from state waiters */

  tern_authorize_fn authorize;
  void *authorize_data;

  pthread_mutex_t mu;
  pthread_cond_t cv; /* CLOCK_MONOTONIC: the shutdown waits with a deadline */
  int state;
  size_t n_calls;  /* atomic: no lock per call */
  int draining;    /* atomic: set once shutdown waits for n_calls */
  size_t n_conns;
};

struct tern_server_call {
  struct tern_call c; /* first: hooks get a tern_call * */
  struct tern_server *server;
  const entry *entry;
  tern__queue wq_node;
  int dispatched;
  int handler_done;
  void *request;  /* decoded request (unary, server-streaming) */
  int request_in_arena; /* decoded into the call arena: not freed alone */
  void *response; /* response being filled (unary, client-streaming) */
  void *state;    /* tern_server_call_set_state */
  char *peer_identity; /* TLS client certificate CN */
  /* inline streaming (loop thread only) */
  int inline_stream;
  int pending;    /* the handler returned TERN_STATUS_PENDING */
  tern__task react;
};

TERN__CALL_OBJECT_FITS(tern_server_call);

/* The server's max_send_message_size, on the message as it goes out.
 * Inline: every streamed write asks (call_api.c), as does the end of a
 * unary handler (dispatch.c). */
static inline int tern__server_too_big_to_send(const tern_server_call *sc,
                                               const tern__msg *m) {
  int64_t max = sc->server->opts.max_send_message_size;
  return max > 0 && (int64_t)(m->len - 5) > max;
}

/* ---- dispatch.c ---------------------------------------------------------- */

/* Builds the :path hash table from the registered entries, at start.
 * TERN_OK or TERN_ENOMEM. */
int tern__server_build_table(tern_server *s);

/* A worker thread (pthread_create's start routine, arg the server): runs
 * queued calls' handlers until the queue stops and is empty. */
void *tern__server_worker_main(void *arg);

/* The connection op for a new request stream: makes a server call (one
 * reference, the stream's) and returns its stream, or NULL to refuse.
 * conn->owner is the connection's srv_loop. Loop thread. */
tern__stream *tern__server_on_new_stream(tern__conn *conn);

/* ---- listen.c ------------------------------------------------------------ */

/* A listener's resume timer (data the listener): watches it again after
 * accepts were paused, unless the server stopped running. Loop 0. */
void tern__server_resume_accept(tern__timer *t);

#endif
