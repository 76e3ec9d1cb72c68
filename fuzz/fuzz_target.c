/* fuzz_target: channel target strings (tern__target_parse / free), with
 * the invariants the channel relies on. The input is the target, cut at
 * its first NUL. */
#include <stdio.h>

#include "common/common_int.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  tern__target t;
  char *s;
  int rv;
  size_t i;

  if (size > 4096)
    return 0;
  s = malloc(size + 1);
  if (!s)
    return 0;
  memcpy(s, data, size);
  s[size] = '\0';
  rv = tern__target_parse(s, &t);
  FUZZ_CHECK(rv == TERN_OK || rv == TERN_EADDR || rv == TERN_ENOMEM);
  if (rv == TERN_OK) {
    FUZZ_CHECK(t.n_addrs >= 1 && t.addrs != NULL);
    FUZZ_CHECK(t.authority != NULL && t.authority[0] != '\0');
    for (i = 0; i < t.n_addrs; i++) {
      FUZZ_CHECK(t.addrs[i].host != NULL && t.addrs[i].host[0] != '\0');
      if (t.addrs[i].kind == TERN__ADDR_UNIX)
        FUZZ_CHECK(t.addrs[i].port == 0);
      else
        FUZZ_CHECK(t.addrs[i].port >= 1 && t.addrs[i].port <= 65535);
    }
  } else {
    /* "Nothing is allocated on error." */
    FUZZ_CHECK(t.addrs == NULL && t.n_addrs == 0 && t.authority == NULL);
  }
  tern__target_free(&t);
  tern__target_free(&t); /* safe twice */
  free(s);
  return 0;
}
