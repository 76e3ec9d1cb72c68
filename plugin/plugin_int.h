/* protoc-gen-tern internals: memory, text buffers, protobuf-c name mangling,
 * the model built from a CodeGeneratorRequest, and the code emitters. */
#ifndef TERN_PLUGIN_INT_H
#define TERN_PLUGIN_INT_H

#include <stdarg.h>
#include <stddef.h>

#include "google/protobuf/compiler/plugin.pb-c.h"

typedef Google__Protobuf__Compiler__CodeGeneratorRequest pg_request;
typedef Google__Protobuf__FileDescriptorProto pg_file_proto;
typedef Google__Protobuf__DescriptorProto pg_message_proto;
typedef Google__Protobuf__ServiceDescriptorProto pg_service_proto;
typedef Google__Protobuf__MethodDescriptorProto pg_method_proto;

/* ---- memory: the plugin runs once and exits, so everything it makes
 * lives in one arena freed at the end. Out of memory ends the process with
 * a message (pg_oom), which is all a protoc plugin can usefully do. */

typedef struct pg_arena_block pg_arena_block;
typedef struct pg_arena {
  pg_arena_block *head;
} pg_arena;

void pg_oom(void);
void *pg_xmalloc(size_t n);
void *pg_xrealloc(void *p, size_t n);
void *pg_alloc(pg_arena *a, size_t n); /* zero-filled */
char *pg_strdup(pg_arena *a, const char *s);
char *pg_strndup(pg_arena *a, const char *s, size_t n);
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
char *
pg_printf(pg_arena *a, const char *fmt, ...);
void pg_arena_free(pg_arena *a);

/* ---- growable text (malloc'd; pg_sb_take hands the text over) ---- */

typedef struct pg_sb {
  char *data;
  size_t len;
  size_t cap;
} pg_sb;

#define PG_SB_INIT                                                             \
  { NULL, 0, 0 }

void pg_sb_putn(pg_sb *b, const char *s, size_t n);
void pg_sb_puts(pg_sb *b, const char *s);
void pg_sb_putc(pg_sb *b, char c);
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
void pg_sb_printf(pg_sb *b, const char *fmt, ...);
void pg_sb_vprintf(pg_sb *b, const char *fmt, va_list ap);
/* Column of the end of the text (characters since the last newline). */
size_t pg_sb_column(const pg_sb *b);
/* Returns the NUL-terminated text (never NULL) and empties the buffer. */
char *pg_sb_take(pg_sb *b);
void pg_sb_free(pg_sb *b);

/* ---- protobuf-c's name mangling (protoc-c/c_helpers.cc, 1.4.1) ---- */

/* "RouteGuide" -> "route_guide"; "HTTPServer" -> "httpserver". */
char *pg_camel_to_lower(pg_arena *a, const char *name);
/* "RouteGuide" -> "ROUTE_GUIDE". */
char *pg_camel_to_upper(pg_arena *a, const char *name);
/* "route_guide" -> "RouteGuide", "b_c" -> "BC". */
char *pg_to_camel(pg_arena *a, const char *name);
/* A dotted full name ("a.b.Outer.Inner", leading dot allowed) mangled piece
 * by piece and joined with "__": FullNameToC / Lower / Upper. */
char *pg_full_name_to_c(pg_arena *a, const char *full_name);
char *pg_full_name_to_lower(pg_arena *a, const char *full_name);
char *pg_full_name_to_upper(pg_arena *a, const char *full_name);
/* Non-zero for a word that cannot stand alone as a C or C++ identifier in
 * generated code: keywords of C99..C23 and C++, and common macros (true,
 * errno, linux...). */
int pg_is_reserved(const char *word);
/* Non-zero for a proto identifier: [A-Za-z_][A-Za-z0-9_]*. */
int pg_is_identifier(const char *s);
/* Non-zero for identifiers joined by single dots ("a.b.c"). */
int pg_is_dotted_identifier(const char *s);

/* ---- the model: what to generate, with every name already mangled ---- */

typedef struct pg_type {
  const char *full_name; /* ".pkg.Outer.Inner" */
  const char *c_name;    /* "Pkg__Outer__Inner" */
  const char *lower;     /* "pkg__outer__inner" */
  const char *package;   /* proto package of the defining file ("" if none) */
  const char *file;      /* the defining .proto */
} pg_type;

typedef enum pg_kind {
  PG_UNARY = 0,
  PG_SERVER_STREAMING = 1,
  PG_CLIENT_STREAMING = 2,
  PG_BIDI_STREAMING = 3
} pg_kind;

typedef struct pg_method {
  const char *name;   /* "GetFeature" */
  const char *lower;  /* "get_feature", used inside longer names */
  const char *member; /* servicer member: lower, plus "_" if reserved */
  const char *upper;  /* "GET_FEATURE" */
  const char *path;   /* "/routeguide.RouteGuide/GetFeature" */
  const char *macro;  /* "ROUTEGUIDE__ROUTE_GUIDE__TERN_GET_FEATURE" */
  const char *invoke; /* static trampoline in the .c */
  pg_kind kind;
  const pg_type *in;
  const pg_type *out;
  const char *in_shown; /* type names for comments, relative to package */
  const char *out_shown;
} pg_method;

typedef struct pg_service {
  const char *name;         /* "RouteGuide" */
  const char *full_name;    /* "routeguide.RouteGuide" */
  const char *type_prefix;  /* "Routeguide__RouteGuide" */
  const char *fn_prefix;    /* "routeguide__route_guide" */
  const char *macro_prefix; /* "ROUTEGUIDE__ROUTE_GUIDE" */
  const char *add_fn; /* "routeguide__add_route_guide_servicer_to_server" */
  size_t n_methods;
  pg_method *methods;
} pg_service;

typedef struct pg_file {
  const char *proto_name; /* "custom/path/x.proto", as protoc names it */
  const char *base;       /* "custom/path/x" */
  const char *guard;      /* include guard macro */
  const char *package;    /* "" when none */
  size_t n_services;
  pg_service *services;
} pg_file;

typedef struct pg_name pg_name;

typedef struct pg_ctx {
  pg_arena arena;
  pg_sb error; /* empty while all is well */
  pg_type *types;
  size_t n_types;
  size_t cap_types;
  pg_name *names;
  size_t n_names;
  size_t cap_names;
  const char *owner; /* what the names being added belong to */
} pg_ctx;

void pg_ctx_init(pg_ctx *ctx);
void pg_ctx_free(pg_ctx *ctx);
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
void pg_fail(pg_ctx *ctx, const char *fmt, ...);

/* Builds the model of every requested file that has a service. Returns 0,
 * or -1 with ctx->error set (unknown types, bad names, collisions...). */
int pg_build(pg_ctx *ctx, const pg_request *req, pg_file **files_out,
             size_t *n_files_out);

/* The text of NAME.tern.h and NAME.tern.c. */
void pg_emit_header(const pg_file *f, pg_sb *out);
void pg_emit_source(const pg_file *f, pg_sb *out);

#endif /* TERN_PLUGIN_INT_H */
