//! Integration tests of the base every MedVault part stands on: the
//! contracts toolchain against a real Anvil, a real, isolated Kubo, every
//! signed action through the forwarder, and encrypted records through Kubo.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod chain;
mod forwarder;
mod ipfs;
mod records;
mod solc;
