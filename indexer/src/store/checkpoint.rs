//! SQLite's checkpoints, off the writer's path.
//!
//! In WAL mode every commit appends the pages it changed to the WAL, and a
//! checkpoint copies them back into the database file and syncs both. SQLite
//! runs that checkpoint itself, in the connection whose commit crossed the
//! WAL's threshold, so the writer waited on two `fsync`s of tens of MiB (75
//! ms in a 0.6 s backfill here). The store's connections now checkpoint on
//! their own only past [`BACKSTOP_PAGES`] (a bound on the WAL's size); a
//! task of the store checkpoints after commits instead, on a connection of
//! its own, in `PASSIVE` mode, which never blocks the writer and never waits
//! for readers.

use std::time::Duration;

use sqlx::AnyPool;
use tokio::sync::broadcast::{self, error::RecvError};
use tracing::warn;

use super::Change;

/// The WAL size, in pages, at which a committing connection checkpoints
/// itself (256 MiB of 16 KiB pages). While the writer commits batch after
/// batch, a checkpoint beside it never catches up with the WAL's end, so
/// SQLite cannot start the WAL over; this is what bounds it.
pub(super) const BACKSTOP_PAGES: u32 = 16_384;

/// The least time between two background checkpoints: each syncs the WAL
/// and the database, so a burst of small commits gets one.
const INTERVAL: Duration = Duration::from_millis(250);

/// Checkpoints after each change (commits and rollbacks both write), at most
/// once an [`INTERVAL`], until the store is dropped.
pub(super) async fn run(pool: AnyPool, mut changes: broadcast::Receiver<Change>) {
    loop {
        match changes.recv().await {
            Ok(_) | Err(RecvError::Lagged(_)) => {}
            Err(RecvError::Closed) => return,
        }
        if let Err(error) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").fetch_all(&pool).await {
            // Not fatal: the backstop still bounds the WAL.
            warn!(%error, "background checkpoint failed");
        }
        tokio::time::sleep(INTERVAL).await;
    }
}
