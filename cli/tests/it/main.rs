//! Integration tests of the `medvault` binary.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod dev;
