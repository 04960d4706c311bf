//! `deployments/<chain-id>.json`: what is deployed on one chain.
//!
//! The gateway and the indexer read it to find the contracts and the block
//! to index from; `medvault-deploy` reads it back to decide what a second run
//! has left to do. It is written whole to a temporary file in the same folder
//! and renamed over the old one, so a reader never sees half a file and a
//! crash leaves the previous manifest intact.

use std::{
    fs::{self, File},
    io::{self, Write as _},
    path::{Path, PathBuf},
};

use alloy::primitives::{Address, B256, TxHash};
use serde::{Deserialize, Serialize};

/// What is deployed on one chain, and the transactions that set it up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// The chain the contracts live on; also the file's name.
    pub chain_id: u64,
    /// The current MedVault deployment.
    #[serde(flatten)]
    pub deployment: Deployment,
    /// Who holds which role on it, as the chain said after the last run.
    pub roles: Roles,
    /// Every transaction `medvault-deploy` sent for the current deployment,
    /// oldest first.
    pub transactions: Vec<Transaction>,
    /// Deployments replaced because the compiled bytecode changed, newest
    /// first. Their contracts still hold their data.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub previous: Vec<Deployment>,
}

/// One deployment of MedVault and the forwarder its constructor creates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    /// The MedVault contract.
    pub med_vault: Address,
    /// The forwarder that relays signed actions to it.
    pub forwarder: Address,
    /// The block that holds the creation transaction: where indexing starts.
    pub deployment_block: u64,
    /// The creation transaction (it creates both contracts).
    pub deployment_transaction: TxHash,
    /// The account that sent it.
    pub deployer: Address,
    /// The solc version that compiled it, as solc reports it.
    pub compiler_version: String,
    /// keccak-256 of the creation bytecode, without constructor arguments:
    /// equal hashes mean the same compiled contract.
    pub bytecode_hash: B256,
    /// keccak-256 of the runtime code at `medVault`: tells a live contract
    /// from other code at the same address (a restarted Anvil reuses them).
    pub code_hash: B256,
}

/// The roles on a deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Roles {
    /// The owner: it adds, suspends and restores organisations and sets the
    /// relayers.
    pub governance: Address,
    /// The account offered governance that has not yet accepted it
    /// (`acceptOwnership()`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_governance: Option<Address>,
    /// The accounts allowed to submit signed actions, sorted.
    pub relayers: Vec<Address>,
    /// The gateway's account that patients are told to name as their
    /// emergency key custodian. Only recorded: each patient names their own
    /// custodian on chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emergency_custodian: Option<Address>,
}

/// A transaction sent for the current deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Transaction {
    /// What it did.
    #[serde(flatten)]
    pub action: Action,
    /// Its hash.
    pub hash: TxHash,
    /// The block it was included in.
    pub block: u64,
}

/// What a transaction did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "camelCase")]
pub enum Action {
    /// Created MedVault (and its forwarder).
    Deploy,
    /// `setRelayer(account, true)`.
    SetRelayer {
        /// The relayer enabled.
        account: Address,
    },
    /// `transferOwnership(account)`: offered governance to `account`.
    TransferOwnership {
        /// The account offered governance.
        account: Address,
    },
}

impl Manifest {
    /// The manifest's path for `chain_id` in the folder `dir`.
    pub fn path(dir: &Path, chain_id: u64) -> PathBuf {
        dir.join(format!("{chain_id}.json"))
    }

    /// Reads the manifest at `path`, or `None` when there is none. A manifest
    /// that names another chain than `chain_id` is an error: it was copied or
    /// renamed by hand and describes other contracts.
    pub fn load(path: &Path, chain_id: u64) -> Result<Option<Self>, ManifestError> {
        let text = match fs::read_to_string(path) {
            Ok(text) => text,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(ManifestError::Read { path: path.to_owned(), source }),
        };
        let manifest: Self = serde_json::from_str(&text)
            .map_err(|source| ManifestError::Parse { path: path.to_owned(), source })?;
        if manifest.chain_id != chain_id {
            return Err(ManifestError::OtherChain {
                path: path.to_owned(),
                recorded: manifest.chain_id,
                chain_id,
            });
        }
        Ok(Some(manifest))
    }

    /// Writes the manifest to `path` atomically, creating its folder.
    pub fn store(&self, path: &Path) -> Result<(), ManifestError> {
        let write_error =
            |source: io::Error| ManifestError::Write { path: path.to_owned(), source };
        let mut text = serde_json::to_string_pretty(self)
            .map_err(|source| write_error(io::Error::other(source)))?;
        text.push('\n');

        let dir = path.parent().filter(|dir| !dir.as_os_str().is_empty()).unwrap_or(Path::new("."));
        fs::create_dir_all(dir).map_err(write_error)?;
        let file_name = path.file_name().map(|name| name.to_string_lossy()).unwrap_or_default();
        // Same folder, so the rename stays on one file system; the pid keeps
        // two concurrent runs from writing the same temporary file.
        let temporary = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
        let written = File::create(&temporary).and_then(|mut file| {
            file.write_all(text.as_bytes())?;
            file.sync_all()
        });
        if let Err(source) = written.and_then(|()| fs::rename(&temporary, path)) {
            let _ = fs::remove_file(&temporary);
            return Err(write_error(source));
        }
        Ok(())
    }
}

/// Why the manifest could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file exists but could not be read.
    #[error("cannot read the deployment manifest {}", path.display())]
    Read {
        /// The manifest.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The file is not a manifest.
    #[error("{} is not a deployment manifest", path.display())]
    Parse {
        /// The manifest.
        path: PathBuf,
        /// Where and why parsing failed.
        #[source]
        source: serde_json::Error,
    },
    /// The file describes another chain.
    #[error("{} records chain {recorded}, but the node is on chain {chain_id}", path.display())]
    OtherChain {
        /// The manifest.
        path: PathBuf,
        /// The chain id in the file.
        recorded: u64,
        /// The node's chain id.
        chain_id: u64,
    },
    /// The file could not be written.
    #[error("cannot write the deployment manifest {}", path.display())]
    Write {
        /// The manifest.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
}

#[cfg(test)]
mod tests {
    use alloy::primitives::{address, b256};

    use super::*;

    fn manifest() -> Manifest {
        let deployer = address!("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266");
        let relayer = address!("0x70997970C51812dc3A010C7d01b50e0d17dc79C8");
        let tx = b256!("0x1111111111111111111111111111111111111111111111111111111111111111");
        Manifest {
            chain_id: 31337,
            deployment: Deployment {
                med_vault: address!("0x5FbDB2315678afecb367f032d93F642f64180aa3"),
                forwarder: address!("0xa16E02E87b7454126E5E10d957A927A7F5B5d2be"),
                deployment_block: 1,
                deployment_transaction: tx,
                deployer,
                compiler_version: "0.8.37+commit.test".into(),
                bytecode_hash: B256::repeat_byte(0x22),
                code_hash: B256::repeat_byte(0x33),
            },
            roles: Roles {
                governance: deployer,
                pending_governance: None,
                relayers: vec![relayer],
                emergency_custodian: Some(relayer),
            },
            transactions: vec![
                Transaction { action: Action::Deploy, hash: tx, block: 1 },
                Transaction {
                    action: Action::SetRelayer { account: relayer },
                    hash: B256::repeat_byte(0x44),
                    block: 2,
                },
            ],
            previous: Vec::new(),
        }
    }

    #[test]
    fn the_json_is_flat_camel_case_and_round_trips() {
        let manifest = manifest();
        let json = serde_json::to_value(&manifest).unwrap();
        assert_eq!(json["chainId"], 31337);
        assert_eq!(json["medVault"], "0x5fbdb2315678afecb367f032d93f642f64180aa3");
        assert_eq!(json["deploymentBlock"], 1);
        assert_eq!(json["roles"]["relayers"][0], "0x70997970c51812dc3a010c7d01b50e0d17dc79c8");
        assert!(json["roles"].get("pendingGovernance").is_none());
        assert_eq!(json["transactions"][0]["action"], "deploy");
        assert_eq!(json["transactions"][1]["action"], "setRelayer");
        assert_eq!(
            json["transactions"][1]["account"],
            "0x70997970c51812dc3a010c7d01b50e0d17dc79c8"
        );
        assert!(json.get("previous").is_none(), "an empty history is left out");
        assert_eq!(serde_json::from_value::<Manifest>(json).unwrap(), manifest);
    }

    #[test]
    fn store_then_load_gives_the_same_manifest_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = Manifest::path(&dir.path().join("deployments"), 31337);
        assert_eq!(Manifest::load(&path, 31337).unwrap(), None);

        manifest().store(&path).unwrap();
        assert_eq!(Manifest::load(&path, 31337).unwrap(), Some(manifest()));
        let names: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, ["31337.json"]);
        assert!(fs::read_to_string(&path).unwrap().ends_with("}\n"));
    }

    #[test]
    fn a_manifest_of_another_chain_or_not_a_manifest_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = Manifest::path(dir.path(), 1);
        manifest().store(&path).unwrap();
        let err = Manifest::load(&path, 1).unwrap_err();
        assert!(matches!(err, ManifestError::OtherChain { recorded: 31337, chain_id: 1, .. }));
        assert!(err.to_string().ends_with("records chain 31337, but the node is on chain 1"));

        fs::write(&path, "[]").unwrap();
        let err = Manifest::load(&path, 1).unwrap_err();
        assert!(matches!(err, ManifestError::Parse { .. }), "{err:?}");
    }
}
