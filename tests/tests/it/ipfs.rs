//! A real Kubo, isolated: bytes round-trip byte-exact under the CID that
//! Kubo's own CLI computes, and nothing listens or dials beyond loopback.

use std::{
    io::{Cursor, Write},
    net::TcpStream,
    process::Stdio,
};

use futures_util::TryStreamExt;
use ipfs_api_backend_hyper::{IpfsApi, request::Add};
use medvault_tests::{KuboNode, Toolchain};
use serde_json::Value;

/// Deterministic bytes (xorshift64), so a failure can be reproduced.
fn fixed_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.max(1);
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// The add options MedVault uses everywhere: CIDv1, raw leaves, pinned.
fn add_options() -> Add<'static> {
    Add { cid_version: Some(1), raw_leaves: Some(true), pin: Some(true), ..Default::default() }
}

async fn cat(kubo: &KuboNode, cid: &str) -> Vec<u8> {
    kubo.client().cat(cid).map_ok(|chunk| chunk.to_vec()).try_concat().await.unwrap()
}

/// What `ipfs add --only-hash --cid-version 1 -Q` prints for `data`.
fn cli_only_hash(kubo: &KuboNode, data: &[u8]) -> String {
    let mut child = kubo
        .command()
        .args(["add", "--only-hash", "--cid-version", "1", "-Q"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(data).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

#[tokio::test]
async fn added_bytes_come_back_byte_exact() {
    let kubo = KuboNode::spawn(&Toolchain::locate()).await.unwrap();
    // Several 256 KiB chunks and a ragged tail.
    let data = fixed_bytes(3 * 1024 * 1024 + 17, 7);
    let added =
        kubo.client().add_with_options(Cursor::new(data.clone()), add_options()).await.unwrap();
    assert!(added.hash.starts_with("bafy"), "a CIDv1 dag-pb root, got {}", added.hash);
    // The reported size counts the DAG's node overhead on top of the data.
    assert!(added.size.parse::<usize>().unwrap() >= data.len(), "size {}", added.size);

    let back = cat(&kubo, &added.hash).await;
    assert_eq!(back.len(), data.len());
    assert!(back == data, "the bytes read back differ from those added");

    let pins = kubo.client().pin_ls(Some(&added.hash), None).await.unwrap();
    assert!(pins.keys.contains_key(&added.hash), "the record is pinned");
}

#[tokio::test]
async fn cids_equal_what_the_ipfs_cli_computes() {
    let kubo = KuboNode::spawn(&Toolchain::locate()).await.unwrap();
    // Empty, one byte, exactly one chunk, one chunk and a byte, several chunks.
    for (len, seed) in [(0, 1), (1, 2), (262_144, 3), (262_145, 4), (1_000_000, 5)] {
        let data = fixed_bytes(len, seed);
        let expected = cli_only_hash(&kubo, &data);
        let added =
            kubo.client().add_with_options(Cursor::new(data.clone()), add_options()).await.unwrap();
        assert_eq!(added.hash, expected, "CID of {len} bytes");
        assert_eq!(cat(&kubo, &added.hash).await, data, "bytes of {len} bytes");
    }
    // A fixed input has a fixed address: a raw-codec CIDv1 over the SHA-256
    // a185fbe2...0a61f277 of "MedVault\n", through the API as through the CLI.
    let fixed = "bafkreifbqx56eypzs4lmxopt3nhxwuigj2pmx6xkkxttdyajzkfquypso4";
    assert_eq!(cli_only_hash(&kubo, b"MedVault\n"), fixed);
    let added = kubo
        .client()
        .add_with_options(Cursor::new(b"MedVault\n".to_vec()), add_options())
        .await
        .unwrap();
    assert_eq!(added.hash, fixed);
}

#[tokio::test]
async fn kubo_is_offline_and_bound_to_loopback() {
    let kubo = KuboNode::spawn(&Toolchain::locate()).await.unwrap();
    assert!(kubo.api_addr().ip().is_loopback());
    assert!(kubo.gateway_url().starts_with("http://127.0.0.1:"));

    let config = kubo.command().args(["config", "show"]).output().unwrap();
    let config: Value = serde_json::from_slice(&config.stdout).unwrap();
    assert_eq!(config["Bootstrap"], serde_json::json!([]));
    assert_eq!(config["Discovery"]["MDNS"]["Enabled"], false);
    assert_eq!(config["Routing"]["Type"], "none");
    assert_eq!(config["AutoConf"]["Enabled"], false);
    assert_eq!(config["Plugins"]["Plugins"]["telemetry"]["Config"]["Mode"], "off");
    for addr in config["Addresses"]["Swarm"].as_array().unwrap() {
        assert!(addr.as_str().unwrap().starts_with("/ip4/127.0.0.1/"), "{addr}");
    }

    // Offline: the swarm does not listen, so there is no address to dial from
    // or be dialled at, and no peers.
    let identity = kubo.identity().await.unwrap();
    assert!(!identity.id.is_empty());
    assert!(identity.addresses.is_empty(), "{:?}", identity.addresses);
    assert!(kubo.client().swarm_peers().await.is_err(), "swarm commands need online mode");
}

#[tokio::test]
async fn nodes_run_side_by_side_and_stop_on_drop() {
    let tools = Toolchain::locate();
    let (a, b) = tokio::join!(KuboNode::spawn(&tools), KuboNode::spawn(&tools));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_ne!(a.api_addr(), b.api_addr());
    assert_ne!(a.repo_path(), b.repo_path());

    let added = a
        .client()
        .add_with_options(Cursor::new(b"only in a".to_vec()), add_options())
        .await
        .unwrap();
    assert_eq!(cat(&a, &added.hash).await, b"only in a");

    let (api, repo) = (a.api_addr(), a.repo_path().to_owned());
    drop(a);
    assert!(TcpStream::connect(api).is_err(), "the daemon still listens after drop");
    assert!(!repo.exists(), "the repository outlives the node");
    b.identity().await.unwrap();
}
