//! `medvault dev`: the whole local stack on one machine.

use std::path::PathBuf;

use alloy::{
    primitives::Address, providers::ProviderBuilder, signers::local::PrivateKeySigner,
    sol_types::SolValue,
};
use anyhow::Context as _;
use medvault_deploy::{ContractsCompiler, deploy};
use medvault_tests::{KuboNode, Toolchain, spawn_anvil, toolchain::contracts_dir};

/// Options of `medvault dev`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The Foundry project to compile and deploy.
    #[arg(long, env = "MEDVAULT_CONTRACTS", default_value_os_t = contracts_dir())]
    pub contracts: PathBuf,
    /// The folder with anvil, solc and ipfs (default: the workspace's .tools/bin).
    #[arg(long, env = medvault_tests::toolchain::TOOLS_BIN_ENV)]
    pub tools: Option<PathBuf>,
}

/// Starts Anvil and Kubo, deploys the contracts, prints where everything is,
/// and stops it all on Ctrl-C (or SIGTERM).
pub async fn run(args: Args) -> anyhow::Result<()> {
    let tools = args.tools.map(Toolchain::at).unwrap_or_else(Toolchain::locate);

    let solc = tools.solc()?;
    let compiler = ContractsCompiler::new(&args.contracts, solc);
    let compiled = tokio::task::spawn_blocking(move || compiler.compile())
        .await
        .context("the compiler task failed")?
        .with_context(|| format!("cannot compile {}", args.contracts.display()))?;
    tracing::info!(solc = compiled.compiler_version(), "contracts compiled");

    let anvil = spawn_anvil(&tools).context("cannot start anvil")?;
    let kubo = KuboNode::spawn(&tools).await.context("cannot start kubo")?;

    let deployer = PrivateKeySigner::from(anvil.first_key().clone());
    // Locally, Anvil's first account deploys and is governance.
    let governance = deployer.address();
    let provider = ProviderBuilder::new().wallet(deployer).connect_http(anvil.endpoint_url());
    let vault = deploy(&provider, compiled.contract("MedVault")?, &governance.abi_encode())
        .await
        .context("cannot deploy the MedVault contract")?;

    print_summary(&anvil.endpoint(), anvil.chain_id(), vault, governance, &kubo);

    shutdown_signal().await;
    tracing::info!("stopping the local stack");
    drop(kubo);
    drop(anvil);
    Ok(())
}

fn print_summary(rpc: &str, chain_id: u64, vault: Address, governance: Address, kubo: &KuboNode) {
    println!("MedVault local stack is running (Ctrl-C stops it):");
    println!("  chain (anvil)   {rpc}  chain id {chain_id}");
    println!("  MedVault        {vault}");
    println!("  governance      {governance}");
    println!("  IPFS RPC API    {}", kubo.api_url());
    println!("  IPFS gateway    {}", kubo.gateway_url());
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
