/* The server's lifecycle: options and registration, start (loops, worker
 * threads, listeners on loop 0), wait, graceful shutdown and free. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/server_int.h"

#define DEFAULT_WORKERS 10
#define DEFAULT_MAX_RECV (4 * 1024 * 1024)
#define DEFAULT_MAX_STREAMS 100
#define MAX_HEADER_LIST (16 * 1024)
#define DEFAULT_MAX_CONNECTIONS 10000
#define DEFAULT_HANDSHAKE_MS 20000
/* nghttp2's own defaults for the stream reset rate limit */
#define DEFAULT_RESET_BURST 1000
#define DEFAULT_RESET_RATE 33

int tern_server_new(tern_server **server_out, const tern_server_options *opts) {
  tern_server *s;
  if (!server_out)
    return TERN_EINVAL;
  s = tern__calloc(1, sizeof(*s));
  if (!s)
    return TERN_ENOMEM;
  if (opts && tern__struct_in(&s->opts, sizeof(s->opts), opts,
                              TERN__OPTIONS_MIN_SIZE) != TERN_OK) {
    tern__free(s);
    return TERN_EINVAL;
  }
  if (s->opts.workers <= 0)
    s->opts.workers = DEFAULT_WORKERS;
  if (s->opts.io_threads <= 0)
    s->opts.io_threads = 1;
  if (s->opts.max_receive_message_size == 0)
    s->opts.max_receive_message_size = DEFAULT_MAX_RECV;
  if (s->opts.max_concurrent_streams == 0)
    s->opts.max_concurrent_streams = DEFAULT_MAX_STREAMS;
  if (s->opts.max_header_list_size == 0)
    s->opts.max_header_list_size = MAX_HEADER_LIST;
  if (s->opts.max_connections <= 0)
    s->opts.max_connections = DEFAULT_MAX_CONNECTIONS;
  if (s->opts.handshake_timeout_ms == 0)
    s->opts.handshake_timeout_ms = DEFAULT_HANDSHAKE_MS;
  if (s->opts.reset_burst == 0)
    s->opts.reset_burst = DEFAULT_RESET_BURST;
  if (s->opts.reset_rate == 0)
    s->opts.reset_rate = DEFAULT_RESET_RATE;
  tern__queue_init(&s->wq);
  if (pthread_mutex_init(&s->mu, NULL) != 0)
    goto fail_alloc;
  if (tern__cond_init_monotonic(&s->cv) != 0)
    goto fail_mu;
  if (pthread_cond_init(&s->wq_cv, NULL) != 0)
    goto fail_cv;
  *server_out = s;
  return TERN_OK;
fail_cv:
  pthread_cond_destroy(&s->cv);
fail_mu:
  pthread_mutex_destroy(&s->mu);
fail_alloc:
  tern__free(s);
  return TERN_ENOMEM; /* what pthread's EAGAIN / ENOMEM come to */
}

int tern_server_set_authorizer(tern_server *s, tern_authorize_fn fn,
                               void *user_data) {
  if (!s)
    return TERN_EINVAL;
  if (s->state != S_NEW)
    return TERN_ESTATE;
  s->authorize = fn;
  s->authorize_data = user_data;
  return TERN_OK;
}

int tern_server_register(tern_server *s, const tern_service *service,
                         const void *handlers, void *user_data,
                         unsigned flags) {
  size_t i, j;
  entry *e;
  const tern_service **sv;
  if (!s || !service || !handlers || (flags & ~TERN_REGISTER_INLINE) ||
      service->struct_size < TERN__SIZE_THROUGH(tern_service, methods) ||
      !service->name || (service->n_methods && !service->methods))
    return TERN_EINVAL;
  /* Every method before anything changes: the array's stride is the
   * struct_size its program was built with. */
  for (j = 0; j < service->n_methods; j++)
    if (!tern__method_ok(tern__service_method(service, j)))
      return TERN_EINVAL;
  if (s->state != S_NEW)
    return TERN_ESTATE;
  for (i = 0; i < s->n_services; i++)
    if (strcmp(s->services[i]->name, service->name) == 0)
      return TERN_EEXIST;
  sv = tern__realloc(s->services, (s->n_services + 1) * sizeof(*sv));
  if (!sv)
    return TERN_ENOMEM;
  s->services = sv;
  e = tern__realloc(s->entries,
              (s->n_entries + service->n_methods) * sizeof(*e));
  if (!e)
    return TERN_ENOMEM;
  s->entries = e;
  sv[s->n_services++] = service;
  for (j = 0; j < service->n_methods; j++) {
    entry *ne = &s->entries[s->n_entries++];
    ne->method = tern__service_method(service, j);
    ne->handlers = handlers;
    ne->user_data = user_data;
    ne->flags = flags;
  }
  return TERN_OK;
}

int tern_server_start(tern_server *s) {
  int i, rv;
  size_t k;
  if (!s)
    return TERN_EINVAL;
  if (s->state != S_NEW)
    return TERN_ESTATE;
  if (s->n_listeners == 0)
    return TERN_ESTATE;
  /* Until the server runs, a failure undoes everything, so that start may
   * be called again (each call used to leak the last one's table and
   * loops). Past that, tern_server_free cleans up. */
  rv = tern__server_build_table(s);
  if (rv != TERN_OK)
    return rv;
  rv = TERN_ENOMEM;
  s->loops = tern__calloc((size_t)s->opts.io_threads, sizeof(*s->loops));
  if (!s->loops)
    goto fail_table;
  s->workers = tern__calloc((size_t)s->opts.workers, sizeof(*s->workers));
  if (!s->workers)
    goto fail_loops_array;
  for (i = 0; i < s->opts.io_threads; i++) {
    s->loops[i].server = s;
    tern__queue_init(&s->loops[i].conns);
    rv = tern__loop_new(&s->loops[i].loop);
    if (rv != TERN_OK)
      goto fail_loops;
    s->n_loops++;
  }
  for (k = 0; k < s->n_listeners; k++) {
    s->listeners[k].io.data = &s->listeners[k];
    tern__timer_init(&s->listeners[k].resume, tern__server_resume_accept,
                     &s->listeners[k]);
    if (tern__io_set(s->loops[0].loop, &s->listeners[k].io, TERN__IO_READ)) {
      rv = TERN_ESYS;
      goto fail_loops;
    }
  }
  s->state = S_RUNNING;
  for (i = 0; i < s->opts.workers; i++) {
    if (pthread_create(&s->workers[i], NULL, tern__server_worker_main, s) != 0)
      return TERN_ESYS;
    s->n_workers++;
  }
  for (i = 0; i < s->n_loops; i++) {
    rv = tern__loop_start_thread(s->loops[i].loop);
    if (rv != TERN_OK)
      return rv;
  }
  return TERN_OK;
fail_loops:
  for (i = 0; i < s->n_loops; i++)
    tern__loop_free(s->loops[i].loop);
  s->n_loops = 0;
  /* Their registrations went with loop 0's epoll descriptor. */
  for (k = 0; k < s->n_listeners; k++)
    s->listeners[k].io.events = 0;
  tern__free(s->workers);
  s->workers = NULL;
fail_loops_array:
  tern__free(s->loops);
  s->loops = NULL;
fail_table:
  tern__free(s->table);
  s->table = NULL;
  return rv;
}

int tern_server_wait(tern_server *s) {
  if (!s)
    return TERN_EINVAL;
  pthread_mutex_lock(&s->mu);
  while (s->state == S_RUNNING || s->state == S_SHUTTING)
    pthread_cond_wait(&s->cv, &s->mu);
  pthread_mutex_unlock(&s->mu);
  return TERN_OK;
}

static void loop_goaway(void *arg) {
  srv_loop *sl = arg;
  tern__queue *q, *n;
  size_t k;
  /* Close the listening sockets: new connections are refused, not left
   * waiting in the backlog. */
  if (sl == &sl->server->loops[0])
    for (k = 0; k < sl->server->n_listeners; k++) {
      tern__timer_stop(sl->loop, &sl->server->listeners[k].resume);
      tern__io_stop(sl->loop, &sl->server->listeners[k].io);
      close(sl->server->listeners[k].io.fd);
      sl->server->listeners[k].io.fd = -1;
    }
  tern__queue_foreach_safe(q, n, &sl->conns) {
    tern__conn *c = tern__queue_data(q, tern__conn, owner_node);
    tern__conn_shutdown(c);
    if (c->n_streams == 0)
      tern__conn_close(c);
  }
}

static void loop_close_all(void *arg) {
  srv_loop *sl = arg;
  tern__queue *q;
  while ((q = tern__queue_head(&sl->conns)) != NULL)
    tern__conn_close(tern__queue_data(q, tern__conn, owner_node));
}

static void post_all(tern_server *s, void (*fn)(void *)) {
  int i;
  for (i = 0; i < s->n_loops; i++)
    while (tern__loop_post_fn(s->loops[i].loop, fn, &s->loops[i]) != TERN_OK)
      usleep(1000);
}

/* Under mu: calls not yet destroyed, or connections not yet closed. */
static int work_left(tern_server *s) {
  return __atomic_load_n(&s->n_calls, __ATOMIC_SEQ_CST) > 0 || s->n_conns > 0;
}

int tern_server_shutdown(tern_server *s, int64_t grace_ms) {
  int i;
  if (!s)
    return TERN_EINVAL;
  pthread_mutex_lock(&s->mu);
  if (s->state != S_RUNNING) {
    int st = s->state;
    if (st == S_NEW)
      s->state = S_DONE;
    pthread_cond_broadcast(&s->cv);
    while (s->state == S_SHUTTING)
      pthread_cond_wait(&s->cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
    return TERN_OK;
  }
  s->state = S_SHUTTING;
  /* From here the last call destroyed broadcasts cv (sc_destroy); set
   * before work_left() first reads the count. */
  __atomic_store_n(&s->draining, 1, __ATOMIC_SEQ_CST);
  pthread_mutex_unlock(&s->mu);

  post_all(s, loop_goaway);
  /* Woken by the last connection closing (on_conn_closed) or the last
   * call going (sc_destroy); bounded by the grace period. */
  pthread_mutex_lock(&s->mu);
  if (grace_ms < 0) {
    while (work_left(s))
      pthread_cond_wait(&s->cv, &s->mu);
  } else {
    struct timespec deadline;
    tern__deadline_ts(&deadline, grace_ms);
    while (work_left(s))
      if (pthread_cond_timedwait(&s->cv, &s->mu, &deadline) == ETIMEDOUT)
        break;
  }
  pthread_mutex_unlock(&s->mu);

  /* Grace is over: cancel what is left; handlers see it and return. */
  post_all(s, loop_close_all);
  pthread_mutex_lock(&s->mu);
  while (work_left(s))
    pthread_cond_wait(&s->cv, &s->mu);
  s->wq_stop = 1;
  pthread_cond_broadcast(&s->wq_cv);
  pthread_mutex_unlock(&s->mu);

  for (i = 0; i < s->n_workers; i++)
    pthread_join(s->workers[i], NULL);
  s->n_workers = 0;
  for (i = 0; i < s->n_loops; i++)
    tern__loop_stop(s->loops[i].loop);
  for (i = 0; i < s->n_loops; i++)
    tern__loop_join(s->loops[i].loop);

  pthread_mutex_lock(&s->mu);
  s->state = S_DONE;
  pthread_cond_broadcast(&s->cv);
  pthread_mutex_unlock(&s->mu);
  return TERN_OK;
}

void tern_server_free(tern_server *s) {
  size_t k;
  int i;
  if (!s)
    return;
  tern_server_shutdown(s, 0);
  /* Workers that failed to start in tern_server_start still need joining. */
  pthread_mutex_lock(&s->mu);
  s->wq_stop = 1;
  pthread_cond_broadcast(&s->wq_cv);
  pthread_mutex_unlock(&s->mu);
  for (i = 0; i < s->n_workers; i++)
    pthread_join(s->workers[i], NULL);
  for (k = 0; k < s->n_listeners; k++) {
    if (s->listeners[k].io.fd >= 0)
      close(s->listeners[k].io.fd);
    tern__tls_ctx_unref(s->listeners[k].tls);
  }
  for (i = 0; i < s->n_loops; i++) {
    tern__loop_stop(s->loops[i].loop);
    tern__loop_join(s->loops[i].loop);
    tern__loop_free(s->loops[i].loop);
  }
  tern__free(s->loops);
  tern__free(s->workers);
  tern__free(s->listeners);
  tern__free(s->entries);
  tern__free(s->services);
  tern__free(s->table);
  pthread_cond_destroy(&s->cv);
  pthread_cond_destroy(&s->wq_cv);
  pthread_mutex_destroy(&s->mu);
  tern__free(s);
}
