#!/usr/bin/env bash
# Tests scripts/bootstrap.sh against the installed .tools/: a second run
# installs nothing and changes nothing, and each missing prerequisite is named
# in a sentence. Run by `make test` after the bootstrap itself.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
passed=0 failed=0
ok() { printf 'ok - %s\n' "$1"; passed=$((passed + 1)); }
not_ok() { printf 'not ok - %s\n%s\n' "$1" "${2:-}"; failed=$((failed + 1)); }

snapshot() { find "$root/.tools/bin" "$root/.tools/npm" "$root/.tools/kubo.installed" "$root/.tools/venv" "$root/.tools/web" "$root/web/node_modules" -maxdepth 1 -printf '%p %l %s %T@\n' | sort; }

# A second run: nothing printed in quiet mode, nothing touched.
before=$(snapshot)
out=$(MEDVAULT_BOOTSTRAP_QUIET=1 "$root/scripts/bootstrap.sh" 2>&1)
status=$?
after=$(snapshot)
if [ "$status" = 0 ] && [ -z "$out" ] && [ "$before" = "$after" ]; then
  ok "a second bootstrap installs nothing"
else
  not_ok "a second bootstrap installs nothing" "status $status, output: $out"
fi

# Postgres is there for the indexer's tests: a server and initdb that run.
pg=$(find /usr/lib/postgresql -maxdepth 3 -path '*/bin/postgres' 2>/dev/null | sort -V | tail -n1)
if [ -n "$pg" ] && "$pg" --version >/dev/null && "$(dirname "$pg")/initdb" --version >/dev/null; then
  ok "postgres is installed ($("$pg" --version))"
else
  not_ok "postgres is installed" "no working postgres under /usr/lib/postgresql"
fi

# Chromium is there for the web page's browser tests, and runs headless.
if version=$(chromium --headless --no-sandbox --version 2>/dev/null) && [ -n "$version" ]; then
  ok "chromium is installed ($version)"
else
  not_ok "chromium is installed" "no working chromium on PATH"
fi

# Each prerequisite missing in turn, in a PATH holding only the others.
sandbox=$(mktemp -d)
trap 'rm -rf "$sandbox"' EXIT
for missing in node npm go cargo python3; do
  bin="$sandbox/$missing"
  mkdir -p "$bin"
  for cmd in dirname node npm go cargo python3; do
    [ "$cmd" = "$missing" ] || ln -s "$(command -v "$cmd")" "$bin/$cmd"
  done
  out=$(env -i HOME="$HOME" PATH="$bin" "$(command -v bash)" "$root/scripts/bootstrap.sh" 2>&1)
  status=$?
  if [ "$status" != 0 ] && grep -q "^bootstrap: $missing is not installed; it is needed" <<<"$out"; then
    ok "a missing $missing is named"
  else
    not_ok "a missing $missing is named" "status $status, output: $out"
  fi
done

printf '%d passed, %d failed\n' "$passed" "$failed"
[ "$failed" = 0 ]
