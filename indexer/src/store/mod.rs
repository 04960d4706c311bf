//! The index's database: SQLite (the embedded default) or Postgres, one
//! schema, chosen by the URL.
//!
//! [`Store`] runs the migrations (`migrations/`, embedded), writes a
//! [`Batch`] of decoded rows with its block hashes and the cursor in one
//! transaction (on Postgres, a batch that follows the cursor is copied in
//! through the native driver, in `copy`), rolls back to a block after a
//! reorg, and tells subscribers ([`Store::subscribe`]) what changed after
//! each commit and rollback. The query API reads the same tables through
//! [`Store::pool`]; the tables and their columns are documented in the
//! migrations.

mod checkpoint;
mod copy;
mod decode;
mod migrate;
mod schema;

use std::{
    collections::HashMap,
    str::FromStr,
    sync::{Arc, Mutex, PoisonError},
};

use alloy::{
    hex,
    primitives::{Address, B256},
};
use sqlx::{
    AnyPool, AssertSqlSafe, PgPool, Row as _,
    any::{AnyArguments, AnyPoolOptions, AnyRow},
    postgres::PgPoolOptions,
    query::Query,
};
use tokio::sync::broadcast;

#[cfg(test)]
pub(crate) use decode::data;
pub use decode::{DecodeError, decode, position};
pub use migrate::{MIGRATIONS, Migration};
pub use schema::{Kind, LOG_COLUMNS, LogPosition, Row, Table, Value};

/// Rows per multi-row `INSERT`: at most 15 parameters a row keeps a
/// statement's 30,000 below SQLite's limit of 32,766 (and Postgres's
/// 65,535), and few large statements cost less than many small ones.
const ROWS_PER_INSERT: usize = 2_000;

/// How many changes a slow subscriber may fall behind before it lags.
const CHANGES_CAPACITY: usize = 1024;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused a statement or the connection failed.
    #[error("database error")]
    Database(#[from] sqlx::Error),
    /// A migration failed.
    #[error("migration {version} ({name}) failed")]
    Migration {
        /// Its version.
        version: i64,
        /// Its name.
        name: &'static str,
        /// The database's error.
        #[source]
        source: sqlx::Error,
    },
    /// The database holds a migration this build does not know: it was
    /// written by a newer indexer.
    #[error("the database has migration {version}, which this indexer does not know")]
    UnknownMigration {
        /// The unknown version.
        version: i64,
    },
    /// A batch starts after the block that follows the cursor: it would
    /// leave a gap.
    #[error("batch from block {from} leaves a gap after the cursor at block {cursor}")]
    NotContiguous {
        /// The batch's first block.
        from: u64,
        /// The cursor's block.
        cursor: u64,
    },
    /// A batch written behind another was left out: the one before it
    /// failed.
    #[error("batch from block {from} follows a batch that failed")]
    Abandoned {
        /// The batch's first block.
        from: u64,
    },
    /// The database holds another contract's index for this chain.
    #[error("the index of chain {chain_id} is for contract {indexed}, not {requested}")]
    OtherContract {
        /// The chain.
        chain_id: u64,
        /// The contract indexed.
        indexed: String,
        /// The contract asked for.
        requested: String,
    },
    /// A stored value is not what the schema says (edited by hand?).
    #[error("column {column} holds a malformed value")]
    Malformed {
        /// The column.
        column: &'static str,
    },
}

/// Which database a store is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite, in WAL mode.
    Sqlite,
    /// Postgres.
    Postgres,
}

/// A block as the index keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockRef {
    /// Its number.
    pub number: u64,
    /// Its hash.
    pub hash: B256,
    /// Its parent's hash.
    pub parent_hash: B256,
    /// Its timestamp, in seconds.
    pub timestamp: u64,
}

/// How far the index has reached on a chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// The contract indexed.
    pub contract: Address,
    /// The last block whose logs are all in.
    pub block_number: u64,
    /// Its hash, when known (not before the first batch).
    pub block_hash: Option<B256>,
}

/// What one transaction adds: the rows of blocks `from..=to.number`, the
/// blocks whose hashes to keep, and the new cursor (`to`).
#[derive(Debug, Clone)]
pub struct Batch {
    /// The chain.
    pub chain_id: u64,
    /// The contract indexed.
    pub contract: Address,
    /// The first block covered.
    pub from: u64,
    /// The last block covered: the new cursor.
    pub to: BlockRef,
    /// Blocks to record (those holding logs, those near the head); `to` is
    /// recorded in any case.
    pub blocks: Vec<BlockRef>,
    /// The decoded rows, in log order.
    pub rows: Vec<Row>,
}

impl Batch {
    /// How many logs the batch holds: one row of each stands for it
    /// ([`Table::stands_for_log`]).
    pub fn logs(&self) -> usize {
        self.rows.iter().filter(|row| row.table.stands_for_log()).count()
    }
}

/// A change to the index, sent to subscribers after its transaction commits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Blocks `from..=to` were indexed.
    Committed {
        /// The chain.
        chain_id: u64,
        /// The first block.
        from: u64,
        /// The last block: the new cursor.
        to: u64,
        /// How many logs they held.
        events: usize,
    },
    /// Everything after block `to` was removed (a reorg).
    RolledBack {
        /// The chain.
        chain_id: u64,
        /// The last block kept: the new cursor.
        to: u64,
    },
}

/// The index's database.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    /// On Postgres, the native pool that batches are copied in through
    /// ([`copy`]); the `Any` driver cannot issue `COPY`.
    copy: Option<PgPool>,
    backend: Backend,
    changes: broadcast::Sender<Change>,
    /// The last block this process committed, with its chain id, until a
    /// rollback ([`Store::reached`]).
    reached: Arc<Mutex<Option<(u64, BlockRef)>>>,
}

impl Store {
    /// Connects to `url`: a `postgres://` (or `postgresql://`) URL, a
    /// `sqlite:` URL, or a file path, which becomes a SQLite database
    /// (created if missing) in WAL mode.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let (backend, url) = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Backend::Postgres, url.to_owned())
        } else if url.starts_with("sqlite:") {
            (Backend::Sqlite, url.to_owned())
        } else {
            (Backend::Sqlite, format!("sqlite://{url}?mode=rwc"))
        };
        let options = AnyPoolOptions::new().max_connections(8);
        let options = match backend {
            Backend::Postgres => options,
            // A SQLite connection is a thread of this process beside a file:
            // no far end to have hung up, so no ping (a second round trip to
            // that thread) before each is handed out.
            Backend::Sqlite => options.test_before_acquire(false).after_connect(|conn, _| {
                Box::pin(async move {
                    // WAL lets the API read while the follower writes; NORMAL
                    // is durable across application crashes, which is what
                    // the cursor needs (a power cut may lose the last batch,
                    // and the follower then simply fetches it again).
                    // A new database gets 16 KiB pages, not 4: a batch
                    // inserts into every index at once, and each page it
                    // dirties is a WAL frame and a write; with 16 KiB pages
                    // the same rows dirty a quarter as many. (An existing
                    // database keeps its page size; the pragma must come
                    // before WAL mode, which fixes it.)
                    // The larger page cache (32 MiB, not 2) holds the
                    // indexes a backfill batch writes all over. Checkpoints
                    // run beside the writer (`checkpoint`); a connection
                    // checkpoints itself only past the backstop.
                    sqlx::raw_sql(AssertSqlSafe(format!(
                        "PRAGMA page_size = 16384; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                         PRAGMA busy_timeout = 10000; PRAGMA cache_size = -32768; PRAGMA wal_autocheckpoint = {};",
                        checkpoint::BACKSTOP_PAGES
                    )))
                    .execute(conn)
                    .await?;
                    Ok(())
                })
            }),
        };
        let pool = options.connect(&url).await?;
        // One writer: the follower commits one batch at a time.
        let copy = match backend {
            Backend::Postgres => Some(PgPoolOptions::new().max_connections(2).connect_lazy(&url)?),
            Backend::Sqlite => None,
        };
        let (changes, _) = broadcast::channel(CHANGES_CAPACITY);
        if backend == Backend::Sqlite {
            // Ends when the store's last clone is dropped.
            tokio::spawn(checkpoint::run(pool.clone(), changes.subscribe()));
        }
        Ok(Self { pool, copy, backend, changes, reached: Arc::default() })
    }

    /// The connection pool, for readers.
    pub const fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Which database this is.
    pub const fn backend(&self) -> Backend {
        self.backend
    }

    /// The last block of `chain_id` committed through this store, `None`
    /// before the first commit and after a rollback: what a reader waiting
    /// for a block can be told without reading the database. Another
    /// process writing the same database is not seen here; ask the
    /// database for the head as it is.
    pub fn reached(&self, chain_id: u64) -> Option<BlockRef> {
        let reached = *self.reached.lock().unwrap_or_else(PoisonError::into_inner);
        reached.filter(|(chain, _)| *chain == chain_id).map(|(_, block)| block)
    }

    /// Changes from now on: one message after each commit and rollback.
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.changes.subscribe()
    }

    /// Applies the migrations the database lacks, all in one transaction.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        migrate::run(&self.pool, self.backend).await
    }

    /// The cursor of `chain_id`, or `None` before the first batch.
    pub async fn cursor(&self, chain_id: u64) -> Result<Option<Cursor>, StoreError> {
        let row = sqlx::query(
            "SELECT contract, block_number, block_hash FROM cursor WHERE chain_id = $1",
        )
        .bind(int(chain_id))
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            let contract: String = row.try_get(0)?;
            let block_number: i64 = row.try_get(1)?;
            let block_hash: Option<String> = row.try_get(2)?;
            Ok(Cursor {
                contract: Address::from_str(&contract)
                    .map_err(|_| StoreError::Malformed { column: "contract" })?,
                block_number: u64::try_from(block_number)
                    .map_err(|_| StoreError::Malformed { column: "block_number" })?,
                block_hash: block_hash.as_deref().map(parse_hash).transpose()?,
            })
        })
        .transpose()
    }

    /// Starts the index of `chain_id` at `contract`, before block `from`:
    /// sets the cursor to `from - 1` when there is none. A cursor for another
    /// contract is an error.
    pub async fn start(
        &self,
        chain_id: u64,
        contract: Address,
        from: u64,
    ) -> Result<Cursor, StoreError> {
        if let Some(cursor) = self.cursor(chain_id).await? {
            if cursor.contract != contract {
                return Err(StoreError::OtherContract {
                    chain_id,
                    indexed: hex::encode_prefixed(cursor.contract),
                    requested: hex::encode_prefixed(contract),
                });
            }
            return Ok(cursor);
        }
        let block_number = from.saturating_sub(1);
        sqlx::query(
            "INSERT INTO cursor (chain_id, contract, block_number, block_hash) VALUES ($1, $2, $3, NULL) \
             ON CONFLICT (chain_id) DO NOTHING",
        )
        .bind(int(chain_id))
        .bind(hex::encode_prefixed(contract))
        .bind(int(block_number))
        .execute(&self.pool)
        .await?;
        Ok(Cursor { contract, block_number, block_hash: None })
    }

    /// The hash kept for block `number`, if any.
    pub async fn block(&self, chain_id: u64, number: u64) -> Result<Option<BlockRef>, StoreError> {
        let row =
            sqlx::query("SELECT number, hash, parent_hash, timestamp FROM blocks WHERE chain_id = $1 AND number = $2")
                .bind(int(chain_id))
                .bind(int(number))
                .fetch_optional(&self.pool)
                .await?;
        row.as_ref().map(block_ref).transpose()
    }

    /// The kept blocks at or below `number`, highest first, at most `limit`.
    pub async fn blocks_below(
        &self,
        chain_id: u64,
        number: u64,
        limit: u64,
    ) -> Result<Vec<BlockRef>, StoreError> {
        sqlx::query(
            "SELECT number, hash, parent_hash, timestamp FROM blocks WHERE chain_id = $1 AND number <= $2 \
             ORDER BY number DESC LIMIT $3",
        )
        .bind(int(chain_id))
        .bind(int(number))
        .bind(int(limit))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(block_ref)
        .collect()
    }

    /// Writes `batch` in one transaction: its rows (a replayed row is
    /// skipped), its blocks and the cursor, which must be at `batch.from - 1`
    /// or beyond (a batch that leaves a gap is refused; the cursor never
    /// moves back here).
    pub async fn commit(&self, batch: &Batch) -> Result<(), StoreError> {
        self.write(batch, None).await?;
        self.committed(batch);
        Ok(())
    }

    /// Whether [`Store::write`] can write a batch while the one before it
    /// commits: on Postgres, on another connection.
    pub(crate) const fn writes_behind(&self) -> bool {
        self.copy.is_some()
    }

    /// [`Store::commit`] without telling subscribers (the caller does, with
    /// [`Store::committed`], in chain order).
    ///
    /// `after`: the batch before this one (ending at `batch.from - 1`) is
    /// still being written, and this resolves once it has committed (an
    /// error if it failed). On Postgres this batch's rows go in meanwhile;
    /// elsewhere it waits. Either way it commits only after that one, and not
    /// at all if that one failed.
    pub(crate) async fn write(
        &self,
        batch: &Batch,
        after: Option<tokio::sync::oneshot::Receiver<()>>,
    ) -> Result<(), StoreError> {
        let copied = match &self.copy {
            Some(pool) => copy::commit(pool, batch, after).await?,
            None => {
                if let Some(after) = after {
                    after.await.map_err(|_| StoreError::Abandoned { from: batch.from })?;
                }
                copy::Copied::Overlaps
            }
        };
        if copied == copy::Copied::Overlaps {
            self.insert_batch(batch).await?;
        }
        Ok(())
    }

    /// Tells subscribers that `batch` is committed.
    pub(crate) fn committed(&self, batch: &Batch) {
        *self.reached.lock().unwrap_or_else(PoisonError::into_inner) =
            Some((batch.chain_id, batch.to));
        let _ = self.changes.send(Change::Committed {
            chain_id: batch.chain_id,
            from: batch.from,
            to: batch.to.number,
            events: batch.logs(),
        });
    }

    /// [`Store::commit`] through multi-row `INSERT`s that skip replayed rows.
    async fn insert_batch(&self, batch: &Batch) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let patients = patients(&mut tx, batch.chain_id, &batch.rows).await?;
        let mut by_table: HashMap<Table, Vec<&Row>> = HashMap::new();
        for row in &batch.rows {
            by_table.entry(row.table).or_default().push(row);
        }
        for table in Table::ALL {
            if let Some(rows) = by_table.get(&table) {
                for chunk in rows.chunks(ROWS_PER_INSERT) {
                    insert(&mut tx, self.backend, table, chunk, &patients).await?;
                }
            }
        }
        let mut blocks = batch.blocks.clone();
        blocks.push(batch.to);
        blocks.sort_by_key(|b| b.number);
        blocks.dedup_by_key(|b| b.number);
        for chunk in blocks.chunks(ROWS_PER_INSERT) {
            let mut sql = String::from(
                "INSERT INTO blocks (chain_id, number, hash, parent_hash, timestamp) VALUES ",
            );
            push_placeholders(&mut sql, self.backend, chunk.len(), 5);
            // A block re-recorded after a rollback kept it (the batch's first
            // block may be the old cursor's) has the same hash by then.
            sql.push_str(" ON CONFLICT (chain_id, number) DO NOTHING");
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for block in chunk {
                query = query
                    .bind(int(batch.chain_id))
                    .bind(int(block.number))
                    .bind(hex::encode_prefixed(block.hash))
                    .bind(hex::encode_prefixed(block.parent_hash))
                    .bind(int(block.timestamp));
            }
            query.execute(&mut *tx).await?;
        }
        // The cursor moves to the batch's end from anywhere between the
        // block before the batch (the next batch) and the one before its end
        // (an overlap, whose rows were skipped); it never moves back. When
        // it does not move, the batch is a replay (nothing to do) or follows
        // a gap, and only then is the cursor read to tell which: a gap is
        // refused, and its rows go with the transaction.
        let moved = sqlx::query(
            "INSERT INTO cursor (chain_id, contract, block_number, block_hash) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (chain_id) DO UPDATE SET block_number = $3, block_hash = $4 \
             WHERE cursor.block_number < $3 AND cursor.block_number >= $5",
        )
        .bind(int(batch.chain_id))
        .bind(hex::encode_prefixed(batch.contract))
        .bind(int(batch.to.number))
        .bind(hex::encode_prefixed(batch.to.hash))
        .bind(int(batch.from.saturating_sub(1)))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if moved == 0 {
            let cursor: i64 =
                sqlx::query_scalar("SELECT block_number FROM cursor WHERE chain_id = $1")
                    .bind(int(batch.chain_id))
                    .fetch_one(&mut *tx)
                    .await?;
            let cursor = u64::try_from(cursor)
                .map_err(|_| StoreError::Malformed { column: "block_number" })?;
            if batch.from > cursor + 1 {
                return Err(StoreError::NotContiguous { from: batch.from, cursor });
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Removes everything after block `to` from the index of `chain_id`, in
    /// one transaction, and moves the cursor back to `to`.
    pub async fn rollback_to(&self, chain_id: u64, to: u64) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for table in Table::ALL {
            let sql =
                format!("DELETE FROM {} WHERE chain_id = $1 AND block_number > $2", table.name());
            sqlx::query(AssertSqlSafe(sql))
                .bind(int(chain_id))
                .bind(int(to))
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("DELETE FROM blocks WHERE chain_id = $1 AND number > $2")
            .bind(int(chain_id))
            .bind(int(to))
            .execute(&mut *tx)
            .await?;
        let hash: Option<String> =
            sqlx::query_scalar("SELECT hash FROM blocks WHERE chain_id = $1 AND number = $2")
                .bind(int(chain_id))
                .bind(int(to))
                .fetch_optional(&mut *tx)
                .await?;
        sqlx::query("UPDATE cursor SET block_number = $2, block_hash = $3 WHERE chain_id = $1 AND block_number > $2")
            .bind(int(chain_id))
            .bind(int(to))
            .bind(hash)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        *self.reached.lock().unwrap_or_else(PoisonError::into_inner) = None;
        let _ = self.changes.send(Change::RolledBack { chain_id, to });
        Ok(())
    }

    /// Fills in the `patient` of rows that name only a record (record grants
    /// and record envelopes), from the records in `rows` and in the index.
    pub async fn resolve_patients(
        &self,
        chain_id: u64,
        rows: &mut [Row],
    ) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        let patients = patients(&mut conn, chain_id, rows).await?;
        for row in rows.iter_mut() {
            if let Some(patient) = patient_of(row, &patients) {
                let patient = Value::Text(patient.to_owned());
                row.set("patient", patient);
            }
        }
        Ok(())
    }

    /// Every row of `table` for `chain_id` with a block in `from..=to`, in
    /// (block, log index) order: for `check` and tests.
    pub async fn rows(
        &self,
        table: Table,
        chain_id: u64,
        from: u64,
        to: u64,
    ) -> Result<Vec<Row>, StoreError> {
        let columns: Vec<&str> = LOG_COLUMNS
            .iter()
            .copied()
            .chain(table.columns().iter().map(|(name, _)| *name))
            .collect();
        let sql = format!(
            "SELECT {} FROM {} WHERE chain_id = $1 AND block_number >= $2 AND block_number <= $3 \
             ORDER BY block_number, log_index",
            columns.join(", "),
            table.name()
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(int(chain_id))
            .bind(int(from))
            .bind(int(to))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|row| read_row(table, row)).collect()
    }
}

/// The patients of the records named by rows that lack their patient
/// (record grants and record envelopes), from the records in `rows` and in
/// the `records` table, by record id.
async fn patients(
    conn: &mut sqlx::AnyConnection,
    chain_id: u64,
    rows: &[Row],
) -> Result<HashMap<String, String>, StoreError> {
    let (mut patients, missing) = record_patients(rows);
    for chunk in missing.chunks(ROWS_PER_INSERT) {
        let mut sql = String::from(
            "SELECT record_id, patient FROM records WHERE chain_id = $1 AND record_id IN (",
        );
        for i in 0..chunk.len() {
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("${}", i + 2));
        }
        sql.push(')');
        let mut query = sqlx::query(AssertSqlSafe(sql)).bind(int(chain_id));
        for id in chunk {
            query = query.bind(id.clone());
        }
        for row in query.fetch_all(&mut *conn).await? {
            patients.insert(row.try_get(0)?, row.try_get(1)?);
        }
    }
    Ok(patients)
}

/// The patients of the records in `rows`, by record id, and the ids of the
/// other records that rows lacking their patient name (to look up in the
/// index), sorted and without repeats.
fn record_patients(rows: &[Row]) -> (HashMap<String, String>, Vec<String>) {
    let mut patients: HashMap<String, String> = HashMap::new();
    for row in rows.iter().filter(|row| row.table == Table::Records) {
        if let (Some(Value::Text(id)), Some(Value::Text(patient))) =
            (row.get("record_id"), row.get("patient"))
        {
            patients.insert(id.clone(), patient.clone());
        }
    }
    let mut missing: Vec<String> = rows
        .iter()
        .filter(|row| row.get("patient") == Some(&Value::Null))
        .filter_map(|row| match row.get("record_id") {
            Some(Value::Text(id)) if !patients.contains_key(id) => Some(id.clone()),
            _ => None,
        })
        .collect();
    missing.sort();
    missing.dedup();
    (patients, missing)
}

/// The patient to fill in for `row`, when it lacks one and names a record
/// found in `patients`.
fn patient_of<'a>(row: &Row, patients: &'a HashMap<String, String>) -> Option<&'a str> {
    if row.get("patient") != Some(&Value::Null) {
        return None;
    }
    match row.get("record_id") {
        Some(Value::Text(id)) => patients.get(id).map(String::as_str),
        _ => None,
    }
}

/// Inserts `rows` of `table` in one statement; rows already there (by
/// chain, transaction and log index) are skipped.
async fn insert(
    conn: &mut sqlx::AnyConnection,
    backend: Backend,
    table: Table,
    rows: &[&Row],
    patients: &HashMap<String, String>,
) -> Result<(), StoreError> {
    let columns = table.columns();
    let width = LOG_COLUMNS.len() + columns.len();
    let mut sql = format!("INSERT INTO {} ({}", table.name(), LOG_COLUMNS.join(", "));
    for (name, _) in columns {
        sql.push_str(", ");
        sql.push_str(name);
    }
    sql.push_str(") VALUES ");
    push_placeholders(&mut sql, backend, rows.len(), width);
    sql.push_str(" ON CONFLICT (chain_id, tx_hash, log_index) DO NOTHING");
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for row in rows {
        query = bind_row(query, row, patient_of(row, patients));
    }
    query.execute(conn).await?;
    Ok(())
}

/// Binds `row`'s values, with `patient` in place of its NULL patient when
/// given.
fn bind_row<'q>(
    query: Query<'q, sqlx::Any, AnyArguments>,
    row: &Row,
    patient: Option<&str>,
) -> Query<'q, sqlx::Any, AnyArguments> {
    let p = &row.position;
    let mut query = query
        .bind(int(p.chain_id))
        .bind(int(p.block_number))
        .bind(int(p.log_index))
        .bind(p.tx_hash.clone())
        .bind(int(p.block_time));
    for ((name, kind), value) in row.table.columns().iter().zip(&row.values) {
        if let (Some(patient), &"patient") = (patient, name) {
            query = query.bind(patient.to_owned());
            continue;
        }
        query = match (kind, value) {
            (_, Value::Int(v)) => query.bind(*v),
            (_, Value::Text(v)) => query.bind(v.clone()),
            // Postgres types a parameter by what is bound: a NULL must come
            // typed as its column.
            (Kind::Int, Value::Null) => query.bind(None::<i64>),
            (Kind::Text, Value::Null) => query.bind(None::<String>),
        };
    }
    query
}

/// Appends `($1, $2, ...), (...)` for `rows` rows of `width` parameters
/// on Postgres, `(?, ?, ...), (...)` on SQLite.
///
/// SQLite keeps the names of `$N` (and `?N`) parameters in a list that
/// binding searches from the start for each one, which makes a statement of
/// thousands of parameters quadratic to bind; anonymous `?` are bound by
/// position.
fn push_placeholders(sql: &mut String, backend: Backend, rows: usize, width: usize) {
    use std::fmt::Write as _;
    let mut n = 0;
    for r in 0..rows {
        sql.push_str(if r == 0 { "(" } else { ", (" });
        for c in 0..width {
            n += 1;
            if c > 0 {
                sql.push_str(", ");
            }
            match backend {
                Backend::Sqlite => sql.push('?'),
                // Writing to a String cannot fail.
                Backend::Postgres => {
                    let _ = write!(sql, "${n}");
                }
            }
        }
        sql.push(')');
    }
}

fn read_row(table: Table, row: &AnyRow) -> Result<Row, StoreError> {
    let get_u64 = |i: usize, column: &'static str| -> Result<u64, StoreError> {
        let v: i64 = row.try_get(i)?;
        u64::try_from(v).map_err(|_| StoreError::Malformed { column })
    };
    let position = LogPosition {
        chain_id: get_u64(0, "chain_id")?,
        block_number: get_u64(1, "block_number")?,
        log_index: get_u64(2, "log_index")?,
        tx_hash: row.try_get(3)?,
        block_time: get_u64(4, "block_time")?,
    };
    let mut values = Vec::with_capacity(table.columns().len());
    for (i, (_, kind)) in table.columns().iter().enumerate() {
        let i = i + LOG_COLUMNS.len();
        values.push(match kind {
            Kind::Int => row.try_get::<Option<i64>, _>(i)?.map_or(Value::Null, Value::Int),
            Kind::Text => row.try_get::<Option<String>, _>(i)?.map_or(Value::Null, Value::Text),
        });
    }
    Ok(Row { position, table, values })
}

fn block_ref(row: &AnyRow) -> Result<BlockRef, StoreError> {
    let number: i64 = row.try_get(0)?;
    let hash: String = row.try_get(1)?;
    let parent_hash: String = row.try_get(2)?;
    let timestamp: i64 = row.try_get(3)?;
    Ok(BlockRef {
        number: u64::try_from(number).map_err(|_| StoreError::Malformed { column: "number" })?,
        hash: parse_hash(&hash)?,
        parent_hash: parse_hash(&parent_hash)?,
        timestamp: u64::try_from(timestamp)
            .map_err(|_| StoreError::Malformed { column: "timestamp" })?,
    })
}

fn parse_hash(hash: &str) -> Result<B256, StoreError> {
    B256::from_str(hash).map_err(|_| StoreError::Malformed { column: "hash" })
}

/// A block number, log index or chain id as the BIGINT it is stored as;
/// none of them comes near 2^63.
fn int(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

#[cfg(test)]
pub(crate) mod fixtures;
#[cfg(test)]
mod tests;
