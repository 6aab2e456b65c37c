#!/usr/bin/env bash
# The GPU check, on an H100/H200 machine that has CUDA (nvcc), PyTorch 2.x, CMake and ninja but
# no Debian -dev packages and no network, in under 8 minutes:
#   1. unpacks the .deb files of scripts/fetch-gpu-debs.sh (carried in .gpu-debs/) into a prefix,
#   2. configures with -DCROSSOVER_CUDA=ON against PyTorch's LibTorch and builds,
#   3. runs the kernel tests (CUDA vs CPU reference, and the CPU reference tests),
#   4. runs `crossover bench kernels`, CPU and CUDA,
#   5. runs ddp and fsdp training steps of the 1B shape in bf16 over NCCL at world size 1
#      (a process group on one GPU: every collective of the step runs), loss falling on a fixed
#      batch, tok/s, MFU and peak GPU memory,
#   6. trains tiny AR and MDM checkpoints on the GPU and runs eval and generate on each,
# then prints a summary that says what passed, what failed and what could not be done.
# Exit status: 0 when nothing failed. Environment: BUILD_DIR (build-gpu), GPU_DEBS (.gpu-debs),
# TORCH_CMAKE_PREFIX (default: torch.utils.cmake_prefix_path), CROSSOVER_CUDA (ON),
# CHECK_SECONDS (480), TRAIN_ARGS (replaces the bench train arguments after the config).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
START=$(date +%s)
DEADLINE=$((START + ${CHECK_SECONDS:-480}))
BUILD_DIR=${BUILD_DIR:-build-gpu}
GPU_DEBS=${GPU_DEBS:-.gpu-debs}
CUDA_ON=${CROSSOVER_CUDA:-ON}
PREFIX=$ROOT/$BUILD_DIR/deps
LOGS=$ROOT/$BUILD_DIR/logs
mkdir -p "$PREFIX" "$LOGS"

SUMMARY=()
FAILED=0
say() { echo "gpu-check: $*"; }
record() {  # record STATUS WHAT: STATUS is ok, FAILED or SKIPPED
  SUMMARY+=("$(printf '%-8s %s' "$1" "$2")")
  [ "$1" = FAILED ] && FAILED=1
  say "$1: $2"
}
left() { echo $((DEADLINE - $(date +%s))); }
# run_step SECONDS LOG CMD...: runs CMD with a time limit, output to the console and LOG.
run_step() {
  local limit=$1 log=$2
  shift 2
  if [ "$limit" -le 5 ]; then
    echo "out of time" >"$log"
    return 124
  fi
  timeout "$limit" "$@" 2>&1 | tee "$log"
  return "${PIPESTATUS[0]}"
}
finish() {
  echo
  echo "==================== gpu-check summary ($(( $(date +%s) - START )) s) ===================="
  printf '%s\n' "${SUMMARY[@]}"
  echo "logs: $LOGS"
  exit "$FAILED"
}

# ---- 0. the machine ----------------------------------------------------------------------------
say "$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo 'nvidia-smi: not available')"
NVCC=$(command -v nvcc || true)
[ -z "$NVCC" ] && [ -x /usr/local/cuda/bin/nvcc ] && NVCC=/usr/local/cuda/bin/nvcc
say "nvcc: ${NVCC:-none} $([ -n "$NVCC" ] && "$NVCC" --version | tail -n 2 | head -n 1)"
say "torch: $(python3 -c 'import torch; print(torch.__version__, "cuda", torch.version.cuda)' 2>/dev/null || echo 'python3 has no torch')"
say "cmake: $(cmake --version 2>/dev/null | head -n 1 || echo none); ninja: $(ninja --version 2>/dev/null || echo none); c++: $(c++ --version 2>/dev/null | head -n 1 || echo none)"
for tool in cmake ninja c++; do
  command -v "$tool" >/dev/null || { record FAILED "no $tool on this machine: cannot build"; finish; }
done
if [ "$CUDA_ON" = ON ] && [ -z "$NVCC" ]; then record FAILED "no nvcc: cannot build the CUDA kernels"; finish; fi

# ---- 1. C++ dependencies from the carried .deb files -------------------------------------------
shopt -s nullglob
debs=("$GPU_DEBS"/*.deb)
if [ ${#debs[@]} -eq 0 ]; then
  say "no .deb files in $GPU_DEBS (run scripts/fetch-gpu-debs.sh where there is a network);"
  say "relying on what this machine has installed"
  record SKIPPED "dependency packages: none carried in $GPU_DEBS"
else
  for deb in "${debs[@]}"; do
    if command -v dpkg-deb >/dev/null; then
      dpkg-deb -x "$deb" "$PREFIX"
    else  # a .deb is an ar archive holding data.tar.*
      member=$(ar t "$deb" | grep '^data\.tar')
      case "$member" in
        *.xz) z=-J ;; *.zst) z=--zstd ;; *.gz) z=-z ;; *) z= ;;
      esac
      ar p "$deb" "$member" | tar -x $z -C "$PREFIX"
    fi || { record FAILED "unpacking $deb"; finish; }
  done
  # zlib1g-dev links libz.so to an absolute /lib/x86_64-linux-gnu/libz.so.1.2.13, which names
  # this machine's file (absent, or another version), not the unpacked one: point such links
  # into the prefix when their target was unpacked there.
  find "$PREFIX" -type l -lname '/*' | while read -r link; do
    target=$(readlink "$link")
    if [ -e "$PREFIX$target" ]; then ln -sfn "$PREFIX$target" "$link"; fi
  done
  # pkg-config files name /usr: point them at the prefix.
  for pc in "$PREFIX"/usr/lib/x86_64-linux-gnu/pkgconfig/*.pc "$PREFIX"/usr/share/pkgconfig/*.pc; do
    sed -i "s|^prefix=/usr\$|prefix=$PREFIX/usr|" "$pc"
  done
  export PKG_CONFIG_PATH=$PREFIX/usr/lib/x86_64-linux-gnu/pkgconfig:$PREFIX/usr/share/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
  # The linker finds bare -l names (sentencepiece_train) here.
  export LIBRARY_PATH=$PREFIX/usr/lib/x86_64-linux-gnu${LIBRARY_PATH:+:$LIBRARY_PATH}
  if ! command -v pkg-config >/dev/null && [ -x "$PREFIX/usr/bin/pkgconf" ]; then
    mkdir -p "$PREFIX/bin"
    printf '#!/bin/sh\nLD_LIBRARY_PATH=%s/usr/lib/x86_64-linux-gnu exec %s/usr/bin/pkgconf "$@"\n' \
      "$PREFIX" "$PREFIX" >"$PREFIX/bin/pkg-config"
    chmod +x "$PREFIX/bin/pkg-config"
    export PATH=$PREFIX/bin:$PATH
  fi
  # CMakeLists.txt builds GoogleTest from sources: the unpacked googletest package's, when the
  # machine has none (GTEST_SOURCE_DIR below).
  if [ ! -d /usr/src/googletest ] && [ -d "$PREFIX/usr/src/googletest" ]; then
    GTEST_SRC=$PREFIX/usr/src/googletest
  fi
  record ok "dependency packages: ${#debs[@]} unpacked into $PREFIX"
fi
# Our binaries find the unpacked shared libraries through their RPATH; this makes sure of it,
# without putting Debian's libraries in front of everything else this script runs.
WITH_LIBS=(env "LD_LIBRARY_PATH=$PREFIX/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}")

# ---- 2. configure and build --------------------------------------------------------------------
TORCH_PREFIX=${TORCH_CMAKE_PREFIX:-$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)' 2>/dev/null)}
if [ -z "$TORCH_PREFIX" ]; then record FAILED "no LibTorch: python3 cannot import torch"; finish; fi
# Build for this GPU only (LibTorch's CMake otherwise detects or lists architectures itself).
export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0}
[ -n "$NVCC" ] && export CUDA_HOME=${CUDA_HOME:-$(dirname "$(dirname "$NVCC")")}
cmake_args=(-S "$ROOT" -B "$ROOT/$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release
  -DCROSSOVER_CUDA="$CUDA_ON" -DCROSSOVER_TESTS=ON
  "-DCMAKE_PREFIX_PATH=$PREFIX/usr;$TORCH_PREFIX" -DOPENSSL_ROOT_DIR="$PREFIX/usr")
[ -n "${GTEST_SRC:-}" ] && cmake_args+=(-DGTEST_SOURCE_DIR="$GTEST_SRC")
[ -n "$NVCC" ] && cmake_args+=(-DCMAKE_CUDA_COMPILER="$NVCC")
# Not the unpacked pkgconf under the prefix, which CMake would find first but which cannot run
# without LD_LIBRARY_PATH: the machine's pkg-config, or the wrapper made above.
command -v pkg-config >/dev/null && cmake_args+=(-DPKG_CONFIG_EXECUTABLE="$(command -v pkg-config)")
t0=$(date +%s)
if ! run_step "$(left)" "$LOGS/configure.log" cmake "${cmake_args[@]}" >/dev/null; then
  tail -n 30 "$LOGS/configure.log"
  record FAILED "configure (CROSSOVER_CUDA=$CUDA_ON, LibTorch from $TORCH_PREFIX): see configure.log"
  finish
fi
record ok "configure: $(( $(date +%s) - t0 )) s ($(grep -m1 'CUDA kernels:' "$LOGS/configure.log" | sed 's/^-- //'))"
t0=$(date +%s)
if ! run_step "$(left)" "$LOGS/build.log" cmake --build "$ROOT/$BUILD_DIR" >/dev/null; then
  grep -E 'error|FAILED' "$LOGS/build.log" | head -n 30
  record FAILED "build: see build.log"
  finish
fi
record ok "build: $(( $(date +%s) - t0 )) s on $(nproc) cores"

BIN=$ROOT/$BUILD_DIR

# ---- 3. kernel tests ---------------------------------------------------------------------------
filter='KernelsCuda.*:Philox.*:MdmMaskCpu.*:WeightedCeCpu.*'
run_step "$(left)" "$LOGS/tests.log" "${WITH_LIBS[@]}" "$BIN/crossover_tests" --gtest_filter="$filter"
status=$?
skipped=$(grep -c '^\[  SKIPPED \] KernelsCuda.* ms)$' "$LOGS/tests.log")
passed_cuda=$(grep -c '^\[       OK \] KernelsCuda.* ms)$' "$LOGS/tests.log")
if [ "$status" -ne 0 ]; then
  record FAILED "kernel tests: $(grep -m1 -E 'FAILED TEST|tests? ran' "$LOGS/tests.log" || echo "exit $status")"
elif [ "$skipped" -gt 0 ]; then
  # On a GPU machine a skipped GPU test is a check not done, so it fails the check there.
  why=$(grep -m1 -A1 ': Skipped' "$LOGS/tests.log" | tail -n 1)
  record "$([ "$CUDA_ON" = ON ] && echo FAILED || echo SKIPPED)" \
    "GPU tests: $skipped skipped ($why); the CPU reference tests passed"
else
  record ok "kernel tests: $passed_cuda GPU tests passed (CUDA == CPU reference), CPU reference tests passed"
fi

# ---- 4. kernel benchmark -----------------------------------------------------------------------
if run_step "$(left)" "$LOGS/bench-kernels.log" "${WITH_LIBS[@]}" "$BIN/crossover" bench kernels \
  && run_step "$(left)" "$LOGS/bench-kernels-large.log" "${WITH_LIBS[@]}" "$BIN/crossover" bench kernels \
       --device cuda --rows 8192 --vocab 50304 --len 2048; then
  if grep -q '^# cuda:' "$LOGS/bench-kernels.log"; then
    record "$([ "$CUDA_ON" = ON ] && echo FAILED || echo SKIPPED)" \
      "bench kernels: CPU figures only ($(grep -m1 '^# cuda:' "$LOGS/bench-kernels.log" | cut -c3-))"
  else
    record ok "bench kernels: CPU and CUDA figures above and in bench-kernels*.log"
  fi
else
  record FAILED "bench kernels: see bench-kernels*.log"
fi

# ---- 5. ddp and fsdp training steps over NCCL at world size 1, 1B shape, bf16 ---------------
# A process group at world size 1 (distributed.process_group=always) runs every collective of
# the step over NCCL on this one GPU: the gathers and reduce-scatters of fsdp, the buckets of ddp,
# the step's one all-reduce of loss, gradient norm and stop flags. The batch is fixed, so the
# loss must fall; tok/s, MFU (against the table's peak for known GPUs), peak memory and the step's
# time by phase (data, forward, backward, exposed communication, optimizer) are printed.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
check_bench() {  # check_bench LOG SHARDING: the JSON lines of bench train, judged
  python3 - "$1" "$2" <<'PY'
import json, math, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
if len(rows) != 2: sys.exit(f"expected 2 result lines (ar, mdm), got {len(rows)}")
out, bad = [], []
for r in rows:
    ok = r["backend"] == "nccl" and r["sharding"] == sys.argv[2] and r["world_size"] == 1
    ok = ok and math.isfinite(r["last_loss"]) and r["last_loss"] < r["first_loss"]
    # The step's time by phase (CUDA events on the compute stream) must add up to the step.
    t = {k: v for k, v in r["time"].items() if k != "step_s"}
    ok = ok and abs(sum(t.values()) - r["step_seconds"]) <= 1e-6 * r["step_seconds"]
    parts = r["time_shares"]
    (out if ok else bad).append(f'{r["objective"]} {r["backend"]}/{r["sharding"]} loss {r["first_loss"]:.3f}->{r["last_loss"]:.3f} '
               f'{r["tok_per_s"]:.0f} tok/s MFU {100*r["mfu"]:.1f}% peak {r["peak_memory_mib"]/1024:.1f} GiB '
               f'step {r["step_seconds"]:.3f} s ({parts})')
print("; ".join(out + ["NOT OK: " + b for b in bad]))
sys.exit(1 if bad else 0)
PY
}
for sharding in ddp fsdp; do
  read -r -a train_args <<<"${TRAIN_ARGS:---objective both --vocab 50304 --warmup 1 --steps 4 --set training.global_batch=8 --set training.micro_batch=4 --set hardware.precision=bf16 --set hardware.device=cuda}"
  train_args+=(--set "distributed.sharding=$sharding" --set distributed.process_group=always)
  log=$LOGS/bench-train-$sharding.log
  say "crossover bench train configs/1b-mdm.yaml ${train_args[*]}"
  if run_step "$(left)" "$log" env WORLD_SIZE=1 RANK=0 LOCAL_RANK=0 MASTER_ADDR=127.0.0.1 \
       MASTER_PORT="$(free_port)" "${WITH_LIBS[@]}" "$BIN/crossover" bench train configs/1b-mdm.yaml \
       "${train_args[@]}"; then
    if verdict=$(check_bench "$log" "$sharding"); then
      record ok "bench train 1B bf16 $sharding over NCCL: $verdict ($(grep -m1 '^MFU reference' "$log"))"
    else
      record FAILED "bench train 1B bf16 $sharding over NCCL: $verdict"
    fi
  else
    record FAILED "bench train 1B bf16 $sharding over NCCL: $(grep -m1 -iE 'error|what\(\)' "$log" || tail -n 1 "$log")"
  fi
done

# ---- 6. eval and generate with both objectives on a tiny GPU checkpoint ------------------------
# The corpus is this repository's own text (no network, no Debian corpus package here).
GPU_DATA=$ROOT/$BUILD_DIR/gpu-data
GPU_RUNS=$ROOT/$BUILD_DIR/gpu-runs
rm -rf "$GPU_RUNS"
find "$ROOT/src" "$ROOT/include" "$ROOT/docs" -type f \( -name '*.cpp' -o -name '*.h' -o -name '*.md' \) \
  -exec cat {} + >"$ROOT/$BUILD_DIR/gpu-corpus.txt" 2>/dev/null
cat "$ROOT/README.md" >>"$ROOT/$BUILD_DIR/gpu-corpus.txt"
if ! run_step "$(left)" "$LOGS/prepare.log" "${WITH_LIBS[@]}" "$BIN/crossover" prepare \
     --input "$ROOT/$BUILD_DIR/gpu-corpus.txt" --doc-split blank-line --out "$GPU_DATA" \
     --vocab-size 1024 --force >/dev/null; then
  record FAILED "prepare the tiny GPU corpus: see prepare.log"
  finish
fi
for objective in ar mdm; do
  run=$GPU_RUNS/$objective
  if ! run_step "$(left)" "$LOGS/train-tiny-$objective.log" "${WITH_LIBS[@]}" "$BIN/crossover" train \
       "configs/tiny-$objective.yaml" --run-dir "$run" --set "data.path=$GPU_DATA" \
       --set data.total_tokens=200k --set eval.every=0 --set hardware.device=cuda >/dev/null; then
    record FAILED "train tiny $objective on cuda: $(grep -m1 -iE 'error|what\(\)' "$LOGS/train-tiny-$objective.log")"
    continue
  fi
  if run_step "$(left)" "$LOGS/eval-$objective.log" "${WITH_LIBS[@]}" "$BIN/crossover" eval "$run" \
       --device cuda >/dev/null \
     && run_step "$(left)" "$LOGS/generate-$objective.log" "${WITH_LIBS[@]}" "$BIN/crossover" \
       generate "$run" --device cuda --prompt "The trainer" --max-new 32 >/dev/null; then
    record ok "tiny $objective on cuda: train, eval ($(grep -m1 -oE 'val loss [0-9.]+( ± [0-9.]+)?' "$LOGS/eval-$objective.log")), generate ($(wc -c <"$LOGS/generate-$objective.log") bytes)"
  else
    record FAILED "eval/generate tiny $objective on cuda: $(grep -m1 -iE 'error|what\(\)' "$LOGS/eval-$objective.log" "$LOGS/generate-$objective.log")"
  fi
done

finish
