/* fuzz_server_conn: what a client can send a tern server: a server on a
 * private unix socket with two services over a raw-bytes codec: "fuzz.Inline"
 * (TERN_REGISTER_INLINE) and "fuzz.Blocking" (the worker pool), each with
 * a unary, a server-streaming, a client-streaming and a bidi method. The
 * handlers echo, and the first byte of a request message steers what they
 * do besides (compression, metadata echo, early headers, a status with a
 * message): see apply_ops().
 *
 * Per input: start the server, connect, write the HTTP/2 client preface
 * then the input bytes, read until the server has been quiet for QUIET_MS
 * (at most MAX_MS), half-close, read until the server closes (it does on
 * EOF), close, and shut the server down. Nothing survives an input.
 *
 * Seeds: fuzz/corpus/fuzz_server_conn/ (the bytes after the preface).
 * FUZZ_VERBOSE=1 prints the frames the server answered with. */
#include <nghttp2/nghttp2.h>
#include <pthread.h>

#include "fuzz_common.h"
#include "fuzz_io.h"

#define QUIET_MS 1
#define MAX_MS 20
#define CLOSE_MS 2000

static const uint8_t preface[24] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
static const int handlers_token = 1; /* the servicer: any non-NULL pointer */

/* Request byte 0, bit by bit:
 *   0: respond gzip-compressed   1: respond deflate-compressed
 *   2: echo request metadata as response headers and trailers
 *   3: send the headers now      4: look at everything the call tells
 *   5: end with status byte1 % 17 and the rest of the request as message */
static void apply_ops(tern_server_call *call, const fuzz_raw *req) {
  uint8_t op = req->len ? req->data[0] : 0;
  if ((op & 3) == 1)
    (void)tern_server_call_set_compression(call, TERN_COMPRESS_GZIP);
  else if ((op & 3) == 2)
    (void)tern_server_call_set_compression(call, TERN_COMPRESS_DEFLATE);
  else if ((op & 3) == 3)
    (void)tern_server_call_set_compression(call, TERN_COMPRESS_DEFAULT);
  if (op & 4) {
    const tern_metadata *md = tern_server_call_metadata(call);
    size_t i, n = tern_metadata_count(md);
    for (i = 0; i < n && i < 64; i++) {
      const char *k, *v;
      size_t len;
      if (tern_metadata_get_at(md, i, &k, &v, &len) != TERN_OK)
        break;
      (void)tern_server_call_add_header_bin(call, k, v, len);
      (void)tern_server_call_add_header(call, k, v);
      (void)tern_server_call_add_trailer(call, k, v);
      (void)tern_server_call_add_trailer_bin(call, k, v, len);
    }
  }
  if (op & 8)
    (void)tern_server_call_send_headers(call);
  if (op & 16) {
    const char *s;
    s = tern_server_call_method(call);
    FUZZ_CHECK(s != NULL);
    s = tern_server_call_authority(call);
    if (s)
      (void)strlen(s);
    FUZZ_CHECK(tern_server_call_peer_identity(call) == NULL);
    (void)tern_server_call_time_remaining_ms(call);
    (void)tern_server_call_is_cancelled(call);
    (void)tern_server_call_message_compressed(call);
  }
}

static tern_status_code end_status(tern_server_call *call,
                                   const fuzz_raw *req) {
  if (req->len < 2 || !(req->data[0] & 32))
    return TERN_STATUS_OK;
  /* The codec NUL-terminates: any bytes, percent-encoded on the way out. */
  (void)tern_server_call_set_message(call, (const char *)req->data + 2);
  return (tern_status_code)(req->data[1] % 17);
}

static int copy_into(tern_server_call *call, fuzz_raw *dst,
                     const fuzz_raw *src) {
  uint8_t *p = tern_server_call_alloc(call, src->len + 1);
  if (!p)
    return -1;
  if (src->len)
    memcpy(p, src->data, src->len);
  dst->data = p;
  dst->len = src->len;
  return 0;
}

static tern_status_code unary(const void *h, tern_server_call *call,
                              const void *request, void *response, void *ud) {
  const fuzz_raw *req = request;
  (void)ud;
  FUZZ_CHECK(h == &handlers_token && req != NULL && response != NULL);
  apply_ops(call, req);
  if (copy_into(call, response, req) != 0)
    return TERN_STATUS_RESOURCE_EXHAUSTED;
  return end_status(call, req);
}

static tern_status_code server_streaming(const void *h, tern_server_call *call,
                                         const void *request, void *response,
                                         void *ud) {
  const fuzz_raw *req = request;
  int i, n = req->len ? req->data[0] >> 6 : 1;
  (void)h;
  (void)response;
  (void)ud;
  apply_ops(call, req);
  for (i = 0; i < n; i++) {
    int rv = tern_server_call_write_flags(call, req,
                                          i == 1 ? TERN_WRITE_NO_COMPRESS : 0);
    if (rv == TERN_EAGAIN)
      break; /* inline: the window is full; good enough */
    if (rv != TERN_OK)
      return TERN_STATUS_CANCELLED;
  }
  return end_status(call, req);
}

/* Client-streaming: the response is the number of bytes read (8 bytes). */
typedef struct cs_state {
  uint64_t bytes;
  int seen_first;
} cs_state;

static tern_status_code client_streaming(const void *h, tern_server_call *call,
                                         const void *request, void *response,
                                         void *ud) {
  cs_state *st = tern_server_call_state(call);
  (void)h;
  (void)request;
  (void)ud;
  if (!st) {
    st = tern_server_call_alloc(call, sizeof(*st));
    if (!st)
      return TERN_STATUS_RESOURCE_EXHAUSTED;
    tern_server_call_set_state(call, st);
  }
  for (;;) {
    void *m;
    int rv = tern_server_call_read(call, &m);
    if (rv == TERN_EAGAIN)
      return TERN_STATUS_PENDING; /* inline: run again on the next event */
    if (rv < 0)
      return TERN_STATUS_CANCELLED;
    if (rv == 0)
      break;
    if (!st->seen_first) {
      st->seen_first = 1;
      apply_ops(call, m);
    }
    st->bytes += ((fuzz_raw *)m)->len;
    fuzz_raw_free(NULL, m);
  }
  {
    fuzz_raw *resp = response;
    uint8_t *p = tern_server_call_alloc(call, 8);
    if (!p)
      return TERN_STATUS_RESOURCE_EXHAUSTED;
    memcpy(p, &st->bytes, 8);
    resp->data = p;
    resp->len = 8;
  }
  return TERN_STATUS_OK;
}

/* Bidi: echoes each message 1, 4, 7 or 10 times (its first byte's top two
 * bits), so that a small compressed request can fill the window and the
 * 256 KiB queue: blocking writers then wait, inline ones get TERN_EAGAIN
 * and keep the message (in call memory) for the next run. */
typedef struct bidi_state {
  fuzz_raw held;
  unsigned held_reps; /* writes of `held` still to do */
  int seen_first;
  unsigned written;
} bidi_state;

/* Writes st->held until done (0), the window is full (1), or the call
 * failed (-1). Bounded work per call whatever the client sends. */
static int bidi_flush(tern_server_call *call, bidi_state *st) {
  while (st->held_reps > 0) {
    int rv;
    if (st->written >= 512) {
      st->held_reps = 0;
      break;
    }
    rv = tern_server_call_write_flags(
        call, &st->held, st->written % 5 == 4 ? TERN_WRITE_NO_COMPRESS : 0);
    if (rv == TERN_EAGAIN)
      return 1;
    if (rv != TERN_OK)
      return -1;
    st->written++;
    st->held_reps--;
  }
  return 0;
}

static tern_status_code bidi(const void *h, tern_server_call *call,
                             const void *request, void *response, void *ud) {
  bidi_state *st = tern_server_call_state(call);
  int rv;
  (void)h;
  (void)request;
  (void)response;
  (void)ud;
  if (!st) {
    st = tern_server_call_alloc(call, sizeof(*st));
    if (!st)
      return TERN_STATUS_RESOURCE_EXHAUSTED;
    tern_server_call_set_state(call, st);
  }
  for (;;) {
    void *m;
    const fuzz_raw *r;
    rv = bidi_flush(call, st);
    if (rv > 0)
      return TERN_STATUS_PENDING; /* inline: again once there is room */
    if (rv < 0)
      return TERN_STATUS_CANCELLED;
    rv = tern_server_call_read(call, &m);
    if (rv == TERN_EAGAIN)
      return TERN_STATUS_PENDING;
    if (rv < 0)
      return TERN_STATUS_CANCELLED;
    if (rv == 0)
      return TERN_STATUS_OK;
    r = m;
    if (!st->seen_first) {
      st->seen_first = 1;
      apply_ops(call, r);
    }
    /* Kept in call memory: an inline handler may need it on a later run. */
    rv = copy_into(call, &st->held, r);
    st->held_reps = 1 + 3u * (r->len ? r->data[0] >> 6 : 0);
    fuzz_raw_free(NULL, m);
    if (rv != 0)
      return TERN_STATUS_RESOURCE_EXHAUSTED;
  }
}

#define METHODS(svc)                                                           \
  {                                                                            \
    {sizeof(tern_method), "Unary", "/" svc "/Unary", TERN_METHOD_UNARY, &fuzz_raw_codec, NULL,      \
     NULL, unary},                                                             \
    {sizeof(tern_method), "ServerStream", "/" svc "/ServerStream", TERN_METHOD_SERVER_STREAMING,    \
     &fuzz_raw_codec, NULL, NULL, server_streaming},                           \
    {sizeof(tern_method), "ClientStream", "/" svc "/ClientStream", TERN_METHOD_CLIENT_STREAMING,    \
     &fuzz_raw_codec, NULL, NULL, client_streaming},                           \
    {sizeof(tern_method), "Bidi", "/" svc "/Bidi", TERN_METHOD_BIDI_STREAMING, &fuzz_raw_codec,     \
     NULL, NULL, bidi},                                                        \
  }

static const tern_method inline_methods[] = METHODS("fuzz.Inline");
static const tern_method blocking_methods[] = METHODS("fuzz.Blocking");
static const tern_service inline_service = {sizeof(tern_service), "fuzz.Inline", 4, inline_methods};
static const tern_service blocking_service = {sizeof(tern_service), "fuzz.Blocking", 4,
                                              blocking_methods};

/* Refuses calls that carry "x-deny" (its value, when a digit, picks the
 * status), so that the authorization path is fuzzed too. */
static tern_status_code authorize(tern_server_call *call, void *ud) {
  const char *v = tern_metadata_get(tern_server_call_metadata(call), "x-deny",
                                    NULL);
  (void)ud;
  if (!v)
    return TERN_STATUS_OK;
  (void)tern_server_call_set_message(call, v);
  return v[0] >= '1' && v[0] <= '9' ? (tern_status_code)(v[0] - '0')
                                    : TERN_STATUS_PERMISSION_DENIED;
}

/* One server per input: started before the bytes go in, and shut down
 * (which waits for every call and connection to be gone) before the input
 * is over, so whatever an input makes the server do is done by then: a
 * crash belongs to the input that caused it, and nothing is left behind. */
static tern_server *start_server(void) {
  tern_server_options opts = TERN_SERVER_OPTIONS_INIT;
  tern_server *server;
  char addr[160];
  opts.workers = 2;
  opts.max_receive_message_size = 64 * 1024;
  opts.max_concurrent_streams = 16;
  opts.handshake_timeout_ms = 2000;
  /* Low limits: small inputs reach them. */
  opts.max_header_list_size = 4096;
  opts.reset_burst = 20;
  opts.reset_rate = 10;
  snprintf(addr, sizeof(addr), "unix:%s", fuzz_io_path);
  unlink(fuzz_io_path);
  if (tern_server_new(&server, &opts) != TERN_OK ||
      tern_server_register(server, &inline_service, &handlers_token, NULL,
                           TERN_REGISTER_INLINE) != TERN_OK ||
      tern_server_register(server, &blocking_service, &handlers_token, NULL,
                           TERN_REGISTER_BLOCKING) != TERN_OK ||
      tern_server_set_authorizer(server, authorize, NULL) != TERN_OK ||
      tern_server_add_insecure_port(server, addr, NULL) != TERN_OK ||
      tern_server_start(server) != TERN_OK) {
    fprintf(stderr, "fuzz_server_conn: cannot start the server\n");
    abort();
  }
  return server;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  fuzz_io_make_path("fuzz-server");
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct sockaddr_un sun;
  tern_server *server;
  int fd;

  if (size > (1u << 20))
    return 0;
  server = start_server();
  fuzz_io_addr(&sun);
  fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
    perror("fuzz_server_conn: connect");
    abort();
  }
  fuzz_trace_start();
  fuzz_send_all(fd, preface, sizeof(preface));
  fuzz_send_all(fd, data, size);
  if (!fuzz_drain(fd, QUIET_MS, MAX_MS)) {
    shutdown(fd, SHUT_WR);
    /* The server closes on EOF: a connection still open after this long
     * means it stopped reading, which is a finding too. */
    if (!fuzz_drain(fd, -1, CLOSE_MS)) {
      fprintf(stderr, "fuzz_server_conn: the server did not close the "
                      "connection within %d ms of EOF\n", CLOSE_MS);
      abort();
    }
  }
  close(fd);
  if (tern_server_shutdown(server, 0) != TERN_OK)
    abort();
  tern_server_free(server);
  fuzz_trace_print(0);
  return 0;
}
