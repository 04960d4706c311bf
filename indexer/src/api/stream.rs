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
//!
//! An event id also carries the first 8 bytes of its block's hash while the
//! index keeps that hash (the blocks within the reorg window of the head
//! when they were indexed). A client that comes back with the id of a block
//! the chain has since replaced (a reorg it was away for) is sent a
//! `rollback` to the reorg window below that block first, then everything
//! after it again; an id past the index's head is rolled back to the head.

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
    audit::{Whose, event, push_events_of},
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
                .and_then(EventId::parse)
                .ok_or_else(|| ApiError::bad("Last-Event-ID", "not an event id of this stream"))
        })
        .transpose()?;
    // Subscribed before the first read, so no batch falls between the two.
    let changes = state.store().subscribe();
    let (head, replaced) = match Snapshot::begin(&state).await {
        Ok(mut snapshot) => {
            let replaced = match &resume {
                Some(seen) => seen.replaced(&mut snapshot).await?,
                None => false,
            };
            (Some(snapshot.head.number), replaced)
        }
        Err(ApiError::NotReady { .. }) => (None, false),
        Err(err) => return Err(err),
    };
    let mut pending = VecDeque::new();
    let after = match (resume.map(|seen| seen.position), head) {
        // The client saw blocks the index no longer has: a reorg it missed.
        (Some(seen), Some(head)) if seen.block > head => {
            pending.push_back(rollback(head));
            Position::end_of(head)
        }
        // The client's last block was replaced, and with it perhaps those
        // below it, as deep as a reorg may go.
        (Some(seen), Some(_)) if replaced => {
            let to = seen.block.saturating_sub(state.config().reorg_window);
            pending.push_back(rollback(to));
            Position::end_of(to)
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

/// A stream event's id: its position, and the first 8 bytes of its block's
/// hash (16 hex digits) when the index keeps that block.
#[derive(Debug, Clone, PartialEq, Eq)]
struct EventId {
    position: Position,
    block_hash: Option<String>,
}

impl EventId {
    /// Hex digits of the block hash an id carries.
    const HASH_DIGITS: usize = 16;

    /// The id of the event at `position`, in a block whose stored hash (0x
    /// and 64 hex digits) is `block_hash`.
    fn new(position: Position, block_hash: Option<&str>) -> Self {
        let block_hash = block_hash
            .and_then(|hash| hash.strip_prefix("0x"))
            .and_then(|digits| digits.get(..Self::HASH_DIGITS))
            .map(str::to_ascii_lowercase);
        Self { position, block_hash }
    }

    /// Parses an id this stream sent: a position, then perhaps a hash.
    fn parse(id: &str) -> Option<Self> {
        let position_digits = Position::START.to_string().len();
        let (position, hash) = id.split_at_checked(position_digits)?;
        let position = position.parse().ok()?;
        let block_hash = match hash.len() {
            0 => None,
            Self::HASH_DIGITS if hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
                Some(hash.to_ascii_lowercase())
            }
            _ => return None,
        };
        Some(Self { position, block_hash })
    }

    /// Whether the index now holds another block than the one this id was
    /// sent from (false when either hash is unknown).
    async fn replaced(&self, snapshot: &mut Snapshot) -> Result<bool, ApiError> {
        let Some(seen) = &self.block_hash else { return Ok(false) };
        let mut sql = Sql::new("SELECT hash FROM blocks WHERE chain_id = ");
        sql.int(snapshot.chain_id)
            .push(" AND number = ")
            .int(super::read::int(self.position.block));
        let rows = snapshot.fetch(sql).await?;
        let Some(row) = rows.first() else { return Ok(false) };
        let stored = EventId::new(self.position, Some(&Cols(row).text("hash")?));
        Ok(stored.block_hash.is_some_and(|stored| &stored != seen))
    }
}

impl std::fmt::Display for EventId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}", self.position, self.block_hash.as_deref().unwrap_or_default())
    }
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
        let (whose, account) = match &self.filter {
            Filter::Patient(patient) => (Whose::Patient, patient),
            Filter::Grantee(grantee) => (Whose::Account, grantee),
        };
        let mut sql = Sql::new("SELECT t.*, (SELECT b.hash FROM blocks b WHERE b.chain_id = ");
        sql.int(snapshot.chain_id).push(" AND b.number = t.block_number) AS block_hash FROM (");
        let only = format!(" AND name IN ('{}')", STREAMED.join("', '"));
        push_events_of(&mut sql, snapshot.chain_id, whose, account, &only, page);
        sql.push(") t WHERE 1 = 1").page("t", page);
        let mut rows = snapshot.fetch(sql).await?;
        rows.truncate(limit as usize);
        for row in &rows {
            let cols = Cols(row);
            let position = cols.position()?;
            let id = EventId::new(position, cols.opt_text("block_hash")?.as_deref());
            let name = cols.text("name")?;
            let data = event(&cols)?.to_string();
            self.pending.push_back(Event::default().event(name).id(id.to_string()).data(data));
            self.after = position;
        }
        Ok(!rows.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_id_names_its_position_and_its_blocks_hash() {
        let position = Position { block: 7, log_index: 3 };
        let hash = format!("0x{}", "AB".repeat(32));
        let id = EventId::new(position, Some(&hash));
        assert_eq!(id.to_string(), format!("{position}{}", "ab".repeat(8)));
        assert_eq!(EventId::parse(&id.to_string()), Some(id));

        // A block whose hash the index does not keep: the position alone.
        let bare = EventId::new(position, None);
        assert_eq!(bare.to_string(), position.to_string());
        assert_eq!(EventId::parse(&position.to_string()), Some(bare));

        for bad in ["", "xyz", &format!("{position}ab"), &format!("{position}{}", "g".repeat(16))] {
            assert_eq!(EventId::parse(bad), None, "{bad}");
        }
    }
}
