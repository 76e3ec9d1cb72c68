/* Channel internals shared by channel.c (connections, backoff) and
 * client_call.c (calls, futures). */
#ifndef TERN_CHANNEL_INT_H
#define TERN_CHANNEL_INT_H

#include <sys/socket.h>

#include "call/call_int.h"
#include "channel/resolver.h"

typedef struct client_call client_call;

struct tern_channel {
  tern__loop *loop;
  tern__target target;
  char *authority;
  char *user_agent;
  int64_t max_recv;
  int64_t min_connect_timeout_ms;
  int64_t dns_min_interval_ms; /* 0: the resolver's default */
  tern_compression default_compression;

  pthread_mutex_t mu;
  int refs;                     /* atomic: the user's + one per call */
  tern_connectivity_state state; /* written on the loop, under mu */

  /* loop thread only */
  tern__conn *conn;      /* ready connection for new calls */
  tern__queue conns;     /* every open connection (incl. draining), via
                            conn->owner_node */
  int connect_fd;
  tern__io connect_io;
  tern__timer connect_timer;
  tern__timer backoff_timer;
  struct sockaddr_storage *addrs;
  socklen_t *addr_lens;
  size_t n_addrs, addr_idx;
  tern__backoff backoff;
  tern__queue pending;   /* of client_call.pend_node: waiting for a
                            connection */
  tern__queue active;    /* of client_call.act_node: started calls not
                            yet delivered */
  int closing;
  tern__tls_ctx *tls;          /* NULL: cleartext */
  tern_metadata *credentials;  /* call credentials for every call */
  int allow_insecure_credentials;
  char *tls_host;              /* the name the server certificate must carry */
  tern__conn *handshaking;     /* TLS connection not ready yet */
  char last_error[200];        /* why the last connection attempt failed */
  tern__resolver *resolver;    /* made on first use */
  tern__resolved_addr *resolved; /* the latest successful resolution */
  size_t n_resolved;
  int resolving;      /* a connection pass waits for the resolver */
  int resolve_failed; /* the last resolution failed, no addresses left */
};

struct client_call {
  struct tern_call c; /* first: the public tern_call * points here */
  tern_channel *channel;
  tern_metadata *send_md;
  tern_metadata *credentials; /* per-call credentials */
  tern_metadata *headers_out, *trailers_out;
  int wait_for_ready;
  int64_t deadline_ns; /* 0: none; armed when the call starts */
  int md_delivered;  /* headers_out / trailers_out filled */

  /* loop thread only */
  int started;
  int delivered;
  int replays;  /* transparent retries so far */
  tern__queue pend_node; /* on the channel's pending list when linked */
  tern__queue act_node;  /* on the channel's active list when linked */
  tern_unary_cb cb;
  void *cb_data;
};

/* Loop thread: puts a started call on a stream, or queues it. */
void tern__channel_submit(tern_channel *ch, client_call *cc);
/* Loop thread: takes a queued call off the pending list. */
void tern__channel_unqueue(tern_channel *ch, client_call *cc);
/* Loop thread: sends the request headers on conn. 0 or -1. */
int tern__channel_send_request(tern_channel *ch, client_call *cc,
                               tern__conn *conn);
/* Loop thread: ends a call: status (if not already set), callback. */
void tern__client_call_complete(client_call *cc, tern_status_code code,
                                const char *msg);

void tern__channel_ref(tern_channel *ch);
void tern__channel_unref(tern_channel *ch);

#endif /* TERN_CHANNEL_INT_H */
