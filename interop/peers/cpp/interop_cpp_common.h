// Shared by the grpc C++ interop peers (interop_cpp_server,
// interop_cpp_client): flag parsing, payload helpers, and access to the
// per-message compression flag of the last message a call received.
// Header-only so each peer stays one translation unit of its own.
#ifndef TERN_INTEROP_PEERS_CPP_INTEROP_CPP_COMMON_H
#define TERN_INTEROP_PEERS_CPP_INTEROP_CPP_COMMON_H

#include <grpc/grpc.h>
#include <grpcpp/grpcpp.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

// ---------------------------------------------------------------------------
// Per-message compression, as far as grpc C++ 1.51 exposes it.
//
// The public API has no way to ask "was the message I just received
// compressed?": ServerContext::compression_algorithm() is the algorithm the
// server *sends* with (what set_compression_algorithm() chose), not the
// request's. grpc core keeps the flags of the last received message on the
// call and exports two test-only accessors from libgrpc.so (declared in
// grpc's uninstalled src/core/lib/surface/call_test_only.h, C++ linkage);
// grpc C++'s own interop peers use exactly these. ServerContextBase and
// ClientContext declare the classes grpc::testing::Interop{Server,Client}
// ContextInspector friends for this purpose; the peers define their own
// (below) to reach the core call.
//
// In the flags, GRPC_WRITE_INTERNAL_COMPRESS (0x80000000) marks a message
// that arrived compressed and was not (yet) decompressed, and
// GRPC_WRITE_INTERNAL_TEST_ONLY_WAS_COMPRESSED (0x40000000) one that the
// decompression filter inflated. Both are internal defines, so spelled out.
uint32_t grpc_call_test_only_get_message_flags(grpc_call* call);
grpc_compression_algorithm grpc_call_test_only_get_compression_algorithm(
    grpc_call* call);

namespace grpc {
namespace testing {

class InteropServerContextInspector {
 public:
  static grpc_call* CoreCall(const grpc::ServerContextBase& ctx) {
    return ctx.call_.call;
  }
};

class InteropClientContextInspector {
 public:
  static grpc_call* CoreCall(const grpc::ClientContext& ctx) {
    return ctx.call_;
  }
};

}  // namespace testing
}  // namespace grpc

namespace icpp {

constexpr uint32_t kFlagInternalCompress = 0x80000000u;
constexpr uint32_t kFlagWasCompressed = 0x40000000u;

// Whether the last message received on this core call had the compressed
// flag set on the wire.
inline bool LastMessageWasCompressed(grpc_call* call) {
  if (call == nullptr) return false;
  uint32_t flags = grpc_call_test_only_get_message_flags(call);
  return (flags & (kFlagInternalCompress | kFlagWasCompressed)) != 0;
}

// The grpc-encoding the peer declared for this call's messages.
inline grpc_compression_algorithm IncomingAlgorithm(grpc_call* call) {
  if (call == nullptr) return GRPC_COMPRESS_NONE;
  return grpc_call_test_only_get_compression_algorithm(call);
}

// ---------------------------------------------------------------------------
// Flags: --name=value (or --name value); a bare --name of a boolean is true.

struct Args {
  int argc;
  char** argv;
  int i = 1;
};

// True when argv[a->i] is --name; then *value is its value (advancing past
// a separate value argument) and *had_value whether one was given.
inline bool TakeFlag(Args* a, const char* name, std::string* value,
                     bool is_bool = false) {
  std::string arg = a->argv[a->i];
  std::string prefix = std::string("--") + name;
  if (arg == prefix) {
    if (is_bool) {
      if (a->i + 1 < a->argc && (std::string(a->argv[a->i + 1]) == "true" ||
                                 std::string(a->argv[a->i + 1]) == "false")) {
        *value = a->argv[++a->i];
      } else {
        *value = "true";
      }
      return true;
    }
    if (a->i + 1 >= a->argc) {
      std::fprintf(stderr, "missing value for %s\n", prefix.c_str());
      std::exit(2);
    }
    *value = a->argv[++a->i];
    return true;
  }
  if (arg.compare(0, prefix.size() + 1, prefix + "=") == 0) {
    *value = arg.substr(prefix.size() + 1);
    return true;
  }
  return false;
}

inline bool ParseBool(const std::string& s, bool* out) {
  if (s == "true" || s == "1" || s == "yes") {
    *out = true;
    return true;
  }
  if (s == "false" || s == "0" || s == "no") {
    *out = false;
    return true;
  }
  return false;
}

inline bool ParseLong(const std::string& s, long lo, long hi, long* out) {
  if (s.empty()) return false;
  errno = 0;
  char* end = nullptr;
  long v = std::strtol(s.c_str(), &end, 10);
  if (errno != 0 || end == nullptr || *end != '\0' || v < lo || v > hi) {
    return false;
  }
  *out = v;
  return true;
}

inline bool ReadFile(const std::string& path, std::string* out) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return false;
  out->clear();
  char chunk[8192];
  const size_t kMaxBytes = 1u << 20;  // certificates and keys are small
  for (;;) {
    size_t n = std::fread(chunk, 1, sizeof chunk, f);
    out->append(chunk, n);
    if (n < sizeof chunk || out->size() > kMaxBytes) break;
  }
  bool ok = !std::ferror(f) && out->size() <= kMaxBytes;
  std::fclose(f);
  return ok;
}

// ---------------------------------------------------------------------------
// Payloads: the test cases only ever use bodies of zeros.

// Largest payload either peer builds or accepts as a size parameter.
constexpr long kMaxPayloadBytes = 64L << 20;

inline bool AllZero(const std::string& body) {
  for (char c : body) {
    if (c != '\0') return false;
  }
  return true;
}

inline const char* StatusCodeName(int code) {
  static const char* const kNames[] = {
      "OK",          "CANCELLED",         "UNKNOWN",
      "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
      "ALREADY_EXISTS",   "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
      "FAILED_PRECONDITION", "ABORTED",       "OUT_OF_RANGE",
      "UNIMPLEMENTED", "INTERNAL",          "UNAVAILABLE",
      "DATA_LOSS",     "UNAUTHENTICATED"};
  if (code < 0 || code > 16) return "?";
  return kNames[code];
}

// "CODE(n) 'message'" with non-printable bytes escaped.
inline std::string DescribeStatus(const grpc::Status& s) {
  std::string out = StatusCodeName(s.error_code());
  out += "(" + std::to_string(static_cast<int>(s.error_code())) + ") '";
  for (unsigned char c : s.error_message()) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  out += "'";
  return out;
}

}  // namespace icpp

#endif  // TERN_INTEROP_PEERS_CPP_INTEROP_CPP_COMMON_H
