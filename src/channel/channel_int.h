/* What the channel (channel.c) offers its calls (client_call.c): picks of
 * a connection, a registration for the channel's close, and the settings
 * a request is built from. The dependency is one way: the channel knows
 * nothing of calls but these structs, embedded in them. */
#ifndef TERN_CHANNEL_INT_H
#define TERN_CHANNEL_INT_H

#include "call/call_int.h"

/* ---- picks -------------------------------------------------------------- */

typedef struct tern__pick tern__pick;

/* A queued pick is over: conn is a READY connection to open a stream on,
 * or NULL with the status the call ends with (why borrowed for the call). */
typedef void (*tern__pick_done)(tern__pick *p, tern__conn *conn,
                                tern_status_code code, const char *why);

/* Embedded in its call; the channel links node while the pick waits. */
struct tern__pick {
  tern__queue node;
  int wait_for_ready; /* wait through TRANSIENT_FAILURE */
  tern__pick_done done;
};

static inline void tern__pick_init(tern__pick *p, int wait_for_ready,
                                   tern__pick_done done) {
  tern__queue_init(&p->node);
  p->wait_for_ready = wait_for_ready;
  p->done = done;
}

enum {
  TERN__PICK_READY = 0,  /* *conn is set */
  TERN__PICK_QUEUED = 1, /* p->done runs later (never inside this), once */
  TERN__PICK_FAILED = 2  /* *code and *why say how the call ends; why is
                            borrowed: copy it before the channel runs
                            again */
};

/* Loop thread: a connection for a call. On a READY channel this is a
 * pointer check, no allocation and no lock. */
int tern__channel_pick(tern_channel *ch, tern__pick *p, tern__conn **conn,
                       tern_status_code *code, const char **why);
/* Loop thread: a queued pick is withdrawn (its call was cancelled or
 * expired); done will not run. Harmless when p is not queued. */
void tern__channel_cancel_pick(tern_channel *ch, tern__pick *p);

/* ---- the channel's close ------------------------------------------------ */

typedef struct tern__channel_user tern__channel_user;

/* Something that must end before the channel's connections go (a call on
 * a stream): on_channel_close runs once, on the loop thread, in
 * tern_channel_free, after the user has been removed. */
struct tern__channel_user {
  tern__queue node;
  void (*on_channel_close)(tern__channel_user *u);
};

/* Loop thread. remove is harmless for a user not added (node
 * initialised). */
void tern__channel_add_user(tern_channel *ch, tern__channel_user *u);
void tern__channel_remove_user(tern_channel *ch, tern__channel_user *u);

/* ---- settings ----------------------------------------------------------- */

/* Fixed when the channel is made; read from any thread. */
typedef struct tern__channel_settings {
  tern__loop *loop;
  const char *authority;            /* lives as long as the channel */
  const char *user_agent;           /* lives as long as the channel */
  const char *scheme;               /* "https" with TLS, else "http" */
  const tern_metadata *credentials; /* for every call, NULL when none */
  int tls;
  int allow_insecure_credentials;
  int64_t max_recv;
  tern_compression default_compression;
} tern__channel_settings;

const tern__channel_settings *tern__channel_settings_of(const tern_channel *ch);

/* Any thread: a call holds the channel's memory while it lives. */
/* A channel on loop, which the caller runs (on a thread of its own) and
 * frees after every channel on it: no thread of the channel's. Internal
 * until the public loop object; tern_channel_free must not be called from
 * the loop's own thread. As tern_channel_new otherwise. */
int tern__channel_new_on_loop(tern_channel **channel_out, const char *target,
                              const tern_channel_options *opts,
                              tern__loop *loop);

void tern__channel_ref(tern_channel *ch);
void tern__channel_unref(tern_channel *ch);

#endif /* TERN_CHANNEL_INT_H */
