# tern — the two commands: `make demo` and `make test`.
# Installs missing Debian packages itself, builds with CMake into build/.

BUILD      ?= build
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
SOAK_SECONDS ?= 600
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CTEST_ARGS ?= --output-on-failure

# Everything the build, the tests and the demo need (Debian 12 names).
DEB_PACKAGES := cmake make gcc g++ pkg-config \
  libnghttp2-dev libc-ares-dev libprotobuf-c-dev protobuf-c-compiler \
  protobuf-compiler libprotoc-dev libprotobuf-dev libssl-dev zlib1g-dev \
  libcjson-dev python3 python3-grpcio python3-grpc-tools \
  python3-pkg-resources python3-protobuf \
  libgrpc++-dev protobuf-compiler-grpc grpc-proto nghttp2-client \
  python3-h2 python3-dnslib openssl clang libclang-rt-14-dev valgrind

FUZZ_SECONDS ?= 60
TSAN_ENV := TSAN_OPTIONS="halt_on_error=0 second_deadlock_stack=1 suppressions=$(abspath tests/sanitize/tsan.supp)"

.PHONY: all deps build asan tsan-build tsan demo test test-fast bench fuzz soak clean

all: build

# Installs only what is missing; `apt-get update` only when something is.
deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' \
	    || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(BUILD) -j $(JOBS)

asan: build
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DTERN_SANITIZE=ON \
	  -DTERN_CPP_PEERS_DIR=$(abspath $(BUILD))/tests/interop/cpp
	cmake --build $(ASAN_BUILD) -j $(JOBS)

# A third tree under ThreadSanitizer (grpc C++ peers reused from build/).
tsan-build: build
	cmake -S . -B $(TSAN_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTERN_SANITIZE_THREAD=ON \
	  -DTERN_CPP_PEERS_DIR=$(abspath $(BUILD))/tests/interop/cpp
	cmake --build $(TSAN_BUILD) -j $(JOBS)

tsan: tsan-build
	cd $(TSAN_BUILD) && $(TSAN_ENV) ctest $(CTEST_ARGS)

# The mixed-load soak, SOAK_SECONDS long (make test runs 30 s of it).
soak: build
	/usr/bin/python3 tests/soak/run_soak.py --soak $(BUILD)/tests/soak/soak \
	  --server $(BUILD)/tests/interop/rg_test_server \
	  --db examples/route_guide/route_guide_db.json \
	  --duration $(SOAK_SECONDS) --json-out $(BUILD)/soak.json

# Runs the RouteGuide server and client and shows them talking.
demo: build
	@bash examples/route_guide/demo.sh $(BUILD)

# Every test, in the normal tree and again under ASan+UBSan and under
# ThreadSanitizer.
test: build asan tsan-build
	@echo "=== tests: $(BUILD) ==="
	cd $(BUILD) && ctest $(CTEST_ARGS)
	@echo "=== tests under AddressSanitizer + UndefinedBehaviorSanitizer: $(ASAN_BUILD) ==="
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest $(CTEST_ARGS)
	@echo "=== tests under ThreadSanitizer: $(TSAN_BUILD) ==="
	cd $(TSAN_BUILD) && $(TSAN_ENV) ctest $(CTEST_ARGS)

# Normal tree only.
test-fast: build
	cd $(BUILD) && ctest $(CTEST_ARGS)

# The side-by-side benchmark (../shared/bench) with tern's rows, the client
# comparison, idle connections and 2-core scaling: bench/results/.
bench: build
	bash bench/run_bench.sh

# Every libFuzzer target for FUZZ_SECONDS each (make test runs a short,
# fixed number of runs).
fuzz: deps
	bash fuzz/run.sh long $(FUZZ_SECONDS)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD) build-fuzz
