//! Downloads: a record's ciphertext and the caller's key envelopes, only
//! after the chain says the caller may read it.
//!
//! The record's header comes from its `RecordAdded` event (an unknown id is
//! a 404); the permission is `readBasis(record, caller)` (`canRead`, naming
//! the grounds the access log records) on the chain's live state at the
//! moment of the request (strangers, revoked and expired grantees and staff
//! of a suspended organisation get a 403). The caller's
//! envelopes are the record-level ones sealed to them and the category keys
//! of the record's category sealed to them, with the rotation chain, so a
//! client's `KeyRing` finds the data key. The ciphertext streams from Kubo;
//! the gateway never decrypts. Each served download appends a row to the
//! access log before the first byte leaves.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use alloy::{
    primitives::{Address, B256, Bytes, U256},
    providers::Provider,
};
use bytes::Bytes as Chunk;
use futures_util::Stream;
use medvault_core::bindings::{MedVault, vault::IMedVault};
use serde::{Deserialize, Serialize};

use crate::{
    access_log::{Access, AccessLog, AccessLogError, Basis},
    ipfs::{Ipfs, IpfsError, cid_to_string},
    upload::now,
};

/// Why a download was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    /// No record has this id.
    #[error("no record {record_id}")]
    UnknownRecord {
        /// The id asked for.
        record_id: U256,
    },
    /// The chain says the caller may not read the record.
    #[error("the caller may not read record {record_id}")]
    Forbidden {
        /// The record.
        record_id: U256,
    },
    /// The chain could not be read.
    #[error("the chain could not be read")]
    Chain(#[source] alloy::contract::Error),
    /// Kubo failed.
    #[error(transparent)]
    Ipfs(#[from] IpfsError),
    /// The access log could not be written, so nothing is served.
    #[error(transparent)]
    AccessLog(#[from] AccessLogError),
}

/// A category key sealed to the caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CategoryEnvelope {
    /// The key's epoch.
    pub epoch: u32,
    /// The ECIES envelope.
    pub sealed_key: Bytes,
}

/// A rotation of the record's category: the previous key sealed under the
/// key of `epoch`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rotation {
    /// The new epoch.
    pub epoch: u32,
    /// The key of `epoch - 1` wrapped under the key of `epoch`.
    pub sealed_previous_key: Bytes,
}

/// What a reader gets besides the ciphertext.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// The record.
    pub record_id: U256,
    /// Whose it is.
    pub patient: Address,
    /// Its category.
    pub category: u8,
    /// Its CID in Kubo.
    pub cid: String,
    /// The SHA-256 of the record, to check after decryption.
    pub sha256: B256,
    /// The data key wrapped under the category key (may be empty).
    pub wrapped_key: Bytes,
    /// The epoch `wrapped_key` was made under.
    pub epoch: u32,
    /// Record-level envelopes of the data key sealed to the caller.
    pub record_envelopes: Vec<Bytes>,
    /// Category keys of the record's category sealed to the caller.
    pub category_envelopes: Vec<CategoryEnvelope>,
    /// The category's rotations.
    pub rotations: Vec<Rotation>,
    /// On what grounds the chain let the caller in.
    pub basis: Basis,
}

/// The most record headers [`Headers`] keeps; past it, it starts over.
const HEADERS_KEPT: usize = 4_096;

/// The headers of records seen lately (the `RecordInput` of their
/// `RecordAdded`), so that a download of one gathers the rest of the grant
/// (which depends on the record's patient and category) in the same round
/// of chain reads as `canRead`, instead of after it.
///
/// A record's header never changes once mined, but a reorg may drop or
/// replace it: a header found here is only a guess, checked against the
/// `RecordAdded` read in that same round, and a wrong guess costs a second
/// round, never a wrong answer.
#[derive(Debug, Clone, Default)]
pub struct Headers(Arc<Mutex<HashMap<U256, IMedVault::RecordInput>>>);

impl Headers {
    /// The header last seen for `record_id`.
    pub fn get(&self, record_id: U256) -> Option<IMedVault::RecordInput> {
        self.lock().get(&record_id).cloned()
    }

    /// Notes `record` as the header of `record_id`.
    pub fn insert(&self, record_id: U256, record: IMedVault::RecordInput) {
        let mut headers = self.lock();
        if headers.len() >= HEADERS_KEPT && !headers.contains_key(&record_id) {
            headers.clear();
        }
        headers.insert(record_id, record);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<U256, IMedVault::RecordInput>> {
        // The map is left whole whatever panics: a poisoned lock is as good.
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Where downloads read the chain.
#[derive(Debug, Clone, Copy)]
pub struct Reader<'a, P> {
    /// MedVault.
    pub vault: &'a MedVault::MedVaultInstance<P>,
    /// The block MedVault was deployed in, where event scans start.
    pub from_block: u64,
    /// The record headers seen lately.
    pub headers: &'a Headers,
}

/// Checks that `caller` may read `record_id` and gathers their envelopes.
pub async fn authorise<P: Provider>(
    reader: Reader<'_, P>,
    caller: Address,
    record_id: U256,
) -> Result<Grant, DownloadError> {
    let (grant, ()) = gather(reader, caller, record_id, |_| ()).await?;
    Ok(grant)
}

/// [`authorise`], with `read(cid)` started on the record's CID (Kubo's
/// read) before the grant is complete, and returned beside it.
///
/// With the record's header in `headers`, `read` starts at once and the
/// rest of the grant is read beside `canRead`; if the chain's `RecordAdded`
/// then disagrees with the header, that read is dropped, and the read and
/// the rest start over from the header the chain gave. Otherwise `read`
/// starts once `canRead` has said yes, while the rest is read. Either way
/// the caller gets what `read` returned only with a grant: on a refusal it
/// is dropped.
async fn gather<P: Provider, T>(
    Reader { vault, from_block, headers }: Reader<'_, P>,
    caller: Address,
    record_id: U256,
    read: impl Fn(String) -> T,
) -> Result<(Grant, T), DownloadError> {
    let Some(guess) = headers.get(record_id) else {
        let permitted = permit(vault, from_block, caller, record_id).await?;
        let early = read(cid_to_string(&permitted.record.cid));
        headers.insert(record_id, permitted.record.clone());
        let rest = rest(vault, from_block, caller, &permitted.record).await?;
        return Ok((permitted.into_grant(rest), early));
    };
    let early = read(cid_to_string(&guess.cid));
    let (permitted, rest_of_guess) = tokio::join!(
        permit(vault, from_block, caller, record_id),
        rest(vault, from_block, caller, &guess),
    );
    let permitted = permitted?;
    if permitted.record == guess {
        return Ok((permitted.into_grant(rest_of_guess?), early));
    }
    drop(early);
    headers.insert(record_id, permitted.record.clone());
    let early = read(cid_to_string(&permitted.record.cid));
    let rest = rest(vault, from_block, caller, &permitted.record).await?;
    Ok((permitted.into_grant(rest), early))
}

/// A record `canRead` lets its caller read, before the rest of the
/// [`Grant`] is gathered.
#[derive(Debug)]
struct Permitted {
    record_id: U256,
    record: IMedVault::RecordInput,
    record_envelopes: Vec<Bytes>,
    basis: Basis,
}

impl Permitted {
    /// The grant, with `rest`.
    fn into_grant(self, rest: Rest) -> Grant {
        let Self { record_id, record, record_envelopes, basis } = self;
        Grant {
            record_id,
            patient: record.patient,
            category: record.category,
            cid: cid_to_string(&record.cid),
            sha256: record.ciphertextHash,
            wrapped_key: record.wrappedKey,
            epoch: record.epoch,
            record_envelopes,
            category_envelopes: rest.category_envelopes,
            rotations: rest.rotations,
            basis,
        }
    }
}

/// The part of a [`Grant`] that depends on the record's header: the
/// category's envelopes to the caller and its rotations.
#[derive(Debug)]
struct Rest {
    category_envelopes: Vec<CategoryEnvelope>,
    rotations: Vec<Rotation>,
}

/// Reads the [`Rest`] of `caller`'s grant to `record_id`, whose header is
/// `record`.
async fn rest<P: Provider>(
    vault: &MedVault::MedVaultInstance<P>,
    from_block: u64,
    caller: Address,
    record: &IMedVault::RecordInput,
) -> Result<Rest, DownloadError> {
    let category_envelopes = vault
        .CategoryKeyPublished_filter()
        .topic1(record.patient.into_word())
        .topic2(caller.into_word())
        .topic3(B256::from(U256::from(record.category)))
        .from_block(from_block);
    let rotations = vault
        .CategoryKeyRotated_filter()
        .topic1(record.patient.into_word())
        .topic2(B256::from(U256::from(record.category)))
        .from_block(from_block);
    let (category_envelopes, rotations) =
        tokio::join!(category_envelopes.query(), rotations.query());
    let category_envelopes = category_envelopes
        .map_err(DownloadError::Chain)?
        .into_iter()
        .map(|(event, _)| CategoryEnvelope { epoch: event.epoch, sealed_key: event.sealedKey })
        .collect();
    let rotations = rotations
        .map_err(DownloadError::Chain)?
        .into_iter()
        .map(|(event, _)| Rotation {
            epoch: event.epoch,
            sealed_previous_key: event.sealedPreviousKey,
        })
        .collect();
    Ok(Rest { category_envelopes, rotations })
}

/// `IMedVault.ReadBasis`, as `readBasis` returns it; `None` (0), and any
/// value this build does not know, is a refusal.
mod read_basis {
    pub(super) const PATIENT: u8 = 1;
    pub(super) const GUARDIAN: u8 = 2;
    pub(super) const CATEGORY_GRANT: u8 = 3;
    pub(super) const EMERGENCY: u8 = 4;
    pub(super) const RECORD_GRANT: u8 = 5;
}

/// Finds `record_id` and asks `readBasis(record_id, caller)` (`canRead`
/// with its grounds), with the record-level envelopes sealed to `caller`,
/// all at once. Nothing is returned unless the chain names grounds.
async fn permit<P: Provider>(
    vault: &MedVault::MedVaultInstance<P>,
    from_block: u64,
    caller: Address,
    record_id: U256,
) -> Result<Permitted, DownloadError> {
    let added = vault.RecordAdded_filter().topic1(B256::from(record_id)).from_block(from_block);
    let read_basis = vault.readBasis(record_id, caller);
    let record_envelopes = vault
        .RecordKeyPublished_filter()
        .topic1(B256::from(record_id))
        .topic2(caller.into_word())
        .from_block(from_block);
    let (added, read_basis, record_envelopes) =
        tokio::join!(added.query(), read_basis.call(), record_envelopes.query());
    let Some((event, _)) = added.map_err(DownloadError::Chain)?.into_iter().next() else {
        return Err(DownloadError::UnknownRecord { record_id });
    };
    let basis = match read_basis.map_err(DownloadError::Chain)? {
        read_basis::PATIENT => Basis::Patient,
        read_basis::GUARDIAN => Basis::Guardian,
        read_basis::CATEGORY_GRANT => Basis::Grant,
        read_basis::RECORD_GRANT => Basis::RecordGrant,
        read_basis::EMERGENCY => {
            let case_id = break_glass_case(vault, from_block, caller, event.record.patient).await?;
            Basis::BreakGlass { case_id }
        }
        _ => return Err(DownloadError::Forbidden { record_id }),
    };
    let record_envelopes = record_envelopes
        .map_err(DownloadError::Chain)?
        .into_iter()
        .map(|(event, _)| event.sealedKey)
        .collect();
    Ok(Permitted { record_id, record: event.record, record_envelopes, basis })
}

/// The break-glass case that lets `caller` read `patient`'s emergency
/// records: the latest they opened on this patient (the chain keeps one
/// live case per pair).
async fn break_glass_case<P: Provider>(
    vault: &MedVault::MedVaultInstance<P>,
    from_block: u64,
    caller: Address,
    patient: Address,
) -> Result<U256, DownloadError> {
    Ok(vault
        .BreakGlassOpened_filter()
        .topic2(patient.into_word())
        .from_block(from_block)
        .query()
        .await
        .map_err(DownloadError::Chain)?
        .into_iter()
        .filter(|(event, _)| event.staff == caller)
        .map(|(event, _)| event.caseId)
        .max()
        .unwrap_or_default())
}

/// Serves a download: checks the permission, appends to the access log,
/// and returns the grant and the ciphertext stream.
pub async fn serve<P: Provider>(
    reader: Reader<'_, P>,
    ipfs: &Ipfs,
    log: &AccessLog,
    caller: Address,
    record_id: U256,
    purpose: String,
) -> Result<(Grant, impl Stream<Item = Result<Chunk, IpfsError>> + Send + 'static), DownloadError> {
    // Kubo reads while the grant is gathered and the access is logged (from
    // the request on when the record's header is remembered, else from
    // `canRead`'s yes): at most `CAT_QUEUE` chunks wait in memory, and none
    // leaves before the log has the entry (a refusal or an error drops the
    // stream, which stops the read).
    let (grant, stream) = gather(reader, caller, record_id, |cid| ipfs.cat(&cid)).await?;
    let access =
        Access { reader: caller, patient: grant.patient, record_id, basis: grant.basis, purpose };
    let entry = log.append(access, now()).await?;
    tracing::info!(sequence = entry.sequence, "download served");
    Ok((grant, stream))
}
