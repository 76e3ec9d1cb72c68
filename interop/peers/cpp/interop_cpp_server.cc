// interop_cpp_server: grpc.testing.TestService on grpc C++ 1.51 (sync API),
// the server features of grpc's doc/interop-test-descriptions.md that the
// interop client cases need:
//
//   EmptyCall, UnaryCall, StreamingInputCall, StreamingOutputCall,
//   FullDuplexCall, HalfDuplexCall; UnimplementedCall and
//   CacheableUnaryCall are left unimplemented (UNIMPLEMENTED).
//   Echo Status      response_status with a non-zero code ends the call
//                    with that code and message, nothing else processed
//   Echo Metadata    x-grpc-test-echo-initial -> initial metadata,
//                    x-grpc-test-echo-trailing-bin -> trailing metadata
//   CompressedResponse  response_compressed / ResponseParameters.compressed:
//                    gzip for the call (ServerContext::
//                    set_compression_algorithm), and per message
//                    WriteOptions::set_no_compression() for the ones that
//                    must go out uncompressed
//   CompressedRequest   expect_compressed: checked per received message
//                    against the compressed flag it arrived with (see
//                    interop_cpp_common.h: grpc C++ has no public API for
//                    it; ServerContext::compression_algorithm() is the
//                    *outgoing* algorithm). expect_compressed=true and an
//                    uncompressed message, or expect_compressed=false and
//                    a compressed one: INVALID_ARGUMENT. Absent: no check.
//   interval_us      a sleep before each response (polling for
//                    cancellation), accumulating
//
// A bidi call's compression (the grpc-encoding of its response headers) is
// fixed when its first response goes out: it is gzip when a parameter of
// the request being answered then asks for compression. A later
// compressed=true after headers went out without gzip is sent uncompressed
// (and said so on stderr).
//
// Usage: interop_cpp_server --port=N [--use_tls=false]
//          [--tls_cert_file=PEM --tls_key_file=PEM]
// --port=0 picks a free port. Prints "LISTENING <port>" once it accepts
// connections; serves until SIGTERM or SIGINT, then shuts down gracefully.

#include <grpcpp/grpcpp.h>

#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "grpc/testing/test.grpc.pb.h"
#include "interop_cpp_common.h"

namespace {

using grpc::ServerContext;
using grpc::Status;
using grpc::StatusCode;
using grpc::testing::Empty;
using grpc::testing::EchoStatus;
using grpc::testing::InteropServerContextInspector;
using grpc::testing::Payload;
using grpc::testing::PayloadType;
using grpc::testing::ResponseParameters;
using grpc::testing::SimpleRequest;
using grpc::testing::SimpleResponse;
using grpc::testing::StreamingInputCallRequest;
using grpc::testing::StreamingInputCallResponse;
using grpc::testing::StreamingOutputCallRequest;
using grpc::testing::StreamingOutputCallResponse;

constexpr char kEchoInitialKey[] = "x-grpc-test-echo-initial";
constexpr char kEchoTrailingKey[] = "x-grpc-test-echo-trailing-bin";
constexpr long kMaxStreamMessages = 100000;        // bound on any read loop
constexpr long kMaxIntervalUs = 60L * 1000 * 1000;  // per response

void EchoMetadata(ServerContext* ctx) {
  const auto& md = ctx->client_metadata();
  auto it = md.find(kEchoInitialKey);
  if (it != md.end()) {
    ctx->AddInitialMetadata(kEchoInitialKey,
                            std::string(it->second.data(), it->second.size()));
  }
  it = md.find(kEchoTrailingKey);
  if (it != md.end()) {
    ctx->AddTrailingMetadata(kEchoTrailingKey,
                             std::string(it->second.data(), it->second.size()));
  }
}

// The CompressedRequest feature for the message just received.
Status CheckRequestCompression(ServerContext* ctx, bool expect_compressed) {
  grpc_call* call = InteropServerContextInspector::CoreCall(*ctx);
  bool compressed = icpp::LastMessageWasCompressed(call);
  if (expect_compressed && !compressed) {
    return Status(StatusCode::INVALID_ARGUMENT,
                  "expect_compressed is true but the request message was "
                  "not compressed");
  }
  if (expect_compressed && icpp::IncomingAlgorithm(call) == GRPC_COMPRESS_NONE) {
    return Status(StatusCode::INVALID_ARGUMENT,
                  "expect_compressed is true but the call has no "
                  "grpc-encoding");
  }
  if (!expect_compressed && compressed) {
    return Status(StatusCode::INVALID_ARGUMENT,
                  "expect_compressed is false but the request message was "
                  "compressed");
  }
  return Status::OK;
}

// A payload of `size` zeros of the requested type; only COMPRESSABLE exists.
Status MakePayload(PayloadType type, long size, Payload* out) {
  if (type != grpc::testing::COMPRESSABLE) {
    return Status(StatusCode::INVALID_ARGUMENT, "unsupported response_type");
  }
  if (size < 0 || size > icpp::kMaxPayloadBytes) {
    return Status(StatusCode::INVALID_ARGUMENT, "response size out of range");
  }
  out->set_type(type);
  out->mutable_body()->assign(static_cast<size_t>(size), '\0');
  return Status::OK;
}

bool WantsStatusEcho(bool has, const EchoStatus& st) {
  return has && st.code() != 0;
}

Status EchoedStatus(const EchoStatus& st) {
  return Status(static_cast<StatusCode>(st.code()), st.message());
}

// Sleeps interval_us in <= 10 ms steps; false when the call is cancelled.
bool SleepInterval(ServerContext* ctx, long interval_us) {
  if (interval_us <= 0) return !ctx->IsCancelled();
  interval_us = std::min(interval_us, kMaxIntervalUs);
  const auto end = std::chrono::steady_clock::now() +
                   std::chrono::microseconds(interval_us);
  const long max_steps = interval_us / 10000 + 2;
  for (long step = 0; step < max_steps; ++step) {
    if (ctx->IsCancelled()) return false;
    auto now = std::chrono::steady_clock::now();
    if (now >= end) break;
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
        end - now, std::chrono::milliseconds(10)));
  }
  return !ctx->IsCancelled();
}

// Answers one StreamingOutputCallRequest on a stream: one response per
// ResponseParameters. *headers_sent tracks whether the call's initial
// metadata (and with it the compression choice) has gone out.
template <typename Writer>
Status AnswerStreamingRequest(ServerContext* ctx,
                              const StreamingOutputCallRequest& req,
                              Writer* writer, bool* headers_sent) {
  if (WantsStatusEcho(req.has_response_status(), req.response_status())) {
    return EchoedStatus(req.response_status());
  }
  bool any_compressed = false;
  for (const ResponseParameters& p : req.response_parameters()) {
    if (p.compressed().value()) any_compressed = true;
  }
  if (any_compressed && !*headers_sent) {
    ctx->set_compression_algorithm(GRPC_COMPRESS_GZIP);
  }
  for (const ResponseParameters& p : req.response_parameters()) {
    if (!SleepInterval(ctx, p.interval_us())) {
      return Status(StatusCode::CANCELLED, "cancelled during interval_us");
    }
    StreamingOutputCallResponse resp;
    Status s = MakePayload(req.response_type(), p.size(), resp.mutable_payload());
    if (!s.ok()) return s;
    grpc::WriteOptions opts;
    if (!p.compressed().value()) {
      opts.set_no_compression();
    } else if (*headers_sent &&
               ctx->compression_algorithm() == GRPC_COMPRESS_NONE) {
      std::fprintf(stderr,
                   "interop_cpp_server: compressed=true after the call's "
                   "headers went out uncompressed; sending uncompressed\n");
    }
    bool ok = writer->Write(resp, opts);
    *headers_sent = true;
    if (!ok) return Status(StatusCode::CANCELLED, "client went away");
  }
  return Status::OK;
}

class TestServiceImpl final : public grpc::testing::TestService::Service {
 public:
  Status EmptyCall(ServerContext* ctx, const Empty*, Empty*) override {
    EchoMetadata(ctx);
    return Status::OK;
  }

  Status UnaryCall(ServerContext* ctx, const SimpleRequest* req,
                   SimpleResponse* resp) override {
    EchoMetadata(ctx);
    if (req->has_expect_compressed()) {
      Status s = CheckRequestCompression(ctx, req->expect_compressed().value());
      if (!s.ok()) return s;
    }
    if (WantsStatusEcho(req->has_response_status(), req->response_status())) {
      return EchoedStatus(req->response_status());
    }
    if (req->response_compressed().value()) {
      ctx->set_compression_algorithm(GRPC_COMPRESS_GZIP);
    }
    return MakePayload(req->response_type(), req->response_size(),
                       resp->mutable_payload());
  }

  Status StreamingInputCall(
      ServerContext* ctx, grpc::ServerReader<StreamingInputCallRequest>* reader,
      StreamingInputCallResponse* resp) override {
    EchoMetadata(ctx);
    StreamingInputCallRequest req;
    long count = 0;
    long long total = 0;
    while (reader->Read(&req)) {
      if (++count > kMaxStreamMessages) {
        return Status(StatusCode::RESOURCE_EXHAUSTED, "too many messages");
      }
      if (req.has_expect_compressed()) {
        Status s = CheckRequestCompression(ctx, req.expect_compressed().value());
        if (!s.ok()) return s;
      }
      total += static_cast<long long>(req.payload().body().size());
      if (total > 0x7fffffffLL) {
        return Status(StatusCode::RESOURCE_EXHAUSTED, "aggregate too large");
      }
    }
    resp->set_aggregated_payload_size(static_cast<int32_t>(total));
    return Status::OK;
  }

  Status StreamingOutputCall(
      ServerContext* ctx, const StreamingOutputCallRequest* req,
      grpc::ServerWriter<StreamingOutputCallResponse>* writer) override {
    EchoMetadata(ctx);
    bool headers_sent = false;
    return AnswerStreamingRequest(ctx, *req, writer, &headers_sent);
  }

  Status FullDuplexCall(
      ServerContext* ctx,
      grpc::ServerReaderWriter<StreamingOutputCallResponse,
                               StreamingOutputCallRequest>* stream) override {
    EchoMetadata(ctx);
    bool headers_sent = false;
    StreamingOutputCallRequest req;
    long count = 0;
    while (stream->Read(&req)) {
      if (++count > kMaxStreamMessages) {
        return Status(StatusCode::RESOURCE_EXHAUSTED, "too many messages");
      }
      Status s = AnswerStreamingRequest(ctx, req, stream, &headers_sent);
      if (!s.ok()) return s;
    }
    return Status::OK;
  }

  Status HalfDuplexCall(
      ServerContext* ctx,
      grpc::ServerReaderWriter<StreamingOutputCallResponse,
                               StreamingOutputCallRequest>* stream) override {
    EchoMetadata(ctx);
    std::vector<StreamingOutputCallRequest> requests;
    StreamingOutputCallRequest req;
    while (stream->Read(&req)) {
      if (static_cast<long>(requests.size()) >= kMaxStreamMessages) {
        return Status(StatusCode::RESOURCE_EXHAUSTED, "too many messages");
      }
      requests.push_back(req);
    }
    bool headers_sent = false;
    for (const StreamingOutputCallRequest& r : requests) {
      Status s = AnswerStreamingRequest(ctx, r, stream, &headers_sent);
      if (!s.ok()) return s;
    }
    return Status::OK;
  }
};

void Usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s --port=N [--use_tls=false] "
               "[--tls_cert_file=PEM --tls_key_file=PEM]\n",
               argv0);
}

}  // namespace

int main(int argc, char** argv) {
  long port = -1;
  bool use_tls = false;
  std::string cert_file;
  std::string key_file;
  icpp::Args args{argc, argv};
  for (; args.i < argc; ++args.i) {
    std::string v;
    if (icpp::TakeFlag(&args, "port", &v)) {
      if (!icpp::ParseLong(v, 0, 65535, &port)) {
        std::fprintf(stderr, "bad --port %s\n", v.c_str());
        return 2;
      }
    } else if (icpp::TakeFlag(&args, "use_tls", &v, true)) {
      if (!icpp::ParseBool(v, &use_tls)) {
        std::fprintf(stderr, "bad --use_tls %s\n", v.c_str());
        return 2;
      }
    } else if (icpp::TakeFlag(&args, "tls_cert_file", &v)) {
      cert_file = v;
    } else if (icpp::TakeFlag(&args, "tls_key_file", &v)) {
      key_file = v;
    } else {
      Usage(argv[0]);
      return 2;
    }
  }
  if (port < 0) {
    Usage(argv[0]);
    return 2;
  }

  std::shared_ptr<grpc::ServerCredentials> creds =
      grpc::InsecureServerCredentials();
  if (use_tls) {
    // grpc's server1.pem is not shipped with Debian's packages: the
    // certificate and key must be given.
    grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
    if (cert_file.empty() || key_file.empty() ||
        !icpp::ReadFile(cert_file, &pair.cert_chain) ||
        !icpp::ReadFile(key_file, &pair.private_key)) {
      std::fprintf(stderr,
                   "interop_cpp_server: --use_tls=true needs readable "
                   "--tls_cert_file and --tls_key_file\n");
      return 2;
    }
    grpc::SslServerCredentialsOptions opts;
    opts.pem_key_cert_pairs.push_back(pair);
    creds = grpc::SslServerCredentials(opts);
  }

  // Block the stop signals before grpc starts any thread, so every thread
  // inherits the mask and only the sigwait below sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  TestServiceImpl service;
  int selected_port = 0;
  grpc::ServerBuilder builder;
  // The wildcard: IPv4 and IPv6 where available (grpc falls back to IPv4
  // alone when there is no IPv6).
  builder.AddListeningPort("127.0.0.1:" + std::to_string(port), creds,
                           &selected_port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || selected_port == 0) {
    std::fprintf(stderr, "interop_cpp_server: cannot listen on port %ld\n",
                 port);
    return 1;
  }
  std::printf("LISTENING %d\n", selected_port);
  std::fflush(stdout);

  int sig = 0;
  if (sigwait(&stop_signals, &sig) != 0) {
    std::fprintf(stderr, "interop_cpp_server: sigwait failed\n");
  }
  std::fprintf(stderr, "interop_cpp_server: signal %d, shutting down\n", sig);
  // In-flight calls get 2 s, then are cancelled (sleeping handlers poll for
  // that and return).
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  server->Wait();
  return 0;
}
