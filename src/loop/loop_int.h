/* The event loop: one per I/O thread. epoll for descriptors, a min-heap of
 * timers, and a queue other threads post tasks to (woken by an eventfd).
 * Everything but tern__loop_post, tern__loop_stop and tern__loop_in_thread
 * must be called on the loop's own thread. */
#ifndef TERN_LOOP_INT_H
#define TERN_LOOP_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "common/queue.h"

typedef struct tern__loop tern__loop;
typedef struct tern__io tern__io;
typedef struct tern__timer tern__timer;
typedef struct tern__task tern__task;

#define TERN__IO_READ 1u
#define TERN__IO_WRITE 2u

/* events: TERN__IO_READ / TERN__IO_WRITE, plus READ for hang-up/errors so
 * that the owner reads and sees the failure. */
typedef void (*tern__io_cb)(tern__io *io, unsigned events);

struct tern__io {
  int fd;
  unsigned events; /* what is registered */
  tern__io_cb cb;
  void *data;
};

typedef void (*tern__timer_cb)(tern__timer *timer);

struct tern__timer {
  int64_t when_ns; /* monotonic */
  size_t heap_index; /* SIZE_MAX when not armed */
  tern__timer_cb cb;
  void *data;
};

typedef void (*tern__task_fn)(tern__task *task);

/* A task is embedded in its owner (no allocation to post it); `queued`
 * keeps a posted task from being posted twice before it runs. `queued`,
 * not the node, says whether a task is on a list: the loop takes a whole
 * list at once and does not unlink each task from it (one store fewer per
 * task), so a task that has run keeps stale links until it is queued
 * again, which overwrites both. */
struct tern__task {
  tern__queue node;
  tern__task_fn fn;
  void *data;
  int queued; /* guarded by the loop's queue lock */
};

int tern__loop_new(tern__loop **loop_out);
/* The loop must not be running. Tasks belong to their owners; one-shot
 * tasks still queued are freed without running. */
void tern__loop_free(tern__loop *loop);

/* Runs until tern__loop_stop (which it then forgets: it may run again). */
void tern__loop_run(tern__loop *loop);
/* Runs tern__loop_run on a new thread. */
int tern__loop_start_thread(tern__loop *loop);
/* Any thread: makes run() return after the current turn. */
void tern__loop_stop(tern__loop *loop);
/* Joins the thread started by tern__loop_start_thread. */
void tern__loop_join(tern__loop *loop);
int tern__loop_in_thread(const tern__loop *loop);

void tern__io_init(tern__io *io, int fd, tern__io_cb cb, void *data);
/* Sets the interest (0 removes it from epoll but keeps io usable). */
int tern__io_set(tern__loop *loop, tern__io *io, unsigned events);
/* Removes io from epoll (before the fd is closed). */
void tern__io_stop(tern__loop *loop, tern__io *io);

void tern__timer_init(tern__timer *t, tern__timer_cb cb, void *data);
/* (Re)arms at absolute monotonic time when_ns. */
int tern__timer_start(tern__loop *loop, tern__timer *t, int64_t when_ns);
void tern__timer_stop(tern__loop *loop, tern__timer *t);
int tern__timer_armed(const tern__timer *t);

void tern__task_init(tern__task *task, tern__task_fn fn, void *data);
/* Any thread. Runs task->fn on the loop's thread soon. Returns 1 when
 * queued, 0 when the task was already queued (nothing done). */
int tern__loop_post(tern__loop *loop, tern__task *task);
/* Any thread: allocates a one-shot task running fn(arg). TERN_ENOMEM. */
int tern__loop_post_fn(tern__loop *loop, void (*fn)(void *arg), void *arg);

/* Loop thread only: runs task->fn once at the end of this turn, after
 * events, timers and posted tasks. This is where connections flush their
 * batched writes. A task is used either for posting or for deferring. */
void tern__loop_defer(tern__loop *loop, tern__task *task);

#endif /* TERN_LOOP_INT_H */
