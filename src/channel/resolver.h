/* The resolver interface of the channel layer: turns a parsed target into
 * socket addresses without blocking the loop. Shaped as grpc's resolver
 * API: the channel asks for a (re-)resolution when it needs one, the
 * resolver decides when to run it (rate limit) and reports on the loop.
 * Implementations: "dns" (c-ares, resolver_dns.c) for host names and
 * "static" (resolver.c) for IP literals, ipv4:/ipv6: lists and unix:
 * paths. Everything here runs on the loop's thread. */
#ifndef TERN_RESOLVER_H
#define TERN_RESOLVER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common/common_int.h"
#include "loop/loop_int.h"

typedef struct tern__resolver tern__resolver;

typedef struct tern__resolved_addr {
  struct sockaddr_storage addr;
  socklen_t len;
} tern__resolved_addr;

/* The result of one resolution: status TERN_OK with n >= 1 addresses, in
 * the order to try them; or an error (TERN_EADDR: the name does not
 * resolve or the server failed; TERN_ENOMEM; TERN_ESYS) with addrs NULL,
 * n 0 and a human-readable reason in `why`, e.g. "DNS resolution failed
 * for x.test: Domain name not found". addrs and why are borrowed for the
 * callback's duration. Runs on the loop thread, never from inside
 * tern__resolver_request; the callback may free the resolver. */
typedef void (*tern__resolver_cb)(tern__resolver *r, int status,
                                  const tern__resolved_addr *addrs, size_t n,
                                  const char *why, void *user_data);

/* Settings a channel passes down; all zeros are the defaults. */
typedef struct tern__resolver_config {
  /* dns: the least time between the starts of two resolutions, as grpc's
   * grpc.dns_min_time_between_resolutions_ms. A request earlier than that
   * is deferred until the interval has passed. 0 = 30000. */
  int64_t min_interval_ms;
} tern__resolver_config;

#define TERN__RESOLVER_DEFAULT_MIN_INTERVAL_MS 30000

/* One implementation. `request` starts or re-starts a resolution (it may
 * defer it). `cancel` stops everything so that no result is delivered any
 * more (the owner freed the resolver); `release` frees the memory, at the
 * end of the loop turn, when no event of the turn can point at it. */
typedef struct tern__resolver_vtable {
  const char *name;
  void (*request)(tern__resolver *r);
  void (*cancel)(tern__resolver *r);
  void (*release)(tern__resolver *r);
} tern__resolver_vtable;

/* The part every implementation starts with. A result is handed to the
 * channel by tern__resolver_deliver, at the end of a loop turn. */
struct tern__resolver {
  const tern__resolver_vtable *vt;
  tern__loop *loop;
  tern__resolver_cb cb;
  void *user_data;
  tern__resolver_config cfg;
  tern__task deliver_task;
  int dead; /* freed by its owner; deliver_task releases the memory */
  /* the result waiting for deliver_task */
  int has_result;
  int status;
  tern__resolved_addr *addrs;
  size_t n_addrs;
  char why[256];
};

/* Picks the implementation for target t: "static" when every address is
 * an IP literal or a unix: path (nothing to look up), "dns" otherwise. t
 * is borrowed for the resolver's life; cfg is copied and may be NULL.
 * Nothing is resolved until tern__resolver_request. TERN_OK, or
 * TERN_ENOMEM / TERN_ESYS (c-ares could not start) / TERN_EINVAL, in
 * which case the callback never runs. */
int tern__resolver_new(tern__resolver **r_out, tern__loop *loop,
                       const tern__target *t,
                       const tern__resolver_config *cfg,
                       tern__resolver_cb cb, void *user_data);

/* Asks for a resolution: the first one runs at once, later ones when the
 * implementation's rate limit allows (dns), never dropped. A request while
 * one is running or already scheduled is covered by that one. The result
 * arrives through the callback, never from inside this call. */
void tern__resolver_request(tern__resolver *r);

/* The implementation's name ("dns", "static"), for logs and tests. */
const char *tern__resolver_name(const tern__resolver *r);

/* Cancels any resolution in flight and frees r: the callback does not run
 * afterwards. Safe from inside the callback. On the loop thread while it
 * runs (memory is released at the end of the turn, as the loop wants for
 * anything an event of this turn may still point at), or from any thread
 * once the loop has stopped for good. NULL is ignored. */
void tern__resolver_free(tern__resolver *r);

/* ---- for implementations --------------------------------------------- */

/* Stores a result and schedules the callback for the end of this turn.
 * addrs (malloc'd, may be NULL when n is 0) becomes the resolver's. A
 * newer result replaces one not yet delivered. */
void tern__resolver_deliver(tern__resolver *r, int status,
                            tern__resolved_addr *addrs, size_t n,
                            const char *why);

/* The "dns" implementation (resolver_dns.c): allocates the object, which
 * starts with a tern__resolver, and sets its vt, loop and cfg; resolver.c
 * fills the rest of the base. host is looked up and the port put in every
 * address; dns_server ("ip", "ip:port", "[v6]:port"; NULL: the system's
 * servers) is used for the queries. Strings are copied. TERN_OK,
 * TERN_ENOMEM or TERN_ESYS (c-ares would not start). */
int tern__resolver_dns_new(tern__resolver **r_out, tern__loop *loop,
                           const tern__resolver_config *cfg, const char *host,
                           int port, const char *dns_server);

#endif /* TERN_RESOLVER_H */
