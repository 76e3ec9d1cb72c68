/* Unit tests for channel target parsing (src/common/target.c): every form
 * in common_int.h's comment, defaults, and malformed targets; and the
 * host:port splitter shared with listening addresses and TLS host names. */
#include <stdlib.h>

#include "common/common_int.h"
#include "test.h"

struct want_addr {
  tern__addr_kind kind;
  const char *host;
  int port;
};

static void check_target(const char *target, const char *authority, size_t n,
                         const struct want_addr *want) {
  tern__target t;
  size_t i;
  SAY("\"%s\" -> %zu address(es), authority \"%s\"", target, n, authority);
  CHECK_EQ_INT(tern__target_parse(target, &t), TERN_OK);
  CHECK_EQ_INT(t.n_addrs, n);
  CHECK_EQ_STR(t.authority, authority);
  for (i = 0; i < n && i < t.n_addrs; i++) {
    CHECK_EQ_INT(t.addrs[i].kind, want[i].kind);
    CHECK_EQ_STR(t.addrs[i].host, want[i].host);
    CHECK_EQ_INT(t.addrs[i].port, want[i].port);
  }
  tern__target_free(&t);
}

#define HOST(h, p)                                                             \
  { TERN__ADDR_HOST, h, p }
#define ONE(target, authority, a)                                              \
  do {                                                                         \
    const struct want_addr w_[1] = {a};                                        \
    check_target(target, authority, 1, w_);                                    \
  } while (0)

static void test_target_host_port_forms(void) {
  ONE("localhost:50051", "localhost:50051", HOST("localhost", 50051));
  ONE("127.0.0.1:80", "127.0.0.1:80", HOST("127.0.0.1", 80));
  ONE("my-host.example_1.com:1", "my-host.example_1.com:1",
      HOST("my-host.example_1.com", 1));
  ONE("h:65535", "h:65535", HOST("h", 65535));
}

static void test_target_without_port_defaults_to_443(void) {
  SAY("no port: 443 (grpc's default), authority without a port");
  ONE("example.com", "example.com", HOST("example.com", 443));
  ONE("dns:///example.com", "example.com", HOST("example.com", 443));
  ONE("[::1]", "[::1]", HOST("::1", 443));
  SAY("a bare IPv6 literal cannot carry a port: 443");
  ONE("::1", "[::1]", HOST("::1", 443));
  ONE("2001:db8::7", "[2001:db8::7]", HOST("2001:db8::7", 443));
}

static void test_target_ipv6_brackets(void) {
  ONE("[::1]:50051", "[::1]:50051", HOST("::1", 50051));
  ONE("[2001:db8::1]:443", "[2001:db8::1]:443", HOST("2001:db8::1", 443));
  ONE("[::ffff:127.0.0.1]:8", "[::ffff:127.0.0.1]:8",
      HOST("::ffff:127.0.0.1", 8));
  SAY("a zone is kept for getaddrinfo()");
  ONE("[fe80::1%eth0]:9", "[fe80::1%eth0]:9", HOST("fe80::1%eth0", 9));
}

static void test_target_dns_forms(void) {
  ONE("dns:localhost:50051", "localhost:50051", HOST("localhost", 50051));
  ONE("dns:///localhost:50051", "localhost:50051", HOST("localhost", 50051));
  SAY("the DNS server part of dns://server/ does not change the name");
  ONE("dns://8.8.8.8/example.com:443", "example.com:443",
      HOST("example.com", 443));
  ONE("dns://8.8.8.8:53/example.com", "example.com", HOST("example.com", 443));
  ONE("dns:///[::1]:5", "[::1]:5", HOST("::1", 5));
  SAY("schemes are case-insensitive");
  ONE("DNS:///h:1", "h:1", HOST("h", 1));
}

static void check_dns_server(const char *target, const char *server) {
  tern__target t;
  SAY("\"%s\" asks DNS server %s", target, server ? server : "(system's)");
  CHECK_EQ_INT(tern__target_parse(target, &t), TERN_OK);
  CHECK_EQ_STR(t.dns_server, server);
  tern__target_free(&t);
  CHECK(t.dns_server == NULL);
}

static void test_target_dns_authority_is_kept(void) {
  check_dns_server("dns://127.0.0.1:5353/x.test:80", "127.0.0.1:5353");
  check_dns_server("dns://8.8.8.8/example.com:443", "8.8.8.8");
  check_dns_server("dns://[::1]:53/h:1", "[::1]:53");
  check_dns_server("dns://[2001:db8::1]/h:1", "[2001:db8::1]");
  check_dns_server("dns://::1/h:1", "[::1]");
  SAY("no authority, or no dns: scheme: the system's servers");
  check_dns_server("dns:///h:1", NULL);
  check_dns_server("dns:h:1", NULL);
  check_dns_server("h:1", NULL);
  check_dns_server("ipv4:1.2.3.4:5", NULL);
  check_dns_server("unix:/tmp/s", NULL);
}

static void test_target_dns_authority_must_be_an_ip(void) {
  const char *bad[] = {
      "dns://ns.example.com/h:1", /* a server by name needs a lookup */
      "dns://localhost:53/h:1",
      "dns://1.2.3.4:0/h:1",
      "dns://1.2.3.4:65536/h:1",
      "dns://1.2.3.4:/h:1",
      "dns://1.2.3/h:1",
      "dns://[1.2.3.4]:53/h:1",
      "dns://[::1/h:1",
      "dns://[fe80::1%eth0]:53/h:1",
      "dns://a b/h:1",
      "dns://127.0.0.1:53/",
      "dns://127.0.0.1:53/a:1,b:2",
  };
  size_t i;
  for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    tern__target t;
    SAY("\"%s\" is TERN_EADDR", bad[i]);
    CHECK_EQ_INT(tern__target_parse(bad[i], &t), TERN_EADDR);
    CHECK(t.addrs == NULL && t.authority == NULL && t.dns_server == NULL);
  }
}

static void test_target_ipv4_list(void) {
  const struct want_addr two[2] = {HOST("1.2.3.4", 50051),
                                   HOST("5.6.7.8", 50052)};
  const struct want_addr three[3] = {HOST("127.0.0.1", 1), HOST("127.0.0.2", 2),
                                     HOST("127.0.0.3", 3)};
  check_target("ipv4:1.2.3.4:50051,5.6.7.8:50052", "1.2.3.4:50051", 2, two);
  check_target("ipv4:127.0.0.1:1,127.0.0.2:2,127.0.0.3:3", "127.0.0.1:1", 3,
               three);
  ONE("ipv4:127.0.0.1:1", "127.0.0.1:1", HOST("127.0.0.1", 1));
}

static void test_target_ipv6_list(void) {
  const struct want_addr two[2] = {HOST("::1", 50051), HOST("::2", 1)};
  check_target("ipv6:[::1]:50051,[::2]:1", "[::1]:50051", 2, two);
  ONE("ipv6:[2001:db8::1]:80", "[2001:db8::1]:80", HOST("2001:db8::1", 80));
}

static void test_target_unix_forms(void) {
  const struct want_addr rel = {TERN__ADDR_UNIX, "relative/sock", 0};
  const struct want_addr abs = {TERN__ADDR_UNIX, "/tmp/tern.sock", 0};
  SAY("unix: paths keep their form; the authority is \"localhost\"");
  check_target("unix:relative/sock", "localhost", 1, &rel);
  check_target("unix:/tmp/tern.sock", "localhost", 1, &abs);
  check_target("unix:///tmp/tern.sock", "localhost", 1, &abs);
}

static void test_target_malformed_give_eaddr(void) {
  static char long_path[200], long_host[300];
  const char *bad[] = {
      "",
      ":50051",
      "host:",
      "host:0",
      "host:65536",
      "host:99999999",
      "host:-1",
      "host:+80",
      "host:8a",
      "host: 80",
      "ho st:80",
      "host/path:80",
      "user@host:80",
      "host:80/x",
      "[::1",
      "[::1]x",
      "[::1]:",
      "[]:5",
      "[zz]:5",
      "[localhost]:5",
      "[1.2.3.4]:5",
      "a:b:c",
      "1:2:3:4:5:6:7:8:9",
      "unix:",
      "unix://",
      "unix://host/path",
      "unix-abstract:name",
      "unix-abstract:1234",
      "vsock:2:1234",
      "xds:///svc",
      "http://host:80",
      "dns:",
      "dns:///",
      "dns://",
      "dns://8.8.8.8",
      "dns:///:80",
      "dns:///a:1,b:2",
      "ipv4:",
      "ipv4:1.2.3.4",
      "ipv4:localhost:80",
      "ipv4:1.2.3.4:80,",
      "ipv4:,1.2.3.4:80",
      "ipv4:1.2.3:80",
      "ipv4:256.1.1.1:80",
      "ipv4:[::1]:80",
      "ipv4:1.2.3.4:0",
      "ipv6:",
      "ipv6:::1",
      "ipv6:[::1]",
      "ipv6:::1:80",
      "ipv6:[1.2.3.4]:80",
      "ipv6:1.2.3.4:80",
      "ipv6:[::1]:80,",
      long_path,
      long_host,
  };
  size_t i;

  /* 107 bytes of path fit sockaddr_un with its NUL; this is longer. */
  memcpy(long_path, "unix:/", 6);
  memset(long_path + 6, 'p', sizeof(long_path) - 7);
  memset(long_host, 'h', sizeof(long_host) - 1);
  for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    tern__target t;
    SAY("\"%.60s%s\" is TERN_EADDR", bad[i], strlen(bad[i]) > 60 ? "..." : "");
    CHECK_EQ_INT(tern__target_parse(bad[i], &t), TERN_EADDR);
    CHECK(t.addrs == NULL && t.n_addrs == 0 && t.authority == NULL);
  }
}

static void test_target_null_and_free(void) {
  tern__target t;
  SAY("a NULL target or output is TERN_EINVAL");
  CHECK_EQ_INT(tern__target_parse(NULL, &t), TERN_EINVAL);
  CHECK_EQ_INT(tern__target_parse("h:1", NULL), TERN_EINVAL);
  SAY("free leaves an empty target; twice, or on NULL, is harmless");
  CHECK_EQ_INT(tern__target_parse("h:1", &t), TERN_OK);
  tern__target_free(&t);
  CHECK(t.addrs == NULL && t.n_addrs == 0 && t.authority == NULL);
  tern__target_free(&t);
  tern__target_free(NULL);
}

/* Splits s with flags and checks host (NULL: the split fails), port and
 * brackets. */
static void check_split(const char *s, unsigned flags, const char *host,
                        int port, int bracketed) {
  tern__hostport hp;
  int rv = tern__hostport_split(s, strlen(s), flags, &hp);
  if (!host) {
    SAY("\"%.60s\" (flags %u) does not split", s, flags);
    CHECK_EQ_INT(rv, TERN_EADDR);
    return;
  }
  SAY("\"%s\" (flags %u) -> host \"%s\", port %d%s", s, flags, host, port,
      bracketed ? ", bracketed" : "");
  CHECK_EQ_INT(rv, TERN_OK);
  if (rv != TERN_OK)
    return;
  CHECK_EQ_MEM(hp.host, hp.host_len, host, strlen(host));
  CHECK_EQ_INT(hp.port, port);
  CHECK_EQ_INT(hp.bracketed, bracketed);
}

#define NEED TERN__HOSTPORT_NEED_PORT
#define ZERO TERN__HOSTPORT_PORT_ZERO

static void test_hostport_split_forms(void) {
  check_split("localhost:50051", 0, "localhost", 50051, 0);
  check_split("1.2.3.4:1", 0, "1.2.3.4", 1, 0);
  check_split("example.com", 0, "example.com", -1, 0);
  check_split("[::1]:50051", 0, "::1", 50051, 1);
  check_split("[::1]", 0, "::1", -1, 1);
  check_split("[fe80::1%eth0]:9", 0, "fe80::1%eth0", 9, 1);
  SAY("without a required port, several colons are a bare IPv6 literal");
  check_split("::1", 0, "::1", -1, 0);
  check_split("2001:db8::7", 0, "2001:db8::7", -1, 0);
  SAY("the host is not checked: callers decide what an empty one means");
  check_split(":50051", 0, "", 50051, 0);
  check_split("[]:5", 0, "", 5, 1);
  check_split("ho st:80", 0, "ho st", 80, 0);
}

static void test_hostport_split_listening_addresses(void) {
  SAY("the server's forms: a port is required, 0 picks one");
  check_split("[::]:50051", NEED | ZERO, "::", 50051, 1);
  check_split("0.0.0.0:0", NEED | ZERO, "0.0.0.0", 0, 0);
  check_split("localhost:0", NEED | ZERO, "localhost", 0, 0);
  check_split(":0", NEED | ZERO, "", 0, 0);
  SAY("with a required port, the last colon starts it");
  check_split("::1:50051", NEED | ZERO, "::1", 50051, 0);
  check_split(":::0", NEED | ZERO, "::", 0, 0);
  SAY("no port where one is required");
  check_split("localhost", NEED, NULL, 0, 0);
  check_split("[::1]", NEED, NULL, 0, 0);
  check_split("[::1]", NEED | ZERO, NULL, 0, 0);
  SAY("port 0 only with TERN__HOSTPORT_PORT_ZERO");
  check_split("h:0", 0, NULL, 0, 0);
  check_split("h:0", NEED, NULL, 0, 0);
  check_split("h:00000", ZERO, "h", 0, 0);
}

static void test_hostport_split_rejects_malformed(void) {
  static char long_host[300];
  const char *bad[] = {"",        "h:",      "h:65536", "h:100000", "h:-1",
                       "h:+80",   "h: 80",   "h:80 ",   "h:8a",     "[::1",
                       "[::1]x",  "[::1]:",  "[::1]:x", "[::1]]:1", "h:000001"};
  size_t i;
  for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    check_split(bad[i], 0, NULL, 0, 0);
    check_split(bad[i], NEED | ZERO, NULL, 0, 0);
  }
  SAY("a host of 256 bytes is too long; 255 is not");
  memset(long_host, 'h', 256);
  memcpy(long_host + 256, ":1", 3);
  check_split(long_host, 0, NULL, 0, 0);
  memmove(long_host + 255, long_host + 256, 3);
  {
    tern__hostport hp;
    CHECK_EQ_INT(tern__hostport_split(long_host, strlen(long_host), 0, &hp),
                 TERN_OK);
    CHECK_EQ_INT(hp.host_len, 255);
    CHECK_EQ_INT(hp.port, 1);
  }
  SAY("a NUL inside the length is refused; the length bounds the string");
  {
    tern__hostport hp;
    CHECK_EQ_INT(tern__hostport_split("a\0b:1", 5, 0, &hp), TERN_EADDR);
    CHECK_EQ_INT(tern__hostport_split("h:1234", 4, 0, &hp), TERN_OK);
    CHECK_EQ_INT(hp.port, 12);
    CHECK_EQ_INT(tern__hostport_split(NULL, 0, 0, &hp), TERN_EADDR);
  }
}

int main(void) {
  RUN_TEST(test_target_host_port_forms);
  RUN_TEST(test_target_without_port_defaults_to_443);
  RUN_TEST(test_target_ipv6_brackets);
  RUN_TEST(test_target_dns_forms);
  RUN_TEST(test_target_dns_authority_is_kept);
  RUN_TEST(test_target_dns_authority_must_be_an_ip);
  RUN_TEST(test_target_ipv4_list);
  RUN_TEST(test_target_ipv6_list);
  RUN_TEST(test_target_unix_forms);
  RUN_TEST(test_target_malformed_give_eaddr);
  RUN_TEST(test_target_null_and_free);
  RUN_TEST(test_hostport_split_forms);
  RUN_TEST(test_hostport_split_listening_addresses);
  RUN_TEST(test_hostport_split_rejects_malformed);
  return TEST_SUMMARY("target");
}
