#!/usr/bin/env bash
# From a fresh Debian 12 machine: installs what is needed, builds crossover and runs the main job.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
CROSSOVER_TESTS=OFF scripts/build.sh -DCROSSOVER_TESTS=OFF
build/crossover config show configs/tiny-ar.yaml
