#!/usr/bin/env bash
# Runs the test suite of an existing build again with OpenBLAS forced onto another CPU kernel
# than the machine's own, so a test that expects bit-identical floats across batch rows, thread
# counts or BLAS kernels fails here too and not only on a user's machine with other SIMD units.
# (OpenBLAS's SkylakeX sgemm happens to round every row of a batch alike; its Haswell and Zen
# kernels do not.)
#
#   scripts/test/kernel-independence.sh [BUILD_DIR] [ctest arguments...]
#
# BUILD_DIR defaults to $BUILD_DIR or build/. The kernel is Haswell (AVX2) on a machine with
# AVX-512 and Sandybridge (AVX) on one without, so it differs from the native choice either way;
# OPENBLAS_CORETYPE set in the environment overrides it. Bitwise tests (a resumed run against the
# straight one) stay bitwise: every process of one test uses the same kernel.
set -euo pipefail
cd "$(dirname "$0")/../.."
build_dir=${1:-${BUILD_DIR:-build}}
if [ $# -gt 0 ]; then shift; fi
if [ ! -f "$build_dir/CTestTestfile.cmake" ]; then
  echo "$build_dir: not a build directory with tests (scripts/build.sh -DCROSSOVER_TESTS=ON)" >&2
  exit 1
fi
if [ -z "${OPENBLAS_CORETYPE:-}" ]; then
  if grep -qw avx512f /proc/cpuinfo; then OPENBLAS_CORETYPE=Haswell; else OPENBLAS_CORETYPE=Sandybridge; fi
fi
export OPENBLAS_CORETYPE
echo "tests with OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE"
cd "$build_dir"
start=$(date +%s)
ctest -j"$(nproc)" --output-on-failure "$@"
echo "tests (OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE): $(( $(date +%s) - start )) s"
