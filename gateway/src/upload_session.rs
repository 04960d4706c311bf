//! Upload sessions: a client-side record sent in parts, one request each,
//! all piped into one Kubo add as they arrive.
//!
//! Browsers stream a request body only over HTTP/2, and the gateway speaks
//! HTTP/1.1, so a page cannot send a large record as one streamed request
//! without holding all of it first. A session lets it send the record in
//! parts as it encrypts them:
//!
//! - `POST /v1/upload-sessions?<the query of POST /v1/records>` checks the
//!   query, starts [`Uploader::store`] on a task of its own whose body is a
//!   [`pipe`](crate::ipfs::pipe), and answers `{id, part_limit}`. With an
//!   `Idempotency-Key` that names a stored upload it answers
//!   `{done: ToSign}` at once, and the client sends nothing.
//! - `PUT /v1/upload-sessions/{id}?offset=N[&last=true]` streams its body
//!   into the pipe, so the request ends once the add has taken its bytes (a
//!   few chunks may wait in the pipe). `offset` must equal the bytes
//!   received so far (409 naming them otherwise), so a part whose answer was
//!   lost is sent again from where the gateway stands. The last part closes
//!   the pipe, awaits the store and answers what `POST /v1/records` answers.
//!
//! A session belongs to the address that opened it. One that receives no
//! part for the idle time ([`UploadSessions::new`]), or is open when the
//! gateway stops ([`UploadSessions::close_all`]), drops its pipe without
//! closing it: the add's body then ends in an error before its closing
//! boundary, and Kubo pins nothing of it. Nothing of a body is logged.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, MutexGuard, Weak,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use alloy::primitives::Address;
use axum::{
    body::{Body, HttpBody as _},
    extract::{Path, Query, State},
    http::HeaderMap,
    response::{IntoResponse, Response},
};
use http_body_util::BodyExt as _;
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use tokio::{io::AsyncWriteExt as _, task::JoinHandle, time::Instant};
use tokio_util::io::StreamReader;

use crate::{
    ApiError, AppState, Json, Session,
    idempotency::Idempotency,
    ipfs::{PipeWriter, pipe},
    pending::Upload,
    records::{Mode, UploadQuery, upload_error},
    upload::{RecordFields, ToSign, UploadError, Uploader},
};

/// Chunks of a part (as the HTTP body frames them) that may wait in the
/// pipe for Kubo.
const PIPE_CHUNKS: usize = 16;

/// How long the gateway's stop waits for each abandoned add to end.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// Why a session or one of its parts failed.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// No open session has this id: never opened, finished and forgotten,
    /// failed, or abandoned.
    #[error("no upload session {id}")]
    Unknown {
        /// The id asked for.
        id: String,
    },
    /// The session was opened by another address.
    #[error("the upload session is another address's")]
    NotOwner,
    /// The address has as many sessions open as it may.
    #[error("{limit} upload sessions are open already")]
    TooMany {
        /// The limit per address.
        limit: usize,
    },
    /// The part does not start where the bytes received so far end.
    #[error("the part starts at byte {offset}, but {expected} bytes were received")]
    WrongOffset {
        /// Where the part said it starts.
        offset: u64,
        /// The bytes received so far.
        expected: u64,
    },
    /// A part is larger than the part limit.
    #[error("a part may hold at most {limit} bytes")]
    PartTooLarge {
        /// The part limit.
        limit: u64,
    },
    /// The record grew past the upload limit; the session is ended.
    #[error("the upload is larger than the {limit}-byte limit")]
    TooLarge {
        /// The upload limit.
        limit: u64,
    },
    /// Another part of the session is still being received.
    #[error("another part of this upload is still being received")]
    Busy,
    /// The part's body could not be read to its end (the client went away,
    /// or sent nothing for the idle time). The bytes that were read count.
    #[error("the part could not be read")]
    Body,
    /// The store failed; the session is ended.
    #[error(transparent)]
    Upload(#[from] UploadError),
    /// The store's task ended without an answer.
    #[error("the upload task failed")]
    Task,
}

/// The open upload sessions of one gateway, by id.
#[derive(Debug)]
pub struct UploadSessions {
    open: Mutex<HashMap<String, Arc<Open>>>,
    idle: Duration,
    part_limit: u64,
    upload_limit: u64,
    per_address: usize,
}

/// One session.
#[derive(Debug)]
struct Open {
    owner: Address,
    /// The signature deadline the answer's typed data names.
    deadline: u64,
    /// When a byte last arrived (or the session opened).
    seen: Mutex<Instant>,
    /// Whether the store has answered; a finished session is kept for the
    /// idle time so that a lost last answer can be asked again, but counts
    /// no more against its owner's limit.
    finished: AtomicBool,
    /// The receiving side; one part holds it at a time.
    progress: tokio::sync::Mutex<Progress>,
}

impl Open {
    fn touch(&self) {
        *lock(&self.seen) = Instant::now();
    }

    fn last_seen(&self) -> Instant {
        *lock(&self.seen)
    }
}

#[derive(Debug)]
struct Progress {
    /// The pipe into the store; `None` once closed or dropped.
    writer: Option<PipeWriter>,
    /// The store's task, until its answer is taken.
    store: Option<JoinHandle<Result<Upload, UploadError>>>,
    /// The bytes received so far.
    received: u64,
    /// The stored upload, once the store answered.
    done: Option<Upload>,
}

/// What a part left the session at.
#[derive(Debug, Clone)]
pub enum Received {
    /// More is expected; this many bytes are in.
    Partial(u64),
    /// The record is stored (the last part, or an idempotent store that
    /// found it already); the author signs this upload until `deadline`.
    Stored {
        /// The pending upload.
        upload: Box<Upload>,
        /// The deadline the session was opened with.
        deadline: u64,
    },
}

impl UploadSessions {
    /// No sessions yet. A session is abandoned after `idle` without a byte,
    /// a part may hold `part_limit` bytes and a record `upload_limit`, and an
    /// address may hold `per_address` sessions open.
    pub fn new(idle: Duration, part_limit: u64, upload_limit: u64, per_address: usize) -> Self {
        Self { open: Mutex::default(), idle, part_limit, upload_limit, per_address }
    }

    /// The largest part a session takes.
    pub fn part_limit(&self) -> u64 {
        self.part_limit
    }

    /// How long a session waits for its next byte.
    pub fn idle(&self) -> Duration {
        self.idle
    }

    /// How many sessions are open (finished ones included until they are
    /// forgotten).
    pub fn len(&self) -> usize {
        lock(&self.open).len()
    }

    /// Whether no session is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Opens a session for `owner`: starts `uploader`'s store of a
    /// client-side record with `fields` (and `idempotency_key`) on a task fed
    /// by the session's parts, and a watchdog that abandons it when idle.
    /// Returns its id (128 random bits, hex).
    pub fn open(
        self: &Arc<Self>,
        uploader: Uploader,
        fields: RecordFields,
        idempotency_key: Option<String>,
        deadline: u64,
    ) -> Result<String, SessionError> {
        let owner = fields.author;
        let mut random = [0; 16];
        OsRng.fill_bytes(&mut random);
        let id = hex::encode(random);
        let (writer, reader) = pipe(PIPE_CHUNKS);
        {
            let mut open = lock(&self.open);
            let held = open
                .values()
                .filter(|open| open.owner == owner && !open.finished.load(Ordering::Relaxed))
                .count();
            if held >= self.per_address {
                return Err(SessionError::TooMany { limit: self.per_address });
            }
            let store = tokio::spawn(async move {
                uploader.store(fields, StreamReader::new(reader), false, idempotency_key).await
            });
            let progress =
                Progress { writer: Some(writer), store: Some(store), received: 0, done: None };
            open.insert(
                id.clone(),
                Arc::new(Open {
                    owner,
                    deadline,
                    seen: Mutex::new(Instant::now()),
                    finished: AtomicBool::new(false),
                    progress: tokio::sync::Mutex::new(progress),
                }),
            );
        }
        tokio::spawn(watch(Arc::downgrade(self), id.clone(), self.idle));
        tracing::debug!(session = %id, "upload session opened");
        Ok(id)
    }

    /// Receives a part of session `id` from `owner`: `body`, starting at byte
    /// `offset` of the record; `last` ends the record and awaits the store.
    pub async fn receive(
        &self,
        owner: Address,
        id: &str,
        offset: u64,
        last: bool,
        body: Body,
    ) -> Result<Received, SessionError> {
        let open = self.get(id).ok_or_else(|| SessionError::Unknown { id: id.to_owned() })?;
        if open.owner != owner {
            return Err(SessionError::NotOwner);
        }
        // A retry may race the part it replaces, whose read is about to fail.
        let mut progress = tokio::time::timeout(self.idle, open.progress.lock())
            .await
            .map_err(|_| SessionError::Busy)?;
        open.touch();
        if let Some(upload) = &progress.done {
            return if offset == progress.received {
                Ok(Received::Stored { upload: Box::new(upload.clone()), deadline: open.deadline })
            } else {
                Err(SessionError::WrongOffset { offset, expected: progress.received })
            };
        }
        if offset != progress.received {
            return Err(SessionError::WrongOffset { offset, expected: progress.received });
        }
        if body.size_hint().lower() > self.part_limit {
            return Err(SessionError::PartTooLarge { limit: self.part_limit });
        }
        let poured = self.pour(&open, &mut progress, body).await;
        let stopped = match poured {
            Ok(stopped) => stopped,
            // The part is cut short; what came of it counts, and the client
            // learns where to go on from the next offset check.
            Err(error @ (SessionError::Body | SessionError::PartTooLarge { .. })) => {
                return Err(error);
            }
            Err(error) => {
                self.fail(id, &mut progress);
                return Err(error);
            }
        };
        if last || stopped || progress.store.as_ref().is_some_and(JoinHandle::is_finished) {
            if let Some(mut writer) = progress.writer.take() {
                // A store that stopped reading has its answer already.
                let _ = writer.shutdown().await;
            }
            let answer = match progress.store.take() {
                Some(store) => store.await.map_err(|_| SessionError::Task)?,
                None => return Err(SessionError::Task),
            };
            match answer {
                Ok(upload) => {
                    progress.done = Some(upload.clone());
                    open.finished.store(true, Ordering::Relaxed);
                    tracing::debug!(session = %id, upload = %upload.id, "upload session stored");
                    return Ok(Received::Stored {
                        upload: Box::new(upload),
                        deadline: open.deadline,
                    });
                }
                Err(error) => {
                    self.fail(id, &mut progress);
                    return Err(error.into());
                }
            }
        }
        Ok(Received::Partial(progress.received))
    }

    /// Streams `body` into the session's pipe, counting what goes in.
    /// Returns whether the store stopped reading (it failed, or an
    /// idempotency key found the upload stored already).
    async fn pour(
        &self,
        open: &Open,
        progress: &mut Progress,
        mut body: Body,
    ) -> Result<bool, SessionError> {
        let mut part = 0u64;
        loop {
            let frame = match tokio::time::timeout(self.idle, body.frame()).await {
                Ok(Some(Ok(frame))) => frame,
                Ok(None) => return Ok(false),
                Ok(Some(Err(_))) | Err(_) => return Err(SessionError::Body),
            };
            let Ok(chunk) = frame.into_data() else { continue };
            let len = chunk.len() as u64;
            if len == 0 {
                continue;
            }
            part += len;
            if part > self.part_limit {
                return Err(SessionError::PartTooLarge { limit: self.part_limit });
            }
            if progress.received + len > self.upload_limit {
                return Err(SessionError::TooLarge { limit: self.upload_limit });
            }
            let Some(writer) = progress.writer.as_mut() else { return Err(SessionError::Task) };
            if writer.send(chunk).await.is_err() {
                return Ok(true);
            }
            progress.received += len;
            open.touch();
        }
    }

    /// Ends session `id`: its pipe is dropped without being closed, so that
    /// the add (if still running) is aborted, and the session forgotten.
    fn fail(&self, id: &str, progress: &mut Progress) {
        progress.writer = None;
        progress.store = None;
        lock(&self.open).remove(id);
    }

    fn get(&self, id: &str) -> Option<Arc<Open>> {
        lock(&self.open).get(id).cloned()
    }

    /// Abandons every open session (the gateway is stopping): each pipe is
    /// dropped unclosed and its add awaited a moment, so that Kubo sees each
    /// body end in an error and pins nothing.
    pub async fn close_all(&self) {
        let open: Vec<(String, Arc<Open>)> = lock(&self.open).drain().collect();
        for (id, open) in open {
            let mut progress = open.progress.lock().await;
            progress.writer = None;
            if let Some(store) = progress.store.take() {
                let _ = tokio::time::timeout(CLOSE_WAIT, store).await;
                tracing::info!(session = %id, "upload session closed by the stop");
            }
        }
    }
}

/// Abandons session `id` of `sessions` once no byte came for `idle`, and
/// forgets a finished one after the same time.
async fn watch(sessions: Weak<UploadSessions>, id: String, idle: Duration) {
    let mut due = Instant::now() + idle;
    loop {
        tokio::time::sleep_until(due).await;
        let Some(sessions) = sessions.upgrade() else { return };
        let Some(open) = sessions.get(&id) else { return };
        due = open.last_seen() + idle;
        if due > Instant::now() {
            continue;
        }
        // A part being received is not idle: its own read times out.
        let Ok(mut progress) = open.progress.try_lock() else {
            due = Instant::now() + idle;
            continue;
        };
        if progress.done.is_none() {
            tracing::info!(session = %id, "upload session abandoned");
        }
        sessions.fail(&id, &mut progress);
        return;
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves valid data behind.
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The answer to `POST /v1/upload-sessions`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Opened {
    /// A session to send the parts to.
    Session {
        /// The session's id.
        id: String,
        /// The largest part it takes, in bytes.
        part_limit: u64,
    },
    /// The idempotency key names an upload stored already: sign this.
    Done {
        /// What `POST /v1/records` would answer.
        done: Box<ToSign>,
    },
}

/// The query of a part.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartQuery {
    /// Where the part starts in the record: the bytes received so far.
    pub offset: u64,
    /// Whether this is the record's last part.
    #[serde(default)]
    pub last: bool,
}

/// The answer to a part that is not the last.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct PartReceived {
    /// The bytes received so far: where the next part starts.
    pub received: u64,
}

/// `POST /v1/upload-sessions`.
pub async fn open(
    State(state): State<AppState>,
    session: Session,
    Query(query): Query<UploadQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if query.mode == Mode::Server {
        return Err(ApiError::invalid(
            "upload sessions take records encrypted by the client; send plaintext to \
             POST /v1/records?mode=server",
        ));
    }
    if query.signed {
        return Err(ApiError::invalid(
            "an upload session's record is committed with POST /v1/uploads/{id}/commit;              signed=true is for POST /v1/records",
        ));
    }
    let key = Idempotency::key(&headers)?;
    let fields = query.fields(session.address)?;
    let deadline = query.deadline();
    let limit = state.settings.limits.upload_limit;
    let uploader = &state.data.uploader;
    if let Some(key) = &key {
        let existing = uploader
            .pending
            .by_idempotency_key(key)
            .await
            .map_err(|error| upload_error(error.into(), limit))?;
        if let Some(existing) = existing {
            let done = sign(&state, session.address, existing, deadline).await?;
            return Ok(Json(Opened::Done { done: Box::new(done) }).into_response());
        }
    }
    let id = state
        .uploads
        .open(uploader.clone(), fields, key, deadline)
        .map_err(|error| session_error(&state, error))?;
    Ok(Json(Opened::Session { id, part_limit: state.uploads.part_limit() }).into_response())
}

/// `PUT /v1/upload-sessions/{id}`.
pub async fn part(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    Query(query): Query<PartQuery>,
    body: Body,
) -> Result<Response, ApiError> {
    let received = state
        .uploads
        .receive(session.address, &id, query.offset, query.last, body)
        .await
        .map_err(|error| session_error(&state, error))?;
    match received {
        Received::Partial(received) => Ok(Json(PartReceived { received }).into_response()),
        Received::Stored { upload, deadline } => {
            Ok(Json(sign(&state, session.address, *upload, deadline).await?).into_response())
        }
    }
}

/// What `author` signs for `upload`, as `POST /v1/records` answers it.
async fn sign(
    state: &AppState,
    author: Address,
    upload: Upload,
    deadline: u64,
) -> Result<ToSign, ApiError> {
    if upload.author != author {
        return Err(ApiError::Forbidden { message: "the upload is another author's".into() });
    }
    let limit = state.settings.limits.upload_limit;
    state.data.uploader.to_sign(upload, deadline).await.map_err(|error| upload_error(error, limit))
}

/// The status of each session failure; a failed store maps as `POST
/// /v1/records` maps it.
fn session_error(state: &AppState, error: SessionError) -> ApiError {
    let to_usize = |limit: u64| usize::try_from(limit).unwrap_or(usize::MAX);
    match error {
        SessionError::Unknown { .. } => ApiError::NotFound { message: error.to_string() },
        SessionError::NotOwner => ApiError::Forbidden { message: error.to_string() },
        SessionError::TooMany { .. } => ApiError::RateLimited { retry_after: state.uploads.idle() },
        SessionError::WrongOffset { offset, expected } => {
            ApiError::WrongOffset { offset, expected }
        }
        SessionError::PartTooLarge { limit } | SessionError::TooLarge { limit } => {
            ApiError::PayloadTooLarge { limit: to_usize(limit) }
        }
        SessionError::Busy => ApiError::PartInFlight,
        SessionError::Body => ApiError::invalid(error.to_string()),
        SessionError::Upload(error) => upload_error(error, state.settings.limits.upload_limit),
        SessionError::Task => ApiError::internal(error),
    }
}
