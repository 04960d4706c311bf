//! `stack.json`: where a running local stack is, and who its demo identities
//! are.
//!
//! `medvault dev` writes it to `.medvault/dev/stack.json` once every part
//! answers; every other command reads it by default, so that against a dev
//! stack no flag is needed. The file holds the demo identities' private keys:
//! they are Anvil's well-known test keys or keys generated for this run, never
//! a real wallet's, and the file is written readable by its owner only.

use std::{
    collections::BTreeMap,
    fmt, fs, io,
    path::{Path, PathBuf},
};

use alloy::{
    primitives::{Address, B256},
    signers::local::PrivateKeySigner,
};
use serde::{Deserialize, Serialize};
use url::Url;

/// The stack file's path under a workspace: `.medvault/dev/stack.json`.
pub fn default_path(root: &Path) -> PathBuf {
    root.join(".medvault").join("dev").join("stack.json")
}

/// A running local stack.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub struct Stack {
    /// The chain's JSON-RPC endpoint (Anvil).
    pub rpc_url: Url,
    /// The chain id.
    pub chain_id: u64,
    /// The MedVault contract.
    pub contract: Address,
    /// Its EIP-712 forwarder, which `...BySig` actions are signed for.
    pub forwarder: Address,
    /// The block the contract was deployed in (where the indexer starts).
    pub deployment_block: u64,
    /// The gateway's base URL.
    pub gateway_url: Url,
    /// The indexer's query API base URL.
    pub indexer_url: Url,
    /// Kubo's RPC API base URL.
    pub ipfs_api_url: Url,
    /// The demo identities, by role.
    pub identities: BTreeMap<Role, Identity>,
}

/// The role a demo identity plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Governance: adds, suspends and restores organisations.
    Governance,
    /// A hospital's administrator: adds and removes its staff.
    Hospital,
    /// A doctor of the hospital.
    Doctor,
    /// A doctor of the hospital with the emergency role (break-glass).
    EmergencyDoctor,
    /// A patient.
    Patient,
    /// The patient's guardian.
    Guardian,
    /// The patient's IoT device.
    Device,
}

impl Role {
    /// Every role, in the order the summary prints them.
    pub const ALL: [Self; 7] = [
        Self::Governance,
        Self::Hospital,
        Self::Doctor,
        Self::EmergencyDoctor,
        Self::Patient,
        Self::Guardian,
        Self::Device,
    ];

    /// The role's name in `stack.json` and on the command line.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Governance => "governance",
            Self::Hospital => "hospital",
            Self::Doctor => "doctor",
            Self::EmergencyDoctor => "emergency_doctor",
            Self::Patient => "patient",
            Self::Guardian => "guardian",
            Self::Device => "device",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A demo identity: an address and the private key that controls it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    /// The account.
    pub address: Address,
    /// Its private key (a throw-away dev key).
    pub private_key: B256,
}

impl Identity {
    /// The identity of `signer`.
    pub fn from_signer(signer: &PrivateKeySigner) -> Self {
        Self { address: signer.address(), private_key: signer.to_bytes() }
    }

    /// A signer for this identity.
    pub fn signer(&self) -> Result<PrivateKeySigner, StackError> {
        let signer = PrivateKeySigner::from_bytes(&self.private_key)
            .map_err(|_| StackError::InvalidKey { address: self.address })?;
        if signer.address() != self.address {
            return Err(StackError::KeyMismatch { address: self.address });
        }
        Ok(signer)
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity").field("address", &self.address).finish_non_exhaustive()
    }
}

impl Stack {
    /// Reads the stack file at `path`.
    pub fn load(path: &Path) -> Result<Self, StackError> {
        let text = fs::read_to_string(path).map_err(|source| match source.kind() {
            io::ErrorKind::NotFound => StackError::Missing { path: path.to_owned() },
            _ => StackError::Read { path: path.to_owned(), source },
        })?;
        serde_json::from_str(&text)
            .map_err(|source| StackError::Parse { path: path.to_owned(), source })
    }

    /// Writes the stack file at `path` (readable by its owner only), through
    /// a temporary file and a rename so that a reader never sees half of it.
    pub fn store(&self, path: &Path) -> Result<(), StackError> {
        let write = |source| StackError::Write { path: path.to_owned(), source };
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(write)?;
        }
        let mut text =
            serde_json::to_string_pretty(self).map_err(io::Error::other).map_err(write)?;
        text.push('\n');
        let tmp = path.with_extension("json.tmp");
        let mut options = fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        {
            use io::Write as _;
            let mut file = options.open(&tmp).map_err(write)?;
            file.write_all(text.as_bytes()).map_err(write)?;
            file.sync_all().map_err(write)?;
        }
        fs::rename(&tmp, path).map_err(write)
    }

    /// The demo identity playing `role`.
    pub fn identity(&self, role: Role) -> Result<&Identity, StackError> {
        self.identities.get(&role).ok_or(StackError::NoIdentity { role })
    }
}

/// Why the stack file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StackError {
    /// No stack file: no dev stack has been started here.
    #[error("no stack file at {}: start the local stack with `make dev` (or `medvault dev`), or pass the endpoints as flags", path.display())]
    Missing {
        /// The path looked at.
        path: PathBuf,
    },
    /// The file exists but cannot be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The file is not a stack file.
    #[error("{} is not a valid stack file", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        source: serde_json::Error,
    },
    /// The file cannot be written.
    #[error("cannot write {}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The stack has no identity for a role.
    #[error("the stack file has no {role} identity")]
    NoIdentity {
        /// The role asked for.
        role: Role,
    },
    /// An identity's key is not a valid secp256k1 key.
    #[error("the stack file's key for {address} is not a valid private key")]
    InvalidKey {
        /// The identity's address.
        address: Address,
    },
    /// An identity's key controls another address.
    #[error("the stack file's key for {address} belongs to another address")]
    KeyMismatch {
        /// The identity's address.
        address: Address,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack() -> Stack {
        let patient = PrivateKeySigner::from_bytes(&B256::repeat_byte(7)).unwrap();
        Stack {
            rpc_url: "http://127.0.0.1:8545".parse().unwrap(),
            chain_id: 31337,
            contract: Address::repeat_byte(1),
            forwarder: Address::repeat_byte(2),
            deployment_block: 1,
            gateway_url: "http://127.0.0.1:8080".parse().unwrap(),
            indexer_url: "http://127.0.0.1:8081".parse().unwrap(),
            ipfs_api_url: "http://127.0.0.1:5001".parse().unwrap(),
            identities: BTreeMap::from([(Role::Patient, Identity::from_signer(&patient))]),
        }
    }

    #[test]
    fn round_trips_through_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = default_path(dir.path());
        let stack = stack();
        stack.store(&path).unwrap();
        assert_eq!(Stack::load(&path).unwrap(), stack);
        let patient = stack.identity(Role::Patient).unwrap();
        assert_eq!(patient.signer().unwrap().address(), patient.address);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }

    #[test]
    fn names_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stack.json");
        assert!(matches!(Stack::load(&path), Err(StackError::Missing { .. })));
        fs::write(&path, "{}").unwrap();
        assert!(matches!(Stack::load(&path), Err(StackError::Parse { .. })));
        assert!(matches!(
            stack().identity(Role::Device),
            Err(StackError::NoIdentity { role: Role::Device })
        ));

        let mut wrong = stack();
        wrong.identities.get_mut(&Role::Patient).unwrap().address = Address::ZERO;
        assert!(matches!(
            wrong.identity(Role::Patient).unwrap().signer(),
            Err(StackError::KeyMismatch { .. })
        ));
    }

    #[test]
    fn debug_prints_no_key() {
        let stack = stack();
        let identity = stack.identity(Role::Patient).unwrap();
        let key = alloy::hex::encode(identity.private_key);
        assert!(!format!("{stack:?}").contains(&key));
    }
}
