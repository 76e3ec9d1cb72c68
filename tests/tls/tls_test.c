/* TLS and mutual TLS end to end: verification against a CA, host names
 * and the override, and each way a handshake must be refused (wrong CA,
 * expired certificate, wrong host name, missing client certificate,
 * cleartext client), with the server serving good clients meanwhile.
 * Certificates come from make_certs.sh, run at test time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "echo.tern.h"
#include "test.h"

static char g_dir[256];
static char g_identity[64]; /* what the handler saw, last call */

static tern_status_code h_unary(tern_server_call *call,
                                const Tern__Test__EchoRequest *req,
                                Tern__Test__EchoResponse *resp, void *ud) {
  const char *id = tern_server_call_peer_identity(call);
  (void)ud;
  snprintf(g_identity, sizeof(g_identity), "%s", id ? id : "(none)");
  resp->payload.data = tern_server_call_alloc(call, req->payload.len + 1);
  if (req->payload.len)
    memcpy(resp->payload.data, req->payload.data, req->payload.len);
  resp->payload.len = req->payload.len;
  return TERN_STATUS_OK;
}

static const Tern__Test__EchoServicer servicer = {h_unary, NULL, NULL, NULL};

static const char *path(const char *name) {
  static char bufs[8][320];
  static int i;
  char *b = bufs[i++ % 8];
  snprintf(b, sizeof(bufs[0]), "%s/%s", g_dir, name);
  return b;
}

/* A server with a TLS port (optionally requiring client certificates) and
 * a cleartext one. */
static tern_server *start(const char *cert, const char *key, int mtls,
                          int *tls_port) {
  tern_server *s;
  tern_tls_options t = TERN_TLS_OPTIONS_INIT;
  t.cert_chain_file = path(cert);
  t.private_key_file = path(key);
  if (mtls) {
    t.ca_file = path("ca.pem");
    t.require_client_cert = 1;
  }
  CHECK_EQ_INT(tern_server_new(&s, NULL), TERN_OK);
  CHECK_EQ_INT(tern__test__add_echo_servicer_to_server(&servicer, s, NULL),
               TERN_OK);
  CHECK_EQ_INT(tern_server_add_secure_port(s, "127.0.0.1:0", &t, tls_port),
               TERN_OK);
  CHECK_EQ_INT(tern_server_start(s), TERN_OK);
  return s;
}

/* One unary call over a fresh channel; returns its status code and puts
 * the message in msg. */
static tern_status_code call(const char *target, const tern_tls_options *t,
                             char *msg, size_t msglen) {
  tern_channel *ch;
  tern_channel_options o = TERN_CHANNEL_OPTIONS_INIT;
  Tern__Test__EchoStub stub;
  Tern__Test__EchoRequest req = TERN__TEST__ECHO_REQUEST__INIT;
  Tern__Test__EchoResponse *resp = NULL;
  tern_call_options co = TERN_CALL_OPTIONS_INIT;
  tern_status st = TERN_STATUS_INIT;
  tern_status_code code;
  o.tls = t;
  o.initial_backoff_ms = 100;
  co.timeout_ms = 10000;
  if (tern_channel_new(&ch, target, &o) != TERN_OK) {
    snprintf(msg, msglen, "channel refused");
    return TERN_STATUS_INTERNAL;
  }
  tern__test__echo_stub_init(&stub, ch);
  req.payload.data = (uint8_t *)"tls";
  req.payload.len = 3;
  code = tern__test__echo_stub__unary(&stub, &req, &resp, &co, &st);
  snprintf(msg, msglen, "%s", st.message ? st.message : "");
  if (code == TERN_STATUS_OK && (!resp || resp->payload.len != 3))
    code = TERN_STATUS_DATA_LOSS;
  if (resp)
    tern__test__echo_response__free_unpacked(resp, NULL);
  tern_status_clear(&st);
  tern_channel_free(ch);
  return code;
}

static void test_tls_and_refusals(void) {
  int port, eport;
  tern_server *s = start("server.pem", "server.key", 0, &port);
  tern_server *expired = start("expired.pem", "expired.key", 0, &eport);
  tern_tls_options t = TERN_TLS_OPTIONS_INIT;
  char target[64], msg[256];
  snprintf(target, sizeof(target), "127.0.0.1:%d", port);
  t.ca_file = path("ca.pem");

  SAY("TLS to 127.0.0.1 (IP SAN), CA verified: OK");
  CHECK_EQ_INT(call(target, &t, msg, sizeof(msg)), TERN_STATUS_OK);
  SAY("the handler sees no client identity without mutual TLS");
  CHECK_EQ_STR(g_identity, "(none)");

  snprintf(target, sizeof(target), "localhost:%d", port);
  SAY("TLS to localhost (DNS SAN): OK");
  CHECK_EQ_INT(call(target, &t, msg, sizeof(msg)), TERN_STATUS_OK);

  snprintf(target, sizeof(target), "127.0.0.1:%d", port);
  t.server_host_override = "foo.test.example.com";
  SAY("server_host_override foo.test.example.com (wildcard SAN): OK");
  CHECK_EQ_INT(call(target, &t, msg, sizeof(msg)), TERN_STATUS_OK);

  t.server_host_override = "wrong.example.org";
  SAY("a host name the certificate does not carry: UNAVAILABLE");
  CHECK_EQ_INT(call(target, &t, msg, sizeof(msg)), TERN_STATUS_UNAVAILABLE);
  SAY("  with the reason: %s", msg);
  CHECK(strstr(msg, "certificate verify failed") != NULL);
  t.server_host_override = NULL;

  t.ca_file = path("other_ca.pem");
  SAY("a server certificate from another CA: UNAVAILABLE");
  CHECK_EQ_INT(call(target, &t, msg, sizeof(msg)), TERN_STATUS_UNAVAILABLE);
  CHECK(strstr(msg, "certificate verify failed") != NULL);
  t.ca_file = path("ca.pem");

  snprintf(target, sizeof(target), "127.0.0.1:%d", eport);
  SAY("an expired server certificate: UNAVAILABLE");
  CHECK_EQ_INT(call(target, &t, msg, sizeof(msg)), TERN_STATUS_UNAVAILABLE);
  SAY("  with the reason: %s", msg);
  CHECK(strstr(msg, "expired") != NULL);

  snprintf(target, sizeof(target), "127.0.0.1:%d", port);
  SAY("a cleartext client on the TLS port fails UNAVAILABLE or INTERNAL");
  {
    tern_status_code c = call(target, NULL, msg, sizeof(msg));
    CHECK(c == TERN_STATUS_UNAVAILABLE || c == TERN_STATUS_INTERNAL);
  }
  SAY("after all that, a good client is still served");
  CHECK_EQ_INT(call(target, &t, msg, sizeof(msg)), TERN_STATUS_OK);

  SAY("a server without a key is refused at add_secure_port");
  {
    tern_server *bad;
    tern_tls_options nokey = TERN_TLS_OPTIONS_INIT;
    nokey.cert_chain_file = path("server.pem");
    CHECK_EQ_INT(tern_server_new(&bad, NULL), TERN_OK);
    CHECK_EQ_INT(tern_server_add_secure_port(bad, "127.0.0.1:0", &nokey, NULL),
                 TERN_EINVAL);
    nokey.private_key_file = path("client.key"); /* not this cert's key */
    CHECK_EQ_INT(tern_server_add_secure_port(bad, "127.0.0.1:0", &nokey, NULL),
                 TERN_EINVAL);
    tern_server_free(bad);
  }
  tern_server_free(expired);
  tern_server_free(s);
}

static void test_mutual_tls(void) {
  int port;
  tern_server *s = start("server.pem", "server.key", 1, &port);
  tern_tls_options t = TERN_TLS_OPTIONS_INIT;
  char target[64], msg[256];
  snprintf(target, sizeof(target), "127.0.0.1:%d", port);
  t.ca_file = path("ca.pem");

  SAY("mutual TLS without a client certificate: refused (UNAVAILABLE)");
  CHECK_EQ_INT(call(target, &t, msg, sizeof(msg)), TERN_STATUS_UNAVAILABLE);
  SAY("  with the reason: %s", msg);

  t.cert_chain_file = path("client.pem");
  t.private_key_file = path("client.key");
  g_identity[0] = '\0';
  SAY("with the client certificate: OK, and the handler sees test-client");
  CHECK_EQ_INT(call(target, &t, msg, sizeof(msg)), TERN_STATUS_OK);
  CHECK_EQ_STR(g_identity, "test-client");
  tern_server_free(s);
}

static void test_pem_in_memory(void) {
  int port;
  tern_server *s;
  tern_tls_options st = TERN_TLS_OPTIONS_INIT, ct = TERN_TLS_OPTIONS_INIT;
  char *cert = NULL, *key = NULL, *ca = NULL, target[64], msg[256];
  const char *names[3] = {"server.pem", "server.key", "ca.pem"};
  char **bufs[3] = {&cert, &key, &ca};
  int i;
  for (i = 0; i < 3; i++) {
    FILE *f = fopen(path(names[i]), "rb");
    long n;
    CHECK(f != NULL);
    if (!f)
      return;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    rewind(f);
    *bufs[i] = calloc(1, (size_t)n + 1);
    CHECK_EQ_INT(fread(*bufs[i], 1, (size_t)n, f), n);
    fclose(f);
  }
  st.cert_chain_pem = cert;
  st.private_key_pem = key;
  ct.ca_pem = ca;
  CHECK_EQ_INT(tern_server_new(&s, NULL), TERN_OK);
  CHECK_EQ_INT(tern__test__add_echo_servicer_to_server(&servicer, s, NULL),
               TERN_OK);
  CHECK_EQ_INT(tern_server_add_secure_port(s, "127.0.0.1:0", &st, &port),
               TERN_OK);
  CHECK_EQ_INT(tern_server_start(s), TERN_OK);
  snprintf(target, sizeof(target), "127.0.0.1:%d", port);
  SAY("certificate, key and CA given as PEM text: OK");
  CHECK_EQ_INT(call(target, &ct, msg, sizeof(msg)), TERN_STATUS_OK);
  tern_server_free(s);
  free(cert);
  free(key);
  free(ca);
}

/* Under ASan's leak checker (the build-asan tree) this also shows that a
 * failed channel_new frees what it had made: the credentials were leaked
 * on the TLS failure path. */
static void test_channel_new_fails_cleanly_on_a_missing_ca_file(void) {
  tern_tls_options t = TERN_TLS_OPTIONS_INIT;
  tern_channel_options o = TERN_CHANNEL_OPTIONS_INIT;
  tern_metadata *creds = NULL;
  tern_channel *ch = NULL;
  CHECK_EQ_INT(tern_metadata_new(&creds), TERN_OK);
  CHECK_EQ_INT(tern_metadata_add_bearer(creds, "secret-token"), TERN_OK);
  t.ca_file = path("no-such-ca.pem");
  o.tls = &t;
  o.credentials = creds;
  o.authority = "example.com:443";
  SAY("a CA file that does not exist: TERN_EINVAL and no channel");
  CHECK_EQ_INT(tern_channel_new(&ch, "localhost:1", &o), TERN_EINVAL);
  CHECK(ch == NULL);
  SAY("the same options with the CA that exists make a channel");
  t.ca_file = path("ca.pem");
  CHECK_EQ_INT(tern_channel_new(&ch, "localhost:1", &o), TERN_OK);
  tern_channel_free(ch);
  tern_metadata_free(creds);
}

int main(int argc, char **argv) {
  char cmd[600];
  const char *script = argc > 1 ? argv[1] : "make_certs.sh";
  snprintf(g_dir, sizeof(g_dir), "/tmp/tern-tls-%d", (int)getpid());
  snprintf(cmd, sizeof(cmd), "bash '%s' '%s'", script, g_dir);
  printf("making throw-away certificates: %s\n", cmd);
  if (system(cmd) != 0) {
    printf("FAIL: could not make certificates\n");
    return 1;
  }
  RUN_TEST(test_tls_and_refusals);
  RUN_TEST(test_mutual_tls);
  RUN_TEST(test_pem_in_memory);
  RUN_TEST(test_channel_new_fails_cleanly_on_a_missing_ca_file);
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
  if (system(cmd) != 0)
    printf("note: could not remove %s\n", g_dir);
  return TEST_SUMMARY("tls");
}
