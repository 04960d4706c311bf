#!/usr/bin/env bash
# Runs Slither on the contracts in contracts/src, as set in
# contracts/slither.config.json: forge compiles src/ (not test/ or script/)
# with the pinned solc (.tools/bin/solc, through foundry.toml), and only
# findings that point into contracts/src are kept (include_paths), so
# OpenZeppelin's and forge-std's own are left out. Exits non-zero on any
# Medium or High finding, or when the compilation or the analysis fails;
# Low and Informational findings are printed but pass. Extra arguments go to
# slither (e.g. --json -, or --exclude DETECTOR).
#
# Slither comes from .tools/venv (scripts/bootstrap.sh). It never downloads
# a compiler here: crytic-compile only runs forge, and solc-select, which
# crytic-compile imports, is given nothing to do.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv="$root/.tools/venv"

if [ ! -x "$venv/bin/slither" ]; then
  echo "slither: .tools/venv has no Slither; run scripts/bootstrap.sh (make bootstrap) first" >&2
  exit 1
fi

export PATH="$root/.tools/bin:$venv/bin:$PATH"
# solc-select keeps its (empty) artifacts folder in the venv rather than ~/.
export VIRTUAL_ENV="$venv"

# crytic-compile runs `forge clean` and then `forge build --force`: point
# both at a scratch out/ and cache/ so the developer's build is left alone.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export FOUNDRY_OUT="$work/out" FOUNDRY_CACHE_PATH="$work/cache"

cd "$root/contracts"
status=0
slither . --config-file slither.config.json --fail-medium --disable-color "$@" || status=$?
if [ "$status" != 0 ]; then
  echo "slither: failed (a Medium or High finding above, or the compilation or analysis failed)" >&2
fi
exit "$status"
