//! Integration tests of medvault-core: its envelopes against eciesjs, and the
//! primitives under them against Wycheproof's vectors.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod eciesjs;
mod independent;
mod wycheproof;
