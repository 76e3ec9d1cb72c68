/* protoc-gen-tern: turns a CodeGeneratorRequest into the model the emitters
 * print: every message type resolved to protobuf-c's C names, every
 * service and method named, and no two generated names alike. */
#include "plugin_int.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Where a name lives decides what it can clash with. */
typedef enum name_space {
  NS_GLOBAL, /* external identifiers and macros */
  NS_STATIC, /* file-scope statics of one .tern.c (scope = that file) */
  NS_MEMBER  /* members of one servicer struct (scope = the service) */
} name_space;

struct pg_name {
  const char *name;
  const char *what;  /* "the stub type of service a.B", for errors */
  const char *owner; /* "service a.B": collisions are reported per pair */
  const char *scope;
  name_space ns;
  int ours; /* 0: protobuf-c makes it, we only must not clash with it */
};

/* Errors after this many are dropped: one screen is enough to act on. */
#define MAX_ERRORS 20

void pg_ctx_init(pg_ctx *ctx) { memset(ctx, 0, sizeof(*ctx)); }

void pg_ctx_free(pg_ctx *ctx) {
  pg_arena_free(&ctx->arena);
  pg_sb_free(&ctx->error);
  free(ctx->types);
  free(ctx->names);
  memset(ctx, 0, sizeof(*ctx));
}

static size_t count_lines(const pg_sb *b) {
  size_t i, n = b->len > 0;
  for (i = 0; i < b->len; i++)
    n += b->data[i] == '\n';
  return n;
}

void pg_fail(pg_ctx *ctx, const char *fmt, ...) {
  va_list ap;
  size_t lines = count_lines(&ctx->error);
  if (lines > MAX_ERRORS)
    return;
  if (ctx->error.len > 0)
    pg_sb_putc(&ctx->error, '\n');
  if (lines == MAX_ERRORS) {
    pg_sb_puts(&ctx->error, "(more errors not shown)");
    return;
  }
  va_start(ap, fmt);
  pg_sb_vprintf(&ctx->error, fmt, ap);
  va_end(ap);
}

static const char *str_or_empty(const char *s) { return s ? s : ""; }

/* ---- protobuf-c's (pb_c_file).c_package option --------------------- */

/* protoc sends options it knows as extensions; protobuf-c's generated
 * FileOptions keeps them as unknown fields. pb_c_file is field 1019 of
 * FileOptions, c_package field 6 of ProtobufCFileOptions
 * (protobuf-c/protobuf-c.proto). */
#define PB_C_FILE_FIELD 1019u
#define C_PACKAGE_FIELD 6u

static int read_varint(const uint8_t **p, const uint8_t *end, uint64_t *out) {
  uint64_t v = 0;
  unsigned shift;
  for (shift = 0; shift < 64 && *p < end; shift += 7) {
    uint8_t byte = *(*p)++;
    v |= (uint64_t)(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) {
      *out = v;
      return 0;
    }
  }
  return -1;
}

/* Finds c_package in one ProtobufCFileOptions message. *found_out is set
 * (to an arena copy) when present; later occurrences win, as in protobuf
 * merging. Returns -1 on malformed bytes. */
static int scan_pb_c_file_options(pg_arena *a, const uint8_t *p,
                                  const uint8_t *end, const char **found_out) {
  while (p < end) {
    uint64_t key, v;
    if (read_varint(&p, end, &key) != 0)
      return -1;
    switch (key & 7) {
    case 0:
      if (read_varint(&p, end, &v) != 0)
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
    case 2:
      if (read_varint(&p, end, &v) != 0 || v > (uint64_t)(end - p))
        return -1;
      if ((key >> 3) == C_PACKAGE_FIELD) {
        if (memchr(p, '\0', (size_t)v) != NULL)
          return -1;
        *found_out = pg_strndup(a, (const char *)p, (size_t)v);
      }
      p += v;
      break;
    default:
      return -1;
    }
  }
  return 0;
}

/* The file's c_package, or NULL when it sets none. */
static int file_c_package(pg_ctx *ctx, const pg_file_proto *fp,
                          const char **c_package_out) {
  const ProtobufCMessage *opts = (const ProtobufCMessage *)fp->options;
  unsigned i;
  *c_package_out = NULL;
  if (opts == NULL)
    return 0;
  for (i = 0; i < opts->n_unknown_fields; i++) {
    const ProtobufCMessageUnknownField *u = &opts->unknown_fields[i];
    const uint8_t *p = u->data;
    const uint8_t *end = u->data + u->len;
    uint64_t len;
    if (u->tag != PB_C_FILE_FIELD ||
        u->wire_type != PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED)
      continue;
    /* The stored bytes start with the length prefix. */
    if (read_varint(&p, end, &len) != 0 || len != (uint64_t)(end - p) ||
        scan_pb_c_file_options(&ctx->arena, p, end, c_package_out) != 0) {
      pg_fail(ctx, "%s: malformed (pb_c_file) option", fp->name);
      return -1;
    }
  }
  if (*c_package_out != NULL && (*c_package_out)[0] != '\0' &&
      !pg_is_dotted_identifier(*c_package_out)) {
    pg_fail(ctx, "%s: (pb_c_file).c_package \"%s\" is not a dotted name",
            fp->name, *c_package_out);
    return -1;
  }
  return 0;
}

/* protobuf-c's OverrideFullName: the name C code is derived from, with the
 * package replaced by c_package when the file sets one. full_name has no
 * leading dot and starts with the package. */
static const char *c_full_name(pg_arena *a, const char *full_name,
                               const char *package, const char *c_package) {
  size_t plen = strlen(package);
  if (c_package == NULL)
    return full_name;
  if (plen == 0)
    return pg_printf(a, "%s.%s", c_package, full_name);
  return pg_printf(a, "%s%s", c_package, full_name + plen);
}

/* ---- generated-name bookkeeping -------------------------------------- */

static void add_name(pg_ctx *ctx, const char *name, name_space ns,
                     const char *scope, int ours, const char *what) {
  pg_name *n;
  if (ctx->n_names == ctx->cap_names) {
    ctx->cap_names = ctx->cap_names ? 2 * ctx->cap_names : 256;
    if (ctx->cap_names > SIZE_MAX / sizeof(pg_name))
      pg_oom();
    ctx->names = pg_xrealloc(ctx->names, ctx->cap_names * sizeof(pg_name));
  }
  n = &ctx->names[ctx->n_names++];
  n->name = name;
  n->ns = ns;
  n->scope = scope;
  n->ours = ours;
  n->what = what;
  n->owner = ctx->owner ? ctx->owner : "";
}

/* The names protoc-c 1.4.1 itself writes for a message (c_message.cc). */
static void add_protobuf_c_message_names(pg_ctx *ctx, const pg_type *t,
                                         const char *upper) {
  static const char *const fns[] = {
      "__descriptor",     "__init",   "__get_packed_size", "__pack",
      "__pack_to_buffer", "__unpack", "__free_unpacked"};
  pg_arena *a = &ctx->arena;
  const char *what =
      pg_printf(a, "protobuf-c's code for message %s", t->full_name + 1);
  size_t i;
  ctx->owner = what;
  add_name(ctx, t->c_name, NS_GLOBAL, NULL, 0, what);
  add_name(ctx, pg_printf(a, "%s_Closure", t->c_name), NS_GLOBAL, NULL, 0,
           what);
  add_name(ctx, pg_printf(a, "%s__INIT", upper), NS_GLOBAL, NULL, 0, what);
  for (i = 0; i < sizeof(fns) / sizeof(fns[0]); i++)
    add_name(ctx, pg_printf(a, "%s%s", t->lower, fns[i]), NS_GLOBAL, NULL, 0,
             what);
}

static void add_protobuf_c_enum_names(pg_ctx *ctx, const char *cfull,
                                      const char *full) {
  pg_arena *a = &ctx->arena;
  const char *what = pg_printf(a, "protobuf-c's code for enum %s", full);
  ctx->owner = what;
  add_name(ctx, pg_full_name_to_c(a, cfull), NS_GLOBAL, NULL, 0, what);
  add_name(ctx, pg_printf(a, "%s__descriptor", pg_full_name_to_lower(a, cfull)),
           NS_GLOBAL, NULL, 0, what);
}

/* protoc-c's service code (c_service.cc): a generic RPC interface that
 * lives in NAME.pb-c.h beside ours. */
static void add_protobuf_c_service_names(pg_ctx *ctx,
                                         const pg_service_proto *sp,
                                         const char *cfull, const char *full) {
  pg_arena *a = &ctx->arena;
  const char *what = pg_printf(a, "protobuf-c's code for service %s", full);
  const char *c = pg_full_name_to_c(a, cfull);
  const char *lower = pg_full_name_to_lower(a, cfull);
  const char *upper = pg_full_name_to_upper(a, cfull);
  size_t i;
  ctx->owner = what;
  add_name(ctx, pg_printf(a, "%s_Service", c), NS_GLOBAL, NULL, 0, what);
  add_name(ctx, pg_printf(a, "%s_ServiceDestroy", c), NS_GLOBAL, NULL, 0, what);
  add_name(ctx, pg_printf(a, "%s__init", lower), NS_GLOBAL, NULL, 0, what);
  add_name(ctx, pg_printf(a, "%s__descriptor", lower), NS_GLOBAL, NULL, 0,
           what);
  add_name(ctx, pg_printf(a, "%s__BASE_INIT", upper), NS_GLOBAL, NULL, 0, what);
  add_name(ctx, pg_printf(a, "%s__INIT", upper), NS_GLOBAL, NULL, 0, what);
  for (i = 0; i < sp->n_method; i++) {
    const char *m = sp->method[i] ? sp->method[i]->name : NULL;
    if (pg_is_identifier(m))
      add_name(ctx, pg_printf(a, "%s__%s", lower, pg_camel_to_lower(a, m)),
               NS_GLOBAL, NULL, 0, what);
  }
}

static int compare_names(const void *x, const void *y) {
  const pg_name *a = x, *b = y;
  return strcmp(a->name, b->name);
}

static int clash(const pg_name *a, const pg_name *b) {
  if (!a->ours && !b->ours)
    return 0; /* protobuf-c's own business */
  if (a->ns == NS_MEMBER || b->ns == NS_MEMBER)
    return a->ns == b->ns && strcmp(a->scope, b->scope) == 0;
  if (a->ns == NS_STATIC && b->ns == NS_STATIC)
    return strcmp(a->scope, b->scope) == 0;
  return 1;
}

/* One report per pair of clashing owners: two methods whose names mangle
 * alike clash in a dozen generated names, and the user needs one line. */
typedef struct clash_pair {
  const pg_name *a, *b; /* the first clashing names, in name order */
  size_t count;
} clash_pair;

static int same_owners(const clash_pair *p, const pg_name *a,
                       const pg_name *b) {
  return (strcmp(p->a->owner, a->owner) == 0 &&
          strcmp(p->b->owner, b->owner) == 0) ||
         (strcmp(p->a->owner, b->owner) == 0 &&
          strcmp(p->b->owner, a->owner) == 0);
}

static int check_collisions(pg_ctx *ctx) {
  clash_pair *pairs = NULL;
  size_t n_pairs = 0, i, j, start;
  if (ctx->n_names == 0)
    return 0;
  qsort(ctx->names, ctx->n_names, sizeof(pg_name), compare_names);
  for (start = 0; start < ctx->n_names; start = i) {
    for (i = start + 1; i < ctx->n_names &&
                        strcmp(ctx->names[i].name, ctx->names[start].name) == 0;
         i++)
      ;
    for (j = start; j < i; j++) {
      size_t k, p;
      for (k = j + 1; k < i; k++) {
        const pg_name *a = &ctx->names[j], *b = &ctx->names[k];
        if (!clash(a, b))
          continue;
        /* protobuf-c's name first reads better: "X is made by ...". */
        if (a->ours && !b->ours) {
          const pg_name *t = a;
          a = b;
          b = t;
        }
        for (p = 0; p < n_pairs && !same_owners(&pairs[p], a, b); p++)
          ;
        if (p == n_pairs) {
          pairs = pg_xrealloc(pairs, (n_pairs + 1) * sizeof(clash_pair));
          pairs[p].a = a;
          pairs[p].b = b;
          pairs[p].count = 0;
          n_pairs++;
        }
        pairs[p].count++;
      }
    }
  }
  for (i = 0; i < n_pairs; i++) {
    if (pairs[i].count > 1)
      pg_fail(ctx,
              "name collision: '%s' would be both %s and %s (and %zu more "
              "names clash between these two); rename one of them in the "
              ".proto",
              pairs[i].a->name, pairs[i].a->what, pairs[i].b->what,
              pairs[i].count - 1);
    else
      pg_fail(ctx,
              "name collision: '%s' would be both %s and %s; rename one of "
              "them in the .proto",
              pairs[i].a->name, pairs[i].a->what, pairs[i].b->what);
  }
  free(pairs);
  return n_pairs > 0 ? -1 : 0;
}

/* ---- message types ----------------------------------------------------- */

static pg_type *new_type(pg_ctx *ctx) {
  if (ctx->n_types == ctx->cap_types) {
    ctx->cap_types = ctx->cap_types ? 2 * ctx->cap_types : 64;
    if (ctx->cap_types > SIZE_MAX / sizeof(pg_type))
      pg_oom();
    ctx->types = pg_xrealloc(ctx->types, ctx->cap_types * sizeof(pg_type));
  }
  return &ctx->types[ctx->n_types++];
}

typedef struct file_info {
  const char *name;
  const char *package;   /* "" when none */
  const char *c_package; /* NULL when none */
} file_info;

static int add_enums(pg_ctx *ctx, const file_info *fi, const char *scope,
                     size_t n, Google__Protobuf__EnumDescriptorProto **enums) {
  size_t i;
  for (i = 0; i < n; i++) {
    const char *name = enums[i] ? enums[i]->name : NULL;
    const char *full;
    if (!pg_is_identifier(name)) {
      pg_fail(ctx, "%s: enum '%s' in %s: not a valid identifier", fi->name,
              name ? name : "", scope[0] ? scope : "file scope");
      return -1;
    }
    full = scope[0] ? pg_printf(&ctx->arena, "%s.%s", scope, name) : name;
    add_protobuf_c_enum_names(
        ctx, c_full_name(&ctx->arena, full, fi->package, fi->c_package), full);
  }
  return 0;
}

/* scope: "pkg.Outer" without a leading dot, "" at the top of a file with
 * no package. The request was checked for nesting depth before decoding,
 * so this recursion is bounded. */
static int add_messages(pg_ctx *ctx, const file_info *fi, const char *scope,
                        size_t n, pg_message_proto **msgs) {
  pg_arena *a = &ctx->arena;
  size_t i;
  for (i = 0; i < n; i++) {
    const pg_message_proto *m = msgs[i];
    const char *full, *cfull;
    pg_type *t;
    if (m == NULL || !pg_is_identifier(m->name)) {
      pg_fail(ctx, "%s: message '%s' in %s: not a valid identifier", fi->name,
              m && m->name ? m->name : "", scope[0] ? scope : "file scope");
      return -1;
    }
    full = scope[0] ? pg_printf(a, "%s.%s", scope, m->name) : m->name;
    cfull = c_full_name(a, full, fi->package, fi->c_package);
    t = new_type(ctx);
    t->full_name = pg_printf(a, ".%s", full);
    t->c_name = pg_full_name_to_c(a, cfull);
    t->lower = pg_full_name_to_lower(a, cfull);
    t->package = fi->package;
    t->file = fi->name;
    add_protobuf_c_message_names(ctx, t, pg_full_name_to_upper(a, cfull));
    if (add_messages(ctx, fi, full, m->n_nested_type, m->nested_type) != 0 ||
        add_enums(ctx, fi, full, m->n_enum_type, m->enum_type) != 0)
      return -1;
  }
  return 0;
}

static const pg_type *find_type(const pg_ctx *ctx, const char *full_name) {
  size_t i;
  for (i = 0; i < ctx->n_types; i++)
    if (strcmp(ctx->types[i].full_name, full_name) == 0)
      return &ctx->types[i];
  return NULL;
}

/* "Point" inside the same package, "other.pkg.Point" elsewhere. */
static const char *shown_name(pg_arena *a, const pg_type *t,
                              const char *package) {
  const char *full = t->full_name + 1;
  size_t plen = strlen(package);
  if (plen > 0 && strcmp(t->package, package) == 0 &&
      strncmp(full, package, plen) == 0 && full[plen] == '.')
    return pg_strdup(a, full + plen + 1);
  return pg_strdup(a, full);
}

/* ---- services ---------------------------------------------------------- */

static int check_file_name(pg_ctx *ctx, const char *name) {
  size_t i;
  if (name[0] == '\0') {
    pg_fail(ctx, "a file to generate has an empty name");
    return -1;
  }
  for (i = 0; name[i] != '\0'; i++) {
    unsigned char c = (unsigned char)name[i];
    /* The name goes into #include "..." and comments. */
    if (c < 0x20 || c == 0x7f || c == '"' || c == '\\' ||
        (c == '*' && name[i + 1] == '/') || (c == '/' && name[i + 1] == '*')) {
      pg_fail(ctx, "%s: file name has characters generated C cannot include",
              name);
      return -1;
    }
  }
  return 0;
}

static const pg_type *resolve(pg_ctx *ctx, const pg_file *f,
                              const pg_service *s, const char *method,
                              const char *which, const char *type_name) {
  const pg_type *t;
  if (type_name == NULL || type_name[0] == '\0') {
    pg_fail(ctx, "%s: method %s.%s has no %s type", f->proto_name, s->full_name,
            method, which);
    return NULL;
  }
  if (type_name[0] != '.') {
    pg_fail(ctx,
            "%s: method %s.%s: %s type '%s' is not fully qualified (protoc "
            "always sends '.package.Message')",
            f->proto_name, s->full_name, method, which, type_name);
    return NULL;
  }
  t = find_type(ctx, type_name);
  if (t == NULL)
    pg_fail(ctx,
            "%s: method %s.%s: unknown %s type '%s' (not a message defined "
            "in the file or its imports)",
            f->proto_name, s->full_name, method, which, type_name);
  return t;
}

static const char *const kind_names[] = {"unary", "server-streaming",
                                         "client-streaming", "bidi-streaming"};

static void add_method_names(pg_ctx *ctx, const pg_file *f, const pg_service *s,
                             const pg_method *m) {
  pg_arena *a = &ctx->arena;
  const char *p = s->fn_prefix;
  const char *l = m->lower;
  const char *ref =
      pg_printf(a, "method %s of service %s", m->name, s->full_name);
  const char *servicer = pg_printf(a, "%s servicer", s->full_name);
  ctx->owner = ref;
#define FORM(suffix)                                                           \
  pg_printf(a, "the %s %s of %s", kind_names[m->kind], suffix, ref)
  add_name(ctx, m->macro, NS_GLOBAL, NULL, 1, FORM("method macro"));
  add_name(ctx, m->member, NS_MEMBER, servicer, 1, FORM("handler member"));
  add_name(ctx, m->invoke, NS_STATIC, f->proto_name, 1,
           FORM("server trampoline"));
  add_name(ctx, pg_printf(a, "%s_stub__%s", p, l), NS_GLOBAL, NULL, 1,
           FORM("stub function"));
  switch (m->kind) {
  case PG_UNARY:
    add_name(ctx, pg_printf(a, "%s_stub__%s_async", p, l), NS_GLOBAL, NULL, 1,
             FORM("async stub"));
    add_name(ctx, pg_printf(a, "%s_stub__%s_future", p, l), NS_GLOBAL, NULL, 1,
             FORM("future stub"));
    add_name(ctx, pg_printf(a, "%s_stub__%s_result", p, l), NS_GLOBAL, NULL, 1,
             FORM("future result stub"));
    break;
  case PG_SERVER_STREAMING:
    add_name(ctx, pg_printf(a, "%s_stub__%s_read", p, l), NS_GLOBAL, NULL, 1,
             FORM("stub read"));
    add_name(ctx, pg_printf(a, "%s_servicer__%s_write", p, l), NS_GLOBAL, NULL,
             1, FORM("servicer write"));
    break;
  case PG_CLIENT_STREAMING:
    add_name(ctx, pg_printf(a, "%s_stub__%s_write", p, l), NS_GLOBAL, NULL, 1,
             FORM("stub write"));
    add_name(ctx, pg_printf(a, "%s_stub__%s_close_and_recv", p, l), NS_GLOBAL,
             NULL, 1, FORM("stub close_and_recv"));
    add_name(ctx, pg_printf(a, "%s_stub__%s_future", p, l), NS_GLOBAL, NULL, 1,
             FORM("future stub"));
    add_name(ctx, pg_printf(a, "%s_stub__%s_result", p, l), NS_GLOBAL, NULL, 1,
             FORM("future result stub"));
    add_name(ctx, pg_printf(a, "%s_servicer__%s_read", p, l), NS_GLOBAL, NULL,
             1, FORM("servicer read"));
    break;
  case PG_BIDI_STREAMING:
    add_name(ctx, pg_printf(a, "%s_stub__%s_read", p, l), NS_GLOBAL, NULL, 1,
             FORM("stub read"));
    add_name(ctx, pg_printf(a, "%s_stub__%s_write", p, l), NS_GLOBAL, NULL, 1,
             FORM("stub write"));
    add_name(ctx, pg_printf(a, "%s_servicer__%s_read", p, l), NS_GLOBAL, NULL,
             1, FORM("servicer read"));
    add_name(ctx, pg_printf(a, "%s_servicer__%s_write", p, l), NS_GLOBAL, NULL,
             1, FORM("servicer write"));
    break;
  }
#undef FORM
}

static void add_service_names(pg_ctx *ctx, const pg_service *s) {
  pg_arena *a = &ctx->arena;
  const char *of = pg_printf(a, "service %s", s->full_name);
  ctx->owner = of;
#define WHAT(x) pg_printf(a, "the %s of %s", x, of)
  add_name(ctx, pg_printf(a, "%sServicer", s->type_prefix), NS_GLOBAL, NULL, 1,
           WHAT("servicer type"));
  add_name(ctx, pg_printf(a, "%s_SERVICER__INIT", s->macro_prefix), NS_GLOBAL,
           NULL, 1, WHAT("servicer initialiser"));
  add_name(ctx, s->add_fn, NS_GLOBAL, NULL, 1, WHAT("registration function"));
  add_name(ctx, pg_printf(a, "%s__tern_service", s->fn_prefix), NS_GLOBAL, NULL,
           1, WHAT("service object"));
  add_name(ctx, pg_printf(a, "%s__tern_methods", s->fn_prefix), NS_GLOBAL, NULL,
           1, WHAT("method table"));
  add_name(ctx, pg_printf(a, "%sStub", s->type_prefix), NS_GLOBAL, NULL, 1,
           WHAT("stub type"));
  add_name(ctx, pg_printf(a, "%s_stub_init", s->fn_prefix), NS_GLOBAL, NULL, 1,
           WHAT("stub initialiser"));
#undef WHAT
}

static int build_service(pg_ctx *ctx, pg_file *f, const file_info *fi,
                         const pg_service_proto *sp, pg_service *s) {
  pg_arena *a = &ctx->arena;
  const char *cfull, *pkg_lower, *svc_lower;
  size_t i;
  int bad = 0;

  if (sp == NULL || !pg_is_identifier(sp->name)) {
    pg_fail(ctx, "%s: service '%s': not a valid identifier", f->proto_name,
            sp && sp->name ? sp->name : "");
    return -1;
  }
  s->name = sp->name;
  s->full_name = f->package[0] ? pg_printf(a, "%s.%s", f->package, sp->name)
                               : pg_strdup(a, sp->name);
  cfull = c_full_name(a, s->full_name, f->package, fi->c_package);
  s->type_prefix = pg_full_name_to_c(a, cfull);
  s->fn_prefix = pg_full_name_to_lower(a, cfull);
  s->macro_prefix = pg_full_name_to_upper(a, cfull);
  pkg_lower =
      pg_full_name_to_lower(a, fi->c_package ? fi->c_package : f->package);
  svc_lower = pg_camel_to_lower(a, sp->name);
  s->add_fn = pg_printf(a, "%s%sadd_%s_servicer_to_server", pkg_lower,
                        pkg_lower[0] ? "__" : "", svc_lower);
  add_service_names(ctx, s);

  s->n_methods = sp->n_method;
  s->methods =
      pg_alloc(a, (sp->n_method ? sp->n_method : 1) * sizeof(pg_method));
  for (i = 0; i < sp->n_method; i++) {
    const pg_method_proto *mp = sp->method[i];
    pg_method *m = &s->methods[i];
    if (mp == NULL || !pg_is_identifier(mp->name)) {
      pg_fail(ctx, "%s: method '%s' of service %s: not a valid identifier",
              f->proto_name, mp && mp->name ? mp->name : "", s->full_name);
      bad = 1;
      continue;
    }
    m->name = mp->name;
    m->lower = pg_camel_to_lower(a, mp->name);
    m->member =
        pg_is_reserved(m->lower) ? pg_printf(a, "%s_", m->lower) : m->lower;
    m->upper = pg_camel_to_upper(a, mp->name);
    m->path = pg_printf(a, "/%s/%s", s->full_name, mp->name);
    m->macro = pg_printf(a, "%s__TERN_%s", s->macro_prefix, m->upper);
    m->invoke = pg_printf(a, "invoke_%s__%s", svc_lower, m->lower);
    m->kind = (pg_kind)((mp->client_streaming ? 2 : 0) |
                        (mp->server_streaming ? 1 : 0));
    m->in = resolve(ctx, f, s, mp->name, "input", mp->input_type);
    m->out = resolve(ctx, f, s, mp->name, "output", mp->output_type);
    if (m->in == NULL || m->out == NULL) {
      bad = 1;
      continue;
    }
    m->in_shown = shown_name(a, m->in, f->package);
    m->out_shown = shown_name(a, m->out, f->package);
    add_method_names(ctx, f, s, m);
  }
  return bad ? -1 : 0;
}

/* "custom/path/x.proto" -> "CUSTOM_PATH_X_PROTO". */
static const char *guard_for(pg_arena *a, const char *proto_name) {
  size_t n = strlen(proto_name), i;
  char *g = pg_alloc(a, n + 1);
  for (i = 0; i < n; i++) {
    char c = proto_name[i];
    if (c >= 'a' && c <= 'z')
      c = (char)(c - 'a' + 'A');
    else if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
      c = '_';
    g[i] = c;
  }
  g[n] = '\0';
  return pg_printf(a, "PROTOC_GEN_TERN_%s__INCLUDED", g);
}

/* protobuf-c's StripProto: output names drop ".protodevel" or ".proto". */
static const char *strip_proto(pg_arena *a, const char *name) {
  static const char *const suffixes[] = {".protodevel", ".proto"};
  size_t n = strlen(name), i;
  for (i = 0; i < 2; i++) {
    size_t k = strlen(suffixes[i]);
    if (n > k && strcmp(name + n - k, suffixes[i]) == 0)
      return pg_strndup(a, name, n - k);
  }
  return pg_strdup(a, name);
}

static const pg_file_proto *find_file(const pg_request *req, const char *name) {
  size_t i;
  for (i = 0; i < req->n_proto_file; i++)
    if (req->proto_file[i] && req->proto_file[i]->name &&
        strcmp(req->proto_file[i]->name, name) == 0)
      return req->proto_file[i];
  return NULL;
}

static int scan_file(pg_ctx *ctx, const pg_file_proto *fp, file_info *fi) {
  size_t i;
  if (fp == NULL || fp->name == NULL || fp->name[0] == '\0') {
    pg_fail(ctx, "the request holds a file without a name");
    return -1;
  }
  fi->name = fp->name;
  fi->package = str_or_empty(fp->package);
  if (fi->package[0] != '\0' && !pg_is_dotted_identifier(fi->package)) {
    pg_fail(ctx, "%s: invalid package name '%s'", fp->name, fi->package);
    return -1;
  }
  if (file_c_package(ctx, fp, &fi->c_package) != 0)
    return -1;
  if (add_messages(ctx, fi, fi->package, fp->n_message_type,
                   fp->message_type) != 0 ||
      add_enums(ctx, fi, fi->package, fp->n_enum_type, fp->enum_type) != 0)
    return -1;
  for (i = 0; i < fp->n_service; i++) {
    const pg_service_proto *sp = fp->service[i];
    const char *full;
    if (sp == NULL || !pg_is_identifier(sp->name))
      continue; /* reported by build_service if it is to be generated */
    full = fi->package[0]
               ? pg_printf(&ctx->arena, "%s.%s", fi->package, sp->name)
               : sp->name;
    add_protobuf_c_service_names(
        ctx, sp, c_full_name(&ctx->arena, full, fi->package, fi->c_package),
        full);
  }
  return 0;
}

int pg_build(pg_ctx *ctx, const pg_request *req, pg_file **files_out,
             size_t *n_files_out) {
  pg_arena *a = &ctx->arena;
  file_info *infos;
  pg_file *files;
  size_t n_files = 0, i;
  int bad = 0;

  *files_out = NULL;
  *n_files_out = 0;
  if (req->parameter != NULL && req->parameter[0] != '\0') {
    pg_fail(ctx, "protoc-gen-tern takes no options (got '%s')", req->parameter);
    return -1;
  }

  /* Every message of every file first: methods may name any of them. */
  infos = pg_alloc(a, (req->n_proto_file + 1) * sizeof(file_info));
  for (i = 0; i < req->n_proto_file; i++)
    if (scan_file(ctx, req->proto_file[i], &infos[i]) != 0)
      return -1;

  files = pg_alloc(a, (req->n_file_to_generate + 1) * sizeof(pg_file));
  for (i = 0; i < req->n_file_to_generate; i++) {
    const char *name = req->file_to_generate[i];
    const pg_file_proto *fp = find_file(req, name);
    const file_info *fi;
    pg_file *f;
    size_t k;
    if (fp == NULL) {
      pg_fail(ctx,
              "%s: asked to generate it, but the request has no "
              "descriptor for it",
              name);
      bad = 1;
      continue;
    }
    if (fp->n_service == 0)
      continue; /* messages only: protobuf-c's job */
    if (check_file_name(ctx, name) != 0) {
      bad = 1;
      continue;
    }
    fi = &infos[0];
    for (k = 0; k < req->n_proto_file; k++)
      if (req->proto_file[k] == fp)
        fi = &infos[k];
    f = &files[n_files++];
    f->proto_name = fp->name;
    f->base = strip_proto(a, fp->name);
    f->guard = guard_for(a, fp->name);
    f->package = fi->package;
    f->n_services = fp->n_service;
    f->services = pg_alloc(a, fp->n_service * sizeof(pg_service));
    memset(f->services, 0, fp->n_service * sizeof(pg_service));
    for (k = 0; k < fp->n_service; k++)
      if (build_service(ctx, f, fi, fp->service[k], &f->services[k]) != 0)
        bad = 1;
  }
  if (bad || check_collisions(ctx) != 0)
    return -1;
  *files_out = files;
  *n_files_out = n_files;
  return 0;
}
