#!/usr/bin/env bash
# Runs every test suite, even after one fails, and ends with one line that
# adds them up: the bootstrap's, the contracts' (forge), the workspace's
# (cargo). Exits non-zero if any suite failed. Called by `make test`.
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
forge_test() { (cd contracts && forge test); }
suite forge_test
suite cargo test --workspace --locked

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
