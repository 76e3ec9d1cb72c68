// plugin_cxx: generated headers compile as C++ and their declarations have
// C linkage: this program links against the C objects of the generated
// code, which fails for C++-mangled names.
#include <cstdio>
#include <cstring>

#include "dotted.tern.h"
#include "route_guide.tern.h"

int main() {
  tern_status_code (*get)(const Routeguide__RouteGuideStub *,
                          const Routeguide__Point *, Routeguide__Feature **,
                          const tern_call_options *, tern_status *) =
      routeguide__route_guide_stub__get_feature;
  int (*add)(const A__B__C__SvcServicer *, tern_server *, void *) =
      a__b__c__add_svc_servicer_to_server;
  Routeguide__RouteGuideServicer servicer =
      ROUTEGUIDE__ROUTE_GUIDE_SERVICER__INIT;
  int ok = get != nullptr && add != nullptr &&
           servicer.get_feature == nullptr &&
           std::strcmp(routeguide__route_guide__tern_service.name,
                       "routeguide.RouteGuide") == 0 &&
           ROUTEGUIDE__ROUTE_GUIDE__TERN_ROUTE_CHAT->kind ==
               TERN_METHOD_BIDI_STREAMING &&
           std::strcmp(A__B__C__SVC__TERN_BIDI->path, "/a.b.c.Svc/Bidi") == 0;
  std::printf("%s: generated headers used from C++ (extern \"C\")\n",
              ok ? "ok" : "FAIL");
  return ok ? 0 : 1;
}
