//! A client of the gateway's HTTP API (`docs/gateway.md`,
//! `docs/gateway-records.md`).
//!
//! [`GatewayClient::sign_in`] runs sign-in with Ethereum (a nonce, the
//! EIP-4361 message signed with EIP-191, the bearer token); the session
//! then relays signed `...BySig` calls, streams uploads and their commits,
//! reads a record's key envelopes and ciphertext, and the caller's access
//! log. The request and response types are the gateway's own, so the two
//! cannot drift apart. A refusal becomes [`GatewayError::Refused`] with the
//! gateway's code and sentence (a contract revert arrives decoded).

use std::time::Duration;

use alloy::{
    primitives::{Address, B256, Bytes, U256},
    signers::Signer,
};
use bytes::Bytes as Chunk;
use medvault_gateway::{
    access_log::Accounting,
    download::Grant,
    relay::{RelayRequest, Relayed},
    siwe::{Message, NonceResponse, VerifyRequest, VerifyResponse},
    upload::{Committed, ToSign},
};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use url::Url;

/// How long a sign-in message is valid for.
const SIGN_IN_VALIDITY: Duration = Duration::from_secs(300);

/// How many times a rate-limited request is retried after the wait the
/// gateway names.
const MAX_RATE_LIMIT_RETRIES: u32 = 30;

/// How many times a commit refused with 503 is tried again.
const COMMIT_RETRIES: u32 = 3;

/// Why a gateway request failed.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The gateway could not be reached or the connection broke.
    #[error("the gateway at {url} did not answer")]
    Unreachable {
        /// The URL requested.
        url: String,
        /// The transport's error.
        #[source]
        source: reqwest::Error,
    },
    /// The gateway answered with an error.
    #[error("{message}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The gateway's error code (`forbidden`, `reverted`, ...).
        code: String,
        /// The gateway's sentence.
        message: String,
    },
    /// The answer was not the JSON expected.
    #[error("the gateway's answer to {what} was not understood")]
    Malformed {
        /// Which request.
        what: &'static str,
        /// The decoder's error.
        #[source]
        source: reqwest::Error,
    },
    /// The wallet would not sign the sign-in message.
    #[error("the wallet did not sign the sign-in message")]
    Sign(#[source] alloy::signers::Error),
    /// The HTTP client could not be set up.
    #[error("the HTTP client could not be set up")]
    Client(#[source] reqwest::Error),
    /// The gateway's URL has no host to sign in to.
    #[error("the gateway URL {url} has no host")]
    NoHost {
        /// The URL.
        url: Url,
    },
    /// The clock is outside what an RFC 3339 time can say.
    #[error("the system clock is out of range")]
    Clock,
    /// A route was used before signing in.
    #[error("not signed in to the gateway")]
    NotSignedIn,
}

impl GatewayError {
    /// The gateway's error code, when it refused.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Refused { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// The JSON body of every gateway error.
#[derive(Debug, Deserialize)]
struct ErrorBody {
    error: String,
    message: String,
}

/// A client of one gateway, signed in or not.
#[derive(Debug, Clone)]
pub struct GatewayClient {
    http: reqwest::Client,
    base: Url,
    domain: String,
    token: Option<String>,
    address: Option<Address>,
}

/// The query of a client-side upload: the record's key material.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadParams {
    /// Whose record.
    pub patient: Address,
    /// Its category.
    pub category: u8,
    /// `server` for the gateway's encryption; absent for a record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<&'static str>,
    /// The epoch of `wrapped_key`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epoch: Option<u32>,
    /// The data key wrapped under the category key, 0x-hex.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wrapped_key: Option<Bytes>,
    /// Record-level envelopes, JSON `[[recipient, sealedKey], ...]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub envelopes: Option<String>,
    /// The signature deadline, unix seconds.
    pub deadline: u64,
    /// Whether the body ends with the author's `AddRecord` signature, for
    /// the gateway to commit in the same request.
    pub signed: bool,
}

#[derive(Serialize)]
struct CommitBody {
    deadline: u64,
    signature: Bytes,
}

impl UploadParams {
    /// The query pairs, as the gateway reads them.
    fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = vec![
            ("patient", format!("{:#x}", self.patient)),
            ("category", self.category.to_string()),
            ("deadline", self.deadline.to_string()),
        ];
        if let Some(mode) = self.mode {
            pairs.push(("mode", mode.to_owned()));
        }
        if let Some(epoch) = self.epoch {
            pairs.push(("epoch", epoch.to_string()));
        }
        if let Some(wrapped_key) = &self.wrapped_key {
            pairs.push(("wrappedKey", wrapped_key.to_string()));
        }
        if let Some(envelopes) = &self.envelopes {
            pairs.push(("envelopes", envelopes.clone()));
        }
        if self.signed {
            pairs.push(("signed", "true".to_owned()));
        }
        pairs
    }
}

/// `url` with these query pairs appended.
pub fn with_query(mut url: Url, pairs: &[(&str, String)]) -> Url {
    if !pairs.is_empty() {
        let mut query = url.query_pairs_mut();
        for (name, value) in pairs {
            query.append_pair(name, value);
        }
    }
    url
}

impl GatewayClient {
    /// A client of the gateway at `base`; sign-in messages name `domain`
    /// (the gateway's `--domain`), by default the URL's host and port.
    pub fn new(base: Url, domain: Option<String>) -> Result<Self, GatewayError> {
        let domain = match domain {
            Some(domain) => domain,
            None => {
                let host = base.host_str().ok_or(GatewayError::NoHost { url: base.clone() })?;
                match base.port() {
                    Some(port) => format!("{host}:{port}"),
                    None => host.to_owned(),
                }
            }
        };
        // A connection per request. On a connection kept from the request
        // before, about one 1 MiB download in fifty stalled for 80 to 160 ms
        // mid-body over loopback, with the gateway's stream and the reader
        // both ready: TCP holding the bytes back, not either end. With a
        // fresh connection, none did in 600 (BENCHMARKS.md, end to end). A
        // command makes a handful of requests, so the handshakes cost little.
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .map_err(GatewayError::Client)?;
        Ok(Self { http, base, domain, token: None, address: None })
    }

    /// The address signed in, if any.
    pub fn address(&self) -> Option<Address> {
        self.address
    }

    fn url(&self, path: &str) -> Url {
        let mut url = self.base.clone();
        let joined = format!("{}{}", self.base.path().trim_end_matches('/'), path);
        url.set_path(&joined);
        url
    }

    fn authorised(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::RequestBuilder, GatewayError> {
        let token = self.token.as_deref().ok_or(GatewayError::NotSignedIn)?;
        Ok(request.bearer_auth(token))
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        path: &str,
    ) -> Result<reqwest::Response, GatewayError> {
        let mut request = request;
        let mut retries = 0;
        let response = loop {
            // A request with a streaming body cannot be sent twice.
            let again = request.try_clone();
            let response = request.send().await.map_err(|source| GatewayError::Unreachable {
                url: self.url(path).to_string(),
                source,
            })?;
            // Sign-in is rate limited per IP (one every 2 s after a burst):
            // scripts that run many commands wait their turn.
            match again {
                Some(next)
                    if response.status() == reqwest::StatusCode::TOO_MANY_REQUESTS
                        && retries < MAX_RATE_LIMIT_RETRIES =>
                {
                    retries += 1;
                    let wait = response
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|value| value.to_str().ok())
                        .and_then(|value| value.parse::<u64>().ok())
                        .unwrap_or(1)
                        .clamp(1, 10);
                    tokio::time::sleep(Duration::from_secs(wait)).await;
                    request = next;
                }
                _ => break response,
            }
        };
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        let (code, message) = match serde_json::from_str::<ErrorBody>(&text) {
            Ok(body) => (body.error, body.message),
            Err(_) => ("http".to_owned(), format!("the gateway answered HTTP {status}")),
        };
        Err(GatewayError::Refused { status, code, message })
    }

    async fn json<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
        path: &str,
        what: &'static str,
    ) -> Result<T, GatewayError> {
        self.send(request, path)
            .await?
            .json()
            .await
            .map_err(|source| GatewayError::Malformed { what, source })
    }

    /// Signs in as `signer` on chain `chain_id`: asks a nonce, signs the
    /// EIP-4361 message and keeps the session token.
    pub async fn sign_in<S: Signer + Sync>(
        &mut self,
        signer: &S,
        chain_id: u64,
    ) -> Result<VerifyResponse, GatewayError> {
        let path = "/v1/auth/nonce";
        let nonce: NonceResponse =
            self.json(self.http.post(self.url(path)), path, "the nonce request").await?;
        let now = jiff::Timestamp::now();
        let later = now
            .checked_add(
                jiff::SignedDuration::try_from(SIGN_IN_VALIDITY)
                    .map_err(|_| GatewayError::Clock)?,
            )
            .map_err(|_| GatewayError::Clock)?;
        let message = Message {
            scheme: None,
            domain: self.domain.clone(),
            address: signer.address(),
            statement: Some("Sign in to MedVault.".into()),
            uri: format!("{}://{}/v1/auth/verify", self.base.scheme(), self.domain),
            version: "1".into(),
            chain_id,
            nonce: nonce.nonce,
            // Whole seconds: the message's text is what is signed and parsed.
            issued_at: jiff::Timestamp::from_second(now.as_second())
                .map_err(|_| GatewayError::Clock)?,
            expiration_time: Some(
                jiff::Timestamp::from_second(later.as_second()).map_err(|_| GatewayError::Clock)?,
            ),
            not_before: None,
            request_id: None,
            resources: Vec::new(),
        }
        .to_string();
        let signature =
            signer.sign_message(message.as_bytes()).await.map_err(GatewayError::Sign)?;
        let path = "/v1/auth/verify";
        let body = VerifyRequest { message, signature: signature.as_bytes().into() };
        let session: VerifyResponse =
            self.json(self.http.post(self.url(path)).json(&body), path, "the sign-in").await?;
        self.token = Some(session.token.clone());
        self.address = Some(session.address);
        Ok(session)
    }

    /// Relays a signed forwarder call (`Action::sign`'s result, encoded).
    /// `idempotency_key` makes a retry return the first result.
    pub async fn relay(
        &self,
        calldata: Bytes,
        idempotency_key: Option<&str>,
    ) -> Result<Relayed, GatewayError> {
        let path = "/v1/relay";
        let mut request =
            self.authorised(self.http.post(self.url(path)))?.json(&RelayRequest { calldata });
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        self.json(request, path, "the relay").await
    }

    /// Streams `body` as a new upload (a record, or plaintext with
    /// `mode: server`) and returns what the author must sign.
    pub async fn upload(
        &self,
        params: &UploadParams,
        body: reqwest::Body,
    ) -> Result<ToSign, GatewayError> {
        let path = "/v1/records";
        let request = self
            .authorised(self.http.post(with_query(self.url(path), &params.pairs())))?
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(body);
        self.json(request, path, "the upload").await
    }

    /// Commits an upload with the author's `AddRecord` signature.
    pub async fn commit(
        &self,
        upload_id: &str,
        deadline: u64,
        signature: Bytes,
    ) -> Result<Committed, GatewayError> {
        let path = format!("/v1/uploads/{upload_id}/commit");
        let body = CommitBody { deadline, signature };
        let mut attempt = 0;
        loop {
            let request = self.authorised(self.http.post(self.url(&path)))?.json(&body);
            match self.json(request, &path, "the commit").await {
                // A commit is idempotent (the gateway keeps the upload's
                // transaction), so a chain that hiccuped (503) is retried.
                Err(GatewayError::Refused { status: 503, .. }) if attempt < COMMIT_RETRIES => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                result => return result,
            }
        }
    }

    /// The key envelopes of a record the caller may read.
    pub async fn keys(&self, record_id: U256) -> Result<Grant, GatewayError> {
        let path = format!("/v1/records/{record_id}/keys");
        let request = self.authorised(self.http.get(self.url(&path)))?;
        self.json(request, &path, "the keys request").await
    }

    /// Starts the download of a record's ciphertext; returns the response
    /// to read in chunks, the SHA-256 the gateway announces and, when it
    /// sent it, the caller's grant (what [`GatewayClient::keys`] returns).
    pub async fn download(&self, record_id: U256, purpose: &str) -> Result<Download, GatewayError> {
        let path = format!("/v1/records/{record_id}");
        let request = self.authorised(
            self.http.get(with_query(self.url(&path), &[("purpose", purpose.to_owned())])),
        )?;
        let response = self.send(request, &path).await?;
        let sha256 = response
            .headers()
            .get("x-medvault-sha256")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<B256>().ok());
        let length = response.content_length();
        // A grant that does not parse is left to the keys route.
        let grant = response
            .headers()
            .get(medvault_gateway::records::GRANT_HEADER)
            .and_then(|value| serde_json::from_slice(value.as_bytes()).ok());
        Ok(Download { response, sha256, length, grant })
    }

    /// The caller's accounting of disclosures.
    pub async fn access_log(&self) -> Result<Accounting, GatewayError> {
        let path = "/v1/access-log";
        let request = self.authorised(self.http.get(self.url(path)))?;
        self.json(request, path, "the access log request").await
    }
}

/// A download under way.
#[derive(Debug)]
pub struct Download {
    response: reqwest::Response,
    /// The SHA-256 the gateway announced.
    pub sha256: Option<B256>,
    /// The length, when the gateway said it.
    pub length: Option<u64>,
    /// The caller's key envelopes and the record's fingerprint, when the
    /// gateway sent them with the ciphertext.
    pub grant: Option<Grant>,
}

impl Download {
    /// A download of whatever `response` carries, for tests of what reads
    /// one.
    #[cfg(test)]
    pub(crate) fn from_response(response: reqwest::Response) -> Self {
        Self { response, sha256: None, length: None, grant: None }
    }

    /// The next chunk of ciphertext, or `None` at the end.
    pub async fn chunk(&mut self) -> Result<Option<Chunk>, GatewayError> {
        let url = self.response.url().to_string();
        self.response.chunk().await.map_err(|source| GatewayError::Unreachable { url, source })
    }
}

#[cfg(test)]
mod tests {
    use alloy::signers::local::PrivateKeySigner;

    use super::*;

    #[test]
    fn the_sign_in_domain_is_the_urls_authority_unless_given() {
        let client = GatewayClient::new("http://127.0.0.1:8080/".parse().unwrap(), None).unwrap();
        assert_eq!(client.domain, "127.0.0.1:8080");
        assert_eq!(client.url("/v1/relay").as_str(), "http://127.0.0.1:8080/v1/relay");
        let client =
            GatewayClient::new("https://vault.example/api".parse().unwrap(), Some("x:1".into()))
                .unwrap();
        assert_eq!(client.domain, "x:1");
        assert_eq!(client.url("/v1/relay").as_str(), "https://vault.example/api/v1/relay");
    }

    #[tokio::test]
    async fn a_route_that_needs_a_session_refuses_before_sending() {
        let client = GatewayClient::new("http://127.0.0.1:9/".parse().unwrap(), None).unwrap();
        let err = client.relay(Bytes::new(), None).await.unwrap_err();
        assert!(matches!(err, GatewayError::NotSignedIn));
        let _ = PrivateKeySigner::random();
    }
}
