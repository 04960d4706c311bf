//! Compiles MedVault's contracts and deploys them.
//!
//! [`compile`] builds the Foundry project in `contracts/` with
//! foundry-compilers, through the solc that `scripts/bootstrap.sh` installs
//! (`.tools/bin/solc`: solc-js behind a wrapper, or a native solc of the pinned
//! version), with the settings and remappings that `forge` uses, so both
//! produce the same bytecode. [`mod@deploy`] sends a transaction (a compiled
//! contract's creation, say) with alloy and waits for its receipt. [`signer`]
//! opens the deployer's key (a private key, a foundry or geth keystore, a
//! mnemonic); [`manifest`] reads and writes `deployments/<chain-id>.json`;
//! [`plan`] decides what a run must send, given the manifest and the chain.
//!
//! The `medvault-deploy` binary (roles, keystores, `deployments/<chain-id>.json`,
//! idempotent re-runs) arrives with the `core` and `deploy` issue; this crate
//! starts with the two steps every later part needs.

pub mod compile;
pub mod deploy;
pub mod manifest;
pub mod plan;
pub mod signer;

pub use compile::{CompileError, Compiled, CompiledContract, ContractsCompiler, locate_solc};
pub use deploy::{DeployError, deploy};
pub use manifest::{Manifest, ManifestError};
pub use plan::{PlanError, RoleRequest};
pub use signer::{KeySource, Secret, SignerError};
