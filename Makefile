# MedVault. `make dev` runs the local stack; `make test` runs every test.
# Both install what is missing first (scripts/bootstrap.sh, into .tools/).

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
export PATH := $(CURDIR)/.tools/bin:$(PATH)

CARGO ?= cargo
# CI runs the fuzz tests with many more runs (contracts/foundry.toml).
FOUNDRY_PROFILE ?= $(if $(filter true,$(CI)),ci,default)
export FOUNDRY_PROFILE

.PHONY: bootstrap build dev test bench lint slither abi fmt clean

## Install the pinned tools into .tools/ (idempotent).
bootstrap:
	@scripts/bootstrap.sh

## Compile the contracts, the workspace and the web page (web/dist).
build: bootstrap
	cd contracts && forge build
	$(CARGO) build --workspace --locked
	cd web && npm run --silent build

## Run the local stack (Anvil, Kubo, the contracts, the indexer, the gateway,
## seeded demo identities) until Ctrl-C; writes .medvault/dev/stack.json.
dev: build
	$(CARGO) run --quiet --locked -p medvault-cli -- dev

## Run every test: the bootstrap's, the contracts' (forge), the workspace's
## (cargo), the web page's (vitest, then Chromium), then one summary line.
test: bootstrap
	@scripts/test.sh

## Benchmarks of the record format and the key envelopes against their
## baselines (figures in BENCHMARKS.md); never part of `make test`.
bench: bootstrap
	$(CARGO) run --release --locked -p medvault-bench

## Formatting and lints, as CI checks them.
lint: bootstrap
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings
	cd contracts && forge fmt --check

## Slither on contracts/src: fails on any High or Medium finding (also run by `make test`).
slither: bootstrap
	@scripts/slither.sh

## Copy the contracts' ABIs into core/abi/ for the bindings (`make test` checks them).
abi: bootstrap
	@scripts/abi.sh

## Format Rust and Solidity sources.
fmt: bootstrap
	$(CARGO) fmt --all
	cd contracts && forge fmt

## Remove build outputs (keeps .tools/).
clean:
	$(CARGO) clean
	cd contracts && rm -rf out cache
