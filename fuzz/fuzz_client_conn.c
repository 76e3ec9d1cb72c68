/* fuzz_client_conn: what a server can send a tern client. The harness
 * listens on a private unix socket and plays the server; per input a new
 * channel makes one call (50 ms deadline) on a client thread while the
 * harness accepts the connection, reads the request, and answers with the
 * input bytes.
 *
 * Input: [flags][server bytes...]
 *   bit 0      first send a valid (empty) SETTINGS frame
 *   bit 1      then a SETTINGS ACK
 *   bits 2+7   (both set) keep the connection open after the bytes (the
 *              call ends by its deadline or by what the bytes say); else
 *              half-close, so the client sees EOF once it has read them
 *   bits 3-4   the call: 0 blocking unary, 1 unary with a gzip request,
 *              2 bidi stream (write, close, read all, finish), 3 unary
 *              future
 * The call must end (any status) within its deadline plus slack, and
 * nothing may crash or leak. Further connections the channel opens (a
 * transparent retry after REFUSED_STREAM or GOAWAY) are closed at once.
 *
 * Seeds: fuzz/corpus/fuzz_client_conn/. FUZZ_VERBOSE=1 prints how each
 * call ended. */
#include <pthread.h>

#include "fuzz_common.h"
#include "fuzz_io.h"

#define DEADLINE_MS 50
#define REQUEST_WAIT_MS 1000
/* The call must be over long before this (deadline + slack). */
#define CALL_LIMIT_MS 5000

static const tern_method unary_method = {sizeof(tern_method), "Unary", "/fuzz.Echo/Unary",
                                         TERN_METHOD_UNARY, &fuzz_raw_codec,
                                         NULL, NULL, NULL};
static const tern_method bidi_method = {sizeof(tern_method), "Bidi", "/fuzz.Echo/Bidi",
                                        TERN_METHOD_BIDI_STREAMING,
                                        &fuzz_raw_codec, NULL, NULL, NULL};

static int listen_fd = -1;
static char target[160];

typedef struct client_job {
  tern_channel *channel;
  int kind;
  volatile int done; /* atomic */
  tern_status_code code;
} client_job;

static void check_md(const tern_metadata *md) {
  size_t i, n = tern_metadata_count(md);
  for (i = 0; i < n; i++) {
    const char *k, *v;
    size_t len;
    FUZZ_CHECK(tern_metadata_get_at(md, i, &k, &v, &len) == TERN_OK);
    FUZZ_CHECK(k && v && v[len] == '\0');
  }
}

static void *client_main(void *arg) {
  client_job *job = arg;
  static const uint8_t body[] = "\x01hello";
  fuzz_raw req = {sizeof(body) - 1, body};
  tern_call_options o = TERN_CALL_OPTIONS_INIT;
  tern_metadata *md, *hdrs, *trls;
  tern_status st = TERN_STATUS_INIT;
  void *resp = NULL;

  FUZZ_CHECK(tern_metadata_new(&md) == TERN_OK);
  FUZZ_CHECK(tern_metadata_new(&hdrs) == TERN_OK);
  FUZZ_CHECK(tern_metadata_new(&trls) == TERN_OK);
  FUZZ_CHECK(tern_metadata_add(md, "x-fuzz", "1") == TERN_OK);
  FUZZ_CHECK(tern_metadata_add_bin(md, "x-fuzz-bin", "\0\1\2", 3) == TERN_OK);
  o.timeout_ms = DEADLINE_MS;
  o.metadata = md;
  o.headers_out = hdrs;
  o.trailers_out = trls;
  if (job->kind == 1)
    o.compression = TERN_COMPRESS_GZIP;

  if (job->kind == 0 || job->kind == 1) {
    job->code = tern_unary_call(job->channel, &unary_method, &req, &resp, &o,
                                &st);
  } else if (job->kind == 2) {
    tern_call *call;
    if (tern_call_start(job->channel, &bidi_method, &o, &call) == TERN_OK) {
      int rv, n = 0;
      (void)tern_call_write(call, &req);
      (void)tern_call_close_send(call);
      check_md(tern_call_headers(call));
      while ((rv = tern_call_read(call, &resp)) == 1) {
        (void)tern_call_message_compressed(call);
        fuzz_raw_free(NULL, resp);
        resp = NULL;
        FUZZ_CHECK(++n < 100000);
      }
      FUZZ_CHECK(rv == 0 || rv < 0);
      job->code = tern_call_finish(call, &st);
      tern_call_free(call);
    } else {
      job->code = TERN_STATUS_INTERNAL;
    }
  } else {
    tern_future *f;
    if (tern_unary_call_future(job->channel, &unary_method, &req, &o, &f) ==
        TERN_OK) {
      FUZZ_CHECK(tern_future_wait(f, CALL_LIMIT_MS) == TERN_OK);
      FUZZ_CHECK(tern_future_done(f));
      job->code = tern_future_result(f, &resp, &st);
      tern_future_free(f);
    } else {
      job->code = TERN_STATUS_INTERNAL;
    }
  }
  /* A response only with OK, and OK only with a response (unary). */
  if (job->kind != 2)
    FUZZ_CHECK((job->code == TERN_STATUS_OK) == (resp != NULL));
  FUZZ_CHECK(st.code == job->code);
  FUZZ_CHECK(job->code >= TERN_STATUS_OK &&
             job->code <= TERN_STATUS_UNAUTHENTICATED);
  if (getenv("FUZZ_VERBOSE"))
    fprintf(stderr, "  call kind %d: %s \"%s\" (%zu headers, %zu trailers)\n",
            job->kind, tern_status_code_name(job->code),
            st.message ? st.message : "", tern_metadata_count(hdrs),
            tern_metadata_count(trls));
  if (resp)
    fuzz_raw_free(NULL, resp);
  check_md(hdrs);
  check_md(trls);
  tern_status_clear(&st);
  tern_metadata_free(md);
  tern_metadata_free(hdrs);
  tern_metadata_free(trls);
  __atomic_store_n(&job->done, 1, __ATOMIC_RELEASE);
  return NULL;
}

/* Reads the client's bytes until its request is complete: the preface,
 * then frames until one (HEADERS or DATA) carries END_STREAM. Returns 0, or
 * -1 when the client closed or REQUEST_WAIT_MS passed. */
static int read_request(int fd) {
  uint8_t buf[65536];
  size_t have = 0, off = 24;
  int64_t end = fuzz_now_ms() + REQUEST_WAIT_MS;
  for (;;) {
    struct pollfd p = {fd, POLLIN, 0};
    int64_t left = end - fuzz_now_ms();
    ssize_t r;
    while (have >= off + 9) {
      size_t len = (size_t)buf[off] << 16 | (size_t)buf[off + 1] << 8 |
                   buf[off + 2];
      uint8_t type = buf[off + 3], flags = buf[off + 4];
      if (have < off + 9 + len)
        break;
      if ((type == 0 || type == 1) && (flags & 1))
        return 0;
      off += 9 + len;
    }
    if (have == sizeof(buf)) { /* keep only the unparsed tail */
      memmove(buf, buf + off, have - off);
      have -= off;
      off = 0;
      if (have == sizeof(buf))
        return -1;
    }
    if (left <= 0 || poll(&p, 1, (int)left) <= 0)
      return -1;
    r = recv(fd, buf + have, sizeof(buf) - have, 0);
    if (r <= 0)
      return -1;
    have += (size_t)r;
  }
}

static void close_now(int fd) {
  struct linger l = {1, 0}; /* RST: nothing lingers */
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
  close(fd);
}

/* Closes every connection waiting in the backlog. */
static void drain_backlog(void) {
  int fd;
  while ((fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >=
         0)
    close_now(fd);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  struct sockaddr_un sun;
  (void)argc;
  (void)argv;
  fuzz_io_make_path("fuzz-client");
  fuzz_io_addr(&sun);
  listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&sun, sizeof(sun)) ||
      listen(listen_fd, 64) != 0) {
    perror("fuzz_client_conn: listen");
    abort();
  }
  snprintf(target, sizeof(target), "unix:%s", fuzz_io_path);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const uint8_t settings[9] = {0, 0, 0, 4, 0, 0, 0, 0, 0};
  static const uint8_t settings_ack[9] = {0, 0, 0, 4, 1, 0, 0, 0, 0};
  tern_channel_options co = TERN_CHANNEL_OPTIONS_INIT;
  client_job job;
  pthread_t th;
  int fd = -1, conn_open;
  uint8_t flags;
  int64_t limit;

  if (size < 1 || size > (1u << 20))
    return 0;
  flags = data[0];
  data++;
  size--;

  memset(&job, 0, sizeof(job));
  job.kind = (flags >> 3) & 3;
  co.max_receive_message_size = 64 * 1024;
  co.initial_backoff_ms = 10;
  co.max_backoff_ms = 10;
  co.min_connect_timeout_ms = 1000;
  FUZZ_CHECK(tern_channel_new(&job.channel, target, &co) == TERN_OK);
  FUZZ_CHECK(pthread_create(&th, NULL, client_main, &job) == 0);

  /* The first connection gets the bytes. */
  {
    struct pollfd p = {listen_fd, POLLIN, 0};
    if (poll(&p, 1, REQUEST_WAIT_MS) == 1)
      fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
  }
  conn_open = fd >= 0;
  if (fd >= 0 && read_request(fd) == 0) {
    if (flags & 1)
      fuzz_send_all(fd, settings, sizeof(settings));
    if (flags & 2)
      fuzz_send_all(fd, settings_ack, sizeof(settings_ack));
    fuzz_send_all(fd, data, size);
    if ((flags & 0x84) != 0x84)
      shutdown(fd, SHUT_WR);
  }

  /* Until the call ends: keep reading what the client sends (so it never
   * blocks on a full socket), and close any other connection at once. */
  limit = fuzz_now_ms() + CALL_LIMIT_MS;
  while (!__atomic_load_n(&job.done, __ATOMIC_ACQUIRE)) {
    struct pollfd p[2] = {{listen_fd, POLLIN, 0}, {fd, POLLIN, 0}};
    int n = conn_open ? 2 : 1;
    if (fuzz_now_ms() > limit) {
      fprintf(stderr, "fuzz_client_conn: the call did not end within %d ms "
                      "(deadline %d ms)\n", CALL_LIMIT_MS, DEADLINE_MS);
      abort();
    }
    if (poll(p, (nfds_t)n, 1) <= 0)
      continue;
    if (p[0].revents)
      drain_backlog();
    if (conn_open && p[1].revents) {
      uint8_t buf[16384];
      ssize_t r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
      if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
        conn_open = 0;
    }
  }
  pthread_join(th, NULL);
  tern_channel_free(job.channel);
  if (fd >= 0)
    close_now(fd);
  drain_backlog();
  return 0;
}
