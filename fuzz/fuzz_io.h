/* Socket helpers for the connection targets: a private unix socket
 * directory, and reads and writes with deadlines. Every wait is bounded. */
#ifndef TERN_FUZZ_IO_H
#define TERN_FUZZ_IO_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static char fuzz_io_dir[64];
static char fuzz_io_path[128];

static inline int64_t fuzz_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline void fuzz_io_cleanup(void) {
  if (fuzz_io_path[0])
    unlink(fuzz_io_path);
  if (fuzz_io_dir[0])
    rmdir(fuzz_io_dir);
}

/* Makes a private directory and names a socket in it (fuzz_io_path). */
static inline void fuzz_io_make_path(const char *what) {
  snprintf(fuzz_io_dir, sizeof(fuzz_io_dir), "/tmp/tern-%s-XXXXXX", what);
  if (!mkdtemp(fuzz_io_dir)) {
    perror("mkdtemp");
    abort();
  }
  snprintf(fuzz_io_path, sizeof(fuzz_io_path), "%s/s", fuzz_io_dir);
  atexit(fuzz_io_cleanup);
}

static inline void fuzz_io_addr(struct sockaddr_un *sun) {
  memset(sun, 0, sizeof(*sun));
  sun->sun_family = AF_UNIX;
  snprintf(sun->sun_path, sizeof(sun->sun_path), "%s", fuzz_io_path);
}

/* Writes everything it can; stops quietly when the peer has gone. */
static inline void fuzz_send_all(int fd, const void *p, size_t n) {
  const uint8_t *b = p;
  while (n > 0) {
    ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return;
    b += w;
    n -= (size_t)w;
  }
}

/* With FUZZ_VERBOSE=1 in the environment, what the peer sends is printed
 * frame by frame (header blocks decoded), to see what an input does. */
typedef struct fuzz_trace {
  int on;
  uint8_t *buf;
  size_t len, cap;
} fuzz_trace;

static fuzz_trace fuzz_trace_state;

static inline void fuzz_trace_start(void) {
  const char *v = getenv("FUZZ_VERBOSE");
  fuzz_trace_state.on = v && v[0] == '1';
  fuzz_trace_state.len = 0;
}

static inline void fuzz_trace_add(const uint8_t *p, size_t n) {
  fuzz_trace *t = &fuzz_trace_state;
  if (!t->on)
    return;
  if (t->len + n > t->cap) {
    size_t cap = (t->len + n) * 2;
    uint8_t *b = realloc(t->buf, cap);
    if (!b)
      return;
    t->buf = b;
    t->cap = cap;
  }
  memcpy(t->buf + t->len, p, n);
  t->len += n;
}

#ifdef NGHTTP2_H
/* Prints the frames in the trace; skip: bytes before the first frame. */
static inline void fuzz_trace_print(size_t skip) {
  static const char *const names[] = {
      "DATA", "HEADERS", "PRIORITY", "RST_STREAM", "SETTINGS",
      "PUSH_PROMISE", "PING", "GOAWAY", "WINDOW_UPDATE", "CONTINUATION"};
  fuzz_trace *t = &fuzz_trace_state;
  nghttp2_hd_inflater *inf;
  size_t off = skip;
  if (!t->on || nghttp2_hd_inflate_new(&inf) != 0)
    return;
  while (off + 9 <= t->len) {
    const uint8_t *h = t->buf + off;
    size_t len = (size_t)h[0] << 16 | (size_t)h[1] << 8 | h[2];
    uint32_t sid = ((uint32_t)h[5] << 24 | (uint32_t)h[6] << 16 |
                    (uint32_t)h[7] << 8 | h[8]) & 0x7fffffffu;
    if (off + 9 + len > t->len)
      break;
    fprintf(stderr, "  < %s flags=0x%x stream=%u len=%zu",
            h[3] < 10 ? names[h[3]] : "?", h[4], sid, len);
    if (h[3] == 3 || (h[3] == 7 && len >= 8))
      fprintf(stderr, " error=%u",
              h[3] == 3 ? (unsigned)h[12]
                        : (unsigned)h[9 + 7] | (unsigned)h[9 + 6] << 8);
    if (h[3] == 7 && len > 8)
      fprintf(stderr, " \"%.*s\"", (int)(len - 8), (const char *)h + 17);
    fputc('\n', stderr);
    if (h[3] == 1 || h[3] == 9) {
      const uint8_t *in = h + 9;
      size_t inlen = len;
      if (h[3] == 1 && (h[4] & 0x8) && inlen > 0) /* padded */
        inlen -= 1 + (size_t)*in++;
      if (h[3] == 1 && (h[4] & 0x20) && inlen >= 5) { /* priority */
        in += 5;
        inlen -= 5;
      }
      for (;;) {
        nghttp2_nv nv;
        int fl = 0;
        ssize_t r = nghttp2_hd_inflate_hd2(inf, &nv, &fl, in, inlen,
                                           (h[4] & 0x4) != 0);
        if (r < 0)
          break;
        in += r;
        inlen -= (size_t)r;
        if (fl & NGHTTP2_HD_INFLATE_EMIT)
          fprintf(stderr, "      %.*s: %.*s\n", (int)nv.namelen, nv.name,
                  (int)nv.valuelen, nv.value);
        if (fl & NGHTTP2_HD_INFLATE_FINAL) {
          nghttp2_hd_inflate_end_headers(inf);
          break;
        }
        if (inlen == 0 && !(fl & NGHTTP2_HD_INFLATE_EMIT))
          break;
      }
    }
    off += 9 + len;
  }
  nghttp2_hd_inflate_del(inf);
}
#endif

/* Reads and drops what comes until quiet_ms pass without a byte, the peer
 * closes, or max_ms pass. Returns 1 when the peer closed (or failed). */
static inline int fuzz_drain(int fd, int quiet_ms, int max_ms) {
  int64_t end = fuzz_now_ms() + max_ms;
  uint8_t buf[65536];
  for (;;) {
    struct pollfd p = {fd, POLLIN, 0};
    int64_t left = end - fuzz_now_ms();
    int r;
    if (left <= 0)
      return 0;
    r = poll(&p, 1, quiet_ms >= 0 && quiet_ms < left ? quiet_ms : (int)left);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      return 0; /* quiet */
    r = (int)recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (r > 0)
      fuzz_trace_add(buf, (size_t)r);
    if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
      return 1;
  }
}

#endif /* TERN_FUZZ_IO_H */
