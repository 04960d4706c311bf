//! The record routes: upload (both modes), commit, download of ciphertext
//! and key envelopes, and the patient's accounting of disclosures.
//!
//! - `POST /v1/records?patient=..&category=..[&mode=server]`: the body is
//!   streamed into Kubo (a record in the core format, or plaintext that the
//!   gateway encrypts with `mode=server`); the answer is the pending upload
//!   and the `AddRecord` typed data that the signed-in author signs. An
//!   `Idempotency-Key` header makes a retry return the same upload without
//!   storing the body again.
//! - `POST /v1/uploads/{id}/commit` with `{deadline, signature}`: relays the
//!   author's signed add-record and returns the record id.
//! - `GET /v1/records/{id}/keys`: the caller's key envelopes and the
//!   record's fingerprint, after `canRead`.
//! - `GET /v1/records/{id}?purpose=..`: the ciphertext, streamed, after
//!   `canRead`; each download is a row of the access log.
//! - `GET /v1/access-log`: the caller's accounting of disclosures.

use std::sync::Arc;

use alloy::{
    primitives::{Address, Bytes, U256},
    providers::DynProvider,
};
use axum::{
    body::Body,
    extract::{Path, Query, State},
    http::{HeaderMap, header},
    response::{IntoResponse, Response},
};
use futures_util::TryStreamExt;
use medvault_core::sig::{self, Signature};
use serde::Deserialize;

use crate::{
    ApiError, AppState, Json, Session,
    access_log::{AccessLog, AccessLogError},
    download::{self, DownloadError, Headers},
    idempotency::Idempotency,
    ipfs::{Ipfs, IpfsError},
    pending::{Pending, PendingError},
    relay::Relayer,
    state::Chain,
    upload::{CID_LEN, RecordFields, UploadError, Uploader},
};

/// How long the typed data handed back for signing stays valid, by default.
const DEFAULT_SIGNING_WINDOW: u64 = 3_600;

/// The download's header that carries the caller's grant (the JSON of
/// `GET /v1/records/{id}/keys`), so that a client needs no second request.
pub const GRANT_HEADER: &str = "x-medvault-grant";

/// The largest grant sent in [`GRANT_HEADER`]; a longer one (a category
/// rotated many times) is left to the keys route, within what HTTP clients
/// accept in headers.
const MAX_GRANT_HEADER: usize = 8 * 1024;

/// The parts of the gateway that move records.
#[derive(Debug)]
pub struct DataPath {
    /// Uploads: Kubo, the pending uploads, the chain.
    pub uploader: Uploader,
    /// The access log.
    pub access_log: AccessLog,
    /// Kubo.
    pub ipfs: Ipfs,
    /// The block event scans start at.
    pub from_block: u64,
}

impl DataPath {
    /// The data path over `chain`, Kubo and the (migrated) database, sending
    /// through `relayer`.
    pub fn new(chain: &Chain, relayer: Arc<Relayer>, ipfs: Ipfs, db: sqlx::SqlitePool) -> Self {
        let uploader = Uploader {
            ipfs: ipfs.clone(),
            pending: Pending::new(db.clone()),
            vault: chain.vault.clone(),
            forwarder: chain.forwarder.clone(),
            relayer,
            domain: sig::domain(chain.chain_id, *chain.forwarder.address()),
            from_block: chain.deployment_block,
            headers: Headers::default(),
        };
        Self { uploader, access_log: AccessLog::new(db), ipfs, from_block: chain.deployment_block }
    }

    /// Where downloads read the chain: the uploader's MedVault, and the
    /// headers of the records it committed.
    pub const fn reader(&self) -> download::Reader<'_, DynProvider> {
        download::Reader {
            vault: &self.uploader.vault,
            from_block: self.from_block,
            headers: &self.uploader.headers,
        }
    }
}

/// The query of an upload.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UploadQuery {
    /// `client` (the default: the body is a record) or `server` (plaintext).
    #[serde(default)]
    pub mode: Mode,
    /// Whose record.
    pub patient: Address,
    /// Its category.
    pub category: u8,
    /// The epoch of `wrappedKey` (client mode).
    #[serde(default)]
    pub epoch: u32,
    /// The data key wrapped under the category key, 0x-hex (client mode).
    #[serde(default)]
    pub wrapped_key: Bytes,
    /// The record this one amends.
    #[serde(default)]
    pub amends: U256,
    /// Record-level envelopes as JSON `[[recipient, sealedKey], ...]`
    /// (client mode).
    #[serde(default)]
    pub envelopes: Option<String>,
    /// The signature deadline the typed data names, unix seconds.
    #[serde(default)]
    pub deadline: Option<u64>,
    /// Whether the body's last 101 bytes, after the record, are the CID the
    /// author computed for it (36) and their `AddRecord` signature (65, for
    /// the forwarder's current nonce and `deadline`), so that the upload is
    /// committed in the same request (client mode).
    #[serde(default)]
    pub signed: bool,
}

impl UploadQuery {
    /// The record header fields the query gives, written by `author`; 400
    /// for envelopes that do not parse.
    pub fn fields(&self, author: Address) -> Result<RecordFields, ApiError> {
        let envelopes = match &self.envelopes {
            Some(json) => serde_json::from_str(json).map_err(|_| {
                ApiError::invalid("envelopes must be [[recipient, sealedKey], ...]")
            })?,
            None => Vec::new(),
        };
        Ok(RecordFields {
            author,
            patient: self.patient,
            category: self.category,
            epoch: self.epoch,
            wrapped_key: self.wrapped_key.clone(),
            amends: self.amends,
            envelopes,
        })
    }

    /// The signature deadline: the one asked for, else an hour from now.
    pub fn deadline(&self) -> u64 {
        self.deadline.unwrap_or_else(|| crate::unix_now() + DEFAULT_SIGNING_WINDOW)
    }
}

/// Who encrypts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The client: the body is a record.
    #[default]
    Client,
    /// The gateway: the body is plaintext.
    Server,
}

/// `POST /v1/records`.
pub async fn upload(
    State(state): State<AppState>,
    session: Session,
    Query(query): Query<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let key = Idempotency::key(&headers)?;
    let fields = query.fields(session.address)?;
    let deadline = query.deadline();
    if query.signed && query.mode == Mode::Server {
        return Err(ApiError::invalid("a signed upload is a record: mode=server takes plaintext"));
    }
    // Over the limit, the body stream fails and the upload is refused (413)
    // before its record is kept.
    let limit = state.settings.limits.upload_limit;
    let body = http_body_util::Limited::new(body, usize::try_from(limit).unwrap_or(usize::MAX));
    let reader = tokio_util::io::StreamReader::new(
        http_body_util::BodyDataStream::new(body).map_err(std::io::Error::other),
    );
    let uploader = &state.data.uploader;
    // The author's forwarder nonce is read while the bytes go to Kubo; for a
    // signed upload, the call its trailer claims is simulated from the
    // body's end while Kubo finishes the add.
    let nonce = uploader.nonce(session.address);
    // The body's end, with the trailer, comes only from a body read now (not
    // from an upload an idempotency key names).
    let (upload, (nonce, prepared, end)) = if query.signed {
        let (ended, body_end) = tokio::sync::oneshot::channel();
        let store = uploader.store_signed(fields.clone(), reader, key, ended);
        let ahead = async {
            let nonce = nonce.await;
            let end = body_end.await.ok();
            let prepared = match (&nonce, &end) {
                (Ok(nonce), Some(end)) => uploader.prepare(&fields, end, *nonce, deadline).await,
                _ => None,
            };
            (nonce, prepared, end)
        };
        tokio::join!(store, ahead)
    } else {
        let store = uploader.store(fields, reader, query.mode == Mode::Server, key);
        let (upload, nonce) = tokio::join!(store, nonce);
        (upload, (nonce, None, None))
    };
    let upload = upload.map_err(|error| upload_error(error, limit))?;
    if upload.author != session.address {
        return Err(ApiError::Forbidden { message: "the upload is another author's".into() });
    }
    let nonce = nonce.map_err(|error| upload_error(error, limit))?;
    let mut to_sign = uploader
        .to_sign_with(upload, deadline, nonce)
        .map_err(|error| upload_error(error, limit))?;
    // A signature of another message (the client's CID or hash differ from
    // Kubo's and the gateway's, or its nonce is stale) leaves the upload
    // pending, to be committed with a signature of `to_sign`.
    let signature = end.as_ref().and_then(|end| end.trailer.get(CID_LEN..));
    if let Some(signature) =
        signature.filter(|s| to_sign.signed_by(s, session.address, prepared.as_ref()))
    {
        let auth = Signature {
            signer: session.address,
            deadline: U256::from(deadline),
            signature: Bytes::copy_from_slice(signature),
        };
        let committed = uploader
            .commit_prepared(&to_sign.upload.id, auth, prepared)
            .await
            .map_err(|error| upload_error(error, limit))?;
        to_sign.committed = Some(committed);
    }
    Ok(Json(to_sign).into_response())
}

/// The body of a commit.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommitRequest {
    /// The deadline the author signed.
    pub deadline: u64,
    /// The author's EIP-712 signature, 0x-hex (65 bytes).
    pub signature: Bytes,
}

/// `POST /v1/uploads/{id}/commit`.
pub async fn commit(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    Json(request): Json<CommitRequest>,
) -> Result<Response, ApiError> {
    let auth = Signature {
        signer: session.address,
        deadline: U256::from(request.deadline),
        signature: request.signature,
    };
    let limit = state.settings.limits.upload_limit;
    let committed =
        state.data.uploader.commit(&id, auth).await.map_err(|error| upload_error(error, limit))?;
    Ok(Json(committed).into_response())
}

/// Every `interval`: unpins the uploads older than `ttl` that never got a
/// record, forgets the idempotency keys older than `ttl` (the window in
/// which a retry returns the first result), and anchors the access log.
/// Failures are logged and retried at the next tick; runs until the task is
/// dropped.
pub async fn maintain(state: AppState, interval: std::time::Duration, ttl: std::time::Duration) {
    let mut ticker = tokio::time::interval(interval);
    loop {
        ticker.tick().await;
        let data = &state.data;
        let now = crate::unix_now();
        if let Err(error) = data.uploader.pending.sweep(&data.ipfs, now, ttl).await {
            tracing::warn!(%error, "the pending-upload sweep failed");
        }
        if let Err(error) = state.idempotency.prune(now.saturating_sub(ttl.as_secs())).await {
            tracing::warn!(%error, "pruning the idempotency keys failed");
        }
        if let Err(error) =
            data.access_log.anchor(&state.relayer, *data.uploader.vault.address()).await
        {
            tracing::warn!(%error, "anchoring the access log failed");
        }
    }
}

/// `GET /v1/records/{id}/keys`.
pub async fn keys(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<U256>,
) -> Result<Response, ApiError> {
    let grant = download::authorise(state.data.reader(), session.address, id)
        .await
        .map_err(download_error)?;
    Ok(Json(grant).into_response())
}

/// The query of a download.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DownloadQuery {
    /// Why the caller reads (a short code, e.g. `treatment`), kept in the
    /// access log.
    #[serde(default)]
    pub purpose: String,
}

/// `GET /v1/records/{id}`.
pub async fn content(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<U256>,
    Query(query): Query<DownloadQuery>,
) -> Result<Response, ApiError> {
    let data: &Arc<DataPath> = &state.data;
    let (grant, stream) = download::serve(
        data.reader(),
        &data.ipfs,
        &data.access_log,
        session.address,
        id,
        query.purpose,
    )
    .await
    .map_err(download_error)?;
    let mut response = (
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (header::HeaderName::from_static("x-medvault-sha256"), grant.sha256.to_string()),
        ],
        Body::from_stream(stream),
    )
        .into_response();
    if let Some(value) = serde_json::to_string(&grant)
        .ok()
        .filter(|json| json.len() <= MAX_GRANT_HEADER)
        .and_then(|json| header::HeaderValue::from_str(&json).ok())
    {
        response.headers_mut().insert(header::HeaderName::from_static(GRANT_HEADER), value);
    }
    Ok(response)
}

/// `GET /v1/access-log`.
pub async fn accounting(
    State(state): State<AppState>,
    session: Session,
) -> Result<Response, ApiError> {
    let accounting =
        state.data.access_log.accounting(session.address).await.map_err(access_log_error)?;
    Ok(Json(accounting).into_response())
}

fn ipfs_error(error: IpfsError) -> ApiError {
    if error.is_unavailable() {
        ApiError::IpfsUnavailable { message: "kubo did not answer".into() }
    } else {
        ApiError::internal(error)
    }
}

fn chain_error(error: alloy::contract::Error) -> ApiError {
    match error {
        alloy::contract::Error::TransportError(error) => ApiError::from_rpc(&error),
        other => ApiError::internal(other),
    }
}

fn pending_error(error: PendingError) -> ApiError {
    match error {
        PendingError::Ipfs(error) => ipfs_error(error),
        other => ApiError::internal(other),
    }
}

fn access_log_error(error: AccessLogError) -> ApiError {
    match error {
        AccessLogError::PurposeTooLong { .. } => ApiError::invalid(error.to_string()),
        other => ApiError::internal(other),
    }
}

/// The status of each upload failure (`limit`: the upload limit, for 413).
pub(crate) fn upload_error(error: UploadError, limit: u64) -> ApiError {
    match error {
        UploadError::NotARecord { .. } | UploadError::BadLength | UploadError::Mismatch => {
            ApiError::invalid(error.to_string())
        }
        UploadError::Body(ref source)
            if source
                .get_ref()
                .is_some_and(|inner| inner.is::<http_body_util::LengthLimitError>()) =>
        {
            ApiError::PayloadTooLarge { limit: usize::try_from(limit).unwrap_or(usize::MAX) }
        }
        UploadError::Body(_) => ApiError::invalid("the upload body could not be read"),
        UploadError::Ipfs(error) => ipfs_error(error),
        UploadError::Pending(error) => pending_error(error),
        UploadError::Chain(error) | UploadError::Transaction(error) => chain_error(error),
        UploadError::Relay(error) => error,
        UploadError::RecipientKey { .. } | UploadError::NoPatientKey { .. } => {
            ApiError::invalid(error.to_string())
        }
        UploadError::UnknownUpload { .. } => ApiError::NotFound { message: error.to_string() },
        UploadError::Swept { .. } => ApiError::NotFound { message: error.to_string() },
        UploadError::WrongSigner { .. } => ApiError::Forbidden { message: error.to_string() },
        UploadError::Reverted { revert } => ApiError::Reverted(revert),
        UploadError::NoRecord { tx_hash } => {
            ApiError::RevertedOnChain { transaction_hash: tx_hash }
        }
        other @ UploadError::Encrypt(_) => ApiError::internal(other),
    }
}

/// The status of each download failure: 404 for an unknown record, 403 for
/// a caller the chain refuses.
fn download_error(error: DownloadError) -> ApiError {
    match error {
        DownloadError::UnknownRecord { .. } => ApiError::NotFound { message: error.to_string() },
        DownloadError::Forbidden { .. } => ApiError::Forbidden { message: error.to_string() },
        DownloadError::Chain(error) => chain_error(error),
        DownloadError::Ipfs(error) => ipfs_error(error),
        DownloadError::AccessLog(error) => access_log_error(error),
    }
}
