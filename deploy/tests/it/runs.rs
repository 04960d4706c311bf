//! First runs, second runs, role hand-over, restarted chains and changed
//! bytecode.

use std::fs;

use alloy::{primitives::Bytes, sol_types::SolValue};
use medvault_core::bindings::MedVault;
use medvault_deploy::{
    CompiledContract, DeployerError, Manifest, PlanError, RoleRequest,
    manifest::Action,
    plan::{ContractStep, DeployReason},
};

use crate::common::{Chain, medvault};

#[tokio::test]
async fn a_first_run_deploys_with_the_roles_and_a_second_sends_nothing() {
    let chain = Chain::start();
    let (owner, gateway) = (chain.account(0), chain.account(1));
    let roles = RoleRequest {
        relayers: vec![gateway],
        emergency_custodian: Some(gateway),
        ..Default::default()
    };

    let first = chain.run(&chain.deployer(0).await, &roles).await.unwrap();
    assert_eq!(first.step, ContractStep::Deploy(DeployReason::First));
    let manifest = Manifest::load(&chain.manifest_path(), 31337).unwrap().unwrap();
    assert_eq!(manifest, first.manifest);
    let deployment = &manifest.deployment;
    assert!(chain.has_code(deployment.med_vault).await);
    assert!(chain.has_code(deployment.forwarder).await);
    assert_eq!(deployment.deployer, owner);
    assert!(deployment.compiler_version.starts_with("0.8.37"), "{}", deployment.compiler_version);
    assert_eq!(deployment.bytecode_hash, alloy::primitives::keccak256(&medvault().bytecode));

    // The chain agrees with the manifest.
    let provider = chain.provider(0);
    let vault = MedVault::new(deployment.med_vault, &provider);
    assert_eq!(vault.forwarder().call().await.unwrap(), deployment.forwarder);
    assert_eq!(vault.owner().call().await.unwrap(), owner);
    assert!(vault.isRelayer(gateway).call().await.unwrap());
    assert!(!vault.isRelayer(owner).call().await.unwrap());
    assert_eq!(manifest.roles.governance, owner);
    assert_eq!(manifest.roles.relayers, [gateway]);
    assert_eq!(manifest.roles.emergency_custodian, Some(gateway));
    let actions: Vec<_> = manifest.transactions.iter().map(|tx| tx.action).collect();
    assert_eq!(actions, [Action::Deploy, Action::SetRelayer { account: gateway }]);
    assert_eq!(manifest.transactions[0].hash, deployment.deployment_transaction);
    assert_eq!(manifest.transactions[0].block, deployment.deployment_block);
    let said = first.to_string();
    assert!(said.starts_with(&format!("Deployed MedVault at {}", deployment.med_vault)), "{said}");
    assert!(said.contains(&format!("Enabled relayer {gateway}")), "{said}");

    // The second run, with the same request, from a new connection.
    let bytes = fs::read(chain.manifest_path()).unwrap();
    let modified = fs::metadata(chain.manifest_path()).unwrap().modified().unwrap();
    let nonce = chain.nonce(owner).await;
    let second = chain.run(&chain.deployer(0).await, &roles).await.unwrap();
    assert!(second.nothing_to_do());
    assert!(second.sent.is_empty());
    assert_eq!(chain.nonce(owner).await, nonce, "the second run sent a transaction");
    assert_eq!(fs::read(chain.manifest_path()).unwrap(), bytes);
    assert_eq!(fs::metadata(chain.manifest_path()).unwrap().modified().unwrap(), modified);
    assert_eq!(
        second.to_string(),
        format!(
            "MedVault is already deployed at {} on chain 31337 (block {}) with the same bytecode; nothing to do.\n",
            deployment.med_vault, deployment.deployment_block
        )
    );

    // A third run that adds a relayer sends that one transaction only.
    let more = RoleRequest { relayers: vec![gateway, chain.account(2)], ..Default::default() };
    let third = chain.run(&chain.deployer(0).await, &more).await.unwrap();
    assert_eq!(third.step, ContractStep::Keep);
    assert_eq!(third.sent.len(), 1);
    assert_eq!(chain.nonce(owner).await, nonce + 1);
    let manifest = Manifest::load(&chain.manifest_path(), 31337).unwrap().unwrap();
    let mut relayers = vec![gateway, chain.account(2)];
    relayers.sort();
    assert_eq!(manifest.roles.relayers, relayers);
    assert_eq!(manifest.roles.emergency_custodian, Some(gateway), "the recorded custodian stays");
    assert_eq!(manifest.transactions.len(), 3);
}

#[tokio::test]
async fn another_governance_is_offered_after_the_relayers_and_recorded_once_it_accepts() {
    let chain = Chain::start();
    let (deployer, gateway, governance) = (chain.account(0), chain.account(1), chain.account(2));
    let roles =
        RoleRequest { governance: Some(governance), relayers: vec![gateway], ..Default::default() };

    let first = chain.run(&chain.deployer(0).await, &roles).await.unwrap();
    let vault_address = first.manifest.deployment.med_vault;
    let actions: Vec<_> = first.sent.iter().map(|tx| tx.action).collect();
    assert_eq!(
        actions,
        [
            Action::Deploy,
            Action::SetRelayer { account: gateway },
            Action::TransferOwnership { account: governance }
        ]
    );
    let provider = chain.provider(2);
    let vault = MedVault::new(vault_address, &provider);
    assert_eq!(vault.owner().call().await.unwrap(), deployer);
    assert_eq!(vault.pendingOwner().call().await.unwrap(), governance);
    assert_eq!(first.manifest.roles.governance, deployer);
    assert_eq!(first.manifest.roles.pending_governance, Some(governance));
    let said = first.to_string();
    assert!(
        said.contains(&format!(
            "{governance} must call acceptOwnership() on {vault_address}; until then {deployer} governs."
        )),
        "{said}"
    );

    // Again, before it accepts: nothing to send, and still said.
    let second = chain.run(&chain.deployer(0).await, &roles).await.unwrap();
    assert!(second.nothing_to_do(), "{second}");
    assert!(second.to_string().contains("must call acceptOwnership()"));

    // Governance accepts; the next run sends nothing and records it.
    vault.acceptOwnership().send().await.unwrap().get_receipt().await.unwrap();
    let nonce = chain.nonce(deployer).await;
    let third = chain.run(&chain.deployer(0).await, &RoleRequest::default()).await.unwrap();
    assert!(third.sent.is_empty());
    assert!(third.written);
    assert!(!third.nothing_to_do());
    assert_eq!(chain.nonce(deployer).await, nonce);
    let manifest = Manifest::load(&chain.manifest_path(), 31337).unwrap().unwrap();
    assert_eq!(manifest.roles.governance, governance);
    assert_eq!(manifest.roles.pending_governance, None);

    // The deployer can no longer enable relayers: the run says who can.
    let another = chain.account(3);
    let request = RoleRequest { relayers: vec![another], ..Default::default() };
    let err = chain.run(&chain.deployer(0).await, &request).await.unwrap_err();
    assert!(
        matches!(err, DeployerError::Plan(PlanError::RelayerNeedsGovernance { owner, relayer, .. })
            if owner == governance && relayer == another),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "relayer {another} is not enabled on MedVault at {vault_address}, and only its governance {governance} can enable it, not the deployer {deployer}: governance must call setRelayer({another}, true)"
        )
    );
    assert_eq!(chain.nonce(deployer).await, nonce);
}

#[tokio::test]
async fn a_restarted_chain_gets_a_new_deployment_with_the_recorded_roles() {
    let mut chain = Chain::start();
    let gateway = chain.account(1);
    let roles = RoleRequest { relayers: vec![gateway], ..Default::default() };
    let first = chain.run(&chain.deployer(0).await, &roles).await.unwrap();
    let old = first.manifest.deployment.med_vault;

    // A new Anvil, same chain id, same manifest folder.
    chain.anvil = medvault_tests::spawn_anvil(&medvault_tests::Toolchain::locate()).unwrap();
    let second = chain.run(&chain.deployer(0).await, &RoleRequest::default()).await.unwrap();
    assert_eq!(second.step, ContractStep::Deploy(DeployReason::NoCode { recorded: old }));
    let said = second.to_string();
    assert!(
        said.starts_with(&format!("The recorded MedVault at {old} has no code on chain 31337")),
        "{said}"
    );
    let manifest = Manifest::load(&chain.manifest_path(), 31337).unwrap().unwrap();
    assert!(chain.has_code(manifest.deployment.med_vault).await);
    // The relayer the manifest recorded is enabled on the new contract.
    assert_eq!(manifest.roles.relayers, [gateway]);
    let provider = chain.provider(0);
    let vault = MedVault::new(manifest.deployment.med_vault, &provider);
    assert!(vault.isRelayer(gateway).call().await.unwrap());
    assert!(manifest.previous.is_empty());
}

#[tokio::test]
async fn changed_bytecode_is_deployed_anew_and_the_old_deployment_kept() {
    let chain = Chain::start();
    let gateway = chain.account(1);
    let roles = RoleRequest { relayers: vec![gateway], ..Default::default() };
    let first = chain.run(&chain.deployer(0).await, &roles).await.unwrap();
    let old = first.manifest.deployment.clone();

    // Other creation bytecode that still deploys: one more word before the
    // constructor argument, which the constructor reads as its first word.
    let mut code = medvault().bytecode.to_vec();
    code.extend_from_slice(&chain.account(0).abi_encode());
    let changed = CompiledContract { abi: medvault().abi.clone(), bytecode: Bytes::from(code) };

    let second =
        chain.run_with(&chain.deployer(0).await, &changed, &RoleRequest::default()).await.unwrap();
    let new = &second.manifest.deployment;
    assert_eq!(
        second.step,
        ContractStep::Deploy(DeployReason::BytecodeChanged {
            recorded: old.med_vault,
            recorded_hash: old.bytecode_hash,
            compiled_hash: alloy::primitives::keccak256(&changed.bytecode),
        })
    );
    assert_ne!(new.med_vault, old.med_vault);
    assert!(
        second.to_string().contains("so a new one was deployed; the old contract keeps its data")
    );
    let manifest = Manifest::load(&chain.manifest_path(), 31337).unwrap().unwrap();
    assert_eq!(manifest.previous, std::slice::from_ref(&old));
    assert_eq!(manifest.roles.relayers, [gateway]);
    assert!(chain.has_code(old.med_vault).await, "the old contract stays");

    // Back to the original bytecode: another deployment, two kept.
    let third = chain.run(&chain.deployer(0).await, &RoleRequest::default()).await.unwrap();
    assert!(matches!(third.step, ContractStep::Deploy(DeployReason::BytecodeChanged { .. })));
    assert_eq!(third.manifest.previous.len(), 2);
    assert_eq!(third.manifest.previous[0].med_vault, new.med_vault);
}
