/* The transport's error codes at connection set-up (src/transport/h2.c):
 * a descriptor epoll refuses is a system error, not a lack of memory, and
 * the descriptor, handed over, is closed. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "test.h"
#include "transport/transport_int.h"

static const tern__conn_ops no_ops = {NULL, NULL, NULL, NULL};

static void test_conn_new_on_a_file_is_esys(void) {
  tern__loop *loop;
  tern__conn *conn = NULL;
  tern__h2_config cfg;
  char path[] = "/tmp/tern-test-conn-XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  if (fd >= 0)
    unlink(path);
  CHECK_EQ_INT(tern__loop_new(&loop), TERN_OK);
  memset(&cfg, 0, sizeof(cfg));
  cfg.initial_window = 65535;
  cfg.max_header_list = 16384;
  /* epoll_ctl says EPERM for a regular file. */
  SAY("tern__h2_conn_new on a regular file: TERN_ESYS, no connection");
  CHECK_EQ_INT(tern__h2_conn_new(&conn, loop, fd, 1, &cfg, &no_ops, NULL),
               TERN_ESYS);
  CHECK(conn == NULL);
  SAY("the descriptor was handed over: closed on the failure");
  errno = 0;
  CHECK(fcntl(fd, F_GETFD) == -1 && errno == EBADF);
  tern__loop_free(loop);
}

int main(void) {
  RUN_TEST(test_conn_new_on_a_file_is_esys);
  return TEST_SUMMARY("conn");
}
