//! Integration tests of the base every MedVault part stands on: the
//! contracts toolchain against a real Anvil, and a real, isolated Kubo.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod chain;
mod ipfs;
mod solc;
