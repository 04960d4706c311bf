#!/usr/bin/env bash
# Copies the ABIs of the deployed contracts from forge's artifacts into
# core/abi/, where medvault-core's `sol!` bindings read them. With --check,
# changes nothing and fails if a committed ABI differs from the contracts
# (`make test` runs the check; `make abi` writes them).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="$root/.tools/bin:$PATH"
check=0
[ "${1:-}" = --check ] && check=1

(cd "$root/contracts" && forge build --quiet)

stale=0
for name in MedVault MedVaultForwarder; do
  artifact="$root/contracts/out/$name.sol/$name.json"
  committed="$root/core/abi/$name.json"
  fresh=$(node -e 'const a = require(process.argv[1]).abi; process.stdout.write(JSON.stringify(a, null, 2) + "\n")' "$artifact")
  if [ "$check" = 1 ]; then
    if [ "$fresh" != "$(cat "$committed" 2>/dev/null)" ]; then
      echo "abi: core/abi/$name.json differs from contracts/src/$name.sol; run \`make abi\` and commit it" >&2
      stale=1
    fi
  elif [ "$fresh" != "$(cat "$committed" 2>/dev/null)" ]; then
    printf '%s\n' "$fresh" >"$committed"
    echo "abi: wrote core/abi/$name.json"
  fi
done
if [ "$check" = 1 ] && [ "$stale" = 0 ]; then
  echo "abi: core/abi matches contracts/src"
fi
exit "$stale"
