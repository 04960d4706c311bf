//! [`ApiError`]: every way a request fails, as one status and a JSON body
//! `{"error": code, "message": sentence}`.
//!
//! The codes are stable (clients match on them); the messages are for
//! people. Internal causes (the database, an unexpected node answer) are
//! logged and never echoed. A contract revert is decoded by
//! [`medvault_core::revert`] and mapped to a 4xx by its typed variant, never
//! by its text; its error name goes in a `revert` field beside the code.

use std::time::Duration;

use alloy::transports::{RpcError, TransportError};
use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use medvault_core::{
    bindings::{
        forwarder::MedVaultForwarder::MedVaultForwarderErrors as ForwarderError,
        vault::MedVault::MedVaultErrors as VaultError,
    },
    revert::Revert,
};
use serde::Serialize;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed: bad JSON, a missing field, a bad value.
    #[error("{message}")]
    InvalidRequest {
        /// What is wrong, for the caller.
        message: String,
    },
    /// No valid session token came with a request that needs one.
    #[error("{reason}")]
    Unauthenticated {
        /// What was wrong with the token, or that there was none.
        reason: &'static str,
    },
    /// A sign-in message was refused.
    #[error("sign-in refused: {0}")]
    SignIn(#[from] crate::siwe::SiweError),
    /// The caller may not do this.
    #[error("{message}")]
    Forbidden {
        /// Why not.
        message: String,
    },
    /// No such route or object.
    #[error("{message}")]
    NotFound {
        /// What was not found.
        message: String,
    },
    /// The route exists, but not for this method.
    #[error("this route does not accept the method")]
    MethodNotAllowed,
    /// A request with the same idempotency key is still being processed.
    #[error("a request with idempotency key {key:?} is in progress; retry later")]
    InFlight {
        /// The key.
        key: String,
    },
    /// A part of an upload session does not start where the bytes received
    /// so far end.
    #[error("the part starts at byte {offset}, but the upload has {expected} bytes")]
    WrongOffset {
        /// Where the part said it starts.
        offset: u64,
        /// The bytes received so far: where the next part starts.
        expected: u64,
    },
    /// Another part of the same upload session is still being received.
    #[error("another part of this upload is still being received; retry later")]
    PartInFlight,
    /// The idempotency key was used before with a different request.
    #[error("idempotency key {key:?} was used with a different request")]
    KeyReused {
        /// The key.
        key: String,
    },
    /// The body is larger than the limit.
    #[error("the body is larger than the {limit}-byte limit")]
    PayloadTooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// Too many requests from this IP address or account.
    #[error("too many requests; retry in {} s", retry_after.as_secs().max(1))]
    RateLimited {
        /// When a request will be accepted again.
        retry_after: Duration,
    },
    /// The calldata is not a forwarder `...BySig` call.
    #[error("{message}")]
    NotRelayable {
        /// Why not.
        message: String,
    },
    /// The contract refused the call (in simulation, or on chain).
    #[error("{0}")]
    Reverted(Revert),
    /// The relayed transaction was mined but reverted: the state changed
    /// between the simulation and the block.
    #[error("transaction {transaction_hash} reverted on chain")]
    RevertedOnChain {
        /// The transaction.
        transaction_hash: alloy::primitives::TxHash,
    },
    /// The chain's node did not answer or answered with an error that is not
    /// a revert.
    #[error("the chain is unavailable: {message}")]
    ChainUnavailable {
        /// What failed, without secrets or internals.
        message: String,
    },
    /// Kubo did not answer.
    #[error("IPFS is unavailable: {message}")]
    IpfsUnavailable {
        /// What failed.
        message: String,
    },
    /// The request took longer than its time limit.
    #[error("the request took longer than {} s", limit.as_secs())]
    Timeout {
        /// The limit.
        limit: Duration,
    },
    /// Something failed inside the gateway; logged, not echoed.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    /// An internal error, logged when it is turned into a response.
    pub fn internal(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Internal(source.into())
    }

    /// A malformed request.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::InvalidRequest { message: message.into() }
    }

    /// A failed RPC request: the decoded revert if the node reported one,
    /// else the chain is unavailable.
    pub fn from_rpc(error: &TransportError) -> Self {
        if let Some(revert) = Revert::from_transport_error(error) {
            return Self::Reverted(revert);
        }
        let message = match error {
            RpcError::Transport(_) => "the node does not answer".to_owned(),
            RpcError::ErrorResp(payload) => {
                format!("the node refused the request: {}", payload.message)
            }
            _ => "the node's answer could not be read".to_owned(),
        };
        Self::ChainUnavailable { message }
    }

    /// The HTTP status and the stable code of this error.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::InvalidRequest { .. } => (StatusCode::BAD_REQUEST, "invalid_request"),
            Self::Unauthenticated { .. } => (StatusCode::UNAUTHORIZED, "unauthenticated"),
            Self::SignIn(crate::siwe::SiweError::Malformed { .. }) => {
                (StatusCode::BAD_REQUEST, "sign_in_malformed")
            }
            Self::SignIn(_) => (StatusCode::UNAUTHORIZED, "sign_in_refused"),
            Self::Forbidden { .. } => (StatusCode::FORBIDDEN, "forbidden"),
            Self::NotFound { .. } => (StatusCode::NOT_FOUND, "not_found"),
            Self::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            Self::InFlight { .. } => (StatusCode::CONFLICT, "idempotency_in_flight"),
            Self::WrongOffset { .. } => (StatusCode::CONFLICT, "wrong_offset"),
            Self::PartInFlight => (StatusCode::CONFLICT, "part_in_flight"),
            Self::KeyReused { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused"),
            Self::PayloadTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            Self::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            Self::NotRelayable { .. } => (StatusCode::BAD_REQUEST, "not_relayable"),
            Self::Reverted(revert) => (revert_status(revert), "reverted"),
            Self::RevertedOnChain { .. } => (StatusCode::CONFLICT, "reverted_on_chain"),
            Self::ChainUnavailable { .. } => (StatusCode::SERVICE_UNAVAILABLE, "chain_unavailable"),
            Self::IpfsUnavailable { .. } => (StatusCode::SERVICE_UNAVAILABLE, "ipfs_unavailable"),
            Self::Timeout { .. } => (StatusCode::GATEWAY_TIMEOUT, "timeout"),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

/// The status of a contract revert: 403 for a caller without the right, 404
/// for an unknown object, 409 for a state that does not allow it, 400 for a
/// bad argument or authorisation.
fn revert_status(revert: &Revert) -> StatusCode {
    use VaultError as V;
    match revert {
        Revert::Forwarder(error) => match error {
            ForwarderError::InvalidAccountNonce(_) => StatusCode::CONFLICT,
            ForwarderError::ExpiredSignature(_)
            | ForwarderError::InvalidSignature(_)
            | ForwarderError::InvalidShortString(_)
            | ForwarderError::StringTooLong(_) => StatusCode::BAD_REQUEST,
        },
        Revert::Vault(error) => match error {
            V::OwnableUnauthorizedAccount(_)
            | V::NotActiveOrganisation(_)
            | V::NotOrganisation(_)
            | V::NotRelayer(_)
            | V::NotStaff(_)
            | V::StaffOfOtherOrganisation(_)
            | V::NotPatient(_)
            | V::NotGuardian(_)
            | V::NotDevice(_)
            | V::NotManager(_)
            | V::NoGrant(_)
            | V::NoRecordGrant(_)
            | V::NotWriter(_)
            | V::NotPublisher(_)
            | V::NotEntitled(_)
            | V::NotEmergencyStaff(_)
            | V::NotReviewer(_) => StatusCode::FORBIDDEN,
            V::UnknownRequest(_) | V::UnknownRecord(_) | V::UnknownCase(_) => StatusCode::NOT_FOUND,
            V::NotSuspended(_)
            | V::StaleSequence(_)
            | V::AccountInUse(_)
            | V::MissingEncryptionKey(_)
            | V::RequestAnswered(_)
            | V::StaleEpoch(_)
            | V::TooManyOpenCases(_)
            | V::EmergencyAccessOpen(_)
            | V::CaseReviewed(_) => StatusCode::CONFLICT,
            V::OwnableInvalidOwner(_)
            | V::RenounceDisabled(_)
            | V::InvalidRole(_)
            | V::InvalidLicenceExpiry(_)
            | V::InvalidEncryptionKey(_)
            | V::InvalidPowers(_)
            | V::SelfReference(_)
            | V::InvalidCategory(_)
            | V::InvalidScope(_)
            | V::InvalidExpiry(_)
            | V::InvalidDuration(_)
            | V::InvalidCid(_)
            | V::InvalidWrappedKey(_)
            | V::InvalidAmendment(_)
            | V::TooManyEnvelopes(_)
            | V::InvalidSeverity(_)
            | V::InvalidSealedKey(_)
            | V::InvalidVerdict(_) => StatusCode::UNPROCESSABLE_ENTITY,
        },
        Revert::Reason(_) | Revert::Panic(_) | Revert::Unknown(_) => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
    }
}

/// The name of a revert's error, e.g. `InvalidAccountNonce`.
fn revert_name(revert: &Revert) -> Option<&'static str> {
    let selector = revert.selector()?;
    match revert {
        Revert::Vault(_) => VaultError::name_by_selector(selector.0),
        Revert::Forwarder(_) => ForwarderError::name_by_selector(selector.0),
        Revert::Reason(_) => Some("Error"),
        Revert::Panic(_) => Some("Panic"),
        Revert::Unknown(_) => None,
    }
}

impl ApiError {
    /// The JSON body of this error (what a client sees, and what the
    /// idempotency store replays).
    pub fn to_json(&self) -> serde_json::Value {
        let (_, code) = self.status_and_code();
        let revert = match self {
            Self::Reverted(revert) => revert_name(revert),
            _ => None,
        };
        let expected = match self {
            Self::WrongOffset { expected, .. } => Some(*expected),
            _ => None,
        };
        serde_json::to_value(Body { error: code, message: self.to_string(), revert, expected })
            .unwrap_or_default()
    }
}

/// The JSON body of an error.
#[derive(Debug, Serialize)]
struct Body<'a> {
    error: &'a str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    revert: Option<&'a str>,
    /// Where the next part of an upload session starts, for `wrong_offset`.
    #[serde(skip_serializing_if = "Option::is_none")]
    expected: Option<u64>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if let Self::Internal(source) = &self {
            tracing::error!(error = %source, "internal error");
        } else if status.is_server_error() {
            tracing::warn!(code, error = %self, "request failed");
        }
        let mut response = (status, Json(self.to_json())).into_response();
        if let Self::RateLimited { retry_after } = &self {
            let seconds = retry_after.as_secs().max(1);
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use alloy::primitives::{Address, U256};
    use axum::body::to_bytes;
    use medvault_core::bindings::{forwarder::MedVaultForwarder, vault::MedVault};

    use super::*;

    async fn body(error: ApiError) -> (StatusCode, serde_json::Value) {
        let response = error.into_response();
        let status = response.status();
        let bytes = to_bytes(response.into_body(), 1 << 16).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn a_stale_nonce_is_a_conflict_that_names_the_error() {
        let revert = Revert::Forwarder(ForwarderError::InvalidAccountNonce(
            MedVaultForwarder::InvalidAccountNonce {
                account: Address::ZERO,
                currentNonce: U256::from(4),
            },
        ));
        let (status, json) = body(ApiError::Reverted(revert)).await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(json["error"], "reverted");
        assert_eq!(json["revert"], "InvalidAccountNonce");
        assert!(json["message"].as_str().unwrap().contains("next nonce is 4"));
    }

    #[tokio::test]
    async fn a_missing_right_is_forbidden() {
        let revert =
            Revert::Vault(VaultError::NotPatient(MedVault::NotPatient { account: Address::ZERO }));
        let (status, json) = body(ApiError::Reverted(revert)).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(json["revert"], "NotPatient");
    }

    #[tokio::test]
    async fn internal_causes_are_not_echoed() {
        let (status, json) = body(ApiError::internal("disk /secret/path is full")).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(json["error"], "internal");
        assert_eq!(json["message"], "internal error");
    }

    #[tokio::test]
    async fn a_wrong_offset_names_where_the_next_part_starts() {
        let (status, json) = body(ApiError::WrongOffset { offset: 7, expected: 4 }).await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(json["error"], "wrong_offset");
        assert_eq!(json["expected"], 4);
    }

    #[tokio::test]
    async fn rate_limits_say_when_to_retry() {
        let response =
            ApiError::RateLimited { retry_after: Duration::from_millis(2_500) }.into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "2");
    }
}
