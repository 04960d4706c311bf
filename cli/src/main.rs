//! `medvault`: MedVault from a terminal.

use clap::{Parser, Subcommand};
use medvault_cli::dev;
use tracing_subscriber::EnvFilter;

/// MedVault: patient-owned medical records, encrypted on IPFS, with consent on chain.
#[derive(Debug, Parser)]
#[command(name = "medvault", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the local stack (Anvil, Kubo, the contracts, the indexer, the gateway,
    /// demo identities) until Ctrl-C.
    Dev(dev::Args),
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Dev(args) => dev::run(args).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
