/* epoll loop with a timer heap and a cross-thread task queue. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/common_int.h"
#include "loop/loop_int.h"

#define MAX_EVENTS 128

struct tern__loop {
  int epfd;
  int wakefd;
  tern__io wake_io;
  pthread_t thread;
  int has_thread;
  pthread_t owner; /* thread running tern__loop_run */
  int running;
  int stop; /* written under mu; read atomically */

  /* timers: binary min-heap on when_ns */
  tern__timer **heap;
  size_t heap_len, heap_cap;

  /* posted tasks (any thread), guarded by mu */
  pthread_mutex_t mu;
  tern__queue posted; /* of tern__task.node */
  int wake_pending;
  /* Written under mu, read without it: lets the loop skip the lock on
   * turns with nothing posted. A post from another thread is followed by
   * an eventfd write, so a stale 0 only delays it to the wake-up. */
  int posted_any;

  /* end-of-turn tasks (loop thread), first in first out: a connection's
   * free task must run after its flush task queued earlier */
  tern__queue deferred;
};

typedef struct oneshot {
  tern__task task;
  void (*fn)(void *);
  void *arg;
} oneshot;

static void oneshot_run(tern__task *task);

static void wake_cb(tern__io *io, unsigned events) {
  uint64_t v;
  (void)events;
  /* Drain; the counter only says "look at the queue". */
  while (read(io->fd, &v, sizeof(v)) > 0) {
  }
}

int tern__loop_new(tern__loop **loop_out) {
  tern__loop *l = tern__calloc(1, sizeof(*l));
  if (!l)
    return TERN_ENOMEM;
  l->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (l->epfd < 0)
    goto fail_alloc;
  l->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (l->wakefd < 0)
    goto fail_ep;
  if (pthread_mutex_init(&l->mu, NULL) != 0)
    goto fail_wake;
  tern__queue_init(&l->posted);
  tern__queue_init(&l->deferred);
  tern__io_init(&l->wake_io, l->wakefd, wake_cb, l);
  if (tern__io_set(l, &l->wake_io, TERN__IO_READ) != 0)
    goto fail_mu;
  *loop_out = l;
  return TERN_OK;
fail_mu:
  pthread_mutex_destroy(&l->mu);
fail_wake:
  close(l->wakefd);
fail_ep:
  close(l->epfd);
fail_alloc:
  tern__free(l);
  return TERN_ESYS;
}

void tern__loop_free(tern__loop *loop) {
  tern__queue *q, *next;
  if (!loop)
    return;
  tern__queue_foreach_safe(q, next, &loop->posted) {
    tern__task *t = tern__queue_data(q, tern__task, node);
    if (t->fn == oneshot_run)
      tern__free(t);
  }
  close(loop->wakefd);
  close(loop->epfd);
  pthread_mutex_destroy(&loop->mu);
  tern__free(loop->heap);
  tern__free(loop);
}

void tern__io_init(tern__io *io, int fd, tern__io_cb cb, void *data) {
  io->fd = fd;
  io->events = 0;
  io->cb = cb;
  io->data = data;
}

int tern__io_set(tern__loop *loop, tern__io *io, unsigned events) {
  struct epoll_event ev;
  int op;
  if (events == io->events)
    return TERN_OK;
  memset(&ev, 0, sizeof(ev));
  ev.data.ptr = io;
  if (events & TERN__IO_READ)
    ev.events |= EPOLLIN | EPOLLRDHUP;
  if (events & TERN__IO_WRITE)
    ev.events |= EPOLLOUT;
  if (io->events == 0)
    op = EPOLL_CTL_ADD;
  else if (events == 0)
    op = EPOLL_CTL_DEL;
  else
    op = EPOLL_CTL_MOD;
  if (epoll_ctl(loop->epfd, op, io->fd, &ev) != 0)
    return TERN_ESYS;
  io->events = events;
  return TERN_OK;
}

void tern__io_stop(tern__loop *loop, tern__io *io) {
  if (io->events != 0) {
    epoll_ctl(loop->epfd, EPOLL_CTL_DEL, io->fd, NULL);
    io->events = 0;
  }
}

/* ---- timers ----------------------------------------------------------- */

static void heap_swap(tern__loop *l, size_t a, size_t b) {
  tern__timer *t = l->heap[a];
  l->heap[a] = l->heap[b];
  l->heap[b] = t;
  l->heap[a]->heap_index = a;
  l->heap[b]->heap_index = b;
}

static void heap_up(tern__loop *l, size_t i) {
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (l->heap[p]->when_ns <= l->heap[i]->when_ns)
      break;
    heap_swap(l, p, i);
    i = p;
  }
}

static void heap_down(tern__loop *l, size_t i) {
  for (;;) {
    size_t a = 2 * i + 1, b = a + 1, m = i;
    if (a < l->heap_len && l->heap[a]->when_ns < l->heap[m]->when_ns)
      m = a;
    if (b < l->heap_len && l->heap[b]->when_ns < l->heap[m]->when_ns)
      m = b;
    if (m == i)
      break;
    heap_swap(l, i, m);
    i = m;
  }
}

void tern__timer_init(tern__timer *t, tern__timer_cb cb, void *data) {
  t->when_ns = 0;
  t->heap_index = SIZE_MAX;
  t->cb = cb;
  t->data = data;
}

int tern__timer_armed(const tern__timer *t) {
  return t->heap_index != SIZE_MAX;
}

void tern__timer_stop(tern__loop *l, tern__timer *t) {
  size_t i = t->heap_index;
  if (i == SIZE_MAX)
    return;
  l->heap_len--;
  if (i != l->heap_len) {
    l->heap[i] = l->heap[l->heap_len];
    l->heap[i]->heap_index = i;
    heap_down(l, i);
    heap_up(l, i);
  }
  t->heap_index = SIZE_MAX;
}

int tern__timer_start(tern__loop *l, tern__timer *t, int64_t when_ns) {
  tern__timer_stop(l, t);
  if (l->heap_len == l->heap_cap) {
    size_t cap = l->heap_cap ? l->heap_cap * 2 : 64;
    tern__timer **h = tern__realloc(l->heap, cap * sizeof(*h));
    if (!h)
      return TERN_ENOMEM;
    l->heap = h;
    l->heap_cap = cap;
  }
  t->when_ns = when_ns;
  t->heap_index = l->heap_len;
  l->heap[l->heap_len++] = t;
  heap_up(l, t->heap_index);
  return TERN_OK;
}

static void run_timers(tern__loop *l) {
  int64_t now = tern__now_ns();
  while (l->heap_len > 0 && l->heap[0]->when_ns <= now) {
    tern__timer *t = l->heap[0];
    tern__timer_stop(l, t);
    t->cb(t);
  }
}

/* ---- tasks ------------------------------------------------------------ */

void tern__task_init(tern__task *task, tern__task_fn fn, void *data) {
  tern__queue_init(&task->node);
  task->fn = fn;
  task->data = data;
  task->queued = 0;
}

int tern__loop_post(tern__loop *l, tern__task *task) {
  int wake = 0, queued = 0;
  pthread_mutex_lock(&l->mu);
  if (!task->queued) {
    queued = 1;
    task->queued = 1;
    tern__queue_insert_tail(&l->posted, &task->node);
    __atomic_store_n(&l->posted_any, 1, __ATOMIC_RELEASE);
    /* One eventfd write per batch: the loop clears wake_pending when it
     * takes the queue. Nothing to write when posting from the loop. */
    if (!l->wake_pending && !(l->running && pthread_equal(l->owner,
                                                         pthread_self()))) {
      l->wake_pending = 1;
      wake = 1;
    }
  }
  pthread_mutex_unlock(&l->mu);
  if (wake) {
    uint64_t one = 1;
    ssize_t r = write(l->wakefd, &one, sizeof(one));
    (void)r; /* EAGAIN means the counter is already non-zero */
  }
  return queued;
}

static void oneshot_run(tern__task *task) {
  oneshot *o = (oneshot *)task;
  void (*fn)(void *) = o->fn;
  void *arg = o->arg;
  tern__free(o);
  fn(arg);
}

int tern__loop_post_fn(tern__loop *l, void (*fn)(void *), void *arg) {
  oneshot *o = tern__malloc(sizeof(*o));
  if (!o)
    return TERN_ENOMEM;
  tern__task_init(&o->task, oneshot_run, o);
  o->fn = fn;
  o->arg = arg;
  tern__loop_post(l, &o->task);
  return TERN_OK;
}

static int run_posted(tern__loop *l) {
  tern__queue batch, *q, *next;
  int stop;
  if (!__atomic_load_n(&l->posted_any, __ATOMIC_ACQUIRE) &&
      !__atomic_load_n(&l->stop, __ATOMIC_ACQUIRE))
    return 0;
  tern__queue_init(&batch);
  pthread_mutex_lock(&l->mu);
  tern__queue_move(&l->posted, &batch);
  __atomic_store_n(&l->posted_any, 0, __ATOMIC_RELAXED);
  l->wake_pending = 0;
  stop = l->stop;
  pthread_mutex_unlock(&l->mu);
  /* Each task stays marked queued until just before it runs: a post from
   * another thread meanwhile is then covered by this run (fn reads the
   * state after), and cannot relink its node inside the batch we walk. */
  for (q = batch.next; q != &batch; q = next) {
    tern__task *t = tern__queue_data(q, tern__task, node);
    pthread_mutex_lock(&l->mu);
    next = q->next;
    t->queued = 0;
    pthread_mutex_unlock(&l->mu);
    t->fn(t); /* may free t, or queue it again */
  }
  return stop;
}

void tern__loop_defer(tern__loop *l, tern__task *task) {
  if (task->queued)
    return;
  task->queued = 1;
  tern__queue_insert_tail(&l->deferred, &task->node);
}

static void run_deferred(tern__loop *l) {
  /* Deferred tasks may defer others (a flush closing a stream that wakes
   * another connection): loop until the list stays empty, bounded. */
  int rounds;
  for (rounds = 0; rounds < 16 && !tern__queue_empty(&l->deferred);
       rounds++) {
    tern__queue batch, *q, *next;
    tern__queue_init(&batch);
    tern__queue_move(&l->deferred, &batch);
    /* next is read before fn runs: fn may free its task or defer it
     * again (onto l->deferred, for the next round). */
    tern__queue_foreach_safe(q, next, &batch) {
      tern__task *t = tern__queue_data(q, tern__task, node);
      t->queued = 0;
      t->fn(t);
    }
  }
}

/* ---- running ------------------------------------------------------------- */

void tern__loop_run(tern__loop *l) {
  struct epoll_event evs[MAX_EVENTS];
  pthread_mutex_lock(&l->mu);
  l->owner = pthread_self();
  l->running = 1;
  pthread_mutex_unlock(&l->mu);
  for (;;) {
    int timeout = -1, n, i;
    int has_work = __atomic_load_n(&l->posted_any, __ATOMIC_ACQUIRE) ||
                   __atomic_load_n(&l->stop, __ATOMIC_ACQUIRE);
    if (has_work || !tern__queue_empty(&l->deferred)) {
      timeout = 0;
    } else if (l->heap_len > 0) {
      int64_t d = l->heap[0]->when_ns - tern__now_ns();
      if (d <= 0)
        timeout = 0;
      else
        timeout = (int)((d + 999999) / 1000000 > 3600000
                            ? 3600000
                            : (d + 999999) / 1000000);
    }
    n = epoll_wait(l->epfd, evs, MAX_EVENTS, timeout);
    if (n < 0 && errno != EINTR)
      TERN__WARN("epoll_wait: %s", strerror(errno));
    for (i = 0; i < n; i++) {
      tern__io *io = evs[i].data.ptr;
      unsigned e = 0;
      if (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        e |= TERN__IO_READ;
      if (evs[i].events & EPOLLOUT)
        e |= TERN__IO_WRITE;
      /* Only the owner may remove io mid-batch by tern__io_stop; it then
       * must not be freed before the batch ends. Owners defer frees. */
      io->cb(io, e);
    }
    run_timers(l);
    if (run_posted(l)) {
      run_deferred(l);
      break;
    }
    run_deferred(l);
  }
  pthread_mutex_lock(&l->mu);
  l->running = 0;
  /* Consumed: a later run goes on until the next stop. */
  __atomic_store_n(&l->stop, 0, __ATOMIC_RELEASE);
  pthread_mutex_unlock(&l->mu);
}

static void *loop_thread(void *arg) {
  tern__loop_run(arg);
  return NULL;
}

int tern__loop_start_thread(tern__loop *l) {
  if (pthread_create(&l->thread, NULL, loop_thread, l) != 0)
    return TERN_ESYS;
  l->has_thread = 1;
  return TERN_OK;
}

void tern__loop_stop(tern__loop *l) {
  uint64_t one = 1;
  ssize_t r;
  pthread_mutex_lock(&l->mu);
  __atomic_store_n(&l->stop, 1, __ATOMIC_RELEASE);
  pthread_mutex_unlock(&l->mu);
  r = write(l->wakefd, &one, sizeof(one));
  (void)r;
}

void tern__loop_join(tern__loop *l) {
  if (l->has_thread) {
    pthread_join(l->thread, NULL);
    l->has_thread = 0;
  }
}

int tern__loop_in_thread(const tern__loop *l) {
  /* Only the owner can see running set with owner == self: no lock. */
  return l->running && pthread_equal(l->owner, pthread_self());
}
