#!/usr/bin/env bash
# crossover's CPU training step against nanoGPT's, side by side on this machine: the same shape,
# the same threads, the same LibTorch (Debian's 1.13 with OpenBLAS: python3-torch for nanoGPT,
# libtorch-dev for crossover), runs interleaved (crossover AR, nanoGPT, crossover MDM, repeated)
# so that a shared machine's drift reaches all three alike. Prints each round, the medians and
# the ratios, which are the figures that count (absolute tok/s drift with the machine's load).
#
#   scripts/bench/compare-nanogpt.sh NANOGPT_DIR [ROUNDS]
#
# NANOGPT_DIR is a checkout of karpathy/nanoGPT (only its model.py is imported; nothing of it is
# part of crossover). The environment sets the shape and threads:
#   LAYERS=4 D_MODEL=256 HEADS=4 SEQ=256 BATCH=8 VOCAB=4096 THREADS=$(nproc) STEPS=5 WARMUP=2
# and BUILD_DIR (default build; scripts/build.sh makes it); CROSSOVER_ARGS adds options to
# crossover's bench (e.g. "--set hardware.cpu_workers=1" for intra-op threads only). OPENBLAS_CORETYPE=Haswell with
# ATEN_CPU_CAPABILITY=avx2 makes an AVX-512 machine run both on the kernels of an AVX2 one.
set -euo pipefail
cd "$(dirname "$0")/../.."
nanogpt=${1:?usage: scripts/bench/compare-nanogpt.sh NANOGPT_DIR [ROUNDS]}
rounds=${2:-5}
[ -f "$nanogpt/model.py" ] || { echo "compare-nanogpt: $nanogpt/model.py not found (a karpathy/nanoGPT checkout)" >&2; exit 1; }
if ! /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-torch >/dev/null
  else
    echo "compare-nanogpt: Debian's python3-torch is needed (sudo apt-get install python3-torch)" >&2
    exit 1
  fi
fi
build=${BUILD_DIR:-build}
[ -x "$build/crossover" ] || scripts/build.sh
L=${LAYERS:-4} D=${D_MODEL:-256} H=${HEADS:-4} T=${SEQ:-256} B=${BATCH:-8} V=${VOCAB:-4096}
threads=${THREADS:-$(nproc)} steps=${STEPS:-5} warmup=${WARMUP:-2}
export OMP_NUM_THREADS=$threads

crossover_step() {  # crossover_step ar|mdm -> tok/s
  "$build/crossover" bench train configs/tiny-ar.yaml --objective "$1" --vocab "$V" \
    --warmup "$warmup" --steps "$steps" --threads "$threads" \
    --set model.layers="$L" --set model.d_model="$D" --set model.heads="$H" \
    --set data.seq_len="$T" --set training.global_batch="$B" --set training.micro_batch=0 \
    --set hardware.peak_tflops=1 ${CROSSOVER_ARGS:-} |
    /usr/bin/python3 -c 'import json,sys; print([json.loads(l) for l in sys.stdin if l.startswith("{")][0]["tok_per_s"])'
}
nanogpt_step() {
  /usr/bin/python3 scripts/bench/nanogpt-step.py "$nanogpt" "$L" "$D" "$H" "$V" "$T" "$B" "$warmup" "$steps" "$threads" |
    /usr/bin/python3 -c 'import json,sys; print([json.loads(l) for l in sys.stdin if l.startswith("{")][-1]["tok_per_s"])'
}

echo "cpu: $(lscpu | sed -n 's/^Model name: *//p'), $threads thread(s), OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-native} ATEN_CPU_CAPABILITY=${ATEN_CPU_CAPABILITY:-native}"
echo "shape: $L layers, d_model $D, $H heads, seq $T, batch $B, vocab $V; $steps steps after $warmup"
ar=() ng=() mdm=()
for r in $(seq "$rounds"); do
  ar+=("$(crossover_step ar)")
  ng+=("$(nanogpt_step)")
  mdm+=("$(crossover_step mdm)")
  printf 'round %d: crossover ar %8.0f tok/s | nanoGPT %8.0f tok/s | crossover mdm %8.0f tok/s\n' \
    "$r" "${ar[-1]}" "${ng[-1]}" "${mdm[-1]}"
done
/usr/bin/python3 - "${ar[*]}" "${ng[*]}" "${mdm[*]}" <<'PY'
import statistics, sys
ar, ng, mdm = ([float(x) for x in a.split()] for a in sys.argv[1:4])
m_ar, m_ng, m_mdm = statistics.median(ar), statistics.median(ng), statistics.median(mdm)
print(f"median: crossover ar {m_ar:.0f} tok/s, nanoGPT {m_ng:.0f} tok/s, crossover mdm {m_mdm:.0f} tok/s")
print(f"ratio: ar / nanoGPT = {m_ar / m_ng:.2f}, mdm / nanoGPT = {m_mdm / m_ng:.2f}, mdm / ar = {m_mdm / m_ar:.2f}")
PY
