#!/usr/bin/env bash
# README's test command. From a fresh Debian 12 machine: installs what is needed
# (scripts/setup/install.sh: Debian packages, the pinned Python test tools in .venv), then builds
# everything including the tests and runs the suite (scripts/test/run.sh).
#   scripts/test.sh               against Debian's LibTorch 1.13
#   scripts/test.sh --torch pip   against PyPI's PyTorch 2.x CUDA LibTorch (build-torch2/)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup/install.sh
exec scripts/test/run.sh "$@"
