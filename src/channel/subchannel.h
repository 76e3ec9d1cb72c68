/* A subchannel: one address, its own connectivity state, connection
 * attempts with a connect timeout and backoff (grpc's
 * doc/connection-backoff.md), and the connection it makes. Its owner (an
 * LB policy, through the channel's helper) hears every state change:
 *
 *   IDLE --connect--> CONNECTING --(TCP, then TLS when configured)--> READY
 *                         |                                           |
 *                         +--> TRANSIENT_FAILURE --backoff--> IDLE <--+
 *                                                  (GOAWAY, connection lost)
 *
 * A draining connection (GOAWAY) keeps serving its streams. Connections
 * hold references on their subchannel, so a subchannel its owner has
 * released lives until its last connection closes. Loop thread only. */
#ifndef TERN_SUBCHANNEL_H
#define TERN_SUBCHANNEL_H

#include <sys/socket.h>

#include "channel/lb.h"

/* What the channel gives every subchannel; pointers are borrowed for the
 * subchannel's life (they are the channel's, which closes every
 * connection before it goes). */
typedef struct tern__subchannel_args {
  tern__loop *loop;
  tern__tls_ctx *tls;         /* NULL: cleartext */
  const char *tls_host;       /* the name the server certificate must carry */
  int64_t connect_timeout_ms; /* bounds TCP connect and TLS handshake */
  int64_t initial_backoff_ms, max_backoff_ms; /* 0: grpc's defaults */
  tern__queue *conns; /* every connection goes on this list (owner_node)
                         while open, so the channel can close them all */
} tern__subchannel_args;

/* A subchannel for addr (len bytes, copied), IDLE, telling watch(...,
 * data) of each change. TERN_OK or TERN_ENOMEM. */
int tern__subchannel_new(tern__subchannel **sc_out,
                         const tern__subchannel_args *args,
                         const struct sockaddr *addr, socklen_t len,
                         tern__subchannel_watcher watch, void *data);

/* IDLE: starts connecting (the watcher may run before this returns).
 * Other states: nothing. */
void tern__subchannel_connect(tern__subchannel *sc);

tern_connectivity_state tern__subchannel_state(const tern__subchannel *sc);
/* The READY connection, or NULL. */
tern__conn *tern__subchannel_conn(const tern__subchannel *sc);
/* Why the last attempt failed ("" when none did). */
const char *tern__subchannel_error(const tern__subchannel *sc);

/* The owner lets go: no watcher call any more, an attempt in progress
 * stops, a READY connection drains (GOAWAY; it closes when its streams
 * end). The memory goes with the last connection. */
void tern__subchannel_release(tern__subchannel *sc);

#endif /* TERN_SUBCHANNEL_H */
