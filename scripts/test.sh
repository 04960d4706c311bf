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
# The web page: its unit tests (the record format, envelopes and typed data
# against core's vectors), the type check and build, then the browser tests
# in headless Chromium against a `medvault dev` stack. Each prints its counts
# from the runner's JSON report as "N passed, M failed".
web_counts() { node -e "const report = JSON.parse(require('fs').readFileSync(process.argv[1], 'utf8')); $1" "$2" || echo "0 passed, 1 failed"; }
web_unit() {
  local report status
  report=$(mktemp)
  (cd web && npx vitest run --reporter=default --reporter=json --outputFile.json="$report")
  status=$?
  web_counts 'console.log(`${report.numPassedTests} passed, ${report.numFailedTests} failed`)' "$report"
  rm -f "$report"
  return "$status"
}
suite web_unit
web_build() { if (cd web && npm run --silent build); then echo "1 passed, 0 failed"; else echo "0 passed, 1 failed"; return 1; fi; }
suite web_build
web_browser() {
  local report status
  report=$(mktemp)
  # The page is served by `medvault dev`, the binary the workspace's tests built.
  cargo build --quiet --locked -p medvault-cli &&
    (cd web && MEDVAULT_BIN="$root/target/debug/medvault" PLAYWRIGHT_JSON_OUTPUT_NAME="$report" npx playwright test --reporter=list,json)
  status=$?
  web_counts 'const s = report.stats; console.log(`${s.expected + s.flaky} passed, ${s.unexpected} failed`)' "$report"
  rm -f "$report"
  return "$status"
}
suite web_browser
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
