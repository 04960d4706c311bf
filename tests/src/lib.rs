//! Real processes for MedVault's tests and its local stack.
//!
//! Every test that needs a chain or IPFS starts the real thing here, and the
//! process stops when its handle is dropped: [`spawn_anvil`] runs the Anvil
//! that `scripts/bootstrap.sh` installed (through alloy's `Anvil` builder),
//! [`KuboNode::spawn`] runs Kubo with a fresh repository, offline, with no
//! bootstrap peers, no MDNS and no routing, on loopback ports the kernel
//! chooses. [`PostgresServer::spawn`] runs a throwaway Postgres
//! from Debian's packages on a free loopback port. [`Toolchain`] finds the installed binaries. `medvault dev` starts
//! its stack with the same code, so the tests run what a developer runs.
//!
//! The crate's own integration tests (`tests/it`) prove the base end to end:
//! contracts compile through the solc wrapper and deploy to Anvil, and bytes
//! added to Kubo come back byte-exact under the CID Kubo's CLI computes.

pub mod anvil;
pub mod kubo;
pub mod postgres;
pub mod toolchain;

pub use anvil::{AnvilError, anvil, spawn_anvil};
pub use kubo::{Identity, KuboError, KuboNode};
pub use postgres::{PostgresError, PostgresServer};
pub use toolchain::{Toolchain, ToolchainError};
