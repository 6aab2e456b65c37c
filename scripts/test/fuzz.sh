#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/: Debian's clang, AddressSanitizer + UndefinedBehaviorSanitizer)
# and runs each on its seed corpus for a fixed number of inputs, then prints per target the
# inputs run, the time, the slowest input and the peak memory.
#
#   scripts/test/fuzz.sh [RUNS] [TARGET...]     RUNS inputs per target (default 10000), all targets
#                                          unless some are named (fuzz_config, fuzz_token_store, ...)
#
# FUZZ_BUILD_DIR (default build-fuzz) holds the build, the growing corpora (corpus/<target>/;
# fuzz/corpus/ keeps the committed seeds unchanged) and whatever fails (findings/<target>/).
# An input fails on a sanitizer report, a crash or abort (see fuzz/fuzz_util.h), more than
# FUZZ_TIMEOUT seconds (default 1) or more than 2 GB of memory; the script then stops with status 1
# and names the input, which reproduces with `BUILD/TARGET INPUT`.
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-10000}
[ $# -gt 0 ] && shift
build=${FUZZ_BUILD_DIR:-build-fuzz}
timeout=${FUZZ_TIMEOUT:-1}

mkdir -p "$build"
start=$(date +%s)
launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
cmake -S fuzz -B "$build" -G Ninja -DCMAKE_CXX_COMPILER=clang++ "${launcher[@]}" >"$build/cmake.log" 2>&1 \
  || { cat "$build/cmake.log" >&2; exit 1; }
cmake --build "$build"
echo "fuzz build: $(( $(date +%s) - start )) s"

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for src in fuzz/targets/*.cpp; do targets+=("$(basename "$src" .cpp)"); done
fi

# LibFuzzer reports leaks too (ASan's leak checker); UBSan stops at the first report.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
summary=()
for t in "${targets[@]}"; do
  [ -x "$build/$t" ] || { echo "no fuzz target $t in $build" >&2; exit 1; }
  mkdir -p "$build/corpus/$t" "$build/findings/$t"
  log="$build/$t.log"
  t0=$(date +%s)
  if ! "$build/$t" -runs="$runs" -timeout="$timeout" -rss_limit_mb=2048 -max_len=65536 \
      -print_final_stats=1 -artifact_prefix="$build/findings/$t/" \
      "$build/corpus/$t" "fuzz/corpus/$t" >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "fuzz: $t FAILED; the input is in $build/findings/$t/ (log: $log)" >&2
    exit 1
  fi
  stat() { grep -m1 "^stat::$1:" "$log" | awk '{print $2}'; }
  summary+=("$(printf '%-20s %10s inputs %6s s  slowest %4s s  peak %5s MB' "$t" \
    "$(stat number_of_executed_units)" "$(( $(date +%s) - t0 ))" \
    "$(stat slowest_unit_time_sec)" "$(stat peak_rss_mb)")")
done
printf '%s\n' "${summary[@]}"
echo "fuzz: ${#targets[@]} targets, no crash, no sanitizer report, no input over ${timeout} s"
