//! Uploads whose bytes are in Kubo but whose record is not on chain yet.
//!
//! An upload goes `stored` (pinned in Kubo, the header fields and envelopes
//! kept here, waiting for the author's signature) → `sent` (the add-record
//! transaction is out; its hash is kept before the receipt is awaited) →
//! `committed` (the record id is known). Everything is in SQLite, so a
//! restart loses nothing: a retry finds the upload by its idempotency key
//! and carries on from where it stopped instead of adding a second copy.
//!
//! The sweeper ([`Pending::sweep`]) unpins the CIDs of uploads still
//! `stored` after a time limit (the author never signed, or the
//! transaction failed) and marks them `swept`, so no pin outlives its
//! chance of getting a record.

use std::time::Duration;

use alloy::primitives::{Address, B256, Bytes, U256};
use serde::{Deserialize, Serialize};
use sqlx::{Row, SqlitePool, sqlite::SqliteRow};

use crate::ipfs::{Ipfs, IpfsError};

/// The table (the gateway's second migration), created if missing.
const SCHEMA: &str = include_str!("../migrations/0002_pending_uploads_and_access_log.sql");

/// Why the pending-upload store failed.
#[derive(Debug, thiserror::Error)]
pub enum PendingError {
    /// SQLite failed.
    #[error("the pending-upload store failed")]
    Store(#[from] sqlx::Error),
    /// A stored row does not decode.
    #[error("pending upload {id} is malformed")]
    Malformed {
        /// The upload.
        id: String,
    },
    /// Kubo could not unpin a swept upload.
    #[error("kubo could not unpin a swept upload")]
    Ipfs(#[from] IpfsError),
}

/// Where an upload stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    /// In Kubo and pinned; waiting for the signed add-record.
    Stored,
    /// The add-record transaction was sent.
    Sent,
    /// The record is on chain.
    Committed,
    /// Never committed; unpinned by the sweeper.
    Swept,
}

impl State {
    fn as_str(self) -> &'static str {
        match self {
            Self::Stored => "stored",
            Self::Sent => "sent",
            Self::Committed => "committed",
            Self::Swept => "swept",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "stored" => Self::Stored,
            "sent" => Self::Sent,
            "committed" => Self::Committed,
            "swept" => Self::Swept,
            _ => return None,
        })
    }
}

/// An upload and what its record will say on chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Upload {
    /// The gateway's id for it (random, hex).
    pub id: String,
    /// The client's idempotency key, if it sent one.
    pub idempotency_key: Option<String>,
    /// Who signs the add-record.
    pub author: Address,
    /// Whose record.
    pub patient: Address,
    /// Its category.
    pub category: u8,
    /// The category key epoch of `wrapped_key`.
    pub epoch: u32,
    /// The data key wrapped under the category key (empty when envelopes
    /// carry it).
    pub wrapped_key: Bytes,
    /// The record it amends, or 0.
    pub amends: U256,
    /// Record-level envelopes of the data key.
    pub envelopes: Vec<(Address, Bytes)>,
    /// The CID (text) in Kubo.
    pub cid: String,
    /// The SHA-256 of the record.
    pub sha256: B256,
    /// The record's length in bytes.
    pub size: u64,
    /// When it was stored, unix seconds.
    pub created_at: u64,
    /// Where it stands.
    pub state: State,
    /// The add-record transaction, once sent.
    pub tx_hash: Option<B256>,
    /// The record's id, once committed.
    pub record_id: Option<U256>,
}

/// The pending uploads in the gateway's SQLite database.
#[derive(Debug, Clone)]
pub struct Pending {
    pool: SqlitePool,
}

impl Pending {
    /// Opens the store in `pool`, creating its table if missing.
    pub async fn open(pool: SqlitePool) -> Result<Self, PendingError> {
        sqlx::raw_sql(SCHEMA).execute(&pool).await?;
        Ok(Self { pool })
    }

    /// The store in `pool`, already migrated ([`crate::store::open`]).
    pub fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }

    /// Records a stored upload. If one with the same idempotency key is
    /// there already, that one is kept and returned instead (the caller
    /// unpins what it just added if the CIDs differ).
    pub async fn insert(&self, upload: &Upload) -> Result<Upload, PendingError> {
        let envelopes = serde_json::to_string(&upload.envelopes)
            .map_err(|_| PendingError::Malformed { id: upload.id.clone() })?;
        let inserted = sqlx::query(
            "INSERT INTO pending_upload (id, idempotency_key, author, patient, category, epoch, \
             wrapped_key, amends, envelopes, cid, sha256, size, created_at, state) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (idempotency_key) DO NOTHING",
        )
        .bind(&upload.id)
        .bind(&upload.idempotency_key)
        .bind(upload.author.as_slice())
        .bind(upload.patient.as_slice())
        .bind(i64::from(upload.category))
        .bind(i64::from(upload.epoch))
        .bind(upload.wrapped_key.to_vec())
        .bind(upload.amends.to_be_bytes::<32>().to_vec())
        .bind(envelopes)
        .bind(&upload.cid)
        .bind(upload.sha256.as_slice())
        .bind(upload.size as i64)
        .bind(upload.created_at as i64)
        .bind(State::Stored.as_str())
        .execute(&self.pool)
        .await?;
        if inserted.rows_affected() == 1 {
            return Ok(upload.clone());
        }
        match &upload.idempotency_key {
            Some(key) => self.by_idempotency_key(key).await?,
            None => None,
        }
        .ok_or_else(|| PendingError::Malformed { id: upload.id.clone() })
    }

    /// The upload with this id.
    pub async fn get(&self, id: &str) -> Result<Option<Upload>, PendingError> {
        let row = sqlx::query("SELECT * FROM pending_upload WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| decode(&row)).transpose()
    }

    /// The upload made with this idempotency key.
    pub async fn by_idempotency_key(&self, key: &str) -> Result<Option<Upload>, PendingError> {
        let row = sqlx::query("SELECT * FROM pending_upload WHERE idempotency_key = ?")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| decode(&row)).transpose()
    }

    /// Notes that the add-record transaction `tx_hash` was sent.
    pub async fn mark_sent(&self, id: &str, tx_hash: B256) -> Result<(), PendingError> {
        sqlx::query("UPDATE pending_upload SET state = ?, tx_hash = ? WHERE id = ?")
            .bind(State::Sent.as_str())
            .bind(tx_hash.as_slice())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Notes that the transaction failed before it landed: the upload waits
    /// for another signature, or for the sweeper.
    pub async fn mark_stored(&self, id: &str) -> Result<(), PendingError> {
        sqlx::query("UPDATE pending_upload SET state = ?, tx_hash = NULL WHERE id = ?")
            .bind(State::Stored.as_str())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Notes that the record `record_id` is on chain.
    pub async fn mark_committed(&self, id: &str, record_id: U256) -> Result<(), PendingError> {
        sqlx::query("UPDATE pending_upload SET state = ?, record_id = ? WHERE id = ?")
            .bind(State::Committed.as_str())
            .bind(record_id.to_be_bytes::<32>().to_vec())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The committed upload of record `record_id`, if this gateway made it.
    pub async fn by_record(&self, record_id: U256) -> Result<Option<Upload>, PendingError> {
        let row = sqlx::query("SELECT * FROM pending_upload WHERE record_id = ?")
            .bind(record_id.to_be_bytes::<32>().to_vec())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| decode(&row)).transpose()
    }

    /// Unpins the CID of every upload still `stored` that was made before
    /// `now - limit`, unless another upload of the same CID was committed,
    /// and marks it `swept`. Returns the swept uploads' ids.
    pub async fn sweep(
        &self,
        ipfs: &Ipfs,
        now: u64,
        limit: Duration,
    ) -> Result<Vec<String>, PendingError> {
        let cutoff = now.saturating_sub(limit.as_secs()) as i64;
        let rows = sqlx::query("SELECT * FROM pending_upload WHERE state = ? AND created_at < ?")
            .bind(State::Stored.as_str())
            .bind(cutoff)
            .fetch_all(&self.pool)
            .await?;
        let mut swept = Vec::new();
        for row in &rows {
            let upload = decode(row)?;
            let live: i64 = sqlx::query(
                "SELECT COUNT(*) FROM pending_upload WHERE cid = ? AND state IN (?, ?) AND id != ?",
            )
            .bind(&upload.cid)
            .bind(State::Committed.as_str())
            .bind(State::Sent.as_str())
            .bind(&upload.id)
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
            if live == 0 {
                ipfs.unpin(&upload.cid).await?;
            }
            sqlx::query("UPDATE pending_upload SET state = ? WHERE id = ? AND state = ?")
                .bind(State::Swept.as_str())
                .bind(&upload.id)
                .bind(State::Stored.as_str())
                .execute(&self.pool)
                .await?;
            tracing::info!(upload = %upload.id, "unpinned an upload that never got a record");
            swept.push(upload.id);
        }
        Ok(swept)
    }
}

fn decode(row: &SqliteRow) -> Result<Upload, PendingError> {
    let id: String = row.try_get("id")?;
    let malformed = || PendingError::Malformed { id: id.clone() };
    let address = |name: &str| -> Result<Address, PendingError> {
        let bytes: Vec<u8> = row.try_get(name)?;
        Address::try_from(bytes.as_slice()).map_err(|_| malformed())
    };
    let word = |bytes: Vec<u8>| -> Result<U256, PendingError> {
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| malformed())?;
        Ok(U256::from_be_bytes(bytes))
    };
    let sha256: Vec<u8> = row.try_get("sha256")?;
    let tx_hash: Option<Vec<u8>> = row.try_get("tx_hash")?;
    let record_id: Option<Vec<u8>> = row.try_get("record_id")?;
    let envelopes: String = row.try_get("envelopes")?;
    let state: String = row.try_get("state")?;
    Ok(Upload {
        idempotency_key: row.try_get("idempotency_key")?,
        author: address("author")?,
        patient: address("patient")?,
        category: u8::try_from(row.try_get::<i64, _>("category")?).map_err(|_| malformed())?,
        epoch: u32::try_from(row.try_get::<i64, _>("epoch")?).map_err(|_| malformed())?,
        wrapped_key: Bytes::from(row.try_get::<Vec<u8>, _>("wrapped_key")?),
        amends: word(row.try_get("amends")?)?,
        envelopes: serde_json::from_str(&envelopes).map_err(|_| malformed())?,
        cid: row.try_get("cid")?,
        sha256: B256::try_from(sha256.as_slice()).map_err(|_| malformed())?,
        size: row.try_get::<i64, _>("size")? as u64,
        created_at: row.try_get::<i64, _>("created_at")? as u64,
        state: State::parse(&state).ok_or_else(malformed)?,
        tx_hash: tx_hash
            .map(|bytes| B256::try_from(bytes.as_slice()).map_err(|_| malformed()))
            .transpose()?,
        record_id: record_id.map(word).transpose()?,
        id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upload(id: &str, key: Option<&str>, created_at: u64) -> Upload {
        Upload {
            id: id.into(),
            idempotency_key: key.map(Into::into),
            author: Address::repeat_byte(1),
            patient: Address::repeat_byte(2),
            category: 3,
            epoch: 0,
            wrapped_key: Bytes::new(),
            amends: U256::ZERO,
            envelopes: vec![(Address::repeat_byte(2), Bytes::from_static(&[7; 129]))],
            cid: format!("bafk{id}"),
            sha256: B256::repeat_byte(9),
            size: 33,
            created_at,
            state: State::Stored,
            tx_hash: None,
            record_id: None,
        }
    }

    async fn store() -> Pending {
        Pending::open(SqlitePool::connect("sqlite::memory:").await.unwrap()).await.unwrap()
    }

    #[tokio::test]
    async fn an_upload_goes_through_its_states_and_decodes_as_written() {
        let pending = store().await;
        let first = upload("a", Some("key-1"), 10);
        assert_eq!(pending.insert(&first).await.unwrap(), first);
        assert_eq!(pending.get("a").await.unwrap().as_ref(), Some(&first));

        pending.mark_sent("a", B256::repeat_byte(4)).await.unwrap();
        let sent = pending.get("a").await.unwrap().unwrap();
        assert_eq!((sent.state, sent.tx_hash), (State::Sent, Some(B256::repeat_byte(4))));

        pending.mark_committed("a", U256::from(5)).await.unwrap();
        let committed = pending.by_record(U256::from(5)).await.unwrap().unwrap();
        assert_eq!(committed.state, State::Committed);
        assert_eq!(committed.id, "a");
    }

    #[tokio::test]
    async fn a_second_upload_with_the_same_key_returns_the_first() {
        let pending = store().await;
        let first = upload("a", Some("key-1"), 10);
        pending.insert(&first).await.unwrap();
        let again = pending.insert(&upload("b", Some("key-1"), 11)).await.unwrap();
        assert_eq!(again, first);
        assert_eq!(pending.get("b").await.unwrap(), None);
        // Uploads without a key never collide.
        pending.insert(&upload("c", None, 12)).await.unwrap();
        pending.insert(&upload("d", None, 12)).await.unwrap();
        assert!(pending.get("d").await.unwrap().is_some());
    }
}
