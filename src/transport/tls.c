/* TLS on OpenSSL 3: contexts (certificates, CA verification, ALPN "h2" in
 * both roles, host name checks, mutual TLS) and the TLS filter, which
 * sits between the socket and HTTP/2 and runs its handshake
 * non-blocking on the loop. */
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>

#include "transport/filter.h"

struct tern__tls_ctx {
  SSL_CTX *ctx;
  int is_server;
  char *host_override;
  int refs; /* atomic */
};

static const unsigned char alpn_h2[] = {2, 'h', '2'};

static void tls_error(char *buf, size_t len) {
  unsigned long e = ERR_get_error();
  unsigned long last = e;
  while (e) { /* the last queued error is usually the most telling */
    last = e;
    e = ERR_get_error();
  }
  if (last)
    ERR_error_string_n(last, buf, len);
  else
    snprintf(buf, len, "unknown TLS error");
}

static int select_h2(SSL *ssl, const unsigned char **out,
                     unsigned char *outlen, const unsigned char *in,
                     unsigned int inlen, void *arg) {
  unsigned int i = 0;
  (void)ssl;
  (void)arg;
  while (i < inlen) {
    unsigned int n = in[i];
    if (i + 1 + n > inlen)
      break;
    if (n == 2 && in[i + 1] == 'h' && in[i + 2] == '2') {
      *out = in + i + 1;
      *outlen = 2;
      return SSL_TLSEXT_ERR_OK;
    }
    i += 1 + n;
  }
  /* A peer that does not offer h2 is refused, as gRPC requires. */
  return SSL_TLSEXT_ERR_ALERT_FATAL;
}

static int load_pem_chain(SSL_CTX *ctx, const char *pem) {
  BIO *bio = BIO_new_mem_buf(pem, -1);
  X509 *x;
  int first = 1, ok = 1;
  if (!bio)
    return 0;
  while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
    if (first) {
      ok = SSL_CTX_use_certificate(ctx, x) == 1;
      X509_free(x);
      first = 0;
    } else if (SSL_CTX_add_extra_chain_cert(ctx, x) != 1) {
      X509_free(x);
      ok = 0;
    }
    if (!ok)
      break;
  }
  ERR_clear_error(); /* the end of the PEM data reads as an error */
  BIO_free(bio);
  return ok && !first;
}

static int load_pem_key(SSL_CTX *ctx, const char *pem) {
  BIO *bio = BIO_new_mem_buf(pem, -1);
  EVP_PKEY *k;
  int ok;
  if (!bio)
    return 0;
  k = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
  BIO_free(bio);
  if (!k)
    return 0;
  ok = SSL_CTX_use_PrivateKey(ctx, k) == 1;
  EVP_PKEY_free(k);
  return ok;
}

static int load_pem_cas(SSL_CTX *ctx, const char *pem) {
  BIO *bio = BIO_new_mem_buf(pem, -1);
  X509_STORE *store = SSL_CTX_get_cert_store(ctx);
  X509 *x;
  int n = 0;
  if (!bio)
    return 0;
  while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
    if (X509_STORE_add_cert(store, x) == 1)
      n++;
    X509_free(x);
  }
  ERR_clear_error();
  BIO_free(bio);
  return n > 0;
}

int tern__tls_ctx_new(tern__tls_ctx **out, int is_server,
                      const tern_tls_options *given) {
  tern_tls_options opts, *o = &opts;
  tern__tls_ctx *t;
  SSL_CTX *ctx;
  char err[256];
  const char *what = NULL, *file = NULL;
  if (!given || tern__struct_in(&opts, sizeof(opts), given,
                                TERN__OPTIONS_MIN_SIZE) != TERN_OK)
    return TERN_EINVAL;
  if (is_server && !((o->cert_chain_file || o->cert_chain_pem) &&
                     (o->private_key_file || o->private_key_pem))) {
    TERN__WARN("TLS server: a certificate chain and a private key are "
               "required");
    return TERN_EINVAL;
  }
  ctx = SSL_CTX_new(is_server ? TLS_server_method() : TLS_client_method());
  if (!ctx)
    return TERN_ENOMEM;
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
                            SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  /* HTTP/2 forbids renegotiation (RFC 9113 9.2.1). */
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);

  if (o->cert_chain_file &&
      SSL_CTX_use_certificate_chain_file(ctx, o->cert_chain_file) != 1) {
    what = "loading the certificate chain file";
    file = o->cert_chain_file;
  }
  else if (!o->cert_chain_file && o->cert_chain_pem &&
           !load_pem_chain(ctx, o->cert_chain_pem))
    what = "loading the certificate chain";
  else if (o->private_key_file &&
           SSL_CTX_use_PrivateKey_file(ctx, o->private_key_file,
                                       SSL_FILETYPE_PEM) != 1) {
    what = "loading the private key file";
    file = o->private_key_file;
  }
  else if (!o->private_key_file && o->private_key_pem &&
           !load_pem_key(ctx, o->private_key_pem))
    what = "loading the private key";
  else if ((o->private_key_file || o->private_key_pem) &&
           SSL_CTX_check_private_key(ctx) != 1)
    what = "checking the key against the certificate";
  else if (o->ca_file &&
           SSL_CTX_load_verify_locations(ctx, o->ca_file, NULL) != 1) {
    what = "loading the CA file";
    file = o->ca_file;
  }
  else if (!o->ca_file && o->ca_pem && !load_pem_cas(ctx, o->ca_pem))
    what = "loading the CA certificates";
  else if (!is_server && !o->ca_file && !o->ca_pem &&
           SSL_CTX_set_default_verify_paths(ctx) != 1)
    what = "loading the system CA bundle";
  if (what) {
    tls_error(err, sizeof(err));
    TERN__WARN("TLS: %s%s%s: %s", what, file ? " " : "", file ? file : "",
               err);
    SSL_CTX_free(ctx);
    return TERN_EINVAL;
  }

  if (is_server) {
    SSL_CTX_set_alpn_select_cb(ctx, select_h2, NULL);
    if (o->require_client_cert)
      SSL_CTX_set_verify(
          ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_alpn_protos(ctx, alpn_h2, sizeof(alpn_h2));
  }

  t = tern__calloc(1, sizeof(*t));
  if (!t || (o->server_host_override &&
             !(t->host_override = tern__strdup(o->server_host_override)))) {
    tern__free(t);
    SSL_CTX_free(ctx);
    return TERN_ENOMEM;
  }
  t->ctx = ctx;
  t->is_server = is_server;
  t->refs = 1;
  *out = t;
  return TERN_OK;
}

void tern__tls_ctx_ref(tern__tls_ctx *t) {
  __atomic_fetch_add(&t->refs, 1, __ATOMIC_RELAXED);
}

void tern__tls_ctx_unref(tern__tls_ctx *t) {
  if (!t || __atomic_sub_fetch(&t->refs, 1, __ATOMIC_ACQ_REL) != 0)
    return;
  SSL_CTX_free(t->ctx);
  tern__free(t->host_override);
  tern__free(t);
}

/* The TLS filter's BIO reads and writes through the filter below (the
 * socket, which sends with MSG_NOSIGNAL: OpenSSL's own socket BIO uses
 * write(), which raises SIGPIPE when the peer has gone). */
static BIO_METHOD *lower_method;
static pthread_once_t lower_once = PTHREAD_ONCE_INIT;

static int lower_write(BIO *b, const char *buf, int len) {
  tern__filter *lower = BIO_get_data(b);
  ssize_t n;
  BIO_clear_retry_flags(b);
  n = lower->vt->send(lower, (const uint8_t *)buf, (size_t)len);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
    BIO_set_retry_write(b);
  return (int)n;
}

static int lower_read(BIO *b, char *buf, int len) {
  tern__filter *lower = BIO_get_data(b);
  ssize_t n;
  BIO_clear_retry_flags(b);
  n = lower->vt->recv(lower, (uint8_t *)buf, (size_t)len, NULL, 0);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
    BIO_set_retry_read(b);
  return (int)n;
}

static long lower_ctrl(BIO *b, int cmd, long num, void *ptr) {
  (void)b;
  (void)num;
  (void)ptr;
  return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int lower_create(BIO *b) {
  BIO_set_init(b, 1);
  return 1;
}

static void lower_init(void) {
  BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK,
                               "tern filter");
  if (m && BIO_meth_set_write(m, lower_write) == 1 &&
      BIO_meth_set_read(m, lower_read) == 1 &&
      BIO_meth_set_ctrl(m, lower_ctrl) == 1 &&
      BIO_meth_set_create(m, lower_create) == 1) {
    lower_method = m;
    return;
  }
  BIO_meth_free(m);
}

static SSL *new_ssl(tern__tls_ctx *t, tern__filter *lower, const char *host) {
  SSL *ssl;
  BIO *bio;
  pthread_once(&lower_once, lower_init);
  if (!lower_method)
    return NULL;
  ssl = SSL_new(t->ctx);
  if (!ssl)
    return NULL;
  bio = BIO_new(lower_method);
  if (!bio) {
    SSL_free(ssl);
    return NULL;
  }
  BIO_set_data(bio, lower);
  SSL_set_bio(ssl, bio, bio); /* the SSL owns the BIO */
  if (t->is_server) {
    SSL_set_accept_state(ssl);
  } else {
    const char *name = t->host_override ? t->host_override : host;
    SSL_set_connect_state(ssl);
    if (name && *name) {
      X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
      /* An IP literal is checked against the certificate's IP SANs; SNI
       * is for names only. */
      if (X509_VERIFY_PARAM_set1_ip_asc(vp, name) != 1) {
        ERR_clear_error();
        SSL_set_tlsext_host_name(ssl, name);
        X509_VERIFY_PARAM_set_hostflags(
            vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        if (X509_VERIFY_PARAM_set1_host(vp, name, 0) != 1) {
          SSL_free(ssl);
          return NULL;
        }
      }
    }
  }
  return ssl;
}

static int alpn_is_h2(SSL *ssl) {
  const unsigned char *p = NULL;
  unsigned int n = 0;
  SSL_get0_alpn_selected(ssl, &p, &n);
  return n == 2 && p[0] == 'h' && p[1] == '2';
}

static char *peer_common_name(SSL *ssl) {
  X509 *cert = SSL_get1_peer_certificate(ssl);
  X509_NAME *name;
  char buf[256];
  int n;
  if (!cert)
    return NULL;
  name = X509_get_subject_name(cert);
  n = name ? X509_NAME_get_text_by_NID(name, NID_commonName, buf,
                                       sizeof(buf))
           : -1;
  X509_free(cert);
  return n > 0 ? tern__strdup(buf) : NULL;
}

/* ---- the filter ------------------------------------------------------------ */

typedef struct tls_filter {
  tern__filter base;
  SSL *ssl;
} tls_filter;

static int tls_handshake(tern__filter *f, unsigned *want, char *err,
                         size_t errlen) {
  tls_filter *t = (tls_filter *)f;
  int r, e;
  ERR_clear_error();
  r = SSL_do_handshake(t->ssl);
  if (r == 1) {
    if (!alpn_is_h2(t->ssl)) {
      snprintf(err, errlen, "TLS peer did not negotiate ALPN h2");
      return -1;
    }
    return 1;
  }
  e = SSL_get_error(t->ssl, r);
  if (e == SSL_ERROR_WANT_READ) {
    *want = TERN__IO_READ;
    return 0;
  }
  if (e == SSL_ERROR_WANT_WRITE) {
    *want = TERN__IO_READ | TERN__IO_WRITE;
    return 0;
  }
  {
    char why[128];
    long v = SSL_get_verify_result(t->ssl);
    tls_error(why, sizeof(why));
    if (v != X509_V_OK)
      snprintf(err, errlen,
               "TLS handshake failed: certificate verify failed: %s",
               X509_verify_cert_error_string(v));
    else
      snprintf(err, errlen, "TLS handshake failed: %s", why);
  }
  return -1;
}

static ssize_t tls_send(tern__filter *f, const uint8_t *p, size_t len) {
  tls_filter *t = (tls_filter *)f;
  int n, e;
  ERR_clear_error();
  n = SSL_write(t->ssl, p, len > INT32_MAX ? INT32_MAX : (int)len);
  if (n > 0)
    return n;
  e = SSL_get_error(t->ssl, n);
  errno = (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) ? EAGAIN
                                                                   : EPIPE;
  return -1;
}

static ssize_t tls_recv(tern__filter *f, uint8_t *p, size_t len, char *err,
                        size_t errlen) {
  tls_filter *t = (tls_filter *)f;
  int n, e;
  ERR_clear_error();
  n = SSL_read(t->ssl, p, len > INT32_MAX ? INT32_MAX : (int)len);
  if (n > 0)
    return n;
  e = SSL_get_error(t->ssl, n);
  if (e == SSL_ERROR_ZERO_RETURN)
    return 0;
  if (e == SSL_ERROR_SSL && err && errlen > 0 && !err[0]) {
    /* e.g. the server's alert for a missing client certificate */
    char why[120];
    tls_error(why, sizeof(why));
    snprintf(err, errlen, "TLS: %s", why);
  }
  errno = (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
              ? EAGAIN
              : ECONNRESET;
  return -1;
}

static int tls_pending(tern__filter *f) {
  return SSL_pending(((tls_filter *)f)->ssl) > 0;
}

static char *tls_peer_identity(tern__filter *f) {
  return peer_common_name(((tls_filter *)f)->ssl);
}

static void tls_destroy(tern__filter *f) {
  tls_filter *t = (tls_filter *)f;
  SSL_free(t->ssl);
  tern__free(t);
}

static const tern__filter_vt tls_vt = {tls_handshake, tls_send,
                                       tls_recv,      tls_pending,
                                       tls_peer_identity, tls_destroy};

int tern__tls_filter_new(tern__filter **out, tern__filter *lower,
                         tern__tls_ctx *ctx, const char *host) {
  tls_filter *t = tern__malloc(sizeof(*t));
  if (!t) {
    tern__filter_free(lower);
    return TERN_ENOMEM;
  }
  t->ssl = new_ssl(ctx, lower, host);
  if (!t->ssl) {
    tern__free(t);
    tern__filter_free(lower);
    return TERN_ENOMEM;
  }
  t->base.vt = &tls_vt;
  t->base.lower = lower;
  t->base.fd = lower->fd;
  *out = &t->base;
  return TERN_OK;
}
