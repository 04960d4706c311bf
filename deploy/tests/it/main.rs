//! medvault-deploy against a real Anvil: first runs, second runs that send
//! nothing, role hand-over, restarted chains, changed bytecode, every key
//! source, the errors a run stops with, and the binary end to end.
//!
//! The contracts are compiled once per test binary (solc-js takes a while):
//! see [`common::compiled`].

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod binary;
mod common;
mod errors;
mod keys;
mod runs;
