// cpp_rg_client: a grpc C++ RouteGuide client that checks a RouteGuide test
// server (docs/testing.md) -- in particular ours, rg_test_server.
//
// Usage: cpp_rg_client --target 127.0.0.1:PORT [--db FILE] [--case NAME]...
//          [--use_tls=true [--ca_file=F] [--server_host_override=NAME]
//           [--client_cert_file=F --client_key_file=F]]
//          [--expect_peer_identity=CN]
// TLS through grpc::SslCredentials, the override through ChannelArguments
// SetSslTargetNameOverride; flags take --flag=value or --flag value.
// Cases run only when named: handshake_refused (the handshake must fail,
// UNAVAILABLE); peer_identity (x-query: peer; also run by default when
// --expect_peer_identity is given, "" meaning no client certificate).
// Prints one line per case, "PASS name" or "FAIL name: why", then
// "N passed, N failed"; exits 0 only when every case passed.

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "rg_common.h"
#include "route_guide.grpc.pb.h"

#ifndef RG_DEFAULT_DB
#define RG_DEFAULT_DB "route_guide_db.json"
#endif

namespace {

using grpc::ClientContext;
using grpc::Status;
using grpc::StatusCode;
using routeguide::Feature;
using routeguide::Point;
using routeguide::Rectangle;
using routeguide::RouteNote;
using routeguide::RouteSummary;
using Clock = std::chrono::steady_clock;

constexpr int kDefaultDeadlineMs = 10000;  // every RPC has one
constexpr const char kFailMessage[] = "failed on purpose";
constexpr const char kService[] = "/routeguide.RouteGuide/";

// What every case gets.
struct Env {
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<routeguide::RouteGuide::Stub> stub;
  std::unique_ptr<grpc::GenericStub> generic;
  std::vector<rgpeer::DbFeature> db;
  std::vector<const rgpeer::DbFeature*> named;  // entries with a name
  bool has_expect_peer = false;
  std::string expect_peer;  // --expect_peer_identity
};

// A case returns "" when it passed, else why it failed.
using CaseResult = std::string;

void SetDeadline(ClientContext* ctx, int ms) {
  ctx->set_deadline(std::chrono::system_clock::now() +
                    std::chrono::milliseconds(ms));
}

long ElapsedMs(Clock::time_point since) {
  return static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(
                               Clock::now() - since)
                               .count());
}

std::string Describe(const Status& st) {
  return "status " + std::to_string(static_cast<int>(st.error_code())) +
         " \"" + st.error_message() + "\"";
}

// Printable form of arbitrary bytes.
std::string Hex(const std::string& bytes) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

std::string PointText(int32_t lat, int32_t lon) {
  return "(" + std::to_string(lat) + "," + std::to_string(lon) + ")";
}

Point MakePoint(int32_t lat, int32_t lon) {
  Point p;
  p.set_latitude(lat);
  p.set_longitude(lon);
  return p;
}

// First value of a metadata key the server sent, if present.
bool FindMetadata(const std::multimap<grpc::string_ref, grpc::string_ref>& md,
                  const std::string& key, std::string* value) {
  auto it = md.find(key);
  if (it == md.end()) return false;
  value->assign(it->second.data(), it->second.size());
  return true;
}

// ---------------------------------------------------------------------------
// The four methods, each checked against the DB. `seed` makes concurrent
// callers use distinct data.

CaseResult CheckGetKnown(Env& env, size_t seed) {
  const rgpeer::DbFeature& want = *env.named[seed % env.named.size()];
  ClientContext ctx;
  SetDeadline(&ctx, kDefaultDeadlineMs);
  Feature got;
  Status st = env.stub->GetFeature(
      &ctx, MakePoint(want.latitude, want.longitude), &got);
  if (!st.ok()) return "GetFeature: " + Describe(st);
  if (got.name() != want.name) {
    return "GetFeature" + PointText(want.latitude, want.longitude) +
           ": name \"" + got.name() + "\", want \"" + want.name + "\"";
  }
  if (got.location().latitude() != want.latitude ||
      got.location().longitude() != want.longitude) {
    return "GetFeature: wrong location " +
           PointText(got.location().latitude(), got.location().longitude());
  }
  return "";
}

CaseResult CheckGetUnknown(Env& env, size_t seed) {
  // Small coordinates near (0,0): nothing of the DB is there.
  int32_t lat = static_cast<int32_t>(seed % 1000);
  int32_t lon = -static_cast<int32_t>(seed % 997) - 1;
  if (rgpeer::FindFeature(env.db, lat, lon) != nullptr) {
    return "test bug: unknown point is in the DB";
  }
  ClientContext ctx;
  SetDeadline(&ctx, kDefaultDeadlineMs);
  Feature got;
  Status st = env.stub->GetFeature(&ctx, MakePoint(lat, lon), &got);
  if (!st.ok()) return "GetFeature(unknown): " + Describe(st);
  if (!got.name().empty()) return "unknown point has name \"" + got.name() + "\"";
  if (got.location().latitude() != lat || got.location().longitude() != lon) {
    return "unknown point: location not echoed, got " +
           PointText(got.location().latitude(), got.location().longitude());
  }
  return "";
}

// The tutorial's rectangle; `reversed` swaps the corners.
CaseResult CheckList(Env& env, bool reversed) {
  const int32_t lat_lo = 400000000, lon_lo = -750000000;
  const int32_t lat_hi = 420000000, lon_hi = -730000000;
  Rectangle rect;
  *rect.mutable_lo() = reversed ? MakePoint(lat_hi, lon_hi) : MakePoint(lat_lo, lon_lo);
  *rect.mutable_hi() = reversed ? MakePoint(lat_lo, lon_lo) : MakePoint(lat_hi, lon_hi);

  using Key = std::tuple<int32_t, int32_t, std::string>;
  std::multiset<Key> want;
  for (const rgpeer::DbFeature& f : env.db) {
    if (rgpeer::InRectangle(lat_lo, lon_lo, lat_hi, lon_hi, f.latitude, f.longitude)) {
      want.insert(Key(f.latitude, f.longitude, f.name));
    }
  }
  if (want.empty()) return "test bug: rectangle holds no feature";

  ClientContext ctx;
  SetDeadline(&ctx, kDefaultDeadlineMs);
  std::unique_ptr<grpc::ClientReader<Feature>> reader(env.stub->ListFeatures(&ctx, rect));
  std::multiset<Key> got;
  Feature f;
  const size_t kMaxMessages = env.db.size() + 1;  // more is already wrong
  while (got.size() < kMaxMessages && reader->Read(&f)) {
    got.insert(Key(f.location().latitude(), f.location().longitude(), f.name()));
  }
  if (got.size() >= kMaxMessages) {
    ctx.TryCancel();
    reader->Finish();
    return "ListFeatures: more features than the DB holds";
  }
  Status st = reader->Finish();
  if (!st.ok()) return "ListFeatures: " + Describe(st);
  if (got != want) {
    return "ListFeatures: got " + std::to_string(got.size()) +
           " features, want " + std::to_string(want.size()) +
           (got.size() == want.size() ? " (different ones)" : "");
  }
  return "";
}

// A route of named DB points mixed with unknown points; empty-named DB
// entries are avoided (the grpcio and grpc C++ tutorials count them
// differently).
CaseResult CheckRecord(Env& env, size_t seed) {
  std::vector<Point> route;
  int32_t want_features = 0;
  const size_t kLen = 8;
  for (size_t k = 0; k < kLen; ++k) {
    if (k % 3 == 2) {
      int32_t lat = 10000 + static_cast<int32_t>(seed * 16 + k);
      int32_t lon = 20000 + static_cast<int32_t>(k);
      if (rgpeer::FindFeature(env.db, lat, lon) != nullptr) return "test bug: unknown point in DB";
      route.push_back(MakePoint(lat, lon));
    } else {
      const rgpeer::DbFeature* f = env.named[(seed * 5 + k * 7) % env.named.size()];
      route.push_back(MakePoint(f->latitude, f->longitude));
      ++want_features;
    }
  }
  double want_distance = 0;
  for (size_t k = 1; k < route.size(); ++k) {
    want_distance += rgpeer::DistanceMetres(
        route[k - 1].latitude(), route[k - 1].longitude(), route[k].latitude(),
        route[k].longitude());
  }

  ClientContext ctx;
  SetDeadline(&ctx, kDefaultDeadlineMs);
  RouteSummary summary;
  std::unique_ptr<grpc::ClientWriter<Point>> writer(env.stub->RecordRoute(&ctx, &summary));
  for (const Point& p : route) {
    if (!writer->Write(p)) break;  // Finish says why
  }
  writer->WritesDone();
  Status st = writer->Finish();
  if (!st.ok()) return "RecordRoute: " + Describe(st);
  if (summary.point_count() != static_cast<int32_t>(route.size())) {
    return "RecordRoute: point_count " + std::to_string(summary.point_count()) +
           ", want " + std::to_string(route.size());
  }
  if (summary.feature_count() != want_features) {
    return "RecordRoute: feature_count " + std::to_string(summary.feature_count()) +
           ", want " + std::to_string(want_features);
  }
  // Rounding per leg or once at the end may differ by a metre per leg.
  double slack = static_cast<double>(route.size()) + want_distance * 1e-3;
  if (std::abs(summary.distance() - want_distance) > slack) {
    return "RecordRoute: distance " + std::to_string(summary.distance()) +
           ", want about " + std::to_string(static_cast<long>(want_distance));
  }
  if (summary.elapsed_time() < 0 || summary.elapsed_time() > kDefaultDeadlineMs / 1000) {
    return "RecordRoute: elapsed_time " + std::to_string(summary.elapsed_time());
  }
  return "";
}

CaseResult CheckRecordEmpty(Env& env) {
  ClientContext ctx;
  SetDeadline(&ctx, kDefaultDeadlineMs);
  RouteSummary summary;
  std::unique_ptr<grpc::ClientWriter<Point>> writer(env.stub->RecordRoute(&ctx, &summary));
  writer->WritesDone();
  Status st = writer->Finish();
  if (!st.ok()) return "RecordRoute(empty): " + Describe(st);
  if (summary.point_count() != 0 || summary.feature_count() != 0 ||
      summary.distance() != 0) {
    return "RecordRoute(empty): summary " + summary.ShortDebugString();
  }
  return "";
}

// Bidi: after each note, read back exactly the earlier notes of this call at
// the same place, before sending the next one (proves the server answers
// while the client is still sending). Locations are unique to this call so
// a server that keeps notes across calls answers the same.
CaseResult CheckChat(Env& env, size_t seed) {
  const int32_t base = 100000000 + static_cast<int32_t>((getpid() % 1000) * 100000) +
                       static_cast<int32_t>((seed % 1000) * 10);
  const int32_t places[][2] = {{base, 1}, {base + 1, 2}, {base + 2, 3},
                               {base, 1}, {base + 1, 2}, {base, 1}};
  std::vector<RouteNote> sent;
  ClientContext ctx;
  SetDeadline(&ctx, kDefaultDeadlineMs);
  std::unique_ptr<grpc::ClientReaderWriter<RouteNote, RouteNote>> stream(
      env.stub->RouteChat(&ctx));
  std::string why;
  for (size_t i = 0; i < sizeof places / sizeof places[0] && why.empty(); ++i) {
    RouteNote note;
    *note.mutable_location() = MakePoint(places[i][0], places[i][1]);
    note.set_message("note " + std::to_string(i) + " seed " + std::to_string(seed));
    if (!stream->Write(note)) {
      why = "RouteChat: write " + std::to_string(i) + " failed";
      break;
    }
    for (const RouteNote& old : sent) {
      if (old.location().latitude() != note.location().latitude() ||
          old.location().longitude() != note.location().longitude()) {
        continue;
      }
      RouteNote got;
      if (!stream->Read(&got)) {
        why = "RouteChat: stream ended, expected \"" + old.message() + "\"";
        break;
      }
      if (got.message() != old.message() ||
          got.location().latitude() != old.location().latitude() ||
          got.location().longitude() != old.location().longitude()) {
        why = "RouteChat: got \"" + got.message() + "\", want \"" + old.message() + "\"";
        break;
      }
    }
    sent.push_back(note);
  }
  if (!why.empty()) {
    ctx.TryCancel();
    stream->Finish();
    return why;
  }
  stream->WritesDone();
  RouteNote extra;
  if (stream->Read(&extra)) {
    ctx.TryCancel();
    stream->Finish();
    return "RouteChat: unexpected note \"" + extra.message() + "\"";
  }
  Status st = stream->Finish();
  if (!st.ok()) return "RouteChat: " + Describe(st);
  return "";
}

// ---------------------------------------------------------------------------
// Hooks of the test protocol.

// The server's cancel counter, through x-query: cancels; -1 on failure.
long QueryCancels(Env& env, std::string* why) {
  ClientContext ctx;
  SetDeadline(&ctx, kDefaultDeadlineMs);
  ctx.AddMetadata("x-query", "cancels");
  Feature got;
  Status st = env.stub->GetFeature(&ctx, MakePoint(1, 1), &got);
  if (!st.ok()) {
    *why = "x-query: " + Describe(st);
    return -1;
  }
  std::string value;
  long count = 0;
  if (!FindMetadata(ctx.GetServerTrailingMetadata(), "x-cancel-count", &value)) {
    *why = "x-query: no x-cancel-count trailer";
    return -1;
  }
  if (!rgpeer::ParseLong(value, 0, 1L << 40, &count)) {
    *why = "x-query: bad x-cancel-count \"" + value + "\"";
    return -1;
  }
  return count;
}

CaseResult CaseDeadlineUnary(Env& env) {
  ClientContext ctx;
  SetDeadline(&ctx, 300);
  ctx.AddMetadata("x-delay-ms", "3000");
  Feature got;
  auto start = Clock::now();
  Status st = env.stub->GetFeature(&ctx, MakePoint(1, 2), &got);
  long ms = ElapsedMs(start);
  if (st.error_code() != StatusCode::DEADLINE_EXCEEDED) {
    return "want DEADLINE_EXCEEDED, got " + Describe(st);
  }
  if (ms > 2500) return "took " + std::to_string(ms) + " ms";
  return "";
}

CaseResult CaseDeadlineServerStream(Env& env) {
  Rectangle rect;
  *rect.mutable_lo() = MakePoint(400000000, -750000000);
  *rect.mutable_hi() = MakePoint(420000000, -730000000);
  ClientContext ctx;
  SetDeadline(&ctx, 300);
  ctx.AddMetadata("x-delay-ms", "3000");
  auto start = Clock::now();
  std::unique_ptr<grpc::ClientReader<Feature>> reader(env.stub->ListFeatures(&ctx, rect));
  Feature f;
  int n = 0;
  while (n < 1000 && reader->Read(&f)) ++n;
  Status st = reader->Finish();
  long ms = ElapsedMs(start);
  if (n != 0) return "got " + std::to_string(n) + " features before the delay ended";
  if (st.error_code() != StatusCode::DEADLINE_EXCEEDED) {
    return "want DEADLINE_EXCEEDED, got " + Describe(st);
  }
  if (ms > 2500) return "took " + std::to_string(ms) + " ms";
  return "";
}

CaseResult CaseClientCancel(Env& env) {
  std::string why;
  long before = QueryCancels(env, &why);
  if (before < 0) return why;

  ClientContext ctx;
  SetDeadline(&ctx, kDefaultDeadlineMs);
  ctx.AddMetadata("x-delay-ms", "5000");
  Status st;
  Feature got;
  auto start = Clock::now();
  std::thread caller([&] { st = env.stub->GetFeature(&ctx, MakePoint(3, 4), &got); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ctx.TryCancel();
  caller.join();
  long ms = ElapsedMs(start);
  if (st.error_code() != StatusCode::CANCELLED) {
    return "want CANCELLED, got " + Describe(st);
  }
  if (ms > 3000) return "cancel took " + std::to_string(ms) + " ms";

  // The handler polls every 10 ms; give it up to 5 s to count the cancel.
  long now = before;
  for (int i = 0; i < 50; ++i) {
    now = QueryCancels(env, &why);
    if (now < 0) return why;
    if (now > before) return "";
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return "server's cancel count stayed at " + std::to_string(now);
}

// A unary call to any path with raw bytes, through the generic stub.
Status RawUnary(Env& env, const std::string& path, const std::string& body,
                std::string* response) {
  ClientContext ctx;
  SetDeadline(&ctx, kDefaultDeadlineMs);
  grpc::Slice slice(body.data(), body.size());
  grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer reply;
  std::promise<Status> done;
  std::future<Status> result = done.get_future();
  env.generic->UnaryCall(&ctx, path, grpc::StubOptions(), &request, &reply,
                         [&done](Status s) { done.set_value(std::move(s)); });
  // The deadline bounds the call; this bounds our wait should it not.
  if (result.wait_for(std::chrono::milliseconds(kDefaultDeadlineMs + 5000)) !=
      std::future_status::ready) {
    ctx.TryCancel();
    result.wait();
    return Status(StatusCode::UNKNOWN, "no completion from the generic stub");
  }
  Status st = result.get();
  if (st.ok() && response != nullptr) {
    std::vector<grpc::Slice> slices;
    response->clear();
    if (reply.Dump(&slices).ok()) {
      for (const grpc::Slice& s : slices) {
        response->append(reinterpret_cast<const char*>(s.begin()), s.size());
      }
    }
  }
  return st;
}

CaseResult ExpectUnimplemented(Env& env, const std::string& path) {
  std::string body;
  MakePoint(5, 6).SerializeToString(&body);
  Status st = RawUnary(env, path, body, nullptr);
  if (st.error_code() != StatusCode::UNIMPLEMENTED) {
    return path + ": want UNIMPLEMENTED, got " + Describe(st);
  }
  return "";
}

CaseResult CaseRawGetFeature(Env& env) {
  // Proves the generic path itself works, so the failures below mean what
  // they say.
  const rgpeer::DbFeature& want = *env.named[0];
  std::string body, reply;
  MakePoint(want.latitude, want.longitude).SerializeToString(&body);
  Status st = RawUnary(env, std::string(kService) + "GetFeature", body, &reply);
  if (!st.ok()) return "raw GetFeature: " + Describe(st);
  Feature got;
  if (!got.ParseFromString(reply)) return "raw GetFeature: reply does not parse";
  if (got.name() != want.name) return "raw GetFeature: name \"" + got.name() + "\"";
  return "";
}

CaseResult CaseGarbageRequest(Env& env) {
  // Field 1 as a varint whose bytes never end: no protobuf parser accepts it.
  static const char kRaw[] = "\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff";
  const std::string garbage(kRaw, sizeof kRaw - 1);
  Point check;
  if (check.ParseFromString(garbage)) return "test bug: garbage parses";
  Status st = RawUnary(env, std::string(kService) + "GetFeature", garbage, nullptr);
  if (st.error_code() != StatusCode::INTERNAL) {
    return "want INTERNAL, got " + Describe(st);
  }
  // And the server still serves.
  return CheckGetKnown(env, 1);
}

const std::string& EchoBinary() {
  // NUL, high bytes and UTF-8 text: only survives as binary metadata.
  static const char kRaw[] = "\x00\x01\x7f\x80\xfe\xff caf\xc3\xa9 \xe2\x9c\x93";
  static const std::string kValue(kRaw, sizeof kRaw - 1);
  return kValue;
}

CaseResult CheckEcho(ClientContext& ctx, const std::string& initial) {
  std::string value;
  if (!FindMetadata(ctx.GetServerInitialMetadata(), "x-echo-initial", &value)) {
    bool in_trailers =
        FindMetadata(ctx.GetServerTrailingMetadata(), "x-echo-initial", &value);
    return std::string("no x-echo-initial in the initial metadata") +
           (in_trailers ? " (it came in the trailers: a Trailers-Only response "
                          "although the handler set initial metadata)"
                        : "");
  }
  if (value != initial) return "x-echo-initial \"" + value + "\", want \"" + initial + "\"";
  if (!FindMetadata(ctx.GetServerTrailingMetadata(), "x-echo-trailing-bin", &value)) {
    return "no x-echo-trailing-bin in the trailers";
  }
  if (value != EchoBinary()) {
    return "x-echo-trailing-bin " + Hex(value) + ", want " + Hex(EchoBinary());
  }
  return "";
}

CaseResult CaseMetadataEchoUnary(Env& env) {
  const std::string initial = "tern unary echo 42";
  ClientContext ctx;
  SetDeadline(&ctx, kDefaultDeadlineMs);
  ctx.AddMetadata("x-echo-initial", initial);
  ctx.AddMetadata("x-echo-trailing-bin", EchoBinary());
  const rgpeer::DbFeature& want = *env.named[0];
  Feature got;
  Status st = env.stub->GetFeature(&ctx, MakePoint(want.latitude, want.longitude), &got);
  if (!st.ok()) return "GetFeature: " + Describe(st);
  if (got.name() != want.name) return "GetFeature: wrong name \"" + got.name() + "\"";
  return CheckEcho(ctx, initial);
}

CaseResult CaseMetadataEchoServerStream(Env& env) {
  const std::string initial = "tern stream echo";
  Rectangle rect;
  *rect.mutable_lo() = MakePoint(400000000, -750000000);
  *rect.mutable_hi() = MakePoint(420000000, -730000000);
  ClientContext ctx;
  SetDeadline(&ctx, kDefaultDeadlineMs);
  ctx.AddMetadata("x-echo-initial", initial);
  ctx.AddMetadata("x-echo-trailing-bin", EchoBinary());
  std::unique_ptr<grpc::ClientReader<Feature>> reader(env.stub->ListFeatures(&ctx, rect));
  Feature f;
  size_t n = 0;
  while (n <= env.db.size() && reader->Read(&f)) ++n;
  Status st = reader->Finish();
  if (!st.ok()) return "ListFeatures: " + Describe(st);
  if (n == 0) return "ListFeatures: no features";
  return CheckEcho(ctx, initial);
}

// No response message at all: initial metadata the handler set must still
// arrive as initial metadata (grpc C++ and grpcio servers send it in its
// own HEADERS frame, not folded into a Trailers-Only response).
CaseResult CaseMetadataEchoNoMessages(Env& env) {
  const std::string initial = "tern bidi echo";
  ClientContext ctx;
  SetDeadline(&ctx, kDefaultDeadlineMs);
  ctx.AddMetadata("x-echo-initial", initial);
  ctx.AddMetadata("x-echo-trailing-bin", EchoBinary());
  std::unique_ptr<grpc::ClientReaderWriter<RouteNote, RouteNote>> stream(
      env.stub->RouteChat(&ctx));
  RouteNote note;
  *note.mutable_location() = MakePoint(7, 7);
  note.set_message("echo");
  stream->Write(note);
  stream->WritesDone();
  RouteNote extra;
  int n = 0;
  while (n < 10 && stream->Read(&extra)) ++n;
  Status st = stream->Finish();
  if (!st.ok()) return "RouteChat: " + Describe(st);
  if (n != 0) return "RouteChat: " + std::to_string(n) + " unexpected notes";
  return CheckEcho(ctx, initial);
}

CaseResult ExpectFailed(const Status& st, StatusCode code) {
  if (st.error_code() != code || st.error_message() != kFailMessage) {
    return "want status " + std::to_string(static_cast<int>(code)) + " \"" +
           kFailMessage + "\", got " + Describe(st);
  }
  return "";
}

CaseResult CaseFailUnary(Env& env) {
  ClientContext ctx;
  SetDeadline(&ctx, kDefaultDeadlineMs);
  ctx.AddMetadata("x-fail", "7");
  Feature got;
  return ExpectFailed(env.stub->GetFeature(&ctx, MakePoint(1, 1), &got),
                      StatusCode::PERMISSION_DENIED);
}

CaseResult CaseFailServerStream(Env& env) {
  ClientContext ctx;
  SetDeadline(&ctx, kDefaultDeadlineMs);
  ctx.AddMetadata("x-fail", "9");
  Rectangle rect;
  *rect.mutable_lo() = MakePoint(400000000, -750000000);
  *rect.mutable_hi() = MakePoint(420000000, -730000000);
  std::unique_ptr<grpc::ClientReader<Feature>> reader(env.stub->ListFeatures(&ctx, rect));
  Feature f;
  int n = 0;
  while (n < 1000 && reader->Read(&f)) ++n;
  Status st = reader->Finish();
  if (n != 0) return std::to_string(n) + " features before the failure";
  return ExpectFailed(st, StatusCode::FAILED_PRECONDITION);
}

CaseResult CaseFailClientStream(Env& env) {
  ClientContext ctx;
  SetDeadline(&ctx, kDefaultDeadlineMs);
  ctx.AddMetadata("x-fail", "5");
  RouteSummary summary;
  std::unique_ptr<grpc::ClientWriter<Point>> writer(env.stub->RecordRoute(&ctx, &summary));
  writer->Write(MakePoint(1, 1));  // may fail once the status is in
  writer->WritesDone();
  return ExpectFailed(writer->Finish(), StatusCode::NOT_FOUND);
}

CaseResult CaseFailBidi(Env& env) {
  ClientContext ctx;
  SetDeadline(&ctx, kDefaultDeadlineMs);
  ctx.AddMetadata("x-fail", "16");
  std::unique_ptr<grpc::ClientReaderWriter<RouteNote, RouteNote>> stream(
      env.stub->RouteChat(&ctx));
  stream->WritesDone();
  RouteNote extra;
  int n = 0;
  while (n < 10 && stream->Read(&extra)) ++n;
  return ExpectFailed(stream->Finish(), StatusCode::UNAUTHENTICATED);
}

CaseResult CaseConcurrent(Env& env) {
  const int kThreads = 16;
  std::mutex mu;
  std::vector<std::string> errors;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&env, &mu, &errors, t] {
      size_t seed = 100 + static_cast<size_t>(t);
      const std::function<CaseResult()> steps[] = {
          [&] { return CheckGetKnown(env, seed); },
          [&] { return CheckGetUnknown(env, seed); },
          [&] { return CheckList(env, t % 2 == 1); },
          [&] { return CheckRecord(env, seed); },
          [&] { return CheckChat(env, seed); },
      };
      for (const auto& step : steps) {
        CaseResult r = step();
        if (!r.empty()) {
          std::lock_guard<std::mutex> lock(mu);
          errors.push_back("thread " + std::to_string(t) + ": " + r);
          return;
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  if (errors.empty()) return "";
  std::string why = std::to_string(errors.size()) + " of " +
                    std::to_string(kThreads) + " threads failed; first: " + errors[0];
  return why;
}

// x-query: peer: the server reports the client certificate's CN in the
// x-peer-identity trailer (none without one).
CaseResult CasePeerIdentity(Env& env) {
  ClientContext ctx;
  SetDeadline(&ctx, kDefaultDeadlineMs);
  ctx.AddMetadata("x-query", "peer");
  const rgpeer::DbFeature& want = *env.named[0];
  Feature got;
  Status st = env.stub->GetFeature(
      &ctx, MakePoint(want.latitude, want.longitude), &got);
  if (!st.ok()) return "GetFeature: " + Describe(st);
  if (got.name() != want.name) return "GetFeature: name \"" + got.name() + "\"";
  std::string seen;
  bool has = FindMetadata(ctx.GetServerTrailingMetadata(), "x-peer-identity",
                          &seen);
  if (env.expect_peer.empty() && has) {
    return "server saw peer \"" + seen + "\", want none";
  }
  if (!env.expect_peer.empty() && (!has || seen != env.expect_peer)) {
    return "server saw peer " + (has ? "\"" + seen + "\"" : "(none)") +
           ", want \"" + env.expect_peer + "\"";
  }
  std::printf("  peer_identity: server saw %s\n",
              has ? ("\"" + seen + "\"").c_str() : "no client certificate");
  return "";
}

// The handshake must be refused (wrong CA, expired certificate, wrong host
// name, no client certificate under mutual TLS): UNAVAILABLE, promptly.
CaseResult CaseHandshakeRefused(Env& env) {
  ClientContext ctx;
  SetDeadline(&ctx, 5000);
  Feature got;
  auto start = Clock::now();
  Status st = env.stub->GetFeature(&ctx, MakePoint(1, 2), &got);
  long ms = ElapsedMs(start);
  if (st.error_code() != StatusCode::UNAVAILABLE) {
    return Describe(st) + ", want UNAVAILABLE (14)";
  }
  if (ms > 4000) return "took " + std::to_string(ms) + " ms to fail";
  std::printf("  handshake_refused: UNAVAILABLE \"%s\"\n",
              st.error_message().c_str());
  return "";
}

struct Case {
  const char* name;
  std::function<CaseResult(Env&)> run;
  bool only_by_name = false;  // not in the default selection
};

std::vector<Case> AllCases() {
  return {
      {"connect",
       [](Env& env) -> CaseResult {
         bool up = env.channel->WaitForConnected(std::chrono::system_clock::now() +
                                                 std::chrono::seconds(10));
         return up ? "" : "channel not ready within 10 s";
       }},
      {"get_feature", [](Env& env) { return CheckGetKnown(env, 0); }},
      {"get_feature_unknown_point", [](Env& env) { return CheckGetUnknown(env, 0); }},
      {"list_features", [](Env& env) { return CheckList(env, false); }},
      {"list_features_reversed_rectangle", [](Env& env) { return CheckList(env, true); }},
      {"record_route", [](Env& env) { return CheckRecord(env, 0); }},
      {"record_route_empty", CheckRecordEmpty},
      {"route_chat", [](Env& env) { return CheckChat(env, 0); }},
      // Before the deadline cases, whose server-side cancels land late.
      {"client_cancel_seen_by_handler", CaseClientCancel},
      {"deadline_exceeded_unary", CaseDeadlineUnary},
      {"deadline_exceeded_server_stream", CaseDeadlineServerStream},
      {"generic_stub_get_feature", CaseRawGetFeature},
      {"unknown_method",
       [](Env& env) { return ExpectUnimplemented(env, std::string(kService) + "NoSuchMethod"); }},
      {"unknown_service",
       [](Env& env) { return ExpectUnimplemented(env, "/routeguide.NoSuchService/GetFeature"); }},
      {"garbage_request_body", CaseGarbageRequest},
      {"concurrent_16_threads", CaseConcurrent},
      {"metadata_echo_unary", CaseMetadataEchoUnary},
      {"metadata_echo_server_stream", CaseMetadataEchoServerStream},
      {"metadata_echo_bidi_no_messages", CaseMetadataEchoNoMessages},
      {"x_fail_unary", CaseFailUnary},
      {"x_fail_server_stream", CaseFailServerStream},
      {"x_fail_client_stream", CaseFailClientStream},
      {"x_fail_bidi", CaseFailBidi},
      {"peer_identity", CasePeerIdentity, true},
      {"health_after_all", [](Env& env) { return CheckGetKnown(env, 3); }},
      {"handshake_refused", CaseHandshakeRefused, true},
  };
}

void Usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s --target HOST:PORT [--db FILE] [--case NAME]...\n"
               "         [--use_tls=true|false [--ca_file=F]\n"
               "          [--server_host_override=NAME]\n"
               "          [--client_cert_file=F --client_key_file=F]]\n"
               "         [--expect_peer_identity=CN]\n"
               "cases:",
               argv0);
  for (const Case& c : AllCases()) std::fprintf(stderr, " %s", c.name);
  std::fprintf(stderr, "\n");
}

}  // namespace

int main(int argc, char** argv) {
  std::string target;
  std::string db_path = RG_DEFAULT_DB;
  std::set<std::string> only;
  bool use_tls = false;
  std::string ca_file, host_override, cert_file, key_file;
  Env env;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i], value;
    bool missing = false;
    int b = 0;
    if (rgpeer::FlagValue(argc, argv, &i, "--target", &value, &missing)) {
      target = value;
    } else if (rgpeer::FlagValue(argc, argv, &i, "--db", &value, &missing)) {
      db_path = value;
    } else if (rgpeer::FlagValue(argc, argv, &i, "--case", &value,
                                 &missing)) {
      only.insert(value);
    } else if (rgpeer::FlagValue(argc, argv, &i, "--ca_file", &value,
                                 &missing)) {
      ca_file = value;
    } else if (rgpeer::FlagValue(argc, argv, &i, "--server_host_override",
                                 &value, &missing)) {
      host_override = value;
    } else if (rgpeer::FlagValue(argc, argv, &i, "--client_cert_file", &value,
                                 &missing)) {
      cert_file = value;
    } else if (rgpeer::FlagValue(argc, argv, &i, "--client_key_file", &value,
                                 &missing)) {
      key_file = value;
    } else if (rgpeer::FlagValue(argc, argv, &i, "--expect_peer_identity",
                                 &value, &missing)) {
      env.has_expect_peer = true;
      env.expect_peer = value;
    } else if (!missing &&
               (b = rgpeer::FlagBool(argc, argv, &i, "--use_tls", &use_tls))) {
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
  if (!use_tls && (!ca_file.empty() || !host_override.empty() ||
                   !cert_file.empty() || !key_file.empty())) {
    std::fprintf(stderr, "cpp_rg_client: TLS flags without --use_tls=true\n");
    return 2;
  }
  if (cert_file.empty() != key_file.empty()) {
    std::fprintf(stderr,
                 "cpp_rg_client: --client_cert_file and --client_key_file "
                 "go together\n");
    return 2;
  }
  if (only.count("peer_identity") && !env.has_expect_peer) {
    std::fprintf(stderr, "cpp_rg_client: peer_identity needs "
                         "--expect_peer_identity\n");
    return 2;
  }
  if (target.empty()) {
    Usage(argv[0]);
    return 2;
  }
  std::vector<Case> cases = AllCases();
  for (const std::string& name : only) {
    bool known = std::any_of(cases.begin(), cases.end(),
                             [&](const Case& c) { return name == c.name; });
    if (!known) {
      std::fprintf(stderr, "unknown case %s\n", name.c_str());
      Usage(argv[0]);
      return 2;
    }
  }

  std::string err;
  if (!rgpeer::LoadFeatureDb(db_path, &env.db, &err)) {
    std::fprintf(stderr, "cpp_rg_client: %s\n", err.c_str());
    return 2;
  }
  for (const rgpeer::DbFeature& f : env.db) {
    if (!f.name.empty()) env.named.push_back(&f);
  }
  if (env.named.empty()) {
    std::fprintf(stderr, "cpp_rg_client: no named feature in %s\n", db_path.c_str());
    return 2;
  }
  if (use_tls) {
    grpc::SslCredentialsOptions ssl;
    if ((!ca_file.empty() &&
         !rgpeer::ReadWholeFile(ca_file, &ssl.pem_root_certs, &err)) ||
        (!cert_file.empty() &&
         (!rgpeer::ReadWholeFile(cert_file, &ssl.pem_cert_chain, &err) ||
          !rgpeer::ReadWholeFile(key_file, &ssl.pem_private_key, &err)))) {
      std::fprintf(stderr, "cpp_rg_client: %s\n", err.c_str());
      return 2;
    }
    grpc::ChannelArguments args;
    if (!host_override.empty()) args.SetSslTargetNameOverride(host_override);
    env.channel = grpc::CreateCustomChannel(target, grpc::SslCredentials(ssl),
                                            args);
  } else {
    env.channel =
        grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
  }
  std::printf("cpp_rg_client: against %s%s\n", target.c_str(),
              !use_tls ? "" : cert_file.empty() ? " (TLS)" : " (mutual TLS)");
  env.stub = routeguide::RouteGuide::NewStub(env.channel);
  env.generic = std::make_unique<grpc::GenericStub>(env.channel);

  int passed = 0, failed = 0;
  for (const Case& c : cases) {
    if (!only.empty() && only.count(c.name) == 0) continue;
    if (only.empty() && c.only_by_name &&
        !(c.run && std::string(c.name) == "peer_identity" &&
          env.has_expect_peer)) {
      continue;
    }
    CaseResult why = c.run(env);
    if (why.empty()) {
      std::printf("PASS %s\n", c.name);
      ++passed;
    } else {
      std::printf("FAIL %s: %s\n", c.name, why.c_str());
      ++failed;
    }
    std::fflush(stdout);
  }
  std::printf("%d passed, %d failed\n", passed, failed);
  std::fflush(stdout);
  return failed == 0 && passed > 0 ? 0 : 1;
}
