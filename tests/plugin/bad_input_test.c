/* plugin_bad_input: protoc-gen-tern, fed bad requests, answers with a clear
 * error and never crashes: undecodable stdin gets a message on stderr and
 * exit status 1; a decodable request it cannot serve gets
 * CodeGeneratorResponse.error (which protoc prints) and exit status 0.
 * Usage: plugin_bad_input_test PATH/TO/protoc-gen-tern */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "google/protobuf/compiler/plugin.pb-c.h"

typedef Google__Protobuf__Compiler__CodeGeneratorRequest Request;
typedef Google__Protobuf__Compiler__CodeGeneratorResponse Response;
typedef Google__Protobuf__FileDescriptorProto FileProto;
typedef Google__Protobuf__DescriptorProto MessageProto;
typedef Google__Protobuf__ServiceDescriptorProto ServiceProto;
typedef Google__Protobuf__MethodDescriptorProto MethodProto;

static const char *plugin;
static int failures;

#define CHECK(cond, ...)                                                       \
  do {                                                                         \
    if (cond) {                                                                \
      printf("ok: ");                                                          \
    } else {                                                                   \
      failures++;                                                              \
      printf("FAIL (%s:%d: %s): ", __FILE__, __LINE__, #cond);                 \
    }                                                                          \
    printf(__VA_ARGS__);                                                       \
    putchar('\n');                                                             \
  } while (0)

/* ---- running the plugin ---------------------------------------------- */

typedef struct result {
  int signaled; /* killed by a signal: a crash */
  int sig;
  int code; /* exit status otherwise */
  uint8_t *out;
  size_t out_len;
  char *err; /* NUL-terminated stderr */
} result;

static uint8_t *slurp(FILE *f, size_t *len_out) {
  size_t cap = 4096, len = 0, n;
  uint8_t *buf = malloc(cap + 1);
  if (buf == NULL || fseek(f, 0, SEEK_SET) != 0)
    goto fail;
  while ((n = fread(buf + len, 1, cap - len, f)) > 0) {
    len += n;
    if (len == cap) {
      uint8_t *bigger = realloc(buf, 2 * cap + 1);
      if (bigger == NULL)
        goto fail;
      buf = bigger;
      cap *= 2;
    }
  }
  buf[len] = '\0';
  *len_out = len;
  return buf;
fail:
  fprintf(stderr, "bad_input_test: cannot read a temporary file\n");
  exit(2);
}

/* Runs the plugin with `in` on stdin (files, not pipes: no deadlock
 * whatever the sizes). arg may be NULL. */
static void run(const void *in, size_t len, const char *arg, result *r) {
  FILE *fin = tmpfile(), *fout = tmpfile(), *ferr = tmpfile();
  size_t err_len;
  pid_t pid;
  int status;

  memset(r, 0, sizeof(*r));
  if (fin == NULL || fout == NULL || ferr == NULL ||
      (len > 0 && fwrite(in, 1, len, fin) != len) || fflush(fin) != 0 ||
      fseek(fin, 0, SEEK_SET) != 0) {
    fprintf(stderr, "bad_input_test: cannot make temporary files\n");
    exit(2);
  }
  fflush(stdout);
  pid = fork();
  if (pid < 0) {
    perror("bad_input_test: fork");
    exit(2);
  }
  if (pid == 0) {
    dup2(fileno(fin), 0);
    dup2(fileno(fout), 1);
    dup2(fileno(ferr), 2);
    execl(plugin, plugin, arg, (char *)NULL);
    _exit(127);
  }
  while (waitpid(pid, &status, 0) < 0) {
  }
  r->signaled = WIFSIGNALED(status);
  r->sig = r->signaled ? WTERMSIG(status) : 0;
  r->code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r->out = slurp(fout, &r->out_len);
  r->err = (char *)slurp(ferr, &err_len);
  fclose(fin);
  fclose(fout);
  fclose(ferr);
}

static void result_free(result *r) {
  free(r->out);
  free(r->err);
}

/* Undecodable input: exit status 1 and `needle` on stderr. */
static void expect_stderr(const char *what, const void *in, size_t len,
                          const char *needle) {
  result r;
  run(in, len, NULL, &r);
  CHECK(!r.signaled, "%s: no crash (signal %d)", what, r.sig);
  CHECK(r.code == 1 && strstr(r.err, needle) != NULL,
        "%s: exit 1 with \"%s\" on stderr (exit %d, stderr: %s)", what, needle,
        r.code, r.err);
  result_free(&r);
}

/* A decodable request: exit 0 and a response; returns it (or NULL). */
static Response *expect_response(const char *what, const void *in, size_t len) {
  result r;
  Response *resp = NULL;
  run(in, len, NULL, &r);
  CHECK(!r.signaled, "%s: no crash (signal %d)", what, r.sig);
  if (r.code == 0)
    resp = google__protobuf__compiler__code_generator_response__unpack(
        NULL, r.out_len, r.out);
  CHECK(r.code == 0 && resp != NULL,
        "%s: exit 0 with a CodeGeneratorResponse (exit %d, stderr: %s)", what,
        r.code, r.err);
  result_free(&r);
  return resp;
}

static void expect_error(const char *what, const void *in, size_t len,
                         const char *needle) {
  Response *resp = expect_response(what, in, len);
  if (resp == NULL)
    return;
  CHECK(resp->error != NULL && strstr(resp->error, needle) != NULL &&
            resp->n_file == 0,
        "%s: response error mentions \"%s\" (error: %s)", what, needle,
        resp->error ? resp->error : "none");
  google__protobuf__compiler__code_generator_response__free_unpacked(resp,
                                                                     NULL);
}

/* ---- building requests ------------------------------------------------ */

typedef struct method_spec {
  const char *name, *in, *out;
  int client_streaming, server_streaming;
} method_spec;

typedef struct file_spec {
  const char *name;
  const char *package;     /* NULL: none */
  const char *messages[4]; /* top-level message names */
  const char *service;     /* NULL: no service */
  method_spec methods[4];  /* name NULL ends */
  const char *to_generate; /* NULL: the file's own name */
  const char *parameter;   /* NULL: none */
} file_spec;

static uint8_t *pack_request(const file_spec *s, size_t *len_out) {
  Request req = GOOGLE__PROTOBUF__COMPILER__CODE_GENERATOR_REQUEST__INIT;
  FileProto file = GOOGLE__PROTOBUF__FILE_DESCRIPTOR_PROTO__INIT;
  MessageProto msgs[4];
  MessageProto *msg_ptrs[4];
  ServiceProto svc = GOOGLE__PROTOBUF__SERVICE_DESCRIPTOR_PROTO__INIT;
  ServiceProto *svc_ptr = &svc;
  MethodProto methods[4];
  MethodProto *method_ptrs[4];
  FileProto *file_ptr = &file;
  char *to_generate = (char *)(s->to_generate ? s->to_generate : s->name);
  uint8_t *buf;
  size_t i;

  file.name = (char *)s->name;
  file.package = (char *)s->package;
  for (i = 0; i < 4 && s->messages[i] != NULL; i++) {
    google__protobuf__descriptor_proto__init(&msgs[i]);
    msgs[i].name = (char *)s->messages[i];
    msg_ptrs[i] = &msgs[i];
  }
  file.n_message_type = i;
  file.message_type = msg_ptrs;
  if (s->service != NULL) {
    svc.name = (char *)s->service;
    for (i = 0; i < 4 && s->methods[i].name != NULL; i++) {
      const method_spec *m = &s->methods[i];
      google__protobuf__method_descriptor_proto__init(&methods[i]);
      methods[i].name = (char *)m->name;
      methods[i].input_type = (char *)m->in;
      methods[i].output_type = (char *)m->out;
      methods[i].has_client_streaming = m->client_streaming;
      methods[i].client_streaming = m->client_streaming;
      methods[i].has_server_streaming = m->server_streaming;
      methods[i].server_streaming = m->server_streaming;
      method_ptrs[i] = &methods[i];
    }
    svc.n_method = i;
    svc.method = method_ptrs;
    file.n_service = 1;
    file.service = &svc_ptr;
  }
  req.n_file_to_generate = 1;
  req.file_to_generate = &to_generate;
  req.parameter = (char *)s->parameter;
  req.n_proto_file = 1;
  req.proto_file = &file_ptr;

  *len_out =
      google__protobuf__compiler__code_generator_request__get_packed_size(&req);
  buf = malloc(*len_out ? *len_out : 1);
  if (buf == NULL) {
    fprintf(stderr, "bad_input_test: out of memory\n");
    exit(2);
  }
  google__protobuf__compiler__code_generator_request__pack(&req, buf);
  return buf;
}

/* A good request: ok.proto, package p, service S { rpc M(A) returns (B) } */
static const file_spec good = {
    "ok.proto",
    "p",
    {"A", "B", NULL},
    "S",
    {{"M", ".p.A", ".p.B", 0, 0}, {"N", ".p.B", ".p.A", 1, 1}},
    NULL,
    NULL};

static void error_case(const char *what, const file_spec *s,
                       const char *needle) {
  size_t len;
  uint8_t *buf = pack_request(s, &len);
  expect_error(what, buf, len, needle);
  free(buf);
}

/* ---- the cases -------------------------------------------------------- */

static void test_undecodable(void) {
  static const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                    0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
  static const uint8_t bad_wire_type[] = {0x0f, 0x01, 0x02};
  static const uint8_t too_long[] = {0x0a, 0x7f, 'x'}; /* len 127, 1 byte */
  size_t len;
  uint8_t *buf;

  expect_stderr("garbage bytes", garbage, sizeof(garbage), "cannot decode");
  expect_stderr("a group wire type", bad_wire_type, sizeof(bad_wire_type),
                "cannot decode");
  expect_stderr("a length past the end", too_long, sizeof(too_long),
                "cannot decode");
  expect_stderr("empty stdin", "", 0, "empty input");

  buf = pack_request(&good, &len);
  expect_stderr("a request cut in half", buf, len / 2, "cannot decode");
  free(buf);
}

/* proto_file { message_type { nested_type { nested_type ... } } }, deep
 * enough to overflow a recursive decoder's stack if nothing stopped it. */
static void test_deep_nesting(void) {
  const int levels = 100000;
  size_t cap = (size_t)levels * 8 + 64, pos = cap;
  uint8_t *buf = malloc(cap);
  int i;
  if (buf == NULL) {
    fprintf(stderr, "bad_input_test: out of memory\n");
    exit(2);
  }
  /* Written back to front: each level puts its tag and the varint length
   * of everything after it in front of it. */
  for (i = 0; i <= levels + 1; i++) {
    uint8_t tag = i < levels    ? 0x1a  /* DescriptorProto.nested_type */
                  : i == levels ? 0x22  /* FileDescriptorProto.message_type */
                                : 0x7a; /* CodeGeneratorRequest.proto_file */
    uint8_t varint[10];
    size_t n = 0, v = cap - pos;
    do {
      varint[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
      v >>= 7;
    } while (v > 0);
    pos -= n;
    memcpy(buf + pos, varint, n);
    buf[--pos] = tag;
  }
  expect_stderr("messages nested 100000 deep", buf + pos, cap - pos,
                "cannot decode");
  free(buf);
}

static void test_requests(void) {
  file_spec s;
  Response *resp;
  size_t len;
  uint8_t *buf;

  buf = pack_request(&good, &len);
  resp = expect_response("a good request", buf, len);
  free(buf);
  if (resp != NULL) {
    CHECK(resp->error == NULL && resp->n_file == 2 &&
              strcmp(resp->file[0]->name, "ok.tern.h") == 0 &&
              strcmp(resp->file[1]->name, "ok.tern.c") == 0,
          "a good request gives ok.tern.h and ok.tern.c");
    CHECK(resp->n_file == 2 && resp->file[0]->content != NULL &&
              strstr(resp->file[0]->content, "} P__SServicer;") != NULL &&
              strstr(resp->file[1]->content, "\"/p.S/N\"") != NULL,
          "the good request's files declare P__SServicer and /p.S/N");
    CHECK(resp->has_supported_features && resp->supported_features == 1,
          "supported_features says proto3 optional (got %llu)",
          (unsigned long long)resp->supported_features);
    google__protobuf__compiler__code_generator_response__free_unpacked(resp,
                                                                       NULL);
  }

  s = good;
  s.service = NULL;
  buf = pack_request(&s, &len);
  resp = expect_response("a file without services", buf, len);
  free(buf);
  if (resp != NULL) {
    CHECK(resp->error == NULL && resp->n_file == 0,
          "a file without services gives no files and no error");
    google__protobuf__compiler__code_generator_response__free_unpacked(resp,
                                                                       NULL);
  }

  s = good;
  s.methods[0].in = ".p.Missing";
  error_case("an undefined input type", &s, "unknown input type '.p.Missing'");
  s = good;
  s.methods[1].out = ".q.A";
  error_case("an output type in an unknown package", &s,
             "unknown output type '.q.A'");
  s = good;
  s.methods[0].in = "A";
  error_case("a type name without its package", &s, "not fully qualified");
  s = good;
  s.methods[0].in = NULL;
  error_case("a method without an input type", &s, "has no input type");
  s = good;
  s.to_generate = "elsewhere.proto";
  error_case("a file to generate that the request lacks", &s,
             "elsewhere.proto: asked to generate it");
  s = good;
  s.parameter = "paths=source_relative";
  error_case("a generator option", &s, "takes no options");

  s = good;
  s.methods[1].name = "m";
  s.methods[1].in = ".p.A";
  s.methods[1].out = ".p.B";
  s.methods[1].client_streaming = s.methods[1].server_streaming = 0;
  s.methods[0].name = "M";
  error_case("methods M and m (same C names)", &s,
             "name collision: 'P__S__TERN_M'");
  s = good;
  s.methods[0].name = "Go";
  s.methods[1].name = "GoAsync";
  s.methods[1].client_streaming = s.methods[1].server_streaming = 0;
  error_case("methods Go and GoAsync", &s, "'p__s_stub__go_async'");
  s = good;
  s.messages[2] = "SStub";
  error_case("a message named like the stub type", &s,
             "'P__SStub' would be both protobuf-c's code for message p.SStub");
  s = good;
  s.methods[1].name = "TernService";
  error_case("a method named like the service object", &s,
             "'p__s__tern_service'");

  s = good;
  s.service = "bad-name";
  error_case("an invalid service name", &s,
             "service 'bad-name': not a valid identifier");
  s = good;
  s.methods[0].name = "";
  error_case("an empty method name", &s,
             "method '' of service p.S: not a valid identifier");
  s = good;
  s.package = "a..b";
  error_case("an invalid package", &s, "invalid package name 'a..b'");
  s = good;
  s.messages[1] = NULL;
  s.messages[0] = "9lives";
  error_case("an invalid message name", &s,
             "message '9lives' in p: not a valid identifier");
  s = good;
  s.name = "x\".proto";
  error_case("a file name with a quote", &s, "file name has characters");
}

static void test_version(void) {
  result r;
  run("", 0, "--version", &r);
  CHECK(r.code == 0 && strncmp((char *)r.out, "protoc-gen-tern ", 16) == 0,
        "--version prints the version (%s)", (char *)r.out);
  result_free(&r);
}

/* Random damage to a good request: whatever happens, no crash, and exit 0
 * comes with a decodable response. */
static void test_mutations(void) {
  size_t len, i;
  uint8_t *good_buf = pack_request(&good, &len);
  uint8_t *buf = malloc(len + 16);
  uint32_t seed = 12345;
  int crashes = 0, bad_exits = 0, errors = 0, ok = 0;
  const int runs = 200;
  int k;

  for (k = 0; k < runs; k++) {
    size_t n = len, flips;
    result r;
    memcpy(buf, good_buf, len);
    seed = seed * 1103515245u + 12345u;
    flips = 1 + (seed >> 16) % 4;
    for (i = 0; i < flips; i++) {
      seed = seed * 1103515245u + 12345u;
      buf[(seed >> 8) % n] ^= (uint8_t)(1u << ((seed >> 4) % 8));
    }
    if (k % 5 == 0)
      n -= (seed >> 20) % (n / 2);
    run(buf, n, NULL, &r);
    if (r.signaled) {
      crashes++;
      printf("FAIL: mutation %d crashed the plugin (signal %d)\n", k, r.sig);
    } else if (r.code == 1) {
      errors++;
    } else if (r.code == 0) {
      Response *resp =
          google__protobuf__compiler__code_generator_response__unpack(
              NULL, r.out_len, r.out);
      if (resp == NULL)
        bad_exits++;
      else
        ok++;
      if (resp != NULL)
        google__protobuf__compiler__code_generator_response__free_unpacked(
            resp, NULL);
    } else {
      bad_exits++;
      printf("FAIL: mutation %d: exit %d, stderr: %s\n", k, r.code, r.err);
    }
    result_free(&r);
  }
  CHECK(crashes == 0 && bad_exits == 0,
        "%d damaged requests: %d responses, %d decode errors, %d crashes, "
        "%d bad exits",
        runs, ok, errors, crashes, bad_exits);
  free(buf);
  free(good_buf);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s PATH/TO/protoc-gen-tern\n", argv[0]);
    return 2;
  }
  plugin = argv[1];
  test_undecodable();
  test_deep_nesting();
  test_requests();
  test_version();
  test_mutations();
  if (failures > 0) {
    printf("%d check(s) failed\n", failures);
    return 1;
  }
  printf("all checks passed\n");
  return 0;
}
