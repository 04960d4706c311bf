//! The record format and the key derivation, checked against independent
//! implementations written from `docs/`: Node's AES-256-GCM, SHA-256, HKDF
//! and secp256k1, and foundry's `cast` signing the EIP-712 typed data as a
//! browser wallet is given it.

use std::process::Command;

use alloy::{
    primitives::{Address, address},
    signers::local::PrivateKeySigner,
};
use medvault_core::keys::EncryptionKeyMessage;

use crate::workspace_root;

/// Runs a command and returns its stdout, failing with a sentence if the
/// tool is missing.
fn run(command: &mut Command, tool: &str) -> String {
    let output = command.output().unwrap_or_else(|err| {
        panic!("cannot run {tool} ({err}); run `make bootstrap` to install the tools")
    });
    assert!(output.status.success(), "{tool} failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn record_vectors_open_in_an_independent_implementation() {
    let doc = workspace_root().join("docs/record-format.md");
    let script = workspace_root().join("core/tests/node/record-format.mjs");
    let out = run(Command::new("node").arg(script).arg(&doc), "node");
    let text = std::fs::read_to_string(doc).unwrap();
    let lines: Vec<serde_json::Value> =
        out.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(lines.len(), 5, "every vector was opened");
    for line in lines {
        let name = line["name"].as_str().unwrap();
        // The page lists, for each vector, the plaintext and fingerprint
        // that Node has just recomputed from the record alone.
        for field in ["plaintext", "sha256"] {
            let value = line[field].as_str().unwrap();
            assert!(
                text.contains(&format!("{field:<10} {value}\n")),
                "vector {name}: node's {field} {value} is not the documented one"
            );
        }
    }
}

#[tokio::test]
async fn derivation_matches_an_independent_implementation() {
    let cast = workspace_root().join(".tools/bin/cast");
    let contract = address!("0x5FbDB2315678afecb367f032d93F642f64180aa3");
    let keys = [
        "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
        "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
        "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    ];
    for (key, chain_id) in keys.into_iter().zip([31337u64, 11155111, 1]) {
        let signer: PrivateKeySigner = key.parse().unwrap();
        let message = EncryptionKeyMessage { chain_id, contract, account: signer.address() };
        let ours = message.derive(&signer).await.unwrap();

        // cast signs the JSON a browser wallet receives (eth_signTypedData_v4).
        let dir = tempfile::tempdir().unwrap();
        let typed = dir.path().join("typed.json");
        std::fs::write(&typed, serde_json::to_vec(&message.typed_data()).unwrap()).unwrap();
        let signature = run(
            Command::new(&cast)
                .args(["wallet", "sign", "--private-key", key, "--data", "--from-file"])
                .arg(&typed),
            "cast",
        );
        let theirs = run(
            Command::new("node")
                .arg(workspace_root().join("core/tests/node/derive-key.mjs"))
                .arg(signature.trim())
                .arg(chain_id.to_string())
                .arg(contract.to_string())
                .arg(Address::to_string(&signer.address())),
            "node",
        );
        assert_eq!(theirs.trim(), alloy::hex::encode(ours.public_key_bytes()), "chain {chain_id}");
    }
}
