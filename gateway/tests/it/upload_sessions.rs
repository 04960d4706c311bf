//! Upload sessions over HTTP (the router, no socket), on the data-path
//! stack: a record sent in uneven parts lands byte-exact and commits; wrong
//! offsets, other addresses and oversized parts are refused without
//! breaking the session; an idempotent retry finds the stored upload; an
//! abandoned or stopped session pins nothing; a body that is no record
//! fails as `POST /v1/records` fails it.

use std::time::Duration;

use alloy::{
    primitives::{B256, Bytes, U256},
    signers::SignerSync,
};
use axum::{
    body::Body,
    http::{Method, StatusCode},
};
use medvault_core::{
    keys::DataKey,
    record::{self, DEFAULT_SEGMENT_SIZE, Header},
};
use medvault_gateway::config::Limits;
use serde_json::{Value, json};

use crate::{
    http::Http,
    stack::{Actor, LABS, Stack},
};

/// The part limit of these tests.
const PART_LIMIT: u64 = 128 * 1024;

/// A fixed-pattern file of `len` bytes.
fn file(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 + 7) as u8).collect()
}

/// `plaintext` encrypted by the patient under a fresh data key, with the
/// query that uploads it (the key sealed to the patient).
async fn client_record(stack: &Stack, plaintext: &[u8]) -> (Vec<u8>, DataKey, String) {
    let key = DataKey::generate();
    let header = Header::random(DEFAULT_SEGMENT_SIZE).unwrap();
    let mut sealed = Vec::new();
    record::encrypt(&key, &header, plaintext, &mut sealed).await.unwrap();
    let envelope =
        Bytes::from(medvault_core::envelope::seal(&stack.patient.key.public_key(), key.as_bytes()));
    let envelopes = json!([[stack.patient.address(), envelope]]).to_string();
    let envelopes =
        envelopes.replace('[', "%5B").replace(']', "%5D").replace('"', "%22").replace(',', "%2C");
    let query =
        format!("patient={}&category={LABS}&envelopes={envelopes}", stack.patient.address());
    (sealed, key, query)
}

async fn open(http: &Http, actor: &Actor, query: &str, key: Option<&str>) -> (StatusCode, Value) {
    let headers: Vec<(&str, &str)> = key.map(|key| ("idempotency-key", key)).into_iter().collect();
    http.json(Method::POST, &format!("/v1/upload-sessions?{query}"), actor, &headers, Body::empty())
        .await
}

async fn put(
    http: &Http,
    actor: &Actor,
    id: &str,
    offset: usize,
    last: bool,
    part: &[u8],
) -> (StatusCode, Value) {
    let last = if last { "&last=true" } else { "" };
    http.json(
        Method::PUT,
        &format!("/v1/upload-sessions/{id}?offset={offset}{last}"),
        actor,
        &[],
        Body::from(part.to_vec()),
    )
    .await
}

/// The deadline of a `ToSign`'s typed data.
fn deadline(to_sign: &Value) -> u64 {
    match &to_sign["typed_data"]["message"]["deadline"] {
        Value::Number(n) => n.as_u64().unwrap(),
        Value::String(s) => s.parse::<U256>().unwrap().to::<u64>(),
        other => panic!("deadline {other}"),
    }
}

#[tokio::test]
async fn a_record_sent_in_uneven_parts_round_trips_and_commits_once() {
    let stack = Stack::new().await;
    let limits = Limits { upload_part_limit: PART_LIMIT, ..Limits::default() };
    let http = Http::with_limits(&stack, limits).await;
    let plaintext = file(300_000);
    let (sealed, key, query) = client_record(&stack, &plaintext).await;

    let (status, opened) = open(&http, &stack.patient, &query, Some("page-upload-1")).await;
    assert_eq!(status, StatusCode::OK, "{opened}");
    let id = opened["id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 32, "128 random bits");
    assert_eq!(opened["part_limit"], PART_LIMIT);

    // Uneven parts: shorter than the header, a single byte, a full part,
    // the rest; the last one empty.
    let mut cuts = vec![5, 1, PART_LIMIT as usize, 1, 70_000];
    cuts.push(sealed.len() - cuts.iter().sum::<usize>());
    let mut offset = 0;
    for (i, len) in cuts.iter().enumerate() {
        let part = &sealed[offset..offset + len];
        if i == 2 {
            // A wrong offset is refused and says where to go on.
            let (status, json) = put(&http, &stack.patient, &id, offset + 3, false, part).await;
            assert_eq!(status, StatusCode::CONFLICT, "{json}");
            assert_eq!(json["error"], "wrong_offset");
            assert_eq!(json["expected"], offset);
            // Another signed-in address may not send to it.
            let (status, _) = put(&http, &stack.doctor, &id, offset, false, part).await;
            assert_eq!(status, StatusCode::FORBIDDEN);
            // A part over the limit is refused before any of it is taken.
            let (status, _) =
                put(&http, &stack.patient, &id, offset, false, &vec![0; PART_LIMIT as usize + 1])
                    .await;
            assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        }
        let (status, json) = put(&http, &stack.patient, &id, offset, false, part).await;
        assert_eq!(status, StatusCode::OK, "part {i}: {json}");
        offset += len;
        assert_eq!(json["received"], offset);
    }
    let (status, _) = put(&http, &stack.patient, "0123456789abcdef", 0, false, b"x").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, to_sign) = put(&http, &stack.patient, &id, offset, true, b"").await;
    assert_eq!(status, StatusCode::OK, "{to_sign}");
    assert_eq!(to_sign["upload"]["size"], sealed.len());
    let upload_id = to_sign["upload"]["id"].as_str().unwrap().to_owned();
    let cid = to_sign["upload"]["cid"].as_str().unwrap().to_owned();
    let pins = stack.ipfs.pins().await.unwrap();
    assert!(pins.contains(&cid));

    // The last answer lost: asking again at the end gives it again.
    let (status, again) = put(&http, &stack.patient, &id, offset, true, b"").await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["upload"]["id"], upload_id.as_str());
    // A retry of the whole upload with its key sends nothing: the same
    // upload, and Kubo still holds one pin of it.
    let (status, retried) = open(&http, &stack.patient, &query, Some("page-upload-1")).await;
    assert_eq!(status, StatusCode::OK, "{retried}");
    assert_eq!(retried["done"]["upload"]["id"], upload_id.as_str());
    assert_eq!(stack.ipfs.pins().await.unwrap(), pins);
    // Not for another address.
    let (status, _) = open(&http, &stack.doctor, &query, Some("page-upload-1")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Signed and committed like any upload; the ciphertext comes back
    // byte-exact and opens.
    let hash: B256 = serde_json::from_value(to_sign["signing_hash"].clone()).unwrap();
    let signature =
        Bytes::from(stack.patient.wallet.sign_hash_sync(&hash).unwrap().as_bytes().to_vec());
    let commit = json!({"deadline": deadline(&to_sign), "signature": signature}).to_string();
    let (status, committed) = http
        .json(
            Method::POST,
            &format!("/v1/uploads/{upload_id}/commit"),
            &stack.patient,
            &[("content-type", "application/json")],
            Body::from(commit),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{committed}");
    let record_id = committed["record_id"].as_str().unwrap().to_owned();
    let sha256: B256 = serde_json::from_value(to_sign["upload"]["sha256"].clone()).unwrap();
    let (ciphertext, opened) = http.open_record(&record_id, &stack.patient, &key, &sha256).await;
    assert_eq!(ciphertext, sealed);
    assert_eq!(opened, plaintext);
}

#[tokio::test]
async fn abandoned_stopped_and_refused_sessions_pin_nothing() {
    let stack = Stack::new().await;
    let limits = Limits {
        upload_part_limit: PART_LIMIT,
        upload_idle_secs: 1,
        upload_sessions: 2,
        ..Limits::default()
    };
    let http = Http::with_limits(&stack, limits).await;
    // Kubo pins the empty folder of a fresh repository.
    let baseline = stack.ipfs.pins().await.unwrap();
    let (sealed, _, query) = client_record(&stack, &file(50_000)).await;

    // Two sessions per address; each gets the whole record but never its
    // last part, so that a session closed as if whole would pin it.
    let mut ids = Vec::new();
    for _ in 0..2 {
        let (status, opened) = open(&http, &stack.patient, &query, None).await;
        assert_eq!(status, StatusCode::OK, "{opened}");
        let id = opened["id"].as_str().unwrap().to_owned();
        let (status, json) = put(&http, &stack.patient, &id, 0, false, &sealed).await;
        assert_eq!(status, StatusCode::OK, "{json}");
        ids.push(id);
    }
    let (status, json) = open(&http, &stack.patient, &query, None).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{json}");
    // Another address has its own.
    let (status, _) = open(&http, &stack.doctor, &query, None).await;
    assert_eq!(status, StatusCode::OK);

    // Idle past the limit: abandoned, their adds aborted.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert!(http.state.uploads.is_empty());
    for id in &ids {
        let (status, _) = put(&http, &stack.patient, id, sealed.len(), true, b"").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    assert_eq!(stack.ipfs.pins().await.unwrap(), baseline);

    // A session open when the gateway stops ends the same way.
    let (status, opened) = open(&http, &stack.patient, &query, None).await;
    assert_eq!(status, StatusCode::OK, "{opened}");
    let id = opened["id"].as_str().unwrap().to_owned();
    let (status, _) = put(&http, &stack.patient, &id, 0, false, &sealed).await;
    assert_eq!(status, StatusCode::OK);
    http.state.uploads.close_all().await;
    assert!(http.state.uploads.is_empty());
    assert_eq!(stack.ipfs.pins().await.unwrap(), baseline);

    // A body that is no record fails the session with the answer of
    // POST /v1/records.
    let (status, opened) = open(&http, &stack.patient, &query, None).await;
    assert_eq!(status, StatusCode::OK, "{opened}");
    let id = opened["id"].as_str().unwrap().to_owned();
    let text = b"plain text, and no medvault record header";
    let (status, refused) = put(&http, &stack.patient, &id, 0, true, text).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    let (status, direct) = http
        .json(
            Method::POST,
            &format!("/v1/records?{query}"),
            &stack.patient,
            &[],
            Body::from(text.to_vec()),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(refused, direct);
    let (status, _) = put(&http, &stack.patient, &id, 0, true, b"").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a failed session is gone");
    // Server-side encryption does not go through sessions.
    let (status, _) = open(&http, &stack.patient, &format!("{query}&mode=server"), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(stack.ipfs.pins().await.unwrap(), baseline);
}
