//! The web page: the built dApp (`web/dist`) served on the gateway's own
//! origin, and `/config.json`, what the page needs to know about the
//! deployment.
//!
//! Same origin, so that the page's sign-in names the gateway's `--domain`
//! (the host a browser shows) and its requests to the gateway need no CORS.
//! Every path that is no route and not under `/v1/` answers with a file of
//! the folder, else its `index.html`, so that a reloaded view still loads
//! the page; `/v1/...` keeps the API's JSON 404. The configuration holds
//! nothing secret: addresses, the chain id and the indexer's URL, all of
//! which are public.

use std::{path::PathBuf, sync::Arc};

use alloy::{primitives::Address, transports::http::reqwest::Url};
use axum::{
    Extension,
    extract::{Request, State},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use tower::ServiceExt as _;
use tower_http::services::{ServeDir, ServeFile};

use crate::{ApiError, AppState, Json};

/// The page to serve and what its configuration names beside the chain.
#[derive(Debug, Clone)]
pub struct Page {
    /// The built page's folder (with `index.html`).
    pub dir: PathBuf,
    /// The indexer the page queries.
    pub indexer_url: Option<Url>,
}

/// `GET /config.json`: what the page reads first.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PageConfig {
    /// The chain the wallet must be on.
    pub chain_id: u64,
    /// MedVault.
    pub contract: Address,
    /// The forwarder that verifies the `...BySig` signatures (their EIP-712
    /// verifying contract).
    pub forwarder: Address,
    /// The block MedVault was deployed in.
    pub deployment_block: u64,
    /// The domain that sign-in messages must name.
    pub domain: String,
    /// The indexer's base URL, if the gateway was told it.
    pub indexer_url: Option<String>,
}

/// `GET /config.json`.
pub async fn config(
    State(state): State<AppState>,
    page: Option<Extension<Arc<Page>>>,
) -> Json<PageConfig> {
    let indexer_url = page
        .and_then(|Extension(page)| page.indexer_url.clone())
        .map(|url| url.as_str().trim_end_matches('/').to_owned());
    Json(PageConfig {
        chain_id: state.chain.chain_id,
        contract: *state.chain.vault.address(),
        forwarder: *state.chain.forwarder.address(),
        deployment_block: state.chain.deployment_block,
        domain: state.settings.domain.clone(),
        indexer_url,
    })
}

/// The router's fallback with a page: a file of the folder or its
/// `index.html`; a JSON 404 under `/v1/`.
pub async fn fallback(Extension(page): Extension<Arc<Page>>, request: Request) -> Response {
    if request.uri().path().starts_with("/v1/") {
        return ApiError::NotFound { message: "no such route".into() }.into_response();
    }
    let index = ServeFile::new(page.dir.join("index.html"));
    match ServeDir::new(&page.dir).fallback(index).oneshot(request).await {
        Ok(response) => response.into_response(),
        Err(never) => match never {},
    }
}
