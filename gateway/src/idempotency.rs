//! Idempotency keys: a retry with the same `Idempotency-Key` gets the first
//! result, not a second transaction.
//!
//! A key belongs to the signed-in caller (two callers may use the same key)
//! and is bound to a hash of the request: the same key with another request
//! is refused (422). [`Idempotency::claim`] either hands back the stored
//! result of a finished request, refuses a duplicate still in flight in this
//! process (409), or gives a [`Ticket`] to do the work. The ticket records
//! the transaction hash before the transaction is sent, so that a retry
//! after a crash finds the transaction instead of sending another, then the
//! final status and body. A row left pending by a crashed process is taken
//! over by the next retry with its transaction hash, if any.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
};

use alloy::primitives::{Address, B256};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use sqlx::{Row, sqlite::SqlitePool};

use crate::{ApiError, unix_now};

/// The header that carries the key.
pub const HEADER: &str = "idempotency-key";
/// The header set on a response replayed from the store.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";
/// The longest key accepted.
const MAX_KEY_LEN: usize = 255;

/// The idempotency store.
#[derive(Debug)]
pub struct Idempotency {
    db: SqlitePool,
    in_flight: Arc<Mutex<HashSet<(Address, String)>>>,
}

/// A finished request's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// Its HTTP status.
    pub status: StatusCode,
    /// Its JSON body.
    pub body: serde_json::Value,
}

/// What to do with a request that carries a key.
#[derive(Debug)]
pub enum Claim {
    /// Do the work: the key is new, or a crashed process left it pending.
    Fresh {
        /// The right to finish the key.
        ticket: Ticket,
        /// The transaction that the earlier attempt sent, if it got so far.
        sent: Option<B256>,
    },
    /// The request finished before: answer with its result.
    Done(Stored),
}

impl Idempotency {
    /// A store over `db` (which holds the `idempotency_keys` table).
    pub fn new(db: SqlitePool) -> Self {
        Self { db, in_flight: Arc::default() }
    }

    /// The key of a request, if it has one; 400 if it is empty, too long or
    /// not visible ASCII.
    pub fn key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
        let Some(value) = headers.get(HEADER) else { return Ok(None) };
        let key = value
            .to_str()
            .ok()
            .filter(|key| {
                !key.is_empty()
                    && key.len() <= MAX_KEY_LEN
                    && key.bytes().all(|byte| byte.is_ascii_graphic())
            })
            .ok_or_else(|| {
                ApiError::invalid(format!(
                    "the Idempotency-Key must be 1 to {MAX_KEY_LEN} visible ASCII characters"
                ))
            })?;
        Ok(Some(key.to_owned()))
    }

    /// Forgets the keys claimed before `before` (unix seconds): a retry
    /// after that is a new request. Returns how many were dropped.
    pub async fn prune(&self, before: u64) -> Result<u64, ApiError> {
        let pruned = sqlx::query("DELETE FROM idempotency_keys WHERE created_at < ?")
            .bind(i64::try_from(before).unwrap_or(i64::MAX))
            .execute(&self.db)
            .await
            .map_err(ApiError::internal)?
            .rows_affected();
        Ok(pruned)
    }

    /// Claims `key` of `owner` for a request of `scope` (the route) whose
    /// content hashes to `request`.
    pub async fn claim(
        &self,
        owner: Address,
        key: &str,
        scope: &str,
        request: B256,
    ) -> Result<Claim, ApiError> {
        let id = (owner, key.to_owned());
        {
            let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
            if !in_flight.insert(id.clone()) {
                return Err(ApiError::InFlight { key: key.to_owned() });
            }
        }
        // From here on, dropping the ticket releases the key.
        let ticket = Ticket { db: self.db.clone(), in_flight: self.in_flight.clone(), id };
        let owner_text = owner.to_string();
        let inserted = sqlx::query(
            "INSERT INTO idempotency_keys (owner, key, scope, request_hash, state, created_at)
             VALUES (?, ?, ?, ?, 'pending', ?) ON CONFLICT (owner, key) DO NOTHING",
        )
        .bind(&owner_text)
        .bind(key)
        .bind(scope)
        .bind(request.as_slice())
        .bind(unix_now() as i64)
        .execute(&self.db)
        .await
        .map_err(ApiError::internal)?
        .rows_affected();
        if inserted == 1 {
            return Ok(Claim::Fresh { ticket, sent: None });
        }
        let row = sqlx::query(
            "SELECT scope, request_hash, state, tx_hash, status, response
             FROM idempotency_keys WHERE owner = ? AND key = ?",
        )
        .bind(&owner_text)
        .bind(key)
        .fetch_one(&self.db)
        .await
        .map_err(ApiError::internal)?;
        let stored_scope: String = row.get("scope");
        let stored_hash: Vec<u8> = row.get("request_hash");
        if stored_scope != scope || stored_hash != request.as_slice() {
            return Err(ApiError::KeyReused { key: key.to_owned() });
        }
        let state: String = row.get("state");
        if state == "done" {
            let status: i64 = row.get("status");
            let response: String = row.get("response");
            let status = u16::try_from(status)
                .ok()
                .and_then(|status| StatusCode::from_u16(status).ok())
                .ok_or_else(|| ApiError::internal("a stored status is not an HTTP status"))?;
            let body = serde_json::from_str(&response).map_err(ApiError::internal)?;
            return Ok(Claim::Done(Stored { status, body }));
        }
        let sent: Option<String> = row.get("tx_hash");
        let sent = sent
            .map(|hash| hash.parse::<B256>())
            .transpose()
            .map_err(|_| ApiError::internal("a stored transaction hash does not parse"))?;
        Ok(Claim::Fresh { ticket, sent })
    }
}

/// The right to work on a key, held by one request at a time.
#[derive(Debug)]
pub struct Ticket {
    db: SqlitePool,
    in_flight: Arc<Mutex<HashSet<(Address, String)>>>,
    id: (Address, String),
}

impl Ticket {
    /// Records the transaction about to be sent for this key.
    pub async fn record_sent(&self, tx_hash: B256) -> Result<(), ApiError> {
        sqlx::query("UPDATE idempotency_keys SET tx_hash = ? WHERE owner = ? AND key = ?")
            .bind(tx_hash.to_string())
            .bind(self.id.0.to_string())
            .bind(&self.id.1)
            .execute(&self.db)
            .await
            .map_err(ApiError::internal)?;
        Ok(())
    }

    /// Stores the request's result; later claims get it back.
    pub async fn finish(self, stored: &Stored) -> Result<(), ApiError> {
        sqlx::query(
            "UPDATE idempotency_keys SET state = 'done', status = ?, response = ?
             WHERE owner = ? AND key = ?",
        )
        .bind(i64::from(stored.status.as_u16()))
        .bind(stored.body.to_string())
        .bind(self.id.0.to_string())
        .bind(&self.id.1)
        .execute(&self.db)
        .await
        .map_err(ApiError::internal)?;
        Ok(())
    }

    /// Forgets the key: the request failed before it changed anything, and a
    /// retry may do the work afresh (with the same or another body).
    pub async fn forget(self) -> Result<(), ApiError> {
        sqlx::query(
            "DELETE FROM idempotency_keys WHERE owner = ? AND key = ? AND state = 'pending'",
        )
        .bind(self.id.0.to_string())
        .bind(&self.id.1)
        .execute(&self.db)
        .await
        .map_err(ApiError::internal)?;
        Ok(())
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.in_flight.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.id);
    }
}

/// The hash that binds a key to its request: SHA-256 over the scope's
/// length, the scope and the body.
pub fn request_hash(scope: &[u8], body: &[u8]) -> B256 {
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    context.update(&(scope.len() as u64).to_be_bytes());
    context.update(scope);
    context.update(body);
    B256::from_slice(context.finish().as_ref())
}

/// Marks a response as replayed from the store.
pub fn replayed_header() -> (axum::http::HeaderName, HeaderValue) {
    (axum::http::HeaderName::from_static(REPLAYED_HEADER), HeaderValue::from_static("true"))
}

#[cfg(test)]
mod tests {
    use alloy::primitives::{address, b256};
    use serde_json::json;

    use super::*;

    const ALICE: Address = address!("0x00000000000000000000000000000000000a11ce");
    const BOB: Address = address!("0x0000000000000000000000000000000000000b0b");
    const REQUEST: B256 =
        b256!("0x1111111111111111111111111111111111111111111111111111111111111111");
    const OTHER: B256 = b256!("0x2222222222222222222222222222222222222222222222222222222222222222");

    async fn store() -> (Idempotency, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::store::open(&dir.path().join("gateway.sqlite")).await.unwrap();
        (Idempotency::new(db), dir)
    }

    #[tokio::test]
    async fn keys_older_than_the_retention_are_forgotten() {
        let (store, _dir) = store().await;
        let Claim::Fresh { ticket, .. } = store.claim(ALICE, "k1", "relay", REQUEST).await.unwrap()
        else {
            panic!("a new key was not fresh")
        };
        ticket.finish(&Stored { status: StatusCode::OK, body: json!({}) }).await.unwrap();
        let now = unix_now();
        assert_eq!(store.prune(now - 60).await.unwrap(), 0, "a recent key is kept");
        assert!(matches!(
            store.claim(ALICE, "k1", "relay", REQUEST).await.unwrap(),
            Claim::Done(_)
        ));
        assert_eq!(store.prune(now + 1).await.unwrap(), 1);
        // The same key is a new request now, even with another body.
        assert!(matches!(
            store.claim(ALICE, "k1", "relay", OTHER).await.unwrap(),
            Claim::Fresh { sent: None, .. }
        ));
    }

    #[tokio::test]
    async fn a_finished_key_replays_its_result() {
        let (store, _dir) = store().await;
        let Claim::Fresh { ticket, sent: None } =
            store.claim(ALICE, "k1", "relay", REQUEST).await.unwrap()
        else {
            panic!("a new key was not fresh")
        };
        let result = Stored { status: StatusCode::OK, body: json!({"transactionHash": "0x12"}) };
        ticket.finish(&result).await.unwrap();
        let Claim::Done(stored) = store.claim(ALICE, "k1", "relay", REQUEST).await.unwrap() else {
            panic!("a finished key was not replayed")
        };
        assert_eq!(stored, result);
        // Bob's "k1" is another key.
        assert!(matches!(
            store.claim(BOB, "k1", "relay", OTHER).await.unwrap(),
            Claim::Fresh { .. }
        ));
    }

    #[tokio::test]
    async fn another_request_under_the_same_key_is_refused() {
        let (store, _dir) = store().await;
        let Claim::Fresh { ticket, .. } = store.claim(ALICE, "k", "relay", REQUEST).await.unwrap()
        else {
            panic!()
        };
        drop(ticket);
        assert!(matches!(
            store.claim(ALICE, "k", "relay", OTHER).await,
            Err(ApiError::KeyReused { .. })
        ));
        assert!(matches!(
            store.claim(ALICE, "k", "upload", REQUEST).await,
            Err(ApiError::KeyReused { .. })
        ));
    }

    #[tokio::test]
    async fn a_duplicate_in_flight_is_a_conflict_until_the_first_ends() {
        let (store, _dir) = store().await;
        let first = store.claim(ALICE, "k", "relay", REQUEST).await.unwrap();
        assert!(matches!(
            store.claim(ALICE, "k", "relay", REQUEST).await,
            Err(ApiError::InFlight { .. })
        ));
        let Claim::Fresh { ticket, .. } = first else { panic!() };
        ticket.record_sent(OTHER).await.unwrap();
        // The first request dies without finishing (as in a crash): the next
        // retry takes over, with the transaction it had sent.
        drop(ticket);
        let Claim::Fresh { sent, ticket } =
            store.claim(ALICE, "k", "relay", REQUEST).await.unwrap()
        else {
            panic!()
        };
        assert_eq!(sent, Some(OTHER));
        ticket.forget().await.unwrap();
        assert!(matches!(
            store.claim(ALICE, "k", "relay", OTHER).await.unwrap(),
            Claim::Fresh { sent: None, .. }
        ));
    }

    #[test]
    fn keys_must_be_visible_ascii() {
        let mut headers = HeaderMap::new();
        assert_eq!(Idempotency::key(&headers).unwrap(), None);
        headers.insert(HEADER, HeaderValue::from_static("order-42"));
        assert_eq!(Idempotency::key(&headers).unwrap().as_deref(), Some("order-42"));
        headers.insert(HEADER, HeaderValue::from_static("two words"));
        assert!(Idempotency::key(&headers).is_err());
        headers.insert(HEADER, HeaderValue::from_str(&"k".repeat(256)).unwrap());
        assert!(Idempotency::key(&headers).is_err());
    }
}
