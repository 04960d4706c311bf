//! Rate limits: token buckets in memory, per IP address, per signed-in
//! address, and a stricter one per IP address on the sign-in routes.
//!
//! A bucket holds up to `burst` tokens and refills at `rate` a second; a
//! request takes one or is refused with 429 and how long until the next
//! token. Buckets live in a map behind a mutex, and full buckets are dropped
//! when the map grows, so an attacker spraying addresses costs memory only
//! until their buckets refill. Per replica: a fleet behind a load balancer
//! multiplies the limits by its size.

use std::{
    collections::HashMap,
    hash::Hash,
    net::{IpAddr, SocketAddr},
    sync::Mutex,
    time::{Duration, Instant},
};

use alloy::primitives::Address;
use axum::{
    extract::{ConnectInfo, Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
};

use crate::{ApiError, AppState, config::Limits};

/// How many buckets a map holds before the full ones are swept.
const SWEEP_AT: usize = 10_000;

/// The gateway's rate limiters.
#[derive(Debug)]
pub struct RateLimits {
    ip: Buckets<IpAddr>,
    address: Buckets<Address>,
    sign_in: Buckets<IpAddr>,
}

impl RateLimits {
    /// Limiters with the configured rates and bursts.
    pub fn new(limits: &Limits) -> Self {
        Self {
            ip: Buckets::new(limits.ip_rate, limits.ip_burst),
            address: Buckets::new(limits.address_rate, limits.address_burst),
            sign_in: Buckets::new(limits.sign_in_rate, limits.sign_in_burst),
        }
    }

    /// Takes a token from `ip`'s bucket.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), ApiError> {
        self.ip.take(ip)
    }

    /// Takes a token from the signed-in `address`'s bucket.
    pub fn check_address(&self, address: Address) -> Result<(), ApiError> {
        self.address.take(address)
    }

    /// Takes a token from `ip`'s sign-in bucket.
    pub fn check_sign_in(&self, ip: IpAddr) -> Result<(), ApiError> {
        self.sign_in.take(ip)
    }
}

/// Token buckets by key.
#[derive(Debug)]
struct Buckets<K> {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<K, Bucket>>,
}

/// One key's tokens as of `updated`.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl<K: Hash + Eq + Copy> Buckets<K> {
    fn new(rate: f64, burst: f64) -> Self {
        Self { rate: rate.max(f64::MIN_POSITIVE), burst: burst.max(1.0), buckets: Mutex::default() }
    }

    fn take(&self, key: K) -> Result<(), ApiError> {
        self.take_at(key, Instant::now())
    }

    fn take_at(&self, key: K, now: Instant) -> Result<(), ApiError> {
        // A poisoned lock only means another request panicked mid-update; the
        // counts are still usable.
        let mut buckets = self.buckets.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if buckets.len() >= SWEEP_AT {
            let (rate, burst) = (self.rate, self.burst);
            buckets.retain(|_, bucket| bucket.refilled(now, rate, burst) < burst);
        }
        let bucket = buckets.entry(key).or_insert(Bucket { tokens: self.burst, updated: now });
        let tokens = bucket.refilled(now, self.rate, self.burst);
        bucket.updated = now;
        if tokens >= 1.0 {
            bucket.tokens = tokens - 1.0;
            Ok(())
        } else {
            bucket.tokens = tokens;
            let retry_after = Duration::from_secs_f64((1.0 - tokens) / self.rate);
            Err(ApiError::RateLimited { retry_after })
        }
    }
}

impl Bucket {
    fn refilled(&self, now: Instant, rate: f64, burst: f64) -> f64 {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        (self.tokens + elapsed * rate).min(burst)
    }
}

/// The caller's IP address: the connection's peer, or the unspecified
/// address when the router runs without a socket (tests).
pub fn client_ip(request: &Request) -> IpAddr {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::from([0, 0, 0, 0]), |ConnectInfo(peer)| peer.ip())
}

/// Middleware: the per-IP limit on every route, and the sign-in limit on
/// top on `/v1/auth/...`.
pub async fn by_ip(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let ip = client_ip(&request);
    let mut checked = state.limits.check_ip(ip);
    if checked.is_ok() && request.uri().path().starts_with("/v1/auth/") {
        checked = state.limits.check_sign_in(ip);
    }
    match checked {
        Ok(()) => next.run(request).await,
        Err(error) => {
            state.metrics.rate_limited();
            error.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_the_rate_holds() {
        let buckets = Buckets::new(2.0, 3.0);
        let start = Instant::now();
        for _ in 0..3 {
            buckets.take_at(1, start).unwrap();
        }
        let Err(ApiError::RateLimited { retry_after }) = buckets.take_at(1, start) else {
            panic!("a fourth request in the burst passed")
        };
        assert_eq!(retry_after, Duration::from_millis(500));
        // Another key has its own bucket.
        buckets.take_at(2, start).unwrap();
        // Half a second later, one token is back, and only one.
        let later = start + Duration::from_millis(500);
        buckets.take_at(1, later).unwrap();
        assert!(buckets.take_at(1, later).is_err());
    }

    #[test]
    fn a_bucket_refills_to_its_burst_only() {
        let buckets = Buckets::new(10.0, 2.0);
        let start = Instant::now();
        buckets.take_at(1, start).unwrap();
        let much_later = start + Duration::from_secs(60);
        buckets.take_at(1, much_later).unwrap();
        buckets.take_at(1, much_later).unwrap();
        assert!(buckets.take_at(1, much_later).is_err());
    }

    #[test]
    fn full_buckets_are_swept_when_the_map_grows() {
        let buckets = Buckets::new(1_000.0, 1.0);
        let start = Instant::now();
        for key in 0..SWEEP_AT as u32 {
            buckets.take_at(key, start).unwrap();
        }
        buckets.take_at(u32::MAX, start + Duration::from_secs(1)).unwrap();
        assert_eq!(buckets.buckets.lock().unwrap().len(), 1);
    }
}
