//! Session tokens and the [`Session`] extractor.
//!
//! A sign-in ([`crate::siwe`]) ends with a short-lived bearer token:
//! `mv1.<address><expiry>.<tag>` in hex, where the tag is HMAC-SHA256 (ring)
//! over the version, the address and the expiry under the gateway's session
//! key. Nothing is stored: a token is valid while its tag checks and its
//! expiry is ahead, and a tampered address or expiry breaks the tag. Replicas
//! that share `--session-secret` accept each other's tokens.

use std::time::Duration;

use alloy::{hex, primitives::Address};
use axum::{
    extract::FromRequestParts,
    http::{header, request::Parts},
};
use ring::hmac;
use zeroize::Zeroizing;

use crate::{ApiError, AppState, unix_now};

/// The token format's version, first in every token and under the tag.
const VERSION: &str = "mv1";

/// The key that signs and checks session tokens.
pub struct SessionKeys {
    key: hmac::Key,
    ttl: Duration,
}

impl SessionKeys {
    /// Keys from a 32-byte secret; tokens last `ttl`.
    pub fn new(secret: &[u8; 32], ttl: Duration) -> Self {
        Self { key: hmac::Key::new(hmac::HMAC_SHA256, secret), ttl }
    }

    /// Keys from a fresh random secret: tokens die with the process.
    pub fn random(ttl: Duration) -> Result<Self, ring::error::Unspecified> {
        let mut secret = Zeroizing::new([0u8; 32]);
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), secret.as_mut_slice())?;
        Ok(Self::new(&secret, ttl))
    }

    /// A token for `address`, valid from now for the configured lifetime;
    /// also returns its expiry (unix seconds).
    pub fn issue(&self, address: Address) -> (String, u64) {
        let expiry = unix_now().saturating_add(self.ttl.as_secs());
        (self.token(address, expiry), expiry)
    }

    /// The token of `address` that expires at `expiry`.
    fn token(&self, address: Address, expiry: u64) -> String {
        let claims = claims(address, expiry);
        let tag = hmac::sign(&self.key, &signed_bytes(&claims));
        format!("{VERSION}.{}.{}", hex::encode(claims), hex::encode(tag.as_ref()))
    }

    /// The address a token was issued to, if its tag checks and it has not
    /// expired.
    pub fn verify(&self, token: &str) -> Result<Address, ApiError> {
        let malformed = ApiError::Unauthenticated { reason: "the session token is malformed" };
        let mut parts = token.split('.');
        let (Some(VERSION), Some(claims), Some(tag), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed);
        };
        let claims: [u8; 28] = hex::decode_to_array(claims).map_err(|_| malformed)?;
        let tag = hex::decode(tag)
            .map_err(|_| ApiError::Unauthenticated { reason: "the session token is malformed" })?;
        hmac::verify(&self.key, &signed_bytes(&claims), &tag).map_err(|_| {
            ApiError::Unauthenticated { reason: "the session token is not this gateway's" }
        })?;
        let (address, expiry) = claims.split_at(20);
        let mut expiry_bytes = [0u8; 8];
        expiry_bytes.copy_from_slice(expiry);
        if u64::from_be_bytes(expiry_bytes) <= unix_now() {
            return Err(ApiError::Unauthenticated { reason: "the session has expired" });
        }
        Ok(Address::from_slice(address))
    }
}

impl std::fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionKeys").field("ttl", &self.ttl).finish_non_exhaustive()
    }
}

/// The address (20 bytes) and the expiry (8 bytes, big-endian).
fn claims(address: Address, expiry: u64) -> [u8; 28] {
    let mut claims = [0u8; 28];
    claims[..20].copy_from_slice(address.as_slice());
    claims[20..].copy_from_slice(&expiry.to_be_bytes());
    claims
}

/// What the tag covers: the version, then the claims.
fn signed_bytes(claims: &[u8; 28]) -> Vec<u8> {
    [VERSION.as_bytes(), b".", claims].concat()
}

/// The signed-in caller: extracting it checks the `Authorization: Bearer`
/// token (401 otherwise) and the address's rate limit (429).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Session {
    /// The address that signed in.
    pub address: Address,
}

impl FromRequestParts<AppState> for Session {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or(ApiError::Unauthenticated { reason: "this route needs a session token" })?;
        let token = header.to_str().ok().and_then(|value| value.strip_prefix("Bearer ")).ok_or(
            ApiError::Unauthenticated {
                reason: "the Authorization header is not `Bearer <token>`",
            },
        )?;
        let address = state.sessions.verify(token.trim())?;
        state.limits.check_address(address)?;
        Ok(Self { address })
    }
}

#[cfg(test)]
mod tests {
    use alloy::primitives::address;

    use super::*;

    const ALICE: Address = address!("0x00000000000000000000000000000000000a11ce");
    const MALLORY: Address = address!("0x000000000000000000000000000000000000bad0");

    fn keys() -> SessionKeys {
        SessionKeys::new(&[7; 32], Duration::from_secs(600))
    }

    #[test]
    fn a_token_names_its_address() {
        let (token, expiry) = keys().issue(ALICE);
        assert!(expiry > unix_now());
        assert_eq!(keys().verify(&token).unwrap(), ALICE);
    }

    #[test]
    fn a_token_with_another_address_or_a_later_expiry_is_refused() {
        let keys = keys();
        let (token, expiry) = keys.issue(ALICE);
        let tag = token.rsplit('.').next().unwrap();
        let forged = format!("{VERSION}.{}.{tag}", hex::encode(claims(MALLORY, expiry)));
        assert!(matches!(keys.verify(&forged), Err(ApiError::Unauthenticated { .. })));
        let extended = format!("{VERSION}.{}.{tag}", hex::encode(claims(ALICE, expiry + 3_600)));
        assert!(matches!(keys.verify(&extended), Err(ApiError::Unauthenticated { .. })));
    }

    #[test]
    fn another_gateways_token_is_refused() {
        let other = SessionKeys::new(&[8; 32], Duration::from_secs(600));
        let (token, _) = other.issue(ALICE);
        assert!(keys().verify(&token).is_err());
    }

    #[test]
    fn an_expired_token_is_refused() {
        let keys = keys();
        let token = keys.token(ALICE, unix_now() - 1);
        let Err(ApiError::Unauthenticated { reason }) = keys.verify(&token) else {
            panic!("an expired token was accepted")
        };
        assert_eq!(reason, "the session has expired");
    }

    #[test]
    fn malformed_tokens_are_refused() {
        for token in ["", "mv1", "mv1..", "mv2.00.00", "mv1.zz.zz", "mv1.00.00.00"] {
            assert!(keys().verify(token).is_err(), "{token:?}");
        }
    }
}
