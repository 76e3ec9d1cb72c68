// interop_cpp_client: grpc C++ 1.51 (sync API) client for the interop test
// cases of grpc's doc/interop-test-descriptions.md:
//
//   empty_unary large_unary client_streaming server_streaming ping_pong
//   empty_stream timeout_on_sleeping_server cancel_after_begin
//   cancel_after_first_response status_code_and_message
//   special_status_message custom_metadata unimplemented_method
//   unimplemented_service client_compressed_unary server_compressed_unary
//   client_compressed_streaming server_compressed_streaming
//
// Usage: interop_cpp_client --server_host=H --server_port=N
//          --test_case=NAME[,NAME...]|all [--server_host_override=NAME]
//          [--use_tls=false] [--ca_file=PEM] [--skip=NAME[,NAME...]]
//          [--rpc_timeout_ms=N]
//
// Prints one line per case, "PASS name", "FAIL name: why" or
// "SKIP name: why", then "N passed, N failed"; exits 1 when a case failed,
// 2 on bad usage. Every RPC has a deadline (--rpc_timeout_ms, default
// 10000) and every read loop a bound.
//
// The compressed-flag assertions of server_compressed_{unary,streaming}
// read the flags grpc core recorded for the last received message (see
// interop_cpp_common.h), as grpc C++'s own interop client does.

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "grpc/testing/test.grpc.pb.h"
#include "interop_cpp_common.h"

namespace {

using grpc::ClientContext;
using grpc::Status;
using grpc::StatusCode;
using grpc::testing::Empty;
using grpc::testing::InteropClientContextInspector;
using grpc::testing::Payload;
using grpc::testing::SimpleRequest;
using grpc::testing::SimpleResponse;
using grpc::testing::StreamingInputCallRequest;
using grpc::testing::StreamingInputCallResponse;
using grpc::testing::StreamingOutputCallRequest;
using grpc::testing::StreamingOutputCallResponse;
using grpc::testing::TestService;
using grpc::testing::UnimplementedService;

constexpr char kEchoInitialKey[] = "x-grpc-test-echo-initial";
constexpr char kEchoInitialValue[] = "test_initial_metadata_value";
constexpr char kEchoTrailingKey[] = "x-grpc-test-echo-trailing-bin";
const std::string kEchoTrailingValue("\xab\xab\xab", 3);

long g_rpc_timeout_ms = 10000;

// Every RPC of a case gets a fresh context with the default deadline.
void Arm(ClientContext* ctx) {
  ctx->set_deadline(std::chrono::system_clock::now() +
                    std::chrono::milliseconds(g_rpc_timeout_ms));
}

std::string Zeros(size_t n) { return std::string(n, '\0'); }

// "" when the payload is `size` zero bytes of type COMPRESSABLE.
std::string CheckPayload(const Payload& p, size_t size, const char* what) {
  std::ostringstream err;
  if (p.type() != grpc::testing::COMPRESSABLE) {
    err << what << ": payload type " << p.type() << ", want COMPRESSABLE";
  } else if (p.body().size() != size) {
    err << what << ": payload body is " << p.body().size() << " bytes, want "
        << size;
  } else if (!icpp::AllZero(p.body())) {
    err << what << ": payload body is not all zeros";
  }
  return err.str();
}

std::string StatusError(const char* what, const Status& s) {
  return std::string(what) + ": " + icpp::DescribeStatus(s);
}

std::string ExpectCode(const char* what, const Status& s, StatusCode want) {
  if (s.error_code() == want) return "";
  return std::string(what) + ": got " + icpp::DescribeStatus(s) + ", want " +
         icpp::StatusCodeName(want);
}

// The compressed flag of the last message received on ctx's call must be
// `want`.
std::string ExpectCompressedFlag(const ClientContext& ctx, bool want,
                                 const char* what) {
  bool got = icpp::LastMessageWasCompressed(
      InteropClientContextInspector::CoreCall(ctx));
  if (got == want) return "";
  return std::string(what) +
         (want ? ": response arrived without the compressed flag"
               : ": response arrived with the compressed flag set");
}

// First value of key in a metadata multimap, "" (and *found false) if none.
std::string FindMetadata(
    const std::multimap<grpc::string_ref, grpc::string_ref>& md,
    const char* key, bool* found) {
  auto it = md.find(key);
  *found = it != md.end();
  if (!*found) return "";
  return std::string(it->second.data(), it->second.size());
}

std::string CheckEchoedMetadata(const ClientContext& ctx, const char* what) {
  bool found = false;
  std::string v = FindMetadata(ctx.GetServerInitialMetadata(),
                               kEchoInitialKey, &found);
  if (!found) {
    return std::string(what) + ": no " + kEchoInitialKey +
           " in the initial metadata";
  }
  if (v != kEchoInitialValue) {
    return std::string(what) + ": " + kEchoInitialKey + " is '" + v + "'";
  }
  v = FindMetadata(ctx.GetServerTrailingMetadata(), kEchoTrailingKey, &found);
  if (!found) {
    return std::string(what) + ": no " + kEchoTrailingKey +
           " in the trailing metadata";
  }
  if (v != kEchoTrailingValue) {
    return std::string(what) + ": " + kEchoTrailingKey + " has " +
           std::to_string(v.size()) + " bytes, not 0xababab";
  }
  return "";
}

SimpleRequest LargeUnaryRequest() {
  SimpleRequest req;
  req.set_response_type(grpc::testing::COMPRESSABLE);
  req.set_response_size(314159);
  req.mutable_payload()->set_body(Zeros(271828));
  return req;
}

StreamingOutputCallRequest BidiRequest(int response_size, size_t body_size) {
  StreamingOutputCallRequest req;
  req.set_response_type(grpc::testing::COMPRESSABLE);
  req.add_response_parameters()->set_size(response_size);
  req.mutable_payload()->set_body(Zeros(body_size));
  return req;
}

class Cases {
 public:
  explicit Cases(const std::shared_ptr<grpc::Channel>& channel)
      : stub_(TestService::NewStub(channel)),
        unimplemented_stub_(UnimplementedService::NewStub(channel)) {}

  std::string EmptyUnary() {
    ClientContext ctx;
    Arm(&ctx);
    Empty req;
    Empty resp;
    Status s = stub_->EmptyCall(&ctx, req, &resp);
    if (!s.ok()) return StatusError("EmptyCall", s);
    if (resp.ByteSizeLong() != 0) return "EmptyCall: response is not empty";
    return "";
  }

  std::string LargeUnary() {
    ClientContext ctx;
    Arm(&ctx);
    SimpleResponse resp;
    Status s = stub_->UnaryCall(&ctx, LargeUnaryRequest(), &resp);
    if (!s.ok()) return StatusError("UnaryCall", s);
    return CheckPayload(resp.payload(), 314159, "UnaryCall");
  }

  std::string ClientCompressedUnary() {
    {  // 1. the feature probe: uncompressed, expect_compressed = true
      ClientContext ctx;
      Arm(&ctx);
      SimpleRequest req = LargeUnaryRequest();
      req.mutable_expect_compressed()->set_value(true);
      SimpleResponse resp;
      Status s = stub_->UnaryCall(&ctx, req, &resp);
      std::string err = ExpectCode("probe (uncompressed, expect_compressed)",
                                   s, StatusCode::INVALID_ARGUMENT);
      if (!err.empty()) return err;
    }
    for (bool compressed : {true, false}) {  // 2. compressed, 3. uncompressed
      ClientContext ctx;
      Arm(&ctx);
      if (compressed) ctx.set_compression_algorithm(GRPC_COMPRESS_GZIP);
      SimpleRequest req = LargeUnaryRequest();
      req.mutable_expect_compressed()->set_value(compressed);
      SimpleResponse resp;
      Status s = stub_->UnaryCall(&ctx, req, &resp);
      const char* what = compressed ? "compressed UnaryCall"
                                    : "uncompressed UnaryCall";
      if (!s.ok()) return StatusError(what, s);
      std::string err = CheckPayload(resp.payload(), 314159, what);
      if (!err.empty()) return err;
    }
    return "";
  }

  std::string ServerCompressedUnary() {
    for (bool compressed : {true, false}) {
      ClientContext ctx;
      Arm(&ctx);
      SimpleRequest req = LargeUnaryRequest();
      req.mutable_response_compressed()->set_value(compressed);
      SimpleResponse resp;
      Status s = stub_->UnaryCall(&ctx, req, &resp);
      const char* what = compressed ? "UnaryCall(response_compressed=true)"
                                    : "UnaryCall(response_compressed=false)";
      if (!s.ok()) return StatusError(what, s);
      std::string err = ExpectCompressedFlag(ctx, compressed, what);
      if (err.empty()) err = CheckPayload(resp.payload(), 314159, what);
      if (!err.empty()) return err;
    }
    return "";
  }

  std::string ClientStreaming() {
    ClientContext ctx;
    Arm(&ctx);
    StreamingInputCallResponse resp;
    auto writer = stub_->StreamingInputCall(&ctx, &resp);
    for (size_t size : {27182, 8, 1828, 45904}) {
      StreamingInputCallRequest req;
      req.mutable_payload()->set_body(Zeros(size));
      if (!writer->Write(req)) break;  // the status says why
    }
    writer->WritesDone();
    Status s = writer->Finish();
    if (!s.ok()) return StatusError("StreamingInputCall", s);
    if (resp.aggregated_payload_size() != 74922) {
      return "StreamingInputCall: aggregated_payload_size " +
             std::to_string(resp.aggregated_payload_size()) + ", want 74922";
    }
    return "";
  }

  std::string ClientCompressedStreaming() {
    {  // 1. the feature probe: uncompressed, expect_compressed = true
      ClientContext ctx;
      Arm(&ctx);
      StreamingInputCallResponse resp;
      auto writer = stub_->StreamingInputCall(&ctx, &resp);
      StreamingInputCallRequest req;
      req.mutable_expect_compressed()->set_value(true);
      req.mutable_payload()->set_body(Zeros(27182));
      if (writer->Write(req)) writer->WritesDone();
      Status s = writer->Finish();
      std::string err = ExpectCode("probe (uncompressed, expect_compressed)",
                                   s, StatusCode::INVALID_ARGUMENT);
      if (!err.empty()) return err;
    }
    // 2. a compressed message, 3. an uncompressed one, on one call
    ClientContext ctx;
    Arm(&ctx);
    ctx.set_compression_algorithm(GRPC_COMPRESS_GZIP);
    StreamingInputCallResponse resp;
    auto writer = stub_->StreamingInputCall(&ctx, &resp);
    StreamingInputCallRequest req;
    req.mutable_expect_compressed()->set_value(true);
    req.mutable_payload()->set_body(Zeros(27182));
    if (writer->Write(req)) {
      req.mutable_expect_compressed()->set_value(false);
      req.mutable_payload()->set_body(Zeros(45904));
      if (writer->Write(req, grpc::WriteOptions().set_no_compression())) {
        writer->WritesDone();
      }
    }
    Status s = writer->Finish();
    if (!s.ok()) return StatusError("StreamingInputCall", s);
    if (resp.aggregated_payload_size() != 73086) {
      return "StreamingInputCall: aggregated_payload_size " +
             std::to_string(resp.aggregated_payload_size()) + ", want 73086";
    }
    return "";
  }

  std::string ServerStreaming() {
    const std::vector<int> sizes = {31415, 9, 2653, 58979};
    ClientContext ctx;
    Arm(&ctx);
    StreamingOutputCallRequest req;
    req.set_response_type(grpc::testing::COMPRESSABLE);
    for (int size : sizes) req.add_response_parameters()->set_size(size);
    auto reader = stub_->StreamingOutputCall(&ctx, req);
    std::string err = ReadResponses(reader.get(), sizes, nullptr, &ctx);
    Status s = reader->Finish();
    if (!s.ok()) return StatusError("StreamingOutputCall", s);
    return err;
  }

  std::string ServerCompressedStreaming() {
    const std::vector<int> sizes = {31415, 92653};
    const std::vector<bool> compressed = {true, false};
    ClientContext ctx;
    Arm(&ctx);
    StreamingOutputCallRequest req;
    req.set_response_type(grpc::testing::COMPRESSABLE);
    for (size_t i = 0; i < sizes.size(); ++i) {
      auto* p = req.add_response_parameters();
      p->mutable_compressed()->set_value(compressed[i]);
      p->set_size(sizes[i]);
    }
    auto reader = stub_->StreamingOutputCall(&ctx, req);
    std::string err = ReadResponses(reader.get(), sizes, &compressed, &ctx);
    Status s = reader->Finish();
    if (!s.ok()) return StatusError("StreamingOutputCall", s);
    return err;
  }

  std::string PingPong() {
    const std::vector<std::pair<int, size_t>> steps = {
        {31415, 27182}, {9, 8}, {2653, 1828}, {58979, 45904}};
    ClientContext ctx;
    Arm(&ctx);
    auto stream = stub_->FullDuplexCall(&ctx);
    std::string err;
    for (size_t i = 0; i < steps.size() && err.empty(); ++i) {
      std::string what = "response " + std::to_string(i + 1);
      StreamingOutputCallResponse resp;
      if (!stream->Write(BidiRequest(steps[i].first, steps[i].second))) {
        err = "FullDuplexCall: write " + std::to_string(i + 1) + " failed";
      } else if (!stream->Read(&resp)) {
        err = "FullDuplexCall: stream ended before " + what;
      } else {
        err = CheckPayload(resp.payload(), steps[i].first, what.c_str());
      }
    }
    if (err.empty()) {
      stream->WritesDone();
      StreamingOutputCallResponse extra;
      if (stream->Read(&extra)) err = "FullDuplexCall: more than four responses";
    }
    if (!err.empty()) ctx.TryCancel();
    Status s = stream->Finish();
    if (err.empty() && !s.ok()) return StatusError("FullDuplexCall", s);
    if (!err.empty() && !s.ok()) err += " (" + icpp::DescribeStatus(s) + ")";
    return err;
  }

  std::string EmptyStream() {
    ClientContext ctx;
    Arm(&ctx);
    auto stream = stub_->FullDuplexCall(&ctx);
    stream->WritesDone();
    StreamingOutputCallResponse resp;
    bool got = stream->Read(&resp);
    if (got) ctx.TryCancel();
    Status s = stream->Finish();
    if (got) return "FullDuplexCall: got a response, want none";
    if (!s.ok()) return StatusError("FullDuplexCall", s);
    return "";
  }

  std::string TimeoutOnSleepingServer() {
    ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::milliseconds(1));
    auto stream = stub_->FullDuplexCall(&ctx);
    StreamingOutputCallRequest req;
    req.mutable_payload()->set_body(Zeros(27182));
    stream->Write(req);  // may fail: the deadline can pass first
    Status s = stream->Finish();
    return ExpectCode("FullDuplexCall", s, StatusCode::DEADLINE_EXCEEDED);
  }

  std::string CancelAfterBegin() {
    ClientContext ctx;
    Arm(&ctx);
    StreamingInputCallResponse resp;
    auto writer = stub_->StreamingInputCall(&ctx, &resp);
    ctx.TryCancel();
    Status s = writer->Finish();
    return ExpectCode("StreamingInputCall", s, StatusCode::CANCELLED);
  }

  std::string CancelAfterFirstResponse() {
    ClientContext ctx;
    Arm(&ctx);
    auto stream = stub_->FullDuplexCall(&ctx);
    StreamingOutputCallResponse resp;
    std::string err;
    if (!stream->Write(BidiRequest(31415, 27182))) {
      err = "FullDuplexCall: write failed";
    } else if (!stream->Read(&resp)) {
      err = "FullDuplexCall: no response";
    } else {
      err = CheckPayload(resp.payload(), 31415, "FullDuplexCall");
    }
    ctx.TryCancel();
    Status s = stream->Finish();
    if (!err.empty()) return err + " (" + icpp::DescribeStatus(s) + ")";
    return ExpectCode("FullDuplexCall after cancel", s, StatusCode::CANCELLED);
  }

  std::string StatusCodeAndMessage() {
    const int code = 2;
    const std::string message = "test status message";
    std::string err = UnaryStatusEcho(code, message);
    if (!err.empty()) return err;

    ClientContext ctx;
    Arm(&ctx);
    auto stream = stub_->FullDuplexCall(&ctx);
    StreamingOutputCallRequest req;
    req.mutable_response_status()->set_code(code);
    req.mutable_response_status()->set_message(message);
    if (stream->Write(req)) stream->WritesDone();
    Status s = stream->Finish();
    return CompareStatus("FullDuplexCall", s, code, message);
  }

  std::string SpecialStatusMessage() {
    // "\t\ntest with whitespace\r\nand Unicode BMP <U+263A> and non-BMP
    // <U+1F608>\t\n", the two characters in UTF-8.
    const std::string message =
        "\t\ntest with whitespace\r\nand Unicode BMP \xe2\x98\xba and "
        "non-BMP \xf0\x9f\x98\x88\t\n";
    return UnaryStatusEcho(2, message);
  }

  std::string CustomMetadata() {
    {
      ClientContext ctx;
      Arm(&ctx);
      ctx.AddMetadata(kEchoInitialKey, kEchoInitialValue);
      ctx.AddMetadata(kEchoTrailingKey, kEchoTrailingValue);
      SimpleResponse resp;
      Status s = stub_->UnaryCall(&ctx, LargeUnaryRequest(), &resp);
      if (!s.ok()) return StatusError("UnaryCall", s);
      std::string err = CheckPayload(resp.payload(), 314159, "UnaryCall");
      if (err.empty()) err = CheckEchoedMetadata(ctx, "UnaryCall");
      if (!err.empty()) return err;
    }
    ClientContext ctx;
    Arm(&ctx);
    ctx.AddMetadata(kEchoInitialKey, kEchoInitialValue);
    ctx.AddMetadata(kEchoTrailingKey, kEchoTrailingValue);
    auto stream = stub_->FullDuplexCall(&ctx);
    std::string err;
    StreamingOutputCallResponse resp;
    if (!stream->Write(BidiRequest(314159, 271828))) {
      err = "FullDuplexCall: write failed";
    } else {
      stream->WritesDone();
      if (!stream->Read(&resp)) {
        err = "FullDuplexCall: no response";
      } else {
        err = CheckPayload(resp.payload(), 314159, "FullDuplexCall");
        StreamingOutputCallResponse extra;
        if (err.empty() && stream->Read(&extra)) {
          err = "FullDuplexCall: more than one response";
        }
      }
    }
    if (!err.empty()) ctx.TryCancel();
    Status s = stream->Finish();
    if (!err.empty()) return err;
    if (!s.ok()) return StatusError("FullDuplexCall", s);
    return CheckEchoedMetadata(ctx, "FullDuplexCall");
  }

  std::string UnimplementedMethod() {
    ClientContext ctx;
    Arm(&ctx);
    Empty req;
    Empty resp;
    Status s = stub_->UnimplementedCall(&ctx, req, &resp);
    return ExpectCode("TestService/UnimplementedCall", s,
                      StatusCode::UNIMPLEMENTED);
  }

  std::string UnimplementedServiceCase() {
    ClientContext ctx;
    Arm(&ctx);
    Empty req;
    Empty resp;
    Status s = unimplemented_stub_->UnimplementedCall(&ctx, req, &resp);
    return ExpectCode("UnimplementedService/UnimplementedCall", s,
                      StatusCode::UNIMPLEMENTED);
  }

 private:
  // Reads exactly sizes.size() responses of those sizes (and, if given,
  // those compressed flags), then expects the end of the stream.
  template <typename Reader>
  std::string ReadResponses(Reader* reader, const std::vector<int>& sizes,
                            const std::vector<bool>* compressed,
                            ClientContext* ctx) {
    std::string err;
    for (size_t i = 0; i < sizes.size() && err.empty(); ++i) {
      std::string what = "response " + std::to_string(i + 1);
      StreamingOutputCallResponse resp;
      if (!reader->Read(&resp)) {
        return "stream ended after " + std::to_string(i) + " responses, want " +
               std::to_string(sizes.size());
      }
      if (compressed != nullptr) {
        err = ExpectCompressedFlag(*ctx, (*compressed)[i], what.c_str());
      }
      if (err.empty()) err = CheckPayload(resp.payload(), sizes[i], what.c_str());
    }
    if (err.empty()) {
      StreamingOutputCallResponse extra;
      if (reader->Read(&extra)) {
        err = "more than " + std::to_string(sizes.size()) + " responses";
      }
    }
    if (!err.empty()) ctx->TryCancel();
    return err;
  }

  std::string UnaryStatusEcho(int code, const std::string& message) {
    ClientContext ctx;
    Arm(&ctx);
    SimpleRequest req;
    req.mutable_response_status()->set_code(code);
    req.mutable_response_status()->set_message(message);
    SimpleResponse resp;
    Status s = stub_->UnaryCall(&ctx, req, &resp);
    return CompareStatus("UnaryCall", s, code, message);
  }

  static std::string CompareStatus(const char* what, const Status& s, int code,
                                   const std::string& message) {
    if (static_cast<int>(s.error_code()) != code ||
        s.error_message() != message) {
      return std::string(what) + ": got " + icpp::DescribeStatus(s) +
             ", want " +
             icpp::DescribeStatus(
                 Status(static_cast<StatusCode>(code), message));
    }
    return "";
  }

  std::unique_ptr<TestService::Stub> stub_;
  std::unique_ptr<UnimplementedService::Stub> unimplemented_stub_;
};

struct Case {
  const char* name;
  std::string (Cases::*run)();
};

const Case kCases[] = {
    {"empty_unary", &Cases::EmptyUnary},
    {"large_unary", &Cases::LargeUnary},
    {"client_streaming", &Cases::ClientStreaming},
    {"server_streaming", &Cases::ServerStreaming},
    {"ping_pong", &Cases::PingPong},
    {"empty_stream", &Cases::EmptyStream},
    {"timeout_on_sleeping_server", &Cases::TimeoutOnSleepingServer},
    {"cancel_after_begin", &Cases::CancelAfterBegin},
    {"cancel_after_first_response", &Cases::CancelAfterFirstResponse},
    {"status_code_and_message", &Cases::StatusCodeAndMessage},
    {"special_status_message", &Cases::SpecialStatusMessage},
    {"custom_metadata", &Cases::CustomMetadata},
    {"unimplemented_method", &Cases::UnimplementedMethod},
    {"unimplemented_service", &Cases::UnimplementedServiceCase},
    {"client_compressed_unary", &Cases::ClientCompressedUnary},
    {"server_compressed_unary", &Cases::ServerCompressedUnary},
    {"client_compressed_streaming", &Cases::ClientCompressedStreaming},
    {"server_compressed_streaming", &Cases::ServerCompressedStreaming},
};

const Case* FindCase(const std::string& name) {
  for (const Case& c : kCases) {
    if (name == c.name) return &c;
  }
  return nullptr;
}

std::vector<std::string> SplitList(const std::string& s) {
  std::vector<std::string> out;
  std::string item;
  std::istringstream in(s);
  while (std::getline(in, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

void Usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s --server_host=H --server_port=N "
               "--test_case=NAME[,NAME...]|all\n"
               "          [--server_host_override=NAME] [--use_tls=false] "
               "[--ca_file=PEM]\n"
               "          [--skip=NAME[,NAME...]] [--rpc_timeout_ms=N]\n"
               "cases:",
               argv0);
  for (const Case& c : kCases) std::fprintf(stderr, " %s", c.name);
  std::fprintf(stderr, "\n");
}

}  // namespace

int main(int argc, char** argv) {
  std::string host = "localhost";
  std::string host_override;
  long port = -1;
  std::string test_case;
  std::string skip_list;
  std::string ca_file;
  bool use_tls = false;
  icpp::Args args{argc, argv};
  for (; args.i < argc; ++args.i) {
    std::string v;
    if (icpp::TakeFlag(&args, "server_host", &v)) {
      host = v;
    } else if (icpp::TakeFlag(&args, "server_host_override", &v)) {
      host_override = v;
    } else if (icpp::TakeFlag(&args, "server_port", &v)) {
      if (!icpp::ParseLong(v, 1, 65535, &port)) {
        std::fprintf(stderr, "bad --server_port %s\n", v.c_str());
        return 2;
      }
    } else if (icpp::TakeFlag(&args, "test_case", &v)) {
      test_case = v;
    } else if (icpp::TakeFlag(&args, "skip", &v)) {
      skip_list = v;
    } else if (icpp::TakeFlag(&args, "ca_file", &v)) {
      ca_file = v;
    } else if (icpp::TakeFlag(&args, "use_tls", &v, true)) {
      if (!icpp::ParseBool(v, &use_tls)) {
        std::fprintf(stderr, "bad --use_tls %s\n", v.c_str());
        return 2;
      }
    } else if (icpp::TakeFlag(&args, "rpc_timeout_ms", &v)) {
      if (!icpp::ParseLong(v, 1, 600000, &g_rpc_timeout_ms)) {
        std::fprintf(stderr, "bad --rpc_timeout_ms %s\n", v.c_str());
        return 2;
      }
    } else {
      Usage(argv[0]);
      return 2;
    }
  }
  if (port < 0 || test_case.empty() || host.empty()) {
    Usage(argv[0]);
    return 2;
  }

  std::vector<const Case*> selected;
  if (test_case == "all") {
    for (const Case& c : kCases) selected.push_back(&c);
  } else {
    for (const std::string& name : SplitList(test_case)) {
      const Case* c = FindCase(name);
      if (c == nullptr) {
        std::fprintf(stderr, "unknown test case %s\n", name.c_str());
        Usage(argv[0]);
        return 2;
      }
      selected.push_back(c);
    }
  }
  std::set<std::string> skip;
  for (const std::string& name : SplitList(skip_list)) {
    if (FindCase(name) == nullptr) {
      std::fprintf(stderr, "unknown test case in --skip: %s\n", name.c_str());
      return 2;
    }
    skip.insert(name);
  }

  std::shared_ptr<grpc::ChannelCredentials> creds =
      grpc::InsecureChannelCredentials();
  if (use_tls) {
    grpc::SslCredentialsOptions opts;
    if (!ca_file.empty() && !icpp::ReadFile(ca_file, &opts.pem_root_certs)) {
      std::fprintf(stderr, "cannot read --ca_file %s\n", ca_file.c_str());
      return 2;
    }
    creds = grpc::SslCredentials(opts);
  }
  grpc::ChannelArguments channel_args;
  if (!host_override.empty()) {
    channel_args.SetString(GRPC_ARG_DEFAULT_AUTHORITY, host_override);
    if (use_tls) channel_args.SetSslTargetNameOverride(host_override);
  }
  std::string target = host.find(':') != std::string::npos && host[0] != '['
                           ? "[" + host + "]"
                           : host;
  target += ":" + std::to_string(port);
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateCustomChannel(target, creds, channel_args);
  Cases cases(channel);

  int passed = 0;
  int failed = 0;
  for (const Case* c : selected) {
    if (skip.count(c->name) != 0) {
      std::printf("SKIP %s: skipped by --skip\n", c->name);
    } else {
      std::string err = (cases.*(c->run))();
      if (err.empty()) {
        std::printf("PASS %s\n", c->name);
        ++passed;
      } else {
        std::printf("FAIL %s: %s\n", c->name, err.c_str());
        ++failed;
      }
    }
    std::fflush(stdout);
  }
  std::printf("%d passed, %d failed\n", passed, failed);
  std::fflush(stdout);
  return failed == 0 ? 0 : 1;
}
