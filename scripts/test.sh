#!/usr/bin/env bash
# Runs every test suite, even after one fails, and ends with one line that
# adds them up: the bootstrap's, the contracts' (forge), the workspace's
# (cargo) and Slither's. Exits non-zero if any suite failed. Called by `make test`.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0

suite() {
  printf '\n==> %s\n' "$*"
  "$@" 2>&1 | tee -a "$log"
  [ "${PIPESTATUS[0]}" = 0 ] || status=1
}

suite scripts/test-bootstrap.sh
forge_test() { (cd contracts && forge test --no-match-path 'test/gas/*'); }
suite forge_test
# Gas, each call as its own transaction, checked against the committed snapshot
# (contracts/snapshots/MedVault.json): a change in any figure fails.
forge_gas() { (cd contracts && FORGE_SNAPSHOT_CHECK=true forge test --isolate --match-path 'test/gas/*'); }
suite forge_gas
# The ABIs the Rust bindings are generated from (core/abi) match contracts/src.
abi_suite() { if scripts/abi.sh --check; then echo "1 passed, 0 failed"; else echo "0 passed, 1 failed"; return 1; fi; }
suite abi_suite
suite cargo test --workspace --locked
# Slither: no High or Medium finding in contracts/src (Low and Informational are printed, not failed).
slither_suite() { if scripts/slither.sh; then echo "1 passed, 0 failed"; else echo "0 passed, 1 failed"; return 1; fi; }
suite slither_suite

# bootstrap: "N passed, M failed"; forge: "Ran K test suites ...: N tests
# passed, M failed, S skipped"; cargo: "test result: ok. N passed; M failed; ...".
read -r passed failed < <(awk '
  /^[0-9]+ passed, [0-9]+ failed$/ { p += $1; f += $3 }
  /^Ran [0-9]+ test suites? in / { for (i = 1; i <= NF; i++) { if ($(i) == "tests" && $(i+1) == "passed,") p += $(i-1); if ($(i) == "failed,") f += $(i-1) } }
  /^test result: / { for (i = 1; i <= NF; i++) { if ($(i) == "passed;") p += $(i-1); if ($(i) == "failed;") f += $(i-1) } }
  END { print p + 0, f + 0 }
' "$log")
if [ "$status" != 0 ] && [ "$failed" = 0 ]; then
  # A suite failed before it could count (a build error, a missing tool).
  failed=1
fi
printf '\nsummary: %d passed, %d failed\n' "$passed" "$failed"
exit "$status"
