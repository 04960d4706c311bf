//! `medvault`: MedVault from a terminal.

use clap::{Parser, Subcommand};
use medvault_cli::{
    context::{Context, GlobalArgs},
    demo, dev, device, doctor, governance,
    output::print_line,
    patient, watch,
};
use tracing_subscriber::EnvFilter;

/// MedVault: patient-owned medical records, encrypted on IPFS, with consent on chain.
#[derive(Debug, Parser)]
#[command(name = "medvault", version)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the local stack (Anvil, Kubo, the contracts, the indexer, the gateway,
    /// demo identities) until Ctrl-C.
    Dev(dev::Args),
    /// Governance: add, suspend and restore organisations.
    #[command(subcommand)]
    Governance(governance::Command),
    /// An organisation: add and remove staff.
    #[command(subcommand)]
    Org(governance::OrgCommand),
    /// A patient (or their guardian): records, consent, guardians, devices.
    #[command(subcommand)]
    Patient(patient::Command),
    /// A staff member: requests, records, fetch, break-glass.
    #[command(subcommand)]
    Doctor(doctor::Command),
    /// A patient's device.
    #[command(subcommand)]
    Device(device::Command),
    /// Follow the live stream of requests, grants and alerts.
    Watch(watch::Args),
    /// Tell MedVault's whole story against a running dev stack, step by step.
    Demo(demo::Args),
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // The stack's progress is worth reading; an actor command's output is
    // its result alone.
    let default_level = if matches!(cli.command, Command::Dev(_)) { "info" } else { "warn" };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level)),
        )
        .with_writer(std::io::stderr)
        .init();
    let json = cli.global.json;
    let result = match cli.command {
        Command::Dev(args) => dev::run(args).await.map(|()| None),
        Command::Demo(args) => demo::run(cli.global, args).await.map(Some),
        Command::Watch(args) => match Context::resolve(cli.global) {
            Ok(ctx) => watch::run(ctx, args).await.map(|()| None),
            Err(error) => Err(error.into()),
        },
        command => match Context::resolve(cli.global) {
            Ok(ctx) => match command {
                Command::Governance(command) => governance::run(ctx, command).await,
                Command::Org(command) => governance::run_org(ctx, command).await,
                Command::Patient(command) => patient::run(ctx, command).await,
                Command::Doctor(command) => doctor::run(ctx, command).await,
                Command::Device(command) => device::run(ctx, command).await,
                Command::Dev(_) | Command::Watch(_) | Command::Demo(_) => unreachable_command(),
            }
            .map(Some),
            Err(error) => Err(error.into()),
        },
    };
    match result {
        Ok(Some(output)) => match print_line(output.render(json)) {
            Ok(_) => std::process::ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("error: cannot write the result: {err}");
                std::process::ExitCode::FAILURE
            }
        },
        Ok(None) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            if json {
                let body = serde_json::json!({ "error": format!("{err:#}") });
                let _ = print_line(body);
            }
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn unreachable_command() -> anyhow::Result<medvault_cli::output::Output> {
    anyhow::bail!("this command is dispatched above")
}
