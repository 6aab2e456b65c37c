#!/usr/bin/env bash
# The GPU check built on the GPU machine itself: the fallback where no bundle was carried
# (scripts/gpu/bundle.sh builds one elsewhere; that is the fast way). For an H100/H200 machine
# that has nvcc, PyTorch 2.x in python3, CMake and ninja but no Debian -dev packages and no
# network:
#   1. unpacks the .deb files of scripts/setup/fetch-gpu-debs.sh (carried in .gpu-debs/) into a prefix,
#   2. configures with -DCROSSOVER_CUDA=ON against python3's LibTorch and the NCCL headers of its
#      nvidia-nccl package, and builds only what the check runs (crossover, the kernel tests,
#      the SentencePiece plugin); the build is timed but not counted in the check's deadline,
#   3. assembles a bundle from that build (scripts/gpu/bundle.sh, with the CPU reference runs),
#   4. runs the bundle's check (run.sh --device cuda), which prints the PASS/FAIL table.
# Exit status: 0 when nothing failed. Environment: BUILD_DIR (build-gpu), GPU_DEBS (.gpu-debs),
# TORCH_CMAKE_PREFIX (default: torch.utils.cmake_prefix_path), CHECK_SECONDS (300, the check
# alone), PYTHON (python3).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD
START=$(date +%s)
BUILD_DIR=${BUILD_DIR:-build-gpu}
GPU_DEBS=${GPU_DEBS:-.gpu-debs}
PREFIX=$ROOT/$BUILD_DIR/deps
LOGS=$ROOT/$BUILD_DIR/logs
mkdir -p "$PREFIX" "$LOGS"

SUMMARY=()
FAILED=0
say() { echo "gpu-check: $*"; }
record() {  # record STATUS WHAT: STATUS is ok, FAILED or SKIPPED
  SUMMARY+=("$(printf '%-8s %s' "$1" "$2")")
  [ "$1" = FAILED ] && FAILED=1
  say "$1: $2"
}
# run_step SECONDS LOG CMD...: runs CMD with a time limit, output to the console and LOG.
run_step() {
  local limit=$1 log=$2
  shift 2
  if [ "$limit" -le 5 ]; then
    echo "out of time" >"$log"
    return 124
  fi
  timeout "$limit" "$@" 2>&1 | tee "$log"
  return "${PIPESTATUS[0]}"
}
finish() {
  echo
  echo "==================== gpu-check summary ($(( $(date +%s) - START )) s) ===================="
  printf '%s\n' "${SUMMARY[@]}"
  echo "logs: $LOGS"
  exit "$FAILED"
}

# ---- 0. the machine ----------------------------------------------------------------------------
say "$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo 'nvidia-smi: not available')"
NVCC=$(command -v nvcc || true)
[ -z "$NVCC" ] && [ -x /usr/local/cuda/bin/nvcc ] && NVCC=/usr/local/cuda/bin/nvcc
say "nvcc: ${NVCC:-none} $([ -n "$NVCC" ] && "$NVCC" --version | tail -n 2 | head -n 1)"
say "torch: $(python3 -c 'import torch; print(torch.__version__, "cuda", torch.version.cuda)' 2>/dev/null || echo 'python3 has no torch')"
say "cmake: $(cmake --version 2>/dev/null | head -n 1 || echo none); ninja: $(ninja --version 2>/dev/null || echo none); c++: $(c++ --version 2>/dev/null | head -n 1 || echo none)"
for tool in cmake ninja c++; do
  command -v "$tool" >/dev/null || { record FAILED "no $tool on this machine: cannot build"; finish; }
done
if [ -z "$NVCC" ]; then record FAILED "no nvcc: cannot build the CUDA kernels"; finish; fi

# ---- 1. C++ dependencies from the carried .deb files -------------------------------------------
shopt -s nullglob
debs=("$GPU_DEBS"/*.deb)
if [ ${#debs[@]} -eq 0 ]; then
  say "no .deb files in $GPU_DEBS (run scripts/setup/fetch-gpu-debs.sh where there is a network);"
  say "relying on what this machine has installed"
  record SKIPPED "dependency packages: none carried in $GPU_DEBS"
else
  for deb in "${debs[@]}"; do
    if command -v dpkg-deb >/dev/null; then
      dpkg-deb -x "$deb" "$PREFIX"
    else  # a .deb is an ar archive holding data.tar.*
      member=$(ar t "$deb" | grep '^data\.tar')
      case "$member" in
        *.xz) z=-J ;; *.zst) z=--zstd ;; *.gz) z=-z ;; *) z= ;;
      esac
      ar p "$deb" "$member" | tar -x $z -C "$PREFIX"
    fi || { record FAILED "unpacking $deb"; finish; }
  done
  # zlib1g-dev links libz.so to an absolute /lib/x86_64-linux-gnu/libz.so.1.2.13, which names
  # this machine's file (absent, or another version), not the unpacked one: point such links
  # into the prefix when their target was unpacked there.
  find "$PREFIX" -type l -lname '/*' | while read -r link; do
    target=$(readlink "$link")
    if [ -e "$PREFIX$target" ]; then ln -sfn "$PREFIX$target" "$link"; fi
  done
  # pkg-config files name /usr: point them at the prefix.
  for pc in "$PREFIX"/usr/lib/x86_64-linux-gnu/pkgconfig/*.pc "$PREFIX"/usr/share/pkgconfig/*.pc; do
    sed -i "s|^prefix=/usr\$|prefix=$PREFIX/usr|" "$pc"
  done
  export PKG_CONFIG_PATH=$PREFIX/usr/lib/x86_64-linux-gnu/pkgconfig:$PREFIX/usr/share/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
  # The linker finds bare -l names (sentencepiece_train) here.
  export LIBRARY_PATH=$PREFIX/usr/lib/x86_64-linux-gnu${LIBRARY_PATH:+:$LIBRARY_PATH}
  if ! command -v pkg-config >/dev/null && [ -x "$PREFIX/usr/bin/pkgconf" ]; then
    mkdir -p "$PREFIX/bin"
    printf '#!/bin/sh\nLD_LIBRARY_PATH=%s/usr/lib/x86_64-linux-gnu exec %s/usr/bin/pkgconf "$@"\n' \
      "$PREFIX" "$PREFIX" >"$PREFIX/bin/pkg-config"
    chmod +x "$PREFIX/bin/pkg-config"
    export PATH=$PREFIX/bin:$PATH
  fi
  # CMakeLists.txt builds GoogleTest from sources: the unpacked googletest package's, when the
  # machine has none (GTEST_SOURCE_DIR below).
  if [ ! -d /usr/src/googletest ] && [ -d "$PREFIX/usr/src/googletest" ]; then
    GTEST_SRC=$PREFIX/usr/src/googletest
  fi
  record ok "dependency packages: ${#debs[@]} unpacked into $PREFIX"
fi

# ---- 2. configure and build --------------------------------------------------------------------
TORCH_PREFIX=${TORCH_CMAKE_PREFIX:-$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)' 2>/dev/null)}
if [ -z "$TORCH_PREFIX" ]; then record FAILED "no LibTorch: python3 cannot import torch"; finish; fi
# Build for this GPU only (LibTorch's CMake otherwise detects or lists architectures itself).
export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0}
[ -n "$NVCC" ] && export CUDA_HOME=${CUDA_HOME:-$(dirname "$(dirname "$NVCC")")}
cmake_args=(-S "$ROOT" -B "$ROOT/$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release
  -DCROSSOVER_CUDA=ON -DCROSSOVER_TESTS=ON
  "-DCMAKE_PREFIX_PATH=$PREFIX/usr;$TORCH_PREFIX" -DOPENSSL_ROOT_DIR="$PREFIX/usr")
[ -n "${GTEST_SRC:-}" ] && cmake_args+=(-DGTEST_SOURCE_DIR="$GTEST_SRC")
[ -n "$NVCC" ] && cmake_args+=(-DCMAKE_CUDA_COMPILER="$NVCC")
# Not the unpacked pkgconf under the prefix, which CMake would find first but which cannot run
# without LD_LIBRARY_PATH: the machine's pkg-config, or the wrapper made above.
command -v pkg-config >/dev/null && cmake_args+=(-DPKG_CONFIG_EXECUTABLE="$(command -v pkg-config)")
t0=$(date +%s)
if ! run_step 600 "$LOGS/configure.log" cmake "${cmake_args[@]}" >/dev/null; then
  tail -n 30 "$LOGS/configure.log"
  record FAILED "configure (LibTorch from $TORCH_PREFIX): see configure.log"
  finish
fi
record ok "configure: $(( $(date +%s) - t0 )) s ($(grep -m1 'CUDA kernels:' "$LOGS/configure.log" | sed 's/^-- //'))"
t0=$(date +%s)
# Only what the check runs; not counted in the check's time (about 10 minutes on 16 cores).
if ! run_step "${BUILD_SECONDS:-3600}" "$LOGS/build.log" cmake --build "$ROOT/$BUILD_DIR" \
     --target crossover crossover_kernel_tests crossover_spm >/dev/null; then
  grep -E 'error|FAILED' "$LOGS/build.log" | head -n 30
  record FAILED "build: see build.log"
  finish
fi
record ok "build: $(( $(date +%s) - t0 )) s on $(nproc) cores"

# ---- 3. the bundle, and its check ------------------------------------------------------------
if ! PYTHON=${PYTHON:-python3} BUNDLE_LIB_PATH=$PREFIX/usr/lib/x86_64-linux-gnu \
     scripts/gpu/bundle.sh "$BUILD_DIR" "$BUILD_DIR/bundle" >"$LOGS/bundle.log" 2>&1; then
  tail -n 20 "$LOGS/bundle.log"
  record FAILED "bundle: see bundle.log"
  finish
fi
record ok "bundle: $(grep -m1 '^size:' "$BUILD_DIR/bundle/MANIFEST.txt")"
echo
printf '%s\n' "${SUMMARY[@]}"
PYTHON=${PYTHON:-python3} exec "$BUILD_DIR/bundle/run.sh" --device cuda --out "$BUILD_DIR/results"
