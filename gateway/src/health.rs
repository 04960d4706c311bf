//! `GET /health`: whether the chain and Kubo answer; 503 when either does
//! not, with which.

use std::time::Duration;

use alloy::providers::Provider;
use axum::{
    Json,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Serialize;

use crate::AppState;

/// How long each dependency may take to answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// The health report.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    /// `ok` or `unavailable`.
    pub status: &'static str,
    /// The chain: its latest block, or why it is unreachable.
    pub chain: Probe,
    /// Kubo: its version, or why it is unreachable.
    pub ipfs: Probe,
}

/// One dependency's state.
#[derive(Debug, Serialize)]
pub struct Probe {
    /// Whether it answered.
    pub ok: bool,
    /// What it answered, or why it did not.
    pub detail: String,
}

/// `GET /health`.
pub async fn handler(State(state): State<AppState>) -> Response {
    let (chain, ipfs) = tokio::join!(chain(&state), ipfs(&state));
    let ok = chain.ok && ipfs.ok;
    let status = if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let health = Health { status: if ok { "ok" } else { "unavailable" }, chain, ipfs };
    (status, Json(health)).into_response()
}

async fn chain(state: &AppState) -> Probe {
    match tokio::time::timeout(PROBE_TIMEOUT, state.chain.provider.get_block_number()).await {
        Ok(Ok(block)) => Probe { ok: true, detail: format!("block {block}") },
        Ok(Err(_)) => Probe { ok: false, detail: "the node refused eth_blockNumber".into() },
        Err(_) => Probe { ok: false, detail: "the node did not answer in time".into() },
    }
}

async fn ipfs(state: &AppState) -> Probe {
    let Ok(url) = state.ipfs_url.join("api/v0/version") else {
        return Probe { ok: false, detail: "the IPFS URL cannot be joined".into() };
    };
    let request = state.http.post(url).timeout(PROBE_TIMEOUT).send();
    match request.await.and_then(|response| response.error_for_status()) {
        Ok(response) => match response.json::<serde_json::Value>().await {
            Ok(version) => Probe {
                ok: true,
                detail: format!("kubo {}", version["Version"].as_str().unwrap_or("?")),
            },
            Err(_) => Probe { ok: false, detail: "kubo's answer is not JSON".into() },
        },
        Err(_) => Probe { ok: false, detail: "kubo does not answer".into() },
    }
}
