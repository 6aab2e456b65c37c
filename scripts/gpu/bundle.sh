#!/usr/bin/env bash
# Assembles the GPU bundle: everything a GPU machine needs to check crossover's CUDA and NCCL
# paths with no build there, no network and no Debian packages, only python3 with the same
# PyTorch (2.11.0, CUDA 13.0) whose LibTorch crossover was built against.
#
#   scripts/gpu/bundle.sh [BUILD_DIR] [OUT_DIR]      (defaults: build-torch2, gpu-bundle)
#
# BUILD_DIR is a -DCROSSOVER_CUDA=ON build (scripts/build.sh --torch pip); the targets the
# bundle needs are built there first. OUT_DIR (git-ignored, at most 48 MiB) receives:
#   bin/       crossover, crossover_kernel_tests (stripped, no RPATH) and the SentencePiece
#              plugin beside them
#   lib/       every shared library they need that is neither LibTorch's nor CUDA's nor glibc's
#              (yaml-cpp, spdlog, fmt, sentencepiece, OpenSSL, ...); lib/fallback/ holds
#              libstdc++ and libgcc_s, used only where the machine's are older
#   configs/   1b-mdm.yaml, 8b-mdm.yaml and tiny-check.yaml;  data/  the KJV, vocabulary 1024
#   reference.json  step 1's loss and gradient norm of the tiny AR and MDM runs on the CPU in
#              fp32, made by this very binary; run.sh compares the GPU's with them
#   run.sh, check.py, MANIFEST.txt (what was bundled, what is left to the machine, versions)
# Before it finishes it checks: the size; ldd -r with only LibTorch, CUDA and glibc libraries
# left to the machine; the highest GLIBC and GLIBCXX versions needed; and that the NCCL of the
# headers crossover compiled against is torch.cuda.nccl.version(). PYTHON (default .venv's)
# is the interpreter whose torch the build used.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
BUILD_DIR=${1:-build-torch2}
OUT=${2:-gpu-bundle}
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
MAX_MIB=48
start=$(date +%s)
die() { echo "gpu-bundle: $*" >&2; exit 1; }

[ -f "$BUILD_DIR/CMakeCache.txt" ] || die "$BUILD_DIR is not a build folder (scripts/build.sh --torch pip makes build-torch2)"
grep -q '^CROSSOVER_CUDA:BOOL=ON' "$BUILD_DIR/CMakeCache.txt" ||
  die "$BUILD_DIR is not a CUDA build: configure it with -DCROSSOVER_CUDA=ON (scripts/build.sh --torch pip)"
cmake --build "$BUILD_DIR" --target crossover crossover_kernel_tests crossover_spm

TORCH_DIR=$("$PYTHON" -c 'import os, torch; print(os.path.dirname(torch.__file__))') ||
  die "$PYTHON cannot import torch"
SITE=$(cd "$TORCH_DIR/.." && pwd)
LIB_PATH=$TORCH_DIR/lib
for d in "$SITE"/nvidia/*/lib; do LIB_PATH=$LIB_PATH:$d; done
# Folders of libraries unpacked by hand (scripts/gpu/check.sh's prefix) are searched before the
# system's, and what is found there is bundled like the rest.
LIB_PATH=$LIB_PATH${BUNDLE_LIB_PATH:+:$BUNDLE_LIB_PATH}

rm -rf "$OUT"
mkdir -p "$OUT/bin" "$OUT/lib/fallback" "$OUT/configs"
OUT=$(cd "$OUT" && pwd)
for f in crossover crossover_kernel_tests libcrossover_spm.so; do
  cp "$BUILD_DIR/$f" "$OUT/bin/$f"
  strip --strip-unneeded "$OUT/bin/$f"
  # The build's RPATH names this machine's folders (.venv, /usr/local/cuda): run.sh sets the path.
  if command -v patchelf >/dev/null; then
    patchelf --remove-rpath "$OUT/bin/$f"
  else
    echo "gpu-bundle: no patchelf (scripts/setup/debian-packages.sh installs it): $f keeps the build's RPATH"
  fi
done

# The libraries the machine provides: glibc's, LibTorch's and CUDA's (the wheel's nvidia-*).
GLIBC_RE='^(libc|libm|libdl|libpthread|librt|libresolv|libutil|ld-linux-x86-64)\.so'
FALLBACK_RE='^(libstdc\+\+|libgcc_s)\.so'
# deps FILE...: "NAME PATH" for every library the loader resolves, transitively.
deps() {
  for f in "$@"; do
    LD_LIBRARY_PATH=$OUT/lib:$LIB_PATH ldd "$f" | awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}'
  done | sort -u
}
image=()
while read -r name path; do
  real=$(readlink -f "$path")
  if [[ $name =~ $GLIBC_RE ]]; then
    continue
  elif [[ $real == "$TORCH_DIR"/* || $real == "$SITE"/nvidia/* ]]; then
    image+=("$name")
  elif [[ $name =~ $FALLBACK_RE ]]; then
    cp -L "$path" "$OUT/lib/fallback/$name"
  else
    cp -L "$path" "$OUT/lib/$name"
  fi
done < <(deps "$OUT"/bin/*)
strip --strip-unneeded "$OUT"/lib/*.so* "$OUT"/lib/fallback/*.so* 2>/dev/null || true

# Check: with the bundle's lib/ and the wheel's folders only, everything resolves, and nothing
# but glibc (and libstdc++/libgcc_s, which have fallbacks) comes from this machine's system.
problems=$(for f in "$OUT"/bin/* "$OUT"/lib/*.so*; do
  LD_LIBRARY_PATH=$OUT/lib:$LIB_PATH ldd -r "$f" 2>&1 | { grep -E 'not found|undefined symbol' || true; } | sed "s|^|$f: |"
done)
[ -z "$problems" ] || die "unresolved in the bundle:"$'\n'"$problems"
while read -r name path; do
  real=$(readlink -f "$path")
  if [[ ! $name =~ $GLIBC_RE && ! $name =~ $FALLBACK_RE && $real != "$OUT"/* && $real != "$TORCH_DIR"/* && $real != "$SITE"/nvidia/* ]]; then
    die "$name resolves to $path, outside the bundle and the PyTorch wheel"
  fi
done < <(deps "$OUT"/bin/* "$OUT"/lib/*.so*)
mapfile -t image < <(printf '%s\n' "${image[@]}" | sort -u)
glibc=$(objdump -T "$OUT"/bin/* "$OUT"/lib/*.so* | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -n 1)
glibcxx=$(objdump -T "$OUT"/bin/* "$OUT"/lib/*.so* | grep -o 'GLIBCXX_[0-9.]*' | sort -uV | tail -n 1)

# The NCCL crossover compiled against must be the one LibTorch loads.
version=$(LD_LIBRARY_PATH=$OUT/lib:$LIB_PATH "$OUT/bin/crossover" --version)
ours=$(grep -o 'NCCL headers [0-9.]*' <<<"$version" | cut -d' ' -f3)
theirs=$("$PYTHON" -c 'import torch; print(".".join(map(str, torch.cuda.nccl.version())))')
[ -n "$ours" ] && [ "$ours" = "$theirs" ] ||
  die "NCCL headers '${ours:-none}' but torch.cuda.nccl.version() $theirs ($version)"

cp scripts/gpu/bundle/run.sh scripts/gpu/bundle/check.py "$OUT/"
cp configs/1b-mdm.yaml configs/8b-mdm.yaml "$OUT/configs/"
cp scripts/gpu/bundle/tiny.yaml "$OUT/configs/tiny-check.yaml"
# The KJV in a vocabulary of 1024 (about 3 MB of 16-bit tokens): the GPU machine needs no corpus.
# Where Debian's bible-kjv is missing (a GPU machine building for itself), this repository's text.
corpus=(--corpus kjv)
if ! command -v bible >/dev/null; then
  find src include docs -type f \( -name '*.cpp' -o -name '*.h' -o -name '*.md' \) -exec cat {} + >"$OUT/corpus.txt"
  corpus=(--input "$OUT/corpus.txt" --doc-split blank-line)
fi
LD_LIBRARY_PATH=$OUT/lib:$LIB_PATH "$OUT/bin/crossover" prepare "${corpus[@]}" --out "$OUT/data" \
  --vocab-size 1024 --force >"$OUT/prepare.log" 2>&1 || { cat "$OUT/prepare.log" >&2; die "prepare failed"; }
rm -f "$OUT/prepare.log" "$OUT/corpus.txt"
# The CPU reference of run.sh's step 3, by this binary.
PYTHON=$PYTHON "$OUT/run.sh" --device cpu --out "$OUT/reference-runs" --write-reference "$OUT/reference.json" \
  >"$OUT/reference.log" 2>&1 || { cat "$OUT/reference.log" >&2; die "the CPU reference runs failed"; }
rm -rf "$OUT/reference-runs"

bytes=$(du -sb "$OUT" | cut -f1)
{
  echo "crossover GPU bundle, made $(date -u +%Y-%m-%dT%H:%M:%SZ) from $BUILD_DIR"
  echo "$version"
  echo "torch $("$PYTHON" -c 'import torch; print(torch.__version__, "CUDA", torch.version.cuda)')," \
       "NCCL $theirs"
  echo "size: $((bytes / 1048576)) MiB ($bytes bytes), limit $MAX_MIB MiB"
  echo "highest versions needed: $glibc, $glibcxx (lib/fallback has libstdc++ for older machines)"
  echo "bundled (lib/): $(cd "$OUT/lib" && ls -- *.so* | tr '\n' ' ')"
  echo "bundled fallbacks (lib/fallback/): $(cd "$OUT/lib/fallback" && ls | tr '\n' ' ')"
  echo "left to the machine (LibTorch, CUDA): ${image[*]}"
  echo "left to the machine (glibc): libc, libm, libdl, libpthread, librt, ld-linux-x86-64"
  echo "run: ./run.sh --device cuda   (PYTHON=<python3 with torch>; ./run.sh --help)"
} >"$OUT/MANIFEST.txt"
cat "$OUT/MANIFEST.txt"
[ "$bytes" -le $((MAX_MIB * 1048576)) ] || die "the bundle is $((bytes / 1048576)) MiB, over $MAX_MIB MiB"
echo "gpu-bundle: $OUT in $(( $(date +%s) - start )) s"
