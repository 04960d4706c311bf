//! `GET /v1/stream`: live events for a patient or a grantee, as server-sent
//! events, resumable with `Last-Event-ID`.
//!
//! Each event's id is its chain position, the same opaque form as a cursor.
//! A client that reconnects with the last id it saw is replayed what it
//! missed from the database, then follows: the stream subscribes to the
//! store's notifier before it reads anything, and after each committed batch
//! reads the events past the last one it sent. Nothing is kept per client
//! but one page of rows; the notifier is a bounded broadcast channel, and a
//! client too slow to keep up with it is disconnected (it resumes with its
//! `Last-Event-ID`) rather than allowed to hold memory.
//!
//! A reorg sends a `rollback` event, `{ "to": block }`, whose id is the end of
//! that block: the client drops what it holds after `to`, and the stream
//! resends what replaced it.

use std::{collections::VecDeque, convert::Infallible, time::Duration};

use axum::{
    extract::State,
    http::{HeaderMap, Uri},
    response::sse::{Event, KeepAlive, Sse},
};
use futures_util::{Stream, stream};
use serde_json::json;
use tokio::sync::broadcast::{Receiver, error::RecvError};

use super::{
    ApiError, ApiState, Params, Position,
    audit::event,
    params::PageRequest,
    read::{Cols, Snapshot, Sql},
    records::lower,
};
use crate::store::Change;

/// The events a stream carries: requests, grants and revocations, alerts,
/// envelopes and rotations, break-glass cases.
pub const STREAMED: [&str; 13] = [
    "AccessRequested",
    "RequestApproved",
    "RequestDenied",
    "Granted",
    "Revoked",
    "RecordGranted",
    "RecordRevoked",
    "AlertRaised",
    "CategoryKeyPublished",
    "RecordKeyPublished",
    "CategoryKeyRotated",
    "BreakGlassOpened",
    "BreakGlassClosed",
];

/// Whose events a stream follows.
#[derive(Clone, Debug)]
enum Filter {
    /// Events that touch this patient.
    Patient(String),
    /// Events whose counterpart (grantee, staff, recipient) is this account.
    Grantee(String),
}

/// `GET /v1/stream?patient=0x..` or `?grantee=0x..`.
pub(crate) async fn stream(
    State(state): State<ApiState>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let mut params = Params::from_uri(&uri)?;
    let patient = params.address("patient")?;
    let grantee = params.address("grantee")?;
    params.finish()?;
    let filter = match (patient, grantee) {
        (Some(patient), None) => Filter::Patient(lower(patient)),
        (None, Some(grantee)) => Filter::Grantee(lower(grantee)),
        (Some(_), Some(_)) => return Err(ApiError::bad("grantee", "not with patient")),
        (None, None) => return Err(ApiError::bad("patient", "patient or grantee is required")),
    };
    let resume = headers
        .get("last-event-id")
        .map(|value| {
            value
                .to_str()
                .ok()
                .and_then(|id| id.parse::<Position>().ok())
                .ok_or_else(|| ApiError::bad("Last-Event-ID", "not an event id of this stream"))
        })
        .transpose()?;
    // Subscribed before the first read, so no batch falls between the two.
    let changes = state.store().subscribe();
    let head = match Snapshot::begin(&state).await {
        Ok(snapshot) => Some(snapshot.head.number),
        Err(ApiError::NotReady { .. }) => None,
        Err(err) => return Err(err),
    };
    let mut pending = VecDeque::new();
    let after = match (resume, head) {
        // The client saw blocks the index no longer has: a reorg it missed.
        (Some(seen), Some(head)) if seen.block > head => {
            pending.push_back(rollback(head));
            Position::end_of(head)
        }
        (Some(seen), _) => seen,
        (None, Some(head)) => Position::end_of(head),
        (None, None) => Position::START,
    };
    let follower = Follower { state, filter, after, changes, pending };
    let events = stream::unfold(follower, |mut follower| async move {
        let event = follower.next().await?;
        Some((Ok(event), follower))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// One client's position in the index and its page of unsent events.
struct Follower {
    state: ApiState,
    filter: Filter,
    after: Position,
    changes: Receiver<Change>,
    pending: VecDeque<Event>,
}

/// The `rollback` event of a reorg back to block `to`.
fn rollback(to: u64) -> Event {
    let data = json!({ "to": to }).to_string();
    Event::default().event("rollback").id(Position::end_of(to).to_string()).data(data)
}

impl Follower {
    /// The next event to send; `None` ends the stream.
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(event);
            }
            match self.fill().await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(err) => {
                    // Logged as an ApiError; the client resumes with its id.
                    tracing::warn!(error = %err, "live stream stopped on a read failure");
                    return None;
                }
            }
            match self.changes.recv().await {
                Ok(Change::Committed { chain_id, .. }) if chain_id == self.state.chain_id() => {}
                Ok(Change::RolledBack { chain_id, to }) if chain_id == self.state.chain_id() => {
                    if self.after.block > to {
                        self.after = Position::end_of(to);
                        return Some(rollback(to));
                    }
                }
                Ok(_) => {}
                Err(RecvError::Lagged(missed)) => {
                    tracing::info!(missed, "live stream client too slow; disconnected");
                    return None;
                }
                Err(RecvError::Closed) => return None,
            }
        }
    }

    /// Reads the next page of events past `after`; whether it found any.
    async fn fill(&mut self) -> Result<bool, ApiError> {
        let limit = u32::try_from(self.state.config().stream_buffer).unwrap_or(u32::MAX).max(1);
        let page = PageRequest { after: self.after, limit };
        let mut snapshot = match Snapshot::begin(&self.state).await {
            Ok(snapshot) => snapshot,
            // Nothing indexed yet: wait for the first batch.
            Err(ApiError::NotReady { .. }) => return Ok(false),
            Err(err) => return Err(err),
        };
        let (column, account) = match &self.filter {
            Filter::Patient(patient) => ("patient", patient),
            Filter::Grantee(grantee) => ("account", grantee),
        };
        let mut sql = Sql::new(
            "SELECT block_number, log_index, tx_hash, block_time, name, patient, account, \
             record_id, data FROM events WHERE chain_id = ",
        );
        sql.int(snapshot.chain_id)
            .push(&format!(" AND {column} = "))
            .text(account.clone())
            .push(&format!(" AND name IN ('{}')", STREAMED.join("', '")))
            .page("", page);
        let mut rows = snapshot.fetch(sql).await?;
        rows.truncate(limit as usize);
        for row in &rows {
            let cols = Cols(row);
            let position = cols.position()?;
            let name = cols.text("name")?;
            let data = event(&cols)?.to_string();
            self.pending
                .push_back(Event::default().event(name).id(position.to_string()).data(data));
            self.after = position;
        }
        Ok(!rows.is_empty())
    }
}
