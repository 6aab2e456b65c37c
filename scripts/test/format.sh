#!/usr/bin/env bash
# Checks (or applies) the C++ style of .clang-format on every tracked C++ and CUDA file, with
# Debian's clang-format-14 (the version the style file is tuned for: another version formats some
# constructs differently).
#
#   scripts/test/format.sh            list the files that differ from the style and show the diff
#                                     of each; exit 1 if any does (CI runs this)
#   scripts/test/format.sh --apply    rewrite those files in place
set -euo pipefail
cd "$(dirname "$0")/../.."
formatter=${CLANG_FORMAT:-clang-format-14}
command -v "$formatter" >/dev/null ||
  { echo "format.sh: $formatter not found (scripts/setup/install.sh installs it)" >&2; exit 1; }
mapfile -t files < <(git ls-files '*.cpp' '*.h' '*.cu' '*.cuh')
if [ "${1:-}" = "--apply" ]; then
  printf '%s\0' "${files[@]}" | xargs -0 -P"$(nproc)" -n 16 "$formatter" -i --style=file
  echo "format: ${#files[@]} files formatted"
  exit 0
fi
bad=0
for f in "${files[@]}"; do
  if ! "$formatter" --style=file "$f" | diff -u --label "$f" --label "$f (formatted)" "$f" -; then
    bad=$((bad + 1))
  fi
done
if [ "$bad" -gt 0 ]; then
  echo "format: $bad of ${#files[@]} files differ from .clang-format (scripts/test/format.sh --apply)" >&2
  exit 1
fi
echo "format: ${#files[@]} files match .clang-format"
