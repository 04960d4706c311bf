//! `medvault dev`: the whole local stack on one machine.
//!
//! [`DevStack`] is the stack as a library value (the end-to-end tests start
//! one each): Anvil and an isolated Kubo as child processes, MedVault
//! deployed, the indexer and the gateway as tasks of this process, the demo
//! identities seeded, `stack.json` written. [`run`] starts one, prints a
//! summary and stops it all on Ctrl-C or SIGTERM.

mod devstack;
pub mod seed;
mod services;

use std::path::PathBuf;

use anyhow::Context as _;
use medvault_tests::{Toolchain, toolchain::contracts_dir};

pub use devstack::{DevError, DevOptions, DevStack, default_dir};
pub use services::ServiceError;

use crate::stack::Role;

/// Options of `medvault dev`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The stack folder: stack.json, the indexer's and the gateway's SQLite
    /// files, the deployment manifest. Wiped at each start.
    #[arg(long, env = "MEDVAULT_DEV_DIR", default_value_os_t = default_dir())]
    pub dir: PathBuf,
    /// The Foundry project to compile and deploy.
    #[arg(long, env = "MEDVAULT_CONTRACTS", default_value_os_t = contracts_dir())]
    pub contracts: PathBuf,
    /// The folder with anvil, solc and ipfs (default: the workspace's .tools/bin).
    #[arg(long, env = medvault_tests::toolchain::TOOLS_BIN_ENV)]
    pub tools: Option<PathBuf>,
    /// The built web page the gateway serves (`npm run build` in web/); no
    /// page if the folder has no index.html.
    #[arg(long, env = "MEDVAULT_WEB_DIR", default_value_os_t = default_web_dir())]
    pub web: PathBuf,
}

/// The workspace's built web page: `web/dist`.
pub fn default_web_dir() -> PathBuf {
    medvault_tests::toolchain::workspace_root().join("web").join("dist")
}

/// Starts the local stack, prints where everything is, and stops it all on
/// Ctrl-C (or SIGTERM).
pub async fn run(args: Args) -> anyhow::Result<()> {
    let tools = args.tools.map(Toolchain::at).unwrap_or_else(Toolchain::locate);
    let web = if args.web.join("index.html").is_file() {
        Some(args.web)
    } else {
        tracing::info!(
            dir = %args.web.display(),
            "no built web page there (npm run build in web/): the gateway serves none"
        );
        None
    };
    let options = DevOptions { dir: args.dir, contracts: args.contracts, tools, web };
    let dev = tokio::select! {
        started = DevStack::start(options) => started.context("cannot start the local stack")?,
        // Whatever had started is dropped with the start future, which stops it.
        () = shutdown_signal() => return Ok(()),
    };
    print_summary(&dev);
    shutdown_signal().await;
    tracing::info!("stopping the local stack");
    dev.shutdown().await;
    Ok(())
}

fn print_summary(dev: &DevStack) {
    let stack = dev.stack();
    println!("MedVault local stack is running (Ctrl-C stops it):");
    println!("  chain (anvil)   {}  chain id {}", bare(&stack.rpc_url), stack.chain_id);
    println!(
        "  MedVault        {}  (deployed in block {})",
        stack.contract, stack.deployment_block
    );
    println!("  forwarder       {}", stack.forwarder);
    println!("  gateway         {}", bare(&stack.gateway_url));
    if let Some(page) = dev.page_url() {
        println!("  web page        {page}");
    }
    println!("  indexer         {}", bare(&stack.indexer_url));
    println!("  IPFS RPC API    {}", bare(&stack.ipfs_api_url));
    println!("identities (their keys are in the stack file):");
    for role in Role::ALL {
        if let Ok(identity) = stack.identity(role) {
            println!("  {:<17} {}  {}", role.as_str(), identity.address, describe(role));
        }
    }
    println!("  {:<17} {}  the gateway's relayer", "relayer", dev.relayer());
    println!(
        "  {:<17} {}  the gateway's emergency custodian, named by the patient",
        "custodian",
        dev.custodian()
    );
    println!("stack file: {}", dev.stack_path().display());
}

/// A base URL as one types it, without the trailing slash `Url` adds.
fn bare(url: &url::Url) -> &str {
    url.as_str().trim_end_matches('/')
}

/// What each demo identity is, for the summary.
fn describe(role: Role) -> &'static str {
    match role {
        Role::Governance => "adds, suspends and restores organisations",
        Role::Hospital => "the hospital (an active organisation)",
        Role::Doctor => "a doctor of the hospital",
        Role::EmergencyDoctor => "a doctor of the hospital with the emergency role",
        Role::Patient => "a registered patient",
        Role::Guardian => "the patient's guardian (manage consent and read)",
        Role::Device => "the patient's device (vitals, category 1)",
    }
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
