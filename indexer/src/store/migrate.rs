//! The schema's migrations and the runner that applies them.
//!
//! The SQL lives in `migrations/NNNN_name.sql`, embedded at build time, and
//! runs unchanged on SQLite and Postgres. Applied versions are kept in
//! `schema_migrations`; every pending migration runs in one transaction with
//! its row there, so a failed migration leaves the database as it was.
//!
//! Several indexers may start at once on one Postgres database (replicas
//! behind a load balancer): the transaction first takes a transaction-level
//! advisory lock, so one of them migrates and the others, once it commits,
//! find nothing left to do. On SQLite the first statement is a write, which
//! takes the database's one write lock for the same effect.

use sqlx::{AnyPool, AssertSqlSafe};

use super::{Backend, StoreError};

/// The key of the Postgres advisory lock held while migrating: "MVIDXMIG"
/// in ASCII (any constant that other users of the database do not take
/// would do).
const MIGRATION_LOCK: i64 = 0x4d56_4944_584d_4947;

/// One migration.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Its version: the number its file name starts with.
    pub version: i64,
    /// The rest of its file name.
    pub name: &'static str,
    /// Its SQL: statements separated by semicolons.
    pub sql: &'static str,
}

/// Every migration, in order.
pub const MIGRATIONS: &[Migration] = &[
    Migration { version: 1, name: "events", sql: include_str!("../../migrations/0001_events.sql") },
    // The query API's indexes (additive).
    Migration {
        version: 2,
        name: "query_indexes",
        sql: include_str!("../../migrations/0002_query_indexes.sql"),
    },
    // Key envelopes out of `events`, into their own tables only.
    Migration {
        version: 3,
        name: "envelopes_in_their_tables",
        sql: include_str!("../../migrations/0003_envelopes_in_their_tables.sql"),
    },
    // An index no query used.
    Migration {
        version: 4,
        name: "drop_unused_record_keys_index",
        sql: include_str!("../../migrations/0004_drop_unused_record_keys_index.sql"),
    },
];

/// Applies the migrations `pool`'s database (a `backend` one) lacks.
pub(super) async fn run(pool: &AnyPool, backend: Backend) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    if backend == Backend::Postgres {
        // Released with the transaction, whichever way it ends.
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *tx)
            .await?;
    }
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL)",
    )
    .execute(&mut *tx)
    .await?;
    let applied: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM schema_migrations ORDER BY version")
            .fetch_all(&mut *tx)
            .await?;
    if let Some(&version) = applied.iter().find(|v| !MIGRATIONS.iter().any(|m| m.version == **v)) {
        return Err(StoreError::UnknownMigration { version });
    }
    for migration in MIGRATIONS.iter().filter(|m| !applied.contains(&m.version)) {
        let failed = |source| StoreError::Migration {
            version: migration.version,
            name: migration.name,
            source,
        };
        sqlx::raw_sql(AssertSqlSafe(migration.sql)).execute(&mut *tx).await.map_err(failed)?;
        sqlx::query("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)")
            .bind(migration.version)
            .bind(migration.name)
            .execute(&mut *tx)
            .await
            .map_err(failed)?;
    }
    tx.commit().await?;
    Ok(())
}
