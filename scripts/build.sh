#!/usr/bin/env bash
# Configures and builds crossover (Release, Ninja, ccache when present) and prints how long the
# build took.
#   scripts/build.sh [cmake args]              against Debian's LibTorch 1.13 (CPU), in build/
#   scripts/build.sh --torch pip [cmake args]  against PyPI's PyTorch 2.x (CUDA 13) LibTorch with
#       the CUDA kernels and NCCL (-DCROSSOVER_CUDA=ON), in build-torch2/: installs the pinned
#       torch wheel into .venv (scripts/setup/venv.sh) and compiles the kernels with nvcc
#       (/usr/local/cuda). Needs no GPU: the CPU tests run against it too.
# BUILD_DIR overrides the build folder.
set -euo pipefail
cd "$(dirname "$0")/.."
torch=debian
if [ "${1:-}" = "--torch" ]; then
  torch=${2:?--torch needs debian or pip}
  shift 2
fi
start=$(date +%s)
args=()
case "$torch" in
  debian) BUILD_DIR=${BUILD_DIR:-build} ;;
  pip)
    BUILD_DIR=${BUILD_DIR:-build-torch2}
    scripts/setup/debian-packages.sh  # Debian's packages for everything but LibTorch
    scripts/setup/venv.sh scripts/setup/requirements-torch.txt
    prefix=$(.venv/bin/python -c 'import torch.utils; print(torch.utils.cmake_prefix_path)' 2>/dev/null)
    args=(-DCROSSOVER_CUDA=ON "-DCMAKE_PREFIX_PATH=$prefix")
    ;;
  *) echo "build.sh: --torch takes debian or pip, not $torch" >&2; exit 2 ;;
esac
mkdir -p "$BUILD_DIR"
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release "${args[@]}" "$@" >"$BUILD_DIR/cmake.log" 2>&1 \
  || { cat "$BUILD_DIR/cmake.log" >&2; exit 1; }
cmake --build "$BUILD_DIR"
echo "build ($torch LibTorch, $BUILD_DIR): $(( $(date +%s) - start )) s on $(nproc) cores"
