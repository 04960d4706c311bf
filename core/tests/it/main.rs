//! Integration tests of medvault-core: its envelopes against eciesjs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod eciesjs;
