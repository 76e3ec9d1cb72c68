#!/usr/bin/env bash
# Builds the libFuzzer targets (if needed) and runs them.
#
#   fuzz/run.sh smoke          each target over its seed corpus and saved
#                              regressions, then a fixed number of runs
#                              (what `make test` runs; well under 2 minutes)
#   fuzz/run.sh long [SECONDS] each target for SECONDS (default 60)
#
# Prints PASS or FAIL per target and "N passed, N failed"; exits non-zero
# when a target failed. Crash inputs are kept under
# $FUZZ_BUILD/artifacts/<target>/: reproduce with
#   $FUZZ_BUILD/<target> <file>
# and, once understood, keep them in fuzz/regressions/<target>/.
#
# Environment:
#   FUZZ_BUILD     build directory (default: build-fuzz at the repo root)
#   FUZZ_TARGETS   targets to run (default: all six)
#   FUZZ_JOBS      build parallelism (default 2)
#   FUZZ_PARALLEL  targets run at once in long mode (default 1)
#   CC             the compiler (default clang; must be clang)
set -u

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
mode="${1:-}"
seconds="${2:-60}"
build="${FUZZ_BUILD:-$root/build-fuzz}"
jobs="${FUZZ_JOBS:-2}"
parallel="${FUZZ_PARALLEL:-1}"
targets="${FUZZ_TARGETS:-fuzz_server_conn fuzz_client_conn fuzz_framing fuzz_metadata fuzz_target fuzz_plugin}"

case "$mode" in
  smoke) ;;
  long)
    if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -lt 1 ]; then
      echo "run.sh: SECONDS must be a positive integer" >&2
      exit 2
    fi ;;
  *)
    echo "usage: fuzz/run.sh smoke | long [SECONDS]" >&2
    exit 2 ;;
esac

# Fixed runs per target in smoke mode (including the corpus itself): a few
# seconds each. The connection targets are socket-bound (hundreds of
# inputs a second), the others in-process (thousands).
smoke_runs() {
  case "$1" in
    fuzz_server_conn) echo 3000 ;;
    fuzz_client_conn) echo 1500 ;;
    *) echo 30000 ;;
  esac
}

# ---- build -------------------------------------------------------------------
cc="${CC:-clang}"
if ! command -v "$cc" >/dev/null 2>&1; then
  echo "run.sh: $cc not found: libFuzzer needs clang (Debian: clang," \
       "libclang-rt-14-dev)" >&2
  exit 2
fi
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$here" -B "$build" -DCMAKE_C_COMPILER="$cc" \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$build.configure.log" 2>&1 || {
    cat "$build.configure.log" >&2
    echo "run.sh: configuring $build failed" >&2
    exit 2
  }
  rm -f "$build.configure.log"
fi
if ! cmake --build "$build" -j "$jobs" >"$build/build.log" 2>&1; then
  grep -E "error|Error" "$build/build.log" | head -40 >&2
  echo "run.sh: building the fuzz targets failed (see $build/build.log)" >&2
  exit 2
fi

# ---- run -----------------------------------------------------------------------
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
mkdir -p "$build/logs" "$build/artifacts"
scratch="$(mktemp -d "${TMPDIR:-/tmp}/tern-fuzz-run.XXXXXX")"
trap 'rm -rf "$scratch"' EXIT

# Runs one target; its log goes to $build/logs/<target>.log. Returns
# libFuzzer's status.
run_target() {
  local t="$1" bin="$build/$1" log="$build/logs/$1.log"
  local art="$build/artifacts/$t" seeds="$here/corpus/$t"
  local regs="$here/regressions/$t" work dirs=()
  mkdir -p "$art"
  # The first corpus directory is where libFuzzer writes what it finds:
  # never the repository's.
  if [ "$mode" = smoke ]; then
    work="$scratch/$t"
  else
    work="$build/corpus/$t"
  fi
  mkdir -p "$work"
  dirs=("$work")
  [ -d "$seeds" ] && dirs+=("$seeds")
  [ -d "$regs" ] && [ -n "$(ls -A "$regs" 2>/dev/null)" ] && dirs+=("$regs")
  local opts=(-artifact_prefix="$art/" -timeout=20 -rss_limit_mb=4096
              -print_final_stats=1)
  if [ "$mode" = smoke ]; then
    opts+=(-runs="$(smoke_runs "$t")" -seed=1)
  else
    opts+=(-max_total_time="$seconds")
  fi
  # In a subshell, so that a crash's "Aborted" goes to the log too.
  ("$bin" "${opts[@]}" "${dirs[@]}"; rc=$?; exit $rc) >"$log" 2>&1
}

summary() {
  local t="$1" rc="$2" log="$build/logs/$1.log" stats eps
  stats="$(grep -E '^#[0-9]+.*(DONE|INITED)' "$log" | tail -1 |
           sed -E 's/^#([0-9]+).*(cov: [0-9]+).*(corp: [^ ]+).*/\1 runs, \2, \3/')"
  eps="$(grep -E '^stat::average_exec_per_sec' "$log" | sed -E 's/.*: *//')"
  [ -n "$eps" ] && [ "$eps" != 0 ] && stats="$stats, $eps exec/s"
  if [ "$rc" = 0 ]; then
    echo "PASS $t ($stats)"
  else
    echo "FAIL $t (exit $rc; log: $log)"
    grep -E "ERROR:|SUMMARY:|check failed|Test unit written|did not" "$log" |
      head -8 | sed 's/^/    /'
  fi
}

passed=0
failed=0
declare -A rcs=()
list=($targets)
i=0
while [ $i -lt ${#list[@]} ]; do
  batch=("${list[@]:$i:$parallel}")
  pids=()
  for t in "${batch[@]}"; do
    if [ ! -x "$build/$t" ]; then
      rcs[$t]=127
      echo "no such target: $t" >"$build/logs/$t.log"
      pids+=("")
      continue
    fi
    if [ "$parallel" -gt 1 ]; then
      run_target "$t" &
      pids+=($!)
    else
      run_target "$t"
      rcs[$t]=$?
      pids+=("")
    fi
  done
  for k in "${!batch[@]}"; do
    t="${batch[$k]}"
    if [ -n "${pids[$k]}" ]; then
      wait "${pids[$k]}"
      rcs[$t]=$?
    fi
    summary "$t" "${rcs[$t]}"
    if [ "${rcs[$t]}" = 0 ]; then
      passed=$((passed + 1))
    else
      failed=$((failed + 1))
    fi
  done
  i=$((i + parallel))
done

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
