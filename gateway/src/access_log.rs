//! The access log: one append-only, hash-chained row for every download the
//! gateway serves, anchored on chain at an interval.
//!
//! Each row holds who read, whose record, which record, when, on what basis
//! (the patient, a guardian, a category grant, a record grant or a
//! break-glass case) and the stated purpose, plus 16 random bytes of salt.
//! Its entry hash is `SHA-256(label || row)`, and the chain hash at row `n`
//! is `SHA-256(label || chain(n - 1) || entry(n))`, with `chain(0)` all
//! zeros. The relayer anchors `chain(n)` with `anchorAccessLog(n, chain(n))`.
//!
//! A patient's accounting of disclosures ([`Accounting`]) holds their rows
//! in full and, for every row in between, only its entry hash: the salt
//! makes those hashes say nothing about other patients' reads, yet they are
//! enough to recompute the chain up to each anchor and compare it with the
//! hash the chain holds ([`Accounting::verify`]). A row changed, dropped or
//! inserted after it was anchored no longer matches. Rows after the last
//! anchor are listed as not anchored yet.

use alloy::{
    primitives::{Address, B256, U256},
    sol_types::SolCall as _,
};
use medvault_core::bindings::MedVault;
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::{Row, SqlitePool, sqlite::SqliteRow};
use tokio::sync::Mutex;

use crate::{ApiError, relay::Relayer};

/// Domain separation of the entry hashes.
const ENTRY_LABEL: &[u8] = b"MedVault access log entry v1";
/// Domain separation of the chain hashes.
const CHAIN_LABEL: &[u8] = b"MedVault access log chain v1";
/// The longest purpose kept, in bytes.
pub const MAX_PURPOSE_LEN: usize = 64;

/// The tables (the gateway's second migration), created if missing.
const SCHEMA: &str = include_str!("../migrations/0002_pending_uploads_and_access_log.sql");

/// Why the access log could not be written, read or anchored.
#[derive(Debug, thiserror::Error)]
pub enum AccessLogError {
    /// SQLite failed.
    #[error("the access log store failed")]
    Store(#[from] sqlx::Error),
    /// The purpose is longer than [`MAX_PURPOSE_LEN`].
    #[error("the purpose is {len} bytes, more than {MAX_PURPOSE_LEN}")]
    PurposeTooLong {
        /// Its length.
        len: usize,
    },
    /// A stored row does not decode (a blob of the wrong length).
    #[error("access log row {sequence} is malformed")]
    Malformed {
        /// The row.
        sequence: i64,
    },
    /// The relayer could not send the anchor, or its receipt did not come.
    #[error("the anchor transaction failed: {0}")]
    Anchor(ApiError),
    /// The anchor transaction was mined but reverted.
    #[error("the anchor transaction {tx_hash} reverted")]
    Reverted {
        /// The transaction.
        tx_hash: B256,
    },
}

/// On what grounds a reader was let in, as `canRead` saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Basis {
    /// The patient reading their own record.
    Patient,
    /// A read guardian of the patient.
    Guardian,
    /// A live category grant.
    Grant,
    /// A live grant on this one record.
    RecordGrant,
    /// A live break-glass case.
    BreakGlass {
        /// The case.
        case_id: U256,
    },
}

impl Basis {
    fn code(self) -> (u8, U256) {
        match self {
            Self::Patient => (1, U256::ZERO),
            Self::Guardian => (2, U256::ZERO),
            Self::Grant => (3, U256::ZERO),
            Self::RecordGrant => (4, U256::ZERO),
            Self::BreakGlass { case_id } => (5, case_id),
        }
    }

    fn from_code(code: u8, case_id: U256) -> Option<Self> {
        Some(match code {
            1 => Self::Patient,
            2 => Self::Guardian,
            3 => Self::Grant,
            4 => Self::RecordGrant,
            5 => Self::BreakGlass { case_id },
            _ => return None,
        })
    }
}

/// One served download, as it is appended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Access {
    /// Who read.
    pub reader: Address,
    /// Whose record.
    pub patient: Address,
    /// Which record.
    pub record_id: U256,
    /// On what grounds.
    pub basis: Basis,
    /// The purpose the reader gave (a short code such as `treatment`).
    pub purpose: String,
}

/// A row of the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Its position, from 1.
    pub sequence: u64,
    /// When, in unix seconds.
    pub at: u64,
    /// What was read and by whom.
    #[serde(flatten)]
    pub access: Access,
    /// Random bytes that keep the entry hash from being guessed.
    pub salt: [u8; 16],
    /// The hash of this row.
    pub entry_hash: B256,
    /// The chain hash up to and including this row.
    pub chain_hash: B256,
}

impl Entry {
    /// The entry hash of this row's content.
    pub fn compute_entry_hash(&self) -> B256 {
        let (code, case_id) = self.access.basis.code();
        let mut hash = Sha256::new();
        hash.update(ENTRY_LABEL);
        hash.update(self.sequence.to_be_bytes());
        hash.update(self.at.to_be_bytes());
        hash.update(self.access.reader);
        hash.update(self.access.patient);
        hash.update(self.access.record_id.to_be_bytes::<32>());
        hash.update([code]);
        hash.update(case_id.to_be_bytes::<32>());
        hash.update((self.access.purpose.len() as u16).to_be_bytes());
        hash.update(self.access.purpose.as_bytes());
        hash.update(self.salt);
        B256::from(<[u8; 32]>::from(hash.finalize()))
    }
}

/// The chain hash that follows `previous` with `entry`.
pub fn chain_hash(previous: &B256, entry: &B256) -> B256 {
    let mut hash = Sha256::new();
    hash.update(CHAIN_LABEL);
    hash.update(previous);
    hash.update(entry);
    B256::from(<[u8; 32]>::from(hash.finalize()))
}

/// An anchor of the log on chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anchor {
    /// The last row it covers.
    pub sequence: u64,
    /// The chain hash at that row, as anchored.
    pub log_hash: B256,
    /// The `anchorAccessLog` transaction.
    pub tx_hash: B256,
    /// The block it landed in.
    pub block: u64,
}

/// One link of the chain: a row's position and entry hash, without its
/// content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// The row.
    pub sequence: u64,
    /// Its entry hash.
    pub entry_hash: B256,
}

/// A patient's accounting of disclosures, with what is needed to check it
/// against the anchors on chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accounting {
    /// Whose reads these are.
    pub patient: Address,
    /// The patient's rows, in order.
    pub entries: Vec<Entry>,
    /// The chain hash just before the first link.
    pub start_chain_hash: B256,
    /// Every row from the first of the patient's to the last row of the log,
    /// as entry hashes.
    pub links: Vec<Link>,
    /// The anchors that cover those links.
    pub anchors: Vec<Anchor>,
}

/// What [`Accounting::verify`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    /// The patient's rows covered by an anchor whose hash matches.
    pub anchored: usize,
    /// The patient's rows after the last anchor.
    pub unanchored: usize,
}

/// Why an accounting does not check out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// A row's content does not hash to its entry hash, or to the link at
    /// its position.
    #[error("row {sequence} does not match its entry hash")]
    Entry {
        /// The row.
        sequence: u64,
    },
    /// A row is someone else's.
    #[error("row {sequence} is not the patient's")]
    OtherPatient {
        /// The row.
        sequence: u64,
    },
    /// The links skip or repeat a position.
    #[error("the links are not consecutive at {sequence}")]
    Gap {
        /// The first position out of order.
        sequence: u64,
    },
    /// The chain recomputed up to an anchor differs from the anchored hash.
    #[error("the chain does not match the anchor at {sequence}")]
    Anchor {
        /// The anchor's sequence.
        sequence: u64,
    },
}

impl Accounting {
    /// Checks every row against its link and the chain recomputed from the
    /// links against every anchor (the caller compares the anchors with the
    /// chain's `AccessLogAnchored` events or `lastAnchorSequence`).
    pub fn verify(&self) -> Result<Verified, VerifyError> {
        let mut chain = self.start_chain_hash;
        let mut hashes = std::collections::HashMap::new();
        let mut expected = self.links.first().map(|link| link.sequence);
        for link in &self.links {
            if Some(link.sequence) != expected {
                return Err(VerifyError::Gap { sequence: link.sequence });
            }
            expected = Some(link.sequence + 1);
            chain = chain_hash(&chain, &link.entry_hash);
            hashes.insert(link.sequence, (link.entry_hash, chain));
        }
        for entry in &self.entries {
            if entry.access.patient != self.patient {
                return Err(VerifyError::OtherPatient { sequence: entry.sequence });
            }
            let computed = entry.compute_entry_hash();
            match hashes.get(&entry.sequence) {
                Some((link, _)) if *link == computed && entry.entry_hash == computed => {}
                _ => return Err(VerifyError::Entry { sequence: entry.sequence }),
            }
        }
        let mut last_anchored = 0;
        for anchor in &self.anchors {
            if let Some((_, chain)) = hashes.get(&anchor.sequence) {
                if *chain != anchor.log_hash {
                    return Err(VerifyError::Anchor { sequence: anchor.sequence });
                }
                last_anchored = last_anchored.max(anchor.sequence);
            }
        }
        let anchored = self.entries.iter().filter(|e| e.sequence <= last_anchored).count();
        Ok(Verified { anchored, unanchored: self.entries.len() - anchored })
    }
}

/// The access log in the gateway's SQLite database.
#[derive(Debug)]
pub struct AccessLog {
    pool: SqlitePool,
    /// The last row's sequence and chain hash, as this process last wrote
    /// or read them; `None` until read, and after a failed write. Appends
    /// take it one at a time. The log has one writer, the gateway that
    /// owns the database: a row written by anyone else makes the next
    /// append here fail on its sequence (never a second row with it), and
    /// the one after read the tail again.
    tail: Mutex<Option<(u64, B256)>>,
}

impl AccessLog {
    /// Opens the log in `pool`, creating its tables if missing.
    pub async fn open(pool: SqlitePool) -> Result<Self, AccessLogError> {
        sqlx::raw_sql(SCHEMA).execute(&pool).await?;
        Ok(Self { pool, tail: Mutex::new(None) })
    }

    /// The log in `pool`, already migrated ([`crate::store::open`]).
    pub fn new(pool: SqlitePool) -> Self {
        Self { pool, tail: Mutex::new(None) }
    }

    /// Appends a row for `access` at unix time `at` and returns it.
    pub async fn append(&self, access: Access, at: u64) -> Result<Entry, AccessLogError> {
        if access.purpose.len() > MAX_PURPOSE_LEN {
            return Err(AccessLogError::PurposeTooLong { len: access.purpose.len() });
        }
        let mut tail = self.tail.lock().await;
        let (sequence, previous) = match *tail {
            Some((sequence, chain_hash)) => (sequence + 1, chain_hash),
            None => match self.read_tail().await? {
                Some((sequence, chain_hash)) => (sequence + 1, chain_hash),
                None => (1, B256::ZERO),
            },
        };
        let mut salt = [0; 16];
        OsRng.fill_bytes(&mut salt);
        let mut entry =
            Entry { sequence, at, access, salt, entry_hash: B256::ZERO, chain_hash: B256::ZERO };
        entry.entry_hash = entry.compute_entry_hash();
        entry.chain_hash = chain_hash(&previous, &entry.entry_hash);
        let (code, case_id) = entry.access.basis.code();
        let inserted = sqlx::query(
            "INSERT INTO access_log (sequence, at, reader, patient, record_id, basis, case_id, \
             purpose, salt, entry_hash, chain_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(entry.sequence as i64)
        .bind(entry.at as i64)
        .bind(entry.access.reader.as_slice())
        .bind(entry.access.patient.as_slice())
        .bind(entry.access.record_id.to_be_bytes::<32>().to_vec())
        .bind(i64::from(code))
        .bind(case_id.to_be_bytes::<32>().to_vec())
        .bind(&entry.access.purpose)
        .bind(entry.salt.as_slice())
        .bind(entry.entry_hash.as_slice())
        .bind(entry.chain_hash.as_slice())
        .execute(&self.pool)
        .await;
        *tail = inserted.is_ok().then_some((entry.sequence, entry.chain_hash));
        inserted?;
        Ok(entry)
    }

    /// The last row's sequence and chain hash, read from the database.
    async fn read_tail(&self) -> Result<Option<(u64, B256)>, AccessLogError> {
        let last = sqlx::query(
            "SELECT sequence, chain_hash FROM access_log ORDER BY sequence DESC LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        last.map(|row| {
            let sequence: i64 = row.try_get(0)?;
            Ok((sequence as u64, b256(&row, 1, sequence)?))
        })
        .transpose()
    }

    /// The last row, if any.
    pub async fn last(&self) -> Result<Option<Entry>, AccessLogError> {
        let row = sqlx::query("SELECT * FROM access_log ORDER BY sequence DESC LIMIT 1")
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| decode_entry(&row)).transpose()
    }

    /// Every row, in order (for tests and audits of the whole log).
    pub async fn entries(&self) -> Result<Vec<Entry>, AccessLogError> {
        let rows =
            sqlx::query("SELECT * FROM access_log ORDER BY sequence").fetch_all(&self.pool).await?;
        rows.iter().map(decode_entry).collect()
    }

    /// The anchors made so far, in order.
    pub async fn anchors(&self) -> Result<Vec<Anchor>, AccessLogError> {
        let rows = sqlx::query(
            "SELECT sequence, log_hash, tx_hash, block FROM access_log_anchor ORDER BY sequence",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let sequence: i64 = row.try_get(0)?;
                Ok(Anchor {
                    sequence: sequence as u64,
                    log_hash: b256(row, 1, sequence)?,
                    tx_hash: b256(row, 2, sequence)?,
                    block: row.try_get::<i64, _>(3)? as u64,
                })
            })
            .collect()
    }

    /// `patient`'s accounting of disclosures.
    pub async fn accounting(&self, patient: Address) -> Result<Accounting, AccessLogError> {
        let rows = sqlx::query("SELECT * FROM access_log WHERE patient = ? ORDER BY sequence")
            .bind(patient.as_slice())
            .fetch_all(&self.pool)
            .await?;
        let entries = rows.iter().map(decode_entry).collect::<Result<Vec<_>, _>>()?;
        let Some(first) = entries.first().map(|entry| entry.sequence) else {
            return Ok(Accounting {
                patient,
                entries,
                start_chain_hash: B256::ZERO,
                links: Vec::new(),
                anchors: Vec::new(),
            });
        };
        let start_chain_hash =
            match sqlx::query("SELECT sequence, chain_hash FROM access_log WHERE sequence = ?")
                .bind(first as i64 - 1)
                .fetch_optional(&self.pool)
                .await?
            {
                Some(row) => b256(&row, 1, first as i64 - 1)?,
                None => B256::ZERO,
            };
        let rows = sqlx::query(
            "SELECT sequence, entry_hash FROM access_log WHERE sequence >= ? ORDER BY sequence",
        )
        .bind(first as i64)
        .fetch_all(&self.pool)
        .await?;
        let links = rows
            .iter()
            .map(|row| {
                let sequence: i64 = row.try_get(0)?;
                Ok(Link { sequence: sequence as u64, entry_hash: b256(row, 1, sequence)? })
            })
            .collect::<Result<Vec<_>, AccessLogError>>()?;
        let anchors =
            self.anchors().await?.into_iter().filter(|anchor| anchor.sequence >= first).collect();
        Ok(Accounting { patient, entries, start_chain_hash, links, anchors })
    }

    /// Anchors the log up to its last row on `vault`, sent by `relayer`
    /// (which the contract must know as a relayer), unless that row is
    /// anchored already; returns the new anchor.
    pub async fn anchor(
        &self,
        relayer: &Relayer,
        vault: Address,
    ) -> Result<Option<Anchor>, AccessLogError> {
        let Some(last) = self.last().await? else { return Ok(None) };
        let anchored = sqlx::query("SELECT MAX(sequence) FROM access_log_anchor")
            .fetch_one(&self.pool)
            .await?
            .try_get::<Option<i64>, _>(0)?
            .unwrap_or(0) as u64;
        if last.sequence <= anchored {
            return Ok(None);
        }
        let call =
            MedVault::anchorAccessLogCall { sequence: last.sequence, logHash: last.chain_hash };
        let tx_hash = relayer
            .submit(vault, call.abi_encode().into(), |_| async { Ok(()) })
            .await
            .map_err(AccessLogError::Anchor)?;
        let receipt = relayer.wait_for_receipt(tx_hash).await.map_err(AccessLogError::Anchor)?;
        if !receipt.status() {
            return Err(AccessLogError::Reverted { tx_hash });
        }
        let anchor = Anchor {
            sequence: last.sequence,
            log_hash: last.chain_hash,
            tx_hash: receipt.transaction_hash,
            block: receipt.block_number.unwrap_or_default(),
        };
        sqlx::query(
            "INSERT INTO access_log_anchor (sequence, log_hash, tx_hash, block) VALUES (?, ?, ?, ?)",
        )
        .bind(anchor.sequence as i64)
        .bind(anchor.log_hash.as_slice())
        .bind(anchor.tx_hash.as_slice())
        .bind(anchor.block as i64)
        .execute(&self.pool)
        .await?;
        tracing::info!(sequence = anchor.sequence, block = anchor.block, "access log anchored");
        Ok(Some(anchor))
    }
}

fn b256(row: &SqliteRow, index: usize, sequence: i64) -> Result<B256, AccessLogError> {
    let bytes: Vec<u8> = row.try_get(index)?;
    B256::try_from(bytes.as_slice()).map_err(|_| AccessLogError::Malformed { sequence })
}

fn decode_entry(row: &SqliteRow) -> Result<Entry, AccessLogError> {
    let sequence: i64 = row.try_get("sequence")?;
    let malformed = || AccessLogError::Malformed { sequence };
    let address = |name: &str| -> Result<Address, AccessLogError> {
        let bytes: Vec<u8> = row.try_get(name)?;
        Address::try_from(bytes.as_slice()).map_err(|_| malformed())
    };
    let word = |name: &str| -> Result<U256, AccessLogError> {
        let bytes: Vec<u8> = row.try_get(name)?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| malformed())?;
        Ok(U256::from_be_bytes(bytes))
    };
    let hash = |name: &str| -> Result<B256, AccessLogError> {
        let bytes: Vec<u8> = row.try_get(name)?;
        B256::try_from(bytes.as_slice()).map_err(|_| malformed())
    };
    let code: i64 = row.try_get("basis")?;
    let basis = u8::try_from(code)
        .ok()
        .and_then(|code| Basis::from_code(code, U256::ZERO))
        .ok_or_else(malformed)?;
    let basis = match basis {
        Basis::BreakGlass { .. } => Basis::BreakGlass { case_id: word("case_id")? },
        other => other,
    };
    let salt: Vec<u8> = row.try_get("salt")?;
    Ok(Entry {
        sequence: sequence as u64,
        at: row.try_get::<i64, _>("at")? as u64,
        access: Access {
            reader: address("reader")?,
            patient: address("patient")?,
            record_id: word("record_id")?,
            basis,
            purpose: row.try_get("purpose")?,
        },
        salt: salt.try_into().map_err(|_| malformed())?,
        entry_hash: hash("entry_hash")?,
        chain_hash: hash("chain_hash")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn log() -> AccessLog {
        let pool = SqlitePool::connect("sqlite::memory:").await.unwrap();
        AccessLog::open(pool).await.unwrap()
    }

    fn access(patient: u8, record: u64) -> Access {
        Access {
            reader: Address::repeat_byte(0xdd),
            patient: Address::repeat_byte(patient),
            record_id: U256::from(record),
            basis: if record.is_multiple_of(2) {
                Basis::Grant
            } else {
                Basis::BreakGlass { case_id: U256::from(7) }
            },
            purpose: "treatment".into(),
        }
    }

    /// An anchor as the chain would hold it, without a chain.
    async fn fake_anchor(log: &AccessLog) -> Anchor {
        let last = log.last().await.unwrap().unwrap();
        let anchor = Anchor {
            sequence: last.sequence,
            log_hash: last.chain_hash,
            tx_hash: B256::repeat_byte(1),
            block: 1,
        };
        sqlx::query("INSERT INTO access_log_anchor VALUES (?, ?, ?, ?)")
            .bind(anchor.sequence as i64)
            .bind(anchor.log_hash.as_slice())
            .bind(anchor.tx_hash.as_slice())
            .bind(1_i64)
            .execute(&log.pool)
            .await
            .unwrap();
        anchor
    }

    #[tokio::test]
    async fn rows_chain_from_zero_and_decode_as_written() {
        let log = log().await;
        let first = log.append(access(1, 10), 100).await.unwrap();
        let second = log.append(access(2, 11), 101).await.unwrap();
        assert_eq!((first.sequence, second.sequence), (1, 2));
        assert_eq!(first.chain_hash, chain_hash(&B256::ZERO, &first.entry_hash));
        assert_eq!(second.chain_hash, chain_hash(&first.chain_hash, &second.entry_hash));
        assert_eq!(log.entries().await.unwrap(), vec![first, second]);
    }

    #[tokio::test]
    async fn an_accounting_verifies_against_its_anchor_and_shows_only_the_patients_rows() {
        let log = log().await;
        log.append(access(2, 1), 1).await.unwrap();
        log.append(access(1, 2), 2).await.unwrap();
        log.append(access(2, 3), 3).await.unwrap();
        log.append(access(1, 4), 4).await.unwrap();
        fake_anchor(&log).await;
        log.append(access(1, 6), 5).await.unwrap();

        let accounting = log.accounting(Address::repeat_byte(1)).await.unwrap();
        assert_eq!(accounting.entries.len(), 3);
        assert!(accounting.entries.iter().all(|e| e.access.patient == Address::repeat_byte(1)));
        assert_eq!(accounting.links.len(), 4, "rows 2 to 5");
        assert_eq!(accounting.verify(), Ok(Verified { anchored: 2, unanchored: 1 }));

        // A row changed after the anchor no longer verifies.
        let mut changed = accounting.clone();
        changed.entries[0].access.purpose = "research".into();
        assert_eq!(changed.verify(), Err(VerifyError::Entry { sequence: 2 }));
        // Nor does a log rewritten with consistent hashes: the anchor catches it.
        let mut rewritten = accounting.clone();
        rewritten.entries.remove(0);
        rewritten.links[0].entry_hash = B256::repeat_byte(9);
        assert_eq!(rewritten.verify(), Err(VerifyError::Anchor { sequence: 4 }));
        // Nor a dropped link.
        let mut dropped = accounting;
        dropped.links.remove(1);
        assert_eq!(dropped.verify(), Err(VerifyError::Gap { sequence: 4 }));
    }

    #[tokio::test]
    async fn a_patient_with_no_reads_gets_an_empty_accounting() {
        let log = log().await;
        log.append(access(2, 1), 1).await.unwrap();
        let accounting = log.accounting(Address::repeat_byte(1)).await.unwrap();
        assert!(accounting.entries.is_empty() && accounting.links.is_empty());
        assert_eq!(accounting.verify(), Ok(Verified { anchored: 0, unanchored: 0 }));
    }

    #[tokio::test]
    async fn the_chain_goes_on_from_the_last_row_written() {
        let pool = SqlitePool::connect("sqlite::memory:").await.unwrap();
        let first = AccessLog::open(pool.clone()).await.unwrap();
        first.append(access(1, 2), 1).await.unwrap();
        // A log opened later (a restart) chains from the row before it.
        let second = AccessLog::new(pool).append(access(1, 4), 2).await.unwrap();
        assert_eq!(second.sequence, 2);
        // The first log's remembered tail is stale now: its next append
        // fails on the sequence and writes nothing, and the one after reads
        // the tail again.
        assert!(first.append(access(1, 6), 3).await.is_err());
        assert_eq!(first.entries().await.unwrap().len(), 2);
        let third = first.append(access(1, 8), 4).await.unwrap();
        assert_eq!(third.sequence, 3);
        assert_eq!(third.chain_hash, chain_hash(&second.chain_hash, &third.entry_hash));
    }

    #[tokio::test]
    async fn a_long_purpose_is_refused() {
        let log = log().await;
        let mut long = access(1, 1);
        long.purpose = "x".repeat(MAX_PURPOSE_LEN + 1);
        assert!(matches!(log.append(long, 1).await, Err(AccessLogError::PurposeTooLong { .. })));
    }
}
