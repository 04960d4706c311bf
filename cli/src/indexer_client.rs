//! A client of the indexer's query API (`docs/indexer.md`).
//!
//! The indexer answers `{ block, items, next }` pages in chain order; [`IndexerClient::list`]
//! follows the `next` cursors and returns every item. Items stay JSON
//! values: the CLI reads a few fields of each and passes the rest through
//! to `--json`. [`IndexerClient::stream`] follows the server-sent events of
//! `/v1/stream`.

use std::time::Duration;

use alloy::primitives::{Address, U256};
use serde::Deserialize;
use serde_json::Value;
use url::Url;

/// The most items one `list` call gathers, so that a runaway list ends.
const MAX_ITEMS: usize = 10_000;

/// Why an indexer request failed.
#[derive(Debug, thiserror::Error)]
pub enum IndexerError {
    /// The indexer could not be reached.
    #[error("the indexer at {url} did not answer")]
    Unreachable {
        /// The URL requested.
        url: String,
        /// The transport's error.
        #[source]
        source: reqwest::Error,
    },
    /// The indexer refused the request.
    #[error("the indexer refused {path}: {message}")]
    Refused {
        /// The route.
        path: String,
        /// The HTTP status.
        status: u16,
        /// Its message.
        message: String,
    },
    /// The answer was not the JSON expected.
    #[error("the indexer's answer to {path} was not understood")]
    Malformed {
        /// The route.
        path: String,
    },
}

#[derive(Debug, Deserialize)]
struct Page {
    #[serde(default)]
    items: Vec<Value>,
    #[serde(default)]
    item: Option<Value>,
    #[serde(default)]
    next: Option<String>,
}

/// A client of one indexer.
#[derive(Debug, Clone)]
pub struct IndexerClient {
    http: reqwest::Client,
    base: Url,
}

impl IndexerClient {
    /// A client of the indexer at `base`.
    pub fn new(base: Url) -> Self {
        Self { http: reqwest::Client::new(), base }
    }

    fn url(&self, path: &str) -> Url {
        let mut url = self.base.clone();
        url.set_path(&format!("{}{}", self.base.path().trim_end_matches('/'), path));
        url
    }

    async fn page(&self, path: &str, query: &[(&str, String)]) -> Result<Page, IndexerError> {
        let url = self.url(path);
        let response = self
            .http
            .get(crate::gateway_client::with_query(url.clone(), query))
            .send()
            .await
            .map_err(|source| IndexerError::Unreachable { url: url.to_string(), source })?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|source| IndexerError::Unreachable { url: url.to_string(), source })?;
        if !status.is_success() {
            let message = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_owned))
                .unwrap_or_else(|| format!("HTTP {status}"));
            return Err(IndexerError::Refused {
                path: path.to_owned(),
                status: status.as_u16(),
                message,
            });
        }
        serde_json::from_str(&text).map_err(|_| IndexerError::Malformed { path: path.to_owned() })
    }

    /// Every item of a list route, following the cursors.
    pub async fn list(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Vec<Value>, IndexerError> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut full: Vec<(&str, String)> = query.to_vec();
            full.push(("limit", "500".into()));
            if let Some(cursor) = &cursor {
                full.push(("cursor", cursor.clone()));
            }
            let page = self.page(path, &full).await?;
            items.extend(page.items);
            match page.next {
                Some(next) if items.len() < MAX_ITEMS => cursor = Some(next),
                _ => return Ok(items),
            }
        }
    }

    /// The one item of an item route (`/v1/records/{id}`).
    pub async fn item(&self, path: &str) -> Result<Value, IndexerError> {
        self.page(path, &[])
            .await?
            .item
            .ok_or_else(|| IndexerError::Malformed { path: path.to_owned() })
    }

    /// A patient's records, optionally of one category.
    pub async fn records(
        &self,
        patient: Address,
        category: Option<u8>,
    ) -> Result<Vec<Value>, IndexerError> {
        let query: Vec<(&str, String)> =
            category.map(|c| ("category", c.to_string())).into_iter().collect();
        self.list(&format!("/v1/patients/{patient:#x}/records"), &query).await
    }

    /// The key envelopes sealed to `recipient`, optionally for one patient.
    pub async fn envelopes(
        &self,
        recipient: Address,
        patient: Option<Address>,
    ) -> Result<Vec<Value>, IndexerError> {
        let query: Vec<(&str, String)> =
            patient.map(|p| ("patient", format!("{p:#x}"))).into_iter().collect();
        self.list(&format!("/v1/recipients/{recipient:#x}/envelopes"), &query).await
    }

    /// A patient's category key rotations.
    pub async fn rotations(&self, patient: Address) -> Result<Vec<Value>, IndexerError> {
        self.list(&format!("/v1/patients/{patient:#x}/rotations"), &[]).await
    }

    /// One access request.
    pub async fn request(&self, id: U256) -> Result<Value, IndexerError> {
        self.item(&format!("/v1/requests/{id}")).await
    }

    /// Opens the live stream (`?patient=` or `?grantee=`), resuming after
    /// `last_event_id` if given.
    pub async fn stream(
        &self,
        query: &[(&str, String)],
        last_event_id: Option<&str>,
    ) -> Result<EventStream, IndexerError> {
        let path = "/v1/stream";
        let url = self.url(path);
        let mut request = self
            .http
            .get(crate::gateway_client::with_query(url.clone(), query))
            .header("Accept", "text/event-stream");
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id);
        }
        let response = request
            .send()
            .await
            .map_err(|source| IndexerError::Unreachable { url: url.to_string(), source })?;
        if !response.status().is_success() {
            return Err(IndexerError::Refused {
                path: path.into(),
                status: response.status().as_u16(),
                message: format!("HTTP {}", response.status()),
            });
        }
        Ok(EventStream { response, buffer: String::new() })
    }

    /// Waits until the indexer has reached `block`, so that a read after a
    /// transaction sees it: `/v1/head?min_block=` answers as soon as the
    /// block is indexed (or after its own few seconds), and is asked again
    /// until `patience` runs out. Says whether the indexer got there.
    pub async fn wait_for_block(&self, block: u64, patience: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            let mut url = self.url("/v1/head");
            url.query_pairs_mut().append_pair("min_block", &block.to_string());
            let head: Option<u64> = match self.http.get(url).send().await {
                Ok(response) => response
                    .json::<Value>()
                    .await
                    .ok()
                    .and_then(|v| v.pointer("/block/number").and_then(Value::as_u64)),
                Err(_) => None,
            };
            if head.is_some_and(|head| head >= block) {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            if head.is_none() {
                // Down or not ready (it answers at once then): not a busy loop.
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// One server-sent event.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Event {
    /// Its id (a chain position).
    pub id: Option<String>,
    /// Its name (`AccessRequested`, `Granted`, `rollback`, ...).
    pub event: String,
    /// Its data (JSON text).
    pub data: String,
}

/// The live stream of the indexer.
#[derive(Debug)]
pub struct EventStream {
    response: reqwest::Response,
    buffer: String,
}

impl EventStream {
    /// The next event, or `None` when the indexer closed the stream.
    pub async fn next(&mut self) -> Result<Option<Event>, IndexerError> {
        loop {
            if let Some(event) = take_event(&mut self.buffer) {
                return Ok(Some(event));
            }
            let url = self.response.url().to_string();
            match self
                .response
                .chunk()
                .await
                .map_err(|source| IndexerError::Unreachable { url, source })?
            {
                Some(chunk) => self.buffer.push_str(&String::from_utf8_lossy(&chunk)),
                None => return Ok(None),
            }
        }
    }
}

/// Takes the first complete event (up to a blank line) off `buffer`;
/// comments and keep-alives are skipped.
fn take_event(buffer: &mut String) -> Option<Event> {
    loop {
        let normalised = buffer.replace("\r\n", "\n");
        *buffer = normalised;
        let end = buffer.find("\n\n")?;
        let block: String = buffer.drain(..end + 2).collect();
        let mut event = Event { id: None, event: "message".into(), data: String::new() };
        let mut any = false;
        for line in block.lines() {
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "id" => event.id = Some(value.to_owned()),
                "event" => event.event = value.to_owned(),
                "data" => {
                    if !event.data.is_empty() {
                        event.data.push('\n');
                    }
                    event.data.push_str(value);
                }
                _ => continue,
            }
            any = true;
        }
        if any {
            return Some(event);
        }
    }
}

/// A string field of an item.
pub fn text<'a>(item: &'a Value, field: &str) -> Option<&'a str> {
    item.get(field).and_then(Value::as_str)
}

/// A number field of an item (a JSON number or a decimal string).
pub fn number(item: &Value, field: &str) -> Option<u64> {
    match item.get(field)? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_cut_at_blank_lines_and_comments_skipped() {
        let mut buffer =
            ": keep-alive\n\nid: 5.2\nevent: Granted\ndata: {\"a\":1}\n\nid: 6".to_owned();
        let event = take_event(&mut buffer).unwrap();
        assert_eq!(event.id.as_deref(), Some("5.2"));
        assert_eq!(event.event, "Granted");
        assert_eq!(event.data, "{\"a\":1}");
        assert_eq!(take_event(&mut buffer), None);
        buffer.push_str("\r\ndata: x\r\n\r\n");
        let event = take_event(&mut buffer).unwrap();
        assert_eq!(
            (event.id.as_deref(), event.event.as_str(), event.data.as_str()),
            (Some("6"), "message", "x")
        );
    }

    #[test]
    fn numbers_come_as_numbers_or_strings() {
        let item = serde_json::json!({ "id": "12", "epoch": 3, "x": null });
        assert_eq!(number(&item, "id"), Some(12));
        assert_eq!(number(&item, "epoch"), Some(3));
        assert_eq!(number(&item, "x"), None);
    }
}
