#!/usr/bin/env bash
# bench/run_bench.sh (`make bench`): tern's benchmarks, side by side with
# grpc C++ and h2load. Builds nothing of ours: it expects build/ (run from
# the repository root or anywhere; paths are resolved from this file).
#
#   a. ../shared/bench/run.sh with bench_server as "tern" (inline handlers)
#      next to every server of the shared bench (ALL_SERVERS to narrow);
#      then again with --blocking as "tern_blocking" next to cpp_sync and
#      cpp_async (run.sh takes one project a run).
#   b. client side: bench_client, the grpc C++ async client and h2load, each
#      pinned to CPU 1, against the grpc C++ async server pinned to CPU 0.
#   c. 10,000 idle HTTP/2 connections: server memory per connection, for
#      bench_server and the grpc C++ async server.
#   d. bench_server --threads 1 and 2, unpinned, under h2load -t 2.
#
# Results: bench/results/summary.md, raw output beside it. ~15 min on a
# 2-core box with the defaults. Knobs (environment):
#   DURATION (10) WARMUP (2) REPS (2)   per timed run / runs per cell
#   PARTS (a,b,c,d)                     which parts to run
#   SCENARIOS (S1,S2,S3)                run.sh scenarios for part a
#   CLIENT_LOADS (1x1,4x64)             part b loads, CONNECTIONSxCALLS
#   IDLE_CONNS (10000)                  part c connection count
#   BUILD (build)                       our build folder
#   SHARED_BENCH (../shared/bench)      the shared benchmark
#   CPP_ASYNC_SERVER                    grpc C++ async server binary
#                                       (default: found in run.sh's build)
#   CPP_CLIENT                          grpc C++ async client binary
#                                       (default: $BUILD/bench/peers/...)
#   PORT (50161)                        port for every part (run.sh too)
#   RESULTS (bench/results)             where everything is written
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH="$ROOT/bench"
BUILD="${BUILD:-build}"
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
SHARED_BENCH="${SHARED_BENCH:-$ROOT/../shared/bench}"
[ -d "$SHARED_BENCH" ] && SHARED_BENCH="$(cd "$SHARED_BENCH" && pwd)"
DURATION="${DURATION:-10}"
WARMUP="${WARMUP:-2}"
REPS="${REPS:-2}"
PARTS="${PARTS:-a,b,c,d}"
CLIENT_LOADS="${CLIENT_LOADS:-1x1,4x64}"
IDLE_CONNS="${IDLE_CONNS:-10000}"
PORT="${PORT:-50161}"
RESULTS="${RESULTS:-$BENCH/results}"
PY=/usr/bin/python3

SERVER_BIN="$BUILD/bench/bench_server"
CLIENT_BIN="$BUILD/bench/bench_client"
CPP_CLIENT_BIN="${CPP_CLIENT:-$BUILD/bench/peers/cpp_async_client}"

say() { printf '[run_bench] %s\n' "$*" >&2; }
want() { case ",$PARTS," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }

for f in "$SERVER_BIN" "$CLIENT_BIN"; do
  if [ ! -x "$f" ]; then
    say "missing $f: build first (cmake -S . -B build && cmake --build build)"
    exit 2
  fi
done
if [ ! -x "$CPP_CLIENT_BIN" ]; then
  say "note: no $CPP_CLIENT_BIN (TERN_BUILD_CPP_PEERS=OFF?): part b runs without it"
fi

# Part c holds 10,000 connections: the server and the tool need the fds.
ulimit -n 20000 2>/dev/null || say "warning: could not raise the fd limit to 20000 (now $(ulimit -n))"

mkdir -p "$RESULTS"
status=0
started=$(date +%s)
parts_md=()

# ------------------------------------------------------------------ a
if want a; then
  say "a. shared server benchmark (tern, then tern_blocking)"
  for variant in tern tern_blocking; do
    extra=""
    # Every row of the shared bench, plus ours.
    servers="${ALL_SERVERS:-cpp_sync,cpp_async,cpp_callback,py_sync,py_aio,node_grpcjs,nghttpd,h2o},tern"
    if [ "$variant" = tern_blocking ]; then
      extra=" --blocking"
      servers="cpp_sync,cpp_async,tern_blocking"
    fi
    out="$RESULTS/server_$variant"
    mkdir -p "$out"
    PROJECT_SERVER="exec $SERVER_BIN --port \$PORT$extra" \
    PROJECT_NAME="$variant" SERVERS="$servers" \
    REPS="$REPS" DURATION="$DURATION" WARMUP="$WARMUP" PORT="$PORT" \
    RESULTS_DIR="$out" \
      "$SHARED_BENCH/run.sh" > "$out/run.stdout" 2> "$out/run.stderr" \
      || { status=1; say "run.sh for $variant failed (see $out/run.stderr)"; }
    {
      echo "## a. Server side ($variant): ../shared/bench/run.sh"
      echo
      if [ -f "$out/latest.md" ]; then
        sed 's/^#/##/' "$out/latest.md"  # one heading level down
      else
        echo "**no results**: see $out/run.stderr"
      fi
    } > "$out/part.md"
    parts_md+=("$out/part.md")
  done
fi

# The grpc C++ async server that run.sh built (in its folder, or in the
# copy it works from when that folder is read-only).
find_cpp_async() {
  local c
  for c in "${CPP_ASYNC_SERVER:-}" "$SHARED_BENCH/build/cpp/cpp_async" \
           "${TMPDIR:-/tmp}/shared-bench/build/cpp/cpp_async"; do
    if [ -n "$c" ] && [ -x "$c" ]; then
      printf '%s\n' "$c"
      return 0
    fi
  done
  return 1
}
CPP_ASYNC="$(find_cpp_async || true)"
if { want b || want c; } && [ -z "$CPP_ASYNC" ]; then
  say "no grpc C++ async server binary: run part a once (or set CPP_ASYNC_SERVER)"
  status=1
fi

common=(--out "$RESULTS" --port "$PORT" --duration "$DURATION"
        --warmup "$WARMUP" --reps "$REPS" --bench-client "$CLIENT_BIN")

# ------------------------------------------------------------------ b
if want b && [ -n "$CPP_ASYNC" ]; then
  say "b. client comparison against $CPP_ASYNC"
  "$PY" "$BENCH/peers/compare.py" clients "${common[@]}" \
    --server "$CPP_ASYNC" --server-cpu 0 --client-cpu 1 \
    --cpp-client "$CPP_CLIENT_BIN" --loads "$CLIENT_LOADS" || status=1
  parts_md+=("$RESULTS/clients.md")
fi

# ------------------------------------------------------------------ c
if want c; then
  say "c. $IDLE_CONNS idle connections"
  idle=(--server "tern=$SERVER_BIN --port {port}")
  [ -n "$CPP_ASYNC" ] && idle+=(--server "cpp_async=$CPP_ASYNC")
  "$PY" "$BENCH/peers/compare.py" idle "${common[@]}" --count "$IDLE_CONNS" \
    "${idle[@]}" || status=1
  parts_md+=("$RESULTS/idle.md")
fi

# ------------------------------------------------------------------ d
if want d; then
  say "d. --threads scaling"
  "$PY" "$BENCH/peers/compare.py" scaling "${common[@]}" \
    --bench-server "$SERVER_BIN" --threads 1,2 --h2load-threads 2 --load 4x64 \
    || status=1
  parts_md+=("$RESULTS/scaling.md")
fi

# ------------------------------------------------------------------ summary
{
  echo "# tern benchmarks"
  echo
  echo "- date (UTC): $(date -u '+%Y-%m-%d %H:%M'); host $(uname -n); kernel $(uname -r);" \
       "$(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'))"
  rev="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
  git -C "$ROOT" diff --quiet HEAD 2>/dev/null || rev="$rev (with local changes)"
  echo "- tern $rev;" \
       "DURATION=$DURATION WARMUP=$WARMUP REPS=$REPS PARTS=$PARTS;" \
       "took $(( ($(date +%s) - started) / 60 )) min"
  echo "- compare only rows of the same table (same run); raw output beside this file"
  [ "$status" -eq 0 ] || echo "- **something failed**: see the notes in the tables and *.stderr"
  echo
  for md in "${parts_md[@]}"; do
    if [ -f "$md" ]; then
      cat "$md"
      echo
    else
      echo "(missing: $md)"
      echo
    fi
  done
} > "$RESULTS/summary.md"
say "wrote $RESULTS/summary.md (exit $status)"
exit "$status"
