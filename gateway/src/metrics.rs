//! `/metrics`: counters in the Prometheus text format, kept by hand (a few
//! atomics and one map) rather than through a metrics framework.

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Instant,
};

use axum::{
    extract::{MatchedPath, Request, State},
    http::{StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};

use crate::AppState;

/// A request series: route pattern, method, status.
type Series = (String, String, u16);

/// The gateway's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Requests and the sum of their durations (microseconds), by route,
    /// method and status.
    requests: Mutex<BTreeMap<Series, (u64, u64)>>,
    rate_limited: AtomicU64,
    relayed: AtomicU64,
    relay_reverted: AtomicU64,
    idempotent_replays: AtomicU64,
    sign_ins: AtomicU64,
}

impl Metrics {
    /// Counts a request refused by a rate limit.
    pub fn rate_limited(&self) {
        self.rate_limited.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a transaction relayed and mined.
    pub fn relayed(&self) {
        self.relayed.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a relay refused because the call reverts.
    pub fn relay_reverted(&self) {
        self.relay_reverted.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a retry answered from the idempotency store.
    pub fn idempotent_replay(&self) {
        self.idempotent_replays.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a completed sign-in.
    pub fn signed_in(&self) {
        self.sign_ins.fetch_add(1, Ordering::Relaxed);
    }

    fn record(&self, route: String, method: String, status: u16, micros: u64) {
        let mut requests = self.requests.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let entry = requests.entry((route, method, status)).or_default();
        entry.0 += 1;
        entry.1 += micros;
    }

    /// The counters in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let requests = self.requests.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let _ = writeln!(out, "# HELP medvault_gateway_requests_total Requests served.");
        let _ = writeln!(out, "# TYPE medvault_gateway_requests_total counter");
        for ((route, method, status), (count, _)) in requests.iter() {
            let _ = writeln!(
                out,
                "medvault_gateway_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}} {count}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP medvault_gateway_request_seconds_sum Time spent serving requests."
        );
        let _ = writeln!(out, "# TYPE medvault_gateway_request_seconds_sum counter");
        for ((route, method, status), (_, micros)) in requests.iter() {
            let _ = writeln!(
                out,
                "medvault_gateway_request_seconds_sum{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}} {}",
                *micros as f64 / 1e6
            );
        }
        for (name, help, counter) in [
            ("rate_limited_total", "Requests refused by a rate limit.", &self.rate_limited),
            ("relayed_total", "Signed actions relayed and mined.", &self.relayed),
            (
                "relay_reverted_total",
                "Relays refused because the call reverts.",
                &self.relay_reverted,
            ),
            (
                "idempotent_replays_total",
                "Retries answered with a stored result.",
                &self.idempotent_replays,
            ),
            ("sign_ins_total", "Completed sign-ins.", &self.sign_ins),
        ] {
            let _ = writeln!(out, "# HELP medvault_gateway_{name} {help}");
            let _ = writeln!(out, "# TYPE medvault_gateway_{name} counter");
            let _ = writeln!(out, "medvault_gateway_{name} {}", counter.load(Ordering::Relaxed));
        }
        out
    }
}

/// Middleware: counts each request by its route pattern (not its path, so
/// that ids do not explode the label set), method and status.
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let method = request.method().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    state.metrics.record(route, method, response.status().as_u16(), micros);
    response
}

/// `GET /metrics`.
pub async fn handler(State(state): State<AppState>) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        state.metrics.render(),
    )
        .into_response()
}
