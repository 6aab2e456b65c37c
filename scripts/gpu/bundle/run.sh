#!/usr/bin/env bash
# crossover's GPU check, run from the bundle that scripts/gpu/bundle.sh assembles: nothing is
# built or downloaded here. It needs python3 with PyTorch (its LibTorch and CUDA libraries are
# the ones crossover was built against) and, for --device cuda, one GPU.
#
#   ./run.sh [--device cuda|cpu] [--steps 1,2,...] [--out DIR]
#
#   0. libraries: every library resolves (ldd -r), NCCL headers == torch.cuda.nccl.version()
#   1. kernel tests: CUDA against the CPU references (under compute-sanitizer memcheck too)
#   2. bench kernels: weighted CE at 8192 rows x vocab 50304, the MDM mask kernel
#   3. tiny AR and MDM, fp32, 10 steps, sharding none / ddp / fsdp (the last two with a process
#      group at world size 1): the three agree within 1e-5, step 1 agrees with the CPU reference
#      (reference.json, made by the same binary on the CPU) within 1e-4
#   4. tiny AR and MDM, bf16 fsdp: killed after step 12, resumed from step 10's checkpoint to the
#      end, losses within tolerance of a straight run; then eval and generate (MDM also with the
#      prefix cache)
#   5. the 1B shape in bf16, ddp and fsdp over NCCL at world size 1, the same batch and noise
#      every step: tok/s, MFU, peak memory, step time by phase; the loss must fall
#   6. the 8B width (2 layers, grouped-query attention, untied head): fsdp steps (one unmeasured,
#      one measured), the loss falling
#   7. host syncs: tiny AR and MDM in bf16, sharding none / ddp / fsdp, 3 steps of 2 micro-batches
#      with training.forbid_host_syncs: nothing in a step's micro-batch loop may make the host
#      wait for the GPU (LibTorch's sync debug mode); a failure names the operation
# --device cpu runs every step on the CPU (Gloo, fp32, small shapes), so the script itself is
# tested where there is no GPU. Each step has its own time limit; the whole check takes at most
# CHECK_SECONDS (300). It ends with a PASS/FAIL table, one line of figures per step; exit status
# 0 when every step passed. Logs and run directories go to DIR (default: results/ here).
# PYTHON names the interpreter whose torch to use (default python3).
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
DEVICE=cuda
STEPS=0,1,2,3,4,5,6,7
OUT=$HERE/results
WRITE_REFERENCE=""
while [ $# -gt 0 ]; do
  case "$1" in
    --device) DEVICE=${2:?--device needs cuda or cpu}; shift 2 ;;
    --steps) STEPS=${2:?--steps needs a list such as 1,3}; shift 2 ;;
    --out) OUT=${2:?--out needs a folder}; shift 2 ;;
    --write-reference) WRITE_REFERENCE=${2:?}; STEPS=0,3; shift 2 ;;  # gpu/bundle.sh's use
    -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d'; exit 0 ;;
    *) echo "run.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$DEVICE" in cuda|cpu) ;; *) echo "run.sh: --device takes cuda or cpu, not $DEVICE" >&2; exit 2 ;; esac
PYTHON=${PYTHON:-python3}
START=$(date +%s)
DEADLINE=$((START + ${CHECK_SECONDS:-300}))
rm -rf "$OUT"
mkdir -p "$OUT/logs"
LOGS=$OUT/logs
BIN=$HERE/bin/crossover
CHECK=("$PYTHON" "$HERE/check.py")
say() { echo "run.sh: $*"; }

TABLE=()
FAILED=0
# record STEP PASS|FAIL SECONDS FIGURES
record() {
  TABLE+=("$(printf '| %-28s | %-6s | %5s | %s |' "$1" "$2" "$3" "$4")")
  [ "$2" = FAIL ] && FAILED=1
  say "$2 $1: $4"
}
finish() {
  echo
  echo "crossover GPU check, --device $DEVICE, $(( $(date +%s) - START )) s; logs in $LOGS"
  printf '| %-28s | %-6s | %5s | %s |\n' step result s figures
  printf '|%s|%s|%s|%s|\n' "------------------------------" "--------" "-------" "---------"
  printf '%s\n' "${TABLE[@]}"
  exit "$FAILED"
}
wanted() { [[ ",$STEPS," == *",$1,"* ]]; }
left() { echo $((DEADLINE - $(date +%s))); }
# limited SECONDS LOG CMD...: CMD with the smaller of SECONDS and the time left, output to LOG.
limited() {
  local limit=$1 log=$2
  shift 2
  [ "$(left)" -lt "$limit" ] && limit=$(left)
  if [ "$limit" -le 2 ]; then echo "out of time" >>"$log"; return 124; fi
  timeout -k 5 "$limit" "$@" >>"$log" 2>&1
}
first_error() {  # the first line of a log that says what went wrong
  grep -m1 -iE 'error|what\(\)|fail|not found|out of time|Killed|terminate' "$@" 2>/dev/null | cut -c1-300
}
free_port() { "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# ---- the machine and the libraries ---------------------------------------------------------
TORCH_DIR=$("$PYTHON" -c 'import os, torch; print(os.path.dirname(torch.__file__))' 2>"$LOGS/torch.log")
if [ -z "$TORCH_DIR" ]; then
  record libraries FAIL 0 "$PYTHON cannot import torch: $(tail -n 1 "$LOGS/torch.log")"
  finish
fi
LIB_PATH=$HERE/lib:$TORCH_DIR/lib
for d in "$TORCH_DIR"/../nvidia/*/lib; do [ -d "$d" ] && LIB_PATH=$LIB_PATH:$(cd "$d" && pwd); done
export LD_LIBRARY_PATH=$LIB_PATH${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
unresolved() {  # what ldd -r cannot resolve in the bundle's binaries
  for f in "$BIN" "$HERE/bin/crossover_kernel_tests" "$HERE/bin/libcrossover_spm.so"; do
    ldd -r "$f" 2>&1 | grep -E 'not found|undefined symbol' | sed "s|^|$(basename "$f"): |"
  done
}
missing=$(unresolved)
if [ -n "$missing" ] && grep -q 'GLIBCXX\|CXXABI\|GCC_' <<<"$missing" && [ -d "$HERE/lib/fallback" ]; then
  # This machine's libstdc++ is older than the one crossover was built with: the bundled copy.
  export LD_LIBRARY_PATH=$HERE/lib/fallback:$LD_LIBRARY_PATH
  say "this machine's libstdc++ lacks $(grep -o 'GLIBCXX_[0-9.]*\|CXXABI_[0-9.]*' <<<"$missing" | sort -uV | tail -n 1): using the bundled one"
  missing=$(unresolved)
fi
if [ -n "$missing" ]; then
  echo "$missing" | sort -u | head -n 20
  record libraries FAIL 0 "unresolved: $(echo "$missing" | sort -u | head -n 3 | tr '\n' ' ')"
  finish
fi
VERSION=$("$BIN" --version 2>&1)
say "$VERSION"
say "torch $("$PYTHON" -c 'import torch; print(torch.__version__, "CUDA", torch.version.cuda)' 2>&1)"
command -v nvidia-smi >/dev/null &&
  say "$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | head -n 1)"
say "$(nproc) cores; LD_LIBRARY_PATH=$LD_LIBRARY_PATH"

if wanted 0; then
  t0=$(date +%s)
  ours=$(grep -o 'NCCL headers [0-9.]*' <<<"$VERSION" | cut -d' ' -f3)
  theirs=$("$PYTHON" -c 'import torch; print(".".join(map(str, torch.cuda.nccl.version())))' 2>&1 | tail -n 1)
  if [ -z "$ours" ]; then
    record libraries FAIL 0 "crossover reports no NCCL headers: not a CUDA build ($VERSION)"
  elif [ "$ours" != "$theirs" ]; then
    record libraries FAIL 0 "NCCL headers $ours, torch.cuda.nccl.version() $theirs: ProcessGroupNCCL would corrupt the heap"
  else
    record libraries PASS $(( $(date +%s) - t0 )) "every library resolves; NCCL headers $ours = torch's NCCL $theirs"
  fi
fi

# The settings of each device: on the CPU, fp32 and small shapes.
if [ "$DEVICE" = cuda ]; then
  LOW=bf16; BACKEND=nccl; RESUME_REL=1e-2; SHAPE5=1B; SHAPE6="8B width"
  BENCH=("$HERE/configs/1b-mdm.yaml" --vocab 50304 --set training.global_batch=8 --set training.micro_batch=4)
  WIDE=("$HERE/configs/8b-mdm.yaml" --vocab 50304 --set model.layers=2 --set training.global_batch=1
        --set training.micro_batch=1)
  KERNELS=(--rows 8192 --vocab 50304 --len 2048)
else
  LOW=fp32; RESUME_REL=1e-6; BACKEND=gloo; SHAPE5=tiny; SHAPE6="GQA untied"
  BENCH=("$HERE/configs/tiny-check.yaml" --vocab 1024 --set data.seq_len=64)
  WIDE=("$HERE/configs/tiny-check.yaml" --vocab 1024 --set model.kv_heads=2 --set model.tie_embeddings=false
        --set training.global_batch=1 --set data.seq_len=64)
  KERNELS=(--rows 512 --vocab 4096 --len 512 --iters 3)
fi
TINY=("$HERE/configs/tiny-check.yaml" --set "data.path=$HERE/data" --set "hardware.device=$DEVICE")
# train_tiny LOG RUN OBJECTIVE [--set ...]: one tiny run, launched as a single-rank job.
train_tiny() {
  local log=$1 run=$2 obj=$3
  shift 3
  limited 120 "$log" env WORLD_SIZE=1 RANK=0 LOCAL_RANK=0 MASTER_ADDR=127.0.0.1 MASTER_PORT="$(free_port)" \
    "$BIN" train "${TINY[@]}" --run-dir "$run" --set "objective.type=$obj" "$@"
}

# ---- 1. kernel tests -------------------------------------------------------------------------
if wanted 1; then
  t0=$(date +%s)
  log=$LOGS/1-kernel-tests.log
  limited 120 "$log" "$HERE/bin/crossover_kernel_tests"
  status=$?
  passed=$(grep -c '^\[       OK \]' "$log")
  cuda_ok=$(grep -c '^\[       OK \] KernelsCuda' "$log")
  skipped=$(grep -c '^\[  SKIPPED \]' "$log")
  if [ $status -ne 0 ]; then
    record "1 kernel tests" FAIL $(( $(date +%s) - t0 )) "$(grep -m1 -E 'FAILED|out of time' "$log" || echo "exit $status")"
  elif [ "$DEVICE" = cuda ] && { [ "$skipped" -gt 0 ] || [ "$cuda_ok" -eq 0 ]; }; then
    record "1 kernel tests" FAIL $(( $(date +%s) - t0 )) "$skipped skipped: $(grep -m1 -A1 'Skipped' "$log" | tail -n 1)"
  else
    figures="$passed passed ($cuda_ok CUDA against the CPU references), $skipped skipped"
    sanitizer=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null)
    if [ "$DEVICE" = cuda ] && [ -n "$sanitizer" ]; then
      # API errors are not reported: a test provokes one on purpose (a failed cudaMalloc).
      limited 150 "$LOGS/1-memcheck.log" "$sanitizer" --tool memcheck --report-api-errors no \
        --error-exitcode 9 "$HERE/bin/crossover_kernel_tests" --gtest_filter='KernelsCuda.*'
      status=$?
      if [ $status -eq 0 ]; then
        figures="$figures; memcheck clean"
      elif [ $status -eq 9 ]; then
        record "1 kernel tests" FAIL $(( $(date +%s) - t0 )) "memcheck: $(grep -m1 'Invalid\|ERROR SUMMARY' "$LOGS/1-memcheck.log")"
        figures=""
      else
        figures="$figures; memcheck could not run (exit $status: $(first_error "$LOGS/1-memcheck.log"))"
      fi
    elif [ "$DEVICE" = cuda ]; then
      figures="$figures; no compute-sanitizer here"
    fi
    [ -n "$figures" ] && record "1 kernel tests" PASS $(( $(date +%s) - t0 )) "$figures"
  fi
fi

# ---- 2. kernel benchmark ---------------------------------------------------------------------
if wanted 2; then
  t0=$(date +%s)
  log=$LOGS/2-bench-kernels.log
  if limited 60 "$log" "$BIN" bench kernels --device "$DEVICE" "${KERNELS[@]}"; then
    # Rows: dev op dtype fused-ms GB/s unfused-ms GB/s speedup.
    record "2 bench kernels" PASS $(( $(date +%s) - t0 )) "$(awk -v d="$DEVICE" '$1 == d {
      printf "%s%s %s: %s ms, %s GB/s (unfused %s ms, %s)", sep, $2, $3, $4, $5, $6, $8; sep = "; " }' "$log")"
  else
    record "2 bench kernels" FAIL $(( $(date +%s) - t0 )) "$(first_error "$log")"
  fi
fi

# ---- 3. tiny fp32 runs under three shardings ------------------------------------------------
if wanted 3; then
  t0=$(date +%s)
  ok=1
  figures=()
  for obj in ar mdm; do
    runs=()
    for sharding in none ddp fsdp; do
      run=$OUT/runs/fp32-$obj-$sharding
      sets=(--set hardware.precision=fp32 --set "distributed.sharding=$sharding" --set checkpoint.every=0)
      [ "$sharding" != none ] && sets+=(--set distributed.process_group=always)
      if ! train_tiny "$LOGS/3-$obj-$sharding.log" "$run" "$obj" "${sets[@]}"; then
        ok=0; figures+=("$obj $sharding: $(first_error "$LOGS/3-$obj-$sharding.log")"); continue
      fi
      runs+=("$run")
    done
    [ ${#runs[@]} -eq 3 ] || continue
    if f=$("${CHECK[@]}" agree 1e-5 "${runs[@]}" 2>&1); then figures+=("$obj none=ddp=fsdp: $f"); else ok=0; figures+=("$obj DISAGREE: $f"); fi
  done
  if [ $ok = 1 ]; then
    if [ -n "$WRITE_REFERENCE" ]; then
      f=$("${CHECK[@]}" reference write "$WRITE_REFERENCE" "$OUT/runs/fp32-ar-none" "$OUT/runs/fp32-mdm-none" 2>&1) || ok=0
      figures+=("reference written: $f")
    elif f=$("${CHECK[@]}" reference check "$HERE/reference.json" 1e-4 "$OUT/runs/fp32-ar-none" "$OUT/runs/fp32-mdm-none" 2>&1); then
      figures+=("$f")
    else
      ok=0; figures+=("$f")
    fi
  fi
  record "3 fp32 none/ddp/fsdp" "$([ $ok = 1 ] && echo PASS || echo FAIL)" $(( $(date +%s) - t0 )) "$(printf '%s; ' "${figures[@]}")"
fi

# ---- 4. checkpoint, kill, resume; eval and generate -----------------------------------------
if wanted 4; then
  t0=$(date +%s)
  ok=1
  figures=()
  for obj in ar mdm; do
    sets=(--set "hardware.precision=$LOW" --set distributed.sharding=fsdp --set distributed.process_group=always
          --set data.total_tokens=20480)
    straight=$OUT/runs/$LOW-$obj-straight
    resumed=$OUT/runs/$LOW-$obj-resumed
    log=$LOGS/4-$obj.log
    train_tiny "$log" "$straight" "$obj" "${sets[@]}" || { ok=0; figures+=("$obj straight run: $(first_error "$log")"); continue; }
    # SIGKILLed right after step 12's update: the latest checkpoint is step 10's.
    CROSSOVER_FAULT=step@12 train_tiny "$log" "$resumed" "$obj" "${sets[@]}"
    killed=$?
    latest=$(cat "$resumed/checkpoints/latest" 2>/dev/null)
    if [ $killed -ne 137 ]; then
      ok=0; figures+=("$obj: the run was to be killed at step 12, exit $killed"); continue
    fi
    if ! train_tiny "$log" "$resumed" "$obj" "${sets[@]}"; then
      ok=0; figures+=("$obj resume: $(first_error "$log")"); continue
    fi
    if f=$("${CHECK[@]}" resume "$RESUME_REL" "$straight" "$resumed" 2>&1); then
      figures+=("$obj killed at 12, resumed from ${latest:-?}: $f")
    else
      ok=0; figures+=("$obj resume differs: $f"); continue
    fi
    elog=$LOGS/4-$obj-eval.log
    if limited 90 "$elog" "$BIN" eval "$straight" --device "$DEVICE"; then
      figures+=("$obj eval: $(grep -m1 -oE 'val loss [0-9.]+( ± [0-9.]+)?' "$elog")")
    else
      ok=0; figures+=("$obj eval: $(first_error "$elog")")
    fi
    caches=(none)
    [ "$obj" = mdm ] && caches=(none prefix)
    for cache in "${caches[@]}"; do
      glog=$LOGS/4-$obj-generate-$cache.log
      gargs=(--device "$DEVICE" --prompt "In the beginning" --max-new 32)
      [ "$obj" = mdm ] && gargs+=(--cache "$cache" --block-length 8)
      if limited 60 "$glog" "$BIN" generate "$straight" "${gargs[@]}"; then
        figures+=("$obj generate (cache $cache): $(grep -v '^\[' "$glog" | tr '\n' ' ' | wc -c) bytes")
      else
        ok=0; figures+=("$obj generate $cache: $(first_error "$glog")")
      fi
    done
  done
  record "4 $LOW fsdp resume/eval/gen" "$([ $ok = 1 ] && echo PASS || echo FAIL)" $(( $(date +%s) - t0 )) "$(printf '%s; ' "${figures[@]}")"
fi

# ---- 5 and 6. training steps at the real widths over a process group ------------------------
# bench_step NAME LOG SHARDING OBJECTIVES STEPS CONFIG-AND-ARGS...
bench_step() {
  local name=$1 log=$2 sharding=$3 objectives=$4 steps=$5
  shift 5
  local t0 objective=both n=2
  t0=$(date +%s)
  [ "$objectives" != both ] && { objective=$objectives; n=1; }
  if limited 150 "$log" env WORLD_SIZE=1 RANK=0 LOCAL_RANK=0 MASTER_ADDR=127.0.0.1 MASTER_PORT="$(free_port)" \
      "$BIN" bench train "$@" --objective "$objective" --warmup 1 --steps "$steps" --fixed-noise \
      --set "hardware.device=$DEVICE" --set "hardware.precision=$LOW" \
      --set "distributed.sharding=$sharding" --set distributed.process_group=always; then
    if f=$("${CHECK[@]}" bench "$log" "$sharding" "$BACKEND" "$n" 2>&1); then
      record "$name" PASS $(( $(date +%s) - t0 )) "$f"
    else
      record "$name" FAIL $(( $(date +%s) - t0 )) "$f"
    fi
  else
    record "$name" FAIL $(( $(date +%s) - t0 )) "$(first_error "$log")"
  fi
}
if wanted 5; then
  for sharding in ddp fsdp; do
    bench_step "5 $SHAPE5 $LOW $sharding/$BACKEND" "$LOGS/5-$sharding.log" "$sharding" both 4 "${BENCH[@]}"
  done
fi
if wanted 6; then
  bench_step "6 $SHAPE6 fsdp/$BACKEND" "$LOGS/6-8b-width.log" fsdp mdm 1 "${WIDE[@]}"
fi

# ---- 7. no host sync inside a step's micro-batch loop ----------------------------------------
if wanted 7; then
  t0=$(date +%s)
  ok=1
  figures=()
  for obj in ar mdm; do
    for sharding in none ddp fsdp; do
      log=$LOGS/7-$obj-$sharding.log
      sets=(--set "hardware.precision=$LOW" --set "distributed.sharding=$sharding" --set checkpoint.every=0
            --set training.micro_batch=4 --set data.total_tokens=3072 --set training.forbid_host_syncs=true)
      [ "$sharding" != none ] && sets+=(--set distributed.process_group=always)
      if train_tiny "$log" "$OUT/runs/syncs-$obj-$sharding" "$obj" "${sets[@]}"; then
        figures+=("$obj $sharding: $([ "$DEVICE" = cuda ] && echo "no host sync" || echo ran)")
      else
        ok=0
        figures+=("$obj $sharding: $(grep -m1 'host waited' "$log" | cut -c1-300 || true)$(grep -q 'host waited' "$log" || first_error "$log")")
      fi
    done
  done
  [ "$DEVICE" = cpu ] && figures+=("on the CPU nothing is checked: the runs only show that the setting is accepted")
  record "7 host syncs in a step" "$([ $ok = 1 ] && echo PASS || echo FAIL)" $(( $(date +%s) - t0 )) "$(printf '%s; ' "${figures[@]}")"
fi

finish
