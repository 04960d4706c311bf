//! The gateway's durable state in one SQLite file: sign-in nonces,
//! idempotency keys, and what the other modules add (pending uploads, the
//! access log).
//!
//! Migrations are embedded SQL, applied in order by a small runner at
//! start, each in its own transaction with its version recorded in
//! `schema_migrations`, so a restart applies only what is new. A migration
//! is never edited once committed: add the next one to [`MIGRATIONS`].

use std::path::Path;

use sqlx::{
    Row,
    sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
    },
};

/// The migrations, in order; each is a version and its SQL.
pub const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/0001_sign_in_and_relay.sql")),
    (2, include_str!("../migrations/0002_pending_uploads_and_access_log.sql")),
    (3, include_str!("../migrations/0003_custodian_scan.sql")),
];

/// Opens (creating it if missing) the SQLite database at `path` and applies
/// the migrations it lacks.
pub async fn open(path: &Path) -> Result<SqlitePool, StoreError> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        // WAL: readers do not block the writer; NORMAL is durable across a
        // process crash, which is what idempotency keys need.
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(std::time::Duration::from_secs(5));
    let pool = SqlitePoolOptions::new()
        .max_connections(4)
        // A connection is a thread of this process beside a file: there is
        // no far end to have hung up, and the ping sqlx sends before handing
        // one out would cost each statement a second round trip to it.
        .test_before_acquire(false)
        .connect_with(options)
        .await
        .map_err(|source| StoreError::Open { path: path.display().to_string(), source })?;
    migrate(&pool).await?;
    Ok(pool)
}

/// Applies the migrations that `pool`'s database lacks.
pub async fn migrate(pool: &SqlitePool) -> Result<(), StoreError> {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version INTEGER PRIMARY KEY,
            applied_at INTEGER NOT NULL
        )",
    )
    .execute(pool)
    .await
    .map_err(StoreError::Migrate)?;
    let applied: Vec<i64> = sqlx::query("SELECT version FROM schema_migrations")
        .fetch_all(pool)
        .await
        .map_err(StoreError::Migrate)?
        .iter()
        .map(|row| row.get(0))
        .collect();
    for (version, sql) in MIGRATIONS {
        if applied.contains(version) {
            continue;
        }
        let mut tx = pool.begin().await.map_err(StoreError::Migrate)?;
        sqlx::raw_sql(*sql)
            .execute(&mut *tx)
            .await
            .map_err(|source| StoreError::Migration { version: *version, source })?;
        sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)")
            .bind(version)
            .bind(crate::unix_now() as i64)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::Migrate)?;
        tx.commit().await.map_err(StoreError::Migrate)?;
        tracing::info!(version, "applied gateway migration");
    }
    Ok(())
}

/// Why the store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database file could not be opened or created.
    #[error("cannot open the gateway database {path}")]
    Open {
        /// The file.
        path: String,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// The migrations table could not be read or written.
    #[error("cannot record the gateway's migrations")]
    Migrate(#[source] sqlx::Error),
    /// A migration failed; nothing of it was applied.
    #[error("migration {version} failed")]
    Migration {
        /// Its version.
        version: i64,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn migrations_apply_once_and_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gateway.sqlite");
        let pool = open(&path).await.unwrap();
        // No ping to the connection's own thread before each statement.
        assert!(!pool.options().get_test_before_acquire());
        sqlx::query("INSERT INTO siwe_nonces (nonce, expires_at) VALUES ('abc', 1)")
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;

        let pool = open(&path).await.unwrap();
        let count: i64 = sqlx::query("SELECT count(*) FROM schema_migrations")
            .fetch_one(&pool)
            .await
            .unwrap()
            .get(0);
        assert_eq!(count, MIGRATIONS.len() as i64);
        let nonce: String =
            sqlx::query("SELECT nonce FROM siwe_nonces").fetch_one(&pool).await.unwrap().get(0);
        assert_eq!(nonce, "abc");
    }
}
