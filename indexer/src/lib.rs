//! The MedVault indexer: follows the contract's events into a database and
//! serves them.
//!
//! [`store`] holds the index (SQLite by default, Postgres at scale, one
//! schema and one set of migrations) and writes each batch of decoded rows,
//! its block hashes and the cursor in one transaction, so every event is
//! indexed exactly once through restarts; it rolls back to a block after a
//! reorg. The follower backfills with batched `eth_getLogs` from the
//! deployment block, then follows new blocks, checking stored block hashes
//! against the chain's parent hashes. The index can always be rebuilt from
//! the chain.
//!
//! [`api`] serves the index over HTTP: JSON with cursor pagination, every
//! answer read in one transaction and naming the block it is consistent
//! with, live events as server-sent events, `/openapi.json`, `/health` and
//! `/metrics`.

pub mod api;
pub mod check;
pub mod store;
pub mod sync;

pub use store::{Store, StoreError};
pub use sync::{FollowConfig, Follower, SyncError};
