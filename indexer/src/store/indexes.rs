//! Secondary indexes set aside while a backfill from an empty index loads.
//!
//! Every row a backfill writes updates each index of its table; on a chain
//! of tens of thousands of events that is most of the write's work (B-tree
//! inserts of text keys, and the pages they dirty in the WAL). An index
//! built once over the loaded rows costs a sort instead. So a backfill that
//! starts before the first batch drops the query API's indexes, and the
//! first pass that reaches the head creates them again.
//!
//! The unique constraints stay, as do the indexes the writer itself reads
//! ([`KEPT`]): exactly-once never depends on this. Dropping and creating
//! are each one transaction, and creating is idempotent, so a kill at any
//! point leaves either every index or none of the deferred ones; rows are
//! right either way, and a store that starts marked as possibly deferred
//! ([`Store::connect`](super::Store::connect)) creates whatever is missing
//! once its follower catches up. The statements are the migrations' own,
//! so there is still one schema.

use std::sync::atomic::{AtomicBool, Ordering};

use sqlx::{AnyPool, AssertSqlSafe};

use super::{Backend, MIGRATIONS, StoreError, migrate::MIGRATION_LOCK};

/// Indexes never deferred: the writer looks up a record's patient by id in
/// every batch that names an earlier record.
const KEPT: [&str; 1] = ["records_by_id"];

/// A deferrable index: its name and the migration's `CREATE INDEX`
/// statement.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Deferrable {
    name: String,
    create: String,
}

/// The `CREATE INDEX` statements of the migrations but [`KEPT`]'s, in order.
fn deferrable() -> impl Iterator<Item = Deferrable> {
    MIGRATIONS
        .iter()
        // Comments first: they may hold a semicolon.
        .map(|migration| {
            let lines = migration.sql.lines().filter(|line| !line.trim_start().starts_with("--"));
            lines.collect::<Vec<_>>().join(" ")
        })
        .flat_map(|sql| sql.split(';').map(str::to_owned).collect::<Vec<_>>())
        .filter_map(|statement| {
            let create = statement.trim().strip_prefix("CREATE INDEX ")?.to_owned();
            let name = create.split_whitespace().next()?.to_owned();
            (!KEPT.contains(&name.as_str())).then_some(Deferrable { name, create })
        })
}

/// The deferrable indexes, parsed once.
fn all() -> &'static [Deferrable] {
    static ALL: std::sync::OnceLock<Vec<Deferrable>> = std::sync::OnceLock::new();
    ALL.get_or_init(|| deferrable().collect())
}

/// Drops the deferrable indexes in one transaction and marks them deferred.
pub(super) async fn defer(
    pool: &AnyPool,
    backend: Backend,
    deferred: &AtomicBool,
) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    lock(&mut tx, backend).await?;
    for index in all() {
        let sql = format!("DROP INDEX IF EXISTS {}", index.name);
        sqlx::query(AssertSqlSafe(sql)).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    deferred.store(true, Ordering::Release);
    Ok(())
}

/// Creates whichever deferrable index is missing, in one transaction, when
/// they may be deferred; nothing otherwise.
pub(super) async fn restore(
    pool: &AnyPool,
    backend: Backend,
    deferred: &AtomicBool,
) -> Result<(), StoreError> {
    if !deferred.load(Ordering::Acquire) {
        return Ok(());
    }
    let mut tx = pool.begin().await?;
    lock(&mut tx, backend).await?;
    for index in all() {
        let sql = format!("CREATE INDEX IF NOT EXISTS {}", index.create);
        sqlx::query(AssertSqlSafe(sql)).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    deferred.store(false, Ordering::Release);
    Ok(())
}

/// On Postgres, the migrations' advisory lock, so that replicas starting
/// together do not drop or create the same index at once; SQLite's first
/// write takes its one write lock.
async fn lock(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    backend: Backend,
) -> Result<(), StoreError> {
    if backend == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_index_but_the_writers_own_is_deferrable_with_its_migration_statement() {
        let all = all();
        let names: Vec<&str> = all.iter().map(|index| index.name.as_str()).collect();
        assert!(names.contains(&"events_by_patient"), "{names:?}");
        assert!(names.contains(&"break_glass_by_staff"), "{names:?}");
        assert!(!names.contains(&"records_by_id"));
        let created: usize =
            MIGRATIONS.iter().map(|m| m.sql.matches("CREATE INDEX ").count()).sum();
        assert_eq!(all.len() + KEPT.len(), created);
        let events = all.iter().find(|index| index.name == "events_by_block").unwrap();
        assert_eq!(events.create, "events_by_block ON events (chain_id, block_number, log_index)");
    }
}
