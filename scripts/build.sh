#!/usr/bin/env bash
# Configures and builds crossover (Release, Ninja, ccache when present) and prints how long the
# build took. Usage: scripts/build.sh [extra cmake args]; BUILD_DIR overrides the build folder.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
start=$(date +%s)
mkdir -p "$BUILD_DIR"
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release "$@" >"$BUILD_DIR/cmake.log" 2>&1 \
  || { cat "$BUILD_DIR/cmake.log" >&2; exit 1; }
cmake --build "$BUILD_DIR"
echo "build: $(( $(date +%s) - start )) s on $(nproc) cores"
