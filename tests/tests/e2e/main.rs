//! End-to-end tests: every flow of the demo's story (issue 7, point 3) as
//! its own test, against a real Anvil, Kubo, gateway and indexer (a
//! [`DevStack`](medvault_cli::dev::DevStack)), through the library
//! functions the `medvault` commands run.
//!
//! A stack takes some 25 s to start, so the tests share one
//! ([`stack::lease`]): the first test starts it, the last one to finish
//! stops it, and the flows take turns, since they play the same demo
//! identities. The test that runs the built `medvault demo` binary lives in
//! the CLI's own tests (`cli/tests/it/demo.rs`), the one place where Cargo
//! builds that binary for a test.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod flows;
mod stack;
