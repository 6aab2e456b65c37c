#!/usr/bin/env bash
# Preemption and time limits against a real SLURM: Debian's slurm-wlm (22.05) and munge, which
# scripts/setup/debian-packages.sh installs. Starts a munged, a slurmctld and one slurmd (this
# machine, its CPUs) of its own, configured in a temporary directory on ports of their own, and
# checks:
#   a) scripts/cluster/slurm/train.sbatch, 2 tasks, fsdp, signalled as --signal=B:TERM does
#      before the time limit (scancel -b -s TERM: the batch shell alone): both ranks stop at one
#      step and write one checkpoint there, the job requeues itself, resumes and finishes, and its
#      metrics.jsonl holds every step's train loss, equal to those of the same run undisturbed;
#   b) `crossover sweep slurm` of a 3-point sweep as an array job: one point's task is signalled
#      the same way, checkpoints, requeues itself (that task only) and finishes; the other
#      points run through without a restart or a signal;
#   c) the time limit itself: train.sbatch with --time=2 --signal=B:TERM@75, nothing sent by
#      hand: SLURM signals the batch shell, the run checkpoints, requeues and finishes;
#   d) a second signal while the trainers stop: they exit at once without writing, the last
#      periodic checkpoint stays the latest, and the requeued job resumes from it with the
#      undisturbed run's losses.
# A requeued job becomes eligible about two minutes after its requeue; the test moves its
# start time to now (and, in c, its time limit up) so as not to wait for it.
# Prints a table of the checks. Exits 1 when a check fails, or when SLURM cannot be started
# (the reason printed). Root only. About 5 minutes on 2 cores.
#   scripts/cluster/slurm/test-slurm.sh [BUILD_DIR]   (default build; KEEP=1 keeps the
#                                                     temporary directory: logs, run directories)
set -euo pipefail
cd "$(dirname "$0")/../../.."
ROOT=$PWD
BUILD_DIR=${1:-build}
case "$BUILD_DIR" in /*) ;; *) BUILD_DIR=$ROOT/$BUILD_DIR ;; esac
CROSSOVER=$BUILD_DIR/crossover
T0=$(date +%s)

say() { echo "test-slurm [$(( $(date +%s) - T0 )) s]: $*" >&2; }
T=""
cannot() {
  echo "test-slurm: FAIL: SLURM cannot be started here: $*" >&2
  if [ -n "$T" ]; then
    for f in "$T"/log/*.log; do [ -f "$f" ] && { echo "--- $f" >&2; tail -n 15 "$f" >&2; }; done
  fi
  exit 1
}

[ "$(id -u)" = 0 ] || cannot "it needs root (its daemons run as root); run it as root"
for tool in munged mungekey slurmctld slurmd sbatch srun squeue scancel scontrol; do
  command -v "$tool" >/dev/null || cannot "$tool is missing: install slurm-wlm and munge (scripts/setup/debian-packages.sh)"
done
[ -x "$CROSSOVER" ] || { echo "test-slurm: FAIL: no $CROSSOVER (scripts/build.sh first)" >&2; exit 1; }
[ "$(nproc)" -ge 2 ] || cannot "it needs 2 CPUs, this machine has $(nproc)"

# --- the cluster ---------------------------------------------------------------------------
T=$(mktemp -d /tmp/crossover-slurm.XXXXXX)
chmod 755 "$T"  # munged wants its socket's directory searchable by all
mkdir -p "$T/log" "$T/state" "$T/spool" "$T/runs"
cleanup() {
  set +e
  if [ -f "$T/slurm.conf" ] && [ -f "$T/slurmctld.pid" ]; then
    scancel --quiet --user=root 2>/dev/null
    for _ in $(seq 20); do [ -z "$(squeue -h 2>/dev/null)" ] && break; sleep 0.5; done
  fi
  for f in slurmd slurmctld munged; do
    [ -f "$T/$f.pid" ] && kill "$(cat "$T/$f.pid")" 2>/dev/null
  done
  sleep 1
  if [ "${KEEP:-0}" = 1 ]; then echo "test-slurm: kept $T" >&2; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
mungekey --create --keyfile="$T/munge.key" >"$T/log/mungekey.log" 2>&1 || cannot "mungekey failed"
munged --socket="$T/munge.sock" --key-file="$T/munge.key" --pid-file="$T/munged.pid" \
  --log-file="$T/log/munged.log" --seed-file="$T/munged.seed" >>"$T/log/munged.log" 2>&1 \
  || cannot "munged did not start"
host=$(hostname -s)
cpus=$(nproc)
ctld_port=$(free_port)
d_port=$(free_port)
while [ "$d_port" = "$ctld_port" ]; do d_port=$(free_port); done
cat >"$T/slurm.conf" <<EOF
ClusterName=crossover-test
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$d_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$T/munge.sock
StateSaveLocation=$T/state
SlurmdSpoolDir=$T/spool
SlurmctldPidFile=$T/slurmctld.pid
SlurmdPidFile=$T/slurmd.pid
SlurmctldLogFile=$T/log/slurmctld.log
SlurmdLogFile=$T/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
KillWait=30
MinJobAge=3600
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF=$T/slurm.conf
slurmctld -f "$SLURM_CONF" >>"$T/log/slurmctld.log" 2>&1 || cannot "slurmctld did not start"
slurmd -f "$SLURM_CONF" >>"$T/log/slurmd.log" 2>&1 || cannot "slurmd did not start"
up=0
for _ in $(seq 60); do
  [ "$(sinfo -h -o %t 2>/dev/null)" = idle ] && { up=1; break; }
  sleep 0.5
done
[ "$up" = 1 ] || cannot "the node did not become idle: sinfo says '$(sinfo -h -o '%t %E' 2>&1)'"
SLURM_VERSION=$(sinfo -V | cut -d' ' -f2)
say "SLURM $SLURM_VERSION up: node $host, $cpus CPUs, in $T"

# --- helpers -------------------------------------------------------------------------------
rows=()
failed=0
check() {  # check SCENARIO WHAT CONDITION DETAIL: a row of the table, ok when CONDITION holds
  local result=FAIL
  if eval "$3"; then result=ok; else failed=$((failed + 1)); say "FAIL: $1: $2: $4"; fi
  rows+=("$1|$2|$result|$4")
}
job_field() {  # job_field JOB Field: one field of `scontrol show job`
  { scontrol -o show job "$1" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1; } || true
}
wait_until() {  # wait_until SECONDS WHAT COMMAND...: polls COMMAND every second
  local limit=$1 what=$2
  shift 2
  for _ in $(seq "$limit"); do "$@" && return 0; sleep 1; done
  say "timed out after $limit s waiting for $what"
  return 1
}
state_is() { [ "$(job_field "$1" JobState)" = "$2" ]; }
requeued() { [ "$(job_field "$1" Restarts)" -ge 1 ] 2>/dev/null; }
# A run directory's metrics.jsonl (and, given REF, an undisturbed run's) as shell variables:
# last (last train step), stop (the interrupted end's step, -1 without), interrupts, resumed
# (the step the last start resumed from), end (last end event), steps_once (steps 1..N, each
# logged once), same_steps and max_diff (against REF's train losses), losses_ok.
facts() {  # eval "$(facts RUN_DIR [REF_DIR])"
  python3 - "$@" <<'EOF' 2>/dev/null || echo "last=0 stop=-1 interrupts=0 resumed=none end=none steps_once=False same_steps=False max_diff=inf losses_ok=False"
import json, math, sys
def events(run):
    try:
        return [json.loads(l) for l in open(run + "/metrics.jsonl") if l.strip()]
    except OSError:
        return []
ev = events(sys.argv[1])
train = [e for e in ev if e["kind"] == "train"]
steps = [e["step"] for e in train]
ends = [e for e in ev if e["kind"] == "end"]
stops = [e["step"] for e in ends if e["status"] == "interrupted"]
runs = [e for e in ev if e["kind"] == "run"]
f = {
    "last": steps[-1] if steps else 0,
    "stop": stops[-1] if stops else -1,
    "interrupts": len(stops),
    "resumed": (runs[-1].get("resumed_from") if runs else None),
    "end": f"{ends[-1]['status']}@{ends[-1]['step']}" if ends else "none",
    "steps_once": bool(steps) and steps == list(range(1, len(steps) + 1)),
}
if f["resumed"] is None:
    f["resumed"] = "none"
if len(sys.argv) > 2:
    ref = {e["step"]: e["loss"] for e in events(sys.argv[2]) if e["kind"] == "train"}
    f["same_steps"] = steps == sorted(ref)
    f["max_diff"] = max((abs(e["loss"] - ref[e["step"]]) for e in train if e["step"] in ref),
                        default=math.inf)
    f["losses_ok"] = f["steps_once"] and f["same_steps"] and f["max_diff"] <= 1e-6
    f["max_diff"] = f"{f['max_diff']:.1e}"
print(" ".join(f"{k}={v}" for k, v in f.items()))
EOF
}
step_past() { local last; eval "$(facts "$1")"; [ "$last" -ge "$2" ]; }
checkpoints() {  # the step_* directories of RUN_DIR/checkpoints, space-separated
  (cd "$1/checkpoints" 2>/dev/null && ls -d step_* 2>/dev/null | grep -v '\.' | paste -sd' ') || true
}
latest() { cat "$1/checkpoints/latest" 2>/dev/null || echo none; }
step_dir() { printf 'step_%08d' "$1"; }
# Once requeued and pending, with its start delayed by SLURM: starts it now (and gives it more
# time). Not before the old run's step daemons are gone and a second has passed: SLURM revokes
# the old run's credential at a one-second resolution, and a launch in that second fails.
settled() {  # settled JOB: requeued, pending, no step daemon of its last run left
  local id
  scontrol -o show job "$1" 2>/dev/null | grep -q 'JobState=PENDING.*Restarts=[1-9]' || return 1
  id=$(job_field "$1" JobId)
  ! pgrep -f "^slurmstepd: \[$id\." >/dev/null
}
restart_now() {  # restart_now JOB [TimeLimit]
  wait_until 90 "the requeue of $1" settled "$1" || return 1
  sleep 2
  scontrol update JobId="$1" StartTime=now ${2:+TimeLimit=$2}
}

# The runs: configs/tiny-mdm.yaml, shortened, one thread per task; every step's loss logged;
# checkpoints only at the end and on a signal; one small evaluation, at the end.
DATA=$ROOT/data/kjv
if [ ! -f "$DATA/meta.json" ]; then
  say "preparing $DATA"
  "$CROSSOVER" prepare --corpus kjv --out "$DATA" --vocab-size 8192 >"$T/log/prepare.log" 2>&1 \
    || { tail -n 20 "$T/log/prepare.log" >&2; echo "test-slurm: FAIL: prepare" >&2; exit 1; }
fi
RUN_SETS=(--set "data.path=$DATA" --set hardware.threads=1 --set logging.log_every=1
          --set checkpoint.every=0 --set eval.every=0 --set eval.val_sequences=8
          --set eval.mc_samples=2)
TRAIN=(--export=ALL,CROSSOVER="$CROSSOVER" --gpus-per-node=0 --cpus-per-task=1 --chdir="$T"
       "$ROOT/scripts/cluster/slurm/train.sbatch" "$ROOT/configs/tiny-mdm.yaml")
FSDP_SETS=("${RUN_SETS[@]}" --set distributed.sharding=fsdp)

# --- a) train.sbatch, 2 tasks, fsdp, signalled as before a time limit ----------------------
A_START=$(date +%s)
A_SETS=("${FSDP_SETS[@]}" --set data.total_tokens=120k)
say "a) the undisturbed run"
ref=$(sbatch --parsable --ntasks-per-node=2 --output="$T/log/a-ref.out" "${TRAIN[@]}" \
  --run-dir "$T/runs/a-ref" "${A_SETS[@]}")
wait_until 300 "job $ref to complete" state_is "$ref" COMPLETED || true
eval "$(facts "$T/runs/a-ref")"
check a "undisturbed run finished" 'state_is "$ref" COMPLETED' \
  "job $ref $(job_field "$ref" JobState), $last steps"

say "a) the same run, SIGTERM to its batch shell at step 10 or later"
job=$(sbatch --parsable --ntasks-per-node=2 --output="$T/log/a.out" "${TRAIN[@]}" \
  --run-dir "$T/runs/a" "${A_SETS[@]}")
wait_until 240 "step 10 of job $job" step_past "$T/runs/a" 10 || true
scancel --batch --signal=TERM "$job" || true
restart_now "$job" || true
eval "$(facts "$T/runs/a")"
ckpts=$(checkpoints "$T/runs/a")
ranks=$(grep -c "signal 15 received: checkpointing at step $stop and stopping" "$T/log/a.out" || true)
killed=$(grep -cE "forcing job termination|task [0-9]+: (Killed|Terminated)" "$T/log/a.out" || true)
check a "both ranks stopped at one step" '[ "$ranks" = 2 ] && [ "$stop" -gt 0 ]' \
  "$ranks ranks logged stopping at step $stop"
check a "one checkpoint, at that step" \
  '[ "$ckpts" = "$(step_dir "$stop")" ] && [ "$(latest "$T/runs/a")" = "$ckpts" ]' \
  "checkpoints: ${ckpts:-none}; latest: $(latest "$T/runs/a")"
check a "no task killed" '[ "$killed" = 0 ]' "$killed kill lines in the job's output"
check a "the job requeued itself" 'requeued "$job" && grep -q "requeueing $job " "$T/log/a.out"' \
  "Restarts=$(job_field "$job" Restarts)"
wait_until 300 "job $job to complete" state_is "$job" COMPLETED || true
eval "$(facts "$T/runs/a" "$T/runs/a-ref")"
check a "resumed from it and finished" 'state_is "$job" COMPLETED && [ "$resumed" = "$stop" ]' \
  "job $(job_field "$job" JobState), resumed from step $resumed, end: $end"
check a "every step's loss as undisturbed" '[ "$losses_ok" = True ]' \
  "$last steps, each once: $steps_once; as undisturbed: $same_steps; max |loss diff| $max_diff"
A_END=$(date +%s)

# --- b) sweep slurm, 3 points, one preempted -------------------------------------------------
say "b) a 3-point sweep as an array job; point 0 signalled at step 4 or later"
sed "s|path: data/kjv|path: $DATA|" configs/tiny-mdm.yaml >"$T/base.yaml"
cat >"$T/sweep.yaml" <<EOF
base: base.yaml
total_tokens: 24k
set: {training.global_batch: 8, hardware.threads: 1, logging.log_every: 1, checkpoint.every: 0,
      eval.every: 0, eval.val_sequences: 8, eval.mc_samples: 2}
axes:
  optimizer.lr: [1.0e-3, 2.0e-3, 3.0e-3]
EOF
{ "$CROSSOVER" sweep plan "$T/sweep.yaml" --out "$T/sweep" \
  && "$CROSSOVER" sweep slurm "$T/sweep" --gpus-per-node 0 --cpus-per-task 1 --time 20 \
       --signal-seconds 60; } >"$T/log/b-plan.log" 2>&1 \
  || { cat "$T/log/b-plan.log" >&2; echo "test-slurm: FAIL: sweep plan / sweep slurm" >&2; exit 1; }
mapfile -t points < <(python3 -c 'import json, sys
for p in json.load(open(sys.argv[1]))["points"]: print(p["name"])' "$T/sweep/manifest.json")
array=$(sbatch --parsable "$T/sweep/sweep.sbatch")
run0=$T/sweep/runs/${points[0]}
wait_until 240 "step 4 of point ${points[0]}" step_past "$run0" 4 || true
scancel --batch --signal=TERM "${array}_0" || true
restart_now "${array}_0" || true
eval "$(facts "$run0")"
ckpts=$(checkpoints "$run0")
check b "point 0: one checkpoint, at its stop step" \
  '[ "$stop" -gt 0 ] && [ "$ckpts" = "$(step_dir "$stop")" ] && [ "$(latest "$run0")" = "$ckpts" ]' \
  "${points[0]} stopped at step $stop; checkpoints: ${ckpts:-none}"
check b "point 0: its own array task requeued" \
  'requeued "${array}_0" && grep -q "requeueing point ${points[0]} (${array}_0)" "$T/sweep/slurm/${array}_0.out"' \
  "${array}_0 Restarts=$(job_field "${array}_0" Restarts)"
b_stop=$stop
done_all() { for i in 0 1 2; do state_is "${array}_$i" COMPLETED || return 1; done; }
wait_until 300 "every task of array $array to complete" done_all || true
for i in 0 1 2; do
  eval "$(facts "$T/sweep/runs/${points[$i]}")"
  st=$(job_field "${array}_$i" JobState)
  restarts=$(job_field "${array}_$i" Restarts)
  if [ "$i" = 0 ]; then
    check b "point 0: resumed there and finished" \
      '[ "$st" = COMPLETED ] && [ "$resumed" = "$b_stop" ] && [ "${end%@*}" = finished ] && [ "$steps_once" = True ]' \
      "$st, resumed from step $resumed, end: $end, $last steps each logged once: $steps_once"
  else
    signals=$(grep -c "SIGTERM" "$T/sweep/slurm/${array}_$i.out" || true)
    check b "point $i: not interrupted, finished" \
      '[ "$st" = COMPLETED ] && [ "$restarts" = 0 ] && [ "$signals" = 0 ] && [ "$interrupts" = 0 ] && [ "${end%@*}" = finished ] && [ "$steps_once" = True ]' \
      "${points[$i]}: $st, Restarts=$restarts, $signals signals, end: $end"
  fi
done
B_END=$(date +%s)

# --- c) the time limit ---------------------------------------------------------------------
# SLURM checks time limits every 30 s: the signal comes 15 to 45 s after the start. The run is
# sized from a)'s pace to train for about 60 s undisturbed, so that the signal finds it training.
pace=$(python3 - "$T/runs/a-ref/metrics.jsonl" <<'EOF' 2>/dev/null || echo 1
import json, sys
t = [e for e in map(json.loads, open(sys.argv[1])) if e["kind"] == "train"]
print(round((t[-1]["elapsed_s"] - t[0]["elapsed_s"]) / (t[-1]["step"] - t[0]["step"]), 3))
EOF
)
c_steps=$(python3 -c "import math; print(max(24, math.ceil(60 / max($pace, 0.05))))")
say "c) train.sbatch with --time=2 --signal=B:TERM@75, $c_steps steps (a) took $pace s a step)"
job=$(sbatch --parsable --ntasks-per-node=2 --time=2 --signal=B:TERM@75 \
  --output="$T/log/c.out" "${TRAIN[@]}" --run-dir "$T/runs/c" "${FSDP_SETS[@]}" \
  --set data.total_tokens=$((c_steps * 4096)))
wait_until 200 "job $job to start" state_is "$job" RUNNING || true
started=$(date +%s)
wait_until 200 "job $job to be requeued" requeued "$job" || true
restart_now "$job" 10 || true
eval "$(facts "$T/runs/c")"
ckpts=$(checkpoints "$T/runs/c")
sig=$(sed -n 's/^\([0-9T:-]*Z\) SIGTERM: the trainers checkpoint.*/\1/p' "$T/log/c.out" 2>/dev/null \
  | head -n 1 || true)
after=$([ -n "$sig" ] && echo $(( $(date -d "$sig" +%s) - started )) || echo "?")
check c "SLURM signalled the batch shell" '[ -n "$sig" ]' \
  "${after} s after the start (--time=2, B:TERM@75; nothing sent by hand)"
check c "one checkpoint at the stop step, requeued" \
  '[ "$stop" -gt 0 ] && [ "$ckpts" = "$(step_dir "$stop")" ] && requeued "$job" && grep -q "requeueing $job " "$T/log/c.out"' \
  "stopped at step $stop; checkpoints: ${ckpts:-none}; Restarts=$(job_field "$job" Restarts)"
c_stop=$stop
wait_until 300 "job $job to complete" state_is "$job" COMPLETED || true
eval "$(facts "$T/runs/c")"
check c "resumed there and finished" \
  'state_is "$job" COMPLETED && [ "$resumed" = "$c_stop" ] && [ "$steps_once" = True ]' \
  "job $(job_field "$job" JobState), resumed from step $resumed, end: $end, $last steps each logged once: $steps_once"
C_END=$(date +%s)

# --- d) a second signal while the trainers stop ---------------------------------------------
say "d) a) checkpointing every 5 steps, two SIGTERMs to its batch shell at step 12 or later"
job=$(sbatch --parsable --ntasks-per-node=2 --output="$T/log/d.out" "${TRAIN[@]}" \
  --run-dir "$T/runs/d" "${A_SETS[@]}" --set checkpoint.every=5)
wait_until 240 "step 12 of job $job" step_past "$T/runs/d" 12 || true
scancel --batch --signal=TERM "$job" || true
scancel --batch --signal=TERM "$job" || true
restart_now "$job" || true
eval "$(facts "$T/runs/d")"
lat=$(latest "$T/runs/d")
case "$lat" in step_*) lat_step=$((10#${lat#step_})) ;; *) lat_step=-1 ;; esac
ckpts=$(checkpoints "$T/runs/d")
check d "stopped at once, nothing written" \
  '[ "$interrupts" = 0 ] && [ "$lat_step" -gt 0 ] && ! tr " " "\n" <<<"$ckpts" | grep -qvE "^step_[0-9]*[05]$" && grep -q "requeueing $job " "$T/log/d.out"' \
  "checkpoints: ${ckpts:-none} (periodic only), $interrupts interrupted ends; Restarts=$(job_field "$job" Restarts)"
wait_until 300 "job $job to complete" state_is "$job" COMPLETED || true
eval "$(facts "$T/runs/d" "$T/runs/a-ref")"
check d "resumed from the last one, losses as a)" \
  'state_is "$job" COMPLETED && [ "$resumed" = "$lat_step" ] && [ "$losses_ok" = True ]' \
  "resumed from step $resumed; $last steps as undisturbed: $same_steps; max |loss diff| $max_diff"
D_END=$(date +%s)

# --- the table -----------------------------------------------------------------------------
echo
printf '%-3s %-42s %-6s %s\n' "" check result detail
for r in "${rows[@]}"; do
  IFS='|' read -r s what res detail <<<"$r"
  printf '%-3s %-42s %-6s %s\n' "$s)" "$what" "$res" "$detail"
done
echo "time: a) $((A_END - A_START)) s, b) $((B_END - A_END)) s, c) $((C_END - B_END)) s," \
  "d) $((D_END - C_END)) s; SLURM $SLURM_VERSION, $cpus CPUs"
echo "test-slurm: ${#rows[@]} checks, $failed failed, $(( $(date +%s) - T0 )) s"
if [ "$failed" != 0 ]; then
  for f in "$T"/log/*.out "$T"/sweep/slurm/*.out "$T"/log/slurmctld.log; do
    [ -f "$f" ] && { echo "--- $f (last lines)"; grep -v "\] step [0-9]*/" "$f" | tail -n 25; }
  done
  exit 1
fi
