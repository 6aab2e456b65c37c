#!/usr/bin/env bash
# A cluster on one machine: N nodes as network namespaces, each with its own address on a
# private range (used only inside those namespaces), joined by veth links through a bridge in a
# "switch" namespace; a node-local scratch directory each (TMPDIR, the working directory) and
# the run directory on a path all nodes share, as on a cluster file system. Runs crossover there
# as 2 nodes x 2 ranks over Gloo and deals it the faults a cluster deals:
#   1 baseline        2x2 finish (torchrun's variables and torchrun itself, ddp and fsdp); the
#                     losses equal (1e-6) a 4-process single-host run of the same config
#   2 node lost       every process of node 1 SIGKILLed mid-step, and once inside a checkpoint
#                     write: node 0's ranks exit by themselves, with status 75, within
#                     distributed.timeout_s + a few seconds, each with one line naming the
#                     collective and the peer; the latest checkpoint verifies
#   3 partition       node 1's link set down mid-step: the same on both sides, nothing left hanging
#   4 slow node       node 1's link slowed for a while (netem 100 ms where the kernel has it,
#                     else a tbf rate limit): the run slows, finishes with the same losses
#   5 resume          the run of 2 resumed on 1 node x 2 ranks (within 1e-4) and on 2x2 (bit for bit)
#   6 elastic         torchrun --max-restarts 2, one rank SIGKILLed: the workers restart, resume
#                     from the checkpoint by themselves and finish as the undisturbed run
# Prints a table (scenario, PASS/FAIL, what happened, seconds until every process exited, what
# the run directory held, whether the resume matched); exits 1 if a scenario failed.
#
#   scripts/cluster/cluster-sim.sh [--short] [--keep] [BUILD_DIR]     (root; default BUILD_DIR build)
#   --short   baseline + node lost only (CI); --keep leaves the work directory
# Skips (exit 0, with the reason) only where network namespaces cannot be made. Removes every
# namespace, link and process it made, also when interrupted. torchrun: .venv/bin/torchrun,
# else Debian's (python3-torch).
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
short=0 keep=0 build=build
for a in "$@"; do
  case "$a" in
    --short) short=1 ;;
    --keep) keep=1 ;;
    -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
    -*) echo "cluster-sim: unknown option $a" >&2; exit 2 ;;
    *) build=$a ;;
  esac
done
bin=$(cd "$build" 2>/dev/null && pwd)/crossover
[ -x "$bin" ] || { echo "cluster-sim: $build/crossover not found (scripts/build.sh first)" >&2; exit 2; }
torchrun=""
if [ -x .venv/bin/torchrun ]; then torchrun=$root/.venv/bin/torchrun
elif command -v torchrun >/dev/null && /usr/bin/python3 -c 'import torch' 2>/dev/null; then torchrun=$(command -v torchrun)
fi

tag=xc$$                       # namespace names: ${tag}sw (the switch), ${tag}n0, ${tag}n1, ...
nodes=2 per_node=2 world=4
subnet=10.213.0
addr() { echo "$subnet.$((10 + $1))"; }
port=29500
timeout_s=10                   # distributed.timeout_s of every run here
start=$(date +%s)

# --- the cluster ---------------------------------------------------------------------------------
made_ns=()
cleanup() {
  trap - EXIT INT TERM
  for ns in "${made_ns[@]}"; do
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
  done
  for ns in "${made_ns[@]}"; do ip netns del "$ns" 2>/dev/null; done
  if [ "$keep" = 1 ]; then echo "cluster-sim: work directory kept: $work"; else rm -rf "$work"; fi
}
interrupted() { echo "cluster-sim: interrupted, cleaning up" >&2; cleanup; exit 130; }

if ! err=$(ip netns add "${tag}sw" 2>&1); then
  echo "cluster-sim: SKIPPED: cannot make network namespaces here ($err)"
  exit 0
fi
made_ns+=("${tag}sw")
work=$(mktemp -d /tmp/crossover-cluster-XXXXXX)
trap cleanup EXIT
trap interrupted INT TERM
ip -n "${tag}sw" link add br0 type bridge
ip -n "${tag}sw" link set br0 up
for ((i = 0; i < nodes; i++)); do
  ns=${tag}n$i
  ip netns add "$ns" && made_ns+=("$ns")
  ip link add name eth0 netns "$ns" type veth peer name p$i netns "${tag}sw"
  ip -n "${tag}sw" link set p$i master br0 up
  ip -n "$ns" addr add "$(addr $i)/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" link set lo up
  mkdir -p "$work/node$i/scratch"
done
echo "cluster-sim: $nodes nodes ($(for ((i = 0; i < nodes; i++)); do printf '%s ' "$(addr $i)"; done)) in namespaces ${tag}n*, work directory $work"

# --- data and config -----------------------------------------------------------------------------
"$bin" prepare --corpus kjv --out "$work/data" --vocab-size 320 --val-docs 8 >"$work/prepare.log" 2>&1 \
  || { cat "$work/prepare.log"; exit 1; }
steps=30
sets=(--set data.path="$work/data" --set model.layers=2 --set model.d_model=64 --set model.heads=2
      --set data.seq_len=64 --set training.global_batch=8 --set data.total_tokens=$((steps * 8 * 64))
      --set schedule.warmup_steps=5 --set eval.every=0 --set eval.val_sequences=8
      --set checkpoint.every=5 --set checkpoint.keep_last=3 --set logging.log_every=1
      --set logging.tensorboard=false --set hardware.threads=1 --set distributed.timeout_s=$timeout_s)
cfg=$root/configs/tiny-mdm.yaml
export OMP_NUM_THREADS=1

# --- launching -----------------------------------------------------------------------------------
pids=()   # every process started for the current run
start_rank() {  # start_rank RUN NODE LOCAL [extra env...] -- [train args...]
  local run=$1 node=$2 lr=$3; shift 3
  local r=$((node * per_node + lr))
  local envs=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do envs+=("$1"); shift; done
  [ $# -gt 0 ] && shift
  # The subshell stays the parent (no exec), so a SIGKILLed rank is not reported as a killed job.
  ( cd "$work/node$node/scratch" && ip netns exec "${tag}n$node" env TMPDIR="$work/node$node/scratch" \
      RANK=$r LOCAL_RANK=$lr NODE_RANK=$node GROUP_RANK=$node LOCAL_WORLD_SIZE=$per_node WORLD_SIZE=$world \
      MASTER_ADDR="$(addr 0)" MASTER_PORT=$port "${envs[@]}" \
      "$bin" train "$cfg" --run-dir "$run" "${sets[@]}" "$@"; rc=$?; exit $rc ) >>"$run.rank$r.log" 2>&1 &
  pids+=($!)
}
start_env_run() {  # start_env_run RUN [extra env...] -- [train args]: 2 nodes x 2 ranks
  local run=$1; shift
  pids=()
  local n l
  for ((n = 0; n < nodes; n++)); do for ((l = 0; l < per_node; l++)); do start_rank "$run" $n $l "$@"; done; done
}
# start_torchrun RUN MAX_RESTARTS [train args]: one torchrun agent per node. Without restarts the
# static rendezvous (--node-rank, --master-addr: torchrun's agent serves the store, and crossover's
# rank 0 its own on the next port); with restarts the c10d one, which restarts every node's workers.
start_torchrun() {
  local run=$1 restarts=$2; shift 2
  pids=()
  local n rdzv
  for ((n = 0; n < nodes; n++)); do
    if [ "$restarts" = 0 ]; then
      rdzv=(--node-rank $n --master-addr "$(addr 0)" --master-port $port)
    else
      rdzv=(--rdzv-backend c10d --rdzv-endpoint "$(addr 0):29400" --rdzv-id sim
            --rdzv-conf "is_host=$([ $n = 0 ] && echo 1 || echo 0)" --local-addr "$(addr $n)")
    fi
    ( cd "$work/node$n/scratch" && ip netns exec "${tag}n$n" env TMPDIR="$work/node$n/scratch" \
        TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1 \
        "$torchrun" --nnodes $nodes --nproc-per-node $per_node --max-restarts "$restarts" "${rdzv[@]}" \
        --monitor-interval 0.5 --no-python "$bin" train "$cfg" --run-dir "$run" "${sets[@]}" "$@"; rc=$?; exit $rc ) \
      >>"$run.node$n.log" 2>&1 &
    pids+=($!)
  done
}
# wait_all SECONDS: waits for every process of the run (and anything left in the namespaces);
# prints the exit statuses; returns 1 (after SIGKILLing them) if any is still running then.
wait_all() {
  local deadline=$(( $(date +%s) + $1 )) p codes=()
  while :; do
    local running=0
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && running=1; done
    for ((n = 0; n < nodes; n++)); do [ -n "$(ip netns pids "${tag}n$n")" ] && running=1; done
    [ "$running" = 0 ] && break
    if [ "$(date +%s)" -ge "$deadline" ]; then
      for ((n = 0; n < nodes; n++)); do for p in $(ip netns pids "${tag}n$n"); do kill -KILL "$p"; done; done
      for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
      exit_codes=killed
      return 1
    fi
    sleep 0.1
  done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; codes+=($?); done
  exit_codes="${codes[*]}"
  return 0
}
wait_step() {  # wait_step RUN STEP: until the run logged STEP (or 120 s)
  local deadline=$(( $(date +%s) + 120 ))
  until [ "$(last_step "$1")" -ge "$2" ] 2>/dev/null; do
    [ "$(date +%s)" -ge "$deadline" ] && return 1
    sleep 0.05
  done
}
last_step() { grep -o '"kind":"train"[^}]*' "$1/metrics.jsonl" 2>/dev/null | tail -n 1 | grep -o '"step":[0-9]*' | cut -d: -f2; }
kill_node() { for p in $(ip netns pids "${tag}n$1"); do kill -KILL "$p" 2>/dev/null; done; }
now() { date +%s.%N; }
since() { /usr/bin/python3 -c "print(f'{$(now) - $1:.1f}')"; }

# compare A B TOL: every step's loss of A equals B's within TOL (the last event of each step wins)
compare() {
  /usr/bin/python3 - "$1/metrics.jsonl" "$2/metrics.jsonl" "$3" <<'PY'
import json, sys
def losses(path):
    last = {}
    for line in open(path):
        try:
            e = json.loads(line)
        except ValueError:
            continue
        if e.get("kind") == "train":
            last[e["step"]] = e["loss"]
    return last
a, b, tol = losses(sys.argv[1]), losses(sys.argv[2]), float(sys.argv[3])
if not a or sorted(a) != sorted(b):
    print(f"steps differ ({len(a)} vs {len(b)})"); sys.exit(1)
d = max(abs(a[s] - b[s]) for s in a)
print("bit for bit" if d == 0 else f"max dloss {d:.1e}")
sys.exit(0 if d <= tol else 1)
PY
}
held() {  # what the run directory holds: checkpoints, latest, partial writes, finished or not
  local run=$1 out
  out="ckpt $(ls "$run/checkpoints" 2>/dev/null | grep '^step_' | sed 's/step_0*//' | tr '\n' ',' | sed 's/,$//')"
  out+=" latest=$(sed 's/step_0*//' "$run/checkpoints/latest" 2>/dev/null || echo none)"
  grep -q '"status":"finished"' "$run/metrics.jsonl" 2>/dev/null && out+=" finished"
  echo "$out"
}
verified() { "$bin" checkpoint verify "$1" >"$1.verify.log" 2>&1; }
# one_line LOG: the log of a surviving rank holds exactly one failure line, naming the collective
# and the peer, and no stack trace
one_line() {
  [ "$(grep -c 'collective [a-z_]* failed' "$1")" = 1 ] && ! grep -q 'frame #' "$1"
}

# --- results -------------------------------------------------------------------------------------
rows=()
failures=0
row() {  # row SCENARIO PASS|FAIL WHAT SECONDS HELD RESUME
  rows+=("$1|$2|$3|$4|$5|$6")
  [ "$2" = PASS ] || failures=$((failures + 1))
  printf 'cluster-sim: %-22s %s  %s\n' "$1" "$2" "$3"
}

# 1. Baseline: 2x2 against a single-host 4-process run, for each launcher and sharding.
baseline() {
  local sharding=$1 launcher=$2
  local ref=$work/ref-$sharding run=$work/base-$launcher-$sharding t0 secs what ok=PASS
  if [ ! -f "$ref/metrics.jsonl" ]; then
    scripts/cluster/launch.sh -n $world -- "$bin" train "$cfg" --run-dir "$ref" "${sets[@]}" \
      --set distributed.sharding="$sharding" >"$ref.log" 2>&1 || { row "ref $sharding" FAIL "single-host run failed: $(tail -n 1 "$ref.log")" - - -; return; }
  fi
  t0=$(now)
  if [ "$launcher" = env ]; then start_env_run "$run" -- --set distributed.sharding="$sharding"
  else start_torchrun "$run" 0 --set distributed.sharding="$sharding"; fi
  wait_all 120 || { row "baseline $launcher $sharding" FAIL "still running after 300 s" "$(since "$t0")" "$(held "$run")" -; return; }
  secs=$(since "$t0")
  what="2x2 exits [$exit_codes]"
  [ "$exit_codes" = "$(printf '0 %.0s' $(seq 1 ${#pids[@]}) | sed 's/ $//')" ] || ok=FAIL
  local cmp
  cmp=$(compare "$run" "$ref" 1e-6) || ok=FAIL
  row "1 baseline $launcher $sharding" $ok "$what; losses vs 1-host 4 ranks: $cmp" "$secs" "$(held "$run")" -
}

# 2/3. A node lost (SIGKILL, or inside a checkpoint write) or cut off: every process must exit
# by itself within timeout_s + a few seconds; the latest checkpoint must verify.
fault() {
  local name=$1 kind=$2 ok=PASS t0 secs what
  local run=$work/$3
  rm -rf "$run"
  if [ "$kind" = ckpt ]; then
    # node 1's ranks SIGKILL themselves inside the write of step 10 (tensors written, not committed)
    pids=()
    for ((l = 0; l < per_node; l++)); do start_rank "$run" 0 $l -- --set distributed.sharding=fsdp; done
    for ((l = 0; l < per_node; l++)); do start_rank "$run" 1 $l CROSSOVER_FAULT=checkpoint@10 -- --set distributed.sharding=fsdp; done
    wait_step "$run" 9
    while [ -z "$(ls -d "$run"/checkpoints/step_00000010.tmp 2>/dev/null)" ] && [ -n "$(ip netns pids "${tag}n1")" ]; do sleep 0.02; done
    t0=$(now)
  else
    start_env_run "$run" -- --set distributed.sharding=fsdp
    wait_step "$run" 12 || { row "$name" FAIL "the run never reached step 12" - "$(held "$run")" -; wait_all 60; return; }
    t0=$(now)
    if [ "$kind" = kill ]; then kill_node 1; else ip -n "${tag}sw" link set p1 down; fi
  fi
  if ! wait_all $((timeout_s + 60)); then
    ok=FAIL; what="processes still running $((timeout_s + 60)) s after the fault (killed)"
  fi
  secs=$(since "$t0")
  [ "$kind" = cut ] && ip -n "${tag}sw" link set p1 up
  local codes=($exit_codes) survivors=(0 1)
  [ "$kind" = cut ] && survivors=(0 1 2 3)
  what=${what:-"exits [$exit_codes]"}
  for r in "${survivors[@]}"; do
    [ "${codes[$r]:-x}" = 75 ] || { ok=FAIL; what+="; rank $r exit ${codes[$r]:-?} (want 75)"; }
    one_line "$run.rank$r.log" || { ok=FAIL; what+="; rank $r's log lacks the one failure line"; }
    # the line names node 1's ranks (a killed node), or says nobody answered (a cut link)
    if [ "$kind" = cut ]; then grep -q 'no peer answered' "$run.rank$r.log" || { ok=FAIL; what+="; rank $r names no timeout"; }
    else grep -q "failed: .*ranks 2, 3 at $(addr 1) went away" "$run.rank$r.log" || { ok=FAIL; what+="; rank $r does not name ranks 2, 3"; }; fi
  done
  awk -v s="$secs" -v t=$timeout_s 'BEGIN { exit !(s <= t + 5) }' || { ok=FAIL; what+="; slower than timeout_s + 5"; }
  verified "$run" || { ok=FAIL; what+="; latest checkpoint does not verify: $(tail -n 1 "$run.verify.log")"; }
  ls -d "$run"/checkpoints/*.tmp >/dev/null 2>&1 && what+="; partial write left (removed at the next start)"
  said() { grep -o 'collective [a-z_]* failed: .*' "$1" | head -n 1 | sed 's/ ([^)]*)//g'; }
  what+="; rank 0: $(said "$run.rank0.log")"
  [ "$kind" = cut ] && what+="; rank 2: $(said "$run.rank2.log")"
  row "$name" $ok "$what" "$secs" "$(held "$run"), verified" -
}

# 4. A slow link on node 1 for a while: slower, same losses.
slow() {
  local run=$work/slow ok=PASS t0 secs how
  rm -rf "$run"
  t0=$(now)
  start_env_run "$run" -- --set distributed.sharding=ddp
  wait_step "$run" 5
  local s0 t_slow0; s0=$(last_step "$run"); t_slow0=$(now)
  if ip netns exec "${tag}n1" tc qdisc add dev eth0 root netem delay 100ms 2>/dev/null; then
    ip -n "${tag}sw" link set p1 type veth 2>/dev/null
    ip netns exec "${tag}sw" tc qdisc add dev p1 root netem delay 100ms
    how="netem delay 100 ms each way"
  else  # no sch_netem in this kernel: a rate limit slows node 1's link instead
    ip netns exec "${tag}n1" tc qdisc add dev eth0 root tbf rate 1mbit burst 16kb latency 2s
    ip netns exec "${tag}sw" tc qdisc add dev p1 root tbf rate 1mbit burst 16kb latency 2s
    how="no netem in this kernel: tbf 1 mbit/s each way"
  fi
  sleep 8
  local s1 rate_slow; s1=$(last_step "$run")
  rate_slow=$(/usr/bin/python3 -c "print(f'{($s1 - $s0) / ($(now) - $t_slow0):.1f}')")
  ip netns exec "${tag}n1" tc qdisc del dev eth0 root
  ip netns exec "${tag}sw" tc qdisc del dev p1 root
  wait_all 300 || ok=FAIL
  secs=$(since "$t0")
  local base_rate; base_rate=$(/usr/bin/python3 -c "print(f'{$steps / $base_secs:.1f}')")
  [ "$exit_codes" = "0 0 0 0" ] || ok=FAIL
  awk -v a="$rate_slow" -v b="$base_rate" 'BEGIN { exit !(a < b / 2) }' || { ok=FAIL; how+=" (did not slow the run)"; }
  local cmp; cmp=$(compare "$run" "$work/base-env-ddp" 0) || ok=FAIL
  row "4 slow node" $ok "$how for 8 s: $rate_slow steps/s there vs $base_rate undisturbed; exits [$exit_codes]" "$secs" "$(held "$run")" "$cmp vs baseline"
}

# 5. The run that lost node 1 resumed elsewhere.
resume_elsewhere() {
  local src=$work/lost-step ok t0 secs cmp
  for layout in 1x2 2x2; do
    local run=$work/resume-$layout
    ok=PASS
    rm -rf "$run" && cp -a "$src" "$run"
    t0=$(now)
    if [ "$layout" = 1x2 ]; then
      pids=()
      world=2
      for ((l = 0; l < per_node; l++)); do start_rank "$run" 0 $l -- --set distributed.sharding=fsdp; done
      wait_all 300 || ok=FAIL
      world=4
      cmp=$(compare "$run" "$work/base-env-fsdp" 1e-4) || ok=FAIL
    else
      start_env_run "$run" -- --set distributed.sharding=fsdp
      wait_all 300 || ok=FAIL
      cmp=$(compare "$run" "$work/base-env-fsdp" 0) || ok=FAIL
    fi
    secs=$(since "$t0")
    grep -q '"status":"finished"' "$run/metrics.jsonl" || ok=FAIL
    row "5 resume on $layout" $ok "from step $(sed 's/step_0*//' "$src/checkpoints/latest") of the lost-node run; exits [$exit_codes]" "$secs" "$(held "$run")" "$cmp vs undisturbed 2x2"
  done
}

# 6. torchrun restarts the workers after one is SIGKILLed; they resume by themselves.
elastic() {
  local run=$work/elastic ok=PASS t0 secs victim
  rm -rf "$run"
  t0=$(now)
  start_torchrun "$run" 2 --set distributed.sharding=fsdp
  wait_step "$run" 12
  victim=$(pgrep -f -n -- "$bin train .*--run-dir $run")  # a worker, not an agent
  kill -KILL "$victim"
  wait_all 300 || ok=FAIL
  secs=$(since "$t0")
  [ "$exit_codes" = "0 0" ] || ok=FAIL
  local restarts resumed cmp
  # torchrun logs each failed worker ("failed (exitcode: N)"); each restarted rank logs its resume.
  restarts=$(cat "$run".node*.log | grep -c 'failed (exitcode')
  resumed=$(cat "$run".node*.log | grep -o 'resumed from .*(step [0-9]*)' | sed 's/.*(step/step/; s/)//' | sort -u | tr '\n' ' ')
  [ "${restarts:-0}" -ge 1 ] && [ -n "$resumed" ] || ok=FAIL
  cmp=$(compare "$run" "$work/base-torchrun-fsdp" 0) || ok=FAIL
  row "6 elastic restart" $ok "worker SIGKILLed at step 12; $restarts worker exits seen by the agents, which restarted all 4 ranks; they resumed from ${resumed% }; torchrun exits [$exit_codes]" "$secs" "$(held "$run")" "$cmp vs undisturbed"
}

t=$(now)
baseline ddp env
base_secs=$(since "$t")
if [ -n "$torchrun" ]; then baseline fsdp torchrun
else row "1 baseline torchrun" FAIL "no torchrun (.venv/bin/torchrun or python3-torch)" - - -; fi
fault "2 node lost mid-step" kill lost-step
if [ "$short" = 0 ]; then
  baseline fsdp env
  [ -n "$torchrun" ] && baseline ddp torchrun
  fault "2 node lost in ckpt" ckpt lost-ckpt
  fault "3 partition" cut partition
  slow
  resume_elsewhere
  if [ -n "$torchrun" ]; then elastic; else row "6 elastic restart" FAIL "no torchrun" - - -; fi
fi

echo
echo "| scenario | result | what happened | s until all exited | run dir after | resume |"
echo "|---|---|---|---|---|---|"
for r in "${rows[@]}"; do echo "| ${r//|/ | } |"; done
echo
echo "cluster-sim: ${#rows[@]} scenarios, $failures failed, $(( $(date +%s) - start )) s on $(getconf _NPROCESSORS_ONLN) cores"
[ "$failures" -eq 0 ]
