//! `medvault governance` and `medvault org`: organisations and their staff.
//!
//! Governance adds, suspends and restores organisations with its own
//! transactions (it pays its gas; the forwarder has no signed form of
//! these). An organisation adds and removes its staff with signed actions
//! that the gateway relays.

use std::time::Duration;

use alloy::{
    network::EthereumWallet,
    primitives::{Address, aliases::U40},
    providers::ProviderBuilder,
};
use anyhow::Context as _;
use clap::Subcommand;
use medvault_core::{bindings::MedVault, revert::Revert, sig};

use crate::{
    context::{Actor, Context, unix_now},
    input,
    output::{Output, Report},
};

/// Governance's commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Organisations.
    #[command(subcommand)]
    Org(Org),
}

/// `governance org`.
#[derive(Debug, Subcommand)]
pub enum Org {
    /// Add an organisation.
    Add {
        /// The organisation's account.
        #[arg(value_parser = input::address)]
        organisation: Address,
    },
    /// Suspend an organisation: its staff lose access.
    Suspend {
        /// The organisation's account.
        #[arg(value_parser = input::address)]
        organisation: Address,
    },
    /// Restore a suspended organisation.
    Restore {
        /// The organisation's account.
        #[arg(value_parser = input::address)]
        organisation: Address,
    },
}

/// Runs a governance command.
pub async fn run(ctx: Context, command: Command) -> anyhow::Result<Output> {
    let signer = ctx.signer().await?;
    let provider = ProviderBuilder::new()
        .wallet(EthereumWallet::from(signer))
        .connect_http(ctx.rpc_url.clone());
    let vault = MedVault::new(ctx.contract, provider);
    let Command::Org(org) = command;
    // Each arm is its own call type: the same steps, written once.
    macro_rules! transact {
        ($call:expr) => {{
            let call = $call;
            // Simulate first, so that a refusal is the contract's sentence.
            if let Err(error) = call.call().await {
                return Err(match Revert::from_contract_error(&error) {
                    Some(revert) => anyhow::anyhow!("{revert}"),
                    None => anyhow::Error::new(error).context("the chain did not answer"),
                });
            }
            call.send()
                .await
                .context("the transaction was not accepted")?
                .get_receipt()
                .await
                .context("no receipt for the transaction")?
        }};
    }
    let (action, organisation, receipt) = match org {
        Org::Add { organisation } => {
            ("organisation added", organisation, transact!(vault.addOrganisation(organisation)))
        }
        Org::Suspend { organisation } => (
            "organisation suspended",
            organisation,
            transact!(vault.suspendOrganisation(organisation)),
        ),
        Org::Restore { organisation } => (
            "organisation restored",
            organisation,
            transact!(vault.restoreOrganisation(organisation)),
        ),
    };
    if !receipt.status() {
        anyhow::bail!("the transaction {} was mined as reverted", receipt.transaction_hash);
    }
    Ok(Report::new(action)
        .fact("organisation", organisation)
        .fact("block", receipt.block_number)
        .transactions([receipt.transaction_hash])
        .output())
}

/// The organisation's commands.
#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Staff.
    #[command(subcommand)]
    Staff(Staff),
}

/// `org staff`.
#[derive(Debug, Subcommand)]
pub enum Staff {
    /// Add a staff member, or change their role or licence.
    Add {
        /// Their account.
        #[arg(value_parser = input::address)]
        staff: Address,
        /// doctor, nurse, lab or emergency.
        #[arg(long, value_parser = input::staff_role)]
        role: u8,
        /// How long their licence is valid, e.g. 365d.
        #[arg(long, value_parser = input::duration, default_value = "365d")]
        licence: Duration,
    },
    /// Remove a staff member.
    Remove {
        /// Their account.
        #[arg(value_parser = input::address)]
        staff: Address,
    },
}

/// Runs an organisation command.
pub async fn run_org(ctx: Context, command: OrgCommand) -> anyhow::Result<Output> {
    let actor = Actor::connect(ctx).await?;
    let OrgCommand::Staff(staff) = command;
    let report = match staff {
        Staff::Add { staff, role, licence } => {
            let expiry = unix_now() + licence.as_secs();
            let relayed = actor
                .relay(sig::AddStaff { staff, role, licence_expiry: U40::from(expiry) })
                .await?;
            Report::new("staff added")
                .fact("staff", staff)
                .fact("role", input::staff_role_name(role))
                .fact("licence_expiry", expiry)
                .transactions([relayed.transaction_hash])
        }
        Staff::Remove { staff } => {
            let relayed = actor.relay(sig::RemoveStaff { staff }).await?;
            Report::new("staff removed")
                .fact("staff", staff)
                .transactions([relayed.transaction_hash])
        }
    };
    Ok(report.output())
}
