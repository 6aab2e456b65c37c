#!/usr/bin/env bash
# Starts N local processes with the variables torchrun sets (RANK, WORLD_SIZE, LOCAL_RANK,
# MASTER_ADDR, MASTER_PORT), waits for all of them and exits with the first failure's status.
# Ctrl-C reaches every process directly (one process group); SIGTERM sent to this script is
# forwarded. A rank that dies makes the others fail on their next collective by themselves.
#   scripts/cluster/launch.sh -n 2 -- build/crossover train configs/tiny-ar.yaml --set distributed.sharding=fsdp
# Options: -n N (processes, default 1), -p PORT (rendezvous port, default a free one).
set -euo pipefail
n=1
port=""
while [ $# -gt 0 ]; do
  case "$1" in
    -n) n="$2"; shift 2 ;;
    -p) port="$2"; shift 2 ;;
    --) shift; break ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) echo "launch.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
[ $# -gt 0 ] || { echo "launch.sh: no command after --" >&2; exit 2; }
if [ -z "$port" ]; then
  # A free port below Linux's ephemeral range (32768-60999), so that the kernel does not hand it
  # to another socket before rank 0 binds it.
  port=$(/usr/bin/python3 -c '
import random, socket
for _ in range(1000):
    p = random.randint(20000, 32767)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        continue
    finally:
        s.close()
    print(p)
    break
else:
    raise SystemExit("launch.sh: no free port in 20000-32767")')
fi
pids=()
forward_term() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; }
trap forward_term TERM
trap ':' INT  # the children received it too
for ((r = 0; r < n; r++)); do
  RANK=$r WORLD_SIZE=$n LOCAL_RANK=$r MASTER_ADDR=127.0.0.1 MASTER_PORT=$port "$@" &
  pids+=($!)
done
status=0
for p in "${pids[@]}"; do
  while true; do
    rc=0
    wait "$p" || rc=$?
    # A trapped signal interrupts wait (status > 128) while the child may still be running.
    if [ "$rc" -gt 128 ] && kill -0 "$p" 2>/dev/null; then continue; fi
    if [ "$rc" -ne 0 ] && [ "$status" -eq 0 ]; then status=$rc; fi
    break
  done
done
exit "$status"
