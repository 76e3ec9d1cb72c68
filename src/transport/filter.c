/* The socket filter, the bottom of every connection's filter stack. */
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "transport/filter.h"

static int sock_handshake(tern__filter *f, unsigned *want, char *err,
                          size_t errlen) {
  (void)f;
  (void)want;
  (void)err;
  (void)errlen;
  return 1; /* connected before it was handed over */
}

static ssize_t sock_send(tern__filter *f, const uint8_t *p, size_t len) {
  /* MSG_NOSIGNAL: a peer that has gone must not raise SIGPIPE in the
   * user's process. */
  return send(f->fd, p, len, MSG_NOSIGNAL);
}

static ssize_t sock_recv(tern__filter *f, uint8_t *p, size_t len, char *err,
                         size_t errlen) {
  (void)err;
  (void)errlen;
  return recv(f->fd, p, len, 0);
}

static int sock_pending(tern__filter *f) {
  (void)f;
  return 0;
}

static char *sock_peer_identity(tern__filter *f) {
  (void)f;
  return NULL;
}

static void sock_destroy(tern__filter *f) {
  if (f->fd >= 0)
    close(f->fd);
  tern__free(f);
}

static const tern__filter_vt sock_vt = {sock_handshake, sock_send,
                                        sock_recv,      sock_pending,
                                        sock_peer_identity, sock_destroy};

int tern__sock_filter_new(tern__filter **out, int fd) {
  tern__filter *f = tern__malloc(sizeof(*f));
  if (!f)
    return TERN_ENOMEM;
  f->vt = &sock_vt;
  f->lower = NULL;
  f->fd = fd;
  *out = f;
  return TERN_OK;
}

void tern__filter_close_socket(tern__filter *f) {
  tern__filter *bottom = f;
  while (bottom->lower)
    bottom = bottom->lower;
  if (bottom->fd >= 0)
    close(bottom->fd);
  for (; f; f = f->lower)
    f->fd = -1;
}

void tern__filter_free(tern__filter *f) {
  /* Each filter frees its own part; the ones below go after it. */
  while (f) {
    tern__filter *lower = f->lower;
    f->vt->destroy(f);
    f = lower;
  }
}
