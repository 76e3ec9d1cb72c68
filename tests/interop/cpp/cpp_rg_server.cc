// cpp_rg_server: a grpc C++ (sync API) RouteGuide *test* server, the peer
// our client is checked against. Tutorial semantics plus the hooks of the
// RouteGuide test protocol (docs/testing.md):
//
//   x-delay-ms: N            wait N ms first, polling for cancellation
//   x-echo-initial: V        echoed in the initial metadata
//   x-echo-trailing-bin: B   echoed in the trailing metadata
//   x-query: cancels         (GetFeature) trailer x-cancel-count: N
//   x-query: peer            (GetFeature) trailer x-peer-identity: the
//                            client certificate's CN (auth context
//                            x509_common_name); none without one
//   x-fail: CODE             status CODE, message "failed on purpose"
//
// Usage: cpp_rg_server [--port N] [--db FILE] [--use_tls=true
//          --tls_cert_file=F --tls_key_file=F
//          [--tls_client_ca_file=F [--require_client_cert=true]]]
// (grpc::SslServerCredentials; flags take --flag=value or --flag value).
// Prints "LISTENING <port>" once it accepts connections; serves until
// SIGTERM or SIGINT, then shuts down gracefully.

#include <grpcpp/grpcpp.h>

#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "rg_common.h"
#include "route_guide.grpc.pb.h"

#ifndef RG_DEFAULT_DB
#define RG_DEFAULT_DB "route_guide_db.json"
#endif

namespace {

using grpc::ServerContext;
using grpc::Status;
using grpc::StatusCode;
using routeguide::Feature;
using routeguide::Point;
using routeguide::Rectangle;
using routeguide::RouteNote;
using routeguide::RouteSummary;

constexpr long kMaxDelayMs = 120000;          // a test never needs more
constexpr long kMaxStreamMessages = 1000000;  // bound on any read loop
constexpr const char kFailMessage[] = "failed on purpose";

// First value of a request metadata key, if present.
bool ClientMetadata(const ServerContext* ctx, const char* key,
                    std::string* value) {
  const auto& md = ctx->client_metadata();
  auto it = md.find(key);
  if (it == md.end()) return false;
  value->assign(it->second.data(), it->second.size());
  return true;
}

class RouteGuideTestService final : public routeguide::RouteGuide::Service {
 public:
  explicit RouteGuideTestService(std::vector<rgpeer::DbFeature> db)
      : db_(std::move(db)) {}

  Status GetFeature(ServerContext* ctx, const Point* point,
                    Feature* feature) override {
    Status early;
    if (!Prologue(ctx, &early)) return early;
    std::string query;
    if (ClientMetadata(ctx, "x-query", &query) && query == "cancels") {
      ctx->AddTrailingMetadata("x-cancel-count",
                               std::to_string(cancel_count_.load()));
    } else if (query == "peer") {
      std::shared_ptr<const grpc::AuthContext> auth = ctx->auth_context();
      if (auth) {
        std::vector<grpc::string_ref> cn =
            auth->FindPropertyValues("x509_common_name");
        if (!cn.empty()) {
          ctx->AddTrailingMetadata("x-peer-identity",
                                   std::string(cn[0].data(), cn[0].size()));
        }
      }
    }
    FillFeature(*point, feature);
    return Status::OK;
  }

  Status ListFeatures(ServerContext* ctx, const Rectangle* rect,
                      grpc::ServerWriter<Feature>* writer) override {
    Status early;
    if (!Prologue(ctx, &early)) return early;
    const Point& lo = rect->lo();
    const Point& hi = rect->hi();
    for (const rgpeer::DbFeature& f : db_) {
      if (!rgpeer::InRectangle(lo.latitude(), lo.longitude(), hi.latitude(),
                               hi.longitude(), f.latitude, f.longitude)) {
        continue;
      }
      Feature out;
      out.set_name(f.name);
      out.mutable_location()->set_latitude(f.latitude);
      out.mutable_location()->set_longitude(f.longitude);
      if (!writer->Write(out)) {
        return Status(StatusCode::CANCELLED, "client went away");
      }
    }
    return Status::OK;
  }

  Status RecordRoute(ServerContext* ctx, grpc::ServerReader<Point>* reader,
                     RouteSummary* summary) override {
    Status early;
    if (!Prologue(ctx, &early)) return early;
    auto start = std::chrono::steady_clock::now();
    long points = 0;
    long features = 0;
    double distance = 0;
    Point previous;
    Point point;
    while (reader->Read(&point)) {
      if (++points > kMaxStreamMessages) {
        return Status(StatusCode::RESOURCE_EXHAUSTED, "route too long");
      }
      // As grpc C++'s tutorial: only points with a named feature count.
      const rgpeer::DbFeature* f =
          rgpeer::FindFeature(db_, point.latitude(), point.longitude());
      if (f != nullptr && !f->name.empty()) ++features;
      if (points > 1) {
        distance += rgpeer::DistanceMetres(
            previous.latitude(), previous.longitude(), point.latitude(),
            point.longitude());
      }
      previous = point;
    }
    auto elapsed = std::chrono::steady_clock::now() - start;
    summary->set_point_count(static_cast<int32_t>(points));
    summary->set_feature_count(static_cast<int32_t>(features));
    summary->set_distance(static_cast<int32_t>(distance));
    summary->set_elapsed_time(static_cast<int32_t>(
        std::chrono::duration_cast<std::chrono::seconds>(elapsed).count()));
    return Status::OK;
  }

  Status RouteChat(
      ServerContext* ctx,
      grpc::ServerReaderWriter<RouteNote, RouteNote>* stream) override {
    Status early;
    if (!Prologue(ctx, &early)) return early;
    // As grpcio's tutorial: the notes of this call only.
    std::vector<RouteNote> seen;
    RouteNote note;
    while (stream->Read(&note)) {
      if (static_cast<long>(seen.size()) >= kMaxStreamMessages) {
        return Status(StatusCode::RESOURCE_EXHAUSTED, "too many notes");
      }
      for (const RouteNote& old : seen) {
        if (old.location().latitude() == note.location().latitude() &&
            old.location().longitude() == note.location().longitude()) {
          if (!stream->Write(old)) {
            return Status(StatusCode::CANCELLED, "client went away");
          }
        }
      }
      seen.push_back(note);
    }
    return Status::OK;
  }

 private:
  // The hooks every handler runs first. Returns false, with the status to
  // return in *early, when the handler must stop here.
  bool Prologue(ServerContext* ctx, Status* early) {
    std::string value;
    if (ClientMetadata(ctx, "x-echo-initial", &value)) {
      ctx->AddInitialMetadata("x-echo-initial", value);
    }
    if (ClientMetadata(ctx, "x-echo-trailing-bin", &value)) {
      ctx->AddTrailingMetadata("x-echo-trailing-bin", value);
    }
    long delay_ms = 0;
    if (ClientMetadata(ctx, "x-delay-ms", &value) &&
        rgpeer::ParseLong(value, 0, kMaxDelayMs, &delay_ms) && delay_ms > 0) {
      if (!Delay(ctx, delay_ms)) {
        *early = Status(StatusCode::CANCELLED, "cancelled during x-delay-ms");
        return false;
      }
    }
    long code = 0;
    if (ClientMetadata(ctx, "x-fail", &value) &&
        rgpeer::ParseLong(value, 1, 16, &code)) {
      *early = Status(static_cast<StatusCode>(code), kFailMessage);
      return false;
    }
    return true;
  }

  // Sleeps up to delay_ms in 10 ms steps; false (and one more cancel
  // counted) when the call is cancelled meanwhile.
  bool Delay(ServerContext* ctx, long delay_ms) {
    const auto end = std::chrono::steady_clock::now() +
                     std::chrono::milliseconds(delay_ms);
    const long max_steps = delay_ms / 10 + 2;
    for (long step = 0; step < max_steps; ++step) {
      if (ctx->IsCancelled()) {
        cancel_count_.fetch_add(1);
        return false;
      }
      auto now = std::chrono::steady_clock::now();
      if (now >= end) break;
      std::this_thread::sleep_for(
          std::min<std::chrono::steady_clock::duration>(
              end - now, std::chrono::milliseconds(10)));
    }
    return true;
  }

  void FillFeature(const Point& point, Feature* feature) const {
    const rgpeer::DbFeature* f =
        rgpeer::FindFeature(db_, point.latitude(), point.longitude());
    feature->set_name(f != nullptr ? f->name : std::string());
    *feature->mutable_location() = point;
  }

  const std::vector<rgpeer::DbFeature> db_;
  std::atomic<long> cancel_count_{0};
};

void Usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s [--port N] [--db FILE] [--use_tls=true|false\n"
               "         --tls_cert_file=F --tls_key_file=F\n"
               "         [--tls_client_ca_file=F "
               "[--require_client_cert=true|false]]]\n",
               argv0);
}

}  // namespace

int main(int argc, char** argv) {
  long port = 0;
  std::string db_path = RG_DEFAULT_DB;
  bool use_tls = false, require_client_cert = false;
  std::string cert_file, key_file, client_ca_file;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i], value;
    bool missing = false;
    int b = 0;
    if (rgpeer::FlagValue(argc, argv, &i, "--port", &value, &missing)) {
      if (!rgpeer::ParseLong(value, 0, 65535, &port)) {
        std::fprintf(stderr, "bad --port %s\n", value.c_str());
        return 2;
      }
    } else if (rgpeer::FlagValue(argc, argv, &i, "--db", &value, &missing)) {
      db_path = value;
    } else if (rgpeer::FlagValue(argc, argv, &i, "--tls_cert_file", &value,
                                 &missing)) {
      cert_file = value;
    } else if (rgpeer::FlagValue(argc, argv, &i, "--tls_key_file", &value,
                                 &missing)) {
      key_file = value;
    } else if (rgpeer::FlagValue(argc, argv, &i, "--tls_client_ca_file",
                                 &value, &missing)) {
      client_ca_file = value;
    } else if (!missing &&
               (b = rgpeer::FlagBool(argc, argv, &i, "--use_tls", &use_tls))) {
      if (b < 0) {
        std::fprintf(stderr, "bad %s (true or false)\n", arg.c_str());
        return 2;
      }
    } else if (!missing && (b = rgpeer::FlagBool(argc, argv, &i,
                                                 "--require_client_cert",
                                                 &require_client_cert))) {
      if (b < 0) {
        std::fprintf(stderr, "bad %s (true or false)\n", arg.c_str());
        return 2;
      }
    } else {
      if (missing) std::fprintf(stderr, "missing value for %s\n", arg.c_str());
      Usage(argv[0]);
      return 2;
    }
  }
  if (use_tls && (cert_file.empty() || key_file.empty())) {
    std::fprintf(stderr,
                 "cpp_rg_server: --use_tls needs --tls_cert_file and "
                 "--tls_key_file\n");
    return 2;
  }
  if (!use_tls && (!cert_file.empty() || !key_file.empty() ||
                   !client_ca_file.empty() || require_client_cert)) {
    std::fprintf(stderr, "cpp_rg_server: TLS flags without --use_tls=true\n");
    return 2;
  }
  if (require_client_cert && client_ca_file.empty()) {
    std::fprintf(stderr,
                 "cpp_rg_server: --require_client_cert needs "
                 "--tls_client_ca_file\n");
    return 2;
  }
  std::shared_ptr<grpc::ServerCredentials> creds =
      grpc::InsecureServerCredentials();
  if (use_tls) {
    std::string err;
    grpc::SslServerCredentialsOptions ssl(
        require_client_cert
            ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
        : client_ca_file.empty()
            ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
            : GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
    grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
    if (!rgpeer::ReadWholeFile(key_file, &pair.private_key, &err) ||
        !rgpeer::ReadWholeFile(cert_file, &pair.cert_chain, &err) ||
        (!client_ca_file.empty() &&
         !rgpeer::ReadWholeFile(client_ca_file, &ssl.pem_root_certs, &err))) {
      std::fprintf(stderr, "cpp_rg_server: %s\n", err.c_str());
      return 2;
    }
    ssl.pem_key_cert_pairs.push_back(pair);
    creds = grpc::SslServerCredentials(ssl);
    std::fprintf(stderr, "cpp_rg_server: TLS%s\n",
                 require_client_cert ? ", client certificate required" : "");
  }

  std::vector<rgpeer::DbFeature> db;
  std::string err;
  if (!rgpeer::LoadFeatureDb(db_path, &db, &err)) {
    std::fprintf(stderr, "cpp_rg_server: %s\n", err.c_str());
    return 1;
  }

  // Block the stop signals before grpc starts any thread, so every thread
  // inherits the mask and only the sigwait below sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  RouteGuideTestService service(std::move(db));
  int selected_port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:" + std::to_string(port),
                           creds, &selected_port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || selected_port == 0) {
    std::fprintf(stderr, "cpp_rg_server: cannot listen on 127.0.0.1:%ld\n",
                 port);
    return 1;
  }
  std::printf("LISTENING %d\n", selected_port);
  std::fflush(stdout);

  int sig = 0;
  if (sigwait(&stop_signals, &sig) != 0) {
    std::fprintf(stderr, "cpp_rg_server: sigwait failed\n");
  }
  std::fprintf(stderr, "cpp_rg_server: signal %d, shutting down\n", sig);
  // In-flight calls get 2 s, then are cancelled (delayed handlers poll for
  // that and return).
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  server->Wait();
  return 0;
}
