//! [`DevStack`]: the whole local stack as a value, for `medvault dev` and
//! the end-to-end tests.
//!
//! [`DevStack::start`] wipes the stack folder, compiles the contracts,
//! starts Anvil and an isolated Kubo, deploys MedVault with its relayer
//! (through `medvault_deploy::Deployer`, whose manifest lands in the
//! folder's `deployments/`), starts the indexer and the gateway in this
//! process ([`services`](super::services)), seeds the demo identities
//! ([`seed`](super::seed)), waits until the indexer has indexed the seeding,
//! and writes `stack.json`. [`DevStack::shutdown`] stops the services, then
//! Kubo and Anvil; dropping the stack does the same without waiting for the
//! services to finish gracefully.
//!
//! The identities are Anvil's funded dev accounts, always the same ones:
//! account 0 is governance (and the deployer), then the hospital, the
//! doctor, the emergency doctor, the patient, the guardian and the device;
//! account 7 is the gateway's relayer and account 8 its emergency custodian.

use std::{
    collections::BTreeMap,
    fs, io,
    net::SocketAddr,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use alloy::{node_bindings::AnvilInstance, primitives::Address, signers::local::PrivateKeySigner};
use medvault_deploy::{
    CompileError, ContractsCompiler, Deployer, DeployerError, RoleRequest, manifest::Deployment,
};
use medvault_tests::{
    AnvilError, KuboError, KuboNode, Toolchain, ToolchainError, spawn_anvil, toolchain,
};
use url::Url;

use super::{
    seed::{self, Participants, SeedError, Seeded},
    services::{ChainTarget, ServiceError, Services},
};
use crate::stack::{Identity, Role, Stack, StackError};

/// The file that marks a folder as a dev stack's, so that a start never
/// wipes a folder it did not make.
const MARKER: &str = ".medvault-dev";
/// How long the indexer may take to index the seeding.
const INDEX_TIMEOUT: Duration = Duration::from_secs(60);

/// Where and with what a [`DevStack`] starts.
#[derive(Debug, Clone)]
pub struct DevOptions {
    /// The stack folder: `stack.json`, the SQLite files of the indexer and
    /// the gateway, the deployment manifest. Wiped at each start.
    pub dir: PathBuf,
    /// The Foundry project to compile and deploy.
    pub contracts: PathBuf,
    /// The installed tools (anvil, solc, ipfs).
    pub tools: Toolchain,
    /// The built web page the gateway serves on its origin (`web/dist`);
    /// none when `None`.
    pub web: Option<PathBuf>,
}

impl DevOptions {
    /// The workspace's contracts and tools, with the stack in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            contracts: toolchain::contracts_dir(),
            tools: Toolchain::locate(),
            web: None,
        }
    }
}

/// The default stack folder: `.medvault/dev` in the workspace.
pub fn default_dir() -> PathBuf {
    toolchain::workspace_root().join(".medvault").join("dev")
}

/// A running local stack. See the module docs.
#[derive(Debug)]
pub struct DevStack {
    stack: Stack,
    dir: PathBuf,
    relayer: Address,
    custodian: Address,
    seeded: Seeded,
    serves_page: bool,
    // Stopped in this order: the services use Kubo and Anvil.
    services: Option<Services>,
    kubo: Option<KuboNode>,
    anvil: Option<AnvilInstance>,
}

impl DevStack {
    /// Starts everything and returns once the indexer has indexed the
    /// seeding and `stack.json` is written.
    pub async fn start(options: DevOptions) -> Result<Self, DevError> {
        let DevOptions { dir, contracts, tools, web } = options;
        prepare_dir(&dir)?;

        let solc = tools.solc()?;
        let compiler = ContractsCompiler::new(&contracts, solc);
        let compiled = tokio::task::spawn_blocking(move || compiler.compile())
            .await
            .map_err(|_| DevError::Task { what: "the compiler" })??;
        tracing::info!(solc = compiled.compiler_version(), "contracts compiled");

        let anvil_tools = tools.clone();
        let anvil = tokio::task::spawn_blocking(move || spawn_anvil(&anvil_tools))
            .await
            .map_err(|_| DevError::Task { what: "anvil's start" })??;
        let kubo = KuboNode::spawn(&tools).await?;
        tracing::info!(rpc = %anvil.endpoint(), ipfs = %kubo.api_url(), "anvil and kubo running");

        let account = |index: usize| {
            anvil
                .nth_key(index)
                .map(|key| PrivateKeySigner::from(key.clone()))
                .ok_or(DevError::TooFewAccounts { needed: index + 1 })
        };
        let participants = Participants {
            governance: account(0)?,
            hospital: account(1)?,
            doctor: account(2)?,
            emergency_doctor: account(3)?,
            patient: account(4)?,
            guardian: account(5)?,
            device: account(6)?,
            custodian: account(8)?,
        };
        let relayer = account(7)?;

        let deployments = dir.join("deployments");
        let deployer = Deployer::connect(&anvil.endpoint(), participants.governance.clone(), None)
            .await
            .map_err(|error| DevError::Deploy(Box::new(error)))?;
        let roles = RoleRequest {
            governance: None,
            relayers: vec![relayer.address()],
            emergency_custodian: Some(participants.custodian.address()),
        };
        let report = deployer
            .run(compiled.contract("MedVault")?, compiled.compiler_version(), &roles, &deployments)
            .await
            .map_err(|error| DevError::Deploy(Box::new(error)))?;
        let Deployment { med_vault, forwarder, deployment_block, .. } = report.manifest.deployment;
        tracing::info!(%med_vault, deployment_block, "MedVault deployed");

        let rpc_url = parse_url(&anvil.endpoint())?;
        let chain = ChainTarget {
            rpc_url: rpc_url.clone(),
            ws_url: parse_url(&anvil.ws_endpoint())?,
            chain_id: anvil.chain_id(),
            contract: med_vault,
            deployment_block,
            deployments,
        };
        let ipfs_api_url = parse_url(&kubo.api_url())?;
        let services = Services::start(
            &dir,
            &chain,
            &ipfs_api_url,
            &relayer,
            &participants.custodian,
            web.as_deref(),
        )
        .await?;
        let gateway_url = url_of(services.gateway)?;
        let indexer_url = url_of(services.indexer)?;

        let seeded = seed::seed(rpc_url.clone(), chain.chain_id, med_vault, &participants).await?;
        wait_for_index(&indexer_url, seeded.last_block).await?;
        tracing::info!(block = seeded.last_block, "demo identities seeded and indexed");

        let identities = [
            (Role::Governance, &participants.governance),
            (Role::Hospital, &participants.hospital),
            (Role::Doctor, &participants.doctor),
            (Role::EmergencyDoctor, &participants.emergency_doctor),
            (Role::Patient, &participants.patient),
            (Role::Guardian, &participants.guardian),
            (Role::Device, &participants.device),
        ]
        .into_iter()
        .map(|(role, signer)| (role, Identity::from_signer(signer)))
        .collect::<BTreeMap<_, _>>();
        let stack = Stack {
            rpc_url,
            chain_id: chain.chain_id,
            contract: med_vault,
            forwarder,
            deployment_block,
            gateway_url,
            indexer_url,
            ipfs_api_url,
            identities,
        };
        let dev = Self {
            stack,
            dir,
            relayer: relayer.address(),
            custodian: participants.custodian.address(),
            seeded,
            serves_page: web.is_some(),
            services: Some(services),
            kubo: Some(kubo),
            anvil: Some(anvil),
        };
        dev.stack.store(&dev.stack_path())?;
        Ok(dev)
    }

    /// What `stack.json` holds.
    pub fn stack(&self) -> &Stack {
        &self.stack
    }

    /// The web page's address (the gateway's origin), when it serves one.
    pub fn page_url(&self) -> Option<&url::Url> {
        self.serves_page.then_some(&self.stack.gateway_url)
    }

    /// The stack folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where `stack.json` is.
    pub fn stack_path(&self) -> PathBuf {
        self.dir.join("stack.json")
    }

    /// The gateway's relayer account.
    pub fn relayer(&self) -> Address {
        self.relayer
    }

    /// The gateway's emergency custodian account, which the patient named.
    pub fn custodian(&self) -> Address {
        self.custodian
    }

    /// What the seeding left on chain.
    pub fn seeded(&self) -> Seeded {
        self.seeded
    }

    /// The category the demo device writes to.
    pub fn device_category(&self) -> u8 {
        seed::VITALS
    }

    /// The process ids of Anvil and Kubo, while they run.
    pub fn pids(&self) -> Vec<u32> {
        let anvil = self.anvil.as_ref().map(|anvil| anvil.child().id());
        let kubo = self.kubo.as_ref().map(KuboNode::pid);
        anvil.into_iter().chain(kubo).collect()
    }

    /// Stops the indexer and the gateway (letting them finish), then Kubo
    /// and Anvil.
    pub async fn shutdown(mut self) {
        if let Some(services) = self.services.take() {
            services.stop().await;
        }
        let (kubo, anvil) = (self.kubo.take(), self.anvil.take());
        // Anvil's handle waits for it to exit after SIGTERM: off the workers.
        let _ = tokio::task::spawn_blocking(move || {
            drop(kubo);
            drop(anvil);
        })
        .await;
        tracing::info!("local stack stopped");
    }
}

impl Drop for DevStack {
    fn drop(&mut self) {
        // The services go first so that they do not outlive the chain.
        drop(self.services.take());
        drop(self.kubo.take());
        drop(self.anvil.take());
    }
}

/// Empties `dir` (only if a dev stack made it) and marks it as ours.
fn prepare_dir(dir: &Path) -> Result<(), DevError> {
    let io_error = |source| DevError::Dir { path: dir.to_owned(), source };
    match fs::read_dir(dir) {
        Ok(mut entries) => {
            let empty = entries.next().is_none();
            if !empty && !dir.join(MARKER).is_file() {
                return Err(DevError::NotOurs { path: dir.to_owned() });
            }
            fs::remove_dir_all(dir).map_err(io_error)?;
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(error) => return Err(io_error(error)),
    }
    fs::create_dir_all(dir).map_err(io_error)?;
    fs::write(dir.join(MARKER), "a `medvault dev` stack folder: wiped at each start\n")
        .map_err(io_error)
}

/// Polls the indexer's `/v1/head` until it has reached `block`.
async fn wait_for_index(indexer: &Url, block: u64) -> Result<(), DevError> {
    let url = indexer.join("v1/head").map_err(|_| DevError::Url { url: indexer.to_string() })?;
    let client = reqwest::Client::new();
    let started = Instant::now();
    loop {
        let reached = async {
            let head: serde_json::Value = client
                .get(url.clone())
                .timeout(Duration::from_secs(5))
                .send()
                .await
                .ok()?
                .error_for_status()
                .ok()?
                .json()
                .await
                .ok()?;
            head["block"]["number"].as_u64()
        }
        .await;
        if reached.is_some_and(|reached| reached >= block) {
            return Ok(());
        }
        if started.elapsed() > INDEX_TIMEOUT {
            return Err(DevError::IndexTimeout { block, reached, after: INDEX_TIMEOUT });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn parse_url(url: &str) -> Result<Url, DevError> {
    url.parse().map_err(|_| DevError::Url { url: url.to_owned() })
}

fn url_of(address: SocketAddr) -> Result<Url, DevError> {
    parse_url(&format!("http://{address}"))
}

/// Why the local stack could not start.
#[derive(Debug, thiserror::Error)]
pub enum DevError {
    /// The stack folder could not be emptied or written.
    #[error("cannot prepare the stack folder {}", path.display())]
    Dir {
        /// The folder.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The stack folder holds files that no dev stack wrote.
    #[error(
        "{} is not empty and is not a dev stack folder; choose another --dir or empty it",
        path.display()
    )]
    NotOurs {
        /// The folder.
        path: PathBuf,
    },
    /// A tool is not installed.
    #[error(transparent)]
    Toolchain(#[from] ToolchainError),
    /// The contracts did not compile.
    #[error("cannot compile the contracts")]
    Compile(#[from] CompileError),
    /// A blocking task panicked.
    #[error("{what} failed")]
    Task {
        /// The task.
        what: &'static str,
    },
    /// Anvil did not start.
    #[error("cannot start anvil")]
    Anvil(#[from] AnvilError),
    /// Kubo did not start.
    #[error("cannot start kubo")]
    Kubo(#[from] KuboError),
    /// Anvil has fewer dev accounts than the stack uses.
    #[error("anvil has fewer than {needed} dev accounts")]
    TooFewAccounts {
        /// How many are needed.
        needed: usize,
    },
    /// MedVault could not be deployed.
    #[error("cannot deploy MedVault")]
    Deploy(#[source] Box<DeployerError>),
    /// The indexer or the gateway did not start.
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// The demo identities could not be seeded.
    #[error("cannot seed the demo identities")]
    Seed(#[from] SeedError),
    /// The indexer did not index the seeding in time.
    #[error("the indexer had not reached block {block} after {after:?} (it is at {reached:?})")]
    IndexTimeout {
        /// The block of the seeding's last transaction.
        block: u64,
        /// The last block the indexer reported, if any.
        reached: Option<u64>,
        /// How long it was given.
        after: Duration,
    },
    /// A service's address is not a URL.
    #[error("{url} is not a valid URL")]
    Url {
        /// What was parsed.
        url: String,
    },
    /// `stack.json` could not be written.
    #[error(transparent)]
    Stack(#[from] StackError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_start_wipes_its_own_folder_and_refuses_any_other() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("dev");
        prepare_dir(&dir).unwrap();
        fs::write(dir.join("stack.json"), "{}").unwrap();
        fs::write(dir.join("indexer.sqlite"), "old index").unwrap();
        prepare_dir(&dir).unwrap();
        let left: Vec<_> =
            fs::read_dir(&dir).unwrap().map(|entry| entry.unwrap().file_name()).collect();
        assert_eq!(left, [MARKER]);

        // An empty folder is taken; one with files of its own is not touched.
        let empty = root.path().join("empty");
        fs::create_dir(&empty).unwrap();
        prepare_dir(&empty).unwrap();
        let other = root.path().join("other");
        fs::create_dir(&other).unwrap();
        fs::write(other.join("notes.txt"), "mine").unwrap();
        assert!(matches!(prepare_dir(&other), Err(DevError::NotOurs { .. })));
        assert_eq!(fs::read_to_string(other.join("notes.txt")).unwrap(), "mine");
    }
}
