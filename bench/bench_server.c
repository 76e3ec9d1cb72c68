/* bench_server: grpc.testing.BenchmarkService, answering
 * SimpleRequest{response_size: N} with SimpleResponse{payload{body: N zero
 * bytes}} as ../shared/bench/README.md describes. By default the handlers
 * are inline (on the I/O threads); --blocking runs the same handlers on
 * the worker pool, the tutorial's model. The handlers are written once for
 * both: in blocking mode reads and writes never say TERN_EAGAIN, so they
 * never return TERN_STATUS_PENDING. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "grpc/testing/benchmark_service.tern.h"

#define MAX_STATIC_ZEROS (1 << 20)

static uint8_t zeros[MAX_STATIC_ZEROS];

/* Fills resp for a request; the body points at static zeros (or call
 * memory for larger sizes). -1 when out of memory. */
static int fill(tern_server_call *call, const Grpc__Testing__SimpleRequest *req,
                Grpc__Testing__SimpleResponse *resp,
                Grpc__Testing__Payload *payload) {
  size_t n = req->response_size > 0 ? (size_t)req->response_size : 0;
  grpc__testing__payload__init(payload);
  payload->body.len = n;
  if (n <= MAX_STATIC_ZEROS) {
    payload->body.data = zeros;
  } else {
    payload->body.data = tern_server_call_alloc(call, n);
    if (!payload->body.data)
      return -1;
  }
  resp->payload = payload;
  return 0;
}

static tern_status_code unary_call(tern_server_call *call,
                                   const Grpc__Testing__SimpleRequest *req,
                                   Grpc__Testing__SimpleResponse *resp,
                                   void *ud) {
  Grpc__Testing__Payload *p = tern_server_call_alloc(call, sizeof(*p));
  (void)ud;
  if (!p || fill(call, req, resp, p) != 0)
    return TERN_STATUS_RESOURCE_EXHAUSTED;
  return TERN_STATUS_OK;
}

/* Ping-pong: one response per request. A response refused with
 * TERN_EAGAIN waits in the call's state for the next run. */
typedef struct pp_state {
  Grpc__Testing__SimpleRequest *unsent;
  Grpc__Testing__SimpleRequest *last; /* StreamingFromClient */
} pp_state;

static pp_state *state_of(tern_server_call *call) {
  pp_state *st = tern_server_call_state(call);
  if (!st) {
    st = tern_server_call_alloc(call, sizeof(*st));
    tern_server_call_set_state(call, st);
  }
  return st;
}

static tern_status_code streaming_call(tern_server_call *call, void *ud) {
  pp_state *st = state_of(call);
  (void)ud;
  if (!st)
    return TERN_STATUS_RESOURCE_EXHAUSTED;
  for (;;) {
    Grpc__Testing__SimpleRequest *req = st->unsent;
    Grpc__Testing__SimpleResponse resp = GRPC__TESTING__SIMPLE_RESPONSE__INIT;
    Grpc__Testing__Payload p;
    int rv;
    st->unsent = NULL;
    if (!req) {
      rv = grpc__testing__benchmark_service_servicer__streaming_call_read(
          call, &req);
      if (rv == TERN_EAGAIN)
        return TERN_STATUS_PENDING;
      if (rv == 0)
        return TERN_STATUS_OK;
      if (rv < 0)
        return TERN_STATUS_CANCELLED;
    }
    fill(call, req, &resp, &p);
    rv = grpc__testing__benchmark_service_servicer__streaming_call_write(call,
                                                                        &resp);
    if (rv == TERN_EAGAIN) {
      st->unsent = req;
      return TERN_STATUS_PENDING;
    }
    grpc__testing__simple_request__free_unpacked(req, NULL);
    if (rv != TERN_OK)
      return TERN_STATUS_CANCELLED;
  }
}

static tern_status_code streaming_from_client(
    tern_server_call *call, Grpc__Testing__SimpleResponse *resp, void *ud) {
  pp_state *st = state_of(call);
  Grpc__Testing__SimpleRequest *req;
  Grpc__Testing__Payload *p;
  int rv;
  (void)ud;
  if (!st)
    return TERN_STATUS_RESOURCE_EXHAUSTED;
  while ((rv = grpc__testing__benchmark_service_servicer__streaming_from_client_read(
              call, &req)) == 1) {
    if (st->last)
      grpc__testing__simple_request__free_unpacked(st->last, NULL);
    st->last = req;
  }
  if (rv == TERN_EAGAIN)
    return TERN_STATUS_PENDING;
  if (rv < 0) {
    if (st->last)
      grpc__testing__simple_request__free_unpacked(st->last, NULL);
    return TERN_STATUS_CANCELLED;
  }
  p = tern_server_call_alloc(call, sizeof(*p));
  if (st->last) {
    rv = p ? fill(call, st->last, resp, p) : -1;
    grpc__testing__simple_request__free_unpacked(st->last, NULL);
    st->last = NULL;
  } else {
    Grpc__Testing__SimpleRequest none = GRPC__TESTING__SIMPLE_REQUEST__INIT;
    rv = p ? fill(call, &none, resp, p) : -1;
  }
  return rv == 0 ? TERN_STATUS_OK : TERN_STATUS_RESOURCE_EXHAUSTED;
}

/* Sends responses until the client goes away. */
static tern_status_code send_forever(tern_server_call *call,
                                     const Grpc__Testing__SimpleRequest *req) {
  for (;;) {
    Grpc__Testing__SimpleResponse resp = GRPC__TESTING__SIMPLE_RESPONSE__INIT;
    Grpc__Testing__Payload p;
    int rv;
    fill(call, req, &resp, &p);
    rv = tern_server_call_write(call, &resp);
    if (rv == TERN_EAGAIN)
      return TERN_STATUS_PENDING;
    if (rv != TERN_OK)
      return TERN_STATUS_CANCELLED;
  }
}

static tern_status_code streaming_from_server(
    tern_server_call *call, const Grpc__Testing__SimpleRequest *req,
    void *ud) {
  (void)ud;
  return send_forever(call, req);
}

static tern_status_code streaming_both_ways(tern_server_call *call,
                                            void *ud) {
  pp_state *st = state_of(call);
  Grpc__Testing__SimpleRequest *req;
  int rv;
  (void)ud;
  if (!st)
    return TERN_STATUS_RESOURCE_EXHAUSTED;
  /* The first request sets the response size; the rest are drained. */
  while ((rv = grpc__testing__benchmark_service_servicer__streaming_both_ways_read(
              call, &req)) == 1) {
    if (!st->last)
      st->last = req;
    else
      grpc__testing__simple_request__free_unpacked(req, NULL);
  }
  if (rv < 0 && rv != TERN_EAGAIN) {
    if (st->last)
      grpc__testing__simple_request__free_unpacked(st->last, NULL);
    st->last = NULL;
    return TERN_STATUS_CANCELLED;
  }
  if (!st->last)
    return rv == 0 ? TERN_STATUS_OK : TERN_STATUS_PENDING;
  return send_forever(call, st->last);
}

static const Grpc__Testing__BenchmarkServiceServicer servicer = {
    unary_call, streaming_call, streaming_from_client, streaming_from_server,
    streaming_both_ways};

static volatile sig_atomic_t stop;
static void on_signal(int sig) {
  (void)sig;
  stop = 1;
}

static void usage(void) {
  fprintf(stderr, "usage: bench_server [--port N] [--threads K] "
                  "[--blocking] [--workers W]\n");
}

int main(int argc, char **argv) {
  tern_server_options o = TERN_SERVER_OPTIONS_INIT;
  tern_server *server;
  char addr[64];
  int port = 50051, i, bound = 0, blocking = 0, rv;
  struct sigaction sa;
  for (i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    char *end;
    long n;
    if (strcmp(a, "--blocking") == 0) {
      blocking = 1;
      continue;
    }
    if (!v || (strcmp(a, "--port") && strcmp(a, "--threads") &&
               strcmp(a, "--workers"))) {
      usage();
      return 2;
    }
    n = strtol(v, &end, 10);
    if (*end || n < 0 || n > 65535) {
      fprintf(stderr, "bench_server: bad value for %s: %s\n", a, v);
      return 2;
    }
    if (strcmp(a, "--port") == 0)
      port = (int)n;
    else if (strcmp(a, "--threads") == 0)
      o.io_threads = (int)n;
    else
      o.workers = (int)n;
    i++;
  }
  if (!blocking)
    o.workers = 1; /* the pool is unused; keep it small */
  if (tern_server_new(&server, &o) != TERN_OK)
    return 1;
  rv = tern_server_register(server,
                            &grpc__testing__benchmark_service__tern_service,
                            &servicer, NULL,
                            blocking ? TERN_REGISTER_BLOCKING
                                     : TERN_REGISTER_INLINE);
  snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
  if (rv == TERN_OK)
    rv = tern_server_add_insecure_port(server, addr, &bound);
  if (rv == TERN_OK)
    rv = tern_server_start(server);
  if (rv != TERN_OK) {
    fprintf(stderr, "bench_server: %s\n", tern_strerror(rv));
    tern_server_free(server);
    return 1;
  }
  printf("LISTENING %d\n", bound);
  fflush(stdout);
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  while (!stop)
    pause();
  tern_server_shutdown(server, 1000);
  tern_server_free(server);
  return 0;
}
