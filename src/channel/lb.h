/* The load-balancing policy interface of the channel, shaped as grpc's
 * (gRFC A6 client channel, doc/load-balancing.md): the channel hands the
 * policy address lists and resolver errors, asks it to leave IDLE and to
 * pick a connection for each call; the policy makes subchannels and
 * reports its state through a helper the channel gives it. A policy sees
 * subchannels only through the helper, so it can be driven by fakes
 * (tests/unit/test_pick_first.c). Everything here runs on the channel's
 * loop thread.
 *
 * This header includes no other header of the channel layer: policies,
 * the subchannel and the channel all include it, and it stays a leaf. */
#ifndef TERN_LB_H
#define TERN_LB_H

#include <stddef.h>
#include <stdint.h>

#include "common/common_int.h"
#include "loop/loop_int.h"
#include "transport/transport_int.h"

struct tern__resolved_addr; /* resolver.h */

/* A connection to one address with its own state (subchannel.h); opaque
 * to policies. */
typedef struct tern__subchannel tern__subchannel;
typedef struct tern__lb tern__lb;
typedef struct tern__lb_helper tern__lb_helper;

/* A subchannel's state changed (IDLE, CONNECTING, READY,
 * TRANSIENT_FAILURE); why is its last error for TRANSIENT_FAILURE, else
 * NULL; borrowed for the call. May run from inside the helper's
 * subchannel_connect (a connect that fails or succeeds at once). */
typedef void (*tern__subchannel_watcher)(tern__subchannel *sc,
                                         tern_connectivity_state state,
                                         const char *why, void *data);

/* What the channel does for its policy. */
typedef struct tern__lb_helper_vt {
  /* A new subchannel for addr (copied), IDLE, whose changes go to
   * watch(..., data) until it is released. NULL when out of memory. */
  tern__subchannel *(*subchannel_new)(tern__lb_helper *h,
                                      const struct tern__resolved_addr *addr,
                                      tern__subchannel_watcher watch,
                                      void *data);
  /* Starts a connection attempt when sc is IDLE; nothing otherwise. */
  void (*subchannel_connect)(tern__lb_helper *h, tern__subchannel *sc);
  /* sc's READY connection, or NULL. */
  tern__conn *(*subchannel_conn)(tern__lb_helper *h, tern__subchannel *sc);
  /* The policy is done with sc: no watcher call afterwards. Its
   * connection drains (streams on it go on); sc is gone for the policy. */
  void (*subchannel_release)(tern__lb_helper *h, tern__subchannel *sc);
  /* The policy's new state, with the reason for TRANSIENT_FAILURE (copied;
   * what calls that cannot wait fail with). The channel re-tries its
   * waiting picks. A policy calls this last in a handler: the channel may
   * call back into it (pick). */
  void (*update_state)(tern__lb_helper *h, tern_connectivity_state state,
                       const char *why);
  /* Asks the resolver for a new resolution (rate-limited by it); the
   * answer comes later through update or resolver_error. */
  void (*request_resolution)(tern__lb_helper *h);
} tern__lb_helper_vt;

struct tern__lb_helper {
  const tern__lb_helper_vt *vt;
  tern__loop *loop; /* for a policy's timers */
};

/* What a pick says (tern__lb_vt.pick). */
enum {
  TERN__LB_PICK_COMPLETE = 0, /* *conn is a READY connection */
  TERN__LB_PICK_QUEUE = 1,    /* nothing yet: wait for a new state */
  TERN__LB_PICK_FAIL = 2      /* TRANSIENT_FAILURE: the reason is the one
                                 given with that state */
};

/* A policy. */
typedef struct tern__lb_vt {
  const char *name;
  /* A new address list, n >= 1, in the order given (borrowed). */
  void (*update)(tern__lb *lb, const struct tern__resolved_addr *addrs,
                 size_t n);
  /* The resolver failed; why (borrowed) is its reason. A policy with
   * addresses keeps them. */
  void (*resolver_error)(tern__lb *lb, const char *why);
  /* Leave IDLE: start connecting (calls are waiting). */
  void (*exit_idle)(tern__lb *lb);
  /* The hot path of every call: TERN__LB_PICK_*. */
  int (*pick)(tern__lb *lb, tern__conn **conn);
  /* Releases every subchannel and frees the policy; no helper call
   * afterwards. */
  void (*destroy)(tern__lb *lb);
} tern__lb_vt;

/* The part every policy starts with. */
struct tern__lb {
  const tern__lb_vt *vt;
  tern__lb_helper *helper;
};

/* Settings a channel passes to its policy; zeros are the defaults. */
typedef struct tern__lb_config {
  /* The retry delay after a resolver error left no address (grpc's
   * connection backoff; 0 = 1000 and 120000). */
  int64_t initial_backoff_ms, max_backoff_ms;
  uint64_t seed; /* for the backoff's jitter */
} tern__lb_config;

/* pick_first (lb_pick_first.c): the addresses in order, one connection
 * attempt at a time; the first READY subchannel serves every call.
 * helper is borrowed for the policy's life; cfg is copied. TERN_OK or
 * TERN_ENOMEM. */
int tern__lb_pick_first_new(tern__lb **lb_out, tern__lb_helper *helper,
                            const tern__lb_config *cfg);

#endif /* TERN_LB_H */
