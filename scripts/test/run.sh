#!/usr/bin/env bash
# Builds everything including the tests (timed) and runs the suite; installs nothing (on a fresh
# machine run scripts/setup/install.sh first; scripts/test.sh does both).
#   scripts/test/run.sh               against Debian's LibTorch 1.13, in build/
#   scripts/test/run.sh --torch pip   against PyPI's PyTorch 2.x CUDA LibTorch (scripts/build.sh
#                                     --torch pip), in build-torch2/: the CPU tests; GPU tests skip
#                                     without a GPU
# BUILD_DIR overrides the build folder. Prints the build's time, ctest's summary and the tests' time.
set -euo pipefail
cd "$(dirname "$0")/../.."
torch=debian
if [ "${1:-}" = "--torch" ]; then torch=${2:?--torch needs debian or pip}; fi
[ "$torch" = pip ] && default_dir=build-torch2 || default_dir=build
export BUILD_DIR=${BUILD_DIR:-$default_dir}
# The second LibTorch's pass skips the Python checks that do not depend on LibTorch (the data
# readers and tokenizers against their reference libraries, lm-eval and W&B): the Debian pass
# runs them (tests/test_util.h, CROSSOVER_ONCE_PER_CI).
[ "$torch" = pip ] && export CROSSOVER_SECOND_LIBTORCH_PASS=1
scripts/build.sh --torch "$torch" -DCROSSOVER_TESTS=ON
cd "$BUILD_DIR"
start=$(date +%s)
ctest -j"$(nproc)" --output-on-failure
echo "tests ($torch LibTorch): $(( $(date +%s) - start )) s"
