//! Running the gateway: the state, its background tasks and the HTTP server,
//! started from a [`Config`] and stopped by one future.
//!
//! [`Gateway::start`] does everything that can fail before a request is
//! served (the relayer's key, the chain and the contracts, the database, the
//! emergency custodian's key), on a listener the caller has bound, so that a
//! caller that asked for port 0 knows the port before the state is built.
//! [`Gateway::serve`] then runs the router with the maintenance task (the
//! pending-upload sweeper and the access log's anchoring) and the custodian
//! beside it until the shutdown future resolves. The binary runs it until
//! SIGINT or SIGTERM; `medvault dev` runs it as a task of its own process.

use std::{future::Future, io, net::SocketAddr, time::Duration};

use alloy::providers::DynProvider;
use axum::serve::ListenerExt as _;
use tokio::net::TcpListener;

use crate::{
    AppState, Config,
    config::ConfigError,
    custodian::{self, Custodian, CustodianError},
    router, router_with_page,
    state::StartError,
    web::Page,
};

/// How often the emergency custodian looks for new break-glass openings.
const CUSTODIAN_POLL: Duration = Duration::from_secs(2);

/// A gateway ready to serve: its state is built and its listener bound.
#[derive(Debug)]
pub struct Gateway {
    state: AppState,
    listener: TcpListener,
    custodian: Option<Custodian<DynProvider>>,
    anchor_interval: Duration,
    pending_ttl: Duration,
    page: Option<Page>,
}

impl Gateway {
    /// Binds `config.listen`, then [`Gateway::start`]s on it.
    pub async fn bind(config: &Config) -> Result<Self, ServeError> {
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|source| ServeError::Listen { address: config.listen, source })?;
        Self::start(config, listener).await
    }

    /// Builds the state from `config` and, when the configuration holds a
    /// custodian key, the emergency custodian; the gateway will serve on
    /// `listener` (`config.listen` is not used).
    pub async fn start(config: &Config, listener: TcpListener) -> Result<Self, ServeError> {
        let state = AppState::from_config(config).await?;
        tracing::info!(
            relayer = %state.relayer.address(),
            vault = %state.chain.vault.address(),
            chain_id = state.chain.chain_id,
            "gateway state ready"
        );
        let custodian = match config.custodian_key_source().map_err(ServeError::CustodianConfig)? {
            Some(source) => {
                // A keystore's KDF takes a second or more: off the async workers.
                let wallet = tokio::task::spawn_blocking(move || source.signer())
                    .await
                    .map_err(|_| ServeError::CustodianKeyTask)?
                    .map_err(ServeError::CustodianKey)?;
                let custodian = custodian::start(
                    wallet,
                    config.rpc_url.clone(),
                    *state.chain.vault.address(),
                    state.chain.chain_id,
                    state.chain.deployment_block,
                )
                .await
                .map_err(ServeError::Custodian)?;
                Some(custodian.persisting(state.db.clone(), state.chain.chain_id))
            }
            None => None,
        };
        let limits = &config.limits;
        let page =
            config.web_dir.clone().map(|dir| Page { dir, indexer_url: config.indexer_url.clone() });
        Ok(Self {
            page,
            state,
            listener,
            custodian,
            anchor_interval: Duration::from_secs(limits.anchor_interval_secs.max(1)),
            pending_ttl: Duration::from_secs(limits.pending_ttl_secs),
        })
    }

    /// The address the gateway listens on.
    pub fn local_addr(&self) -> Result<SocketAddr, ServeError> {
        self.listener.local_addr().map_err(ServeError::Serve)
    }

    /// The state every handler shares.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then lets in-flight requests finish,
    /// stops the background tasks and closes the database.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let Self { state, listener, custodian, anchor_interval, pending_ttl, page } = self;
        let maintenance =
            tokio::spawn(crate::records::maintain(state.clone(), anchor_interval, pending_ttl));
        let custodian = custodian.map(|custodian| {
            tracing::info!("emergency custodian watching break-glass openings");
            tokio::spawn(async move { custodian.run(CUSTODIAN_POLL).await })
        });
        if let Ok(address) = listener.local_addr() {
            tracing::info!(%address, "gateway listening");
        }
        let db = state.db.clone();
        let uploads = state.uploads.clone();
        let app = match page {
            Some(page) => {
                tracing::info!(dir = %page.dir.display(), "serving the web page");
                router_with_page(state, page)
            }
            None => router(state),
        };
        // Small answers (a JSON body, a response head before a stream) leave
        // at once rather than wait on Nagle for the previous write's ACK.
        let listener = listener.tap_io(|tcp| {
            if let Err(error) = tcp.set_nodelay(true) {
                tracing::debug!(%error, "cannot set TCP_NODELAY");
            }
        });
        let served = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(shutdown)
            .await;
        // Open upload sessions end in an error, so that Kubo pins none of
        // their half-sent records.
        uploads.close_all().await;
        maintenance.abort();
        if let Some(custodian) = custodian {
            custodian.abort();
        }
        db.close().await;
        tracing::info!("gateway stopped");
        served.map_err(ServeError::Serve)
    }
}

/// Why the gateway could not start or stopped on an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The state could not be built.
    #[error(transparent)]
    Start(#[from] StartError),
    /// The custodian's key source is incomplete.
    #[error("the custodian key")]
    CustodianConfig(#[source] ConfigError),
    /// The custodian's key could not be opened.
    #[error("cannot open the custodian key")]
    CustodianKey(#[source] medvault_deploy::SignerError),
    /// The task that opens the custodian's key panicked.
    #[error("the task that opens the custodian key failed")]
    CustodianKeyTask,
    /// The custodian could not derive its key or read the chain.
    #[error("cannot start the emergency custodian")]
    Custodian(#[source] CustodianError),
    /// The listen address could not be bound.
    #[error("cannot listen on {address}")]
    Listen {
        /// The address.
        address: SocketAddr,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The server failed.
    #[error("the server failed")]
    Serve(#[source] io::Error),
}
