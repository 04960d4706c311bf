//! What the tests share: one compilation, and a chain with a manifest folder.

use std::{
    fs,
    path::{Path, PathBuf},
    sync::OnceLock,
};

use alloy::{
    node_bindings::AnvilInstance,
    primitives::Address,
    providers::{DynProvider, Provider, ProviderBuilder},
    signers::local::PrivateKeySigner,
};
use medvault_deploy::{
    Compiled, CompiledContract, ContractsCompiler, Deployer, DeployerError, Report, RoleRequest,
};
use medvault_tests::{Toolchain, spawn_anvil, toolchain::contracts_dir};
use tempfile::TempDir;

/// The contracts, compiled once for the whole test binary.
pub(crate) fn compiled() -> &'static Compiled {
    static COMPILED: OnceLock<Compiled> = OnceLock::new();
    COMPILED.get_or_init(|| {
        // On a thread of its own: the tests call this from inside a runtime.
        std::thread::spawn(|| {
            ContractsCompiler::new(contracts_dir(), Toolchain::locate().solc().unwrap())
                .compile()
                .unwrap()
        })
        .join()
        .unwrap()
    })
}

/// The compiled MedVault.
pub(crate) fn medvault() -> &'static CompiledContract {
    compiled().contract("MedVault").unwrap()
}

/// A fresh Anvil and an empty manifest folder.
pub(crate) struct Chain {
    pub(crate) anvil: AnvilInstance,
    pub(crate) out: TempDir,
}

impl Chain {
    pub(crate) fn start() -> Self {
        Self {
            anvil: spawn_anvil(&Toolchain::locate()).unwrap(),
            out: tempfile::tempdir().unwrap(),
        }
    }

    /// Anvil's account `index`.
    pub(crate) fn account(&self, index: usize) -> Address {
        self.anvil.addresses()[index]
    }

    pub(crate) fn signer(&self, index: usize) -> PrivateKeySigner {
        PrivateKeySigner::from(self.anvil.keys()[index].clone())
    }

    /// A deployer with Anvil's account `index`.
    pub(crate) async fn deployer(&self, index: usize) -> Deployer {
        Deployer::connect(&self.anvil.endpoint(), self.signer(index), Some(31337)).await.unwrap()
    }

    /// A provider that signs with Anvil's account `index`.
    pub(crate) fn provider(&self, index: usize) -> DynProvider {
        ProviderBuilder::new()
            .wallet(self.signer(index))
            .connect_http(self.anvil.endpoint_url())
            .erased()
    }

    /// One run with the compiled MedVault into this chain's manifest folder.
    pub(crate) async fn run(
        &self,
        deployer: &Deployer,
        roles: &RoleRequest,
    ) -> Result<Report, DeployerError> {
        self.run_with(deployer, medvault(), roles).await
    }

    pub(crate) async fn run_with(
        &self,
        deployer: &Deployer,
        contract: &CompiledContract,
        roles: &RoleRequest,
    ) -> Result<Report, DeployerError> {
        deployer.run(contract, compiled().compiler_version(), roles, self.out.path()).await
    }

    pub(crate) fn manifest_path(&self) -> PathBuf {
        self.out.path().join("31337.json")
    }

    /// The number of transactions `account` has sent.
    pub(crate) async fn nonce(&self, account: Address) -> u64 {
        self.provider(0).get_transaction_count(account).await.unwrap()
    }

    pub(crate) async fn has_code(&self, address: Address) -> bool {
        !self.provider(0).get_code_at(address).await.unwrap().is_empty()
    }
}

/// A copy of `contracts/` in a temporary folder (sources, remappings, and a
/// link to the same libraries) whose `MedVault.sol` has `edit` applied.
pub(crate) fn contracts_copy(edit: impl FnOnce(String) -> String) -> TempDir {
    let original = contracts_dir();
    let copy = tempfile::tempdir().unwrap();
    copy_dir(&original.join("src"), &copy.path().join("src"));
    fs::copy(original.join("remappings.txt"), copy.path().join("remappings.txt")).unwrap();
    std::os::unix::fs::symlink(
        original.join("lib").canonicalize().unwrap(),
        copy.path().join("lib"),
    )
    .unwrap();
    let source = copy.path().join("src").join("MedVault.sol");
    fs::write(&source, edit(fs::read_to_string(&source).unwrap())).unwrap();
    copy
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), target).unwrap();
        }
    }
}
