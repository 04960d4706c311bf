//! `medvault watch`: follows the indexer's live stream.
//!
//! New requests, grants, revocations, alerts and envelopes that concern a
//! patient or a grantee (by default the signer, or the `--as` identity),
//! one line each (one JSON document per line with `--json`), until Ctrl-C.
//! A dropped connection resumes from the last event id, so nothing is
//! missed or repeated.

use alloy::primitives::Address;
use clap::Args as ClapArgs;

use crate::{context::Context, input, output::print_line};

/// Options of `medvault watch`.
#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Follow this patient's events.
    #[arg(long, value_parser = input::address, conflicts_with = "grantee")]
    pub patient: Option<Address>,
    /// Follow this grantee's events.
    #[arg(long, value_parser = input::address)]
    pub grantee: Option<Address>,
    /// Stop after this many events.
    #[arg(long)]
    pub count: Option<usize>,
}

/// Follows the stream, printing each event as it comes.
pub async fn run(ctx: Context, args: Args) -> anyhow::Result<()> {
    let indexer = ctx.indexer()?;
    let query = match (args.patient, args.grantee) {
        (Some(patient), _) => vec![("patient", format!("{patient:#x}"))],
        (None, Some(grantee)) => vec![("grantee", format!("{grantee:#x}"))],
        (None, None) => {
            let signer = ctx.signer().await?;
            vec![("patient", format!("{:#x}", alloy::signers::Signer::address(&signer)))]
        }
    };
    let mut last: Option<String> = None;
    let mut seen = 0;
    loop {
        let mut stream = match indexer.stream(&query, last.as_deref()).await {
            Ok(stream) => stream,
            Err(error) if last.is_some() => {
                tracing::warn!(%error, "the stream dropped; reconnecting");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                continue;
            }
            Err(error) => return Err(error.into()),
        };
        while let Some(event) = stream.next().await? {
            if event.id.is_some() {
                last.clone_from(&event.id);
            }
            let printed = if ctx.json {
                print_line(serde_json::to_string(&event)?)?
            } else {
                print_line(format_args!("{:<22} {}", event.event, event.data))?
            };
            if !printed {
                return Ok(());
            }
            seen += 1;
            if args.count.is_some_and(|count| seen >= count) {
                return Ok(());
            }
        }
    }
}
