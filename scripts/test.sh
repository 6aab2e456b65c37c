#!/usr/bin/env bash
# From a fresh Debian 12 machine: installs what is needed (Debian packages; the pinned Python test
# tools into .venv from PyPI), builds everything including the tests (timed), and runs the suite.
#   scripts/test.sh               against Debian's LibTorch 1.13 (README's test command)
#   scripts/test.sh --torch pip   against PyPI's PyTorch 2.x CUDA LibTorch (scripts/build.sh
#                                 --torch pip): the CPU tests; GPU tests skip without a GPU
set -euo pipefail
cd "$(dirname "$0")/.."
torch=debian
if [ "${1:-}" = "--torch" ]; then torch=${2:?--torch needs debian or pip}; fi
[ "$torch" = pip ] && default_dir=build-torch2 || default_dir=build
export BUILD_DIR=${BUILD_DIR:-$default_dir}
scripts/setup.sh
# The Python tools some tests check outputs with (transformers, safetensors, tensorboard), in the
# project-local .venv; nothing goes into the system.
scripts/venv.sh scripts/requirements-test.txt
scripts/build.sh --torch "$torch" -DCROSSOVER_TESTS=ON
cd "$BUILD_DIR"
start=$(date +%s)
ctest -j"$(nproc)" --output-on-failure
echo "tests ($torch LibTorch): $(( $(date +%s) - start )) s"
