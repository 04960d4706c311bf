//! Uploads: records streamed into Kubo, then their add-record relayed.
//!
//! Two modes share one path from Kubo onwards:
//!
//! - **Client-side encryption.** The body is a record in the core format.
//!   Its 17-byte header is checked before anything reaches Kubo; the rest is
//!   streamed into Kubo as it arrives while its SHA-256 is computed, and its
//!   length is checked against the segment layout at the end.
//! - **Server-side encryption** (hospital systems that send plaintext). The
//!   body is encrypted on the fly with a fresh data key
//!   ([`medvault_core::record::Encryptor`], one segment in memory at a time)
//!   and the record streamed into Kubo; the data key is then sealed to the
//!   patient and to every staff member whose live grant covers the category
//!   ([`recipients`]) and dropped. The plaintext is never written anywhere.
//!
//! The author's EIP-712 signature covers the CID, the hash and the
//! envelopes, which exist only once the bytes are in Kubo, so an upload is
//! two steps: [`Uploader::store`] adds the record, keeps it as a pending
//! upload ([`crate::pending`]) and returns the typed data to sign;
//! [`Uploader::commit`] takes the signature and relays `addRecordBySig`. A
//! client-side client that computed the CID itself may send both at once.
//! Each step is idempotent: a retry with the same idempotency key finds the
//! pending upload and carries on, so a crash after the add, after the
//! transaction is sent or after its receipt leaves one record and one pin.

use std::{
    collections::BTreeSet,
    sync::Arc,
    time::{SystemTime, UNIX_EPOCH},
};

use alloy::{
    dyn_abi::eip712::TypedData,
    primitives::{Address, B256, Bytes, U256},
    providers::{DynProvider, Provider},
    sol_types::{Eip712Domain, SolCall as _},
};
use bytes::BufMut as _;
use k256::PublicKey;
use medvault_core::{
    bindings::{MedVault, MedVaultForwarder},
    envelope,
    keys::DataKey,
    record::{self, DEFAULT_SEGMENT_SIZE, Encryptor, HEADER_LEN, Header, RecordError, TAG_LEN},
    revert::Revert,
    sig::{self, Action, Signature},
};
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWriteExt},
    sync::oneshot,
};

use crate::{
    ApiError,
    download::Headers,
    ipfs::{Added, Ipfs, IpfsError},
    pending::{Pending, PendingError, State, Upload},
    relay::{Found, Prepared, Relayer, find_sent},
};

/// The length of the binary CID that starts a signed upload's trailer
/// (CIDv1, a one-byte codec, SHA-256).
pub const CID_LEN: usize = 36;

/// The length of the EIP-712 signature (r, s, v) that ends it.
pub const SIGNATURE_LEN: usize = 65;

/// What follows a signed upload's record: the CID the author computed,
/// then their `AddRecord` signature.
pub const SIGNED_TRAILER_LEN: usize = CID_LEN + SIGNATURE_LEN;

/// How many writes (a record segment each, 64 KiB) the pipe between the
/// body and Kubo holds.
const PIPE_CHUNKS: usize = 8;

/// Why an upload failed.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// The body does not start with a record header of the core format.
    #[error("the body is not a medvault record: {source}")]
    NotARecord {
        /// What is wrong with the header.
        #[source]
        source: RecordError,
    },
    /// The body's length does not fit the record's segment layout.
    #[error("the record is truncated or has trailing bytes")]
    BadLength,
    /// Reading the body failed (the client went away).
    #[error("the upload body could not be read")]
    Body(#[source] std::io::Error),
    /// Encrypting the body failed.
    #[error("the upload could not be encrypted")]
    Encrypt(#[source] RecordError),
    /// Kubo failed.
    #[error(transparent)]
    Ipfs(#[from] IpfsError),
    /// The pending-upload store failed.
    #[error(transparent)]
    Pending(#[from] PendingError),
    /// A chain read failed (the node is down or the call reverted).
    #[error("the chain could not be read")]
    Chain(#[source] alloy::contract::Error),
    /// A recipient's registered encryption key is not a curve point.
    #[error("{recipient} has an invalid encryption key")]
    RecipientKey {
        /// The recipient.
        recipient: Address,
    },
    /// The patient has registered no encryption key.
    #[error("{patient} has no encryption key")]
    NoPatientKey {
        /// The patient.
        patient: Address,
    },
    /// No upload has this id.
    #[error("no upload {id}")]
    UnknownUpload {
        /// The id asked for.
        id: String,
    },
    /// The upload was swept before it was committed.
    #[error("upload {id} expired before it was committed")]
    Swept {
        /// The upload.
        id: String,
    },
    /// The signature is not the upload's author's.
    #[error("the signature is {signer}'s, not the author's")]
    WrongSigner {
        /// Who signed.
        signer: Address,
    },
    /// The CID or hash the client signed differ from what the gateway
    /// stored.
    #[error("the signed cid or hash differ from the stored record")]
    Mismatch,
    /// The forwarder refused the add-record (simulated or on chain).
    #[error("the add-record was refused: {revert}")]
    Reverted {
        /// The decoded custom error.
        revert: Revert,
    },
    /// A receipt could not be read.
    #[error("the add-record transaction could not be looked up")]
    Transaction(#[source] alloy::contract::Error),
    /// The relayer could not send the add-record or its receipt did not
    /// come.
    #[error("the add-record could not be relayed: {0}")]
    Relay(ApiError),
    /// The transaction landed but emitted no `RecordAdded`.
    #[error("the add-record transaction {tx_hash} added no record")]
    NoRecord {
        /// The transaction.
        tx_hash: B256,
    },
}

/// A record in Kubo, before anything went on chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// The CID Kubo gave it.
    pub added: Added,
    /// The SHA-256 of the record.
    pub sha256: B256,
    /// The record's length.
    pub size: u64,
}

/// A signed record's body as it ended, before Kubo's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyEnd {
    /// The SHA-256 of the record.
    pub sha256: B256,
    /// What followed the record.
    pub trailer: Vec<u8>,
}

/// What an upload's body is ([`Uploader::store`], [`Uploader::store_signed`]).
#[derive(Debug)]
enum Input {
    /// Plaintext, which the gateway encrypts.
    Plaintext,
    /// A record, with the length of the trailer after it, if any, and whom
    /// to tell the body's end.
    Record(Option<(usize, oneshot::Sender<BodyEnd>)>),
}

/// Streams the record `body` into Kubo (client-side mode), checking its
/// header first and its length at the end. A record refused after the add
/// is unpinned again.
pub async fn store_record<R>(ipfs: &Ipfs, body: R) -> Result<Stored, UploadError>
where
    R: AsyncRead + Unpin + Send,
{
    store_signed_record(ipfs, body, None).await
}

/// [`store_record`] of a body whose last bytes follow the record (with
/// `trailer` of that length, the author's CID and signature): those are held
/// back from Kubo and the record's hash, and told with the hash to the
/// sender as soon as the body ends, before Kubo answers. A body too short
/// to hold the trailer is [`UploadError::BadLength`], and Kubo keeps nothing
/// of it.
pub async fn store_signed_record<R>(
    ipfs: &Ipfs,
    mut body: R,
    trailer: Option<(usize, oneshot::Sender<BodyEnd>)>,
) -> Result<Stored, UploadError>
where
    R: AsyncRead + Unpin + Send,
{
    let mut header_bytes = [0; HEADER_LEN];
    body.read_exact(&mut header_bytes).await.map_err(|error| match error.kind() {
        std::io::ErrorKind::UnexpectedEof => {
            UploadError::NotARecord { source: RecordError::Truncated }
        }
        _ => UploadError::Body(error),
    })?;
    let header =
        Header::parse(&header_bytes).map_err(|source| UploadError::NotARecord { source })?;

    let (trailer_len, ended) = trailer.map_or((0, None), |(len, ended)| (len, Some(ended)));
    let (mut pipe, kubo_side) = crate::ipfs::pipe(PIPE_CHUNKS);
    let copy = async move {
        let mut sha256 = Sha256::new();
        sha256.update(header_bytes);
        pipe.write_all(&header_bytes).await.map_err(UploadError::Body)?;
        let mut size = HEADER_LEN as u64;
        // Whole 64 KiB chunks for Kubo, however small the body's frames
        // arrive: each chunk costs a wake-up on either side of the pipe.
        // The last `trailer_len` bytes read are held back at the front of
        // the buffer until more come.
        let mut buf = vec![0; crate::ipfs::ADD_CHUNK + trailer_len];
        let mut held = 0;
        loop {
            let n = record::fill(&mut body, &mut buf[held..]).await.map_err(UploadError::Body)?;
            if n == 0 {
                break;
            }
            let filled = held + n;
            let out = filled.saturating_sub(trailer_len);
            sha256.update(&buf[..out]);
            pipe.write_all(&buf[..out]).await.map_err(UploadError::Body)?;
            size += out as u64;
            buf.copy_within(out..filled, 0);
            held = filled - out;
        }
        if held < trailer_len {
            // Dropping the pipe unfinished aborts Kubo's add.
            return Err(UploadError::BadLength);
        }
        buf.truncate(held);
        let sha256 = B256::from(<[u8; 32]>::from(sha256.finalize()));
        if let Some(ended) = ended {
            let _ = ended.send(BodyEnd { sha256, trailer: buf });
        }
        pipe.shutdown().await.map_err(UploadError::Body)?;
        Ok::<_, UploadError>((sha256, size))
    };
    let ((sha256, size), added) = tokio::try_join!(copy, async {
        ipfs.add_chunks(kubo_side).await.map_err(UploadError::from)
    })?;
    if !layout_fits(header.segment_size(), size) {
        ipfs.unpin(&added.cid).await?;
        return Err(UploadError::BadLength);
    }
    Ok(Stored { added, sha256, size })
}

/// Whether a record of `size` bytes is a header and whole segments of
/// `segment_size` plaintext bytes (the last one 0 to `segment_size`).
fn layout_fits(segment_size: u32, size: u64) -> bool {
    let Some(body) = size.checked_sub(HEADER_LEN as u64) else { return false };
    let full = u64::from(segment_size) + TAG_LEN as u64;
    let rest = body % full;
    rest >= TAG_LEN as u64 || (rest == 0 && body > 0)
}

/// Encrypts `plaintext` on the fly under a fresh data key and streams the
/// record into Kubo (server-side mode). Returns the stored record and its
/// data key, which the caller seals to the recipients and drops.
///
/// Each segment is read into a buffer of its own, sealed there in place and
/// handed to Kubo's request as it is ([`Ipfs::add_chunks`]): the plaintext is
/// copied once (out of the body) and the ciphertext once (into the socket).
/// At most [`PIPE_CHUNKS`] sealed segments wait for Kubo, and one plaintext
/// segment is in memory.
pub async fn encrypt_and_store<R>(
    ipfs: &Ipfs,
    mut plaintext: R,
) -> Result<(Stored, DataKey), UploadError>
where
    R: AsyncRead + Unpin + Send,
{
    let key = DataKey::generate();
    let header = Header::random(DEFAULT_SEGMENT_SIZE).map_err(UploadError::Encrypt)?;
    let size = header.segment_size() as usize;
    let (mut encryptor, header_bytes) =
        Encryptor::new(&key, &header).map_err(UploadError::Encrypt)?;
    let (mut pipe, kubo_side) = crate::ipfs::pipe(PIPE_CHUNKS);
    let encrypt = async move {
        pipe.send(bytes::Bytes::copy_from_slice(&header_bytes)).await.map_err(UploadError::Body)?;
        // A segment is read with one byte more, which tells the last segment
        // from the others; that byte is carried to the front of the next.
        let mut carried = None;
        loop {
            let mut segment = Vec::with_capacity(size + TAG_LEN);
            segment.extend(carried.take());
            while segment.len() <= size {
                let want = size + 1 - segment.len();
                let mut room = (&mut segment).limit(want);
                if plaintext.read_buf(&mut room).await.map_err(UploadError::Body)? == 0 {
                    break;
                }
            }
            let last = segment.len() <= size;
            let len = if last { segment.len() } else { size };
            if !last {
                carried = segment.pop();
            }
            segment.resize(len + TAG_LEN, 0);
            encryptor.seal(&mut segment, len, last).map_err(UploadError::Encrypt)?;
            pipe.send(bytes::Bytes::from(segment)).await.map_err(UploadError::Body)?;
            if last {
                break;
            }
        }
        // Only a shutdown ends the body whole; a `?` above drops the pipe
        // without one, which aborts the add.
        pipe.shutdown().await.map_err(UploadError::Body)?;
        encryptor.finish().map_err(UploadError::Encrypt)
    };
    let (sealed, added) = tokio::try_join!(encrypt, async {
        ipfs.add_chunks(kubo_side).await.map_err(UploadError::from)
    })?;
    let stored = Stored { added, sha256: B256::from(sealed.sha256), size: sealed.record_len };
    Ok((stored, key))
}

/// Who a server-side record's data key is sealed to: the patient, and each
/// staff member with a category grant from the patient (found in the
/// `Granted` events from `from_block`) that `hasAccess` to `category` now
/// (live, licensed, organisation active). Sorted by address, without
/// duplicates.
pub async fn recipients<P: Provider>(
    vault: &MedVault::MedVaultInstance<P>,
    patient: Address,
    category: u8,
    from_block: u64,
) -> Result<Vec<(Address, PublicKey)>, UploadError> {
    let patient_key = vault.encryptionKey(patient).call().await.map_err(UploadError::Chain)?;
    if patient_key.is_empty() {
        return Err(UploadError::NoPatientKey { patient });
    }
    let mut recipients = vec![(patient, parse_key(patient, &patient_key)?)];
    let granted = vault
        .Granted_filter()
        .topic1(patient.into_word())
        .from_block(from_block)
        .query()
        .await
        .map_err(UploadError::Chain)?;
    let grantees: BTreeSet<Address> = granted.iter().map(|(event, _)| event.grantee).collect();
    for grantee in grantees {
        if grantee == patient
            || !vault
                .hasAccess(patient, grantee, category)
                .call()
                .await
                .map_err(UploadError::Chain)?
        {
            continue;
        }
        let key = vault.encryptionKey(grantee).call().await.map_err(UploadError::Chain)?;
        // Staff without a registered key cannot be sealed to; they read
        // through the category key once the patient shares it.
        if key.is_empty() {
            continue;
        }
        recipients.push((grantee, parse_key(grantee, &key)?));
    }
    recipients.sort_by_key(|(address, _)| *address);
    Ok(recipients)
}

fn parse_key(recipient: Address, key: &[u8]) -> Result<PublicKey, UploadError> {
    envelope::parse_public_key(key).map_err(|_| UploadError::RecipientKey { recipient })
}

/// Seals `key` to each recipient.
pub fn seal_envelopes(key: &DataKey, recipients: &[(Address, PublicKey)]) -> Vec<(Address, Bytes)> {
    recipients
        .iter()
        .map(|(address, public)| (*address, Bytes::from(envelope::seal(public, key.as_bytes()))))
        .collect()
}

/// What the author of an upload is asked to sign.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ToSign {
    /// The pending upload.
    pub upload: Upload,
    /// The author's forwarder nonce the signature must use.
    pub nonce: U256,
    /// The `AddRecord` message as `eth_signTypedData_v4` typed data (with
    /// the deadline the client chose).
    pub typed_data: TypedData,
    /// Its EIP-712 digest.
    pub signing_hash: B256,
    /// The record, when the upload carried the author's signature of this
    /// very message and was committed with it in the same request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub committed: Option<Committed>,
}

impl ToSign {
    /// Whether `signature` (65 bytes) is `author`'s of
    /// [`ToSign::signing_hash`]; without recovering the signer a second time
    /// when `prepared` already checked this very signature of this very
    /// digest (Kubo's CID was the one the trailer claimed).
    pub fn signed_by(
        &self,
        signature: &[u8],
        author: Address,
        prepared: Option<&PreparedRecord>,
    ) -> bool {
        signed_or_proven(signature, self.signing_hash, author, prepared)
    }
}

/// A signed upload's `AddRecord`, its signature checked and the call
/// simulated while Kubo finished the add ([`Uploader::prepare`]).
#[derive(Debug)]
pub struct PreparedRecord {
    /// The EIP-712 digest the signature was found to sign.
    signing_hash: B256,
    /// Who signed it.
    author: Address,
    /// The signature.
    signature: Bytes,
    /// The simulated transaction.
    transaction: Prepared,
}

impl PreparedRecord {
    /// Whether `signature` is `author`'s of `signing_hash`, as found when
    /// this was prepared.
    fn proves(&self, signature: &[u8], signing_hash: B256, author: Address) -> bool {
        self.signing_hash == signing_hash
            && self.author == author
            && self.signature[..] == *signature
    }
}

/// Whether `signature` is `author`'s of `hash`: as `prepared` found it, or
/// by recovering the signer.
fn signed_or_proven(
    signature: &[u8],
    hash: B256,
    author: Address,
    prepared: Option<&PreparedRecord>,
) -> bool {
    prepared.is_some_and(|prepared| prepared.proves(signature, hash, author))
        || signed_by(signature, hash, author)
}

/// Whether `signature` (65 bytes) is `author`'s of `hash`.
fn signed_by(signature: &[u8], hash: B256, author: Address) -> bool {
    alloy::primitives::Signature::try_from(signature)
        .ok()
        .and_then(|signature| signature.recover_address_from_prehash(&hash).ok())
        == Some(author)
}

/// The header fields of an upload, as the author gives them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordFields {
    /// Who will sign the add-record.
    pub author: Address,
    /// Whose record.
    pub patient: Address,
    /// Its category.
    pub category: u8,
    /// The category key epoch of `wrapped_key` (client-side mode).
    #[serde(default)]
    pub epoch: u32,
    /// The data key wrapped under the category key (client-side mode).
    #[serde(default)]
    pub wrapped_key: Bytes,
    /// The record it amends, or 0.
    #[serde(default)]
    pub amends: U256,
    /// Record-level envelopes (client-side mode; server-side makes its own).
    #[serde(default)]
    pub envelopes: Vec<(Address, Bytes)>,
}

impl RecordFields {
    /// The `AddRecord` action of a record with these fields, stored under
    /// the binary `cid` with `sha256`.
    pub fn add_record(&self, cid: Bytes, sha256: B256) -> sig::AddRecord {
        use medvault_core::bindings::forwarder::IMedVault as Forwarder;
        sig::AddRecord {
            record: Forwarder::RecordInput {
                patient: self.patient,
                category: self.category,
                cid,
                ciphertextHash: sha256,
                wrappedKey: self.wrapped_key.clone(),
                epoch: self.epoch,
                amends: self.amends,
            },
            envelopes: self
                .envelopes
                .iter()
                .map(|(recipient, sealed)| Forwarder::Envelope {
                    recipient: *recipient,
                    sealedKey: sealed.clone(),
                })
                .collect(),
        }
    }
}

/// The record committed on chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Committed {
    /// The new record's id.
    pub record_id: U256,
    /// The add-record transaction.
    pub tx_hash: B256,
    /// The block that holds it, for a client that waits for the indexer to
    /// reach it.
    pub block_number: u64,
}

/// The upload pipeline: Kubo, the pending uploads and the chain.
#[derive(Debug, Clone)]
pub struct Uploader {
    /// The Kubo client.
    pub ipfs: Ipfs,
    /// The pending uploads.
    pub pending: Pending,
    /// MedVault, for reads.
    pub vault: MedVault::MedVaultInstance<DynProvider>,
    /// The forwarder, for the authors' nonces.
    pub forwarder: MedVaultForwarder::MedVaultForwarderInstance<DynProvider>,
    /// The relayer, through whose nonce manager add-records are sent.
    pub relayer: Arc<Relayer>,
    /// The forwarder's EIP-712 domain.
    pub domain: Eip712Domain,
    /// The block MedVault was deployed in, where event scans start.
    pub from_block: u64,
    /// The headers of the records it committed, for their first downloads.
    pub headers: Headers,
}

impl Uploader {
    /// Stores an upload in Kubo and as pending, unless `idempotency_key`
    /// names one already, which is returned without reading `body`.
    /// `server_side` encrypts the body (plaintext) here; otherwise the body
    /// is a record.
    pub async fn store<R>(
        &self,
        fields: RecordFields,
        body: R,
        server_side: bool,
        idempotency_key: Option<String>,
    ) -> Result<Upload, UploadError>
    where
        R: AsyncRead + Unpin + Send,
    {
        let mode = if server_side { Input::Plaintext } else { Input::Record(None) };
        self.store_body(fields, body, mode, idempotency_key).await
    }

    /// [`Uploader::store`] of a record followed by its signed trailer
    /// ([`SIGNED_TRAILER_LEN`] bytes), which is told with the record's hash
    /// to `ended` as soon as the body ends. When `idempotency_key` names an
    /// upload already, the body is not read and `ended` hears nothing.
    pub async fn store_signed<R>(
        &self,
        fields: RecordFields,
        body: R,
        idempotency_key: Option<String>,
        ended: oneshot::Sender<BodyEnd>,
    ) -> Result<Upload, UploadError>
    where
        R: AsyncRead + Unpin + Send,
    {
        let mode = Input::Record(Some((SIGNED_TRAILER_LEN, ended)));
        self.store_body(fields, body, mode, idempotency_key).await
    }

    /// Stores `body` as `mode` says.
    async fn store_body<R>(
        &self,
        fields: RecordFields,
        body: R,
        mode: Input,
        idempotency_key: Option<String>,
    ) -> Result<Upload, UploadError>
    where
        R: AsyncRead + Unpin + Send,
    {
        if let Some(key) = &idempotency_key
            && let Some(existing) = self.pending.by_idempotency_key(key).await?
        {
            return Ok(existing);
        }
        let server_side = matches!(mode, Input::Plaintext);
        let (stored, envelopes) = match mode {
            Input::Plaintext => {
                // Read the recipients first: a chain that is down fails the
                // upload before any byte reaches Kubo.
                let recipients =
                    recipients(&self.vault, fields.patient, fields.category, self.from_block)
                        .await?;
                let (stored, key) = encrypt_and_store(&self.ipfs, body).await?;
                (stored, seal_envelopes(&key, &recipients))
            }
            Input::Record(trailer) => {
                (store_signed_record(&self.ipfs, body, trailer).await?, fields.envelopes.clone())
            }
        };
        let epoch = if server_side {
            self.vault
                .categoryEpoch(fields.patient, fields.category)
                .call()
                .await
                .map_err(UploadError::Chain)?
        } else {
            fields.epoch
        };
        let upload = Upload {
            id: new_id(),
            idempotency_key,
            author: fields.author,
            patient: fields.patient,
            category: fields.category,
            epoch,
            wrapped_key: if server_side { Bytes::new() } else { fields.wrapped_key },
            amends: fields.amends,
            envelopes,
            cid: stored.added.cid.clone(),
            sha256: stored.sha256,
            size: stored.size,
            created_at: now(),
            state: State::Stored,
            tx_hash: None,
            record_id: None,
        };
        let kept = self.pending.insert(&upload).await?;
        // A concurrent retry with the same key won; its copy is the one kept.
        if kept.id != upload.id && kept.cid != upload.cid {
            self.ipfs.unpin(&upload.cid).await?;
        }
        Ok(kept)
    }

    /// What the author of `upload` signs, valid until `deadline`.
    pub async fn to_sign(&self, upload: Upload, deadline: u64) -> Result<ToSign, UploadError> {
        let nonce = self.nonce(upload.author).await?;
        self.to_sign_with(upload, deadline, nonce)
    }

    /// The forwarder's next nonce for `author`, which an upload's
    /// [`Uploader::to_sign_with`] takes: a caller may ask it while the
    /// bytes are being stored.
    pub async fn nonce(&self, author: Address) -> Result<U256, UploadError> {
        self.forwarder.nonces(author).call().await.map_err(UploadError::Chain)
    }

    /// [`Uploader::to_sign`] with the author's `nonce` already read.
    pub fn to_sign_with(
        &self,
        upload: Upload,
        deadline: u64,
        nonce: U256,
    ) -> Result<ToSign, UploadError> {
        let action = add_record(&upload)?;
        let typed_data = action.typed_data(&self.domain, upload.author, nonce, deadline);
        let signing_hash = action.signing_hash(&self.domain, upload.author, nonce, deadline);
        Ok(ToSign { upload, nonce, typed_data, signing_hash, committed: None })
    }

    /// Relays the signed add-record of upload `id` and waits for its
    /// receipt. Idempotent: a committed upload returns its record; a sent
    /// one is looked up by its transaction before anything is resent.
    pub async fn commit(&self, id: &str, auth: Signature) -> Result<Committed, UploadError> {
        self.commit_prepared(id, auth, None).await
    }

    /// [`Uploader::commit`], sending `prepared` if it is the very call to
    /// send (simulated while Kubo finished the add, [`Uploader::prepare`]);
    /// otherwise the call is simulated now.
    pub async fn commit_prepared(
        &self,
        id: &str,
        auth: Signature,
        prepared: Option<PreparedRecord>,
    ) -> Result<Committed, UploadError> {
        let send = self.send(id, auth, prepared.map(|prepared| prepared.transaction)).await?;
        match send {
            Sent::Done(committed) => Ok(committed),
            Sent::Pending(tx_hash) => self.confirm(id, tx_hash).await,
        }
    }

    /// Simulates the `AddRecord` a signed upload's trailer (`end`) claims,
    /// for `fields`, the author's `nonce` and `deadline`, while Kubo
    /// finishes the add: the transaction to send once Kubo's CID is found to
    /// be the one claimed. `None` when the trailer is not the author's
    /// signature of that call, or the simulation fails (the commit then
    /// simulates again, and says why).
    pub async fn prepare(
        &self,
        fields: &RecordFields,
        end: &BodyEnd,
        nonce: U256,
        deadline: u64,
    ) -> Option<PreparedRecord> {
        let (cid, signature) = end.trailer.split_at_checked(CID_LEN)?;
        let action = fields.add_record(Bytes::copy_from_slice(cid), end.sha256);
        let signing_hash = action.signing_hash(&self.domain, fields.author, nonce, deadline);
        if !signed_by(signature, signing_hash, fields.author) {
            return None;
        }
        let auth_signature = Bytes::copy_from_slice(signature);
        let auth = Signature {
            signer: fields.author,
            deadline: U256::from(deadline),
            signature: auth_signature.clone(),
        };
        let call = action.into_call(auth).abi_encode();
        let transaction =
            self.relayer.prepare(*self.forwarder.address(), call.into()).await.ok()?;
        Some(PreparedRecord {
            signing_hash,
            author: fields.author,
            signature: auth_signature,
            transaction,
        })
    }

    /// The first half of [`Uploader::commit`]: simulates and sends the
    /// transaction (or sends `prepared`, if it is that transaction), and
    /// notes its hash.
    pub async fn send(
        &self,
        id: &str,
        auth: Signature,
        prepared: Option<Prepared>,
    ) -> Result<Sent, UploadError> {
        let upload = self
            .pending
            .get(id)
            .await?
            .ok_or_else(|| UploadError::UnknownUpload { id: id.to_owned() })?;
        match upload.state {
            State::Committed => {
                // A retried commit: the block is the receipt's.
                let tx_hash = upload.tx_hash.unwrap_or_default();
                let receipt = self
                    .vault
                    .provider()
                    .get_transaction_receipt(tx_hash)
                    .await
                    .map_err(|error| UploadError::Transaction(error.into()))?;
                return Ok(Sent::Done(Committed {
                    record_id: upload.record_id.unwrap_or_default(),
                    tx_hash,
                    block_number: receipt.and_then(|r| r.block_number).unwrap_or_default(),
                }));
            }
            State::Swept => return Err(UploadError::Swept { id: id.to_owned() }),
            State::Sent => {
                if let Some(tx_hash) = upload.tx_hash {
                    if self.succeeded_or_pending(tx_hash).await? {
                        return Ok(Sent::Pending(tx_hash));
                    }
                    // Reverted, dropped, or never sent: sign-and-send again
                    // below.
                    self.pending.mark_stored(id).await?;
                }
            }
            State::Stored => {}
        }
        if auth.signer != upload.author {
            return Err(UploadError::WrongSigner { signer: auth.signer });
        }
        let call: Bytes = add_record(&upload)?.into_call(auth).abi_encode().into();
        // The hash is noted before the transaction leaves, so that a crash
        // between the two finds it on restart rather than sending twice.
        let note = |tx_hash| async move {
            self.pending.mark_sent(id, tx_hash).await.map_err(ApiError::internal)
        };
        let sent = match prepared.filter(|prepared| prepared.input() == Some(&call)) {
            Some(prepared) => self.relayer.send_prepared(prepared, note).await,
            None => self.relayer.submit(*self.forwarder.address(), call, note).await,
        };
        let tx_hash = sent.map_err(|error| match error {
            ApiError::Reverted(revert) => UploadError::Reverted { revert },
            other => UploadError::Relay(other),
        })?;
        Ok(Sent::Pending(tx_hash))
    }

    /// Whether the transaction `tx_hash` of an upload succeeded or still
    /// waits in the node's pool: either way a retry waits for its receipt
    /// rather than sending the signed action a second time, which would
    /// revert once the first is mined. False when it reverted or the node
    /// does not know it (dropped, or the gateway stopped between noting the
    /// hash and sending).
    async fn succeeded_or_pending(&self, tx_hash: B256) -> Result<bool, UploadError> {
        let found = find_sent(self.vault.provider(), tx_hash)
            .await
            .map_err(|error| UploadError::Transaction(error.into()))?;
        Ok(match found {
            Found::Mined(receipt) => receipt.status(),
            Found::Pending => true,
            Found::Unknown => false,
        })
    }

    /// The second half of [`Uploader::commit`]: waits for the receipt of
    /// `tx_hash` and notes the record.
    pub async fn confirm(&self, id: &str, tx_hash: B256) -> Result<Committed, UploadError> {
        let receipt = self.relayer.wait_for_receipt(tx_hash).await.map_err(UploadError::Relay)?;
        if !receipt.status() {
            self.pending.mark_stored(id).await?;
            return Err(UploadError::NoRecord { tx_hash });
        }
        let added = receipt
            .logs()
            .iter()
            .filter(|log| log.address() == *self.vault.address())
            .find_map(|log| log.log_decode::<MedVault::RecordAdded>().ok())
            .map(|log| log.inner.data)
            .ok_or(UploadError::NoRecord { tx_hash })?;
        let record_id = added.recordId;
        self.headers.insert(record_id, added.record);
        self.pending.mark_committed(id, record_id).await?;
        tracing::info!(upload = %id, record_id = %record_id, "record committed");
        let block_number = receipt.block_number.ok_or(UploadError::NoRecord { tx_hash })?;
        Ok(Committed { record_id, tx_hash, block_number })
    }
}

/// Where [`Uploader::send`] left an upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// It was committed already.
    Done(Committed),
    /// Its transaction is out, receipt not seen yet.
    Pending(B256),
}

/// The `AddRecord` action of an upload.
pub fn add_record(upload: &Upload) -> Result<sig::AddRecord, UploadError> {
    let fields = RecordFields {
        author: upload.author,
        patient: upload.patient,
        category: upload.category,
        epoch: upload.epoch,
        wrapped_key: upload.wrapped_key.clone(),
        amends: upload.amends,
        envelopes: upload.envelopes.clone(),
    };
    Ok(fields.add_record(crate::ipfs::cid_to_bytes(&upload.cid)?.into(), upload.sha256))
}

fn new_id() -> String {
    let mut id = [0; 16];
    OsRng.fill_bytes(&mut id);
    hex::encode(id)
}

/// Now, in unix seconds.
pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_prepared_for_the_same_digest_is_not_recovered_again() {
        let signer = alloy::signers::local::PrivateKeySigner::random();
        let author = signer.address();
        let hash = B256::repeat_byte(7);
        let other = B256::repeat_byte(8);
        let signed = |hash: B256| {
            use alloy::signers::SignerSync;
            Bytes::copy_from_slice(&signer.sign_hash_sync(&hash).unwrap().as_bytes())
        };
        let prepared = |signature: &Bytes, signing_hash, author| PreparedRecord {
            signing_hash,
            author,
            signature: signature.clone(),
            transaction: Prepared::unsimulated(),
        };
        let good = signed(hash);
        let garbage = Bytes::from(vec![0x11; 65]);

        // Without a preparation, the signer is recovered.
        assert!(signed_or_proven(&good, hash, author, None));
        assert!(!signed_or_proven(&good, other, author, None));
        assert!(!signed_or_proven(&garbage, hash, author, None));
        // A preparation of this very signature, digest and author stands
        // for the recovery it made (a made-up one shows it is not redone).
        let made_up = prepared(&garbage, hash, author);
        assert!(signed_or_proven(&garbage, hash, author, Some(&made_up)));
        // Any difference falls back to recovering the signer.
        assert!(!signed_or_proven(&garbage, other, author, Some(&made_up)));
        assert!(!signed_or_proven(&garbage, hash, Address::repeat_byte(1), Some(&made_up)));
        assert!(!signed_or_proven(&good[..64], hash, author, Some(&prepared(&good, hash, author))));
        assert!(signed_or_proven(&good, hash, author, Some(&prepared(&good, other, author))));
    }

    #[test]
    fn the_layout_check_accepts_whole_records_only() {
        let s = 16;
        let header = HEADER_LEN as u64;
        // An empty file: the header and one tag.
        assert!(layout_fits(s, header + 16));
        assert!(!layout_fits(s, header));
        assert!(!layout_fits(s, header + 15));
        // One full segment, then one of 1 byte.
        assert!(layout_fits(s, header + 32));
        assert!(layout_fits(s, header + 32 + 17));
        // A segment followed by a stub shorter than a tag.
        assert!(!layout_fits(s, header + 32 + 5));
        assert!(!layout_fits(s, 3));
    }
}
