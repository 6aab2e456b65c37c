#!/usr/bin/env bash
# Installs everything crossover needs to build, test and run on Debian 12: the Debian packages
# (debian-packages.sh, via apt; root or sudo) and the project-local Python environment .venv with
# the pinned tools the tests check outputs with (venv.sh requirements-eval.txt, which includes
# requirements-data.txt and requirements-test.txt: torch, transformers, safetensors, tensorboard,
# tokenizers, tiktoken, pyarrow, megatron-core, lm-eval, wandb). Nothing else goes into the system. Idempotent: a second
# run prints nothing and takes a second or two.
#   scripts/setup/install.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/setup/debian-packages.sh
scripts/setup/venv.sh scripts/setup/requirements-eval.txt
