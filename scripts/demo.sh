#!/usr/bin/env bash
# From a fresh Debian 12 machine: installs what is needed, builds crossover and runs the main job.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh -DCROSSOVER_TESTS=OFF
[ -f data/kjv/meta.json ] || build/crossover prepare --corpus kjv --out data/kjv --vocab-size 8192
build/crossover bench data data/kjv --seconds 1
