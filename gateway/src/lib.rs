//! The MedVault gateway: the HTTP service that moves the bytes and pays the
//! gas.
//!
//! [`router`] builds the axum service from an [`AppState`] (the chain
//! provider and contracts, the relayer with its one nonce manager, the
//! SQLite store, the session key, the rate limiters), so tests drive it with
//! `tower::ServiceExt::oneshot` and the binary serves it. Callers sign in
//! with Ethereum ([`siwe`], EIP-4361, EOAs and ERC-1271 wallets) and get a
//! short-lived token ([`session`]); every route but `/health`, `/metrics`,
//! `/openapi.json` and `/config.json` takes it through the [`Session`]
//! extractor. [`relay`]
//! simulates and submits users' signed `...BySig` actions, with idempotency
//! keys ([`idempotency`]) kept in SQLite ([`store`]). [`limit`] holds the
//! rate limits; [`error`] the one [`ApiError`] every failure becomes, as JSON
//! `{error, message}` with a stable code. The gateway never holds a user's
//! wallet key and never writes plaintext to disk or to IPFS.
//!
//! The data path: records stream into Kubo ([`ipfs`], [`upload`]),
//! encrypted on the client or, for hospital systems, on the fly in the
//! gateway, and wait as [`pending`] uploads until their add-record lands;
//! downloads stream ciphertext and the caller's key envelopes after an
//! on-chain `canRead` check ([`download`]), each one a row of the
//! hash-chained [`access_log`] anchored on chain; a page that cannot stream
//! one request sends its record in parts through an [`upload_session`]; the
//! [`custodian`]
//! re-seals emergency keys to staff who break the glass.
//!
//! With a built web page ([`web`]), the gateway serves it on its own origin
//! beside the API, and `/config.json` tells it the deployment.
//!
//! [`server`] starts all of it from a [`Config`] and serves it until a
//! shutdown future resolves: the binary's `main` and `medvault dev` alike.

pub mod access_log;
pub mod config;
pub mod custodian;
pub mod download;
pub mod error;
pub mod health;
pub mod idempotency;
pub mod ipfs;
pub mod limit;
pub mod metrics;
pub mod openapi;
pub mod pending;
pub mod records;
pub mod relay;
pub mod server;
pub mod session;
pub mod siwe;
pub mod state;
pub mod store;
pub mod upload;
pub mod upload_session;
pub mod web;

use std::{
    sync::Arc,
    time::{SystemTime, UNIX_EPOCH},
};

use axum::{
    Extension, Router,
    extract::{FromRequest, Request, State},
    http::{Method, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{MethodRouter, get, post, put},
};
use serde::{Serialize, de::DeserializeOwned};
use tower_http::trace::TraceLayer;

pub use config::Config;
pub use error::ApiError;
pub use session::Session;
pub use state::AppState;

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs())
}

/// The gateway's router, ready to serve.
pub fn router(state: AppState) -> Router {
    routes().into_router(state)
}

/// The gateway's router serving `page` too: the built web page on every
/// path that is no route ([`web`]).
pub fn router_with_page(state: AppState, page: web::Page) -> Router {
    routes().into_router_with_page(state, Some(page))
}

/// Every route, as the router serves it and `/openapi.json` documents it.
pub fn routes() -> Routes {
    Routes::default()
        .route(Method::GET, "/health", get(health::handler))
        .route(Method::GET, "/metrics", get(metrics::handler))
        .route(Method::GET, "/openapi.json", get(openapi::handler))
        .route(Method::GET, "/config.json", get(web::config))
        .route(Method::POST, "/v1/auth/nonce", post(siwe::nonce))
        .route(Method::POST, "/v1/auth/verify", post(siwe::verify))
        .route(Method::POST, "/v1/relay", post(relay::handler))
        .streaming(Method::POST, "/v1/records", post(records::upload))
        .route(Method::POST, "/v1/upload-sessions", post(upload_session::open))
        .streaming(Method::PUT, "/v1/upload-sessions/{id}", put(upload_session::part))
        .route(Method::POST, "/v1/uploads/{id}/commit", post(records::commit))
        .route(Method::GET, "/v1/records/{id}/keys", get(records::keys))
        .streaming(Method::GET, "/v1/records/{id}", get(records::content))
        .route(Method::GET, "/v1/access-log", get(records::accounting))
}

/// Routes being assembled, with the list of what was added (for the check
/// against the OpenAPI document).
#[derive(Default)]
pub struct Routes {
    /// Routes under the request timeout.
    timed: Router<AppState>,
    /// Streaming routes: no overall timeout (their handlers bound each
    /// step), and their own body limit.
    streaming: Router<AppState>,
    added: Vec<(Method, &'static str)>,
}

impl Routes {
    /// Adds a route with the request timeout and the JSON body limit.
    pub fn route(
        mut self,
        method: Method,
        path: &'static str,
        handler: MethodRouter<AppState>,
    ) -> Self {
        self.added.push((method, path));
        self.timed = self.timed.route(path, handler);
        self
    }

    /// Adds a streaming route (an upload or a download): no overall timeout,
    /// and no default body limit; the handler enforces its own.
    pub fn streaming(
        mut self,
        method: Method,
        path: &'static str,
        handler: MethodRouter<AppState>,
    ) -> Self {
        self.added.push((method, path));
        self.streaming =
            self.streaming.route(path, handler.layer(axum::extract::DefaultBodyLimit::disable()));
        self
    }

    /// The routes added, by method and path.
    pub fn added(&self) -> &[(Method, &'static str)] {
        &self.added
    }

    /// The router, with the limits, metrics, JSON errors and tracing.
    pub fn into_router(self, state: AppState) -> Router {
        self.into_router_with_page(state, None)
    }

    /// The router, serving `page` (if any) on every path that is no route.
    pub fn into_router_with_page(self, state: AppState, page: Option<web::Page>) -> Router {
        let body_limit = state.settings.limits.body_limit;
        let timed = self
            .timed
            .route_layer(middleware::from_fn_with_state(state.clone(), timeout))
            .layer(axum::extract::DefaultBodyLimit::max(body_limit));
        let router = timed.merge(self.streaming);
        let router = match page {
            Some(page) => router.fallback(web::fallback).layer(Extension(Arc::new(page))),
            None => router.fallback(not_found),
        };
        router
            .layer(middleware::map_response_with_state(state.clone(), json_errors))
            .layer(middleware::from_fn_with_state(state.clone(), limit::by_ip))
            .layer(middleware::from_fn_with_state(state.clone(), metrics::track))
            .layer(TraceLayer::new_for_http())
            .with_state(state)
    }
}

/// Middleware: the request timeout.
async fn timeout(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let limit = state.request_timeout();
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::Timeout { limit }.into_response(),
    }
}

async fn not_found() -> ApiError {
    ApiError::NotFound { message: "no such route".into() }
}

/// Middleware: errors that axum or tower make themselves (405, a body over
/// the limit in a streaming route) get the JSON body of every other error.
async fn json_errors(State(state): State<AppState>, response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let error = match status {
        StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed,
        StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::PayloadTooLarge { limit: state.settings.limits.body_limit }
        }
        StatusCode::NOT_FOUND => ApiError::NotFound { message: "no such route".into() },
        StatusCode::REQUEST_TIMEOUT | StatusCode::GATEWAY_TIMEOUT => {
            ApiError::Timeout { limit: state.request_timeout() }
        }
        status if status.is_client_error() => {
            ApiError::invalid(status.canonical_reason().unwrap_or("bad request"))
        }
        _ => ApiError::internal(format!("unexpected {status} response")),
    };
    let mut json = error.into_response();
    *json.status_mut() = status;
    json
}

/// A JSON body or response; a body that does not parse is a JSON
/// [`ApiError`] (400, or 413 over the body limit), not axum's plain text.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(ApiError::PayloadTooLarge { limit: state.settings.limits.body_limit })
            }
            Err(rejection) => Err(ApiError::invalid(rejection.body_text())),
        }
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}
