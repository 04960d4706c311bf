//! `medvault-indexer`: follows MedVault's events into SQLite or Postgres
//! (`run`), or checks an index against the chain (`check`).

use std::{net::SocketAddr, path::PathBuf, process::ExitCode, time::Duration};

use alloy::{
    primitives::Address,
    providers::{Provider, ProviderBuilder},
};
use anyhow::{Context as _, bail};
use clap::{Args, Parser, Subcommand};
use medvault_deploy::Manifest;
use medvault_indexer::{
    FollowConfig, Follower, Store,
    api::{self, ApiConfig, ApiState},
    check::{Difference, check},
};
use tracing::info;
use tracing_subscriber::EnvFilter;

/// MedVault's indexer.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Follows the contract's events into the database, from the deployment
    /// block, through restarts and reorgs.
    Run {
        #[command(flatten)]
        source: Source,
        /// Where the query API listens (e.g. 127.0.0.1:8545); no API without it.
        #[arg(long, env = "MEDVAULT_INDEXER_LISTEN")]
        listen: Option<SocketAddr>,
        /// Blocks behind the head to stay (0 on Anvil).
        #[arg(long, env = "MEDVAULT_CONFIRMATIONS", default_value_t = 0)]
        confirmations: u64,
        /// The deepest reorg repaired; a deeper one stops the indexer.
        #[arg(long, env = "MEDVAULT_MAX_REORG_DEPTH", default_value_t = 64)]
        max_reorg_depth: u64,
        /// Milliseconds between looks for a new head when not subscribed
        /// over WebSocket [default: 50 on loopback, 2000 otherwise].
        #[arg(long, env = "MEDVAULT_POLL_INTERVAL_MS")]
        poll_interval_ms: Option<u64>,
        /// An origin whose web page may read the API (CORS), e.g. the
        /// gateway's `http://127.0.0.1:8080`; repeat or separate with commas.
        #[arg(long, env = "MEDVAULT_INDEXER_CORS_ORIGINS", value_delimiter = ',')]
        cors_origin: Vec<axum::http::HeaderValue>,
    },
    /// Reads the logs again over the indexed range and reports every row that
    /// differs from the index; exits non-zero on a difference.
    Check {
        #[command(flatten)]
        source: Source,
    },
}

/// Which node, contract and database.
#[derive(Debug, Args)]
struct Source {
    /// The node's JSON-RPC URL: http(s):// polls, ws(s):// subscribes.
    #[arg(long, env = "MEDVAULT_RPC_URL", default_value = "http://127.0.0.1:8545")]
    rpc_url: String,
    /// The index: a SQLite file path or `sqlite:` URL, or a `postgres://` URL.
    #[arg(long, env = "MEDVAULT_DATABASE", default_value = "medvault-index.sqlite")]
    database: String,
    /// The chain [default: the node's].
    #[arg(long, env = "MEDVAULT_CHAIN_ID")]
    chain_id: Option<u64>,
    /// The MedVault contract [default: from the deployments manifest].
    #[arg(long, env = "MEDVAULT_CONTRACT", requires = "from_block")]
    contract: Option<Address>,
    /// The first block to index [default: the manifest's deployment block].
    #[arg(long, env = "MEDVAULT_FROM_BLOCK")]
    from_block: Option<u64>,
    /// The folder of `<chain-id>.json` manifests.
    #[arg(long, env = "MEDVAULT_DEPLOYMENTS", default_value = "deployments")]
    deployments: PathBuf,
    /// The largest `eth_getLogs` range, in blocks.
    #[arg(long, env = "MEDVAULT_MAX_RANGE", default_value_t = 2_000)]
    max_range: u64,
    /// The most logs in one batch (one transaction); a response with more is
    /// split, and the next range narrowed.
    #[arg(long, env = "MEDVAULT_MAX_LOGS", default_value_t = 10_000)]
    max_logs: usize,
}

impl Source {
    /// The follower's configuration, from the flags and the manifest.
    async fn config(&self) -> anyhow::Result<FollowConfig> {
        let chain_id = match self.chain_id {
            Some(id) => id,
            None => ProviderBuilder::new()
                .connect(&self.rpc_url)
                .await
                .with_context(|| format!("connecting to {}", self.rpc_url))?
                .get_chain_id()
                .await
                .context("asking the node for its chain id")?,
        };
        let (contract, from_block) = match (self.contract, self.from_block) {
            (Some(contract), Some(from)) => (contract, from),
            (contract, from) => {
                let path = Manifest::path(&self.deployments, chain_id);
                let manifest = Manifest::load(&path, chain_id)
                    .with_context(|| format!("reading {}", path.display()))?;
                let Some(manifest) = manifest else {
                    bail!("no manifest at {}: pass --contract and --from-block", path.display());
                };
                (
                    contract.unwrap_or(manifest.deployment.med_vault),
                    from.unwrap_or(manifest.deployment.deployment_block),
                )
            }
        };
        let mut config = FollowConfig::new(chain_id, contract, from_block);
        config.max_range = self.max_range;
        config.max_logs = self.max_logs;
        Ok(config)
    }

    async fn store(&self) -> anyhow::Result<Store> {
        let store = Store::connect(&self.database).await.context("opening the database")?;
        store.migrate().await.context("migrating the database")?;
        Ok(store)
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Run {
            source,
            listen,
            confirmations,
            max_reorg_depth,
            poll_interval_ms,
            cors_origin,
        } => {
            let mut config = source.config().await?;
            config.confirmations = confirmations;
            config.max_reorg_depth = max_reorg_depth;
            let loopback = ["://127.0.0.1", "://localhost", "://[::1]"]
                .iter()
                .any(|h| source.rpc_url.contains(h));
            config.poll_interval = Duration::from_millis(poll_interval_ms.unwrap_or(if loopback {
                50
            } else {
                2_000
            }));
            let store = source.store().await?;
            let follower = Follower::connect(&source.rpc_url, store.clone(), config)
                .await
                .context("starting the follower")?;
            let chain_id = follower.config().chain_id;
            // One signal stops both the follower and the API.
            let (stop, stopped) = tokio::sync::watch::channel(false);
            tokio::spawn(async move {
                shutdown().await;
                let _ = stop.send(true);
            });
            let until_stopped = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            };
            let api = match listen {
                Some(listen) => {
                    let listener = tokio::net::TcpListener::bind(listen)
                        .await
                        .with_context(|| format!("listening on {listen}"))?;
                    info!(%listen, "serving the query API");
                    let mut router = api::router(ApiState::new(
                        store,
                        chain_id,
                        ApiConfig { reorg_window: max_reorg_depth, ..ApiConfig::default() },
                    ));
                    if !cors_origin.is_empty() {
                        router = router.layer(api::cors(cors_origin));
                    }
                    let stopped = stopped.clone();
                    Some(tokio::spawn(async move {
                        api::serve(listener, router, until_stopped(stopped)).await
                    }))
                }
                None => None,
            };
            info!(chain_id, contract = %follower.config().contract, "following");
            let followed = follower.run(until_stopped(stopped.clone())).await;
            if let Some(api) = api {
                if !*stopped.borrow() {
                    // The follower stopped on its own (a reorg too deep): the
                    // API stops too rather than serve an index that is wrong.
                    api.abort();
                }
                let _ = api.await;
            }
            followed.context("following the chain")?;
            info!("stopped");
            Ok(ExitCode::SUCCESS)
        }
        Command::Check { source } => {
            let config = source.config().await?;
            let store = source.store().await?;
            let follower = Follower::connect(&source.rpc_url, store, config.clone())
                .await
                .context("connecting to the node")?;
            let fetch = medvault_indexer::sync::FetchConfig {
                chain_id: config.chain_id,
                contract: config.contract,
                max_logs: config.max_logs,
                reorg_window: 0,
            };
            let report = check(
                follower.provider(),
                follower.store(),
                &fetch,
                config.from_block,
                config.max_range,
            )
            .await
            .context("checking the index")?;
            for difference in &report.differences {
                let (kind, row) = match difference {
                    Difference::Missing(row) => ("missing", row),
                    Difference::Extra(row) => ("extra", row),
                    Difference::Different { indexed, .. } => ("different", indexed),
                };
                println!(
                    "{kind}: {} row of log {} in transaction {} (block {})",
                    row.table,
                    row.position.log_index,
                    row.position.tx_hash,
                    row.position.block_number
                );
            }
            println!(
                "checked blocks {}..={}: {} rows, {} differences",
                report.from,
                report.to,
                report.rows,
                report.differences.len()
            );
            Ok(if report.is_clean() { ExitCode::SUCCESS } else { ExitCode::from(2) })
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
