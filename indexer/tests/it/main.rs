//! The indexer's integration tests, against a real Anvil: the query API over
//! an index of real transactions.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod api;
