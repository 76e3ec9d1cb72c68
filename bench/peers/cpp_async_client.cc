// cpp_async_client: the grpc C++ async (CompletionQueue) client that
// bench_client is compared with. It makes the same BenchmarkService
// UnaryCall calls: N channels (one connection each), M calls in flight per
// channel, each re-issued as soon as it completes, polled by --threads
// completion-queue threads (default 1: one client core). After --warmup it
// counts for --duration the calls that ended OK with exactly
// --response-size payload bytes, and prints req/s and client CPU per call
// (getrusage of the whole process over the measured phase).
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "grpc/testing/benchmark_service.grpc.pb.h"

namespace {

using grpc::testing::BenchmarkService;
using grpc::testing::SimpleRequest;
using grpc::testing::SimpleResponse;
using Clock = std::chrono::steady_clock;

enum Phase { kWarmup = 0, kMeasure = 1, kStop = 2 };

struct Config {
  std::string target;
  int connections = 1;
  int concurrency = 1;
  int threads = 1;
  int request_size = 0;
  int response_size = 0;
  double duration = 10;
  double warmup = 2;
};

std::atomic<int> g_phase{kWarmup};
std::atomic<long> g_in_flight{0};
volatile std::sig_atomic_t g_interrupted = 0;

void OnSignal(int) { g_interrupted = 1; }

// Counters of one completion-queue thread (only that thread writes them).
struct Counters {
  uint64_t ok = 0;
  uint64_t latency_ns_sum = 0;
  uint64_t errors_by_code[17] = {};
  uint64_t wrong_size = 0;
};

// One call slot: re-issues itself from the completion-queue thread.
class Call {
 public:
  Call(BenchmarkService::Stub* stub, grpc::CompletionQueue* cq,
       const SimpleRequest* req, int response_size, Counters* counters)
      : stub_(stub), cq_(cq), req_(req), response_size_(response_size),
        counters_(counters) {}

  void Issue() {
    reader_.reset();  // lives in the old context's call arena
    ctx_ = std::make_unique<grpc::ClientContext>();
    response_.Clear();
    start_ = Clock::now();
    reader_ = stub_->PrepareAsyncUnaryCall(ctx_.get(), *req_, cq_);
    reader_->StartCall();
    reader_->Finish(&response_, &status_, this);
  }

  // The Finish event. Returns false when the slot stops.
  bool OnDone() {
    const int phase = g_phase.load(std::memory_order_acquire);
    if (!status_.ok()) {
      int code = static_cast<int>(status_.error_code());
      counters_->errors_by_code[(code > 0 && code < 17) ? code : 2]++;
    } else if (response_.payload().body().size() !=
               static_cast<size_t>(response_size_)) {
      counters_->wrong_size++;
    } else if (phase == kMeasure) {
      counters_->ok++;
      counters_->latency_ns_sum += static_cast<uint64_t>(
          std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() -
                                                               start_)
              .count());
    }
    if (phase == kStop) {
      g_in_flight.fetch_sub(1, std::memory_order_acq_rel);
      return false;
    }
    Issue();
    return true;
  }

  void Cancel() {
    if (ctx_) ctx_->TryCancel();
  }

 private:
  BenchmarkService::Stub* stub_;
  grpc::CompletionQueue* cq_;
  const SimpleRequest* req_;
  int response_size_;
  Counters* counters_;
  std::unique_ptr<grpc::ClientContext> ctx_;
  std::unique_ptr<grpc::ClientAsyncResponseReader<SimpleResponse>> reader_;
  SimpleResponse response_;
  grpc::Status status_;
  Clock::time_point start_;
};

void Poll(grpc::CompletionQueue* cq) {
  void* tag = nullptr;
  bool ok = false;
  while (cq->Next(&tag, &ok)) static_cast<Call*>(tag)->OnDone();
}

void Usage() {
  std::fprintf(stderr,
               "usage: cpp_async_client --target HOST:PORT [--connections N] "
               "[--concurrency M]\n"
               "         [--threads T] [--request-size B] [--response-size B] "
               "[--duration S] [--warmup S]\n");
}

bool ParseInt(const char* flag, const char* v, long lo, long hi, int* out) {
  char* end = nullptr;
  errno = 0;
  long n = std::strtol(v, &end, 10);
  if (errno || end == v || *end || n < lo || n > hi) {
    std::fprintf(stderr, "cpp_async_client: %s wants an integer in %ld..%ld\n",
                 flag, lo, hi);
    return false;
  }
  *out = static_cast<int>(n);
  return true;
}

bool ParseSeconds(const char* flag, const char* v, double lo, double* out) {
  char* end = nullptr;
  errno = 0;
  double d = std::strtod(v, &end);
  if (errno || end == v || *end || !(d >= lo) || d > 86400) {
    std::fprintf(stderr, "cpp_async_client: %s wants seconds >= %g\n", flag,
                 lo);
    return false;
  }
  *out = d;
  return true;
}

// 0 ok, 1 help, -1 bad.
int ParseArgs(int argc, char** argv, Config* c) {
  for (int i = 1; i < argc; i++) {
    const char* a = argv[i];
    if (!std::strcmp(a, "-h") || !std::strcmp(a, "--help")) {
      Usage();
      return 1;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "cpp_async_client: %s needs a value\n", a);
      return -1;
    }
    const char* v = argv[++i];
    bool good = true;
    if (!std::strcmp(a, "--target"))
      c->target = v;
    else if (!std::strcmp(a, "--connections"))
      good = ParseInt(a, v, 1, 1024, &c->connections);
    else if (!std::strcmp(a, "--concurrency"))
      good = ParseInt(a, v, 1, 100000, &c->concurrency);
    else if (!std::strcmp(a, "--threads"))
      good = ParseInt(a, v, 1, 256, &c->threads);
    else if (!std::strcmp(a, "--request-size"))
      good = ParseInt(a, v, 0, 64 << 20, &c->request_size);
    else if (!std::strcmp(a, "--response-size"))
      good = ParseInt(a, v, 0, 64 << 20, &c->response_size);
    else if (!std::strcmp(a, "--duration"))
      good = ParseSeconds(a, v, 0.001, &c->duration);
    else if (!std::strcmp(a, "--warmup"))
      good = ParseSeconds(a, v, 0, &c->warmup);
    else {
      std::fprintf(stderr, "cpp_async_client: unknown flag %s\n", a);
      Usage();
      return -1;
    }
    if (!good) return -1;
  }
  if (c->target.empty()) {
    std::fprintf(stderr, "cpp_async_client: --target is required\n");
    return -1;
  }
  return 0;
}

// Sleeps until t or a signal.
void SleepUntil(Clock::time_point t) {
  while (!g_interrupted && Clock::now() < t) {
    auto left = t - Clock::now();
    std::this_thread::sleep_for(
        std::min<Clock::duration>(left, std::chrono::milliseconds(50)));
  }
}

double Seconds(const timeval& tv) { return tv.tv_sec + tv.tv_usec / 1e6; }

}  // namespace

int main(int argc, char** argv) {
  Config cfg;
  int rv = ParseArgs(argc, argv, &cfg);
  if (rv != 0) return rv > 0 ? 0 : 2;
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);

  SimpleRequest req;
  req.set_response_size(cfg.response_size);
  if (cfg.request_size > 0)
    req.mutable_payload()->mutable_body()->assign(
        static_cast<size_t>(cfg.request_size), '\0');

  // One connection per channel: grpc shares subchannels (and so TCP
  // connections) between channels with equal arguments unless told not to.
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  std::vector<std::unique_ptr<BenchmarkService::Stub>> stubs;
  for (int i = 0; i < cfg.connections; i++) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt("tern.bench.channel_index", i);
    args.SetMaxReceiveMessageSize(-1);
    channels.push_back(grpc::CreateCustomChannel(
        cfg.target, grpc::InsecureChannelCredentials(), args));
    stubs.push_back(BenchmarkService::NewStub(channels.back()));
  }

  std::vector<std::unique_ptr<grpc::CompletionQueue>> cqs;
  std::vector<Counters> counters(static_cast<size_t>(cfg.threads));
  for (int t = 0; t < cfg.threads; t++)
    cqs.push_back(std::make_unique<grpc::CompletionQueue>());

  // Channel i's calls go to queue i % threads, so a channel's events stay
  // on one thread as with tern's one I/O thread per channel.
  std::vector<std::unique_ptr<Call>> calls;
  for (int i = 0; i < cfg.connections; i++) {
    const size_t q = static_cast<size_t>(i % cfg.threads);
    for (int j = 0; j < cfg.concurrency; j++)
      calls.push_back(std::make_unique<Call>(stubs[static_cast<size_t>(i)].get(),
                                             cqs[q].get(), &req,
                                             cfg.response_size, &counters[q]));
  }

  const auto t_start = Clock::now();
  g_in_flight.store(static_cast<long>(calls.size()));
  for (auto& c : calls) c->Issue();
  std::vector<std::thread> pollers;
  for (auto& cq : cqs) pollers.emplace_back(Poll, cq.get());

  SleepUntil(t_start + std::chrono::duration_cast<Clock::duration>(
                           std::chrono::duration<double>(cfg.warmup)));
  rusage ru0{}, ru1{};
  getrusage(RUSAGE_SELF, &ru0);
  const auto t0 = Clock::now();
  g_phase.store(kMeasure, std::memory_order_release);
  SleepUntil(t0 + std::chrono::duration_cast<Clock::duration>(
                      std::chrono::duration<double>(cfg.duration)));
  g_phase.store(kStop, std::memory_order_release);
  const auto t1 = Clock::now();
  getrusage(RUSAGE_SELF, &ru1);

  // Drain: calls in flight end on their own; after 10 s they are cancelled.
  const auto drain_deadline = Clock::now() + std::chrono::seconds(10);
  uint64_t stuck = 0;
  while (g_in_flight.load(std::memory_order_acquire) > 0 &&
         Clock::now() < drain_deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  if (g_in_flight.load() > 0) {
    stuck = static_cast<uint64_t>(g_in_flight.load());
    std::fprintf(stderr, "cpp_async_client: %llu calls did not end; "
                         "cancelling\n", static_cast<unsigned long long>(stuck));
    for (auto& c : calls) c->Cancel();
  }
  for (auto& cq : cqs) cq->Shutdown();
  for (auto& t : pollers) t.join();

  Counters total;
  for (const Counters& c : counters) {
    total.ok += c.ok;
    total.latency_ns_sum += c.latency_ns_sum;
    total.wrong_size += c.wrong_size;
    for (int k = 0; k < 17; k++) total.errors_by_code[k] += c.errors_by_code[k];
  }
  uint64_t errors = total.wrong_size + stuck;
  for (int k = 1; k < 17; k++) errors += total.errors_by_code[k];

  const double elapsed = std::chrono::duration<double>(t1 - t0).count();
  const double user = Seconds(ru1.ru_utime) - Seconds(ru0.ru_utime);
  const double sys = Seconds(ru1.ru_stime) - Seconds(ru0.ru_stime);
  const double rps = elapsed > 0 ? total.ok / elapsed : 0;
  std::printf("cpp_async_client: unary %s, %d connection(s) x %d call(s) in "
              "flight, %d CQ thread(s), request %d B, response %d B, %.3g s "
              "measured after %.3g s warm-up\n",
              cfg.target.c_str(), cfg.connections, cfg.concurrency,
              cfg.threads, cfg.request_size, cfg.response_size, elapsed,
              cfg.warmup);
  std::printf("requests/s:   %.1f  (%llu OK calls in %.3f s)\n", rps,
              static_cast<unsigned long long>(total.ok), elapsed);
  std::printf("latency (us): mean %.1f\n",
              total.ok ? total.latency_ns_sum / 1e3 / total.ok : 0.0);
  std::printf("errors:       %llu", static_cast<unsigned long long>(errors));
  for (int k = 1; k < 17; k++)
    if (total.errors_by_code[k])
      std::printf("  status_%d %llu", k,
                  static_cast<unsigned long long>(total.errors_by_code[k]));
  if (total.wrong_size)
    std::printf("  wrong_payload_size %llu",
                static_cast<unsigned long long>(total.wrong_size));
  if (stuck)
    std::printf("  stuck_at_stop %llu", static_cast<unsigned long long>(stuck));
  std::printf("  (whole run)\n");
  std::printf("client CPU:   %.2f us/call  (user %.3f s + sys %.3f s = %.0f %% "
              "of one core)\n",
              total.ok ? (user + sys) * 1e6 / total.ok : 0.0, user, sys,
              elapsed > 0 ? (user + sys) * 100 / elapsed : 0.0);
  std::fflush(stdout);

  calls.clear();
  stubs.clear();
  channels.clear();
  return (total.ok > 0 && errors == 0) ? 0 : 1;
}
