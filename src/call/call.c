/* A call's state: its life (references, sharing between threads), the
 * stream upcalls that feed it, its queues, and the one way it ends. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call/call_int.h"

static void kick_task(tern__task *t);

int tern__call_init(struct tern_call *call, int is_client,
                    const tern_method *method, const tern__call_hooks *hooks,
                    tern__loop *loop, int64_t max_recv) {
  memset(call, 0, offsetof(struct tern_call, arena_inline));
  /* tern__stream_init's zeroes are the memset's. */
  call->a0.stream.ops = &tern__call_stream_ops;
  tern__queue_init(&call->a0.stream.node);
  call->a0.call = call;
  call->attempt = &call->a0;
  call->is_client = is_client;
  call->method = method;
  call->hooks = hooks;
  call->loop = loop;
  call->max_recv = max_recv;
  call->refs = 1;
  call->retryable = is_client;
  call->timeout_ns = -1;
  call->grpc_status = -1;
  call->send_alg = TERN_COMPRESS_IDENTITY;
  call->peer_accept = 1u << TERN_COMPRESS_IDENTITY;
  tern__task_init(&call->kick, kick_task, call);
  tern__timer_init(&call->deadline_timer, NULL, call);
  /* in_md and trailers are made when their first entry arrives: most
   * calls carry none. The mutex and condition only when the call is
   * shared (tern__call_share). */
  return TERN_OK;
}

int tern__call_share(struct tern_call *call) {
  if (!call->sync_ready) {
    if (pthread_mutex_init(&call->mu, NULL) != 0)
      return TERN_ENOMEM;
    /* Monotonic: timed waits (tern_future_wait) do not move with the
     * wall clock. */
    if (tern__cond_init_monotonic(&call->cv) != 0) {
      pthread_mutex_destroy(&call->mu);
      return TERN_ENOMEM;
    }
    call->sync_ready = 1;
  }
  call->shared = 1;
  return TERN_OK;
}

void tern__call_cleanup(struct tern_call *call) {
  tern__call_msg_free_all(NULL, call->in_head);
  tern__call_msg_free_all(NULL, call->out_head);
  tern__call_msg_free(NULL, call->attempt->partial);
  tern__call_arena_free(call);
  tern_metadata_free(call->in_md);
  tern_metadata_free(call->trailers);
  tern_metadata_free(call->out_headers);
  tern__free(call->message);
  tern__free(call->grpc_message);
  if (call->sync_ready) {
    pthread_cond_destroy(&call->cv);
    pthread_mutex_destroy(&call->mu);
  }
}

void tern__call_ref(struct tern_call *call) {
  __atomic_fetch_add(&call->refs, 1, __ATOMIC_RELAXED);
}

void tern__call_unref(struct tern_call *call) {
  if (__atomic_sub_fetch(&call->refs, 1, __ATOMIC_ACQ_REL) == 0)
    call->hooks->destroy(call);
}

/* ---- waking the loop ---------------------------------------------------- */

static void kick_task(tern__task *t) {
  struct tern_call *call = t->data;
  if (call->hooks->on_kick)
    call->hooks->on_kick(call);
  else
    tern__call_kick_now(call);
  tern__call_unref(call); /* taken by tern__call_wake */
}

void tern__call_wake(struct tern_call *call) {
  /* A queued kick holds a reference so the call outlives it. */
  tern__call_ref(call);
  if (!tern__loop_post(call->loop, &call->kick))
    tern__call_unref(call); /* already queued: that one holds a ref */
}

/* Loop thread. Submits the response headers (the body follows through
 * out_ready), or a trailers-only response when the status is set and
 * nothing else is to be sent. */
static void server_submit(struct tern_call *call) {
  tern__attempt *a = call->attempt;
  tern__hdrs l;
  int trailers_only, rv;
  tern__hdrs_init(&l);
  tern__call_lock(call);
  /* Trailers-only when there is nothing but a status to send; initial
   * metadata the handler added goes in a header block of its own, as
   * grpc C++ and grpc-go do. */
  trailers_only =
      call->out_closed && call->out_bytes == 0 && !call->send_headers &&
      (!call->out_headers || tern_metadata_count(call->out_headers) == 0);
  tern__call_response_headers(call, trailers_only, &l);
  tern__call_unlock(call);
  if (l.failed) {
    tern__hdrs_free(&l);
    tern__call_reset(call, TERN__RST_INTERNAL_ERROR);
    return;
  }
  a->submitted = 1;
  if (trailers_only)
    a->out_eof_sent = 1;
  rv = tern__stream_respond(&a->stream, l.v, l.n,
                            trailers_only ? TERN__SUBMIT_END_STREAM : 0);
  tern__hdrs_free(&l);
  if (rv != TERN_OK)
    tern__call_reset(call, TERN__RST_INTERNAL_ERROR);
}

void tern__call_reset(struct tern_call *call, uint32_t error) {
  tern__stream_reset(&call->attempt->stream, error);
}

void tern__call_kick_now(struct tern_call *call) {
  tern__attempt *a = call->attempt;
  int has_out, cancel, credit;
  if (!tern__call_on_stream(call))
    return;
  tern__call_lock(call);
  cancel = call->cancel_requested;
  has_out = call->out_bytes > 0 || call->out_closed || call->send_headers;
  credit = call->credit_wanted;
  call->credit_wanted = 0;
  if (credit && call->in_bytes > TERN__READ_HIGH_WATER)
    credit = 0;
  tern__call_unlock(call);

  if (cancel) {
    tern__call_reset(call, TERN__RST_CANCEL);
    return;
  }
  if (credit && a->credit_held > 0) {
    tern__stream_consume(&a->stream, a->credit_held);
    a->credit_held = 0;
  }
  if (!call->is_client && !a->submitted && has_out)
    server_submit(call);
  else if (has_out)
    tern__stream_resume(&a->stream);
}

/* ---- the stream upcalls --------------------------------------------------- */

/* The stream is its attempt's first member. */
static tern__attempt *ATT(tern__stream *s) { return (tern__attempt *)s; }

static int st_header(tern__stream *s, const uint8_t *name, size_t namelen,
                     const uint8_t *value, size_t valuelen) {
  return tern__call_header_in(ATT(s), name, namelen, value, valuelen);
}

static void end_of_stream(tern__attempt *a) {
  struct tern_call *call = a->call;
  int incomplete;
  tern__call_lock(call);
  call->in_closed = 1;
  tern__call_broadcast(call);
  tern__call_unlock(call);
  incomplete = a->partial != NULL || a->pfx_len > 0;
  if (incomplete && !call->aborted) {
    tern__call_fail(call, TERN_STATUS_INTERNAL,
                    "stream ended in the middle of a message");
    return;
  }
  if (call->hooks->on_half_close)
    call->hooks->on_half_close(call);
}

/* Client, under mu: the sent messages need not be kept any more. */
static void let_go_of_sent(struct tern_call *call) {
  tern__attempt *a = call->attempt;
  while (call->out_head && call->out_head != a->cur) {
    tern__msg *m = call->out_head;
    call->out_head = m->next;
    tern__call_msg_free(call, m);
  }
  if (!call->out_head)
    call->out_tail = NULL;
  call->retained = 0;
}

static void st_headers_end(tern__stream *s, unsigned flags) {
  tern__attempt *a = ATT(s);
  struct tern_call *call = a->call;
  if (flags & TERN__HEADERS_TOO_BIG) {
    tern__call_fail(call, TERN_STATUS_RESOURCE_EXHAUSTED,
                    "header list larger than the limit");
    return;
  }
  if (call->is_client) {
    tern__call_lock(call);
    if (!a->headers_frame_seen) {
      a->headers_frame_seen = 1;
      if (flags & TERN__HEADERS_END_STREAM) {
        /* Trailers-only: what came is trailing metadata. */
        tern_metadata_free(call->trailers);
        call->trailers = call->in_md;
        call->in_md = NULL;
      }
      call->headers_in = 1;
      /* The server has the call: a replay is no longer possible. */
      call->retryable = 0;
      let_go_of_sent(call);
      tern__call_broadcast(call);
    }
    tern__call_unlock(call);
    if (call->hooks->on_headers)
      call->hooks->on_headers(call);
  } else if (!a->headers_frame_seen) {
    /* Only the request headers dispatch: a second block (request
     * trailers, legal in HTTP/2) must not start the call twice. */
    a->headers_frame_seen = 1;
    if (call->hooks->on_headers)
      call->hooks->on_headers(call);
  }
  if ((flags & TERN__HEADERS_END_STREAM) && tern__call_on_stream(call))
    end_of_stream(a);
}

static int st_data(tern__stream *s, const uint8_t *data, size_t len) {
  tern__attempt *a = ATT(s);
  struct tern_call *call = a->call;
  int queued = 0;
  if (!call->aborted)
    queued = tern__call_deframe(a, data, len);
  if (!tern__call_on_stream(call))
    return 0;
  if (call->aborted) {
    /* Nobody reads a failed call: its window comes back at once. */
    tern__stream_consume(s, len);
  } else {
    size_t unread;
    tern__call_lock(call);
    unread = call->in_bytes;
    tern__call_unlock(call);
    /* Credit goes back while the reader keeps up; past the high water
     * mark it is held until the reader takes messages (kick_now). */
    if (unread <= TERN__READ_HIGH_WATER) {
      tern__stream_consume(s, len + a->credit_held);
      a->credit_held = 0;
    } else {
      a->credit_held += len;
    }
  }
  if (queued && !call->aborted && call->hooks->on_message)
    call->hooks->on_message(call);
  return 0;
}

static void st_end(tern__stream *s) { end_of_stream(ATT(s)); }

static void st_closed(tern__stream *s, uint32_t error, const char *why) {
  struct tern_call *call = ATT(s)->call;
  /* A client's deadline outlives a stream that is replayed; it stops
   * when the call completes. */
  if (!call->is_client) {
    tern__call_stop_deadline(call);
    tern__call_lock(call);
    call->done = 1; /* a handler still running sees it cancelled */
    tern__call_broadcast(call);
    tern__call_unlock(call);
  }
  if (call->hooks->on_stream_closed)
    call->hooks->on_stream_closed(call, error, why);
  tern__call_unref(call); /* the stream's */
}

/* How many queued bytes go in the next DATA frame; the bytes themselves
 * move in st_take, straight into the transport's write buffer. */
static ssize_t st_ready(tern__stream *s, size_t max, unsigned *flags) {
  tern__attempt *a = ATT(s);
  struct tern_call *call = a->call;
  size_t n;
  int eof;
  tern__call_lock(call);
  n = call->out_bytes < max ? call->out_bytes : max;
  eof = call->out_closed && call->out_bytes == n;
  tern__call_unlock(call);
  if (n == 0 && !eof)
    return TERN__OUT_DEFER;
  if (eof) {
    a->out_eof_sent = 1;
    *flags |= TERN__OUT_EOF;
    if (!call->is_client)
      *flags |= TERN__OUT_TRAILERS; /* the server's status follows */
  }
  return (ssize_t)n;
}

/* Caller holds mu. Message m (the list's oldest not kept) went whole:
 * kept for a retry, or let go with everything kept before it. */
static void sent_whole(struct tern_call *call, tern__msg *m) {
  if (call->retryable && call->retained + m->len <= TERN__RETRY_KEEP) {
    call->retained += m->len;
    return;
  }
  call->retryable = 0; /* too much to keep: no replay any more */
  let_go_of_sent(call);
}

static int st_take(tern__stream *s, tern__buf *dst, size_t n) {
  tern__attempt *a = ATT(s);
  struct tern_call *call = a->call;
  int wake_writers, writable = 0, rv = TERN_OK;
  tern__call_lock(call);
  wake_writers = call->out_bytes > TERN__WRITE_HIGH_WATER / 2;
  if (n > call->out_bytes) {
    rv = TERN_ESTATE; /* cannot happen: only this thread takes */
    n = 0;
  }
  while (n > 0 && rv == TERN_OK) {
    tern__msg *m = a->cur;
    size_t take = m->len - a->cur_off;
    if (take > n)
      take = n;
    rv = tern__buf_append(dst, m->data + a->cur_off, take);
    a->cur_off += take;
    n -= take;
    call->out_bytes -= take;
    if (a->cur_off == m->len) {
      a->cur = m->next;
      a->cur_off = 0;
      sent_whole(call, m);
    }
  }
  if (wake_writers && call->out_bytes <= TERN__WRITE_HIGH_WATER / 2)
    tern__call_broadcast(call);
  if (call->want_write && call->out_bytes <= TERN__WRITE_HIGH_WATER / 2) {
    call->want_write = 0;
    writable = 1;
  }
  tern__call_unlock(call);
  if (writable && call->hooks->on_writable)
    call->hooks->on_writable(call); /* defers: we are inside the write */
  return rv;
}

static void st_trailers(tern__stream *s, tern__hdrs *l) {
  struct tern_call *call = ATT(s)->call;
  tern__call_lock(call);
  tern__call_status_headers(call, l);
  tern__call_unlock(call);
}

const tern__stream_ops tern__call_stream_ops = {
    st_header, st_headers_end, st_data, st_end,
    st_closed, st_ready,       st_take, st_trailers};

int32_t tern__call_open_stream(struct tern_call *call, tern__conn *conn,
                               const tern__hdrs *l) {
  int32_t id =
      tern__conn_open_stream(conn, &call->attempt->stream, l->v, l->n);
  if (id > 0)
    tern__call_ref(call); /* the stream's, until st_closed */
  return id;
}

/* ---- queues ------------------------------------------------------------------ */

int tern__call_queue_out(struct tern_call *call, tern__msg *m, int mode) {
  int rv = TERN_OK;
  tern__call_lock(call);
  /* Only a shared call can wait: its loop thread must never block. */
  while (mode == TERN__QUEUE_WAIT && call->shared && !call->done &&
         !call->aborted && !call->out_closed && call->out_bytes > 0 &&
         call->out_bytes + m->len > TERN__WRITE_HIGH_WATER)
    pthread_cond_wait(&call->cv, &call->mu);
  if (call->done || call->aborted || call->cancel_requested)
    rv = TERN_ECLOSED;
  else if (call->out_closed)
    rv = TERN_ESTATE;
  else if (mode == TERN__QUEUE_EAGAIN && call->out_bytes > 0 &&
           call->out_bytes + m->len > TERN__WRITE_HIGH_WATER) {
    call->want_write = 1;
    rv = TERN_EAGAIN;
  }
  if (rv != TERN_OK) {
    tern__call_unlock(call);
    tern__call_msg_free(call, m);
    return rv;
  }
  m->next = NULL;
  if (call->out_tail)
    call->out_tail->next = m;
  else
    call->out_head = m;
  call->out_tail = m;
  if (!call->attempt->cur) { /* the attempt has sent all before it */
    call->attempt->cur = m;
    call->attempt->cur_off = 0;
  }
  call->out_bytes += m->len;
  call->out_committed = 1;
  tern__call_unlock(call);
  return TERN_OK;
}

int tern__call_take_in(struct tern_call *call, tern__msg **m_out, int wait) {
  int rv;
  tern__call_lock(call);
  for (;;) {
    if (call->in_head) {
      tern__msg *m = call->in_head;
      int was_high = call->in_bytes > TERN__READ_HIGH_WATER;
      call->in_head = m->next;
      if (!call->in_head)
        call->in_tail = NULL;
      call->in_bytes -= m->len;
      *m_out = m;
      rv = 1;
      if (was_high && call->in_bytes <= TERN__READ_HIGH_WATER &&
          !call->done) {
        call->credit_wanted = 1;
        tern__call_unlock(call);
        tern__call_wake(call);
        return rv;
      }
      break;
    }
    if (call->in_closed) {
      rv = 0;
      break;
    }
    if (call->done || call->aborted || call->cancel_requested) {
      rv = TERN_ECLOSED;
      break;
    }
    if (!wait || !call->shared) {
      rv = TERN_ETIMEDOUT;
      break;
    }
    pthread_cond_wait(&call->cv, &call->mu);
  }
  tern__call_unlock(call);
  return rv;
}

void tern__call_queue_only(struct tern_call *call, tern__msg *m) {
  m->next = NULL;
  call->out_head = call->out_tail = m;
  call->attempt->cur = m;
  call->attempt->cur_off = 0;
  call->out_bytes = m->len;
  call->out_committed = 1;
  call->out_closed = 1;
}

int tern__call_close_send(struct tern_call *call) {
  int open;
  tern__call_lock(call);
  open = !call->out_closed && !call->done;
  call->out_closed = 1;
  tern__call_unlock(call);
  return open;
}

int tern__call_request_cancel(struct tern_call *call) {
  int news;
  tern__call_lock(call);
  news = !call->done && !call->cancel_requested;
  call->cancel_requested = 1;
  tern__call_unlock(call);
  return news;
}

int tern__call_rewind(struct tern_call *call) {
  tern__attempt *a = call->attempt;
  tern__call_lock(call);
  if (!call->retryable || call->headers_in || call->in_count > 0 ||
      call->done || call->cancel_requested) {
    tern__call_unlock(call);
    return -1;
  }
  /* The new attempt sends every message still held, from the first: the
   * kept ones, the rest of the one under way, and what is queued. */
  call->out_bytes += call->retained + a->cur_off;
  call->retained = 0;
  tern__call_unlock(call);
  /* The old attempt's stream is closed: its slot takes the new one. */
  tern__call_msg_free(call, a->partial);
  memset(a, 0, sizeof(*a));
  a->stream.ops = &tern__call_stream_ops;
  tern__queue_init(&a->stream.node);
  a->call = call;
  a->cur = call->out_head;
  call->http_status = 0;
  return 0;
}

/* ---- status and the end ------------------------------------------------------ */

static void replace_message(struct tern_call *call, const char *msg) {
  tern__free(call->message);
  call->message = msg ? tern__strdup(msg) : NULL;
}

int tern__call_end(struct tern_call *call, tern_status_code code,
                   const char *msg, unsigned how) {
  int set = 0, abort = (how & TERN__END_ABORT) != 0;
  tern__call_lock(call);
  if (call->is_client) {
    if (!call->done) {
      call->done = 1;
      call->code = code;
      replace_message(call, msg);
      if (abort) {
        call->aborted = 1;
        call->cancel_requested = 1; /* the loop resets the stream */
      }
      set = 1;
    }
  } else if (!abort || (!call->done && !call->aborted)) {
    if (abort)
      call->aborted = 1; /* the handler sees the call cancelled */
    if (!call->out_closed) {
      call->out_closed = 1;
      call->code = code;
      if (msg || code == TERN_STATUS_OK)
        replace_message(call, msg);
      if (abort) {
        tern__call_msg_free_all(call, call->out_head);
        call->out_head = call->out_tail = NULL;
        call->out_bytes = 0;
        call->retained = 0;
        call->attempt->cur = NULL;
        call->attempt->cur_off = 0;
      }
      set = 1;
    }
  }
  tern__call_broadcast(call);
  tern__call_unlock(call);
  if (!call->loop) /* a call made alone, with no loop (unit tests) */
    return set;
  if (abort && tern__loop_in_thread(call->loop)) {
    /* Client: the stream's close follows the reset, and the client layer
     * completes the call there with the status set above. */
    if (call->is_client)
      tern__call_reset(call, TERN__RST_CANCEL);
    else
      tern__call_kick_now(call);
  } else {
    tern__call_wake(call);
  }
  return set;
}

void tern__call_fail(struct tern_call *call, tern_status_code code,
                     const char *msg) {
  tern__call_end(call, code, msg, TERN__END_ABORT);
}

void tern__call_http_error(struct tern_call *call, const char *status) {
  tern__hdr h;
  tern__call_lock(call);
  call->aborted = 1;
  call->out_closed = 1;
  tern__call_unlock(call);
  call->attempt->submitted = 1;
  call->attempt->out_eof_sent = 1;
  h.name = (const uint8_t *)":status";
  h.namelen = 7;
  h.value = (const uint8_t *)status;
  h.valuelen = strlen(status);
  h.flags = 0;
  tern__stream_respond(&call->attempt->stream, &h, 1,
                       TERN__SUBMIT_END_STREAM);
}

int tern__call_set_message(struct tern_call *call, const char *msg) {
  char *copy = msg ? tern__strdup(msg) : NULL;
  if (msg && !copy)
    return TERN_ENOMEM;
  tern__call_lock(call);
  if (!call->out_closed) {
    tern__free(call->message);
    call->message = copy;
    copy = NULL;
  }
  tern__call_unlock(call);
  tern__free(copy);
  return TERN_OK;
}

int tern__call_add_metadata(struct tern_call *call, int trailers,
                            const char *key, const void *value, size_t len,
                            int bin) {
  tern_metadata **mdp = trailers ? &call->trailers : &call->out_headers;
  int rv;
  tern__call_lock(call);
  if (!*mdp && tern_metadata_new(mdp) != TERN_OK) {
    tern__call_unlock(call);
    return TERN_ENOMEM;
  }
  rv = bin ? tern_metadata_add_bin(*mdp, key, value, len)
           : tern_metadata_add(*mdp, key, value);
  tern__call_unlock(call);
  return rv;
}

void tern__call_send_headers(struct tern_call *call) {
  tern__call_lock(call);
  call->send_headers = 1;
  tern__call_unlock(call);
  tern__call_wake(call);
}

void tern__call_set_method(struct tern_call *call, const tern_method *m) {
  call->method = m;
}

int tern__call_set_send_alg(struct tern_call *call, int alg) {
  int rv = TERN_OK;
  tern__call_lock(call);
  /* The headers name the algorithm: too late once they (or a message
   * that makes them go) are out. */
  if (call->out_committed || call->send_headers)
    rv = TERN_ESTATE;
  else
    call->send_alg = alg;
  tern__call_unlock(call);
  return rv;
}

static void deadline_fired(tern__timer *t) {
  struct tern_call *call = t->data;
  if (call->hooks->on_deadline)
    call->hooks->on_deadline(call);
  else
    tern__call_fail(call, TERN_STATUS_DEADLINE_EXCEEDED, "deadline exceeded");
}

void tern__call_start_deadline(struct tern_call *call, int64_t deadline_ns) {
  call->deadline_ns = deadline_ns;
  call->deadline_timer.cb = deadline_fired;
  call->deadline_timer.data = call;
  tern__timer_start(call->loop, &call->deadline_timer, deadline_ns);
}

void tern__call_stop_deadline(struct tern_call *call) {
  tern__timer_stop(call->loop, &call->deadline_timer);
}

tern_status_code tern__call_complete(struct tern_call *call,
                                     tern_status_code code, const char *msg) {
  tern__call_lock(call);
  if (!call->done) {
    call->done = 1;
    call->code = code;
    replace_message(call, msg);
  }
  code = call->code;
  tern__call_broadcast(call);
  tern__call_unlock(call);
  return code;
}
