//! The record routes through the router (no socket), on the data-path
//! stack: upload, commit and download over HTTP, idempotent retries, and a
//! 403 or 404 from every object endpoint for those the chain refuses.

use std::net::SocketAddr;

use alloy::{
    network::EthereumWallet,
    primitives::{B256, Bytes, U256},
    signers::SignerSync,
    signers::local::PrivateKeySigner,
};
use axum::{
    Router,
    body::Body,
    extract::connect_info::MockConnectInfo,
    http::{Method, Request, StatusCode},
};
use http_body_util::BodyExt;
use medvault_core::{
    bindings::forwarder::IMedVault,
    cid::FileCid,
    keys::DataKey,
    record,
    sig::{self, Action},
};
use medvault_gateway::{
    AppState,
    config::Limits,
    ipfs::Ipfs,
    router,
    session::SessionKeys,
    state::{Chain, Settings},
    store,
};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::stack::{Actor, LABS, Stack};

pub(crate) struct Http {
    router: Router,
    pub(crate) state: AppState,
}

impl Http {
    async fn new(stack: &Stack) -> Self {
        // Room for the 1 MiB file, not for the 3 MiB one.
        Self::with_limits(stack, Limits { upload_limit: 2 << 20, ..Limits::default() }).await
    }

    /// The gateway's router over `stack`, with `limits`.
    pub(crate) async fn with_limits(stack: &Stack, limits: Limits) -> Self {
        let dir = stack.db.parent().unwrap();
        let chain = Chain::connect(
            stack.anvil.endpoint_url(),
            Some(stack.anvil.chain_id()),
            Some(*stack.vault.address()),
            None,
            dir,
        )
        .await
        .unwrap();
        let db = store::open(&dir.join("http.sqlite")).await.unwrap();
        // The stack's relayer account, which the contract knows as one.
        let relayer = PrivateKeySigner::from(stack.anvil.keys().last().unwrap().clone());
        let state = AppState::new(
            chain,
            EthereumWallet::from(relayer),
            db,
            SessionKeys::new(&[1; 32], limits.session_ttl()),
            stack.kubo.api_url().parse().unwrap(),
            Ipfs::new(&stack.kubo.api_url()).unwrap(),
            Settings { domain: "localhost".into(), limits },
        );
        let router =
            router(state.clone()).layer(MockConnectInfo(SocketAddr::from(([127, 0, 0, 1], 4000))));
        Self { router, state }
    }

    fn token(&self, actor: &Actor) -> String {
        self.state.sessions.issue(actor.address()).0
    }

    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        actor: &Actor,
        headers: &[(&str, &str)],
        body: Body,
    ) -> (StatusCode, Vec<u8>) {
        let mut builder = Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {}", self.token(actor)));
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let response = self.router.clone().oneshot(builder.body(body).unwrap()).await.unwrap();
        let status = response.status();
        (status, response.into_body().collect().await.unwrap().to_bytes().to_vec())
    }

    pub(crate) async fn json(
        &self,
        method: Method,
        path: &str,
        actor: &Actor,
        headers: &[(&str, &str)],
        body: Body,
    ) -> (StatusCode, Value) {
        let (status, bytes) = self.send(method, path, actor, headers, body).await;
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    /// Downloads `record_id` as `actor` (200 expected), checks it against
    /// `sha256` and decrypts it with `key`: the ciphertext and the plaintext.
    pub(crate) async fn open_record(
        &self,
        record_id: &str,
        actor: &Actor,
        key: &DataKey,
        sha256: &B256,
    ) -> (Vec<u8>, Vec<u8>) {
        let (status, ciphertext) = self
            .send(
                Method::GET,
                &format!("/v1/records/{record_id}?purpose=treatment"),
                actor,
                &[],
                Body::empty(),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let mut opened = Vec::new();
        record::decrypt_verified(key, &sha256.0, &ciphertext[..], &mut opened).await.unwrap();
        (ciphertext, opened)
    }
}

#[tokio::test]
async fn records_go_up_and_down_over_http_and_strangers_get_403_or_404() {
    let stack = Stack::new().await;
    let http = Http::new(&stack).await;
    let plaintext: Vec<u8> = (0..(1 << 20) + 5).map(|i: usize| (i * 13) as u8).collect();
    let path =
        format!("/v1/records?mode=server&patient={}&category={LABS}", stack.patient.address());

    let upload = |body: Vec<u8>| {
        http.json(
            Method::POST,
            &path,
            &stack.doctor,
            &[("idempotency-key", "http-1")],
            Body::from(body),
        )
    };
    let (status, to_sign) = upload(plaintext.clone()).await;
    assert_eq!(status, StatusCode::OK, "{to_sign}");
    let id = to_sign["upload"]["id"].as_str().unwrap().to_owned();
    // A retry with the same key is the same upload, whatever the body.
    let (status, again) = upload(b"anything".to_vec()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["upload"]["id"], to_sign["upload"]["id"]);

    let hash: B256 = serde_json::from_value(to_sign["signing_hash"].clone()).unwrap();
    let deadline = to_sign["typed_data"]["message"]["deadline"].clone();
    let deadline: u64 = match deadline {
        Value::Number(n) => n.as_u64().unwrap(),
        Value::String(s) => s.parse::<U256>().unwrap().to::<u64>(),
        other => panic!("deadline {other}"),
    };
    let signature =
        Bytes::from(stack.doctor.wallet.sign_hash_sync(&hash).unwrap().as_bytes().to_vec());
    let commit = json!({"deadline": deadline, "signature": signature}).to_string();
    let (status, committed) = http
        .json(
            Method::POST,
            &format!("/v1/uploads/{id}/commit"),
            &stack.doctor,
            &[("content-type", "application/json")],
            Body::from(commit.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{committed}");
    let record_id = committed["record_id"].as_str().unwrap().to_owned();
    // Committing again returns the same record.
    let (_, again) = http
        .json(
            Method::POST,
            &format!("/v1/uploads/{id}/commit"),
            &stack.doctor,
            &[("content-type", "application/json")],
            Body::from(commit),
        )
        .await;
    assert_eq!(again["record_id"], committed["record_id"]);

    // The patient reads it back byte-exact.
    let (status, keys) = http
        .json(
            Method::GET,
            &format!("/v1/records/{record_id}/keys"),
            &stack.patient,
            &[],
            Body::empty(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{keys}");
    let sealed: Bytes = serde_json::from_value(keys["record_envelopes"][0].clone()).unwrap();
    let opened = medvault_core::envelope::open(stack.patient.key.secret(), &sealed).unwrap();
    let key = DataKey::from_bytes(opened.as_slice().try_into().unwrap());
    let sha256: B256 = serde_json::from_value(keys["sha256"].clone()).unwrap();
    let (_, opened) = http.open_record(&record_id, &stack.patient, &key, &sha256).await;
    assert_eq!(opened, plaintext);

    // Every object endpoint refuses those the chain refuses.
    for path in [format!("/v1/records/{record_id}/keys"), format!("/v1/records/{record_id}")] {
        let (status, _) = http.send(Method::GET, &path, &stack.stranger, &[], Body::empty()).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
    }
    for path in ["/v1/records/999/keys", "/v1/records/999"] {
        let (status, _) = http.send(Method::GET, path, &stack.doctor, &[], Body::empty()).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    let (status, _) = http
        .send(
            Method::POST,
            &format!("/v1/uploads/{id}/commit"),
            &stack.stranger,
            &[("content-type", "application/json")],
            Body::from(json!({"deadline": deadline, "signature": "0x00"}).to_string()),
        )
        .await;
    assert!(status == StatusCode::OK || status.is_client_error());
    let (status, _) = http
        .send(
            Method::POST,
            "/v1/uploads/nope/commit",
            &stack.doctor,
            &[("content-type", "application/json")],
            Body::from(json!({"deadline": 1, "signature": "0x00"}).to_string()),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // A client-mode body that is not a record is a 400.
    let client = format!("/v1/records?patient={}&category={LABS}", stack.patient.address());
    let (status, _) =
        http.send(Method::POST, &client, &stack.patient, &[], Body::from("plain text")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Over the upload limit: 413, and nothing new pinned.
    let pins = stack.ipfs.pins().await.unwrap();
    let (status, _) =
        http.send(Method::POST, &path, &stack.doctor, &[], Body::from(vec![0u8; 3 << 20])).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(stack.ipfs.pins().await.unwrap(), pins);

    // The patient's accounting holds the one download.
    let (status, accounting) =
        http.json(Method::GET, "/v1/access-log", &stack.patient, &[], Body::empty()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(accounting["entries"].as_array().unwrap().len(), 1);
    let accounting: medvault_gateway::access_log::Accounting =
        serde_json::from_value(accounting).unwrap();
    assert!(accounting.verify().is_ok());
}

/// A client-side record followed by its CID and its author's `AddRecord`
/// signature is stored and committed in one request; a signature of
/// anything else leaves it pending, to commit as usual; a body too short
/// for the trailer is refused with nothing pinned.
#[tokio::test]
async fn a_signed_upload_is_committed_in_the_same_request() {
    let stack = Stack::new().await;
    let http = Http::new(&stack).await;
    let deadline = stack.now().await + 3_600;
    let path = format!(
        "/v1/records?patient={}&category={LABS}&deadline={deadline}&signed=true",
        stack.patient.address()
    );
    let key = DataKey::generate();
    let seal = async |plaintext: &[u8]| {
        let mut sealed = Vec::new();
        let header = record::Header::random(record::DEFAULT_SEGMENT_SIZE).unwrap();
        let hash = record::encrypt(&key, &header, plaintext, &mut sealed).await.unwrap().sha256;
        let mut cid = FileCid::new();
        cid.update(&sealed);
        (sealed, B256::from(hash), cid.finish())
    };
    // What the doctor signs for a record of `cid` and `hash`.
    let signed = async |cid: &[u8], hash: B256| {
        let nonce = stack.uploader.nonce(stack.doctor.address()).await.unwrap();
        let action = sig::AddRecord {
            record: IMedVault::RecordInput {
                patient: stack.patient.address(),
                category: LABS,
                cid: Bytes::copy_from_slice(cid),
                ciphertextHash: hash,
                wrappedKey: Bytes::new(),
                epoch: 0,
                amends: U256::ZERO,
            },
            envelopes: Vec::new(),
        };
        let digest =
            action.signing_hash(&stack.uploader.domain, stack.doctor.address(), nonce, deadline);
        let signature = stack.doctor.wallet.sign_hash_sync(&digest).unwrap().as_bytes();
        [cid, &signature[..]].concat()
    };

    let plaintext: Vec<u8> = (0..(1 << 20) + 5).map(|i: usize| (i * 11) as u8).collect();
    let (record, hash, cid) = seal(&plaintext).await;
    let body = [record.clone(), signed(&cid, hash).await].concat();
    let (status, answer) =
        http.json(Method::POST, &path, &stack.doctor, &[], Body::from(body)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let record_id = answer["committed"]["record_id"].as_str().expect("committed").to_owned();
    let id: U256 = record_id.parse().unwrap();
    let on_chain = stack.vault.verifyRecord(id, cid.clone().into(), hash).call().await.unwrap();
    assert!(on_chain, "the chain has the CID and hash signed");
    let (ciphertext, opened) = http.open_record(&record_id, &stack.patient, &key, &hash).await;
    assert_eq!((ciphertext, opened), (record, plaintext));

    // Signed for another CID than Kubo's (simulated from the body's end, but
    // not sent): stored and pending, committed by a second request with a
    // signature of what the gateway asks.
    let (record, hash, _) = seal(b"a second record").await;
    let body = [record, signed(&[1; 36], hash).await].concat();
    let (status, answer) =
        http.json(Method::POST, &path, &stack.doctor, &[], Body::from(body)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert!(answer.get("committed").is_none(), "{answer}");
    let asked: B256 = serde_json::from_value(answer["signing_hash"].clone()).unwrap();
    let signature = Bytes::from(stack.doctor.wallet.sign_hash_sync(&asked).unwrap().as_bytes());
    let (status, committed) = http
        .json(
            Method::POST,
            &format!("/v1/uploads/{}/commit", answer["upload"]["id"].as_str().unwrap()),
            &stack.doctor,
            &[("content-type", "application/json")],
            Body::from(json!({"deadline": deadline, "signature": signature}).to_string()),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{committed}");
    assert_ne!(committed["record_id"].as_str().unwrap(), record_id);

    // A record whose signature is cut short, and a signed plaintext: 400,
    // and nothing new pinned.
    let pins = stack.ipfs.pins().await.unwrap();
    let (record, _, _) = seal(b"").await;
    let short = [record, vec![0; 20]].concat();
    let (status, _) = http.send(Method::POST, &path, &stack.doctor, &[], Body::from(short)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let server = format!("{path}&mode=server");
    let (status, _) = http.send(Method::POST, &server, &stack.doctor, &[], Body::from("x")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(stack.ipfs.pins().await.unwrap(), pins);
}
