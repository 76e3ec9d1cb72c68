# tern — the two commands: `make demo` and `make test`.
# Installs missing Debian packages itself, builds with CMake into build/.

BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CTEST_ARGS ?= --output-on-failure

# Everything the build, the tests and the demo need (Debian 12 names).
DEB_PACKAGES := cmake make gcc g++ pkg-config \
  libnghttp2-dev libprotobuf-c-dev protobuf-c-compiler \
  protobuf-compiler libprotoc-dev libprotobuf-dev libssl-dev zlib1g-dev \
  libcjson-dev python3 python3-grpcio python3-grpc-tools python3-protobuf \
  libgrpc++-dev protobuf-compiler-grpc grpc-proto nghttp2-client \
  python3-h2 openssl clang libclang-rt-14-dev valgrind

FUZZ_SECONDS ?= 60

.PHONY: all deps build asan demo test test-fast bench fuzz clean

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

# Runs the RouteGuide server and client and shows them talking.
demo: build
	@bash examples/route_guide/demo.sh $(BUILD)

# Every test, in the normal tree and again under ASan+UBSan.
test: build asan
	@echo "=== tests: $(BUILD) ==="
	cd $(BUILD) && ctest $(CTEST_ARGS)
	@echo "=== tests under AddressSanitizer + UndefinedBehaviorSanitizer: $(ASAN_BUILD) ==="
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest $(CTEST_ARGS)

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
	rm -rf $(BUILD) $(ASAN_BUILD) build-fuzz
