#!/usr/bin/env bash
# Soak test of crash safety (not in CI; minutes): the faults a cluster deals out, against one small
# run, then a check that what survived is exactly the run that was never disturbed.
#
#   scripts/test/soak.sh [N] [BUILD_DIR]     N random SIGKILLs (default 50), BUILD_DIR default build
#
#  1. a reference run, undisturbed, logging the loss of every step;
#  2. until N kills have landed: start or resume the run, SIGKILL it after a random delay (checkpoints every 2 steps
#     and fsync'd tensor files make many kills land inside a checkpoint write; starts alternate
#     between background writes, the default, and checkpoint.async=false); after each kill
#     the latest checkpoint must verify (every checksum) and no partial step_N.tmp/ may survive
#     the next start;
#  3. one of two ranks (fsdp over Gloo) SIGKILLed: the other must exit by itself (its collective
#     times out), and the pair resumes;
#  4. a full disk (CROSSOVER_FAULT=enospc@STEP) during a checkpoint write: the run stops with the
#     error, the previous checkpoint stays the latest, and the rerun heals;
#  5. the run finished after all that must log bit-identical losses at every step to the
#     reference (same machine, same kernels; resume is exact).
# Prints what happened to each fault and a summary; exits 1 if anything did not survive.
set -uo pipefail
cd "$(dirname "$0")/../.."
n=${1:-50}
build=${2:-build}
bin=$build/crossover
[ -x "$bin" ] || { echo "soak.sh: $bin not found (scripts/build.sh first)" >&2; exit 2; }
work=${SOAK_DIR:-$(mktemp -d /tmp/crossover-soak-XXXXXX)}
mkdir -p "$work"
echo "soak: $n kills, work directory $work"
export OMP_NUM_THREADS=1
failures=0
fail() { echo "soak: FAILED: $*"; failures=$((failures + 1)); }

# Data: the bundled KJV with a small vocabulary.
if [ ! -f "$work/data/meta.json" ]; then
  "$bin" prepare --corpus kjv --out "$work/data" --vocab-size 320 --val-docs 8 >"$work/prepare.log" 2>&1 \
    || { cat "$work/prepare.log"; exit 1; }
fi
cat >"$work/soak.yaml" <<EOF
model: {layers: 2, d_model: 64, heads: 2}
objective: {type: mdm}
data: {path: $work/data, seq_len: 64, total_tokens: 81920}
optimizer: {lr: 1.0e-3}
schedule: {warmup_steps: 5}
training: {global_batch: 8, seed: 3}
eval: {every: 0, val_sequences: 4, mc_samples: 2}
checkpoint: {every: 2, keep_last: 2}
logging: {log_every: 1, tensorboard: false}
hardware: {threads: 1}
distributed: {timeout_s: 20}
EOF
steps=$((81920 / (8 * 64)))

# The loss of every step of a finished run, as "step loss" lines (the last event of each step
# wins: a resumed run logs the steps after its checkpoint again).
losses() {
  /usr/bin/python3 - "$1" <<'PY'
import json, sys
last = {}
for line in open(sys.argv[1]):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    if e.get("kind") == "train":
        last[e["step"]] = e["loss"]
for s in sorted(last):
    print(s, repr(last[s]))
PY
}
latest_verifies() {  # the latest checkpoint loads with every checksum verified
  "$bin" eval "$1" --device cpu --threads 1 >"$work/eval.log" 2>&1
}

start=$(date +%s)
# 1. Reference.
rm -rf "$work/ref"
"$bin" train "$work/soak.yaml" --run-dir "$work/ref" >"$work/ref.log" 2>&1 || { cat "$work/ref.log"; exit 1; }
losses "$work/ref/metrics.jsonl" >"$work/ref.losses"
ref_seconds=$(( $(date +%s) - start ))
echo "soak: reference run: $steps steps in ${ref_seconds} s"

# 2. Random SIGKILLs.
run=$work/killed
rm -rf "$run"
kills=0 in_write=0 restarts=0 finished_early=0
for ((i = 1; kills < n && i <= 3 * n; i++)); do  # until N kills landed on a running trainer
  mode=()
  (( i % 2 )) && mode=(--set checkpoint.async=false)  # kills during both kinds of write
  "$bin" train "$work/soak.yaml" --run-dir "$run" "${mode[@]}" >>"$work/killed.log" 2>&1 &
  pid=$!
  restarts=$((restarts + 1))
  # A delay in [0.3, 0.3 + reference time): kills land in start-up, steps and checkpoint writes.
  delay=$(/usr/bin/python3 -c "import random; print(0.3 + random.random() * $ref_seconds)")
  sleep "$delay"
  if ! kill -0 "$pid" 2>/dev/null; then
    wait "$pid"
    finished_early=$((finished_early + 1))
    rm -rf "$run"  # it finished before the kill: start over so the kills keep landing mid-run
    continue
  fi
  kill -KILL "$pid"
  wait "$pid" 2>/dev/null
  kills=$((kills + 1))
  ls -d "$run"/checkpoints/*.tmp >/dev/null 2>&1 && in_write=$((in_write + 1))
  if [ -f "$run/checkpoints/latest" ] && ! latest_verifies "$run"; then
    fail "kill $i: the latest checkpoint does not load: $(tail -n 3 "$work/eval.log")"
  fi
done
"$bin" train "$work/soak.yaml" --run-dir "$run" >>"$work/killed.log" 2>&1 || fail "the run did not finish after the kills"
ls -d "$run"/checkpoints/*.tmp >/dev/null 2>&1 && fail "a partial checkpoint survived a restart"
echo "soak: $kills SIGKILLs ($in_write inside a checkpoint write, $finished_early runs finished before their kill), $restarts starts"
if losses "$run/metrics.jsonl" | cmp -s - "$work/ref.losses"; then
  echo "soak: after the kills every one of the $steps steps logs the reference's loss, bit for bit"
else
  fail "losses after the kills differ from the reference: $(losses "$run/metrics.jsonl" | diff - "$work/ref.losses" | head -n 4)"
fi

# 3. One of two ranks killed.
run2=$work/two-ranks
rm -rf "$run2"
launch() { scripts/cluster/launch.sh -n 2 -- "$bin" train "$work/soak.yaml" --run-dir "$run2" \
  --set distributed.sharding=fsdp >>"$work/two-ranks.log" 2>&1; }
launch &
lpid=$!
sleep "$(/usr/bin/python3 -c "print(max(1.0, $ref_seconds * 0.8))")"
victim=$(pgrep -f "^$bin train $work/soak.yaml --run-dir $run2" | tail -n 1)  # a rank, not launch.sh
if [ -n "$victim" ]; then
  kill -KILL "$victim"
  t0=$(date +%s)
  wait "$lpid"
  rc=$?
  echo "soak: one of two ranks SIGKILLed: the pair exited with status $rc after $(( $(date +%s) - t0 )) s"
  [ "$rc" -ne 0 ] || fail "the surviving rank reported success"
  pgrep -f "^$bin train $work/soak.yaml --run-dir $run2" >/dev/null && fail "the surviving rank is still running"
else
  wait "$lpid"
  echo "soak: the two-rank run finished before its kill (no rank killed)"
fi
launch || fail "the two-rank run did not resume after losing a rank"
grep -q '"status":"finished"' "$run2/metrics.jsonl" || fail "the two-rank run did not finish"
echo "soak: the two-rank run resumed and finished"

# 4. A full disk during a checkpoint write.
run3=$work/disk-full
rm -rf "$run3"
CROSSOVER_FAULT=enospc@6 "$bin" train "$work/soak.yaml" --run-dir "$run3" >"$work/disk-full.log" 2>&1
rc=$?
[ "$rc" -ne 0 ] || fail "a failing checkpoint write did not stop the run"
grep -q "No space left on device" "$work/disk-full.log" || fail "the disk-full error does not say so"
[ "$(cat "$run3/checkpoints/latest" 2>/dev/null)" = "step_00000004" ] \
  || fail "after the failed write at step 6 latest is '$(cat "$run3/checkpoints/latest" 2>/dev/null)', not step_00000004"
ls -d "$run3"/checkpoints/*.tmp >/dev/null 2>&1 && fail "the failed write left its partial directory"
"$bin" train "$work/soak.yaml" --run-dir "$run3" >>"$work/disk-full.log" 2>&1 || fail "the rerun after the full disk failed"
if losses "$run3/metrics.jsonl" | cmp -s - "$work/ref.losses"; then
  echo "soak: full disk at step 6: the run stopped (status $rc), step 4 stayed the latest, the rerun reproduced the reference"
else
  fail "the run healed from the full disk logs other losses than the reference"
fi

echo "soak: $(( $(date +%s) - start )) s, $failures failure(s); logs in $work"
[ "$failures" -eq 0 ]
