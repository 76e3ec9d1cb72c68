/* The event loop: timers fire in order, tasks posted from other threads
 * run on the loop, descriptors report readiness, stop is prompt. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/common_int.h"
#include "loop/loop_int.h"
#include "test.h"

static tern__loop *g_loop;
static int g_order[8];
static int g_n;

static void timer_fired(tern__timer *t) {
  g_order[g_n++] = (int)(intptr_t)t->data;
  if (g_n == 3)
    tern__loop_stop(g_loop);
}

static void test_timers_fire_in_deadline_order(void) {
  tern__timer a, b, c, cancelled;
  int64_t now = tern__now_ns();
  CHECK_EQ_INT(tern__loop_new(&g_loop), TERN_OK);
  g_n = 0;
  tern__timer_init(&a, timer_fired, (void *)(intptr_t)1);
  tern__timer_init(&b, timer_fired, (void *)(intptr_t)2);
  tern__timer_init(&c, timer_fired, (void *)(intptr_t)3);
  tern__timer_init(&cancelled, timer_fired, (void *)(intptr_t)9);
  SAY("timers armed 30, 10, 20 ms out fire as 10, 20, 30; a stopped one never");
  tern__timer_start(g_loop, &a, now + 30000000);
  tern__timer_start(g_loop, &b, now + 10000000);
  tern__timer_start(g_loop, &c, now + 20000000);
  tern__timer_start(g_loop, &cancelled, now + 15000000);
  tern__timer_stop(g_loop, &cancelled);
  CHECK(!tern__timer_armed(&cancelled));
  tern__loop_run(g_loop);
  CHECK_EQ_INT(g_n, 3);
  CHECK_EQ_INT(g_order[0], 2);
  CHECK_EQ_INT(g_order[1], 3);
  CHECK_EQ_INT(g_order[2], 1);
  SAY("no timer fired early: at least 30 ms passed");
  CHECK(tern__now_ns() - now >= 30000000);
  tern__loop_free(g_loop);
}

static int g_task_runs;
static int g_task_on_loop;

static void task_fn(tern__task *t) {
  tern__loop *l = t->data;
  __atomic_store_n(&g_task_on_loop, tern__loop_in_thread(l),
                   __ATOMIC_RELAXED);
  __atomic_add_fetch(&g_task_runs, 1, __ATOMIC_RELEASE);
}

static void stop_fn(void *arg) { tern__loop_stop(arg); }

static void test_task_posted_from_other_thread_runs_on_loop_once(void) {
  tern__loop *l;
  tern__task t;
  int i;
  CHECK_EQ_INT(tern__loop_new(&l), TERN_OK);
  g_task_runs = 0;
  tern__task_init(&t, task_fn, l);
  CHECK_EQ_INT(tern__loop_start_thread(l), TERN_OK);
  SAY("posting the same task twice before it runs queues it once");
  /* Posted from this (non-loop) thread; the loop may run it between the
   * two posts, so 1 or 2 runs are both right, and never more. */
  CHECK_EQ_INT(tern__loop_post(l, &t), 1);
  tern__loop_post(l, &t);
  for (i = 0; i < 200 && __atomic_load_n(&g_task_runs, __ATOMIC_ACQUIRE) == 0;
       i++)
    usleep(5000);
  CHECK(__atomic_load_n(&g_task_runs, __ATOMIC_ACQUIRE) >= 1 &&
        __atomic_load_n(&g_task_runs, __ATOMIC_ACQUIRE) <= 2);
  SAY("it ran on the loop's thread");
  CHECK(__atomic_load_n(&g_task_on_loop, __ATOMIC_ACQUIRE));
  CHECK_EQ_INT(tern__loop_post_fn(l, stop_fn, l), TERN_OK);
  tern__loop_join(l);
  tern__loop_free(l);
}

static int g_readable;

static void io_cb(tern__io *io, unsigned events) {
  char buf[16];
  if (events & TERN__IO_READ) {
    g_readable += (int)read(io->fd, buf, sizeof(buf));
    tern__loop_stop(io->data);
  }
}

static void test_io_reports_readable_descriptor(void) {
  tern__loop *l;
  tern__io io;
  int fds[2];
  CHECK_EQ_INT(tern__loop_new(&l), TERN_OK);
  CHECK_EQ_INT(pipe(fds), 0);
  g_readable = 0;
  tern__io_init(&io, fds[0], io_cb, l);
  CHECK_EQ_INT(tern__io_set(l, &io, TERN__IO_READ), TERN_OK);
  SAY("three bytes written to a pipe are read by the io callback");
  CHECK_EQ_INT(write(fds[1], "abc", 3), 3);
  tern__loop_run(l);
  CHECK_EQ_INT(g_readable, 3);
  tern__io_stop(l, &io);
  close(fds[0]);
  close(fds[1]);
  tern__loop_free(l);
}

static void test_stop_from_other_thread_wakes_idle_loop(void) {
  tern__loop *l;
  int64_t t0;
  CHECK_EQ_INT(tern__loop_new(&l), TERN_OK);
  CHECK_EQ_INT(tern__loop_start_thread(l), TERN_OK);
  usleep(20000);
  t0 = tern__now_ns();
  SAY("an idle loop (no timers) stops within a second of tern__loop_stop");
  tern__loop_stop(l);
  tern__loop_join(l);
  CHECK(tern__now_ns() - t0 < 1000000000);
  tern__loop_free(l);
}

int main(void) {
  RUN_TEST(test_timers_fire_in_deadline_order);
  RUN_TEST(test_task_posted_from_other_thread_runs_on_loop_once);
  RUN_TEST(test_io_reports_readable_descriptor);
  RUN_TEST(test_stop_from_other_thread_wakes_idle_loop);
  return TEST_SUMMARY("loop");
}
