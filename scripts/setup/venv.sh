#!/usr/bin/env bash
# Creates (or updates) the project-local Python virtual environment .venv from Debian's python3
# and installs the pinned requirements files given as arguments (default:
# scripts/setup/requirements-torch.txt). Nothing is installed into the system; pip's cache
# (~/.cache/pip) keeps reinstalls fast. Idempotent: a requirements file already installed
# (its hash is recorded in .venv) is skipped. VENV overrides the folder.
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=${VENV:-.venv}
[ $# -gt 0 ] || set -- scripts/setup/requirements-torch.txt

if [ ! -x "$VENV/bin/python" ]; then
  if ! /usr/bin/python3 -c 'import ensurepip, venv' 2>/dev/null; then
    scripts/setup/debian-packages.sh  # brings python3-venv
  fi
  /usr/bin/python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
fi
for req in "$@"; do
  [ -f "$req" ] || { echo "venv.sh: no requirements file $req" >&2; exit 1; }
  stamp="$VENV/.installed-$(basename "$req").sha256"
  sum=$(sha256sum "$req" | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sum" ]; then continue; fi
  start=$(date +%s)
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$req"
  echo "$sum" >"$stamp"
  echo "venv.sh: installed $req into $VENV in $(( $(date +%s) - start )) s"
done
