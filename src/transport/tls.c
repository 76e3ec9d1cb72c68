/* TLS contexts on OpenSSL 3: certificates, CA verification, ALPN "h2" in
 * both roles, host name checks, mutual TLS. The handshake itself runs
 * non-blocking in conn.c. */
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>

#include "transport/transport_int.h"

struct tern__tls_ctx {
  SSL_CTX *ctx;
  int is_server;
  char *host_override;
  int refs; /* atomic */
};

static const unsigned char alpn_h2[] = {2, 'h', '2'};

void tern__tls_error(char *buf, size_t len) {
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
                      const tern_tls_options *o) {
  tern__tls_ctx *t;
  SSL_CTX *ctx;
  char err[256];
  const char *what = NULL, *file = NULL;
  if (!o)
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
    tern__tls_error(err, sizeof(err));
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

  t = calloc(1, sizeof(*t));
  if (!t || (o->server_host_override &&
             !(t->host_override = strdup(o->server_host_override)))) {
    free(t);
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
  free(t->host_override);
  free(t);
}

/* A socket BIO that writes with send(MSG_NOSIGNAL): OpenSSL's own socket
 * BIO uses write(), which raises SIGPIPE when the peer has gone. A library
 * must not kill its process for that, nor ask it to ignore the signal. */
static BIO_METHOD *nosig_method;
static pthread_once_t nosig_once = PTHREAD_ONCE_INIT;

static int nosig_write(BIO *b, const char *buf, int len) {
  int fd = (int)(intptr_t)BIO_get_data(b);
  ssize_t n;
  BIO_clear_retry_flags(b);
  n = send(fd, buf, (size_t)len, MSG_NOSIGNAL);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
    BIO_set_retry_write(b);
  return (int)n;
}

static int nosig_read(BIO *b, char *buf, int len) {
  int fd = (int)(intptr_t)BIO_get_data(b);
  ssize_t n;
  BIO_clear_retry_flags(b);
  n = recv(fd, buf, (size_t)len, 0);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
    BIO_set_retry_read(b);
  return (int)n;
}

static long nosig_ctrl(BIO *b, int cmd, long num, void *ptr) {
  (void)b;
  (void)num;
  (void)ptr;
  return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int nosig_create(BIO *b) {
  BIO_set_init(b, 1);
  return 1;
}

static void nosig_init(void) {
  BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK,
                               "tern socket");
  if (m && BIO_meth_set_write(m, nosig_write) == 1 &&
      BIO_meth_set_read(m, nosig_read) == 1 &&
      BIO_meth_set_ctrl(m, nosig_ctrl) == 1 &&
      BIO_meth_set_create(m, nosig_create) == 1) {
    nosig_method = m;
    return;
  }
  BIO_meth_free(m);
}

SSL *tern__tls_new_ssl(tern__tls_ctx *t, int fd, const char *host) {
  SSL *ssl;
  BIO *bio;
  pthread_once(&nosig_once, nosig_init);
  if (!nosig_method)
    return NULL;
  ssl = SSL_new(t->ctx);
  if (!ssl)
    return NULL;
  bio = BIO_new(nosig_method);
  if (!bio) {
    SSL_free(ssl);
    return NULL;
  }
  BIO_set_data(bio, (void *)(intptr_t)fd);
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

int tern__tls_alpn_is_h2(SSL *ssl) {
  const unsigned char *p = NULL;
  unsigned int n = 0;
  SSL_get0_alpn_selected(ssl, &p, &n);
  return n == 2 && p[0] == 'h' && p[1] == '2';
}

char *tern__tls_peer_common_name(SSL *ssl) {
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
  return n > 0 ? strdup(buf) : NULL;
}
