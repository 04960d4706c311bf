//! [`AppState`]: what every handler shares, built once at start.

use std::{sync::Arc, time::Duration};

use alloy::{
    network::EthereumWallet,
    primitives::Address,
    providers::{DynProvider, Provider, ProviderBuilder},
    transports::http::reqwest::Url,
};
use medvault_core::bindings::{forwarder::MedVaultForwarder, vault::MedVault};
use medvault_deploy::Manifest;
use sqlx::sqlite::SqlitePool;
use zeroize::Zeroizing;

use crate::{
    config::{Config, ConfigError, Limits},
    idempotency::Idempotency,
    ipfs::Ipfs,
    limit::RateLimits,
    metrics::Metrics,
    records::DataPath,
    relay::Relayer,
    session::SessionKeys,
    store::{self, StoreError},
    upload_session::UploadSessions,
};

/// The chain: one provider for reads, the chain id it serves and the
/// contracts. The provider holds no key: whatever the gateway sends as the
/// relayer goes through [`Relayer::submit`] and its one nonce manager.
#[derive(Debug, Clone)]
pub struct Chain {
    /// The provider, shared by every request.
    pub provider: DynProvider,
    /// The chain id, checked at start.
    pub chain_id: u64,
    /// MedVault.
    pub vault: MedVault::MedVaultInstance<DynProvider>,
    /// MedVault's forwarder, the target of relayed `...BySig` calls.
    pub forwarder: MedVaultForwarder::MedVaultForwarderInstance<DynProvider>,
    /// The block MedVault was deployed in: event scans start there.
    pub deployment_block: u64,
}

impl Chain {
    /// Connects to `rpc_url`, checks the chain id if one is expected, and
    /// finds the forwarder of `vault`. Without `vault`, the deployment
    /// manifest in `deployments` names it; without `from_block`, the manifest
    /// gives the deployment block if it records this contract, else event
    /// scans start at 0.
    pub async fn connect(
        rpc_url: Url,
        expected_chain_id: Option<u64>,
        vault: Option<Address>,
        from_block: Option<u64>,
        deployments: &std::path::Path,
    ) -> Result<Self, StartError> {
        let provider = ProviderBuilder::new().connect_http(rpc_url).erased();
        let chain_id = provider.get_chain_id().await.map_err(|source| StartError::Chain {
            reason: "the node does not answer eth_chainId",
            source: Some(source),
        })?;
        if let Some(expected) = expected_chain_id
            && expected != chain_id
        {
            return Err(StartError::WrongChain { expected, actual: chain_id });
        }
        let path = Manifest::path(deployments, chain_id);
        let (vault, recorded) = match vault {
            // Given an address, a manifest only helps if it records it.
            Some(address) => {
                let recorded = Manifest::load(&path, chain_id)
                    .ok()
                    .flatten()
                    .map(|manifest| manifest.deployment)
                    .filter(|deployment| deployment.med_vault == address);
                (address, recorded)
            }
            None => {
                let deployment = Manifest::load(&path, chain_id)
                    .map_err(StartError::Manifest)?
                    .ok_or(StartError::NoDeployment { path })?
                    .deployment;
                (deployment.med_vault, Some(deployment))
            }
        };
        let deployment_block = from_block
            .or(recorded.map(|deployment| deployment.deployment_block))
            .unwrap_or_default();
        let vault = MedVault::new(vault, provider.clone());
        let forwarder = vault.forwarder().call().await.map_err(|source| StartError::Chain {
            reason: "MedVault does not answer forwarder(): is the address right?",
            source: match source {
                alloy::contract::Error::TransportError(error) => Some(error),
                _ => None,
            },
        })?;
        let forwarder = MedVaultForwarder::new(forwarder, provider.clone());
        Ok(Self { provider, chain_id, vault, forwarder, deployment_block })
    }
}

/// What the handlers share. Cheap to clone: everything is behind an `Arc` or
/// is a handle already.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The chain and the contracts.
    pub chain: Chain,
    /// The relayer and its nonce manager.
    pub relayer: Arc<Relayer>,
    /// The gateway's SQLite database.
    pub db: SqlitePool,
    /// The idempotency store over `db`.
    pub idempotency: Arc<Idempotency>,
    /// The key that signs session tokens.
    pub sessions: Arc<SessionKeys>,
    /// The rate limiters.
    pub limits: Arc<RateLimits>,
    /// The counters behind `/metrics`.
    pub metrics: Arc<Metrics>,
    /// Kubo's RPC API, for the health check and the record routes.
    pub ipfs_url: Url,
    /// An HTTP client for Kubo's RPC API.
    pub http: reqwest::Client,
    /// The sign-in domain and limits.
    pub settings: Arc<Settings>,
    /// Uploads, downloads and the access log.
    pub data: Arc<DataPath>,
    /// The open upload sessions (records sent in parts).
    pub uploads: Arc<UploadSessions>,
}

/// The parts of the configuration that handlers read.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The domain that sign-in messages must name.
    pub domain: String,
    /// The limits.
    pub limits: Limits,
}

impl AppState {
    /// Builds the state from the configuration: opens the relayer's key and
    /// the database, connects to the chain and finds the contracts.
    pub async fn from_config(config: &Config) -> Result<Self, StartError> {
        let source = config.key_source().map_err(StartError::Config)?.ok_or(StartError::NoKey)?;
        // A keystore's KDF takes a second or more: off the async workers.
        let relayer = tokio::task::spawn_blocking(move || source.signer())
            .await
            .map_err(|_| StartError::KeyTask)?
            .map_err(StartError::Key)?;
        let wallet = EthereumWallet::from(relayer);
        let chain = Chain::connect(
            config.rpc_url.clone(),
            config.chain_id,
            config.contract,
            config.from_block,
            &config.deployments,
        )
        .await?;
        let db = store::open(&config.database).await.map_err(StartError::Store)?;
        let sessions = match &config.session_secret {
            Some(secret) => {
                let digits = secret.expose().trim();
                let digits = digits.strip_prefix("0x").unwrap_or(digits);
                let mut bytes = Zeroizing::new([0u8; 32]);
                alloy::hex::decode_to_slice(digits, bytes.as_mut_slice())
                    .map_err(|_| StartError::SessionSecret)?;
                SessionKeys::new(&bytes, config.limits.session_ttl())
            }
            None => SessionKeys::random(config.limits.session_ttl())
                .map_err(|_| StartError::SessionSecret)?,
        };
        let settings = Settings { domain: config.domain.clone(), limits: config.limits.clone() };
        let ipfs = Ipfs::new(config.ipfs_url.as_str()).map_err(StartError::Ipfs)?;
        Ok(Self::new(chain, wallet, db, sessions, config.ipfs_url.clone(), ipfs, settings))
    }

    /// Builds the state from its parts (tests build them directly).
    pub fn new(
        chain: Chain,
        relayer: EthereumWallet,
        db: SqlitePool,
        sessions: SessionKeys,
        ipfs_url: Url,
        ipfs: Ipfs,
        settings: Settings,
    ) -> Self {
        let relayer =
            Arc::new(Relayer::new(chain.clone(), relayer, settings.limits.receipt_timeout()));
        let data = DataPath::new(&chain, relayer.clone(), ipfs, db.clone());
        let limits = &settings.limits;
        let uploads = UploadSessions::new(
            limits.upload_idle(),
            limits.upload_part_limit,
            limits.upload_limit,
            limits.upload_sessions,
        );
        Self {
            uploads: Arc::new(uploads),
            data: Arc::new(data),
            relayer,
            idempotency: Arc::new(Idempotency::new(db.clone())),
            db,
            sessions: Arc::new(sessions),
            limits: Arc::new(RateLimits::new(&settings.limits)),
            metrics: Arc::default(),
            ipfs_url,
            http: reqwest::Client::new(),
            settings: Arc::new(settings),
            chain,
        }
    }

    /// How long a request may take.
    pub fn request_timeout(&self) -> Duration {
        self.settings.limits.request_timeout()
    }
}

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration is incomplete.
    #[error(transparent)]
    Config(ConfigError),
    /// No relayer key was given.
    #[error("no relayer key: give --relayer-key (MEDVAULT_RELAYER_KEY) or --keystore")]
    NoKey,
    /// The relayer's key could not be opened.
    #[error("cannot open the relayer key")]
    Key(#[source] medvault_deploy::SignerError),
    /// The task that opens the key panicked.
    #[error("the task that opens the relayer key failed")]
    KeyTask,
    /// `--session-secret` is not 32 bytes of hex, or no randomness.
    #[error("the session secret must be 32 bytes in hex")]
    SessionSecret,
    /// The chain's node failed.
    #[error("{reason}")]
    Chain {
        /// What was asked.
        reason: &'static str,
        /// The transport's error.
        #[source]
        source: Option<alloy::transports::TransportError>,
    },
    /// The node serves another chain.
    #[error("the node serves chain {actual}, not {expected}")]
    WrongChain {
        /// The configured chain id.
        expected: u64,
        /// The node's.
        actual: u64,
    },
    /// The deployment manifest could not be read.
    #[error("cannot read the deployment manifest")]
    Manifest(#[source] medvault_deploy::ManifestError),
    /// No contract was given and no manifest records one.
    #[error("no --contract and no deployment manifest at {}", path.display())]
    NoDeployment {
        /// Where the manifest was looked for.
        path: std::path::PathBuf,
    },
    /// The Kubo URL is not one the IPFS client takes.
    #[error(transparent)]
    Ipfs(crate::ipfs::IpfsError),
    /// The database could not be opened or migrated.
    #[error(transparent)]
    Store(StoreError),
}
