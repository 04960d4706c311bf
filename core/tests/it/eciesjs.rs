//! Envelopes against eciesjs, the npm package a browser opens them with:
//! Rust seals and eciesjs opens, eciesjs seals and Rust opens, and eciesjs's
//! own key derivation and cipher rebuild the pinned vector byte for byte.
//!
//! `core/tests/eciesjs/envelopes.mjs` runs under `node` with the eciesjs
//! that `make bootstrap` installs into `.tools/npm`. Without either the
//! tests fail, saying so: a missing tool must not pass for compatibility.

use std::{
    io::{ErrorKind, Write},
    process::{Command, Stdio},
};

use k256::{SecretKey, elliptic_curve::sec1::ToEncodedPoint};
use medvault_core::envelope::{self, EPHEMERAL_KEY_LEN, OVERHEAD};
use rand_chacha::{
    ChaCha20Rng,
    rand_core::{RngCore, SeedableRng},
};
use serde_json::{Value, json};

/// Envelopes each way.
const ENVELOPES: usize = 100;
/// Recipients the envelopes are spread over.
const RECIPIENTS: usize = 5;
/// The longest plaintext; lengths run evenly from 0 to it.
const MAX_LEN: usize = 300;

const VECTOR: &str = include_str!("../vectors/envelope.json");

/// Runs the eciesjs script on `request` and returns its answer, after
/// checking that the installed eciesjs is the pinned one with its defaults.
fn eciesjs(request: &Value) -> Value {
    let root = crate::workspace_root();
    let installed = root.join(".tools/npm/node_modules/eciesjs/package.json");
    assert!(
        installed.exists(),
        "eciesjs is not installed at {}: run `make bootstrap` to install the tools the tests need",
        installed.parent().unwrap().display()
    );

    let script = root.join("core/tests/eciesjs/envelopes.mjs");
    let mut child = match Command::new("node")
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(err) if err.kind() == ErrorKind::NotFound => panic!(
            "node is not on PATH: install Node.js 20 or later and run `make bootstrap` \
             to run the eciesjs compatibility tests"
        ),
        Err(err) => panic!("could not start node: {err}"),
    };
    child.stdin.take().unwrap().write_all(request.to_string().as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{} failed ({}): {}",
        script.display(),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let answer: Value = serde_json::from_slice(&output.stdout).unwrap();

    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("tools/npm/package.json")).unwrap(),
    )
    .unwrap();
    let pinned = &manifest["dependencies"]["eciesjs"];
    assert_eq!(
        &answer["version"], pinned,
        ".tools/npm holds another eciesjs than tools/npm/package.json pins: run `make bootstrap`"
    );
    // The defaults this format is; a release that changes one changes the format.
    assert_eq!(
        answer["config"],
        json!({
            "ellipticCurve": "secp256k1",
            "isEphemeralKeyCompressed": false,
            "isHkdfKeyCompressed": false,
            "symmetricAlgorithm": "aes-256-gcm",
            "symmetricNonceLength": 16,
        })
    );
    answer
}

fn recipients() -> Vec<SecretKey> {
    let mut rng = ChaCha20Rng::seed_from_u64(0x0ec1e5);
    (0..RECIPIENTS).map(|_| SecretKey::random(&mut rng)).collect()
}

/// Plaintexts of lengths spread evenly over `0..=MAX_LEN`.
fn plaintexts(seed: u64) -> Vec<Vec<u8>> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    (0..ENVELOPES)
        .map(|i| {
            let mut plaintext = vec![0; i * MAX_LEN / (ENVELOPES - 1)];
            rng.fill_bytes(&mut plaintext);
            plaintext
        })
        .collect()
}

fn unhex(value: &Value) -> Vec<u8> {
    hex::decode(value.as_str().unwrap()).unwrap()
}

#[test]
fn envelopes_sealed_by_rust_open_in_eciesjs() {
    let recipients = recipients();
    let plaintexts = plaintexts(1);
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let mut requests = Vec::new();
    for (i, plaintext) in plaintexts.iter().enumerate() {
        let secret = &recipients[i % RECIPIENTS];
        let sealed = envelope::seal_with_rng(&secret.public_key(), plaintext, &mut rng);
        requests.push(json!({
            "secret": hex::encode(secret.to_bytes()),
            "sealed": hex::encode(sealed),
        }));
    }
    let vector: Value = serde_json::from_str(VECTOR).unwrap();
    requests.push(json!({ "secret": vector["recipient_secret"], "sealed": vector["sealed"] }));

    let answer = eciesjs(&json!({ "open": requests }));
    let opened = answer["opened"].as_array().unwrap();
    assert_eq!(opened.len(), ENVELOPES + 1);
    for (i, plaintext) in plaintexts.iter().enumerate() {
        assert_eq!(
            opened[i]["plaintext"].as_str(),
            Some(hex::encode(plaintext).as_str()),
            "envelope {i} ({} bytes): {}",
            plaintext.len(),
            opened[i]
        );
    }
    assert_eq!(opened[ENVELOPES]["plaintext"], vector["plaintext"], "the pinned vector");
}

#[test]
fn envelopes_sealed_by_eciesjs_open_in_rust() {
    let recipients = recipients();
    let plaintexts = plaintexts(3);
    // Recipients as registered on chain: 33-byte compressed keys.
    let requests: Vec<Value> = plaintexts
        .iter()
        .enumerate()
        .map(|(i, plaintext)| {
            let public = recipients[i % RECIPIENTS].public_key().to_encoded_point(true);
            json!({ "recipient": hex::encode(public), "plaintext": hex::encode(plaintext) })
        })
        .collect();

    let answer = eciesjs(&json!({ "seal": requests }));
    let sealed: Vec<Vec<u8>> = answer["sealed"].as_array().unwrap().iter().map(unhex).collect();
    assert_eq!(sealed.len(), ENVELOPES);
    for (i, (sealed, plaintext)) in sealed.iter().zip(&plaintexts).enumerate() {
        assert_eq!(sealed.len(), OVERHEAD + plaintext.len(), "envelope {i}");
        assert_eq!(sealed[0], 0x04, "envelope {i}: ephemeral key not uncompressed");
        let opened = envelope::open(&recipients[i % RECIPIENTS], sealed)
            .unwrap_or_else(|err| panic!("envelope {i} ({} bytes): {err}", plaintext.len()));
        assert_eq!(*opened, *plaintext, "envelope {i}");
        // Sealed to one recipient, it is closed to the next.
        assert!(envelope::open(&recipients[(i + 1) % RECIPIENTS], sealed).is_err());
    }
    let mut ephemeral: Vec<&[u8]> = sealed.iter().map(|s| &s[..EPHEMERAL_KEY_LEN]).collect();
    ephemeral.sort();
    ephemeral.dedup();
    assert_eq!(ephemeral.len(), ENVELOPES, "eciesjs reused an ephemeral key");
}

#[test]
fn eciesjs_rebuilds_the_pinned_vector() {
    let vector: Value = serde_json::from_str(VECTOR).unwrap();
    let rebuild = json!({
        "recipient_public": vector["recipient_public"],
        "ephemeral_secret": vector["ephemeral_secret"],
        "nonce": vector["nonce"],
        "plaintext": vector["plaintext"],
    });
    let answer = eciesjs(&json!({ "rebuild": rebuild }));
    assert_eq!(answer["rebuilt"], vector["sealed"]);
}
