//! Compiles MedVault's contracts and deploys them to Anvil or a testnet.
//!
//! [`compile`] builds the Foundry project in `contracts/` with
//! foundry-compilers, through the solc that `scripts/bootstrap.sh` installs
//! (`.tools/bin/solc`: solc-js behind a wrapper, or a native solc of the pinned
//! version) or a native solc on `PATH`, with the settings and remappings that
//! `forge` uses, so both produce the same bytecode. [`signer`] opens the
//! deployer's key (a private key, a foundry or geth keystore, a mnemonic).
//! [`deployer`] connects to a JSON-RPC endpoint, checks its chain, and deploys
//! MedVault and sets up its roles as [`plan`] decides from
//! `deployments/<chain-id>.json` ([`manifest`]) and the chain, so that a second
//! run with the same bytecode sends nothing. [`mod@deploy`] sends one transaction
//! and waits for its receipt.
//!
//! The `medvault-deploy` binary puts these steps behind one command line.

pub mod compile;
pub mod deploy;
pub mod deployer;
pub mod manifest;
pub mod plan;
pub mod signer;

pub use compile::{CompileError, Compiled, CompiledContract, ContractsCompiler, locate_solc};
pub use deploy::{DeployError, deploy};
pub use deployer::{Deployer, DeployerError, Report};
pub use manifest::{Manifest, ManifestError};
pub use plan::{PlanError, RoleRequest};
pub use signer::{KeySource, Secret, SignerError};
