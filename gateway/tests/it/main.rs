//! The gateway's data path against a real Anvil and a real Kubo: uploads in
//! both modes, permission-checked downloads, the access log and its anchors,
//! and recovery from failures at each step.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod data;
mod failure;
mod memory;
mod stack;
