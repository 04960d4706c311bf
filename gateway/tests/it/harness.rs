//! A gateway over a fresh Anvil with MedVault deployed and the gateway's
//! account enabled as a relayer; requests go through the router with
//! `oneshot`, no socket.

use std::{net::SocketAddr, sync::LazyLock};

use alloy::{
    network::{EthereumWallet, TransactionBuilder},
    node_bindings::AnvilInstance,
    primitives::{Address, Bytes, keccak256},
    providers::{DynProvider, Provider, ProviderBuilder},
    rpc::types::TransactionRequest,
    signers::{Signer, local::PrivateKeySigner},
    sol_types::{Eip712Domain, SolValue},
};
use axum::{
    Router,
    body::Body,
    extract::connect_info::MockConnectInfo,
    http::{HeaderMap, Method, Request, StatusCode, header},
};
use http_body_util::BodyExt;
use medvault_core::{
    bindings::{forwarder::MedVaultForwarder, vault::MedVault},
    sig::{self, Action},
};
use medvault_deploy::{Compiled, ContractsCompiler, deploy};
use medvault_gateway::{
    AppState,
    config::Limits,
    router,
    session::SessionKeys,
    state::{Chain, Settings},
    store,
};
use medvault_tests::{Toolchain, spawn_anvil, toolchain::contracts_dir};
use serde_json::{Value, json};
use tower::ServiceExt;

pub(crate) const DOMAIN: &str = "localhost:8080";

/// The contracts, compiled once for every test of this binary.
static CONTRACTS: LazyLock<Compiled> = LazyLock::new(|| {
    ContractsCompiler::new(contracts_dir(), Toolchain::locate().solc().unwrap()).compile().unwrap()
});

/// A key with no ETH, the same in every run.
pub(crate) fn key(name: &str) -> PrivateKeySigner {
    PrivateKeySigner::from_bytes(&keccak256(name)).unwrap()
}

/// The compressed public key of `signer`, as an encryption key.
pub(crate) fn encryption_key(signer: &PrivateKeySigner) -> Bytes {
    let xy = signer.public_key();
    [&[2 + (xy[63] & 1)], &xy[..32]].concat().into()
}

pub(crate) struct Gateway {
    pub(crate) router: Router,
    pub(crate) state: AppState,
    /// Anvil's first account: governance, and a funded sender for set-up.
    pub(crate) provider: DynProvider,
    pub(crate) relayer: Address,
    pub(crate) forwarder: MedVaultForwarder::MedVaultForwarderInstance<DynProvider>,
    pub(crate) domain: Eip712Domain,
    pub(crate) anvil: AnvilInstance,
    pub(crate) _dir: tempfile::TempDir,
}

impl Gateway {
    pub(crate) async fn start() -> Self {
        // Tests sign in more often than a person would.
        Self::with_limits(Limits { sign_in_burst: 1_000.0, ..Limits::default() }).await
    }

    pub(crate) async fn with_limits(limits: Limits) -> Self {
        Self::with(limits, "http://127.0.0.1:1".parse().unwrap()).await
    }

    /// A gateway with `limits` whose Kubo is at `ipfs_url`.
    pub(crate) async fn with(
        limits: Limits,
        ipfs_url: alloy::transports::http::reqwest::Url,
    ) -> Self {
        let compiled = tokio::task::spawn_blocking(|| &*CONTRACTS).await.unwrap();
        let anvil = spawn_anvil(&Toolchain::locate()).unwrap();
        let governance = PrivateKeySigner::from(anvil.keys()[0].clone());
        let relayer = PrivateKeySigner::from(anvil.keys()[1].clone());
        let (governance_address, relayer_address) = (governance.address(), relayer.address());
        let provider = ProviderBuilder::new()
            .wallet(EthereumWallet::from(governance))
            .connect_http(anvil.endpoint_url())
            .erased();
        let vault = deploy(
            &provider,
            compiled.contract("MedVault").unwrap(),
            &governance_address.abi_encode(),
        )
        .await
        .unwrap();
        MedVault::new(vault, &provider)
            .setRelayer(relayer_address, true)
            .send()
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap();

        let dir = tempfile::tempdir().unwrap();
        let chain = Chain::connect(
            anvil.endpoint_url(),
            Some(anvil.chain_id()),
            Some(vault),
            None,
            dir.path(),
        )
        .await
        .unwrap();
        let forwarder = MedVaultForwarder::new(*chain.forwarder.address(), provider.clone());
        let domain = sig::domain(anvil.chain_id(), *forwarder.address());
        let db = store::open(&dir.path().join("gateway.sqlite")).await.unwrap();
        let state = AppState::new(
            chain,
            EthereumWallet::from(relayer),
            db,
            SessionKeys::new(&[1; 32], limits.session_ttl()),
            // By default nothing listens on port 1: Kubo is down.
            ipfs_url.clone(),
            medvault_gateway::ipfs::Ipfs::new(ipfs_url.as_str()).unwrap(),
            Settings { domain: DOMAIN.into(), limits },
        );
        let router =
            router(state.clone()).layer(MockConnectInfo(SocketAddr::from(([127, 0, 0, 1], 4000))));
        Self {
            router,
            state,
            provider,
            relayer: relayer_address,
            forwarder,
            domain,
            anvil,
            _dir: dir,
        }
    }

    /// Sends a request; returns the status, the headers and the JSON body
    /// (or the text as a JSON string).
    pub(crate) async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> (StatusCode, HeaderMap, Value) {
        let mut builder = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let request = match body {
            Some(body) => builder
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string()))
                .unwrap(),
            None => builder.body(Body::empty()).unwrap(),
        };
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let json = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        (status, headers, json)
    }

    pub(crate) async fn post(
        &self,
        path: &str,
        token: Option<&str>,
        body: Value,
    ) -> (StatusCode, Value) {
        let (status, _, json) = self.request(Method::POST, path, token, &[], Some(body)).await;
        (status, json)
    }

    /// A fresh nonce from the gateway.
    pub(crate) async fn nonce(&self) -> String {
        let (status, json) = self.post("/v1/auth/nonce", None, json!({})).await;
        assert_eq!(status, StatusCode::OK, "{json}");
        json["nonce"].as_str().unwrap().to_owned()
    }

    /// An EIP-4361 message for `address`, issued now, valid ten minutes.
    pub(crate) async fn message(&self, address: Address, nonce: &str) -> String {
        let now = jiff::Timestamp::now();
        let expiry = now + jiff::SignedDuration::from_secs(600);
        format!(
            "{DOMAIN} wants you to sign in with your Ethereum account:\n{}\n\nSign in to the \
             MedVault gateway.\n\nURI: http://{DOMAIN}/v1/auth/verify\nVersion: 1\nChain ID: \
             {}\nNonce: {nonce}\nIssued At: {}\nExpiration Time: {}",
            address.to_checksum(None),
            self.anvil.chain_id(),
            now.round(jiff::Unit::Second).unwrap(),
            expiry.round(jiff::Unit::Second).unwrap(),
        )
    }

    /// Posts a signed message; returns the status and body.
    pub(crate) async fn verify(&self, message: &str, signature: &[u8]) -> (StatusCode, Value) {
        self.post(
            "/v1/auth/verify",
            None,
            json!({"message": message, "signature": Bytes::copy_from_slice(signature)}),
        )
        .await
    }

    /// Signs `signer` in; returns the session token.
    pub(crate) async fn sign_in(&self, signer: &PrivateKeySigner) -> String {
        let nonce = self.nonce().await;
        let message = self.message(signer.address(), &nonce).await;
        let signature = signer.sign_message(message.as_bytes()).await.unwrap();
        let (status, json) = self.verify(&message, &signature.as_bytes()).await;
        assert_eq!(status, StatusCode::OK, "{json}");
        json["token"].as_str().unwrap().to_owned()
    }

    pub(crate) async fn now(&self) -> u64 {
        let block = self.provider.get_block_by_number(Default::default()).await.unwrap().unwrap();
        block.header.timestamp
    }

    /// `action` signed by `signer` for their next nonce, as calldata.
    pub(crate) async fn signed<A: Action + Send>(
        &self,
        action: A,
        signer: &PrivateKeySigner,
    ) -> Bytes {
        let nonce = self.forwarder.nonces(signer.address()).call().await.unwrap();
        let deadline = self.now().await + 3_600;
        let call = action.sign(signer, &self.domain, nonce, deadline).await.unwrap();
        alloy::sol_types::SolCall::abi_encode(&call).into()
    }

    /// A patient registration signed by `patient`, as calldata.
    pub(crate) async fn register(&self, patient: &PrivateKeySigner) -> Bytes {
        self.signed(sig::Register { encryption_key: encryption_key(patient) }, patient).await
    }

    /// Transactions sent by the relayer so far.
    pub(crate) async fn relayer_nonce(&self) -> u64 {
        self.provider.get_transaction_count(self.relayer).await.unwrap()
    }

    /// Deploys a contract wallet owned by `owner` that accepts its owner's
    /// signatures through ERC-1271; compiled here with the project's solc.
    pub(crate) async fn contract_wallet(&self, owner: Address) -> Address {
        let bytecode = tokio::task::spawn_blocking(compile_wallet).await.unwrap();
        let code: Vec<u8> = [bytecode, owner.abi_encode()].concat();
        let tx = TransactionRequest::default().with_deploy_code(code);
        let receipt =
            self.provider.send_transaction(tx).await.unwrap().get_receipt().await.unwrap();
        assert!(receipt.status());
        receipt.contract_address.unwrap()
    }
}

const WALLET: &str = r#"
// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

contract OwnedWallet {
    address public immutable owner;

    constructor(address owner_) {
        owner = owner_;
    }

    function isValidSignature(bytes32 hash, bytes calldata signature) external view returns (bytes4) {
        if (signature.length != 65) return 0xffffffff;
        bytes32 r = bytes32(signature[0:32]);
        bytes32 s = bytes32(signature[32:64]);
        uint8 v = uint8(signature[64]);
        return ecrecover(hash, v, r, s) == owner ? bytes4(0x1626ba7e) : bytes4(0xffffffff);
    }
}
"#;

fn compile_wallet() -> Vec<u8> {
    use std::io::Write as _;
    let input = json!({
        "language": "Solidity",
        "sources": {"Wallet.sol": {"content": WALLET}},
        "settings": {"outputSelection": {"*": {"*": ["evm.bytecode.object"]}}}
    });
    let mut child = std::process::Command::new(Toolchain::locate().solc().unwrap())
        .arg("--standard-json")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.to_string().as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    let output: Value = serde_json::from_slice(&output.stdout).unwrap();
    let object = output["contracts"]["Wallet.sol"]["OwnedWallet"]["evm"]["bytecode"]["object"]
        .as_str()
        .unwrap_or_else(|| panic!("solc failed: {output}"));
    alloy::hex::decode(object).unwrap()
}
