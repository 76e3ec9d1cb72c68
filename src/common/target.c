/* Channel target strings ("host:port", "dns:///h:p", "ipv4:a:p,b:p",
 * "ipv6:[a]:p", "unix:/path") parsed into addresses, as grpc's
 * doc/naming.md describes them; and the one host:port splitter, which
 * listening addresses and a channel's TLS host name use too. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>

#include "common/common_int.h"

#define DEFAULT_PORT 443 /* grpc's default for a target without a port */
#define MAX_HOST_LEN 255

enum family { FAM_ANY, FAM_IPV4, FAM_IPV6 };

static int starts_with_ci(const char *s, const char *prefix) {
  return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

static char *dup_range(const char *s, size_t len) {
  char *p = tern__malloc(len + 1);
  if (!p)
    return NULL;
  memcpy(p, s, len);
  p[len] = '\0';
  return p;
}

/* Ports are plain decimal: no sign, no spaces. */
static int parse_port(const char *s, size_t len, long min, int *port) {
  size_t i;
  long v = 0;
  if (len == 0 || len > 5)
    return TERN_EADDR;
  for (i = 0; i < len; i++) {
    if (s[i] < '0' || s[i] > '9')
      return TERN_EADDR;
    v = v * 10 + (s[i] - '0');
  }
  if (v < min || v > 65535)
    return TERN_EADDR;
  *port = (int)v;
  return TERN_OK;
}

int tern__hostport_split(const char *s, size_t len, unsigned flags,
                         tern__hostport *out) {
  const char *port_s = NULL;
  size_t port_len = 0, i;

  out->host = s;
  out->host_len = 0;
  out->port = -1;
  out->bracketed = 0;
  if (!s || len == 0)
    return TERN_EADDR;
  if (s[0] == '[') {
    const char *close = memchr(s, ']', len);
    if (!close)
      return TERN_EADDR;
    out->bracketed = 1;
    out->host = s + 1;
    out->host_len = (size_t)(close - out->host);
    i = (size_t)(close - s) + 1;
    if (i < len) {
      if (s[i] != ':')
        return TERN_EADDR;
      port_s = s + i + 1;
      port_len = len - i - 1;
    }
  } else {
    const char *last = NULL;
    size_t colons = 0;
    for (i = 0; i < len; i++) {
      if (s[i] == ':') {
        colons++;
        last = s + i;
      }
    }
    out->host_len = len;
    if (colons == 1 || (colons > 1 && (flags & TERN__HOSTPORT_NEED_PORT))) {
      out->host_len = (size_t)(last - s);
      port_s = last + 1;
      port_len = len - out->host_len - 1;
    }
  }
  if (out->host_len > MAX_HOST_LEN || memchr(out->host, '\0', out->host_len))
    return TERN_EADDR;
  if (port_s)
    return parse_port(port_s, port_len,
                      (flags & TERN__HOSTPORT_PORT_ZERO) ? 0 : 1, &out->port);
  return (flags & TERN__HOSTPORT_NEED_PORT) ? TERN_EADDR : TERN_OK;
}

static int ipv4_literal(const char *host) {
  struct in_addr a;
  return inet_pton(AF_INET, host, &a) == 1;
}

/* An IPv6 literal, optionally with a zone ("fe80::1%eth0"), which
 * getaddrinfo() understands. */
static int ipv6_literal(const char *host) {
  struct in6_addr a;
  const char *zone = strchr(host, '%');
  char buf[INET6_ADDRSTRLEN];
  size_t i, n;

  if (!zone)
    return inet_pton(AF_INET6, host, &a) == 1;
  n = (size_t)(zone - host);
  if (n >= sizeof(buf) || zone[1] == '\0')
    return 0;
  for (i = 1; zone[i]; i++) {
    char c = zone[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
          (c >= 'A' && c <= 'Z') || c == '_' || c == '-' || c == '.'))
      return 0;
  }
  memcpy(buf, host, n);
  buf[n] = '\0';
  return inet_pton(AF_INET6, buf, &a) == 1;
}

/* Host names as DNS has them, plus '_' which some private names use. */
static int host_name_valid(const char *host) {
  size_t i, n = strlen(host);
  if (n == 0 || n > MAX_HOST_LEN)
    return 0;
  for (i = 0; i < n; i++) {
    char c = host[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
          (c >= 'A' && c <= 'Z') || c == '-' || c == '.' || c == '_'))
      return 0;
  }
  return 1;
}

/* Parses "host", "host:port", "[v6]" or "[v6]:port" (and a bare IPv6
 * literal, which cannot carry a port). *port_given tells whether a port
 * was written. On success *host_out is malloc'd. */
static int parse_host_port(const char *s, size_t len, enum family fam,
                           char **host_out, int *port, int *port_given) {
  tern__hostport hp;
  int bracketed, rv;
  char *h;

  rv = tern__hostport_split(s, len, 0, &hp);
  if (rv != TERN_OK)
    return rv;
  if (hp.host_len == 0)
    return TERN_EADDR;
  *port_given = hp.port >= 0;
  *port = hp.port >= 0 ? hp.port : DEFAULT_PORT;
  bracketed = hp.bracketed;

  h = dup_range(hp.host, hp.host_len);
  if (!h)
    return TERN_ENOMEM;
  /* Unbracketed, a colon is left in the host only by a bare IPv6 literal. */
  if (bracketed || memchr(h, ':', hp.host_len))
    rv = ipv6_literal(h) && fam != FAM_IPV4 ? TERN_OK : TERN_EADDR;
  else if (fam == FAM_IPV6)
    rv = TERN_EADDR; /* "ipv6:" wants brackets around every address */
  else if (fam == FAM_IPV4)
    rv = ipv4_literal(h) ? TERN_OK : TERN_EADDR;
  else
    rv = host_name_valid(h) ? TERN_OK : TERN_EADDR;
  if (rv == TERN_OK && fam == FAM_IPV6 && !bracketed)
    rv = TERN_EADDR;
  if (rv != TERN_OK) {
    tern__free(h);
    return rv;
  }
  *host_out = h;
  return TERN_OK;
}

/* "host", "host:port", "[v6]:port": a port only when one was written, so
 * that "example.com" is sent as it was given (as grpc does). */
static char *make_authority(const char *host, int port, int port_given) {
  size_t n = strlen(host) + 2 + 1 + 5 + 1;
  char *a = tern__malloc(n);
  int v6 = strchr(host, ':') != NULL;
  if (!a)
    return NULL;
  if (port_given)
    snprintf(a, n, v6 ? "[%s]:%d" : "%s:%d", host, port);
  else
    snprintf(a, n, v6 ? "[%s]" : "%s", host);
  return a;
}

static void free_addrs(tern__addr *addrs, size_t n) {
  size_t i;
  for (i = 0; i < n; i++)
    tern__free(addrs[i].host);
  tern__free(addrs);
}

/* One or more comma-separated addresses ("ipv4:" and "ipv6:" lists, or a
 * single dns name). */
static int parse_list(const char *s, enum family fam, int single,
                      tern__target *out) {
  size_t n = 1, i, len = strlen(s), start = 0;
  tern__addr *addrs;
  int rv = TERN_OK, port_given = 0, first_port_given = 0;

  if (!single) {
    for (i = 0; i < len; i++)
      n += s[i] == ',';
  }
  addrs = tern__calloc(n, sizeof(*addrs));
  if (!addrs)
    return TERN_ENOMEM;
  for (i = 0; i < n; i++) {
    const char *comma = single ? NULL : strchr(s + start, ',');
    size_t end = comma ? (size_t)(comma - s) : len;
    addrs[i].kind = TERN__ADDR_HOST;
    rv = parse_host_port(s + start, end - start, fam, &addrs[i].host,
                         &addrs[i].port, &port_given);
    if (rv != TERN_OK)
      break;
    /* Lists name IP literals: a port is required, as in grpc. */
    if (fam != FAM_ANY && !port_given) {
      rv = TERN_EADDR;
      break;
    }
    if (i == 0)
      first_port_given = port_given;
    start = end + 1;
  }
  if (rv == TERN_OK) {
    out->authority =
        make_authority(addrs[0].host, addrs[0].port, first_port_given);
    if (!out->authority)
      rv = TERN_ENOMEM;
  }
  if (rv != TERN_OK) {
    free_addrs(addrs, n);
    return rv;
  }
  out->addrs = addrs;
  out->n_addrs = n;
  return TERN_OK;
}

/* The authority of "dns://server/name": an IP literal with an optional
 * port, as grpc accepts it (a server named by a host name would need a
 * lookup to find the server that does lookups). On success *out is
 * malloc'd as "ip:port", "[v6]:port", "ip" or "[v6]", which is the syntax
 * of ares_set_servers_ports_csv. */
static int parse_dns_server(const char *s, size_t len, char **out) {
  char *host = NULL, *p;
  int port = 0, port_given = 0, rv, v6;
  size_t n;

  rv = parse_host_port(s, len, FAM_ANY, &host, &port, &port_given);
  if (rv != TERN_OK)
    return rv;
  v6 = strchr(host, ':') != NULL;
  if (!(v6 ? ipv6_literal(host) && !strchr(host, '%') : ipv4_literal(host))) {
    tern__free(host);
    return TERN_EADDR;
  }
  n = strlen(host) + 2 + 1 + 5 + 1;
  p = tern__malloc(n);
  if (!p) {
    tern__free(host);
    return TERN_ENOMEM;
  }
  if (port_given)
    snprintf(p, n, v6 ? "[%s]:%d" : "%s:%d", host, port);
  else
    snprintf(p, n, v6 ? "[%s]" : "%s", host);
  tern__free(host);
  *out = p;
  return TERN_OK;
}

static int parse_unix(const char *path, tern__target *out) {
  struct sockaddr_un sun;
  tern__addr *a;

  /* "unix:///abs" is a URI with an empty authority; any other authority
   * ("unix://host/p") has no meaning here. */
  if (path[0] == '/' && path[1] == '/') {
    if (path[2] != '/')
      return TERN_EADDR;
    path += 2;
  }
  if (path[0] == '\0' || strlen(path) >= sizeof(sun.sun_path))
    return TERN_EADDR;
  a = tern__calloc(1, sizeof(*a));
  if (!a)
    return TERN_ENOMEM;
  a->kind = TERN__ADDR_UNIX;
  a->port = 0;
  a->host = dup_range(path, strlen(path));
  out->authority = dup_range("localhost", 9);
  if (!a->host || !out->authority) {
    tern__free(a->host);
    tern__free(a);
    tern__free(out->authority);
    out->authority = NULL;
    return TERN_ENOMEM;
  }
  out->addrs = a;
  out->n_addrs = 1;
  return TERN_OK;
}

int tern__target_parse(const char *target, tern__target *out) {
  const char *rest;
  int rv;

  if (!out)
    return TERN_EINVAL;
  memset(out, 0, sizeof(*out));
  if (!target)
    return TERN_EINVAL;

  if (starts_with_ci(target, "unix:"))
    return parse_unix(target + 5, out);
  if (starts_with_ci(target, "ipv4:"))
    return parse_list(target + 5, FAM_IPV4, 0, out);
  if (starts_with_ci(target, "ipv6:"))
    return parse_list(target + 5, FAM_IPV6, 0, out);
  if (starts_with_ci(target, "dns:")) {
    char *server = NULL;
    rest = target + 4;
    if (rest[0] == '/' && rest[1] == '/') {
      /* "dns://server/host:port": the name is looked up at that server. */
      const char *auth = rest + 2;
      rest = strchr(auth, '/');
      if (!rest)
        return TERN_EADDR;
      if (rest > auth) {
        rv = parse_dns_server(auth, (size_t)(rest - auth), &server);
        if (rv != TERN_OK)
          return rv;
      }
      rest++;
    }
    rv = parse_list(rest, FAM_ANY, 1, out);
    if (rv != TERN_OK) {
      tern__free(server);
      return rv;
    }
    out->dns_server = server;
    return TERN_OK;
  }
  /* Other schemes grpc knows but tern does not. A plain "host:port" never
   * holds "//", so any other "scheme://" is refused here too. */
  if (starts_with_ci(target, "unix-abstract:") ||
      starts_with_ci(target, "vsock:") || strstr(target, "://"))
    return TERN_EADDR;
  return parse_list(target, FAM_ANY, 1, out);
}

void tern__target_free(tern__target *t) {
  if (!t)
    return;
  free_addrs(t->addrs, t->n_addrs);
  tern__free(t->authority);
  tern__free(t->dns_server);
  t->addrs = NULL;
  t->n_addrs = 0;
  t->authority = NULL;
  t->dns_server = NULL;
}
