/* The resolver interface (resolver.h): choosing an implementation, handing
 * results over at the end of a loop turn, and the "static" resolver for
 * targets that need no lookup (IP literals, ipv4:/ipv6: lists, unix:). */
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "channel/resolver.h"

/* ---- the base ---------------------------------------------------------- */

static void deliver_run(tern__task *task) {
  tern__resolver *r = task->data;
  tern__resolved_addr *addrs;
  size_t n;
  int status;
  char why[sizeof(r->why)];
  if (r->dead) {
    r->vt->release(r);
    return;
  }
  if (!r->has_result)
    return;
  /* Taken off r first: the callback may free r or ask again. */
  addrs = r->addrs;
  n = r->n_addrs;
  status = r->status;
  memcpy(why, r->why, sizeof(why));
  r->addrs = NULL;
  r->n_addrs = 0;
  r->has_result = 0;
  r->cb(r, status, addrs, n, status == TERN_OK ? NULL : why, r->user_data);
  tern__free(addrs);
}

void tern__resolver_deliver(tern__resolver *r, int status,
                            tern__resolved_addr *addrs, size_t n,
                            const char *why) {
  if (r->dead) {
    tern__free(addrs);
    return;
  }
  tern__free(r->addrs);
  r->addrs = addrs;
  r->n_addrs = status == TERN_OK ? n : 0;
  r->status = status;
  snprintf(r->why, sizeof(r->why), "%s", why ? why : "");
  r->has_result = 1;
  /* Never from inside request: the caller may hold state it has not
   * finished updating (and libuv's rule: no callback from the call that
   * asked for it). */
  tern__loop_defer(r->loop, &r->deliver_task);
}

void tern__resolver_request(tern__resolver *r) {
  if (r && !r->dead)
    r->vt->request(r);
}

const char *tern__resolver_name(const tern__resolver *r) {
  return r->vt->name;
}

void tern__resolver_free(tern__resolver *r) {
  if (!r)
    return;
  r->dead = 1;
  r->vt->cancel(r);
  tern__free(r->addrs);
  r->addrs = NULL;
  r->has_result = 0;
  /* An event later in this turn may still point into r (an io of the dns
   * resolver): release at the end of the turn. With the loop stopped
   * there is no turn and nothing left to point at it. */
  if (tern__loop_in_thread(r->loop))
    tern__loop_defer(r->loop, &r->deliver_task);
  else if (!r->deliver_task.queued)
    r->vt->release(r);
  /* else: a result was waiting on a loop that is not running; the task
   * releases r if the loop runs again. */
}

/* ---- the static resolver ------------------------------------------------ */

typedef struct static_resolver {
  tern__resolver base;
  const tern__target *target; /* borrowed from the owner */
} static_resolver;

/* An IP literal (with an IPv6 zone, "fe80::1%eth0") as a socket address:
 * getaddrinfo with AI_NUMERICHOST never looks anything up. 0 or -1. */
static int numeric_addr(const char *host, int port, tern__resolved_addr *out) {
  struct addrinfo hints, *res = NULL;
  char service[16];
  memset(&hints, 0, sizeof(hints));
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
  snprintf(service, sizeof(service), "%d", port);
  if (getaddrinfo(host, service, &hints, &res) != 0 || !res)
    return -1;
  if (res->ai_addrlen > sizeof(out->addr)) {
    freeaddrinfo(res);
    return -1;
  }
  memset(out, 0, sizeof(*out));
  memcpy(&out->addr, res->ai_addr, res->ai_addrlen);
  out->len = res->ai_addrlen;
  freeaddrinfo(res);
  return 0;
}

static void static_request(tern__resolver *base) {
  static_resolver *r = (static_resolver *)base;
  const tern__target *t = r->target;
  tern__resolved_addr *addrs;
  size_t i, n = 0;
  char why[256];
  addrs = tern__calloc(t->n_addrs ? t->n_addrs : 1, sizeof(*addrs));
  if (!addrs) {
    tern__resolver_deliver(base, TERN_ENOMEM, NULL, 0, "out of memory");
    return;
  }
  why[0] = '\0';
  for (i = 0; i < t->n_addrs; i++) {
    const tern__addr *a = &t->addrs[i];
    if (a->kind == TERN__ADDR_UNIX) {
      struct sockaddr_un *un = (struct sockaddr_un *)&addrs[n].addr;
      un->sun_family = AF_UNIX;
      /* target.c checked that the path fits. */
      snprintf(un->sun_path, sizeof(un->sun_path), "%s", a->host);
      addrs[n++].len = sizeof(*un);
    } else if (numeric_addr(a->host, a->port, &addrs[n]) == 0) {
      n++;
    } else {
      snprintf(why, sizeof(why), "not an IP address: %s", a->host);
    }
  }
  if (n == 0) {
    tern__free(addrs);
    tern__resolver_deliver(base, TERN_EADDR, NULL, 0,
                           why[0] ? why : "no addresses");
    return;
  }
  tern__resolver_deliver(base, TERN_OK, addrs, n, NULL);
}

static void static_cancel(tern__resolver *base) {
  (void)base; /* nothing runs between turns */
}

static void static_release(tern__resolver *base) {
  tern__free(base);
}

static const tern__resolver_vtable static_vtable = {
    "static", static_request, static_cancel, static_release};

/* ---- choosing ------------------------------------------------------------ */

static int needs_lookup(const tern__addr *a) {
  tern__resolved_addr tmp;
  return a->kind == TERN__ADDR_HOST && numeric_addr(a->host, a->port, &tmp);
}

int tern__resolver_new(tern__resolver **r_out, tern__loop *loop,
                       const tern__target *t,
                       const tern__resolver_config *cfg,
                       tern__resolver_cb cb, void *user_data) {
  tern__resolver *r = NULL;
  tern__resolver_config c;
  size_t i;
  int lookup = 0, rv;
  if (!r_out || !loop || !t || !cb || t->n_addrs == 0)
    return TERN_EINVAL;
  memset(&c, 0, sizeof(c));
  if (cfg)
    c = *cfg;
  if (c.min_interval_ms <= 0)
    c.min_interval_ms = TERN__RESOLVER_DEFAULT_MIN_INTERVAL_MS;
  for (i = 0; i < t->n_addrs; i++)
    lookup |= needs_lookup(&t->addrs[i]);
  if (lookup) {
    /* target.c allows a name only as the one address of a target. */
    if (t->n_addrs != 1)
      return TERN_EINVAL;
    rv = tern__resolver_dns_new(&r, loop, &c, t->addrs[0].host,
                                t->addrs[0].port, t->dns_server);
    if (rv != TERN_OK)
      return rv;
  } else {
    static_resolver *s = tern__calloc(1, sizeof(*s));
    if (!s)
      return TERN_ENOMEM;
    s->target = t;
    r = &s->base;
    r->vt = &static_vtable;
    r->loop = loop;
    r->cfg = c;
  }
  r->cb = cb;
  r->user_data = user_data;
  tern__task_init(&r->deliver_task, deliver_run, r);
  *r_out = r;
  return TERN_OK;
}
