//! The MedVault indexer: follows the contract's events into a database and
//! serves them.
//!
//! It will hold the follower (batched `eth_getLogs` backfill from the
//! deployment block, then live updates), reorg handling against stored block
//! hashes, the store (SQLite by default, Postgres at scale, one schema), and
//! an axum query API with cursor pagination and server-sent events. Rows,
//! block hashes and the cursor commit in one transaction, so every event is
//! indexed exactly once through restarts and reorgs; the index can always be
//! rebuilt from the chain.
//!
//! Nothing is implemented here yet: the indexer arrives with its own issue,
//! on top of `medvault-core`.
