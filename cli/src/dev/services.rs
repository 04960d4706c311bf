//! The indexer and the gateway, run as tasks of this process through their
//! libraries, on loopback ports the kernel chooses.
//!
//! Both stop on one signal ([`Services::stop`]): the indexer's follower
//! finishes its batch and its API and the gateway's server let in-flight
//! requests finish. Dropping [`Services`] without stopping them aborts the
//! tasks.

use std::{
    net::{Ipv4Addr, SocketAddr},
    path::Path,
    time::Duration,
};

use alloy::{primitives::Address, signers::local::PrivateKeySigner};
use axum::http::HeaderValue;
use medvault_deploy::Secret;
use medvault_gateway::{
    Config,
    config::Limits,
    server::{Gateway, ServeError},
};
use medvault_indexer::{
    FollowConfig, Follower, Store, StoreError, SyncError,
    api::{self, ApiConfig, ApiState},
};
use tokio::{net::TcpListener, sync::watch, task::JoinHandle};
use url::Url;

/// How long the services may take to stop before their tasks are aborted.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the indexer looks for a new head if its subscription fails.
const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// How often the gateway anchors its access log (and sweeps stale uploads):
/// often, so that a demo's downloads show up anchored in the audit trail.
const ANCHOR_INTERVAL_SECS: u64 = 15;
/// Sign-in requests a second, sustained, and in a burst. Every demo
/// identity, the CLI, the web page and the tests sign in from the one
/// loopback address, so the per-IP limit meant for the Internet (0.5 a
/// second, 10 in a burst) would throttle a single developer's session.
const SIGN_IN_RATE: f64 = 10.0;
const SIGN_IN_BURST: f64 = 200.0;

/// Where the chain and the contract are, for both services.
#[derive(Debug, Clone)]
pub(super) struct ChainTarget {
    /// Anvil's HTTP endpoint.
    pub(super) rpc_url: Url,
    /// Anvil's WebSocket endpoint (the indexer subscribes to new heads).
    pub(super) ws_url: Url,
    /// The chain id.
    pub(super) chain_id: u64,
    /// MedVault.
    pub(super) contract: Address,
    /// Its deployment block.
    pub(super) deployment_block: u64,
    /// The folder holding the deployment manifest.
    pub(super) deployments: std::path::PathBuf,
}

/// The running indexer and gateway.
#[derive(Debug)]
pub(super) struct Services {
    stop: watch::Sender<bool>,
    tasks: Vec<(&'static str, JoinHandle<()>)>,
    /// The indexer's API.
    pub(super) indexer: SocketAddr,
    /// The gateway.
    pub(super) gateway: SocketAddr,
}

impl Services {
    /// Starts the indexer (its index in `dir/indexer.sqlite`) and then the
    /// gateway (its state in `dir/gateway.sqlite`), which relays with
    /// `relayer`, is the emergency custodian with `custodian` and serves the
    /// built web page in `web` when given one.
    pub(super) async fn start(
        dir: &Path,
        chain: &ChainTarget,
        ipfs_api: &Url,
        relayer: &PrivateKeySigner,
        custodian: &PrivateKeySigner,
        web: Option<&Path>,
    ) -> Result<Self, ServiceError> {
        let (stop, stopped) = watch::channel(false);
        let mut services =
            Self { stop, tasks: Vec::new(), indexer: unspecified(), gateway: unspecified() };

        // The gateway's port first: the indexer lets the page on that origin
        // read it.
        let listener = bind().await?;
        let address = listener.local_addr().map_err(ServiceError::Listen)?;

        let origin = HeaderValue::try_from(format!("http://{address}"))
            .map_err(|_| ServiceError::Origin { address })?;
        let (indexer, task) = start_indexer(dir, chain, origin, stopped.clone()).await?;
        services.indexer = indexer;
        services.tasks.push(("indexer", task));

        let mut config = gateway_config(dir, chain, ipfs_api, address, relayer, custodian);
        config.web_dir = web.map(Path::to_path_buf);
        config.indexer_url = Some(
            Url::parse(&format!("http://{indexer}/"))
                .map_err(|_| ServiceError::Origin { address: indexer })?,
        );
        let gateway = Gateway::start(&config, listener).await.map_err(ServiceError::Gateway)?;
        services.gateway = address;
        services.tasks.push((
            "gateway",
            tokio::spawn(async move {
                if let Err(error) = gateway.serve(until(stopped)).await {
                    tracing::error!(error = %error, "the gateway stopped");
                }
            }),
        ));
        Ok(services)
    }

    /// Asks every service to stop and waits for them (aborting those that
    /// take longer than [`STOP_TIMEOUT`]).
    pub(super) async fn stop(mut self) {
        let _ = self.stop.send(true);
        for (name, mut task) in std::mem::take(&mut self.tasks) {
            if tokio::time::timeout(STOP_TIMEOUT, &mut task).await.is_err() {
                tracing::warn!(service = name, "did not stop in time; aborted");
                task.abort();
            }
        }
    }
}

impl Drop for Services {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        for (_, task) in &self.tasks {
            task.abort();
        }
    }
}

/// Opens the index, starts the follower and serves the query API, readable
/// by a page from `origin`.
async fn start_indexer(
    dir: &Path,
    chain: &ChainTarget,
    origin: HeaderValue,
    stopped: watch::Receiver<bool>,
) -> Result<(SocketAddr, JoinHandle<()>), ServiceError> {
    let database = dir.join("indexer.sqlite");
    let store =
        Store::connect(&database.to_string_lossy()).await.map_err(ServiceError::IndexStore)?;
    store.migrate().await.map_err(ServiceError::IndexStore)?;
    let mut config = FollowConfig::new(chain.chain_id, chain.contract, chain.deployment_block);
    config.poll_interval = POLL_INTERVAL;
    let follower = Follower::connect(chain.ws_url.as_str(), store.clone(), config)
        .await
        .map_err(ServiceError::Follower)?;
    let listener = bind().await?;
    let address = listener.local_addr().map_err(ServiceError::Listen)?;
    let router = api::router(ApiState::new(store, chain.chain_id, ApiConfig::default()))
        .layer(api::cors([origin]));
    let api_stopped = stopped.clone();
    let task = tokio::spawn(async move {
        let api =
            tokio::spawn(async move { api::serve(listener, router, until(api_stopped)).await });
        if let Err(error) = follower.run(until(stopped)).await {
            // An index that is wrong is not served.
            tracing::error!(error = %error, "the indexer stopped");
            api.abort();
        }
        if let Ok(Err(error)) = api.await {
            tracing::error!(error = %error, "the indexer API failed");
        }
    });
    Ok((address, task))
}

/// The gateway's configuration for the dev stack: everything on loopback,
/// its state under `dir`, the sign-in domain its own address.
fn gateway_config(
    dir: &Path,
    chain: &ChainTarget,
    ipfs_api: &Url,
    listen: SocketAddr,
    relayer: &PrivateKeySigner,
    custodian: &PrivateKeySigner,
) -> Config {
    let secret = |signer: &PrivateKeySigner| Secret::new(alloy::hex::encode(signer.to_bytes()));
    Config {
        listen,
        rpc_url: chain.rpc_url.clone(),
        chain_id: Some(chain.chain_id),
        contract: Some(chain.contract),
        from_block: Some(chain.deployment_block),
        deployments: chain.deployments.clone(),
        ipfs_url: ipfs_api.clone(),
        database: dir.join("gateway.sqlite"),
        domain: listen.to_string(),
        relayer_key: Some(secret(relayer)),
        keystore: None,
        password_file: None,
        session_secret: None,
        custodian_key: Some(secret(custodian)),
        custodian_keystore: None,
        custodian_password_file: None,
        web_dir: None,
        indexer_url: None,
        limits: Limits {
            anchor_interval_secs: ANCHOR_INTERVAL_SECS,
            sign_in_rate: SIGN_IN_RATE,
            sign_in_burst: SIGN_IN_BURST,
            ..Limits::default()
        },
    }
}

async fn bind() -> Result<TcpListener, ServiceError> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.map_err(ServiceError::Listen)
}

fn unspecified() -> SocketAddr {
    (Ipv4Addr::UNSPECIFIED, 0).into()
}

/// Resolves once `stopped` turns true (or its sender is gone).
async fn until(mut stopped: watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stop| *stop).await;
}

/// Why a service could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// No loopback port could be bound.
    #[error("cannot listen on a loopback port")]
    Listen(#[source] std::io::Error),
    /// The index could not be opened or migrated.
    #[error("cannot open the index")]
    IndexStore(#[source] StoreError),
    /// The indexer's follower could not connect to the chain.
    #[error("cannot start the indexer")]
    Follower(#[source] SyncError),
    /// The gateway could not start.
    #[error("cannot start the gateway")]
    Gateway(#[source] ServeError),
    /// A service's address makes no origin or URL.
    #[error("{address} makes no http origin")]
    Origin {
        /// The address.
        address: SocketAddr,
    },
}
