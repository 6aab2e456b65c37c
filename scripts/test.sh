#!/usr/bin/env bash
# From a fresh Debian 12 machine: installs what is needed, builds everything including the tests
# (timed), and runs the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh -DCROSSOVER_TESTS=ON
cd "${BUILD_DIR:-build}"
start=$(date +%s)
ctest -j"$(nproc)" --output-on-failure
echo "tests: $(( $(date +%s) - start )) s"
