//! What a run has to do, from the manifest, the chain and the request.
//!
//! The rules, pure and tested without a chain:
//!
//! - The recorded MedVault is kept when the chain still holds the recorded
//!   code at its address and the freshly compiled creation bytecode hashes to
//!   the recorded hash. Otherwise a new one is deployed: none was recorded, the
//!   address has no code or other code (a restarted Anvil), or the bytecode
//!   changed (the old contract keeps its data and goes to `previous`).
//! - Roles are only ever added. A requested relayer that is not enabled gets
//!   `setRelayer(relayer, true)`; no relayer is ever disabled (that is
//!   governance's decision, `setRelayer(relayer, false)`). A new deployment
//!   also re-enables the relayers and keeps the governance and custodian the
//!   manifest recorded, so it replaces the old one whole.
//! - Governance other than the deployer is handed over with Ownable2Step:
//!   the deployer stays owner, sets the relayers, then offers governance with
//!   `transferOwnership`; the new governance takes over by calling
//!   `acceptOwnership()`. A mistyped address therefore never locks the
//!   contract: it cannot accept, and the deployer can offer again.
//! - Only the owner can call `setRelayer` and `transferOwnership`. Once
//!   governance has taken over, a request that needs either is an error that
//!   says who must act, instead of a reverted transaction.

use std::collections::BTreeSet;

use alloy::primitives::{Address, B256};

use crate::manifest::Manifest;

/// The roles a run asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleRequest {
    /// The owner. `None` keeps the recorded one (or the pending offer), and
    /// on a first deployment means the deployer.
    pub governance: Option<Address>,
    /// Relayers to enable, in addition to those already enabled.
    pub relayers: Vec<Address>,
    /// The gateway's account to record as the emergency key custodian.
    /// `None` keeps the recorded one.
    pub emergency_custodian: Option<Address>,
}

/// What to do with the MedVault contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContractStep {
    /// Keep the recorded contract.
    Keep,
    /// Deploy a new one, for this reason.
    Deploy(DeployReason),
}

/// Why a new MedVault is deployed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeployReason {
    /// No manifest: the first deployment on this chain.
    First,
    /// The recorded address has no code (a restarted node).
    NoCode {
        /// The recorded address.
        recorded: Address,
    },
    /// The recorded address holds code other than the recorded contract's.
    OtherCode {
        /// The recorded address.
        recorded: Address,
    },
    /// The compiled creation bytecode differs from the recorded one.
    BytecodeChanged {
        /// The recorded contract, which stays on chain.
        recorded: Address,
        /// The recorded bytecode hash.
        recorded_hash: B256,
        /// The compiled bytecode hash.
        compiled_hash: B256,
    },
}

/// Decides whether to keep the recorded contract. `code_hash` is the
/// keccak-256 of the code at the recorded address, `None` when it has none.
pub fn contract_step(
    manifest: Option<&Manifest>,
    code_hash: Option<B256>,
    compiled_hash: B256,
) -> ContractStep {
    let Some(manifest) = manifest else { return ContractStep::Deploy(DeployReason::First) };
    let recorded = &manifest.deployment;
    match code_hash {
        None => ContractStep::Deploy(DeployReason::NoCode { recorded: recorded.med_vault }),
        Some(hash) if hash != recorded.code_hash => {
            ContractStep::Deploy(DeployReason::OtherCode { recorded: recorded.med_vault })
        }
        Some(_) if recorded.bytecode_hash != compiled_hash => {
            ContractStep::Deploy(DeployReason::BytecodeChanged {
                recorded: recorded.med_vault,
                recorded_hash: recorded.bytecode_hash,
                compiled_hash,
            })
        }
        Some(_) => ContractStep::Keep,
    }
}

/// The roles on a contract, as the chain reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleState {
    /// `owner()`.
    pub owner: Address,
    /// `pendingOwner()`, `None` for the zero address.
    pub pending_owner: Option<Address>,
    /// The relayers among those asked about that are enabled.
    pub relayers: BTreeSet<Address>,
}

impl RoleState {
    /// The roles of a contract just deployed by `deployer`.
    pub fn fresh(deployer: Address) -> Self {
        Self { owner: deployer, pending_owner: None, relayers: BTreeSet::new() }
    }
}

/// A role transaction to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleCall {
    /// `setRelayer(relayer, true)`.
    EnableRelayer(Address),
    /// `transferOwnership(governance)`.
    OfferGovernance(Address),
}

/// The roles a run must reach on the contract it ends with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The owner it should end with (possibly still pending).
    pub governance: Address,
    /// The relayers that must be enabled.
    pub relayers: BTreeSet<Address>,
    /// The relayers whose state is recorded (enabled or not).
    pub known_relayers: BTreeSet<Address>,
    /// The emergency custodian to record.
    pub emergency_custodian: Option<Address>,
}

/// Merges the request with the manifest into the roles to reach. A new
/// contract takes over the recorded roles; a kept one only gets what the
/// request adds.
pub fn target(
    step: ContractStep,
    manifest: Option<&Manifest>,
    request: &RoleRequest,
    deployer: Address,
) -> Target {
    let recorded = manifest.map(|manifest| &manifest.roles);
    let recorded_relayers: BTreeSet<Address> =
        recorded.map(|roles| roles.relayers.iter().copied().collect()).unwrap_or_default();
    let requested: BTreeSet<Address> = request.relayers.iter().copied().collect();
    let recorded_governance =
        recorded.map(|roles| roles.pending_governance.unwrap_or(roles.governance));
    let relayers = match step {
        ContractStep::Keep => requested.clone(),
        ContractStep::Deploy(_) => &recorded_relayers | &requested,
    };
    Target {
        governance: request.governance.or(recorded_governance).unwrap_or(deployer),
        known_relayers: &recorded_relayers | &requested,
        relayers,
        emergency_custodian: request
            .emergency_custodian
            .or(recorded.and_then(|roles| roles.emergency_custodian)),
    }
}

/// The role transactions that take `state` to `target`, sent by `deployer`
/// to the contract at `vault`.
pub fn role_calls(
    vault: Address,
    deployer: Address,
    state: &RoleState,
    target: &Target,
) -> Result<Vec<RoleCall>, PlanError> {
    let mut calls: Vec<RoleCall> = target
        .relayers
        .difference(&state.relayers)
        .map(|&relayer| RoleCall::EnableRelayer(relayer))
        .collect();
    let offer = target.governance != state.owner && state.pending_owner != Some(target.governance);
    if offer {
        if state.owner != deployer {
            return Err(PlanError::GovernanceHeld {
                vault,
                owner: state.owner,
                requested: target.governance,
            });
        }
        calls.push(RoleCall::OfferGovernance(target.governance));
    }
    if let Some(&RoleCall::EnableRelayer(relayer)) = calls.first()
        && state.owner != deployer
    {
        return Err(PlanError::RelayerNeedsGovernance {
            vault,
            owner: state.owner,
            deployer,
            relayer,
        });
    }
    Ok(calls)
}

/// Why the requested roles cannot be reached by the deployer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// Someone other than the deployer governs the contract, and the request
    /// names yet another governance.
    #[error(
        "MedVault at {vault} is governed by {owner}, not the requested governance {requested}; only {owner} can hand it over (transferOwnership)"
    )]
    GovernanceHeld {
        /// The contract.
        vault: Address,
        /// Its owner.
        owner: Address,
        /// The governance requested.
        requested: Address,
    },
    /// A relayer must be enabled but governance has taken over.
    #[error(
        "relayer {relayer} is not enabled on MedVault at {vault}, and only its governance {owner} can enable it, not the deployer {deployer}: governance must call setRelayer({relayer}, true)"
    )]
    RelayerNeedsGovernance {
        /// The contract.
        vault: Address,
        /// Its owner.
        owner: Address,
        /// The deployer.
        deployer: Address,
        /// The first relayer that is not enabled.
        relayer: Address,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{Deployment, Roles};

    const DEPLOYER: Address = Address::repeat_byte(0xd0);
    const GOVERNANCE: Address = Address::repeat_byte(0x60);
    const VAULT: Address = Address::repeat_byte(0x7a);
    const R1: Address = Address::repeat_byte(0x01);
    const R2: Address = Address::repeat_byte(0x02);

    fn manifest(roles: Roles) -> Manifest {
        Manifest {
            chain_id: 31337,
            deployment: Deployment {
                med_vault: VAULT,
                forwarder: Address::repeat_byte(0xf0),
                deployment_block: 1,
                deployment_transaction: B256::repeat_byte(1),
                deployer: DEPLOYER,
                compiler_version: "0.8.37".into(),
                bytecode_hash: B256::repeat_byte(0xbb),
                code_hash: B256::repeat_byte(0xcc),
            },
            roles,
            transactions: Vec::new(),
            previous: Vec::new(),
        }
    }

    fn roles(governance: Address, pending: Option<Address>, relayers: &[Address]) -> Roles {
        Roles {
            governance,
            pending_governance: pending,
            relayers: relayers.to_vec(),
            emergency_custodian: Some(R1),
        }
    }

    #[test]
    fn the_recorded_contract_is_kept_only_with_the_same_code_and_bytecode() {
        let m = manifest(roles(DEPLOYER, None, &[]));
        let (code, bytecode) = (B256::repeat_byte(0xcc), B256::repeat_byte(0xbb));
        assert_eq!(contract_step(None, None, bytecode), ContractStep::Deploy(DeployReason::First));
        assert_eq!(contract_step(Some(&m), Some(code), bytecode), ContractStep::Keep);
        assert_eq!(
            contract_step(Some(&m), None, bytecode),
            ContractStep::Deploy(DeployReason::NoCode { recorded: VAULT })
        );
        assert_eq!(
            contract_step(Some(&m), Some(B256::ZERO), bytecode),
            ContractStep::Deploy(DeployReason::OtherCode { recorded: VAULT })
        );
        assert_eq!(
            contract_step(Some(&m), Some(code), B256::ZERO),
            ContractStep::Deploy(DeployReason::BytecodeChanged {
                recorded: VAULT,
                recorded_hash: bytecode,
                compiled_hash: B256::ZERO
            })
        );
    }

    #[test]
    fn a_first_deployment_enables_the_relayers_then_offers_governance() {
        let request = RoleRequest {
            governance: Some(GOVERNANCE),
            relayers: vec![R2, R1],
            ..Default::default()
        };
        let target = target(ContractStep::Deploy(DeployReason::First), None, &request, DEPLOYER);
        let calls = role_calls(VAULT, DEPLOYER, &RoleState::fresh(DEPLOYER), &target).unwrap();
        assert_eq!(
            calls,
            [
                RoleCall::EnableRelayer(R1),
                RoleCall::EnableRelayer(R2),
                RoleCall::OfferGovernance(GOVERNANCE)
            ]
        );
    }

    #[test]
    fn without_a_governance_the_deployer_governs_and_nothing_is_offered() {
        let target = target(
            ContractStep::Deploy(DeployReason::First),
            None,
            &RoleRequest::default(),
            DEPLOYER,
        );
        assert_eq!(target.governance, DEPLOYER);
        assert!(
            role_calls(VAULT, DEPLOYER, &RoleState::fresh(DEPLOYER), &target).unwrap().is_empty()
        );
    }

    #[test]
    fn a_kept_contract_gets_only_what_is_missing() {
        let m = manifest(roles(DEPLOYER, Some(GOVERNANCE), &[R1]));
        let state =
            RoleState { owner: DEPLOYER, pending_owner: Some(GOVERNANCE), relayers: [R1].into() };
        // The same request again: nothing.
        let same =
            RoleRequest { governance: Some(GOVERNANCE), relayers: vec![R1], ..Default::default() };
        let t = target(ContractStep::Keep, Some(&m), &same, DEPLOYER);
        assert!(role_calls(VAULT, DEPLOYER, &state, &t).unwrap().is_empty());
        // No request at all keeps the recorded roles and the pending offer.
        let t = target(ContractStep::Keep, Some(&m), &RoleRequest::default(), DEPLOYER);
        assert_eq!(t.governance, GOVERNANCE);
        assert_eq!(t.known_relayers, [R1].into());
        assert_eq!(t.emergency_custodian, Some(R1));
        assert!(role_calls(VAULT, DEPLOYER, &state, &t).unwrap().is_empty());
        // A new relayer: one call.
        let more = RoleRequest { relayers: vec![R1, R2], ..Default::default() };
        let t = target(ContractStep::Keep, Some(&m), &more, DEPLOYER);
        assert_eq!(role_calls(VAULT, DEPLOYER, &state, &t).unwrap(), [RoleCall::EnableRelayer(R2)]);
    }

    #[test]
    fn a_relayer_disabled_by_governance_is_not_enabled_again_unless_requested() {
        let m = manifest(roles(GOVERNANCE, None, &[R1]));
        let state = RoleState { owner: GOVERNANCE, pending_owner: None, relayers: [].into() };
        let t = target(ContractStep::Keep, Some(&m), &RoleRequest::default(), DEPLOYER);
        assert!(role_calls(VAULT, DEPLOYER, &state, &t).unwrap().is_empty());
        assert_eq!(t.known_relayers, [R1].into(), "its state is still read and recorded");

        let again = RoleRequest { relayers: vec![R1], ..Default::default() };
        let t = target(ContractStep::Keep, Some(&m), &again, DEPLOYER);
        let err = role_calls(VAULT, DEPLOYER, &state, &t).unwrap_err();
        assert_eq!(
            err,
            PlanError::RelayerNeedsGovernance {
                vault: VAULT,
                owner: GOVERNANCE,
                deployer: DEPLOYER,
                relayer: R1
            }
        );
        assert!(err.to_string().contains("governance must call setRelayer("), "{err}");
    }

    #[test]
    fn governance_held_by_another_account_cannot_be_offered() {
        let m = manifest(roles(GOVERNANCE, None, &[]));
        let state = RoleState { owner: GOVERNANCE, pending_owner: None, relayers: [].into() };
        let other = RoleRequest { governance: Some(R2), ..Default::default() };
        let t = target(ContractStep::Keep, Some(&m), &other, DEPLOYER);
        let err = role_calls(VAULT, DEPLOYER, &state, &t).unwrap_err();
        assert!(matches!(err, PlanError::GovernanceHeld { owner: GOVERNANCE, requested: R2, .. }));
    }

    #[test]
    fn a_new_deployment_takes_over_the_recorded_roles() {
        let m = manifest(roles(GOVERNANCE, None, &[R1]));
        let step = ContractStep::Deploy(DeployReason::NoCode { recorded: VAULT });
        let request = RoleRequest { relayers: vec![R2], ..Default::default() };
        let t = target(step, Some(&m), &request, DEPLOYER);
        assert_eq!(t.emergency_custodian, Some(R1));
        let calls = role_calls(VAULT, DEPLOYER, &RoleState::fresh(DEPLOYER), &t).unwrap();
        assert_eq!(
            calls,
            [
                RoleCall::EnableRelayer(R1),
                RoleCall::EnableRelayer(R2),
                RoleCall::OfferGovernance(GOVERNANCE)
            ]
        );
    }
}
