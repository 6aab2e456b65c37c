#!/usr/bin/env bash
# Builds the unit tests with AddressSanitizer + UndefinedBehaviorSanitizer (GCC, Debian's
# LibTorch) and runs the in-process suites under them: every test that neither starts the
# crossover binary nor loads the SentencePiece plugin (the plugin is dlopen'ed with RTLD_DEEPBIND,
# which the sanitizer runtime cannot serve; src/data/plugin/spm_api.h says why it is).
#
#   scripts/test/sanitize.sh [gtest filter]   default: the suites listed below
#   scripts/test/sanitize.sh --fast           CI's configuration: the unit tests of the LibTorch-free
#                                             units (config, sweep files and reports, token stores,
#                                             tasks, locks, input limits, TensorBoard files) built
#                                             with clang beside the fuzz targets (fuzz/CMakeLists.txt,
#                                             FUZZ_BUILD_DIR, default build-fuzz), sharing their objects
#
# The full build lives in build-asan/ (ccache makes a rebuild cheap; a cold one takes about an
# hour on 2 cores, which is why CI runs --fast). LibTorch, OpenMP and OpenBLAS are
# not instrumented: their one-time allocations are suppressed as leaks (scripts/test/lsan.supp), and
# ODR checks are off because LibTorch's own libraries define some symbols twice. Any other report
# fails the run with the test and the stack. Installs nothing: the compilers and libraries come
# from scripts/setup/install.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_odr_violation=0:detect_leaks=1:abort_on_error=1:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
if [ "${1:-}" = "--fast" ]; then
  build=${FUZZ_BUILD_DIR:-build-fuzz}
  start=$(date +%s)
  mkdir -p "$build"
  launcher=()
  if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
  cmake -S fuzz -B "$build" -G Ninja -DCMAKE_CXX_COMPILER=clang++ "${launcher[@]}" >"$build/cmake.log" 2>&1 \
    || { cat "$build/cmake.log" >&2; exit 1; }
  cmake --build "$build" --target sanitized_tests
  echo "sanitizer build (--fast): $(( $(date +%s) - start )) s"
  t0=$(date +%s)
  "$build/sanitized_tests" --gtest_brief=1
  echo "sanitized tests (--fast): $(( $(date +%s) - t0 )) s, no ASan or UBSan report"
  exit 0
fi
build=${ASAN_BUILD_DIR:-build-asan}
# The in-process suites: kernels, model, objective, optimizer, checkpoint formats and readers,
# sampler and token stores, evaluation and generation on fixture models, sweeps' planning.
filter=${1:-'Config*:TokenCountParse*:LineReader*:RepeatSampler*:ValidationSequences*:IndexPermutation*:TokenStore*:EvalMultipleChoice*:EvalTasks*:GenerateAr*:GenerateSchedule*:GenerateMdm*:GenerateSampling*:MdmMaskCpu*:Philox*:WeightedCeCpu*:LossHead*:Transformer*:ArObjective*:MdmObjective*:Objectives*:SweepCrossing*:SweepFit*:SweepPlan*:SweepReport*:SweepRunState*:Training*:InputLimits*:RunLock*:Safetensors*:Fs*:Crc32c*:TensorBoardWriter*:DistEnv*'}
start=$(date +%s)
flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g"
mkdir -p "$build"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCROSSOVER_TESTS=ON \
  "-DCMAKE_CXX_FLAGS=$flags" "-DCMAKE_EXE_LINKER_FLAGS=-fsanitize=address,undefined" \
  "-DCMAKE_SHARED_LINKER_FLAGS=-fsanitize=address,undefined" >"$build/cmake.log" 2>&1 \
  || { cat "$build/cmake.log" >&2; exit 1; }
cmake --build "$build" --target crossover_tests crossover_kernel_tests
echo "sanitizer build: $(( $(date +%s) - start )) s"
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/scripts/test/lsan.supp:print_suppressions=0}
export OMP_NUM_THREADS=1
t0=$(date +%s)
"$build/crossover_tests" --gtest_filter="$filter" --gtest_brief=1
# The kernels' CPU references (their CUDA tests skip without a GPU).
"$build/crossover_kernel_tests" --gtest_filter="$filter" --gtest_brief=1
echo "sanitized tests: $(( $(date +%s) - t0 )) s, no ASan or UBSan report"
