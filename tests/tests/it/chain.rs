//! Contracts compile through the solc wrapper, deploy to Anvil, and answer.

use std::{fs, net::TcpStream, time::Duration};

use alloy::{
    contract::{ContractInstance, Interface},
    dyn_abi::DynSolValue,
    primitives::U256,
    providers::ProviderBuilder,
    signers::local::PrivateKeySigner,
    sol_types::SolValue,
};
use medvault_deploy::{CompileError, ContractsCompiler, deploy};
use medvault_tests::{Toolchain, spawn_anvil, toolchain::contracts_dir};

/// A Foundry-shaped project in a temporary folder, with one source in `src/`.
fn project_with(file: &str, source: &str) -> tempfile::TempDir {
    let project = tempfile::tempdir().unwrap();
    fs::create_dir(project.path().join("src")).unwrap();
    fs::write(project.path().join("src").join(file), source).unwrap();
    project
}

#[tokio::test]
async fn placeholder_compiles_with_the_wrapper_deploys_to_anvil_and_answers() {
    let tools = Toolchain::locate();
    let compiler = ContractsCompiler::new(contracts_dir(), tools.solc().unwrap());
    let compiled = tokio::task::spawn_blocking(move || compiler.compile()).await.unwrap().unwrap();
    assert!(compiled.compiler_version().starts_with("0.8.37"), "{}", compiled.compiler_version());
    let placeholder = compiled.contract("Placeholder").unwrap();
    assert!(!placeholder.bytecode.is_empty());

    let anvil = spawn_anvil(&tools).unwrap();
    assert!(anvil.endpoint().starts_with("http://127.0.0.1:"));
    let signer = PrivateKeySigner::from(anvil.first_key().clone());
    let provider = ProviderBuilder::new().wallet(signer).connect_http(anvil.endpoint_url());

    let address = deploy(&provider, placeholder, &U256::from(42).abi_encode()).await.unwrap();
    // Called through the ABI the compiler produced, not a hand-written one.
    let instance =
        ContractInstance::new(address, &provider, Interface::new(placeholder.abi.clone()));
    let answer = instance.function("value", &[]).unwrap().call().await.unwrap();
    assert_eq!(answer, vec![DynSolValue::Uint(U256::from(42), 256)]);
}

#[test]
fn a_source_with_an_error_is_reported_with_solc_diagnostics() {
    let tools = Toolchain::locate();
    let project = project_with(
        "Broken.sol",
        "// SPDX-License-Identifier: MIT\npragma solidity 0.8.37;\ncontract Broken { uint256 x = ; }\n",
    );

    let err = ContractsCompiler::new(project.path(), tools.solc().unwrap()).compile().unwrap_err();
    let CompileError::Failed { diagnostics } = &err else {
        panic!("expected a compile failure, got {err:?}")
    };
    assert!(diagnostics.contains("Broken.sol"), "{diagnostics}");
    assert!(diagnostics.contains("Error (6933): Expected primary expression"), "{diagnostics}");
    assert!(!diagnostics.contains('\u{1b}'), "colour codes in {diagnostics:?}");
}

#[test]
fn npm_libraries_resolve_through_the_remappings() {
    let tools = Toolchain::locate();
    let project = project_with(
        "UsesOz.sol",
        "// SPDX-License-Identifier: MIT\npragma solidity 0.8.37;\n\
         import {Strings} from \"@openzeppelin/contracts/utils/Strings.sol\";\n\
         contract UsesOz { function f() external pure returns (string memory) { return Strings.toString(7); } }\n",
    );
    // The same target contracts/remappings.txt names, made absolute.
    let oz = contracts_dir().join("lib/@openzeppelin/contracts");
    fs::write(
        project.path().join("remappings.txt"),
        format!("@openzeppelin/contracts/={}/\n", oz.display()),
    )
    .unwrap();

    let compiled = ContractsCompiler::new(project.path(), tools.solc().unwrap()).compile().unwrap();
    assert!(!compiled.contract("UsesOz").unwrap().bytecode.is_empty());
    assert!(compiled.names().any(|name| name == "UsesOz"));
}

#[test]
fn dropping_anvil_stops_it() {
    let anvil = spawn_anvil(&Toolchain::locate()).unwrap();
    let addr = ("127.0.0.1", anvil.port());
    assert!(TcpStream::connect(addr).is_ok());
    drop(anvil);
    assert!(
        TcpStream::connect_timeout(
            &format!("127.0.0.1:{}", addr.1).parse().unwrap(),
            Duration::from_secs(1)
        )
        .is_err()
    );
}
