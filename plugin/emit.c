/* protoc-gen-tern: prints NAME.tern.h and NAME.tern.c from the model, laid
 * out as clang-format (LLVM style, 80 columns) would, so the generated code
 * reads like the rest of the project. docs/generated-code.md is the spec. */
#include "plugin_int.h"

#include <string.h>

#define COLUMNS 80

/* ---- layout helpers ---------------------------------------------------- */

static void spaces(pg_sb *o, size_t n) {
  while (n-- > 0)
    pg_sb_putc(o, ' ');
}

/* Lays out the pieces (each already carrying its "," or the tail) from
 * column `col`, continuing at column `cont`. With `dry` set, writes
 * nothing. Returns the number of lines, or 0 if one would not fit. */
static size_t pack(pg_sb *o, const char *const *pieces, size_t n, size_t col,
                   size_t cont, int dry) {
  size_t cur = col, lines = 1, i;
  int fits = 1;
  for (i = 0; i < n; i++) {
    size_t len = strlen(pieces[i]);
    if (i > 0 && cur + 1 + len <= COLUMNS) {
      if (!dry)
        pg_sb_putc(o, ' ');
      cur += 1;
    } else if (i > 0) {
      if (!dry) {
        pg_sb_putc(o, '\n');
        spaces(o, cont);
      }
      cur = cont;
      lines++;
    }
    if (!dry)
      pg_sb_puts(o, pieces[i]);
    cur += len;
    if (cur > COLUMNS)
      fits = 0;
  }
  return fits ? lines : 0;
}

/* Writes indent + head + args joined by ", " + tail + "\n": on one line if
 * it fits, else with the arguments aligned after the "(" or broken after
 * the "(" with a 4-space continuation indent, whichever takes fewer lines
 * (aligned on a tie). `args` ends with NULL; head ends with "(" and tail
 * starts with ")". */
static void emit_list(pg_sb *o, size_t indent, const char *head,
                      const char *const *args, const char *tail) {
  const char *pieces[16];
  pg_sb joined = PG_SB_INIT;
  size_t n = 0, i, col = indent + strlen(head);

  while (args[n] != NULL)
    n++;
  if (n > sizeof(pieces) / sizeof(pieces[0]) - 1)
    n = sizeof(pieces) / sizeof(pieces[0]) - 1; /* callers pass at most 6 */

  /* Each piece carries its separator, so packing never splits one. */
  for (i = 0; i < n; i++) {
    pg_sb_puts(&joined, args[i]);
    pg_sb_puts(&joined, i + 1 < n ? "," : tail);
    pg_sb_putc(&joined, '\0');
  }
  {
    const char *p = joined.data;
    for (i = 0; i < n; i++) {
      pieces[i] = p;
      p += strlen(p) + 1;
    }
  }

  spaces(o, indent);
  pg_sb_puts(o, head);
  if (n == 0) {
    pg_sb_puts(o, tail);
  } else {
    size_t total = col, aligned, broken, k;
    for (k = 0; k < n; k++)
      total += strlen(pieces[k]) + (k > 0);
    /* pack() says 0 when something does not fit: such a layout loses.
     * Aligned wins unless it takes two lines more than broken. */
    aligned = pack(o, pieces, n, col, col, 1);
    broken = pack(o, pieces, n, indent + 4, indent + 4, 1);
    if (total <= COLUMNS ||
        (aligned > 0 && (broken == 0 || aligned <= broken + 2))) {
      pack(o, pieces, n, col, col, 0);
    } else {
      pg_sb_putc(o, '\n');
      spaces(o, indent + 4);
      pack(o, pieces, n, indent + 4, indent + 4, 0);
    }
  }
  pg_sb_putc(o, '\n');
  pg_sb_free(&joined);
}

/* "lhs rhs" on one line, or rhs on the next line indented 4 more. */
static void emit_split(pg_sb *o, size_t indent, const char *lhs,
                       const char *rhs) {
  spaces(o, indent);
  pg_sb_puts(o, lhs);
  if (indent + strlen(lhs) + 1 + strlen(rhs) <= COLUMNS) {
    pg_sb_putc(o, ' ');
  } else {
    pg_sb_putc(o, '\n');
    spaces(o, indent + 4);
  }
  pg_sb_puts(o, rhs);
  pg_sb_putc(o, '\n');
}

/* A block comment, words wrapped at 80 columns. */
static void emit_comment(pg_sb *o, size_t indent, const char *text) {
  size_t cur;
  const char *p = text;
  spaces(o, indent);
  pg_sb_puts(o, "/*");
  cur = indent + 2;
  while (*p != '\0') {
    const char *end;
    size_t len, tail;
    while (*p == ' ')
      p++;
    if (*p == '\0')
      break;
    end = strchr(p, ' ');
    len = end ? (size_t)(end - p) : strlen(p);
    tail = p[len] == '\0' ? 3 : 0; /* room for the comment end */
    if (cur > indent + 2 && cur + 1 + len + tail > COLUMNS) {
      pg_sb_putc(o, '\n');
      spaces(o, indent);
      pg_sb_puts(o, " *");
      cur = indent + 2;
    }
    pg_sb_putc(o, ' ');
    pg_sb_putn(o, p, len);
    cur += 1 + len;
    p += len;
  }
  pg_sb_puts(o, " */\n");
}

/* Small printf into a caller-owned scratch arena. */
#define F(...) pg_printf(a, __VA_ARGS__)

/* ---- header ---------------------------------------------------------- */

static void emit_method_macros(pg_sb *o, const pg_service *s) {
  size_t i;
  for (i = 0; i < s->n_methods; i++)
    pg_sb_printf(o, "#define %s (&%s__tern_methods[%zu])\n",
                 s->methods[i].macro, s->fn_prefix, i);
}

static const char *handler_comment(pg_arena *a, const pg_service *s,
                                   const pg_method *m) {
  const char *in_stream = (m->kind & 2) ? "stream " : "";
  const char *out_stream = (m->kind & 1) ? "stream " : "";
  const char *rpc = F("rpc %s(%s%s) returns (%s%s)", m->name, in_stream,
                      m->in_shown, out_stream, m->out_shown);
  const char *p = s->fn_prefix;
  switch (m->kind) {
  case PG_UNARY:
    return F("%s: fill *response.", rpc);
  case PG_SERVER_STREAMING:
    return F("%s: write with %s_servicer__%s_write().", rpc, p, m->lower);
  case PG_CLIENT_STREAMING:
    return F("%s: read with %s_servicer__%s_read(), fill *response.", rpc, p,
             m->lower);
  case PG_BIDI_STREAMING:
    return F("%s: read with %s_servicer__%s_read(), write with "
             "%s_servicer__%s_write().",
             rpc, p, m->lower, p, m->lower);
  }
  return rpc;
}

static void emit_servicer(pg_sb *o, pg_arena *a, const pg_service *s) {
  size_t i;
  emit_comment(o, 0,
               "One handler per method; NULL ones answer UNIMPLEMENTED. "
               "Return the status the call ends with "
               "(tern_server_call_set_message() for its text).");
  pg_sb_printf(o, "typedef struct %sServicer {\n", s->type_prefix);
  if (s->n_methods == 0)
    pg_sb_puts(o, "  int reserved_; /* the service has no methods */\n");
  for (i = 0; i < s->n_methods; i++) {
    const pg_method *m = &s->methods[i];
    const char *args[5];
    size_t n = 0;
    emit_comment(o, 2, handler_comment(a, s, m));
    args[n++] = "tern_server_call *call";
    if (!(m->kind & 2))
      args[n++] = F("const %s *request", m->in->c_name);
    if (!(m->kind & 1))
      args[n++] = F("%s *response", m->out->c_name);
    args[n++] = "void *user_data";
    args[n] = NULL;
    emit_list(o, 2, F("tern_status_code (*%s)(", m->member), args, ");");
  }
  pg_sb_printf(o, "} %sServicer;\n\n", s->type_prefix);

  /* The initialiser names every member, so -Wextra stays quiet in C and
   * C++ alike. */
  {
    pg_sb init = PG_SB_INIT;
    const char *head = F("#define %s_SERVICER__INIT", s->macro_prefix);
    pg_sb_putc(&init, '{');
    if (s->n_methods == 0)
      pg_sb_puts(&init, "0");
    for (i = 0; i < s->n_methods; i++)
      pg_sb_puts(&init, i + 1 < s->n_methods ? "NULL, " : "NULL");
    pg_sb_putc(&init, '}');
    if (strlen(head) + 1 + init.len <= COLUMNS) {
      pg_sb_printf(o, "%s %s\n", head, init.data);
    } else {
      size_t cur = 3;
      pg_sb_printf(o, "%s \\\n  {", head);
      for (i = 0; i < s->n_methods; i++) {
        const char *item = i + 1 < s->n_methods ? "NULL," : "NULL}";
        if (i > 0 && cur + 1 + strlen(item) + 2 > COLUMNS) {
          pg_sb_puts(o, " \\\n   ");
          cur = 3;
        } else if (i > 0) {
          pg_sb_putc(o, ' ');
          cur++;
        }
        pg_sb_puts(o, item);
        cur += strlen(item);
      }
      pg_sb_putc(o, '\n');
    }
    pg_sb_free(&init);
  }
  pg_sb_putc(o, '\n');
}

static void emit_server_decls(pg_sb *o, pg_arena *a, const pg_service *s) {
  const char *args[4];
  size_t i;
  int streams = 0;

  pg_sb_puts(o, "/* --- server --- */\n\n");
  emit_servicer(o, a, s);

  emit_comment(o, 0,
               "Registers the servicer on the server; handlers run on the "
               "worker pool. (tern_server_register() with "
               "TERN_REGISTER_INLINE runs them on the I/O thread instead.) "
               "servicer is borrowed for the server's life.");
  args[0] = F("const %sServicer *servicer", s->type_prefix);
  args[1] = "tern_server *server";
  args[2] = "void *user_data";
  args[3] = NULL;
  emit_list(o, 0, F("int %s(", s->add_fn), args, ");");

  for (i = 0; i < s->n_methods; i++)
    streams |= s->methods[i].kind != PG_UNARY;
  if (!streams)
    return;
  pg_sb_putc(o, '\n');
  emit_comment(o, 0,
               "Typed stream helpers for handlers (tern_server_call_read() "
               "and tern_server_call_write()).");
  for (i = 0; i < s->n_methods; i++) {
    const pg_method *m = &s->methods[i];
    if (m->kind & 2) {
      args[0] = "tern_server_call *call";
      args[1] = F("%s **msg_out", m->in->c_name);
      args[2] = NULL;
      emit_list(o, 0, F("int %s_servicer__%s_read(", s->fn_prefix, m->lower),
                args, ");");
    }
    if (m->kind & 1) {
      args[0] = "tern_server_call *call";
      args[1] = F("const %s *msg", m->out->c_name);
      args[2] = NULL;
      emit_list(o, 0, F("int %s_servicer__%s_write(", s->fn_prefix, m->lower),
                args, ");");
    }
  }
}

/* The parameter lists of the stub functions, shared by the declarations
 * in the header and the definitions in the source. */
typedef struct stub_fn {
  const char *ret;  /* "int" or "tern_status_code" */
  const char *name; /* full function name */
  const char *args[6];
} stub_fn;

/* Fills fns with the method's client functions in header order; returns
 * how many. */
static size_t stub_fns(pg_arena *a, const pg_service *s, const pg_method *m,
                       stub_fn *fns) {
  const char *stub = F("const %sStub *stub", s->type_prefix);
  const char *base = F("%s_stub__%s", s->fn_prefix, m->lower);
  const char *req = F("const %s *request", m->in->c_name);
  const char *resp_out = F("%s **response_out", m->out->c_name);
  size_t n = 0;
  memset(fns, 0, 5 * sizeof(stub_fn));
#define FN(ret_, name_, ...)                                                   \
  do {                                                                         \
    const char *args_[] = {__VA_ARGS__, NULL};                                 \
    size_t k_;                                                                 \
    fns[n].ret = ret_;                                                         \
    fns[n].name = name_;                                                       \
    for (k_ = 0; args_[k_] != NULL; k_++)                                      \
      fns[n].args[k_] = args_[k_];                                             \
    n++;                                                                       \
  } while (0)
  switch (m->kind) {
  case PG_UNARY:
    FN("tern_status_code", base, stub, req, resp_out,
       "const tern_call_options *opts", "tern_status *status_out");
    FN("int", F("%s_async", base), stub, req, "const tern_call_options *opts",
       "tern_unary_cb cb", "void *user_data");
    FN("int", F("%s_future", base), stub, req, "const tern_call_options *opts",
       "tern_future **future_out");
    FN("tern_status_code", F("%s_result", base), "tern_future *future",
       resp_out, "tern_status *status_out");
    break;
  case PG_SERVER_STREAMING:
    FN("int", base, stub, req, "const tern_call_options *opts",
       "tern_call **call_out");
    FN("int", F("%s_read", base), "tern_call *call",
       F("%s **msg_out", m->out->c_name));
    break;
  case PG_CLIENT_STREAMING:
    FN("int", base, stub, "const tern_call_options *opts",
       "tern_call **call_out");
    FN("int", F("%s_write", base), "tern_call *call",
       F("const %s *msg", m->in->c_name));
    FN("tern_status_code", F("%s_close_and_recv", base), "tern_call *call",
       resp_out, "tern_status *status_out");
    FN("int", F("%s_future", base), "tern_call *call",
       "tern_future **future_out");
    FN("tern_status_code", F("%s_result", base), "tern_future *future",
       resp_out, "tern_status *status_out");
    break;
  case PG_BIDI_STREAMING:
    FN("int", base, stub, "const tern_call_options *opts",
       "tern_call **call_out");
    FN("int", F("%s_write", base), "tern_call *call",
       F("const %s *msg", m->in->c_name));
    FN("int", F("%s_read", base), "tern_call *call",
       F("%s **msg_out", m->out->c_name));
    break;
  }
#undef FN
  return n;
}

static void emit_client_decls(pg_sb *o, pg_arena *a, const pg_service *s) {
  const char *args[3];
  size_t i;

  pg_sb_puts(o, "\n/* --- client --- */\n\n");
  pg_sb_printf(
      o, "typedef struct %sStub {\n  tern_channel *channel;\n} %sStub;\n\n",
      s->type_prefix, s->type_prefix);
  emit_comment(o, 0, "The channel is borrowed: it must outlive the stub.");
  args[0] = F("%sStub *stub", s->type_prefix);
  args[1] = "tern_channel *channel";
  args[2] = NULL;
  emit_list(o, 0, F("void %s_stub_init(", s->fn_prefix), args, ");");

  for (i = 0; i < s->n_methods; i++) {
    const pg_method *m = &s->methods[i];
    stub_fn fns[5];
    size_t n = stub_fns(a, s, m, fns), k;
    pg_sb_putc(o, '\n');
    switch (m->kind) {
    case PG_UNARY:
      emit_comment(o, 0,
                   F("%s: blocking, callback and future forms. A response "
                     "is yours: free it with %s__free_unpacked(r, NULL).",
                     m->name, m->out->lower));
      break;
    case PG_SERVER_STREAMING:
      emit_comment(o, 0,
                   F("%s: starts the call (request written and "
                     "half-closed); read until 0, then tern_call_finish() "
                     "and tern_call_free().",
                     m->name));
      break;
    case PG_CLIENT_STREAMING:
      emit_comment(o, 0,
                   F("%s: start, write..., then close_and_recv (blocking) "
                     "or future + result; then tern_call_free().",
                     m->name));
      break;
    case PG_BIDI_STREAMING:
      emit_comment(o, 0,
                   F("%s: start; read and write independently; "
                     "tern_call_close_send(); tern_call_finish(); "
                     "tern_call_free().",
                     m->name));
      break;
    }
    for (k = 0; k < n; k++) {
      if (m->kind == PG_UNARY && k == 1)
        emit_comment(o, 0,
                     F("cb gets the response as void *: a %s * (yours).",
                       m->out->c_name));
      emit_list(o, 0, F("%s %s(", fns[k].ret, fns[k].name), fns[k].args, ");");
    }
  }
}

void pg_emit_header(const pg_file *f, pg_sb *o) {
  pg_arena scratch = {NULL};
  pg_arena *a = &scratch;
  size_t i;

  pg_sb_printf(o,
               "/* Generated by protoc-gen-tern from %s. DO NOT EDIT. */\n"
               "#ifndef %s\n#define %s\n\n"
               "#include <tern/tern.h>\n#include \"%s.pb-c.h\"\n\n"
               "#ifdef __cplusplus\nextern \"C\" {\n#endif\n",
               f->proto_name, f->guard, f->guard, f->base);
  for (i = 0; i < f->n_services; i++) {
    const pg_service *s = &f->services[i];
    pg_sb_printf(o, "\n/* Service %s */\n\n", s->full_name);
    if (s->n_methods > 0) {
      pg_sb_puts(o, "/* The service and its methods, in .proto order. */\n");
      pg_sb_printf(o, "extern const tern_service %s__tern_service;\n",
                   s->fn_prefix);
      pg_sb_printf(o, "extern const tern_method %s__tern_methods[%zu];\n",
                   s->fn_prefix, s->n_methods);
      emit_method_macros(o, s);
    } else {
      pg_sb_puts(o, "/* The service (it has no methods). */\n");
      pg_sb_printf(o, "extern const tern_service %s__tern_service;\n",
                   s->fn_prefix);
    }
    pg_sb_putc(o, '\n');
    emit_server_decls(o, a, s);
    emit_client_decls(o, a, s);
  }
  pg_sb_printf(o, "\n#ifdef __cplusplus\n}\n#endif\n\n#endif /* %s */\n",
               f->guard);
  pg_arena_free(&scratch);
}

/* ---- source ------------------------------------------------------------ */

static void emit_invoke(pg_sb *o, pg_arena *a, const pg_service *s,
                        const pg_method *m) {
  static const char *const params[] = {
      "const void *handlers", "tern_server_call *call", "const void *request",
      "void *response",       "void *user_data",        NULL};
  const char *args[5];
  size_t n = 0;

  emit_list(o, 0, F("static tern_status_code %s(", m->invoke), params, ") {");
  emit_split(o, 2, F("const %sServicer *servicer =", s->type_prefix),
             F("(const %sServicer *)handlers;", s->type_prefix));
  if (m->kind & 2)
    pg_sb_puts(o, "  (void)request;\n");
  if (m->kind & 1)
    pg_sb_puts(o, "  (void)response;\n");
  pg_sb_printf(o,
               "  if (servicer->%s == NULL) {\n"
               "    tern_server_call_set_message(call, \"Method not "
               "implemented!\");\n"
               "    return TERN_STATUS_UNIMPLEMENTED;\n  }\n",
               m->member);
  args[n++] = "call";
  if (!(m->kind & 2))
    args[n++] = F("(const %s *)request", m->in->c_name);
  if (!(m->kind & 1))
    args[n++] = F("(%s *)response", m->out->c_name);
  args[n++] = "user_data";
  args[n] = NULL;
  emit_list(o, 2, F("return servicer->%s(", m->member), args, ");");
  pg_sb_puts(o, "}\n\n");
}

static const char *const kind_enum[] = {
    "TERN_METHOD_UNARY", "TERN_METHOD_SERVER_STREAMING",
    "TERN_METHOD_CLIENT_STREAMING", "TERN_METHOD_BIDI_STREAMING"};

static void emit_tables(pg_sb *o, const pg_service *s) {
  size_t i;
  if (s->n_methods > 0) {
    pg_sb_printf(o, "const tern_method %s__tern_methods[%zu] = {\n",
                 s->fn_prefix, s->n_methods);
    for (i = 0; i < s->n_methods; i++) {
      const pg_method *m = &s->methods[i];
      pg_sb_printf(o,
                   "    {\n"
                   "        .struct_size = sizeof(tern_method),\n"
                   "        .name = \"%s\",\n"
                   "        .path = \"%s\",\n"
                   "        .kind = %s,\n"
                   "        .codec = &tern_protobuf_c_codec,\n"
                   "        .request_type = &%s__descriptor,\n"
                   "        .response_type = &%s__descriptor,\n"
                   "        .invoke = %s,\n"
                   "    },\n",
                   m->name, m->path, kind_enum[m->kind], m->in->lower,
                   m->out->lower, m->invoke);
    }
    pg_sb_puts(o, "};\n\n");
  }
  pg_sb_printf(o,
               "const tern_service %s__tern_service = {\n"
               "    .struct_size = sizeof(tern_service),\n"
               "    .name = \"%s\",\n"
               "    .n_methods = %zu,\n",
               s->fn_prefix, s->full_name, s->n_methods);
  if (s->n_methods > 0)
    pg_sb_printf(o, "    .methods = %s__tern_methods,\n", s->fn_prefix);
  else
    pg_sb_puts(o, "    .methods = NULL,\n");
  pg_sb_puts(o, "};\n\n");
}

/* `void *name = NULL; <ret> <var> = <call>(args); *out = (T *)name;
 * return <var>;` — received messages come back through a void *, then get
 * their type: writing a T * through a void ** would break aliasing rules. */
static void emit_typed_receive(pg_sb *o, pg_arena *a, const char *tmp,
                               const char *ret, const char *var, const char *fn,
                               const char *const *args, const char *out,
                               const char *type) {
  pg_sb_printf(o, "  void *%s = NULL;\n", tmp);
  emit_list(o, 2, F("%s %s = %s(", ret, var, fn), args, ");");
  pg_sb_printf(o, "  *%s = (%s *)%s;\n  return %s;\n}\n\n", out, type, tmp,
               var);
}

static void emit_server_defs(pg_sb *o, pg_arena *a, const pg_service *s) {
  const char *args[6];
  size_t i;

  args[0] = F("const %sServicer *servicer", s->type_prefix);
  args[1] = "tern_server *server";
  args[2] = "void *user_data";
  args[3] = NULL;
  emit_list(o, 0, F("int %s(", s->add_fn), args, ") {");
  args[0] = "server";
  args[1] = F("&%s__tern_service", s->fn_prefix);
  args[2] = "servicer";
  args[3] = "user_data";
  args[4] = "TERN_REGISTER_BLOCKING";
  args[5] = NULL;
  emit_list(o, 2, "return tern_server_register(", args, ");");
  pg_sb_puts(o, "}\n\n");

  for (i = 0; i < s->n_methods; i++) {
    const pg_method *m = &s->methods[i];
    if (m->kind & 2) {
      const char *call_args[] = {"call", "&msg", NULL};
      args[0] = "tern_server_call *call";
      args[1] = F("%s **msg_out", m->in->c_name);
      args[2] = NULL;
      emit_list(o, 0, F("int %s_servicer__%s_read(", s->fn_prefix, m->lower),
                args, ") {");
      emit_typed_receive(o, a, "msg", "int", "rc", "tern_server_call_read",
                         call_args, "msg_out", m->in->c_name);
    }
    if (m->kind & 1) {
      args[0] = "tern_server_call *call";
      args[1] = F("const %s *msg", m->out->c_name);
      args[2] = NULL;
      emit_list(o, 0, F("int %s_servicer__%s_write(", s->fn_prefix, m->lower),
                args, ") {");
      pg_sb_puts(o, "  return tern_server_call_write(call, msg);\n}\n\n");
    }
  }
}

static void emit_return_call(pg_sb *o, const char *fn,
                             const char *const *args) {
  pg_sb head = PG_SB_INIT;
  pg_sb_printf(&head, "return %s(", fn);
  emit_list(o, 2, head.data, args, ");");
  pg_sb_puts(o, "}\n\n");
  pg_sb_free(&head);
}

/* Server-streaming start: the call, its one request, the half-close. */
static void emit_server_streaming_start(pg_sb *o, const char *macro) {
  const char *args[] = {"stub->channel", macro, "opts", "&call", NULL};
  pg_sb_puts(o, "  tern_call *call = NULL;\n");
  emit_list(o, 2, "int rc = tern_call_start(", args, ");");
  pg_sb_puts(o, "  *call_out = NULL;\n"
                "  if (rc != TERN_OK)\n"
                "    return rc;\n"
                "  rc = tern_call_write(call, request);\n"
                "  if (rc == TERN_OK)\n"
                "    rc = tern_call_close_send(call);\n"
                "  /* TERN_ECLOSED: the call has already ended; the caller "
                "learns how\n"
                "   * from tern_call_read() and tern_call_finish(). */\n"
                "  if (rc != TERN_OK && rc != TERN_ECLOSED) {\n"
                "    tern_call_free(call);\n"
                "    return rc;\n"
                "  }\n"
                "  *call_out = call;\n"
                "  return TERN_OK;\n"
                "}\n\n");
}

static void emit_stub_defs(pg_sb *o, pg_arena *a, const pg_service *s,
                           const pg_method *m) {
  stub_fn fns[5];
  size_t n = stub_fns(a, s, m, fns), k;
  const char *mac = m->macro;
  const char *out_t = m->out->c_name;

  for (k = 0; k < n; k++) {
    emit_list(o, 0, pg_printf(a, "%s %s(", fns[k].ret, fns[k].name),
              fns[k].args, ") {");
    switch (m->kind * 8 + (int)k) {
    case PG_UNARY * 8 + 0: {
      const char *args[] = {
          "stub->channel", mac,          "request", "&response",
          "opts",          "status_out", NULL};
      emit_typed_receive(o, a, "response", "tern_status_code", "code",
                         "tern_unary_call", args, "response_out", out_t);
      break;
    }
    case PG_UNARY * 8 + 1: {
      const char *args[] = {"stub->channel", mac, "request", "opts", "cb",
                            "user_data",     NULL};
      emit_return_call(o, "tern_unary_call_async", args);
      break;
    }
    case PG_UNARY * 8 + 2: {
      const char *args[] = {"stub->channel", mac,          "request",
                            "opts",          "future_out", NULL};
      emit_return_call(o, "tern_unary_call_future", args);
      break;
    }
    case PG_UNARY * 8 + 3:
    case PG_CLIENT_STREAMING * 8 + 4: {
      const char *args[] = {"future", "&response", "status_out", NULL};
      emit_typed_receive(o, a, "response", "tern_status_code", "code",
                         "tern_future_result", args, "response_out", out_t);
      break;
    }
    case PG_SERVER_STREAMING * 8 + 0:
      emit_server_streaming_start(o, mac);
      break;
    case PG_SERVER_STREAMING * 8 + 1:
    case PG_BIDI_STREAMING * 8 + 2: {
      const char *args[] = {"call", "&msg", NULL};
      emit_typed_receive(o, a, "msg", "int", "rc", "tern_call_read", args,
                         "msg_out", out_t);
      break;
    }
    case PG_CLIENT_STREAMING * 8 + 0:
    case PG_BIDI_STREAMING * 8 + 0: {
      const char *args[] = {"stub->channel", mac, "opts", "call_out", NULL};
      emit_return_call(o, "tern_call_start", args);
      break;
    }
    case PG_CLIENT_STREAMING * 8 + 1:
    case PG_BIDI_STREAMING * 8 + 1: {
      const char *args[] = {"call", "msg", NULL};
      emit_return_call(o, "tern_call_write", args);
      break;
    }
    case PG_CLIENT_STREAMING * 8 + 2: {
      const char *args[] = {"call", "&response", "status_out", NULL};
      emit_typed_receive(o, a, "response", "tern_status_code", "code",
                         "tern_call_close_and_recv", args, "response_out",
                         out_t);
      break;
    }
    case PG_CLIENT_STREAMING * 8 + 3: {
      const char *args[] = {"call", "future_out", NULL};
      emit_return_call(o, "tern_call_close_and_recv_future", args);
      break;
    }
    default:
      break; /* every (kind, form) pair is handled above */
    }
  }
}

void pg_emit_source(const pg_file *f, pg_sb *o) {
  pg_arena scratch = {NULL};
  pg_arena *a = &scratch;
  size_t i, k;

  pg_sb_printf(o,
               "/* Generated by protoc-gen-tern from %s. DO NOT EDIT. */\n"
               "#include \"%s.tern.h\"\n\n"
               "#include <tern/protobuf_c.h>\n",
               f->proto_name, f->base);
  for (i = 0; i < f->n_services; i++) {
    const pg_service *s = &f->services[i];
    const char *args[3];
    pg_sb_printf(o, "\n/* Service %s */\n\n", s->full_name);
    for (k = 0; k < s->n_methods; k++)
      emit_invoke(o, a, s, &s->methods[k]);
    emit_tables(o, s);
    emit_server_defs(o, a, s);
    args[0] = pg_printf(a, "%sStub *stub", s->type_prefix);
    args[1] = "tern_channel *channel";
    args[2] = NULL;
    emit_list(o, 0, pg_printf(a, "void %s_stub_init(", s->fn_prefix), args,
              ") {");
    pg_sb_puts(o, "  stub->channel = channel;\n}\n");
    for (k = 0; k < s->n_methods; k++) {
      pg_sb_putc(o, '\n');
      emit_stub_defs(o, a, s, &s->methods[k]);
      /* emit_stub_defs ends with a blank line; keep exactly one between
       * functions and none at the end of the service. */
      if (o->len >= 2 && o->data[o->len - 1] == '\n' &&
          o->data[o->len - 2] == '\n')
        o->data[--o->len] = '\0';
    }
  }
  pg_arena_free(&scratch);
}

#undef F
