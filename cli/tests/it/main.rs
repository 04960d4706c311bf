//! Integration tests of the `medvault` crate: the local stack as a library
//! ([`DevStack`](medvault_cli::dev::DevStack)) and as the `medvault dev`
//! binary.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod commands;
mod demo;
mod dev_binary;
mod dev_stack;
mod support;
