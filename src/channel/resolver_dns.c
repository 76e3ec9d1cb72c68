/* The "dns" resolver: c-ares driven by the tern loop. c-ares tells which
 * sockets to watch (ARES_OPT_SOCK_STATE_CB), the loop watches them and a
 * timer follows ares_timeout for retransmits; ares_process_fd does the
 * rest. No thread and no blocking call. Re-resolution requests are rate
 * limited as grpc's c-ares resolver does (min time between resolutions). */
#include <arpa/inet.h>
#include <ares.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channel/resolver.h"

/* A socket c-ares asked us to watch. Watches are kept until the resolver
 * is released and reused for later sockets: freeing one while an event of
 * the current epoll batch may still point at it is not allowed (loop.c). */
typedef struct sock_watch {
  tern__io io;
  struct dns_resolver *r;
  int live; /* c-ares has the socket open and wants events */
  struct sock_watch *next;
} sock_watch;

typedef struct dns_resolver {
  tern__resolver base;
  char *host;
  int port;
  ares_channel ares;
  sock_watch *watches;
  tern__timer ares_timer;  /* c-ares' retransmits and query timeouts */
  tern__timer retry_timer; /* a request held back by the rate limit */
  int in_flight;           /* an ares_getaddrinfo has not called back */
  int started_once;
  int64_t last_start_ns;
} dns_resolver;

/* ---- c-ares, once per process --------------------------------------------- */

static pthread_once_t ares_once = PTHREAD_ONCE_INIT;
static int ares_init_status = ARES_SUCCESS;

static void ares_init_once(void) {
  ares_init_status = ares_library_init(ARES_LIB_INIT_ALL);
}

/* ---- driving c-ares from the loop ------------------------------------------ */

/* Follows c-ares' next timeout: without it a lost UDP answer would never be
 * retransmitted and a query never time out. */
static void update_timer(dns_resolver *r) {
  struct timeval tv, *next = ares_timeout(r->ares, NULL, &tv);
  if (!next) {
    tern__timer_stop(r->base.loop, &r->ares_timer);
    return;
  }
  if (tern__timer_start(r->base.loop, &r->ares_timer,
                        tern__now_ns() + (int64_t)next->tv_sec * 1000000000 +
                            (int64_t)next->tv_usec * 1000) != TERN_OK)
    TERN__WARN("dns: no timer for c-ares' timeouts; a lost answer may stall");
}

static void watch_cb(tern__io *io, unsigned events) {
  sock_watch *w = io->data;
  dns_resolver *r = w->r;
  if (!w->live)
    return; /* stopped earlier in this epoll batch */
  ares_process_fd(r->ares, (events & TERN__IO_READ) ? io->fd : ARES_SOCKET_BAD,
                  (events & TERN__IO_WRITE) ? io->fd : ARES_SOCKET_BAD);
  update_timer(r);
}

static void ares_timer_cb(tern__timer *t) {
  dns_resolver *r = t->data;
  ares_process_fd(r->ares, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
  update_timer(r);
}

static void sock_state_cb(void *data, ares_socket_t fd, int readable,
                          int writable) {
  dns_resolver *r = data;
  sock_watch *w, *spare = NULL;
  unsigned events = (readable ? TERN__IO_READ : 0) |
                    (writable ? TERN__IO_WRITE : 0);
  for (w = r->watches; w; w = w->next) {
    if (w->live && w->io.fd == fd)
      break;
    if (!w->live && !spare)
      spare = w;
  }
  if (!events) {
    /* c-ares closes the socket right after this. */
    if (w) {
      tern__io_stop(r->base.loop, &w->io);
      w->live = 0;
    }
    return;
  }
  if (!w) {
    w = spare;
    if (!w) {
      w = tern__calloc(1, sizeof(*w));
      if (!w) {
        /* Unwatched, the query ends by c-ares' timeout: an error, no
         * hang. */
        TERN__WARN("dns: out of memory watching a socket");
        return;
      }
      w->r = r;
      w->next = r->watches;
      r->watches = w;
    }
    tern__io_init(&w->io, fd, watch_cb, w);
    w->live = 1;
  }
  if (tern__io_set(r->base.loop, &w->io, events) != TERN_OK)
    TERN__WARN("dns: cannot watch socket %d", (int)fd);
}

/* ---- resolving --------------------------------------------------------------- */

static int copy_nodes(dns_resolver *r, const struct ares_addrinfo *res,
                      tern__resolved_addr **out, size_t *n_out) {
  const struct ares_addrinfo_node *nd;
  tern__resolved_addr *addrs;
  size_t n = 0;
  for (nd = res ? res->nodes : NULL; nd; nd = nd->ai_next)
    n++;
  if (n == 0)
    return TERN_EADDR;
  addrs = tern__calloc(n, sizeof(*addrs));
  if (!addrs)
    return TERN_ENOMEM;
  n = 0;
  /* The order c-ares gives: it sorts by RFC 6724 (ares__sortaddrinfo). */
  for (nd = res->nodes; nd; nd = nd->ai_next) {
    tern__resolved_addr *a = &addrs[n];
    if (nd->ai_family == AF_INET &&
        nd->ai_addrlen >= sizeof(struct sockaddr_in)) {
      struct sockaddr_in *sin = (struct sockaddr_in *)&a->addr;
      memcpy(sin, nd->ai_addr, sizeof(*sin));
      sin->sin_port = htons((uint16_t)r->port);
      a->len = sizeof(*sin);
      n++;
    } else if (nd->ai_family == AF_INET6 &&
               nd->ai_addrlen >= sizeof(struct sockaddr_in6)) {
      struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a->addr;
      memcpy(sin6, nd->ai_addr, sizeof(*sin6));
      sin6->sin6_port = htons((uint16_t)r->port);
      a->len = sizeof(*sin6);
      n++;
    }
  }
  if (n == 0) {
    tern__free(addrs);
    return TERN_EADDR;
  }
  *out = addrs;
  *n_out = n;
  return TERN_OK;
}

static void on_addrinfo(void *arg, int status, int timeouts,
                        struct ares_addrinfo *res) {
  dns_resolver *r = arg;
  tern__resolved_addr *addrs = NULL;
  size_t n = 0;
  char why[256];
  int rv;
  (void)timeouts;
  r->in_flight = 0;
  /* ARES_EDESTRUCTION: the owner freed the resolver (cancel). */
  if (r->base.dead || status == ARES_EDESTRUCTION) {
    if (res)
      ares_freeaddrinfo(res);
    return;
  }
  if (status == ARES_SUCCESS) {
    rv = copy_nodes(r, res, &addrs, &n);
    if (rv == TERN_OK)
      why[0] = '\0';
    else if (rv == TERN_ENOMEM)
      snprintf(why, sizeof(why), "DNS resolution failed for %s: %s",
               r->host, "out of memory");
    else
      snprintf(why, sizeof(why), "DNS resolution failed for %s: %s",
               r->host, "no addresses");
  } else {
    /* ares_strerror tells NXDOMAIN ("Domain name not found") from
     * SERVFAIL ("DNS server returned general failure") and timeouts. */
    rv = status == ARES_ENOMEM ? TERN_ENOMEM : TERN_EADDR;
    snprintf(why, sizeof(why), "DNS resolution failed for %s: %s", r->host,
             ares_strerror(status));
  }
  if (res)
    ares_freeaddrinfo(res);
  if (rv != TERN_OK)
    TERN__DEBUG("%s", why);
  tern__resolver_deliver(&r->base, rv, addrs, n, why);
}

static void start(dns_resolver *r) {
  struct ares_addrinfo_hints hints;
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC; /* A and AAAA */
  hints.ai_socktype = SOCK_STREAM;
  r->in_flight = 1;
  r->started_once = 1;
  r->last_start_ns = tern__now_ns();
  /* The port is put in by copy_nodes: no service lookup. This may call
   * on_addrinfo at once (/etc/hosts, a literal): that only stores. */
  ares_getaddrinfo(r->ares, r->host, NULL, &hints, on_addrinfo, r);
  update_timer(r);
}

static void retry_timer_cb(tern__timer *t) {
  dns_resolver *r = t->data;
  if (!r->in_flight)
    start(r);
}

static void dns_request(tern__resolver *base) {
  dns_resolver *r = (dns_resolver *)base;
  int64_t min_ns = base->cfg.min_interval_ms * 1000000, when;
  /* A request while one runs or waits is answered by that one. */
  if (r->in_flight || tern__timer_armed(&r->retry_timer))
    return;
  when = r->last_start_ns + min_ns;
  if (r->started_once && tern__now_ns() < when) {
    /* Deferred, not dropped: the channel may wait on it. */
    if (tern__timer_start(base->loop, &r->retry_timer, when) == TERN_OK)
      return;
    /* No timer: better too early than never. */
  }
  start(r);
}

static void dns_cancel(tern__resolver *base) {
  dns_resolver *r = (dns_resolver *)base;
  tern__timer_stop(base->loop, &r->retry_timer);
  tern__timer_stop(base->loop, &r->ares_timer);
  if (r->ares) {
    /* Calls on_addrinfo with ARES_EDESTRUCTION (ignored: dead) and
     * sock_state_cb for each socket (unwatched) before closing it. */
    ares_destroy(r->ares);
    r->ares = NULL;
  }
}

static void dns_release(tern__resolver *base) {
  dns_resolver *r = (dns_resolver *)base;
  sock_watch *w, *next;
  for (w = r->watches; w; w = next) {
    next = w->next;
    tern__free(w);
  }
  tern__free(r->host);
  tern__free(r);
}

static const tern__resolver_vtable dns_vtable = {"dns", dns_request,
                                                 dns_cancel, dns_release};

/* A c-ares channel reporting its sockets to sock_state_cb, asking
 * dns_server when given. An ARES_ code. */
static int init_ares(dns_resolver *r, const char *dns_server, int flags) {
  struct ares_options opts;
  int rc;
  memset(&opts, 0, sizeof(opts));
  opts.sock_state_cb = sock_state_cb;
  opts.sock_state_cb_data = r;
  opts.flags = flags;
  /* Reads resolv.conf, nsswitch.conf and the like: local files, as
   * getaddrinfo does, no network. /etc/hosts is read first by default
   * ("files" before "dns"), so "localhost" needs no server. */
  rc = ares_init_options(&r->ares, &opts,
                         ARES_OPT_SOCK_STATE_CB | ARES_OPT_FLAGS);
  if (rc != ARES_SUCCESS) {
    r->ares = NULL;
    return rc;
  }
  if (dns_server) {
    rc = ares_set_servers_ports_csv(r->ares, dns_server);
    if (rc != ARES_SUCCESS) {
      ares_destroy(r->ares);
      r->ares = NULL;
      return rc == ARES_ENOMEM ? rc : ARES_EBADSTR;
    }
  }
  return ARES_SUCCESS;
}

static int server_count(ares_channel ch) {
  struct ares_addr_port_node *list = NULL, *s;
  int n = 0;
  if (ares_get_servers_ports(ch, &list) != ARES_SUCCESS)
    return -1;
  for (s = list; s; s = s->next)
    n++;
  ares_free_data(list);
  return n;
}

int tern__resolver_dns_new(tern__resolver **r_out, tern__loop *loop,
                           const tern__resolver_config *cfg, const char *host,
                           int port, const char *dns_server) {
  dns_resolver *r;
  int rc;
  pthread_once(&ares_once, ares_init_once);
  if (ares_init_status != ARES_SUCCESS)
    return ares_init_status == ARES_ENOMEM ? TERN_ENOMEM : TERN_ESYS;
  r = tern__calloc(1, sizeof(*r));
  if (!r)
    return TERN_ENOMEM;
  r->host = tern__strdup(host);
  if (!r->host) {
    tern__free(r);
    return TERN_ENOMEM;
  }
  r->port = port;
  r->base.vt = &dns_vtable;
  r->base.loop = loop;
  r->base.cfg = *cfg;
  tern__timer_init(&r->ares_timer, ares_timer_cb, r);
  tern__timer_init(&r->retry_timer, retry_timer_cb, r);
  rc = init_ares(r, dns_server, 0);
  /* c-ares 1.18 retries a SERVFAIL or REFUSED answer at the other servers
   * and, when none is left, reports "Could not contact DNS servers", as
   * for a server that is down. With a single server there is nothing to
   * fail over to: take its answer as it is, so that the reason says what
   * the server said ("DNS server returned general failure"). */
  if (rc == ARES_SUCCESS && server_count(r->ares) == 1) {
    ares_destroy(r->ares);
    r->ares = NULL;
    rc = init_ares(r, dns_server, ARES_FLAG_NOCHECKRESP);
  }
  if (rc != ARES_SUCCESS) {
    tern__free(r->host);
    tern__free(r);
    return rc == ARES_ENOMEM ? TERN_ENOMEM
                             : rc == ARES_EBADSTR ? TERN_EADDR : TERN_ESYS;
  }
  *r_out = &r->base;
  return TERN_OK;
}
