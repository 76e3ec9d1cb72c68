/* A tern RouteGuide client for the hostile-server tests: makes calls with
 * a deadline against a target and reports how each ended.
 *
 *   hostile_client_target --target HOST:PORT [--calls N] [--timeout-ms MS]
 *                         [--method get|list|record] [--max-recv BYTES]
 *
 * Output, one line per call, then the descriptor count around the channel
 * and the peak RSS (VmHWM):
 *   CALL <i> <STATUS_NAME> <elapsed_ms> <message>
 *   FDS <before> <after>
 *   PEAK_RSS_KIB <n>
 * Exit status 0 when every call ended (whatever its status), 2 for bad
 * arguments. The tests treat a crash, a signal or a hang as a failure. */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#include "route_guide.tern.h"

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int count_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  struct dirent *e;
  int n = 0;
  if (!d)
    return -1;
  while ((e = readdir(d)) != NULL)
    if (e->d_name[0] != '.')
      n++;
  closedir(d);
  return n - 1; /* the DIR's own descriptor */
}

static long peak_rss_kib(void) {
  char line[256];
  long kib = -1;
  FILE *f = fopen("/proc/self/status", "r");
  if (!f)
    return -1;
  while (fgets(line, sizeof line, f))
    if (strncmp(line, "VmHWM:", 6) == 0)
      kib = strtol(line + 6, NULL, 10);
  fclose(f);
  return kib;
}

static void one_line(char *s) {
  for (; s && *s; s++)
    if (*s == '\n' || *s == '\r')
      *s = ' ';
}

static tern_status_code do_get(tern_channel *ch, const tern_call_options *o,
                               tern_status *st) {
  Routeguide__RouteGuideStub stub;
  Routeguide__Point req = ROUTEGUIDE__POINT__INIT;
  Routeguide__Feature *resp = NULL;
  tern_status_code code;
  routeguide__route_guide_stub_init(&stub, ch);
  req.latitude = 409146138;
  req.longitude = -746188906;
  code = routeguide__route_guide_stub__get_feature(&stub, &req, &resp, o, st);
  if (resp)
    routeguide__feature__free_unpacked(resp, NULL);
  return code;
}

static tern_status_code do_list(tern_channel *ch, const tern_call_options *o,
                                tern_status *st) {
  Routeguide__RouteGuideStub stub;
  Routeguide__Rectangle rect = ROUTEGUIDE__RECTANGLE__INIT;
  Routeguide__Point lo = ROUTEGUIDE__POINT__INIT, hi = ROUTEGUIDE__POINT__INIT;
  tern_call *call = NULL;
  Routeguide__Feature *f;
  tern_status_code code;
  int rc, n = 0;
  routeguide__route_guide_stub_init(&stub, ch);
  lo.latitude = 400000000;
  lo.longitude = -750000000;
  hi.latitude = 420000000;
  hi.longitude = -730000000;
  rect.lo = &lo;
  rect.hi = &hi;
  rc = routeguide__route_guide_stub__list_features(&stub, &rect, o, &call);
  if (rc != TERN_OK) {
    st->code = TERN_STATUS_INTERNAL;
    st->message = strdup(tern_strerror(rc));
    return st->code;
  }
  while (n < 100000 &&
         (rc = routeguide__route_guide_stub__list_features_read(call, &f)) ==
             1) {
    routeguide__feature__free_unpacked(f, NULL);
    n++;
  }
  code = tern_call_finish(call, st);
  tern_call_free(call);
  return code;
}

static tern_status_code do_record(tern_channel *ch,
                                  const tern_call_options *o,
                                  tern_status *st) {
  Routeguide__RouteGuideStub stub;
  Routeguide__Point p = ROUTEGUIDE__POINT__INIT;
  Routeguide__RouteSummary *sum = NULL;
  tern_call *call = NULL;
  tern_status_code code;
  int rc, i;
  routeguide__route_guide_stub_init(&stub, ch);
  rc = routeguide__route_guide_stub__record_route(&stub, o, &call);
  if (rc != TERN_OK) {
    st->code = TERN_STATUS_INTERNAL;
    st->message = strdup(tern_strerror(rc));
    return st->code;
  }
  for (i = 0; i < 10; i++) {
    p.latitude = 409146138 + i;
    if (routeguide__route_guide_stub__record_route_write(call, &p) != TERN_OK)
      break;
  }
  code = routeguide__route_guide_stub__record_route_close_and_recv(call, &sum,
                                                                   st);
  if (sum)
    routeguide__route_summary__free_unpacked(sum, NULL);
  tern_call_free(call);
  return code;
}

int main(int argc, char **argv) {
  const char *target = NULL, *method = "get";
  long calls = 1, timeout_ms = 3000, max_recv = 0;
  tern_channel_options co = TERN_CHANNEL_OPTIONS_INIT;
  tern_channel *ch = NULL;
  int i, fds_before, fds_after, rc;

  for (i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--target") == 0 && i + 1 < argc)
      target = argv[++i];
    else if (strcmp(argv[i], "--calls") == 0 && i + 1 < argc)
      calls = strtol(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "--timeout-ms") == 0 && i + 1 < argc)
      timeout_ms = strtol(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "--max-recv") == 0 && i + 1 < argc)
      max_recv = strtol(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "--method") == 0 && i + 1 < argc)
      method = argv[++i];
    else {
      fprintf(stderr,
              "usage: hostile_client_target --target HOST:PORT [--calls N] "
              "[--timeout-ms MS] [--method get|list|record] "
              "[--max-recv BYTES]\n");
      return 2;
    }
  }
  if (!target || calls < 1 || calls > 10000 || timeout_ms < 1 ||
      (strcmp(method, "get") && strcmp(method, "list") &&
       strcmp(method, "record"))) {
    fprintf(stderr, "hostile_client_target: bad arguments\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  /* Never outlive the test driver, even when it is killed. */
  prctl(PR_SET_PDEATHSIG, SIGKILL);

  fds_before = count_fds();
  co.max_receive_message_size = max_recv;
  co.initial_backoff_ms = 100; /* reconnect quickly between calls */
  co.max_backoff_ms = 200;
  rc = tern_channel_new(&ch, target, &co);
  if (rc != TERN_OK) {
    fprintf(stderr, "hostile_client_target: channel: %s\n",
            tern_strerror(rc));
    return 2;
  }
  for (i = 0; i < calls; i++) {
    tern_call_options o = TERN_CALL_OPTIONS_INIT;
    tern_status st = TERN_STATUS_INIT;
    tern_status_code code;
    int64_t t0 = now_ms();
    o.timeout_ms = timeout_ms;
    if (strcmp(method, "list") == 0)
      code = do_list(ch, &o, &st);
    else if (strcmp(method, "record") == 0)
      code = do_record(ch, &o, &st);
    else
      code = do_get(ch, &o, &st);
    one_line(st.message);
    printf("CALL %d %s %lld %s\n", i, tern_status_code_name(code),
           (long long)(now_ms() - t0), st.message ? st.message : "");
    fflush(stdout);
    tern_status_clear(&st);
  }
  tern_channel_free(ch);
  fds_after = count_fds();
  printf("FDS %d %d\n", fds_before, fds_after);
  printf("PEAK_RSS_KIB %ld\n", peak_rss_kib());
  return 0;
}
