//! `medvault-gateway`: parses the configuration, builds the state and serves
//! the router until SIGINT or SIGTERM.

use std::{net::SocketAddr, process::ExitCode};

use anyhow::Context as _;
use clap::Parser;
use medvault_gateway::{AppState, Config, router};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    match run(Config::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> anyhow::Result<()> {
    let state = AppState::from_config(&config).await.context("cannot start the gateway")?;
    tracing::info!(
        relayer = %state.relayer.address(),
        vault = %state.chain.vault.address(),
        chain_id = state.chain.chain_id,
        "gateway state ready"
    );
    let limits = &config.limits;
    let maintenance = tokio::spawn(medvault_gateway::records::maintain(
        state.clone(),
        std::time::Duration::from_secs(limits.anchor_interval_secs.max(1)),
        std::time::Duration::from_secs(limits.pending_ttl_secs),
    ));
    let custodian = match config.custodian_key_source().context("custodian key")? {
        Some(source) => {
            let wallet = tokio::task::spawn_blocking(move || source.signer())
                .await
                .context("the custodian key task failed")?
                .context("cannot open the custodian key")?;
            let custodian = medvault_gateway::custodian::start(
                wallet,
                config.rpc_url.clone(),
                *state.chain.vault.address(),
                state.chain.chain_id,
                state.chain.deployment_block,
            )
            .await
            .context("cannot start the emergency custodian")?;
            tracing::info!("emergency custodian watching break-glass openings");
            Some(tokio::spawn(async move {
                custodian.run(std::time::Duration::from_secs(2)).await;
            }))
        }
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    tracing::info!(address = %config.listen, "gateway listening");
    axum::serve(listener, router(state).into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown())
        .await
        .context("the server failed")?;
    maintenance.abort();
    if let Some(custodian) = custodian {
        custodian.abort();
    }
    tracing::info!("gateway stopped");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM; in-flight requests then finish.
async fn shutdown() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {}
        _ = terminate => {}
    }
    tracing::info!("shutting down");
}
