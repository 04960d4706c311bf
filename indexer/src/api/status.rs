//! The index's own state: `/v1/head`, `/health` and `/metrics`.

use axum::{
    Json,
    extract::State,
    http::{HeaderValue, StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};
use tokio::time::{Duration, Instant};

use super::{
    ApiError, ApiState, Params,
    read::{Head, Snapshot},
};
use crate::store::Table;

/// The longest `/v1/head?min_block=N` waits for the index to reach `N`:
/// well inside the request timeout.
const HEAD_WAIT: Duration = Duration::from_secs(5);

/// How often a waiting `/v1/head` reads the cursor again even without a
/// commit notification (the follower may write from another process).
const HEAD_RECHECK: Duration = Duration::from_millis(250);

/// `GET /v1/head`: the block the index has reached; 503 before the first.
///
/// With `min_block=N` it answers as soon as the index has reached block
/// `N`, waiting for the follower's commits up to [`HEAD_WAIT`], and then
/// answers the head as it is: a client that has just sent a transaction
/// reads its own writes without polling. A block the follower in this
/// process has committed answers without reading the database (the head
/// may be further on if another process writes too).
pub(crate) async fn head(State(state): State<ApiState>, uri: Uri) -> Result<Json<Value>, ApiError> {
    let mut params = Params::from_uri(&uri)?;
    let min_block = params.uint("min_block", i64::MAX as u64)?;
    params.finish()?;
    // Subscribed before the first read, so that no commit falls between.
    let mut changes = state.store().subscribe();
    let deadline = Instant::now() + HEAD_WAIT;
    loop {
        // A block this process's follower committed answers at once.
        if let Some(min) = min_block
            && let Some(block) = state.store().reached(state.chain_id())
            && block.number >= min
        {
            return Ok(answer(&state, Head::from(block)));
        }
        let snapshot = Snapshot::begin(&state).await;
        let reached = match (&snapshot, min_block) {
            (_, None) => true,
            (Ok(snapshot), Some(min)) => snapshot.head.number >= min,
            (Err(ApiError::NotReady { .. }), Some(_)) => false,
            (Err(_), Some(_)) => true,
        };
        let now = Instant::now();
        if reached || now >= deadline {
            return Ok(answer(&state, snapshot?.head));
        }
        drop(snapshot);
        // A commit, a lagged receiver or a closed channel all mean: look again.
        let _ = tokio::time::timeout((deadline - now).min(HEAD_RECHECK), changes.recv()).await;
    }
}

/// `/v1/head`'s answer: the block and the chain it is on.
fn answer(state: &ApiState, head: Head) -> Json<Value> {
    Json(json!({ "block": head, "chainId": state.chain_id() }))
}

/// `GET /health`: 200 when the database answers and a block is indexed,
/// 503 otherwise, both with a JSON body.
pub(crate) async fn health(State(state): State<ApiState>) -> Response {
    match Snapshot::begin(&state).await {
        Ok(snapshot) => Json(json!({ "status": "ok", "block": snapshot.head })).into_response(),
        Err(err) => {
            let body = json!({ "status": "unavailable", "error": err.code() });
            (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
        }
    }
}

/// `GET /metrics`: requests, latency, the indexed head and the rows of each
/// table, in Prometheus' text format.
pub(crate) async fn metrics(State(state): State<ApiState>) -> Response {
    let (head, rows) = match gauges(&state).await {
        Ok(gauges) => gauges,
        Err(err) => {
            // The request counters still say something useful.
            tracing::warn!(error = ?err, "metrics without the index's gauges");
            (None, Vec::new())
        }
    };
    let rows: Vec<(&str, u64)> = rows.iter().map(|(table, n)| (*table, *n)).collect();
    let body = state.metrics().render(head, &rows);
    let content_type = HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8");
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

async fn gauges(state: &ApiState) -> Result<(Option<u64>, Vec<(&'static str, u64)>), ApiError> {
    let head = match Snapshot::begin(state).await {
        Ok(snapshot) => Some(snapshot.head.number),
        Err(ApiError::NotReady { .. }) => None,
        Err(err) => return Err(err),
    };
    let mut rows = Vec::new();
    for table in Table::ALL {
        let sql = format!("SELECT COUNT(*) FROM {} WHERE chain_id = $1", table.name());
        let count: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(super::read::int(state.chain_id()))
            .fetch_one(state.store().pool())
            .await?;
        rows.push((table.name(), super::read::uint(count, "count")?));
    }
    Ok((head, rows))
}
