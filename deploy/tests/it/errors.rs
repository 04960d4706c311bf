//! Each way a run can stop names its cause in a sentence.

use std::{error::Error as _, net::TcpListener};

use alloy::{primitives::B256, signers::local::PrivateKeySigner};
use medvault_deploy::{CompileError, ContractsCompiler, Deployer, DeployerError, RoleRequest};
use medvault_tests::Toolchain;

use crate::common::{Chain, contracts_copy};

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn chain_of(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[tokio::test]
async fn an_unreachable_endpoint_is_named() {
    let port = closed_port();
    for scheme in ["http", "https"] {
        let url = format!("{scheme}://127.0.0.1:{port}");
        let err = Deployer::connect(&url, PrivateKeySigner::random(), None).await.unwrap_err();
        assert!(matches!(err, DeployerError::Unreachable { .. }), "{err:?}");
        assert_eq!(err.to_string(), format!("cannot reach the JSON-RPC endpoint at {url}"));
        // https reaches the socket too: TLS is built in.
        let chain = chain_of(&err);
        assert!(!chain.contains("scheme"), "{chain}");
        assert!(err.source().is_some());
    }
}

#[tokio::test]
async fn a_malformed_url_is_refused_before_any_request() {
    for url in ["localhost:8545", "ws://127.0.0.1:8545", "http://"] {
        let err = Deployer::connect(url, PrivateKeySigner::random(), None).await.unwrap_err();
        assert!(matches!(err, DeployerError::InvalidUrl { .. }), "{url}: {err:?}");
        assert!(err.to_string().starts_with("the RPC URL is not a valid http or https URL: "));
    }
}

#[tokio::test]
async fn a_wrong_chain_id_names_both() {
    let chain = Chain::start();
    let endpoint = chain.anvil.endpoint();
    let err = Deployer::connect(&endpoint, chain.signer(0), Some(11155111)).await.unwrap_err();
    assert!(
        matches!(err, DeployerError::WrongChain { expected: 11155111, actual: 31337, .. }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!("the node at {endpoint} is on chain 31337, not the expected chain 11155111")
    );
}

#[tokio::test]
async fn an_unfunded_key_stops_the_run_before_any_transaction() {
    let chain = Chain::start();
    let signer = PrivateKeySigner::from_bytes(&B256::repeat_byte(0x42)).unwrap();
    let account = signer.address();
    let deployer = Deployer::connect(&chain.anvil.endpoint(), signer, None).await.unwrap();
    let roles = RoleRequest { relayers: vec![chain.account(1)], ..Default::default() };

    let err = chain.run(&deployer, &roles).await.unwrap_err();
    let DeployerError::InsufficientFunds { account: named, ref balance, gas, .. } = err else {
        panic!("expected too little ETH, got {err:?}")
    };
    assert_eq!(named, account);
    assert_eq!(balance, "0");
    // The creation estimate and one role call.
    assert!(gas > 1_000_000 + medvault_deploy::deployer::ROLE_CALL_GAS, "{gas}");
    let said = err.to_string();
    assert!(
        said.starts_with(&format!("the deployer {account} holds 0 ETH, but this run needs up to ")),
        "{said}"
    );
    assert!(said.ends_with(" gwei); fund it and run again"), "{said}");
    assert_eq!(chain.nonce(account).await, 0);
    assert!(!chain.manifest_path().exists());
}

#[test]
fn a_compile_error_carries_solcs_diagnostics() {
    let broken =
        contracts_copy(|source| source.replacen("contract MedVault", "contract MedVault {", 1));
    let solc = Toolchain::locate().solc().unwrap();
    let err = ContractsCompiler::new(broken.path(), solc).compile().unwrap_err();
    let CompileError::Failed { diagnostics } = &err else { panic!("{err:?}") };
    assert!(diagnostics.contains("MedVault.sol"), "{diagnostics}");
    assert!(diagnostics.contains("Error"), "{diagnostics}");
    assert!(err.to_string().starts_with("the contracts do not compile:\n"));
}
