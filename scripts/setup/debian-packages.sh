#!/usr/bin/env bash
# Installs every Debian 12 package crossover needs to build, test and run. Idempotent: quiet and
# fast when everything is already installed. Fails naming the package that cannot be installed.
set -euo pipefail

PACKAGES=(
  # toolchain
  g++ cmake ninja-build ccache pkg-config
  # libraries
  libtorch-dev libgloo-dev libopenblas0-openmp libyaml-cpp-dev libspdlog-dev
  libsentencepiece-dev nlohmann-json3-dev libcli11-dev libssl-dev
  # compressed corpora for prepare (.gz, .zst) and the codecs of Parquet files
  zlib1g-dev libzstd-dev libsnappy-dev libbrotli-dev liblz4-dev
  # pretrained tokenizers (tokenizer.json, tiktoken): Unicode regexes with JIT, normalization
  libpcre2-dev libutf8proc-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev
  # a one-node SLURM of its own for scripts/cluster/slurm/test-slurm.sh (preemption, requeue, time limit)
  slurm-wlm munge
  # the fuzz targets (fuzz/, scripts/test/fuzz.sh): clang with libFuzzer, ASan and UBSan
  clang libclang-rt-dev
  # the C++ style check (scripts/test/format.sh, .clang-format)
  clang-format-14
  # the GPU bundle (scripts/gpu/bundle.sh): binaries without the build's RPATH
  patchelf
  # the bundled default corpus (the King James Bible)
  bible-kjv
  # plotting and checkpoint-reading scripts (run with /usr/bin/python3)
  python3 python3-matplotlib python3-numpy python3-yaml
  # the project-local virtual environment of the PyTorch 2.x build (scripts/setup/venv.sh)
  python3-venv
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "debian-packages.sh: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  SUDO=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
echo "debian-packages.sh: installing ${missing[*]}"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
"${SUDO[@]}" apt-get update -qq >"$log" 2>&1 || { cat "$log" >&2; echo "debian-packages.sh: apt-get update failed" >&2; exit 1; }
if ! "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$log" 2>&1; then
  # Find the culprit: install one at a time.
  for pkg in "${missing[@]}"; do
    if ! "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "$pkg" >"$log" 2>&1; then
      tail -n 5 "$log" >&2
      echo "debian-packages.sh: cannot install package $pkg" >&2
      exit 1
    fi
  done
fi
echo "debian-packages.sh: done"
