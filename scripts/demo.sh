#!/usr/bin/env bash
# README's main-job command. From a fresh Debian 12 machine: installs the Debian packages
# (scripts/setup/debian-packages.sh), builds crossover, prepares the bundled King James Bible,
# trains the tiny autoregressive and masked-diffusion models on it, and prints them side by side
# (scripts/analysis/compare-runs.py). Re-running skips what is done (finished runs are not
# retrained).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup/debian-packages.sh
scripts/build.sh -DCROSSOVER_TESTS=OFF
[ -f data/kjv/meta.json ] || build/crossover prepare --corpus kjv --out data/kjv --vocab-size 8192
for objective in ar mdm; do
  build/crossover train "configs/tiny-$objective.yaml" --run-dir "runs/tiny-$objective"
done
echo
/usr/bin/python3 scripts/analysis/compare-runs.py runs/tiny-ar runs/tiny-mdm
