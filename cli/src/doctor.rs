//! `medvault doctor`: a staff member's actions.
//!
//! A doctor asks a patient for access, sees who granted them what, lists a
//! patient's records, fetches one (the gateway checks `canRead` on chain,
//! serves the ciphertext with the envelopes sealed to the doctor; the record
//! is decrypted and its SHA-256 checked here against the chain), adds
//! records with a write grant, and in an emergency breaks the glass.

use std::{path::PathBuf, time::Duration};

use alloy::primitives::{Address, B256, U256, keccak256};
use anyhow::{Context as _, bail};
use clap::Subcommand;
use medvault_core::{
    keys::{CategoryKeyId, DataKey, KeyRing, RecordKeys},
    sig,
};
use medvault_gateway::download::Grant;

use crate::{
    context::{Actor, Context},
    gateway_client::GatewayError,
    indexer_client::{number, text},
    input::{self, Access, Categories},
    output::{Output, Report},
    patient::{self, record_line, request_line},
    transfer,
};

/// The staff member's commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Ask a patient for access to categories.
    Request {
        /// The patient.
        #[arg(value_parser = input::address)]
        patient: Address,
        /// The categories, e.g. labs,vitals.
        #[arg(long, value_parser = input::categories)]
        categories: Categories,
        /// read, or write (read and add records).
        #[arg(long, value_parser = input::access, default_value = "read")]
        access: Access,
        /// How long the access would last, e.g. 30d.
        #[arg(long, value_parser = input::duration, default_value = "30d")]
        duration: Duration,
        /// Why (kept off chain; its hash goes on chain).
        #[arg(long, default_value = "treatment")]
        purpose: String,
    },
    /// The patients who granted me access, and what.
    Patients,
    /// My requests and their outcome.
    Requests,
    /// A patient's records.
    Records {
        /// The patient.
        #[arg(long, value_parser = input::address)]
        patient: Address,
        /// Only this category.
        #[arg(long, value_parser = input::category)]
        category: Option<u8>,
    },
    /// Download a record, decrypt it and check it against the chain.
    Fetch {
        /// The record id.
        #[arg(value_parser = input::id)]
        record: U256,
        /// Where to write the plaintext.
        #[arg(short, long, value_parser = input::output_file)]
        output: PathBuf,
        /// Why (kept in the gateway's access log).
        #[arg(long, default_value = "treatment")]
        purpose: String,
    },
    /// Add a record to a patient's file (needs a write grant).
    AddRecord {
        /// The patient.
        #[arg(long, value_parser = input::address)]
        patient: Address,
        /// The file.
        #[arg(value_parser = input::existing_file)]
        file: PathBuf,
        /// Its category.
        #[arg(long, value_parser = input::category)]
        category: u8,
    },
    /// Emergency access to a patient's emergency category.
    #[command(subcommand)]
    BreakGlass(BreakGlass),
}

/// `doctor break-glass`.
#[derive(Debug, Subcommand)]
pub enum BreakGlass {
    /// Open a case (emergency staff).
    Open {
        /// The patient.
        #[arg(value_parser = input::address)]
        patient: Address,
        /// Why (kept off chain; its hash goes on chain).
        #[arg(long)]
        reason: String,
    },
    /// Review and close a case (the organisation).
    Close {
        /// The case id.
        #[arg(value_parser = input::id)]
        case: U256,
        /// justified or abuse.
        #[arg(long, value_parser = verdict)]
        verdict: u8,
    },
}

fn verdict(input: &str) -> Result<u8, String> {
    match input {
        "justified" => Ok(1),
        "abuse" => Ok(2),
        _ => Err(format!("{input:?} is not a verdict: use justified or abuse")),
    }
}

/// Runs a doctor command.
pub async fn run(ctx: Context, command: Command) -> anyhow::Result<Output> {
    let actor = Actor::connect(ctx).await?;
    let report = match command {
        Command::Request { patient, categories, access, duration, purpose } => {
            let write_mask = if access == Access::Write { categories.0 } else { 0 };
            let duration_secs =
                u32::try_from(duration.as_secs()).context("the duration is too long")?;
            let relayed = actor
                .relay(sig::RequestAccess {
                    patient,
                    read_mask: categories.0,
                    write_mask,
                    duration: duration_secs,
                    purpose_hash: keccak256(purpose.as_bytes()),
                })
                .await?;
            let staff = actor.address();
            let mine = actor.indexer.list(&format!("/v1/staff/{staff:#x}/requests"), &[]).await?;
            let id = mine
                .iter()
                .rev()
                .find(|r| {
                    text(r, "patient").and_then(|p| p.parse::<Address>().ok()) == Some(patient)
                })
                .and_then(|r| text(r, "id"))
                .unwrap_or("?")
                .to_owned();
            Report::new("requested")
                .fact("request", id)
                .fact("patient", patient)
                .fact("categories", categories.to_string())
                .fact("access", access)
                .transactions([relayed.transaction_hash])
        }
        Command::Patients => {
            let me = actor.address();
            let grants = actor.indexer.list(&format!("/v1/grantees/{me:#x}/grants"), &[]).await?;
            let mut report = Report::new(format!("patients who granted {me}")).list();
            for grant in grants {
                let line = format!(
                    "{}  {}  read {}  write {}  until {}",
                    text(&grant, "patient").unwrap_or("?"),
                    text(&grant, "status").unwrap_or("?"),
                    Categories(number(&grant, "readMask").unwrap_or(0)),
                    Categories(number(&grant, "writeMask").unwrap_or(0)),
                    number(&grant, "expiry").unwrap_or(0),
                );
                report = report.item(line, grant);
            }
            report
        }
        Command::Requests => {
            let me = actor.address();
            let items = actor.indexer.list(&format!("/v1/staff/{me:#x}/requests"), &[]).await?;
            let mut report = Report::new(format!("requests by {me}")).list();
            for item in items {
                report = report.item(request_line(&item), item);
            }
            report
        }
        Command::Records { patient, category } => {
            let items = actor.indexer.records(patient, category).await?;
            let mut report = Report::new(format!("records of {patient}")).list();
            for item in items {
                report = report.item(record_line(&item), item);
            }
            report
        }
        Command::Fetch { record, output, purpose } => {
            fetch(&actor, record, &output, &purpose).await?
        }
        Command::AddRecord { patient, file, category } => {
            patient::upload(&actor, patient, category, &file, false).await?
        }
        Command::BreakGlass(BreakGlass::Open { patient, reason }) => {
            let relayed = actor
                .relay(sig::OpenBreakGlass { patient, reason_hash: keccak256(reason.as_bytes()) })
                .await?;
            let cases = actor
                .indexer
                .list("/v1/break-glass", &[("patient", format!("{patient:#x}"))])
                .await?;
            let case = cases.last().and_then(|c| text(c, "id").map(str::to_owned));
            Report::new("glass broken")
                .fact("patient", patient)
                .fact("case", case)
                .transactions([relayed.transaction_hash])
        }
        Command::BreakGlass(BreakGlass::Close { case, verdict }) => {
            let relayed = actor.relay(sig::CloseBreakGlass { case_id: case, verdict }).await?;
            Report::new("case closed")
                .fact("case", case)
                .fact("verdict", if verdict == 1 { "justified" } else { "abuse" })
                .transactions([relayed.transaction_hash])
        }
    };
    Ok(report.output())
}

/// Fetches `record` into `output`: one gateway request brings the
/// ciphertext and the caller's key envelopes (the keys route is the
/// fallback for a gateway that did not send them), the data key comes from
/// whichever path the envelopes open, and while the bytes stream through the
/// decryptor the hash is checked against the chain's record header; the
/// output appears only once both agree.
pub async fn fetch(
    actor: &Actor,
    record: U256,
    output: &std::path::Path,
    purpose: &str,
) -> anyhow::Result<Report> {
    let started = std::time::Instant::now();
    let refused = |error: GatewayError| match error.code() {
        Some("forbidden") => anyhow::anyhow!(
            "{} may not read record {record}: the patient has not granted access to its category, \
             or the grant was revoked or has expired",
            actor.address()
        ),
        Some("not_found") => anyhow::anyhow!("there is no record {record}"),
        _ => error.into(),
    };
    let mut download = actor.gateway.download(record, purpose).await.map_err(refused)?;
    let grant = match download.grant.take() {
        Some(grant) if grant.record_id == record => grant,
        _ => actor.gateway.keys(record).await.map_err(refused)?,
    };
    if download.sha256.is_some_and(|announced| announced != grant.sha256) {
        bail!("the gateway announced two hashes for record {record}");
    }
    let data_key = data_key(actor, record, &grant).await?;
    // The hash to check is the chain's, not the gateway's word for it.
    let cid = transfer::cid_bytes(&grant.cid)?;
    let on_chain = async {
        if !actor.vault.verifyRecord(record, cid, grant.sha256).call().await? {
            bail!("the gateway's CID and hash for record {record} do not match the chain");
        }
        anyhow::Ok(())
    };
    let opened =
        transfer::download_record(download, &data_key, &grant.sha256.0, output, on_chain).await?;
    Ok(Report::new("fetched")
        .fact("record", record)
        .fact("patient", grant.patient)
        .fact("category", input::category_name(grant.category))
        .fact("cid", grant.cid)
        .fact("sha256", B256::from(grant.sha256))
        .fact("output", output.display().to_string())
        .fact("size", opened.plaintext_len)
        .fact("seconds", started.elapsed().as_secs_f64()))
}

/// The data key of `record`, by whichever path `grant`'s envelopes open:
/// a record-level envelope sealed to the actor, else the wrapped key under
/// the category key (through the rotation chain if needed).
async fn data_key(actor: &Actor, record: U256, grant: &Grant) -> anyhow::Result<DataKey> {
    let mut ring = KeyRing::new(actor.encryption_key().await?.clone());
    for envelope in &grant.category_envelopes {
        let id = CategoryKeyId {
            patient: grant.patient,
            category: grant.category,
            epoch: envelope.epoch,
        };
        let _ = ring.add_envelope(id, &envelope.sealed_key);
    }
    for rotation in &grant.rotations {
        let id = CategoryKeyId {
            patient: grant.patient,
            category: grant.category,
            epoch: rotation.epoch,
        };
        ring.add_rotation(id, rotation.sealed_previous_key.to_vec());
    }
    for sealed in &grant.record_envelopes {
        let keys = RecordKeys {
            patient: grant.patient,
            category: grant.category,
            epoch: grant.epoch,
            wrapped_key: &grant.wrapped_key,
            envelope: Some(sealed),
        };
        if let Ok(key) = ring.record_key(&keys) {
            return Ok(key);
        }
    }
    ring.record_key(&RecordKeys {
        patient: grant.patient,
        category: grant.category,
        epoch: grant.epoch,
        wrapped_key: &grant.wrapped_key,
        envelope: None,
    })
    .with_context(|| format!("no key to record {record} is sealed to {}", actor.address()))
}
