//! The query API: the index over HTTP, as JSON, with live events.
//!
//! [`router`] builds the whole service from an [`ApiState`], so tests drive
//! it with `tower::ServiceExt::oneshot` and no socket. Every route is listed
//! once in [`routes`], which the router is built from and `/openapi.json` is
//! checked against, so an undocumented route fails a test.
//!
//! Every answer names the block it is consistent with: a handler opens one
//! read transaction ([`ApiState::snapshot`]), reads the index's cursor and
//! its rows in it, and answers `{ "block": {number, hash}, "items": [...],
//! "next": cursor|null }` (or `"item"` for a single thing). Lists are in chain
//! order and paginated by an opaque cursor ([`params`]). Failures are one
//! [`ApiError`], JSON with a status per variant.

mod audit;
mod consent;
mod emergency;
mod error;
mod keys;
mod metrics;
pub mod openapi;
pub mod params;
mod participants;
pub mod read;
pub mod records;
mod status;
pub mod stream;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use axum::http::{HeaderName, HeaderValue, Method};
use axum::{
    Router,
    extract::{MatchedPath, Request, State},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{MethodRouter, get},
};
use tower_http::{cors::CorsLayer, limit::RequestBodyLimitLayer, trace::TraceLayer};

use crate::store::Store;

pub use error::ApiError;
pub use metrics::Metrics;
pub use params::{Limits, Params, Position, Segment};

/// How the API answers: page sizes, time and size limits.
#[derive(Clone, Copy, Debug)]
pub struct ApiConfig {
    /// Page sizes.
    pub limits: Limits,
    /// The longest a request may take to its response head.
    pub timeout: Duration,
    /// The largest request body accepted (the API reads none).
    pub body_limit: usize,
    /// Events a live stream reads from the database at a time: all it keeps
    /// for one client.
    pub stream_buffer: usize,
    /// The deepest reorg the follower repairs: how far back a stream client
    /// whose last block was replaced is rolled back.
    pub reorg_window: u64,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            timeout: Duration::from_secs(10),
            body_limit: 16 * 1024,
            stream_buffer: 256,
            reorg_window: 64,
        }
    }
}

/// What every handler shares: the store, the chain it serves, the
/// configuration and the metrics.
#[derive(Clone, Debug)]
pub struct ApiState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Store,
    chain_id: u64,
    config: ApiConfig,
    metrics: Metrics,
}

impl ApiState {
    /// The API over the index of `chain_id` in `store`.
    pub fn new(store: Store, chain_id: u64, config: ApiConfig) -> Self {
        Self { inner: Arc::new(Inner { store, chain_id, config, metrics: Metrics::default() }) }
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The chain served.
    pub fn chain_id(&self) -> u64 {
        self.inner.chain_id
    }

    /// The configuration.
    pub fn config(&self) -> &ApiConfig {
        &self.inner.config
    }

    /// The request counters.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }
}

/// Every route of the API, with its handlers: the router is built from this
/// list and `/openapi.json` must document each entry.
pub fn routes() -> Vec<(&'static str, MethodRouter<ApiState>)> {
    vec![
        ("/v1/head", get(status::head)),
        ("/v1/participants", get(participants::list)),
        ("/v1/participants/{address}", get(participants::one)),
        ("/v1/patients/{address}/records", get(records::of_patient)),
        ("/v1/records/{id}", get(records::one)),
        ("/v1/records/{id}/grants", get(records::grants)),
        ("/v1/patients/{address}/grants", get(consent::of_patient)),
        ("/v1/grantees/{address}/grants", get(consent::of_grantee)),
        ("/v1/patients/{address}/requests", get(consent::requests_of_patient)),
        ("/v1/staff/{address}/requests", get(consent::requests_of_staff)),
        ("/v1/requests/{id}", get(consent::request_by_id)),
        ("/v1/recipients/{address}/envelopes", get(keys::envelopes)),
        ("/v1/patients/{address}/rotations", get(keys::rotations)),
        ("/v1/break-glass", get(emergency::cases)),
        ("/v1/break-glass/{id}", get(emergency::case_by_id)),
        ("/v1/alerts", get(emergency::alerts)),
        ("/v1/patients/{address}/audit", get(audit::trail)),
        ("/v1/stream", get(stream::stream)),
        ("/openapi.json", get(openapi::serve)),
        ("/health", get(status::health)),
        ("/metrics", get(status::metrics)),
    ]
}

/// Serves `router` on `listener` until `shutdown` resolves. Answers leave
/// at once (`TCP_NODELAY`): a long-polled `/v1/head` written in two parts
/// would otherwise wait on Nagle for the client's delayed ACK, some 40 ms.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt as _;
    let listener = listener.tap_io(|tcp| {
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY");
        }
    });
    axum::serve(listener, router).with_graceful_shutdown(shutdown).await
}

/// The API's service: [`routes`], a JSON 404 for any other path, request
/// metrics, a timeout, a body limit and a trace span per request.
pub fn router(state: ApiState) -> Router {
    let config = *state.config();
    let mut router = Router::new();
    for (path, method_router) in routes() {
        router = router.route(path, method_router);
    }
    router
        .fallback(|| async { ApiError::NoRoute })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(middleware::from_fn_with_state(state.clone(), timeout))
        .layer(middleware::from_fn_with_state(state.clone(), track))
        .layer(RequestBodyLimitLayer::new(config.body_limit))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// CORS for a web page served from another origin (the gateway's): reads
/// only (`GET`, and `Last-Event-ID` for a resuming stream) from exactly the
/// given origins, with no credentials. Applied around [`router`] by whoever
/// serves it: `router(state).layer(cors(origins))`.
pub fn cors(origins: impl IntoIterator<Item = HeaderValue>) -> CorsLayer {
    CorsLayer::new()
        .allow_origin(origins.into_iter().collect::<Vec<_>>())
        .allow_methods([Method::GET])
        .allow_headers([HeaderName::from_static("last-event-id")])
}

/// Answers [`ApiError::Timeout`] when a handler takes longer than allowed.
async fn timeout(State(state): State<ApiState>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(state.config().timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::Timeout.into_response(),
    }
}

/// Counts each request by route template and status, with its latency.
async fn track(State(state): State<ApiState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let response = next.run(request).await;
    state.inner.metrics.record(&route, response.status().as_u16(), started.elapsed());
    response
}

#[cfg(test)]
mod tests {
    use axum::{body::Body, http::Request};
    use tower::ServiceExt as _;

    use super::*;

    async fn allowed_origin(origin: &str) -> Option<String> {
        let router = Router::new()
            .route("/v1/head", get(|| async { "{}" }))
            .layer(cors([HeaderValue::from_static("http://127.0.0.1:8080")]));
        let request =
            Request::get("/v1/head").header("origin", origin).body(Body::empty()).unwrap();
        let response = router.oneshot(request).await.unwrap();
        response
            .headers()
            .get("access-control-allow-origin")
            .map(|value| value.to_str().unwrap().to_owned())
    }

    #[tokio::test]
    async fn the_page_origin_may_read_and_no_other() {
        assert_eq!(
            allowed_origin("http://127.0.0.1:8080").await.as_deref(),
            Some("http://127.0.0.1:8080")
        );
        assert_eq!(allowed_origin("http://evil.example").await, None);
    }
}
