/* plugin_compile: the code protoc-gen-tern generates for tests/plugin/protos
 * compiles with -Wall -Wextra -Werror, links against tern_static, and its
 * tables, names and server trampolines say what the .proto says.
 * Usage: plugin_compile_test GEN_DIR (tern_generate's OUT_DIR). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <tern/protobuf_c.h>

#include "custom/path/layout.tern.h"
#include "dotted.tern.h"
#include "multi.tern.h"
#include "nopkg.tern.h"
#include "other/common.pb-c.h"
#include "uses_import.tern.h"
#ifdef TEST_C_PACKAGE
#include "cpkg.tern.h"
#endif

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

static const char *kind_name(tern_method_kind k) {
  switch (k) {
  case TERN_METHOD_UNARY:
    return "UNARY";
  case TERN_METHOD_SERVER_STREAMING:
    return "SERVER_STREAMING";
  case TERN_METHOD_CLIENT_STREAMING:
    return "CLIENT_STREAMING";
  case TERN_METHOD_BIDI_STREAMING:
    return "BIDI_STREAMING";
  }
  return "?";
}

/* ---- method tables ------------------------------------------------------ */

static void check_method(const tern_method *m, const tern_method *by_macro,
                         const char *name, const char *path,
                         tern_method_kind kind,
                         const ProtobufCMessageDescriptor *in,
                         const ProtobufCMessageDescriptor *out) {
  CHECK(strcmp(m->path, path) == 0, "%s has path %s (got %s)", name, path,
        m->path);
  CHECK(strcmp(m->name, name) == 0, "%s is named %s (got %s)", path, name,
        m->name);
  CHECK(m->kind == kind, "%s is %s (got %s)", path, kind_name(kind),
        kind_name(m->kind));
  CHECK(m == by_macro, "%s: its method macro points at its table entry", path);
  CHECK(m->codec == &tern_protobuf_c_codec, "%s uses tern_protobuf_c_codec",
        path);
  CHECK(m->request_type == in, "%s takes %s (got %s)", path, in->name,
        m->request_type
            ? ((const ProtobufCMessageDescriptor *)m->request_type)->name
            : "NULL");
  CHECK(m->response_type == out, "%s returns %s (got %s)", path, out->name,
        m->response_type
            ? ((const ProtobufCMessageDescriptor *)m->response_type)->name
            : "NULL");
  CHECK(m->invoke != NULL, "%s has a server trampoline", path);
}

static void check_service(const tern_service *s, const char *name,
                          size_t n_methods, const tern_method *methods) {
  CHECK(strcmp(s->name, name) == 0, "service %s is named %s", name, s->name);
  CHECK(s->n_methods == n_methods, "service %s has %zu methods (got %zu)", name,
        n_methods, s->n_methods);
  CHECK(s->methods == methods, "service %s points at its method table", name);
}

/* ---- server trampolines ---------------------------------------------- */

/* What the last handler saw. */
static struct {
  const char *handler;
  const void *call, *request, *response, *user_data;
} seen;

static void record(const char *handler, const void *call, const void *req,
                   const void *resp, const void *user_data) {
  seen.handler = handler;
  seen.call = call;
  seen.request = req;
  seen.response = resp;
  seen.user_data = user_data;
}

/* Handlers that record their arguments and end the call ABORTED. */
#define H_UNARY(fn, In, Out)                                                   \
  static tern_status_code fn(tern_server_call *call, const In *request,        \
                             Out *response, void *user_data) {                 \
    record(#fn, call, request, response, user_data);                           \
    return TERN_STATUS_ABORTED;                                                \
  }
#define H_SERVER(fn, In)                                                       \
  static tern_status_code fn(tern_server_call *call, const In *request,        \
                             void *user_data) {                                \
    record(#fn, call, request, NULL, user_data);                               \
    return TERN_STATUS_ABORTED;                                                \
  }
#define H_CLIENT(fn, Out)                                                      \
  static tern_status_code fn(tern_server_call *call, Out *response,            \
                             void *user_data) {                                \
    record(#fn, call, NULL, response, user_data);                              \
    return TERN_STATUS_ABORTED;                                                \
  }
#define H_BIDI(fn)                                                             \
  static tern_status_code fn(tern_server_call *call, void *user_data) {        \
    record(#fn, call, NULL, NULL, user_data);                                  \
    return TERN_STATUS_ABORTED;                                                \
  }

static char fake_call, fake_request, fake_response, fake_user_data;

/* The trampoline must reach `handler` with the arguments its kind takes. */
static void check_invoke(const tern_method *m, const void *servicer,
                         const char *handler) {
  int takes_request = !(m->kind & 2), takes_response = !(m->kind & 1);
  tern_status_code rc;
  memset(&seen, 0, sizeof(seen));
  rc = m->invoke(servicer, (tern_server_call *)&fake_call, &fake_request,
                 &fake_response, &fake_user_data);
  CHECK(rc == TERN_STATUS_ABORTED && seen.handler != NULL &&
            strcmp(seen.handler, handler) == 0,
        "%s dispatches to %s (reached %s, returned %d)", m->path, handler,
        seen.handler ? seen.handler : "nothing", (int)rc);
  CHECK(seen.call == &fake_call && seen.user_data == &fake_user_data,
        "%s hands the call and user_data through", m->path);
  CHECK(seen.request == (takes_request ? &fake_request : NULL) &&
            seen.response == (takes_response ? &fake_response : NULL),
        "%s hands a request (%s) and a response (%s) through", m->path,
        takes_request ? "yes" : "no", takes_response ? "yes" : "no");
}

/* ---- generated functions: each assigned to a pointer of the documented
 * type, so a wrong signature fails to compile (-Werror). ---------------- */

static int n_functions;

#define TAKE(fn_ptr) n_functions += (fn_ptr) != NULL

#define EXPECT_SERVICE(P, p, add_fn)                                           \
  do {                                                                         \
    int (*add_)(const P##Servicer *, tern_server *, void *) = add_fn;          \
    void (*init_)(P##Stub *, tern_channel *) = p##_stub_init;                  \
    P##Stub stub_;                                                             \
    TAKE(add_);                                                                \
    TAKE(init_);                                                               \
    init_(&stub_, (tern_channel *)&fake_call);                                 \
    CHECK(stub_.channel == (tern_channel *)&fake_call,                         \
          #p "_stub_init stores the channel");                                 \
  } while (0)

#define EXPECT_UNARY(P, p, m, In, Out)                                         \
  do {                                                                         \
    tern_status_code (*f0_)(const P##Stub *, const In *, Out **,               \
                            const tern_call_options *, tern_status *) =        \
        p##_stub__##m;                                                         \
    int (*f1_)(const P##Stub *, const In *, const tern_call_options *,         \
               tern_unary_cb, void *) = p##_stub__##m##_async;                 \
    int (*f2_)(const P##Stub *, const In *, const tern_call_options *,         \
               tern_future **) = p##_stub__##m##_future;                       \
    tern_status_code (*f3_)(tern_future *, Out **, tern_status *) =            \
        p##_stub__##m##_result;                                                \
    TAKE(f0_);                                                                 \
    TAKE(f1_);                                                                 \
    TAKE(f2_);                                                                 \
    TAKE(f3_);                                                                 \
  } while (0)

#define EXPECT_SERVER_STREAMING(P, p, m, In, Out)                              \
  do {                                                                         \
    int (*f0_)(const P##Stub *, const In *, const tern_call_options *,         \
               tern_call **) = p##_stub__##m;                                  \
    int (*f1_)(tern_call *, Out **) = p##_stub__##m##_read;                    \
    int (*f2_)(tern_server_call *, const Out *) = p##_servicer__##m##_write;   \
    TAKE(f0_);                                                                 \
    TAKE(f1_);                                                                 \
    TAKE(f2_);                                                                 \
  } while (0)

#define EXPECT_CLIENT_STREAMING(P, p, m, In, Out)                              \
  do {                                                                         \
    int (*f0_)(const P##Stub *, const tern_call_options *, tern_call **) =     \
        p##_stub__##m;                                                         \
    int (*f1_)(tern_call *, const In *) = p##_stub__##m##_write;               \
    tern_status_code (*f2_)(tern_call *, Out **, tern_status *) =              \
        p##_stub__##m##_close_and_recv;                                        \
    int (*f3_)(tern_call *, tern_future **) = p##_stub__##m##_future;          \
    tern_status_code (*f4_)(tern_future *, Out **, tern_status *) =            \
        p##_stub__##m##_result;                                                \
    int (*f5_)(tern_server_call *, In **) = p##_servicer__##m##_read;          \
    TAKE(f0_);                                                                 \
    TAKE(f1_);                                                                 \
    TAKE(f2_);                                                                 \
    TAKE(f3_);                                                                 \
    TAKE(f4_);                                                                 \
    TAKE(f5_);                                                                 \
  } while (0)

#define EXPECT_BIDI_STREAMING(P, p, m, In, Out)                                \
  do {                                                                         \
    int (*f0_)(const P##Stub *, const tern_call_options *, tern_call **) =     \
        p##_stub__##m;                                                         \
    int (*f1_)(tern_call *, const In *) = p##_stub__##m##_write;               \
    int (*f2_)(tern_call *, Out **) = p##_stub__##m##_read;                    \
    int (*f3_)(tern_server_call *, In **) = p##_servicer__##m##_read;          \
    int (*f4_)(tern_server_call *, const Out *) = p##_servicer__##m##_write;   \
    TAKE(f0_);                                                                 \
    TAKE(f1_);                                                                 \
    TAKE(f2_);                                                                 \
    TAKE(f3_);                                                                 \
    TAKE(f4_);                                                                 \
  } while (0)

/* ---- nopkg.proto: no package ------------------------------------------ */

H_UNARY(echo_say, Ping, Pong)
H_SERVER(echo_say_many, Ping)
H_CLIENT(echo_collect, Pong)
H_BIDI(echo_chat)

static void test_nopkg(void) {
  const EchoServicer servicer = {.say = echo_say,
                                 .say_many = echo_say_many,
                                 .collect = echo_collect,
                                 .chat = echo_chat};
  const EchoServicer empty = ECHO_SERVICER__INIT;
  const tern_method *t = echo__tern_methods;

  check_service(&echo__tern_service, "Echo", 4, t);
  check_method(&t[0], ECHO__TERN_SAY, "Say", "/Echo/Say", TERN_METHOD_UNARY,
               &ping__descriptor, &pong__descriptor);
  check_method(&t[1], ECHO__TERN_SAY_MANY, "SayMany", "/Echo/SayMany",
               TERN_METHOD_SERVER_STREAMING, &ping__descriptor,
               &pong__descriptor);
  check_method(&t[2], ECHO__TERN_COLLECT, "Collect", "/Echo/Collect",
               TERN_METHOD_CLIENT_STREAMING, &ping__payload__descriptor,
               &pong__descriptor);
  check_method(&t[3], ECHO__TERN_CHAT, "Chat", "/Echo/Chat",
               TERN_METHOD_BIDI_STREAMING, &ping__descriptor,
               &ping__payload__descriptor);
  check_invoke(&t[0], &servicer, "echo_say");
  check_invoke(&t[1], &servicer, "echo_say_many");
  check_invoke(&t[2], &servicer, "echo_collect");
  check_invoke(&t[3], &servicer, "echo_chat");
  CHECK(empty.say == NULL && empty.say_many == NULL && empty.collect == NULL &&
            empty.chat == NULL,
        "ECHO_SERVICER__INIT leaves every handler NULL");

  EXPECT_SERVICE(Echo, echo, add_echo_servicer_to_server);
  EXPECT_UNARY(Echo, echo, say, Ping, Pong);
  EXPECT_SERVER_STREAMING(Echo, echo, say_many, Ping, Pong);
  EXPECT_CLIENT_STREAMING(Echo, echo, collect, Ping__Payload, Pong);
  EXPECT_BIDI_STREAMING(Echo, echo, chat, Ping, Ping__Payload);
}

/* ---- dotted.proto: package a.b.c, all four kinds ----------------------- */

H_UNARY(abc_unary, A__B__C__Request, A__B__C__Outer)
H_SERVER(abc_server_stream, A__B__C__Request)
H_CLIENT(abc_client_stream, A__B__C__Request)
H_BIDI(abc_bidi)

static void test_dotted(void) {
  const A__B__C__SvcServicer servicer = {.unary = abc_unary,
                                         .server_stream = abc_server_stream,
                                         .client_stream = abc_client_stream,
                                         .bidi = abc_bidi};
  const A__B__C__SvcServicer empty = A__B__C__SVC_SERVICER__INIT;
  const tern_method *t = a__b__c__svc__tern_methods;

  check_service(&a__b__c__svc__tern_service, "a.b.c.Svc", 4, t);
  check_method(&t[0], A__B__C__SVC__TERN_UNARY, "Unary", "/a.b.c.Svc/Unary",
               TERN_METHOD_UNARY, &a__b__c__request__descriptor,
               &a__b__c__outer__descriptor);
  check_method(&t[1], A__B__C__SVC__TERN_SERVER_STREAM, "ServerStream",
               "/a.b.c.Svc/ServerStream", TERN_METHOD_SERVER_STREAMING,
               &a__b__c__request__descriptor,
               &a__b__c__outer__inner__descriptor);
  check_method(&t[2], A__B__C__SVC__TERN_CLIENT_STREAM, "ClientStream",
               "/a.b.c.Svc/ClientStream", TERN_METHOD_CLIENT_STREAMING,
               &a__b__c__outer__inner__descriptor,
               &a__b__c__request__descriptor);
  check_method(&t[3], A__B__C__SVC__TERN_BIDI, "Bidi", "/a.b.c.Svc/Bidi",
               TERN_METHOD_BIDI_STREAMING, &a__b__c__request__descriptor,
               &a__b__c__request__descriptor);
  check_invoke(&t[0], &servicer, "abc_unary");
  check_invoke(&t[1], &servicer, "abc_server_stream");
  check_invoke(&t[2], &servicer, "abc_client_stream");
  check_invoke(&t[3], &servicer, "abc_bidi");
  CHECK(empty.unary == NULL && empty.server_stream == NULL &&
            empty.client_stream == NULL && empty.bidi == NULL,
        "A__B__C__SVC_SERVICER__INIT leaves every handler NULL");

  EXPECT_SERVICE(A__B__C__Svc, a__b__c__svc,
                 a__b__c__add_svc_servicer_to_server);
  EXPECT_UNARY(A__B__C__Svc, a__b__c__svc, unary, A__B__C__Request,
               A__B__C__Outer);
  EXPECT_SERVER_STREAMING(A__B__C__Svc, a__b__c__svc, server_stream,
                          A__B__C__Request, A__B__C__Outer__Inner);
  EXPECT_CLIENT_STREAMING(A__B__C__Svc, a__b__c__svc, client_stream,
                          A__B__C__Outer__Inner, A__B__C__Request);
  EXPECT_BIDI_STREAMING(A__B__C__Svc, a__b__c__svc, bidi, A__B__C__Request,
                        A__B__C__Request);
}

/* ---- multi.proto: several services, one without methods ---------------- */

H_UNARY(first_go, Multi__SvcPkg__In, Multi__SvcPkg__Out)
H_SERVER(first_httpget, Multi__SvcPkg__In)
H_UNARY(second_go, Multi__SvcPkg__In, Multi__SvcPkg__Out)
H_CLIENT(second_upload, Multi__SvcPkg__Out)
H_BIDI(third_go)

static void test_multi(void) {
  const Multi__SvcPkg__FirstServicer first = {.go = first_go,
                                              .httpget = first_httpget};
  const Multi__SvcPkg__SecondServiceServicer second = {.go = second_go,
                                                       .upload = second_upload};
  const Multi__SvcPkg__ThirdServicer third = {.go = third_go};
  const Multi__SvcPkg__NothingServicer nothing =
      MULTI__SVC_PKG__NOTHING_SERVICER__INIT;
  const tern_method *t1 = multi__svc_pkg__first__tern_methods;
  const tern_method *t2 = multi__svc_pkg__second__service__tern_methods;
  const tern_method *t3 = multi__svc_pkg__third__tern_methods;
  const ProtobufCMessageDescriptor *in = &multi__svc_pkg__in__descriptor;
  const ProtobufCMessageDescriptor *out = &multi__svc_pkg__out__descriptor;

  check_service(&multi__svc_pkg__first__tern_service, "multi.svc_pkg.First", 2,
                t1);
  check_method(&t1[0], MULTI__SVC_PKG__FIRST__TERN_GO, "Go",
               "/multi.svc_pkg.First/Go", TERN_METHOD_UNARY, in, out);
  check_method(&t1[1], MULTI__SVC_PKG__FIRST__TERN_HTTPGET, "HTTPGet",
               "/multi.svc_pkg.First/HTTPGet", TERN_METHOD_SERVER_STREAMING, in,
               out);
  check_invoke(&t1[0], &first, "first_go");
  check_invoke(&t1[1], &first, "first_httpget");

  check_service(&multi__svc_pkg__second__service__tern_service,
                "multi.svc_pkg.Second_Service", 2, t2);
  check_method(&t2[0], MULTI__SVC_PKG__SECOND__SERVICE__TERN_GO, "Go",
               "/multi.svc_pkg.Second_Service/Go", TERN_METHOD_UNARY, in, out);
  check_method(&t2[1], MULTI__SVC_PKG__SECOND__SERVICE__TERN_UPLOAD, "Upload",
               "/multi.svc_pkg.Second_Service/Upload",
               TERN_METHOD_CLIENT_STREAMING, in, out);
  check_invoke(&t2[0], &second, "second_go");
  check_invoke(&t2[1], &second, "second_upload");

  check_service(&multi__svc_pkg__nothing__tern_service, "multi.svc_pkg.Nothing",
                0, NULL);
  CHECK(nothing.reserved_ == 0,
        "a service without methods still has a servicer type");

  check_service(&multi__svc_pkg__third__tern_service, "multi.svc_pkg.Third", 1,
                t3);
  check_method(&t3[0], MULTI__SVC_PKG__THIRD__TERN_GO, "Go",
               "/multi.svc_pkg.Third/Go", TERN_METHOD_BIDI_STREAMING, in, out);
  check_invoke(&t3[0], &third, "third_go");

  EXPECT_SERVICE(Multi__SvcPkg__First, multi__svc_pkg__first,
                 multi__svc_pkg__add_first_servicer_to_server);
  EXPECT_SERVICE(Multi__SvcPkg__SecondService, multi__svc_pkg__second__service,
                 multi__svc_pkg__add_second__service_servicer_to_server);
  EXPECT_SERVICE(Multi__SvcPkg__Nothing, multi__svc_pkg__nothing,
                 multi__svc_pkg__add_nothing_servicer_to_server);
  EXPECT_SERVICE(Multi__SvcPkg__Third, multi__svc_pkg__third,
                 multi__svc_pkg__add_third_servicer_to_server);
  EXPECT_UNARY(Multi__SvcPkg__First, multi__svc_pkg__first, go,
               Multi__SvcPkg__In, Multi__SvcPkg__Out);
  EXPECT_SERVER_STREAMING(Multi__SvcPkg__First, multi__svc_pkg__first, httpget,
                          Multi__SvcPkg__In, Multi__SvcPkg__Out);
  EXPECT_UNARY(Multi__SvcPkg__SecondService, multi__svc_pkg__second__service,
               go, Multi__SvcPkg__In, Multi__SvcPkg__Out);
  EXPECT_CLIENT_STREAMING(Multi__SvcPkg__SecondService,
                          multi__svc_pkg__second__service, upload,
                          Multi__SvcPkg__In, Multi__SvcPkg__Out);
  EXPECT_BIDI_STREAMING(Multi__SvcPkg__Third, multi__svc_pkg__third, go,
                        Multi__SvcPkg__In, Multi__SvcPkg__Out);
}

/* ---- uses_import.proto: types from other/common.proto ---------------- */

H_UNARY(store_get, Other__Common__Thing, Other__Common__Box__Item)
H_CLIENT(store_put, Consumer__Local)
H_SERVER(store_list, Consumer__Local)

static void test_uses_import(void) {
  const Consumer__StoreServicer servicer = {
      .get = store_get, .put = store_put, .list = store_list};
  const tern_method *t = consumer__store__tern_methods;

  check_service(&consumer__store__tern_service, "consumer.Store", 3, t);
  check_method(&t[0], CONSUMER__STORE__TERN_GET, "Get", "/consumer.Store/Get",
               TERN_METHOD_UNARY, &other__common__thing__descriptor,
               &other__common__box__item__descriptor);
  check_method(&t[1], CONSUMER__STORE__TERN_PUT, "Put", "/consumer.Store/Put",
               TERN_METHOD_CLIENT_STREAMING,
               &other__common__box__item__descriptor,
               &consumer__local__descriptor);
  check_method(&t[2], CONSUMER__STORE__TERN_LIST, "List",
               "/consumer.Store/List", TERN_METHOD_SERVER_STREAMING,
               &consumer__local__descriptor, &other__common__thing__descriptor);
  check_invoke(&t[0], &servicer, "store_get");
  check_invoke(&t[1], &servicer, "store_put");
  check_invoke(&t[2], &servicer, "store_list");

  EXPECT_SERVICE(Consumer__Store, consumer__store,
                 consumer__add_store_servicer_to_server);
  EXPECT_UNARY(Consumer__Store, consumer__store, get, Other__Common__Thing,
               Other__Common__Box__Item);
  EXPECT_CLIENT_STREAMING(Consumer__Store, consumer__store, put,
                          Other__Common__Box__Item, Consumer__Local);
  EXPECT_SERVER_STREAMING(Consumer__Store, consumer__store, list,
                          Consumer__Local, Other__Common__Thing);
}

/* ---- custom/path/layout.proto: -I custom/path=protos/vpath -------------- */

H_UNARY(finder_find, Layout__Req, Layout__Resp)
H_BIDI(finder_watch)

static void test_layout(void) {
  const Layout__FinderServicer servicer = {.find = finder_find,
                                           .watch = finder_watch};
  const tern_method *t = layout__finder__tern_methods;

  check_service(&layout__finder__tern_service, "layout.Finder", 2, t);
  check_method(&t[0], LAYOUT__FINDER__TERN_FIND, "Find", "/layout.Finder/Find",
               TERN_METHOD_UNARY, &layout__req__descriptor,
               &layout__resp__descriptor);
  check_method(&t[1], LAYOUT__FINDER__TERN_WATCH, "Watch",
               "/layout.Finder/Watch", TERN_METHOD_BIDI_STREAMING,
               &layout__req__descriptor, &layout__resp__descriptor);
  check_invoke(&t[0], &servicer, "finder_find");
  check_invoke(&t[1], &servicer, "finder_watch");

  EXPECT_SERVICE(Layout__Finder, layout__finder,
                 layout__add_finder_servicer_to_server);
  EXPECT_UNARY(Layout__Finder, layout__finder, find, Layout__Req, Layout__Resp);
  EXPECT_BIDI_STREAMING(Layout__Finder, layout__finder, watch, Layout__Req,
                        Layout__Resp);
}

/* ---- cpkg.proto: (pb_c_file).c_package = "my.cpkg" -------------------- */

#ifdef TEST_C_PACKAGE
H_UNARY(renamed_run, My__Cpkg__Msg, My__Cpkg__Msg)

static void test_c_package(void) {
  const My__Cpkg__RenamedServicer servicer = {.run = renamed_run};
  const tern_method *t = my__cpkg__renamed__tern_methods;

  check_service(&my__cpkg__renamed__tern_service, "orig.pkg.Renamed", 1, t);
  check_method(&t[0], MY__CPKG__RENAMED__TERN_RUN, "Run",
               "/orig.pkg.Renamed/Run", TERN_METHOD_UNARY,
               &my__cpkg__msg__descriptor, &my__cpkg__msg__descriptor);
  check_invoke(&t[0], &servicer, "renamed_run");
  EXPECT_SERVICE(My__Cpkg__Renamed, my__cpkg__renamed,
                 my__cpkg__add_renamed_servicer_to_server);
  EXPECT_UNARY(My__Cpkg__Renamed, my__cpkg__renamed, run, My__Cpkg__Msg,
               My__Cpkg__Msg);
}
#endif

/* ---- files without services get no service code ------------------------ */

static void check_exists(const char *dir, const char *file, int want) {
  char path[4096];
  int exists;
  snprintf(path, sizeof(path), "%s/%s", dir, file);
  exists = access(path, F_OK) == 0;
  CHECK(exists == want, "%s %s", path,
        want ? "was generated" : "was not generated (no service)");
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s GEN_DIR VPATH_GEN_DIR\n", argv[0]);
    return 2;
  }
  test_nopkg();
  test_dotted();
  test_multi();
  test_uses_import();
  test_layout();
#ifdef TEST_C_PACKAGE
  test_c_package();
  n_functions -= 6; /* keeps the count below independent of this case */
#endif
  check_exists(argv[1], "other/common.pb-c.h", 1);
  check_exists(argv[1], "other/common.tern.h", 0);
  check_exists(argv[1], "other/common.tern.c", 0);
  check_exists(argv[2], "custom/path/layout.tern.h", 1);
  check_exists(argv[2], "custom/path/layout_msgs.pb-c.h", 1);
  check_exists(argv[2], "custom/path/layout_msgs.tern.h", 0);
  CHECK(n_functions == 96, "took the address of %d generated functions",
        n_functions);
  if (failures > 0) {
    printf("%d check(s) failed\n", failures);
    return 1;
  }
  printf("all checks passed\n");
  return 0;
}
