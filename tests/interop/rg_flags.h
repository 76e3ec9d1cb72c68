/* Command-line flags of the interop programs (rg_test_server,
 * rg_interop_client), in both of the forms grpc's interop binaries and
 * ours are called with: `--name=value` and `--name value`. Boolean flags
 * also take a bare `--name` (true). Header-only: each program includes it
 * once. */
#ifndef TERN_TESTS_INTEROP_RG_FLAGS_H
#define TERN_TESTS_INTEROP_RG_FLAGS_H

#include <string.h>

/* argv[*i] is `--name=V` or `--name V`: returns V (advancing *i past it
 * in the second form). NULL when it is another flag; *missing is set when
 * it is this one without a value. */
static const char *rg_flag_value(int argc, char **argv, int *i,
                                 const char *name, int *missing) {
  const char *a = argv[*i];
  size_t n = strlen(name);
  if (strncmp(a, name, n) != 0)
    return NULL;
  if (a[n] == '=')
    return a + n + 1;
  if (a[n] != '\0')
    return NULL;
  if (*i + 1 >= argc) {
    *missing = 1;
    return NULL;
  }
  return argv[++*i];
}

/* A boolean: `--name`, `--name=true|false`, `--name true|false`. Returns
 * 1 when argv[*i] is this flag (value in *out), 0 when it is another one,
 * -1 when the value is neither true nor false. */
static int rg_flag_bool(int argc, char **argv, int *i, const char *name,
                        int *out) {
  const char *a = argv[*i], *v;
  size_t n = strlen(name);
  if (strncmp(a, name, n) != 0)
    return 0;
  if (a[n] == '=') {
    v = a + n + 1;
  } else if (a[n] == '\0') {
    if (*i + 1 < argc && (strcmp(argv[*i + 1], "true") == 0 ||
                          strcmp(argv[*i + 1], "false") == 0)) {
      v = argv[++*i];
    } else {
      *out = 1;
      return 1;
    }
  } else {
    return 0;
  }
  if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0) {
    *out = 1;
    return 1;
  }
  if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0) {
    *out = 0;
    return 1;
  }
  return -1;
}

#endif
