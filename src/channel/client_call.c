/* Client calls: the streaming call API, unary calls (blocking, callback,
 * future) built on it, and the client's side of the call hooks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "channel/channel_int.h"

typedef struct client_call client_call;

struct client_call {
  struct tern_call c; /* first: the public tern_call * points here */
  tern_channel *channel;
  tern_metadata *send_md;
  tern_metadata *credentials; /* per-call credentials */
  tern_metadata *headers_out, *trailers_out;
  int64_t deadline_ns; /* 0: none; armed when the call starts */
  /* Bytes, not ints: the object must fit TERN__CALL_OBJECT_FITS. */
  uint8_t md_delivered; /* headers_out / trailers_out filled */

  /* loop thread only */
  uint8_t started;
  uint8_t delivered;
  uint8_t replays;         /* transparent retries so far */
  tern__pick pick;         /* queued on the channel while it waits */
  tern__channel_user user; /* from the start until delivered */
  tern_unary_cb cb;
  void *cb_data;
};

struct tern_future {
  client_call *cc;
  int unary; /* the future owns the call */
  int taken;
};

static client_call *CC(struct tern_call *c) { return (client_call *)c; }
TERN__CALL_OBJECT_FITS(client_call);

#define MAX_REPLAYS 3

/* ---- completion (loop thread) ------------------------------------------- */

static void take_status_from_response(client_call *cc, tern_status_code *code,
                                      const char **msg) {
  struct tern_call *c = &cc->c;
  if (c->grpc_status >= 0) {
    *code = (tern_status_code)c->grpc_status;
    *msg = c->grpc_message;
  } else if (c->http_status != 200) {
    *code = tern__status_from_http(c->http_status);
    *msg = "received a non-gRPC HTTP response";
  } else {
    *code = TERN_STATUS_UNKNOWN;
    *msg = "the server ended the stream without grpc-status";
  }
}

static void fill_md_out(client_call *cc) {
  /* Caller holds mu. Once per call. */
  if (cc->md_delivered)
    return;
  cc->md_delivered = 1;
  if (cc->headers_out && cc->c.in_md)
    tern__metadata_append(cc->headers_out, cc->c.in_md);
  if (cc->trailers_out && cc->c.trailers)
    tern__metadata_append(cc->trailers_out, cc->c.trailers);
}

/* Ends a call: status (if not already set), callback. */
static void complete(client_call *cc, tern_status_code code, const char *msg) {
  struct tern_call *c = &cc->c;
  tern_unary_cb cb;
  if (cc->delivered)
    return;
  cc->delivered = 1;
  tern__call_stop_deadline(c);
  tern__channel_cancel_pick(cc->channel, &cc->pick);
  tern__channel_remove_user(cc->channel, &cc->user);
  /* A failure that lands after our deadline is reported as the deadline
   * (the server's timer may fire a little before ours). */
  if (code != TERN_STATUS_OK && c->deadline_ns > 0 &&
      tern__now_ns() >= c->deadline_ns) {
    code = TERN_STATUS_DEADLINE_EXCEEDED;
    msg = "deadline exceeded";
  }
  code = tern__call_complete(c, code, msg);
  cb = cc->cb;
  if (cb) {
    tern__call_lock(c);
    fill_md_out(cc);
    tern__call_unlock(c);
  }
  /* The stream may still be open (status came before our half-close, or
   * the call was cancelled): reset it so both ends let go. A stream both
   * sides have ended is left alone (the transport sees to it): a reset
   * would only cost both ends a frame per call. */
  tern__call_reset(c, code == TERN_STATUS_OK ? TERN__RST_NO_ERROR
                                             : TERN__RST_CANCEL);
  if (cb) {
    tern_status st;
    void *resp = NULL;
    tern__msg *m = NULL;
    st.code = c->code;
    st.message = c->message;
    if (st.code == TERN_STATUS_OK) {
      int rv = tern__call_take_in(c, &m, 0) == 1
                   ? tern__call_decode(c, c->method->response_type, m, &resp)
                   : TERN_ECLOSED;
      if (rv != TERN_OK) {
        const char *why;
        st.code = tern__call_decode_status(c, rv, &why);
        st.message = (char *)why;
        resp = NULL;
      }
      tern__call_msg_free(c, m);
    }
    cb(&st, resp, cc->cb_data);
    tern__call_unref(c); /* the async call's own reference */
  }
  tern__call_unref(c); /* the in-flight reference taken at start */
}

/* ---- attempts: a pick, then a stream (loop thread) -------------------- */

/* Builds the request headers and opens the stream on the picked
 * connection. */
static void send_request(client_call *cc, tern__conn *conn) {
  const tern__channel_settings *set = tern__channel_settings_of(cc->channel);
  tern__request_info info;
  tern__hdrs l;
  int32_t id;
  info.scheme = set->scheme;
  info.authority = set->authority;
  info.user_agent = set->user_agent;
  info.md[0] = set->credentials;
  info.md[1] = cc->credentials;
  info.md[2] = cc->send_md;
  tern__hdrs_init(&l);
  tern__call_request_headers(&cc->c, &info, &l);
  id = l.failed ? -1 : tern__call_open_stream(&cc->c, conn, &l);
  tern__hdrs_free(&l);
  if (id <= 0)
    complete(cc, TERN_STATUS_UNAVAILABLE, "could not start a stream");
}

static void pick_done(tern__pick *p, tern__conn *conn, tern_status_code code,
                      const char *why) {
  client_call *cc = tern__queue_data(p, client_call, pick);
  if (conn)
    send_request(cc, conn);
  else
    complete(cc, code, why);
}

/* One attempt: the first, or a transparent retry. */
static void start_attempt(client_call *cc) {
  const tern__channel_settings *set = tern__channel_settings_of(cc->channel);
  tern__conn *conn;
  tern_status_code code;
  const char *why;
  if ((set->credentials || cc->credentials) && !set->tls &&
      !set->allow_insecure_credentials) {
    /* Never send a token in the clear unless told to (as grpc-go). */
    complete(cc, TERN_STATUS_UNAUTHENTICATED,
             "call credentials need a TLS channel "
             "(or allow_insecure_credentials)");
    return;
  }
  switch (tern__channel_pick(cc->channel, &cc->pick, &conn, &code, &why)) {
  case TERN__PICK_READY:
    send_request(cc, conn);
    return;
  case TERN__PICK_FAILED:
    complete(cc, code, why);
    return;
  default:
    return; /* pick_done goes on */
  }
}

static void on_channel_close(tern__channel_user *u) {
  complete(tern__queue_data(u, client_call, user), TERN_STATUS_CANCELLED,
           "channel closed");
}

/* ---- hooks -------------------------------------------------------------- */

static void cc_on_deadline(struct tern_call *c) {
  tern__call_reset(c, TERN__RST_CANCEL);
  complete(CC(c), TERN_STATUS_DEADLINE_EXCEEDED, "deadline exceeded");
}

static void cc_on_message(struct tern_call *c) {
  tern_method_kind k = c->method->kind;
  if ((k == TERN_METHOD_UNARY || k == TERN_METHOD_CLIENT_STREAMING) &&
      c->in_count > 1)
    tern__call_fail(c, TERN_STATUS_INTERNAL,
                    "more than one response message for a unary response");
}

static void cc_on_headers(struct tern_call *c) {
  /* A response that is not gRPC (a proxy's error page...): its body is
   * not parsed as messages; the HTTP status is mapped. */
  if (c->http_status != 200 && c->grpc_status < 0 && !c->done) {
    char why[80];
    snprintf(why, sizeof(why), "received HTTP status %d, not a gRPC response",
             c->http_status);
    tern__call_fail(c, tern__status_from_http(c->http_status), why);
  }
}

static void cc_on_half_close(struct tern_call *c) {
  client_call *cc = CC(c);
  tern_status_code code;
  const char *msg;
  tern__call_lock(c);
  take_status_from_response(cc, &code, &msg);
  tern__call_unlock(c);
  complete(cc, code, msg);
}

static void cc_on_stream_closed(struct tern_call *c, uint32_t error,
                                const char *why_lost) {
  client_call *cc = CC(c);
  tern_status_code code;
  const char *msg;
  /* Transparent retry (as grpc): a stream the server refused before
   * processing it (REFUSED_STREAM, or above a GOAWAY's last stream id) is
   * replayed on a connection that takes it, a few times at most. */
  if (error == TERN__RST_REFUSED_STREAM && !cc->delivered &&
      cc->replays < MAX_REPLAYS && tern__call_rewind(c) == 0) {
    cc->replays++;
    start_attempt(cc);
    return;
  }
  if (error == TERN__CONN_LOST) {
    code = TERN_STATUS_UNAVAILABLE;
    msg = why_lost ? why_lost : "connection lost";
  } else if (error == TERN__RST_NO_ERROR) {
    tern__call_lock(c);
    take_status_from_response(cc, &code, &msg);
    tern__call_unlock(c);
  } else {
    /* A reset by either side: the server's RST_STREAM, or nghttp2's own
     * for what it found invalid in the response. */
    char why[96];
    code = tern__status_from_h2_error(error);
    snprintf(why, sizeof(why), "stream reset: %s",
             tern__h2_error_name(error));
    complete(cc, code,
             error == TERN__RST_REFUSED_STREAM ? "stream refused by the server"
                                               : why);
    return;
  }
  complete(cc, code, msg);
}

static void cc_destroy(struct tern_call *c) {
  client_call *cc = CC(c);
  tern_channel *ch = cc->channel;
  tern_metadata_free(cc->send_md);
  tern_metadata_free(cc->credentials);
  tern__call_cleanup(c);
  tern__free(cc);
  tern__channel_unref(ch);
}

static void cc_on_kick(struct tern_call *c) {
  client_call *cc = CC(c);
  int cancel;
  tern__call_lock(c);
  cancel = c->cancel_requested;
  tern__call_unlock(c);
  if (!cc->started) {
    cc->started = 1;
    if (cancel) {
      complete(cc, TERN_STATUS_CANCELLED, "cancelled by the client");
      return;
    }
    tern__channel_add_user(cc->channel, &cc->user);
    if (cc->deadline_ns > 0)
      tern__call_start_deadline(c, cc->deadline_ns);
    start_attempt(cc);
    return;
  }
  if (cancel && !cc->delivered) {
    tern__call_reset(c, TERN__RST_CANCEL);
    complete(cc, TERN_STATUS_CANCELLED, "cancelled by the client");
    return;
  }
  tern__call_kick_now(c);
}

static const tern__call_hooks client_call_hooks = {
    cc_on_headers, cc_on_message, cc_on_half_close, cc_on_stream_closed,
    cc_destroy,    cc_on_kick,    NULL,             cc_on_deadline};

/* ---- streaming API ------------------------------------------------------ */

/* share: another thread than the loop will touch the call (a handle, a
 * waiter); an async call is the loop's alone once started. */
static int call_new(tern_channel *ch, const tern_method *method,
                    const tern_call_options *opts, int share,
                    client_call **out) {
  const tern__channel_settings *set;
  tern_call_options copy;
  client_call *cc;
  if (!ch || !method || !out || !tern__method_ok(method))
    return TERN_EINVAL;
  if (opts && opts->struct_size != sizeof(*opts)) {
    if (tern__struct_in(&copy, sizeof(copy), opts, TERN__OPTIONS_MIN_SIZE) !=
        TERN_OK)
      return TERN_EINVAL;
    opts = &copy;
  }
  set = tern__channel_settings_of(ch);
  cc = tern__call_object_new(sizeof(*cc));
  if (!cc)
    return TERN_ENOMEM;
  if (tern__call_init(&cc->c, 1, method, &client_call_hooks, set->loop,
                      set->max_recv) != TERN_OK ||
      (share && tern__call_share(&cc->c) != TERN_OK)) {
    tern__call_cleanup(&cc->c);
    tern__free(cc);
    return TERN_ENOMEM;
  }
  cc->channel = ch;
  tern__pick_init(&cc->pick, opts ? opts->wait_for_ready : 0, pick_done);
  tern__queue_init(&cc->user.node);
  cc->user.on_channel_close = on_channel_close;
  if (set->default_compression != TERN_COMPRESS_DEFAULT)
    tern__call_set_send_alg(&cc->c, set->default_compression);
  if (opts) {
    if (opts->metadata) {
      if (tern_metadata_new(&cc->send_md) != TERN_OK ||
          tern__metadata_append(cc->send_md, opts->metadata) != TERN_OK) {
        tern_metadata_free(cc->send_md);
        tern__call_cleanup(&cc->c);
        tern__free(cc);
        return TERN_ENOMEM;
      }
    }
    if (opts->credentials &&
        (tern_metadata_new(&cc->credentials) != TERN_OK ||
         tern__metadata_append(cc->credentials, opts->credentials) !=
             TERN_OK)) {
      tern_metadata_free(cc->send_md);
      tern_metadata_free(cc->credentials);
      tern__call_cleanup(&cc->c);
      tern__free(cc);
      return TERN_ENOMEM;
    }
    if (opts->compression != TERN_COMPRESS_DEFAULT)
      tern__call_set_send_alg(&cc->c, opts->compression);
    cc->headers_out = opts->headers_out;
    cc->trailers_out = opts->trailers_out;
    if (opts->timeout_ms > 0)
      cc->deadline_ns = tern__now_ns() + opts->timeout_ms * 1000000;
  }
  tern__channel_ref(ch);
  *out = cc;
  return TERN_OK;
}

/* Hands the call to the loop. Refs after this: the caller's and the
 * in-flight one (dropped at completion). */
static void call_go(client_call *cc) {
  tern__call_ref(&cc->c);
  tern__call_wake(&cc->c);
}

int tern_call_start(tern_channel *ch, const tern_method *method,
                    const tern_call_options *opts, tern_call **call_out) {
  client_call *cc;
  int rv = call_new(ch, method, opts, 1, &cc);
  if (rv != TERN_OK)
    return rv;
  call_go(cc);
  *call_out = &cc->c;
  return TERN_OK;
}

int tern_call_write(tern_call *call, const void *msg) {
  return tern_call_write_flags(call, msg, 0);
}

int tern_call_write_flags(tern_call *call, const void *msg, unsigned flags) {
  tern__msg *m;
  int rv;
  if (!call || !msg)
    return TERN_EINVAL;
  rv = tern__call_encode(call, call->method, call->method->request_type, msg,
                         (flags & TERN_WRITE_NO_COMPRESS)
                             ? TERN_COMPRESS_IDENTITY
                             : tern__call_effective_alg(call),
                         &m);
  if (rv != TERN_OK)
    return rv;
  rv = tern__call_queue_out(call, m, 0);
  if (rv == TERN_OK)
    tern__call_wake(call);
  return rv;
}

int tern_call_close_send(tern_call *call) {
  if (!call)
    return TERN_EINVAL;
  if (tern__call_close_send(call))
    tern__call_wake(call);
  return TERN_OK;
}

int tern_call_read(tern_call *call, void **msg_out) {
  tern__msg *m;
  int rv;
  if (!call || !msg_out)
    return TERN_EINVAL;
  *msg_out = NULL;
  rv = tern__call_take_in(call, &m, 1);
  if (rv == TERN_ECLOSED)
    return 0; /* ended: tern_call_finish tells how */
  if (rv != 1)
    return rv;
  rv = tern__call_decode(call, call->method->response_type, m, msg_out);
  tern__call_msg_free(call, m);
  if (rv != TERN_OK) {
    /* The call ends with the decode's status; the loop resets it. */
    const char *why;
    tern_status_code code = tern__call_decode_status(call, rv, &why);
    *msg_out = NULL;
    tern__call_end(call, code, why, TERN__END_ABORT);
    return rv == TERN_ETOOBIG ? TERN_ETOOBIG : TERN_EPROTO;
  }
  return 1;
}

int tern_call_message_compressed(const tern_call *call) {
  return call ? call->last_compressed : 0;
}

static tern_status_code wait_done(tern_call *call, tern_status *status_out) {
  tern_status_code code;
  pthread_mutex_lock(&call->mu);
  while (!call->done)
    pthread_cond_wait(&call->cv, &call->mu);
  code = call->code;
  fill_md_out(CC(call));
  if (status_out) {
    tern__free(status_out->message);
    status_out->code = code;
    status_out->message = call->message ? tern__strdup(call->message) : NULL;
  }
  pthread_mutex_unlock(&call->mu);
  return code;
}

tern_status_code tern_call_finish(tern_call *call, tern_status *status_out) {
  if (!call)
    return TERN_STATUS_INVALID_ARGUMENT;
  return wait_done(call, status_out);
}

static tern_status_code take_single_response(tern_call *call,
                                             tern_status_code code,
                                             void **response_out,
                                             tern_status *status_out) {
  tern__msg *m = NULL;
  int rv;
  if (code != TERN_STATUS_OK)
    return code;
  rv = tern__call_take_in(call, &m, 0) == 1
           ? tern__call_decode(call, call->method->response_type, m,
                               response_out)
           : TERN_ECLOSED;
  tern__call_msg_free(call, m);
  if (rv != TERN_OK) {
    const char *why;
    tern_status_code code = tern__call_decode_status(call, rv, &why);
    *response_out = NULL;
    if (status_out)
      tern__status_set(status_out, code, "%s", why);
    return code;
  }
  return TERN_STATUS_OK;
}

tern_status_code tern_call_close_and_recv(tern_call *call, void **response_out,
                                          tern_status *status_out) {
  tern_status_code code;
  if (!call || !response_out)
    return TERN_STATUS_INVALID_ARGUMENT;
  *response_out = NULL;
  tern_call_close_send(call);
  code = wait_done(call, status_out);
  return take_single_response(call, code, response_out, status_out);
}

const tern_metadata *tern_call_headers(tern_call *call) {
  pthread_mutex_lock(&call->mu);
  while (!call->headers_in && !call->done)
    pthread_cond_wait(&call->cv, &call->mu);
  pthread_mutex_unlock(&call->mu);
  return call->in_md ? call->in_md : tern__metadata_empty();
}

void tern_call_cancel(tern_call *call) {
  if (call && tern__call_request_cancel(call))
    tern__call_wake(call);
}

void tern_call_free(tern_call *call) {
  if (!call)
    return;
  tern_call_cancel(call);
  tern__call_unref(call);
}

/* ---- unary -------------------------------------------------------------- */

static tern_status_code local_failure(int rv, tern_status *status_out) {
  tern_status_code code = rv == TERN_ENOMEM ? TERN_STATUS_RESOURCE_EXHAUSTED
                          : rv == TERN_EINVAL ? TERN_STATUS_INVALID_ARGUMENT
                                              : TERN_STATUS_INTERNAL;
  if (status_out)
    tern__status_set(status_out, code, "%s", tern_strerror(rv));
  return code;
}

/* Creates a call with its one request queued and half-closed. */
static int unary_prepare(tern_channel *ch, const tern_method *method,
                         const void *request, const tern_call_options *opts,
                         int share, client_call **out) {
  client_call *cc;
  tern__msg *m;
  int rv;
  if (!request)
    return TERN_EINVAL;
  rv = call_new(ch, method, opts, share, &cc);
  if (rv != TERN_OK)
    return rv;
  rv = tern__call_encode(&cc->c, method, method->request_type, request,
                         tern__call_effective_alg(&cc->c), &m);
  if (rv != TERN_OK) {
    tern__call_unref(&cc->c);
    return rv;
  }
  /* Not started yet: nobody else sees the queue. */
  tern__call_queue_only(&cc->c, m);
  *out = cc;
  return TERN_OK;
}

tern_status_code tern_unary_call(tern_channel *ch, const tern_method *method,
                                 const void *request, void **response_out,
                                 const tern_call_options *opts,
                                 tern_status *status_out) {
  client_call *cc;
  tern_status_code code;
  int rv;
  if (!response_out)
    return local_failure(TERN_EINVAL, status_out);
  *response_out = NULL;
  rv = unary_prepare(ch, method, request, opts, 1, &cc);
  if (rv != TERN_OK)
    return local_failure(rv, status_out);
  call_go(cc);
  code = wait_done(&cc->c, status_out);
  code = take_single_response(&cc->c, code, response_out, status_out);
  tern__call_unref(&cc->c);
  return code;
}

int tern_unary_call_async(tern_channel *ch, const tern_method *method,
                          const void *request, const tern_call_options *opts,
                          tern_unary_cb cb, void *user_data) {
  client_call *cc;
  int rv;
  if (!cb)
    return TERN_EINVAL;
  rv = unary_prepare(ch, method, request, opts, 0, &cc);
  if (rv != TERN_OK)
    return rv;
  cc->cb = cb;
  cc->cb_data = user_data;
  /* Not shared: nobody but the channel's loop touches an async call once
   * it is posted (the post orders the set-up before the loop's first
   * look), so it takes no lock, as an inline server call. */
  /* The caller's reference becomes the callback's: dropped after cb. */
  call_go(cc);
  return TERN_OK;
}

/* ---- futures ------------------------------------------------------------ */

int tern_unary_call_future(tern_channel *ch, const tern_method *method,
                           const void *request, const tern_call_options *opts,
                           tern_future **future_out) {
  client_call *cc;
  tern_future *f;
  int rv;
  if (!future_out)
    return TERN_EINVAL;
  f = tern__zalloc(sizeof(*f));
  if (!f)
    return TERN_ENOMEM;
  rv = unary_prepare(ch, method, request, opts, 1, &cc);
  if (rv != TERN_OK) {
    tern__free(f);
    return rv;
  }
  f->cc = cc;
  f->unary = 1;
  call_go(cc);
  *future_out = f;
  return TERN_OK;
}

int tern_call_close_and_recv_future(tern_call *call,
                                    tern_future **future_out) {
  tern_future *f;
  if (!call || !future_out)
    return TERN_EINVAL;
  f = tern__zalloc(sizeof(*f));
  if (!f)
    return TERN_ENOMEM;
  tern_call_close_send(call);
  f->cc = CC(call);
  tern__call_ref(call); /* the future's */
  *future_out = f;
  return TERN_OK;
}

int tern_future_wait(tern_future *f, int64_t timeout_ms) {
  struct tern_call *c;
  int rv = TERN_OK;
  if (!f)
    return TERN_EINVAL;
  c = &f->cc->c;
  pthread_mutex_lock(&c->mu);
  if (timeout_ms < 0) {
    while (!c->done)
      pthread_cond_wait(&c->cv, &c->mu);
  } else {
    /* The call's condition waits on CLOCK_MONOTONIC (tern__call_share):
     * setting the wall clock moves no deadline. */
    struct timespec ts;
    tern__deadline_ts(&ts, timeout_ms);
    while (!c->done)
      if (pthread_cond_timedwait(&c->cv, &c->mu, &ts) != 0)
        break;
    if (!c->done)
      rv = TERN_ETIMEDOUT;
  }
  pthread_mutex_unlock(&c->mu);
  return rv;
}

int tern_future_done(tern_future *f) {
  int d;
  if (!f)
    return 0;
  pthread_mutex_lock(&f->cc->c.mu);
  d = f->cc->c.done;
  pthread_mutex_unlock(&f->cc->c.mu);
  return d;
}

tern_status_code tern_future_result(tern_future *f, void **response_out,
                                    tern_status *status_out) {
  tern_status_code code;
  if (!f || !response_out)
    return TERN_STATUS_INVALID_ARGUMENT;
  *response_out = NULL;
  if (f->taken) {
    if (status_out)
      tern__status_set(status_out, TERN_STATUS_FAILED_PRECONDITION,
                       "the future's result was already taken");
    return TERN_STATUS_FAILED_PRECONDITION;
  }
  f->taken = 1;
  code = wait_done(&f->cc->c, status_out);
  return take_single_response(&f->cc->c, code, response_out, status_out);
}

void tern_future_cancel(tern_future *f) {
  if (f)
    tern_call_cancel(&f->cc->c);
}

void tern_future_free(tern_future *f) {
  if (!f)
    return;
  if (f->unary)
    tern_call_cancel(&f->cc->c);
  tern__call_unref(&f->cc->c);
  tern__free(f);
}
