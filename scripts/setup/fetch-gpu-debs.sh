#!/usr/bin/env bash
# Downloads, here (Debian 12 with its package mirror), the .deb files that scripts/gpu/check.sh
# unpacks on a GPU machine that has CUDA and PyTorch but no Debian -dev packages and no network:
# the C++ libraries crossover builds against (headers, CMake/pkg-config files, and the shared
# libraries they name). LibTorch comes from PyTorch there, with its own gloo, so neither
# libtorch-dev nor libgloo-dev is needed. Usage: scripts/setup/fetch-gpu-debs.sh [DIR] (default
# .gpu-debs, git-ignored); carry DIR to the GPU machine with the working tree.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-.gpu-debs}

# Debian 12 names; the runtime packages are the ones the -dev packages depend on.
PACKAGES=(
  libyaml-cpp-dev libyaml-cpp0.7
  libspdlog-dev libspdlog1.10 libfmt-dev libfmt9
  nlohmann-json3-dev libcli11-dev
  libsentencepiece-dev libsentencepiece0
  libssl-dev libssl3
  zlib1g-dev zlib1g libzstd-dev libzstd1   # compressed corpora for prepare (.gz, .zst)
  googletest                          # sources: CMakeLists.txt builds /usr/src/googletest
  pkgconf pkgconf-bin libpkgconf3     # pkg-config, in case the GPU machine has none
)

mkdir -p "$OUT"
rm -f "$OUT"/*.deb
# apt-get download writes into the current folder; a stale package list is refreshed once.
if ! (cd "$OUT" && apt-get download -qq "${PACKAGES[@]}" 2>/dev/null); then
  apt-get update -qq
  (cd "$OUT" && apt-get download -qq "${PACKAGES[@]}")
fi
echo "fetch-gpu-debs: $(find "$OUT" -name "*.deb" | wc -l) packages, $(du -sh "$OUT" | cut -f1) in $OUT"
