/* Byte filters under a connection's protocol, stacked as curl stacks its
 * connection filters: socket at the bottom, then TLS when there is one.
 * The protocol (h2_io.c) talks to the top filter only, so it has no TLS
 * branches. Private to the transport. */
#ifndef TERN_TRANSPORT_FILTER_H
#define TERN_TRANSPORT_FILTER_H

#include <stddef.h>
#include <sys/types.h>

#include "transport/transport_int.h"

typedef struct tern__filter tern__filter;

typedef struct tern__filter_vt {
  /* Drives the filter's handshake: 1 when done, 0 while in progress
   * (*want says which of TERN__IO_READ / TERN__IO_WRITE to wait for), -1
   * when it failed (the reason in err). */
  int (*handshake)(tern__filter *f, unsigned *want, char *err,
                   size_t errlen);
  /* Bytes sent; -1 with errno EAGAIN when full, another errno when the
   * peer is gone. */
  ssize_t (*send)(tern__filter *f, const uint8_t *p, size_t len);
  /* Bytes read, 0 at the end, -1 with errno (EAGAIN: nothing now). A
   * reason worth telling (a TLS alert) goes to err when it is empty. */
  ssize_t (*recv)(tern__filter *f, uint8_t *p, size_t len, char *err,
                  size_t errlen);
  /* Bytes read from below but not yet returned by recv. */
  int (*pending)(tern__filter *f);
  /* The peer's identity once the handshake is done (malloc'd), or NULL. */
  char *(*peer_identity)(tern__filter *f);
  void (*destroy)(tern__filter *f);
} tern__filter_vt;

struct tern__filter {
  const tern__filter_vt *vt;
  tern__filter *lower; /* NULL at the bottom */
  int fd;              /* the socket, for every filter of the stack */
};

/* The bottom of every stack: the socket itself (fd is closed by
 * destroy). */
int tern__sock_filter_new(tern__filter **out, int fd);
/* TLS over lower (owned from now on, even on failure). host: what the
 * server's certificate must name (client). */
int tern__tls_filter_new(tern__filter **out, tern__filter *lower,
                         tern__tls_ctx *ctx, const char *host);
/* Closes the socket under f now (the filters stay until freed). */
void tern__filter_close_socket(tern__filter *f);
/* Destroys f and everything under it. */
void tern__filter_free(tern__filter *f);

#endif /* TERN_TRANSPORT_FILTER_H */
