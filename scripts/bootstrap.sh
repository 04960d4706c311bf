#!/usr/bin/env bash
# Installs MedVault's external tools into .tools/, from package registries only.
#
#   .tools/npm/   Foundry (anvil, forge, cast), solc-js, forge-std,
#                 OpenZeppelin and eciesjs (which core's envelope tests run
#                 against), from tools/npm/package-lock.json
#   .tools/bin/   anvil, forge, cast, solc (a native solc of the pinned
#                 version if one is on PATH, else the solc-js wrapper) and
#                 ipfs (Kubo, built from the Go module pinned in tools/kubo)
#   .tools/venv/  Slither and crytic-compile, from the hashes pinned in
#                 tools/slither/requirements.txt (scripts/slither.sh runs it)
#   .tools/web/   the web page's npm packages (Vite, TypeScript, viem,
#                 eciesjs, vitest, Playwright), from web/package-lock.json;
#                 web/node_modules links to it
#   Chromium      Debian's chromium package, which the web page's browser
#                 tests drive headless (Playwright never downloads a browser)
#   Postgres      Debian's postgresql-15 package (its binaries, in
#                 /usr/lib/postgresql/<major>/bin), which the indexer's tests
#                 start on loopback ports of their own (tests/src/postgres.rs);
#                 installed with apt-get when missing, found when present
#
# Idempotent: each part is skipped when what is installed matches its pin.
# Set MEDVAULT_BOOTSTRAP_QUIET=1 to print only what changes.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tools="$root/.tools"
bin="$tools/bin"

say() { printf 'bootstrap: %s\n' "$*"; }
skip() { [ "${MEDVAULT_BOOTSTRAP_QUIET:-0}" = 1 ] || say "$*"; }
die() { printf 'bootstrap: %s\n' "$*" >&2; exit 1; }

# Stops with a sentence for each prerequisite that is missing.
check_prerequisites() {
  local missing=0 cmd why
  while read -r cmd why; do
    if ! command -v "$cmd" >/dev/null 2>&1; then
      printf 'bootstrap: %s is not installed; it is needed %s. Install it and run this again.\n' "$cmd" "$why" >&2
      missing=1
    fi
  done <<'LIST'
node to run solc-js and the eciesjs tests (Node.js 20 or later)
npm to install Foundry, solc-js and the Solidity libraries
go to build Kubo (IPFS) from its Go module
cargo to build MedVault's Rust workspace
python3 to run Slither (Python 3.11 or later, with its venv module)
LIST
  [ "$missing" = 0 ] || exit 1
}

# Prints the sha256 of the given files together, to stamp what was installed.
fingerprint() { cat "$@" | sha256sum | cut -d' ' -f1; }

# Names the installed npm tools with their versions.
npm_versions() {
  (cd "$tools/npm/node_modules" && node -e '
    const v = (p) => require(`./${p}/package.json`).version;
    console.log(`Foundry ${v("@foundry-rs/forge-linux-amd64")}, solc-js ${v("solc")}, ` +
      `forge-std ${v("@layerzerolabs/toolbox-foundry/lib/forge-std")}, OpenZeppelin ${v("@openzeppelin/contracts")}, ` +
      `eciesjs ${v("eciesjs")}`);')
}

install_npm_tools() {
  local dir="$tools/npm" stamp want
  stamp="$dir/.installed"
  want=$(fingerprint "$root/tools/npm/package.json" "$root/tools/npm/package-lock.json")
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -d "$dir/node_modules" ]; then
    skip "npm tools up to date ($(npm_versions))"
    return
  fi
  say "installing npm tools into .tools/npm (npm ci)"
  mkdir -p "$dir"
  cp "$root/tools/npm/package.json" "$root/tools/npm/package-lock.json" "$dir/"
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$want" >"$stamp"
}

# The web page's packages live in .tools/web like every other tool; the page
# finds them through the web/node_modules link, as Node and Vite expect.
install_web() {
  local dir="$tools/web" stamp want link="$root/web/node_modules"
  stamp="$dir/.installed"
  want=$(fingerprint "$root/web/package.json" "$root/web/package-lock.json")
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -d "$dir/node_modules" ]; then
    skip "web packages up to date ($(cd "$dir/node_modules" && node -p 'const v = (p) => require(`./${p}/package.json`).version; `Vite ${v("vite")}, TypeScript ${v("typescript")}, viem ${v("viem")}, Playwright ${v("@playwright/test")}`'))"
  else
    say "installing the web page's packages into .tools/web (npm install, from the lock file)"
    mkdir -p "$dir"
    cp "$root/web/package.json" "$root/web/package-lock.json" "$dir/"
    # Not `npm ci`: the registry here serves Rollup's native package for this
    # platform only, so the lock lists no other and `npm ci` refuses it as out
    # of sync. `npm install` installs exactly the locked versions; the check
    # below stops if it had to change the lock (other than by listing the
    # other platforms' builds, which a registry that serves them adds).
    (cd "$dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-audit --no-fund --loglevel=error)
    node "$root/scripts/same-lock.js" "$root/web/package-lock.json" "$dir/package-lock.json" ||
      die "web/package-lock.json does not match web/package.json; run npm install in web/ and commit the lock"
    echo "$want" >"$stamp"
  fi
  if [ "$(readlink "$link" 2>/dev/null)" != "../.tools/web/node_modules" ]; then
    # A node_modules of its own (from a plain `npm install` in web/) is replaced:
    # the pinned one in .tools/web is what the tests run against.
    rm -rf "$link"
    ln -s ../.tools/web/node_modules "$link"
  fi
}

# Debian's chromium, which the page's browser tests run headless and offline.
install_chromium() {
  if command -v chromium >/dev/null 2>&1; then
    skip "chromium found ($(chromium --version 2>/dev/null | head -n1))"
    return
  fi
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 ||
    die "Chromium is not installed; it is needed by the web page's browser tests. Install Debian's chromium package (apt-get install chromium) and run this again."
  say "installing Debian's chromium package with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1 ||
    { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends chromium >/dev/null; } ||
    die "apt-get could not install chromium"
  say "installed $(chromium --version 2>/dev/null | head -n1)"
}

# Relative links, so that they survive the checkout being moved or .tools
# being linked from another checkout.
link_foundry() {
  local name target
  for name in anvil forge cast; do
    target="../npm/node_modules/.bin/$name"
    [ -x "$bin/$target" ] || die "$name is missing from .tools/npm; delete .tools/npm and run this again"
    if [ "$(readlink "$bin/$name" 2>/dev/null)" != "$target" ]; then
      ln -sfn "$target" "$bin/$name"
      say "linked .tools/bin/$name ($("$bin/$name" --version | head -n1))"
    fi
  done
}

# The pinned compiler version, as solc-js reports it (e.g. 0.8.37).
solc_pin() { node -p "require('$tools/npm/node_modules/solc/package.json').version"; }

install_solc() {
  local pin native wrapper="$tools/bin/solc"
  pin=$(solc_pin)
  # A native solc of the pinned version, where a user has one, is faster.
  native=$(PATH=$(printf '%s' "$PATH" | tr ':' '\n' | grep -vxF "$bin" | paste -sd:) command -v solc || true)
  if [ -n "$native" ] && "$native" --version 2>/dev/null | grep -q "^Version: $pin+"; then
    if [ "$(readlink "$wrapper" 2>/dev/null)" != "$native" ]; then
      ln -sfn "$native" "$wrapper"
      say "linked .tools/bin/solc to the native $native ($pin)"
    else
      skip "solc: native $native ($pin)"
    fi
    return
  fi
  local script
  script=$(cat <<SH
#!/bin/sh
# solc $pin from npm solc-js, through tools/solc/solc.cjs (scripts/bootstrap.sh).
SOLCJS_MODULE="$tools/npm/node_modules/solc" exec node "$root/tools/solc/solc.cjs" "\$@"
SH
)
  if [ -L "$wrapper" ] || [ ! -f "$wrapper" ] || [ "$(cat "$wrapper")" != "$script" ]; then
    rm -f "$wrapper"
    printf '%s\n' "$script" >"$wrapper"
    chmod +x "$wrapper"
    say "wrote .tools/bin/solc, the solc-js $pin wrapper"
  else
    skip "solc: solc-js $pin wrapper"
  fi
  "$wrapper" --version | grep -q "^Version: $pin+" || die ".tools/bin/solc does not report version $pin"
}

install_kubo() {
  local pin stamp want
  pin=$(awk '$1 == "require" && $2 == "github.com/ipfs/kubo" { print $3 }' "$root/tools/kubo/go.mod")
  [ -n "$pin" ] || die "tools/kubo/go.mod does not pin github.com/ipfs/kubo"
  stamp="$tools/kubo.installed"
  want="$pin $(fingerprint "$root/tools/kubo/go.mod" "$root/tools/kubo/go.sum") $(go env GOVERSION)"
  if [ -x "$bin/ipfs" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    skip "kubo up to date ($("$bin/ipfs" version))"
    return
  fi
  say "building Kubo $pin from its Go module into .tools/bin/ipfs (a few minutes the first time)"
  (
    cd "$root/tools/kubo"
    GOTOOLCHAIN=local GOFLAGS="-mod=readonly -buildvcs=false" \
      go build -trimpath -o "$bin/ipfs.tmp" github.com/ipfs/kubo/cmd/ipfs
  )
  mv "$bin/ipfs.tmp" "$bin/ipfs"
  echo "$want" >"$stamp"
  say "installed $("$bin/ipfs" version)"
}

# The interpreter the venv is built from, and its version, e.g.
# "/usr 3.11.2"; empty when python3 is older than 3.11.
python_id() {
  python3 -c 'import sys; sys.version_info >= (3, 11) and print(sys.base_prefix, sys.version.split()[0])'
}

# Names the Slither and crytic-compile versions installed in .tools/venv.
slither_versions() {
  "$tools/venv/bin/python" -c '
from importlib.metadata import version as v
print("Slither", v("slither-analyzer") + ", crytic-compile", v("crytic-compile"))'
}

install_slither() {
  local venv="$tools/venv" reqs="$root/tools/slither/requirements.txt" stamp want py
  py=$(python_id)
  [ -n "$py" ] || die "python3 is $(python3 --version 2>&1); Slither needs Python 3.11 or later"
  stamp="$venv/.installed"
  want="$(fingerprint "$reqs") $py"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$venv/bin/slither" ] &&
    "$venv/bin/python" -c '' 2>/dev/null; then
    skip "slither up to date ($(slither_versions))"
    return
  fi
  say "installing Slither into .tools/venv from tools/slither/requirements.txt"
  rm -rf "$venv"
  python3 -m venv "$venv"
  # Every file is checked against its pinned hash; no dependency is resolved
  # beyond the list, and no sdist is built.
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
    --require-hashes --no-deps --only-binary=:all: -r "$reqs"
  echo "$want" >"$stamp"
  say "installed $(slither_versions)"
}

# The newest Postgres server binary installed from Debian's packages, or
# nothing.
postgres_bin() {
  find /usr/lib/postgresql -maxdepth 3 -path '*/bin/postgres' 2>/dev/null | sort -V | tail -n1
}

install_postgres() {
  local found
  found=$(postgres_bin)
  if [ -n "$found" ]; then
    skip "postgres found ($("$found" --version))"
    return
  fi
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 ||
    die "Postgres is not installed; it is needed by the indexer's tests. Install Debian's postgresql-15 package (apt-get install postgresql-15) and run this again."
  say "installing Debian's postgresql-15 package with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends postgresql-15 >/dev/null 2>&1 ||
    { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends postgresql-15 >/dev/null; } ||
    die "apt-get could not install postgresql-15"
  found=$(postgres_bin)
  [ -n "$found" ] || die "postgresql-15 is installed but no postgres binary is under /usr/lib/postgresql"
  say "installed $("$found" --version)"
}

check_prerequisites
mkdir -p "$bin"
install_npm_tools
link_foundry
install_solc
install_kubo
install_slither
install_postgres
install_web
install_chromium
