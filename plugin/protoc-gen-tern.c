/* protoc-gen-tern: the protoc plugin that writes tern service code
 * (NAME.tern.h and NAME.tern.c). protoc writes a CodeGeneratorRequest to
 * our stdin and reads a CodeGeneratorResponse from our stdout. */
#include "plugin_int.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef TERN_PLUGIN_VERSION
#define TERN_PLUGIN_VERSION "0"
#endif

/* protoc's requests are a few MiB at most; this only stops a runaway. */
#define INPUT_LIMIT ((size_t)256 << 20)
/* protobuf-c decodes recursively; the C++ protobuf parser stops at 100
 * levels too, so no real request comes near. */
#define MAX_DEPTH 100

typedef Google__Protobuf__Compiler__CodeGeneratorResponse pg_response;
typedef Google__Protobuf__Compiler__CodeGeneratorResponse__File pg_out_file;

static void usage(FILE *out) {
  fputs("protoc-gen-tern " TERN_PLUGIN_VERSION
        ": the protoc plugin for tern (gRPC for C).\n"
        "It is run by protoc, not by hand:\n"
        "  protoc -I protos --c_out=gen --tern_out=gen "
        "--plugin=protoc-gen-tern=PATH protos/x.proto\n"
        "writes gen/x.tern.h and gen/x.tern.c (service code) beside "
        "protoc-c's\ngen/x.pb-c.h and gen/x.pb-c.c (messages).\n",
        out);
}

/* Reads all of stdin. Returns 0, or -1 after printing why. */
static int read_input(uint8_t **data_out, size_t *len_out) {
  size_t cap = 1 << 16, len = 0;
  uint8_t *data = pg_xmalloc(cap);
  for (;;) {
    size_t n;
    if (len == cap) {
      if (cap >= INPUT_LIMIT) {
        fprintf(stderr, "protoc-gen-tern: input larger than %zu MiB\n",
                INPUT_LIMIT >> 20);
        free(data);
        return -1;
      }
      cap *= 2;
      data = pg_xrealloc(data, cap);
    }
    n = fread(data + len, 1, cap - len, stdin);
    len += n;
    if (n == 0) {
      if (ferror(stdin)) {
        perror("protoc-gen-tern: reading stdin");
        free(data);
        return -1;
      }
      break;
    }
  }
  *data_out = data;
  *len_out = len;
  return 0;
}

static int get_varint(const uint8_t **p, const uint8_t *end, uint64_t *out) {
  uint64_t v = 0;
  unsigned shift;
  for (shift = 0; shift < 64 && *p < end; shift += 7) {
    uint8_t b = *(*p)++;
    v |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *out = v;
      return 0;
    }
  }
  return -1;
}

/* Walks the wire format of a message of type desc, following the fields
 * that hold messages, and fails on malformed framing or nesting deeper than
 * MAX_DEPTH. protobuf-c's unpack recurses without a limit, so this keeps a
 * hostile input from overflowing the stack. */
static int check_wire(const ProtobufCMessageDescriptor *desc, const uint8_t *p,
                      const uint8_t *end, int depth) {
  if (depth > MAX_DEPTH)
    return -1;
  while (p < end) {
    uint64_t key, v;
    if (get_varint(&p, end, &key) != 0 || (key >> 3) == 0 ||
        (key >> 3) > 0x1fffffff)
      return -1;
    switch (key & 7) {
    case 0:
      if (get_varint(&p, end, &v) != 0)
        return -1;
      break;
    case 1:
      if (end - p < 8)
        return -1;
      p += 8;
      break;
    case 5:
      if (end - p < 4)
        return -1;
      p += 4;
      break;
    case 2: {
      const ProtobufCFieldDescriptor *f;
      if (get_varint(&p, end, &v) != 0 || v > (uint64_t)(end - p))
        return -1;
      f = desc ? protobuf_c_message_descriptor_get_field(desc,
                                                         (unsigned)(key >> 3))
               : NULL;
      if (f != NULL && f->type == PROTOBUF_C_TYPE_MESSAGE &&
          check_wire(f->descriptor, p, p + v, depth + 1) != 0)
        return -1;
      p += v;
      break;
    }
    default: /* groups: not in descriptor.proto or plugin.proto */
      return -1;
    }
  }
  return 0;
}

static int write_output(const uint8_t *data, size_t len) {
  if (fwrite(data, 1, len, stdout) != len || fflush(stdout) != 0) {
    perror("protoc-gen-tern: writing the response to stdout");
    return -1;
  }
  return 0;
}

static pg_out_file *new_out_file(pg_arena *a, const char *name, char *content) {
  pg_out_file *f = pg_alloc(a, sizeof(*f));
  google__protobuf__compiler__code_generator_response__file__init(f);
  f->name = (char *)name;
  f->content = content;
  return f;
}

/* Runs the generator. Returns the process exit code. */
static int run(const pg_request *req) {
  pg_response resp = GOOGLE__PROTOBUF__COMPILER__CODE_GENERATOR_RESPONSE__INIT;
  pg_ctx ctx;
  pg_file *files;
  size_t n_files = 0, i;
  char **contents = NULL;
  uint8_t *packed;
  size_t len;
  int rc;

  pg_ctx_init(&ctx);
  /* Generated code is unaffected by proto3 `optional` (it only names
   * message types), so say we support it; protoc-c decides for itself. */
  resp.has_supported_features = 1;
  resp.supported_features =
      GOOGLE__PROTOBUF__COMPILER__CODE_GENERATOR_RESPONSE__FEATURE__FEATURE_PROTO3_OPTIONAL;

  if (pg_build(&ctx, req, &files, &n_files) != 0) {
    resp.error = ctx.error.data;
  } else {
    resp.n_file = 2 * n_files;
    resp.file = pg_alloc(&ctx.arena, (resp.n_file + 1) * sizeof(pg_out_file *));
    contents = pg_alloc(&ctx.arena, (resp.n_file + 1) * sizeof(char *));
    for (i = 0; i < n_files; i++) {
      pg_sb h = PG_SB_INIT, c = PG_SB_INIT;
      pg_emit_header(&files[i], &h);
      pg_emit_source(&files[i], &c);
      contents[2 * i] = pg_sb_take(&h);
      contents[2 * i + 1] = pg_sb_take(&c);
      resp.file[2 * i] = new_out_file(
          &ctx.arena, pg_printf(&ctx.arena, "%s.tern.h", files[i].base),
          contents[2 * i]);
      resp.file[2 * i + 1] = new_out_file(
          &ctx.arena, pg_printf(&ctx.arena, "%s.tern.c", files[i].base),
          contents[2 * i + 1]);
    }
  }

  len = google__protobuf__compiler__code_generator_response__get_packed_size(
      &resp);
  packed = pg_xmalloc(len);
  google__protobuf__compiler__code_generator_response__pack(&resp, packed);
  rc = write_output(packed, len) == 0 ? 0 : 1;

  free(packed);
  for (i = 0; contents != NULL && i < resp.n_file; i++)
    free(contents[i]);
  pg_ctx_free(&ctx);
  return rc;
}

int main(int argc, char **argv) {
  uint8_t *data;
  size_t len;
  pg_request *req;
  int rc;

  if (argc > 1) {
    if (strcmp(argv[1], "--version") == 0) {
      puts("protoc-gen-tern " TERN_PLUGIN_VERSION);
      return 0;
    }
    usage(strcmp(argv[1], "--help") == 0 ? stdout : stderr);
    return strcmp(argv[1], "--help") == 0 ? 0 : 1;
  }
  if (isatty(STDIN_FILENO)) {
    usage(stderr);
    return 1;
  }
  if (read_input(&data, &len) != 0)
    return 1;
  if (len == 0) {
    fputs("protoc-gen-tern: empty input: expected a CodeGeneratorRequest "
          "from protoc on stdin\n",
          stderr);
    free(data);
    return 1;
  }
  req = NULL;
  if (check_wire(
          &google__protobuf__compiler__code_generator_request__descriptor, data,
          data + len, 0) == 0)
    req = google__protobuf__compiler__code_generator_request__unpack(NULL, len,
                                                                     data);
  free(data);
  if (req == NULL) {
    fprintf(stderr,
            "protoc-gen-tern: cannot decode a CodeGeneratorRequest from "
            "stdin (%zu bytes; malformed, or nested deeper than %d levels). "
            "Run this plugin through protoc.\n",
            len, MAX_DEPTH);
    return 1;
  }
  rc = run(req);
  google__protobuf__compiler__code_generator_request__free_unpacked(req, NULL);
  return rc;
}
