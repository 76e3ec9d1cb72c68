/* plugin_keywords: method names that are C/C++ keywords or predefined
 * macros once mangled (Return -> return) become servicer members with a
 * trailing underscore (return_), and everything still compiles and
 * dispatches. protobuf-c 1.4.1 itself writes such names unchanged into its
 * service struct, so the build patches its header first (see
 * patch_protobuf_c_keywords.cmake). */
#include <stdio.h>
#include <string.h>

#include "keywords.tern.h"

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

static const char *reached;

static tern_status_code on_return(tern_server_call *call, const Value *req,
                                  Value *resp, void *user_data) {
  (void)call, (void)req, (void)resp, (void)user_data;
  reached = "return_";
  return TERN_STATUS_OK;
}
static tern_status_code on_int(tern_server_call *call, const Value *req,
                               void *user_data) {
  (void)call, (void)req, (void)user_data;
  reached = "int_";
  return TERN_STATUS_OK;
}
static tern_status_code on_default(tern_server_call *call, Value *resp,
                                   void *user_data) {
  (void)call, (void)resp, (void)user_data;
  reached = "default_";
  return TERN_STATUS_OK;
}
static tern_status_code on_class(tern_server_call *call, void *user_data) {
  (void)call, (void)user_data;
  reached = "class_";
  return TERN_STATUS_OK;
}
static tern_status_code on_new(tern_server_call *call, const Value *req,
                               Value *resp, void *user_data) {
  (void)call, (void)req, (void)resp, (void)user_data;
  reached = "new_";
  return TERN_STATUS_OK;
}
static tern_status_code on_linux(tern_server_call *call, const Value *req,
                                 Value *resp, void *user_data) {
  (void)call, (void)req, (void)resp, (void)user_data;
  reached = "linux_";
  return TERN_STATUS_OK;
}

int main(void) {
  /* Designated initialisers: these member names are the contract. */
  const SwitchServicer servicer = {.return_ = on_return,
                                   .int_ = on_int,
                                   .default_ = on_default,
                                   .class_ = on_class,
                                   .new_ = on_new,
                                   .linux_ = on_linux};
  static const struct {
    const char *path, *member;
    tern_method_kind kind;
  } want[] = {
      {"/Switch/Return", "return_", TERN_METHOD_UNARY},
      {"/Switch/Int", "int_", TERN_METHOD_SERVER_STREAMING},
      {"/Switch/Default", "default_", TERN_METHOD_CLIENT_STREAMING},
      {"/Switch/Class", "class_", TERN_METHOD_BIDI_STREAMING},
      {"/Switch/New", "new_", TERN_METHOD_UNARY},
      {"/Switch/Linux", "linux_", TERN_METHOD_UNARY},
  };
  const tern_method *by_macro[] = {SWITCH__TERN_RETURN,  SWITCH__TERN_INT,
                                   SWITCH__TERN_DEFAULT, SWITCH__TERN_CLASS,
                                   SWITCH__TERN_NEW,     SWITCH__TERN_LINUX};
  char call, req, resp;
  size_t i;

  /* The other generated names keep the plain mangled word. */
  tern_status_code (*ret)(const SwitchStub *, const Value *, Value **,
                          const tern_call_options *, tern_status *) =
      switch_stub__return;
  int (*def_read)(tern_server_call *, Value **) = switch_servicer__default_read;
  int (*add)(const SwitchServicer *, tern_server *, void *) =
      add_switch_servicer_to_server;
  CHECK(ret != NULL && def_read != NULL && add != NULL,
        "switch_stub__return, switch_servicer__default_read and "
        "add_switch_servicer_to_server exist");

  CHECK(strcmp(switch__tern_service.name, "Switch") == 0 &&
            switch__tern_service.n_methods == 6,
        "service Switch has 6 methods");
  for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
    const tern_method *m = &switch__tern_methods[i];
    tern_status_code rc;
    CHECK(strcmp(m->path, want[i].path) == 0 && m->kind == want[i].kind &&
              m == by_macro[i],
          "%s has kind %d and its macro", want[i].path, (int)want[i].kind);
    reached = NULL;
    rc = m->invoke(&servicer, (tern_server_call *)&call, &req, &resp, NULL);
    CHECK(rc == TERN_STATUS_OK && reached != NULL &&
              strcmp(reached, want[i].member) == 0,
          "%s dispatches to member %s (reached %s)", want[i].path,
          want[i].member, reached ? reached : "nothing");
  }
  if (failures > 0) {
    printf("%d check(s) failed\n", failures);
    return 1;
  }
  printf("all checks passed\n");
  return 0;
}
