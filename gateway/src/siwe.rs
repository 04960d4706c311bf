//! Sign-in with Ethereum (EIP-4361): `POST /v1/auth/nonce` and
//! `POST /v1/auth/verify`.
//!
//! A client asks for a nonce, builds the EIP-4361 message with it, has the
//! wallet sign it (EIP-191 `personal_sign`), and posts both. The gateway
//! parses the message strictly (the ABNF's line order, an EIP-55 address,
//! version 1, no extra lines), checks the domain and the URI's authority
//! against its own, the chain id against the chain's, the times (issued
//! neither in the future nor longer ago than a nonce lives, not expired, not
//! before its start), then the signature: recovered for an account without
//! code, or asked of the wallet with ERC-1271's `isValidSignature` through
//! `eth_call` for a contract wallet. Last it uses up the nonce, atomically in
//! SQLite, so a replayed message finds no nonce. The answer is a session
//! token ([`crate::session`]).

use std::{fmt, str::FromStr, time::Duration};

use alloy::{
    hex,
    primitives::{Address, B256, Bytes, FixedBytes, eip191_hash_message},
    providers::Provider,
    signers::Signature,
};
use axum::extract::State;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use medvault_core::revert::Revert;

use crate::{ApiError, AppState, Json, unix_now};

/// How far in the future a message's issue time may be (clock skew).
const CLOCK_SKEW: Duration = Duration::from_secs(60);
/// ERC-1271's magic value: `isValidSignature.selector`.
const ERC1271_MAGIC: [u8; 4] = [0x16, 0x26, 0xba, 0x7e];

alloy::sol! {
    /// ERC-1271, the standard interface of contract wallets. A standard,
    /// not one of MedVault's contracts, so it has no artifact to bind.
    #[sol(rpc)]
    interface IERC1271 {
        function isValidSignature(bytes32 hash, bytes signature) external view returns (bytes4 magicValue);
    }
}

/// An EIP-4361 message, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The URI scheme before the domain, if given.
    pub scheme: Option<String>,
    /// The domain (authority) requesting the sign-in.
    pub domain: String,
    /// The account signing in.
    pub address: Address,
    /// The human-readable statement, if any.
    pub statement: Option<String>,
    /// The URI of the resource the sign-in is for.
    pub uri: String,
    /// The message version; always `1`.
    pub version: String,
    /// The chain the account is on.
    pub chain_id: u64,
    /// The gateway's nonce.
    pub nonce: String,
    /// When the message was made.
    pub issued_at: Timestamp,
    /// When the sign-in stops being valid, if set.
    pub expiration_time: Option<Timestamp>,
    /// When the sign-in starts being valid, if set.
    pub not_before: Option<Timestamp>,
    /// A request id, if set.
    pub request_id: Option<String>,
    /// Resources, if any.
    pub resources: Vec<String>,
}

const PREAMBLE: &str = " wants you to sign in with your Ethereum account:";

impl FromStr for Message {
    type Err = SiweError;

    fn from_str(text: &str) -> Result<Self, SiweError> {
        let malformed = |reason| SiweError::Malformed { reason };
        let mut lines = text.split('\n').peekable();
        let mut next = |reason| lines.next().ok_or(SiweError::Malformed { reason });

        let first = next("the message is empty")?;
        let authority = first.strip_suffix(PREAMBLE).ok_or(malformed(
            "the first line is not `<domain> wants you to sign in with your Ethereum account:`",
        ))?;
        let (scheme, domain) = match authority.split_once("://") {
            Some((scheme, domain)) => (Some(scheme.to_owned()), domain),
            None => (None, authority),
        };
        if domain.is_empty() || domain.contains(char::is_whitespace) || domain.contains('/') {
            return Err(malformed("the domain is not an authority (host and port)"));
        }
        let address = next("the address line is missing")?;
        let address = Address::parse_checksummed(address, None)
            .map_err(|_| malformed("the address is not an EIP-55 checksummed address"))?;
        if !next("the message ends after the address")?.is_empty() {
            return Err(malformed("an empty line must follow the address"));
        }
        let line = next("the message ends after the address")?;
        let statement = if line.is_empty() {
            None
        } else {
            if !next("the message ends after the statement")?.is_empty() {
                return Err(malformed("an empty line must follow the statement"));
            }
            Some(line.to_owned())
        };
        let mut field = |name: &'static str, reason| -> Result<String, SiweError> {
            next(reason)?
                .strip_prefix(name)
                .map(str::to_owned)
                .ok_or(SiweError::Malformed { reason })
        };
        let uri = field("URI: ", "the `URI: ` line is missing")?;
        let version = field("Version: ", "the `Version: ` line is missing")?;
        let chain_id = field("Chain ID: ", "the `Chain ID: ` line is missing")?;
        let nonce = field("Nonce: ", "the `Nonce: ` line is missing")?;
        let issued_at = field("Issued At: ", "the `Issued At: ` line is missing")?;

        let mut optional = |name: &str| -> Option<String> {
            let value = lines.peek()?.strip_prefix(name)?.to_owned();
            lines.next();
            Some(value)
        };
        let expiration_time = optional("Expiration Time: ");
        let not_before = optional("Not Before: ");
        let request_id = optional("Request ID: ");
        let mut resources = Vec::new();
        if optional("Resources:").is_some_and(|rest| rest.is_empty()) {
            while let Some(resource) = optional("- ") {
                resources.push(resource);
            }
        }
        if lines.next().is_some() {
            return Err(malformed("unexpected lines after the fields"));
        }

        if version != "1" {
            return Err(malformed("the version is not 1"));
        }
        let chain_id = chain_id
            .parse::<u64>()
            .ok()
            .filter(|_| !chain_id.starts_with('0') && !chain_id.starts_with('+'))
            .ok_or(malformed("the chain id is not a decimal number"))?;
        if nonce.len() < 8 || !nonce.bytes().all(|byte| byte.is_ascii_alphanumeric()) {
            return Err(malformed("the nonce is not 8 or more letters and digits"));
        }
        if uri.is_empty() || uri.contains(char::is_whitespace) {
            return Err(malformed("the URI is empty or has spaces"));
        }
        let time = |text: &str| {
            Timestamp::from_str(text).map_err(|_| malformed("a time is not an RFC 3339 date-time"))
        };
        Ok(Self {
            scheme,
            domain: domain.to_owned(),
            address,
            statement,
            uri,
            version,
            chain_id,
            nonce,
            issued_at: time(&issued_at)?,
            expiration_time: expiration_time.as_deref().map(time).transpose()?,
            not_before: not_before.as_deref().map(time).transpose()?,
            request_id,
            resources,
        })
    }
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(scheme) = &self.scheme {
            write!(f, "{scheme}://")?;
        }
        writeln!(f, "{}{PREAMBLE}", self.domain)?;
        writeln!(f, "{}", self.address.to_checksum(None))?;
        writeln!(f)?;
        if let Some(statement) = &self.statement {
            writeln!(f, "{statement}")?;
        }
        writeln!(f)?;
        writeln!(f, "URI: {}", self.uri)?;
        writeln!(f, "Version: {}", self.version)?;
        writeln!(f, "Chain ID: {}", self.chain_id)?;
        writeln!(f, "Nonce: {}", self.nonce)?;
        write!(f, "Issued At: {}", self.issued_at)?;
        if let Some(time) = &self.expiration_time {
            write!(f, "\nExpiration Time: {time}")?;
        }
        if let Some(time) = &self.not_before {
            write!(f, "\nNot Before: {time}")?;
        }
        if let Some(id) = &self.request_id {
            write!(f, "\nRequest ID: {id}")?;
        }
        if !self.resources.is_empty() {
            write!(f, "\nResources:")?;
            for resource in &self.resources {
                write!(f, "\n- {resource}")?;
            }
        }
        Ok(())
    }
}

/// The authority (`host[:port]`) of a URI like `https://host:port/path`.
fn authority(uri: &str) -> Option<&str> {
    let (scheme, rest) = uri.split_once("://")?;
    if !matches!(scheme, "http" | "https") {
        return None;
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    // A user-info part (`user@host`) would let `gateway@evil` pass.
    (!authority.is_empty() && !authority.contains('@')).then_some(authority)
}

/// What the gateway expects of a message.
#[derive(Debug, Clone)]
pub struct Expected<'a> {
    /// The gateway's domain.
    pub domain: &'a str,
    /// The chain id.
    pub chain_id: u64,
    /// How long a nonce lives: a message issued longer ago is refused.
    pub max_age: Duration,
    /// Now.
    pub now: Timestamp,
}

impl Message {
    /// Checks everything but the signature and the nonce.
    pub fn check(&self, expected: &Expected<'_>) -> Result<(), SiweError> {
        if self.domain != expected.domain {
            return Err(SiweError::WrongDomain {
                expected: expected.domain.to_owned(),
                actual: self.domain.clone(),
            });
        }
        if authority(&self.uri) != Some(expected.domain) {
            return Err(SiweError::WrongUri { uri: self.uri.clone() });
        }
        if self.chain_id != expected.chain_id {
            return Err(SiweError::WrongChain {
                expected: expected.chain_id,
                actual: self.chain_id,
            });
        }
        let now = expected.now;
        let skew = jiff::SignedDuration::try_from(CLOCK_SKEW).unwrap_or_default();
        let max_age = jiff::SignedDuration::try_from(expected.max_age).unwrap_or_default();
        if let Some(expiry) = self.expiration_time
            && expiry <= now
        {
            return Err(SiweError::Expired);
        }
        if let Some(start) = self.not_before
            && start > now
        {
            return Err(SiweError::NotYetValid);
        }
        if self.issued_at > now.saturating_add(skew).unwrap_or(now) {
            return Err(SiweError::IssuedInFuture);
        }
        if self.issued_at < now.saturating_sub(max_age).unwrap_or(now) {
            return Err(SiweError::TooOld);
        }
        Ok(())
    }
}

/// Why a sign-in message was refused.
#[derive(Debug, thiserror::Error)]
pub enum SiweError {
    /// The message does not follow EIP-4361.
    #[error("the message is not an EIP-4361 message: {reason}")]
    Malformed {
        /// What is wrong.
        reason: &'static str,
    },
    /// The message names another domain.
    #[error("the message is for {actual}, not {expected}")]
    WrongDomain {
        /// This gateway's domain.
        expected: String,
        /// The message's.
        actual: String,
    },
    /// The message's URI is not on this gateway's domain.
    #[error("the URI {uri} is not on this gateway's domain")]
    WrongUri {
        /// The message's URI.
        uri: String,
    },
    /// The message names another chain.
    #[error("the message is for chain {actual}, not {expected}")]
    WrongChain {
        /// The gateway's chain.
        expected: u64,
        /// The message's.
        actual: u64,
    },
    /// The message was issued in the future.
    #[error("the message is issued in the future")]
    IssuedInFuture,
    /// The message was issued longer ago than a nonce lives.
    #[error("the message was issued too long ago")]
    TooOld,
    /// The message's expiration time has passed.
    #[error("the message has expired")]
    Expired,
    /// The message's not-before time is ahead.
    #[error("the message is not valid yet")]
    NotYetValid,
    /// The signature is not 65 bytes, or not the address's.
    #[error("the signature is not {address}'s")]
    BadSignature {
        /// The address the message names.
        address: Address,
    },
    /// The contract wallet did not accept the signature.
    #[error("the contract wallet {wallet} does not accept the signature")]
    WalletRefused {
        /// The wallet.
        wallet: Address,
    },
    /// The nonce was used, has expired, or was never issued here.
    #[error("the nonce is unknown, used or expired")]
    UnknownNonce,
}

/// Checks that `signature` is `address`'s over `hash`: ERC-1271 if the
/// address holds code, else ECDSA recovery.
pub async fn check_signature(
    state: &AppState,
    address: Address,
    hash: B256,
    signature: &Bytes,
) -> Result<(), ApiError> {
    let provider = &state.chain.provider;
    let code = provider.get_code_at(address).await.map_err(|error| ApiError::from_rpc(&error))?;
    if !code.is_empty() {
        let wallet = IERC1271::new(address, provider);
        let answer = wallet.isValidSignature(hash, signature.clone()).call().await;
        return match answer {
            Ok(magic) if magic == FixedBytes(ERC1271_MAGIC) => Ok(()),
            Ok(_) => Err(SiweError::WalletRefused { wallet: address }.into()),
            // A revert or an answer that does not decode is a refusal; a dead
            // node is not.
            Err(alloy::contract::Error::TransportError(error))
                if Revert::from_transport_error(&error).is_none() =>
            {
                Err(ApiError::from_rpc(&error))
            }
            Err(_) => Err(SiweError::WalletRefused { wallet: address }.into()),
        };
    }
    let recovered = Signature::try_from(signature.as_ref())
        .ok()
        .and_then(|signature| signature.recover_address_from_prehash(&hash).ok());
    if recovered != Some(address) {
        return Err(SiweError::BadSignature { address }.into());
    }
    Ok(())
}

/// A fresh nonce.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NonceResponse {
    /// The nonce to put in the message.
    pub nonce: String,
    /// When it stops being accepted (unix seconds).
    pub expires_at: u64,
}

/// `POST /v1/auth/nonce`.
pub async fn nonce(State(state): State<AppState>) -> Result<Json<NonceResponse>, ApiError> {
    let mut bytes = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| ApiError::internal("no randomness for a nonce"))?;
    let nonce = hex::encode(bytes);
    let now = unix_now();
    let expires_at = now + state.settings.limits.nonce_ttl().as_secs();
    sqlx::query("DELETE FROM siwe_nonces WHERE expires_at <= ?")
        .bind(now as i64)
        .execute(&state.db)
        .await
        .map_err(ApiError::internal)?;
    sqlx::query("INSERT INTO siwe_nonces (nonce, expires_at) VALUES (?, ?)")
        .bind(&nonce)
        .bind(expires_at as i64)
        .execute(&state.db)
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(NonceResponse { nonce, expires_at }))
}

/// A signed sign-in message.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    /// The EIP-4361 message, as signed.
    pub message: String,
    /// The EIP-191 signature of the message, hex.
    pub signature: Bytes,
}

/// A session.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyResponse {
    /// The bearer token.
    pub token: String,
    /// The address signed in.
    pub address: Address,
    /// When the token expires (unix seconds).
    pub expires_at: u64,
}

/// `POST /v1/auth/verify`.
pub async fn verify(
    State(state): State<AppState>,
    Json(request): Json<VerifyRequest>,
) -> Result<Json<VerifyResponse>, ApiError> {
    let message: Message = request.message.parse()?;
    message.check(&Expected {
        domain: &state.settings.domain,
        chain_id: state.chain.chain_id,
        max_age: state.settings.limits.nonce_ttl(),
        now: Timestamp::now(),
    })?;
    let hash = eip191_hash_message(request.message.as_bytes());
    check_signature(&state, message.address, hash, &request.signature).await?;
    let used = sqlx::query("DELETE FROM siwe_nonces WHERE nonce = ? AND expires_at > ?")
        .bind(&message.nonce)
        .bind(unix_now() as i64)
        .execute(&state.db)
        .await
        .map_err(ApiError::internal)?
        .rows_affected();
    if used != 1 {
        return Err(SiweError::UnknownNonce.into());
    }
    let (token, expires_at) = state.sessions.issue(message.address);
    state.metrics.signed_in();
    tracing::info!(address = %message.address, "signed in");
    Ok(Json(VerifyResponse { token, address: message.address, expires_at }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MESSAGE: &str = "localhost:8080 wants you to sign in with your Ethereum account:
0x70997970C51812dc3A010C7d01b50e0d17dc79C8

Sign in to MedVault.

URI: http://localhost:8080/v1/auth/verify
Version: 1
Chain ID: 31337
Nonce: 0123456789abcdef
Issued At: 2026-01-01T00:00:00Z
Expiration Time: 2026-01-01T00:10:00Z
Resources:
- ipfs://bafy
- https://example.org/terms";

    fn expected(now: &str) -> Expected<'static> {
        Expected {
            domain: "localhost:8080",
            chain_id: 31337,
            max_age: Duration::from_secs(300),
            now: now.parse().unwrap(),
        }
    }

    #[test]
    fn a_message_parses_and_prints_back_byte_for_byte() {
        let message: Message = MESSAGE.parse().unwrap();
        assert_eq!(message.domain, "localhost:8080");
        assert_eq!(message.statement.as_deref(), Some("Sign in to MedVault."));
        assert_eq!(message.chain_id, 31337);
        assert_eq!(message.resources.len(), 2);
        assert_eq!(message.to_string(), MESSAGE);
        message.check(&expected("2026-01-01T00:01:00Z")).unwrap();
    }

    #[test]
    fn a_message_without_statement_has_two_empty_lines() {
        let text = MESSAGE.replace("Sign in to MedVault.\n\n", "\n");
        let message: Message = text.parse().unwrap();
        assert_eq!(message.statement, None);
        assert_eq!(message.to_string(), text);
    }

    #[test]
    fn malformed_messages_are_refused() {
        for (from, to) in [
            (
                "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
                "0x70997970c51812dc3a010c7d01b50e0d17dc79c8",
            ),
            ("Version: 1", "Version: 2"),
            ("Chain ID: 31337", "Chain ID: 031337"),
            ("Nonce: 0123456789abcdef", "Nonce: short"),
            ("Issued At: 2026-01-01T00:00:00Z", "Issued At: yesterday"),
            ("Sign in to MedVault.\n\n", "Sign in to MedVault.\n"),
            ("- https://example.org/terms", "- https://example.org/terms\nextra"),
            (" wants you", " would like you"),
        ] {
            let text = MESSAGE.replace(from, to);
            assert!(
                matches!(text.parse::<Message>(), Err(SiweError::Malformed { .. })),
                "{to:?} was accepted"
            );
        }
    }

    #[test]
    fn the_domain_uri_chain_and_times_are_checked() {
        let message: Message = MESSAGE.parse().unwrap();
        let at = |now| message.check(&expected(now));
        assert!(matches!(at("2026-01-01T00:10:00Z"), Err(SiweError::Expired)));
        assert!(matches!(at("2025-12-31T23:58:00Z"), Err(SiweError::IssuedInFuture)));
        let old: Message =
            MESSAGE.replace("Expiration Time: 2026-01-01T00:10:00Z\n", "").parse().unwrap();
        assert!(matches!(old.check(&expected("2026-01-01T00:05:01Z")), Err(SiweError::TooOld)));

        let other = |from: &str, to: &str| {
            MESSAGE
                .replace(from, to)
                .parse::<Message>()
                .unwrap()
                .check(&expected("2026-01-01T00:01:00Z"))
        };
        assert!(matches!(
            other("localhost:8080 wants", "evil.example wants"),
            Err(SiweError::WrongDomain { .. })
        ));
        assert!(matches!(
            other("URI: http://localhost:8080/", "URI: http://evil.example/"),
            Err(SiweError::WrongUri { .. })
        ));
        assert!(matches!(
            other("URI: http://localhost:8080/", "URI: http://localhost:8080@evil.example/"),
            Err(SiweError::WrongUri { .. })
        ));
        assert!(matches!(
            other("Chain ID: 31337", "Chain ID: 1"),
            Err(SiweError::WrongChain { .. })
        ));
        assert!(matches!(
            other("Resources:", "Not Before: 2026-01-01T00:02:00Z\nResources:"),
            Err(SiweError::NotYetValid)
        ));
    }
}
