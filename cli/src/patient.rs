//! `medvault patient`: a patient's (or their manage guardian's) actions.
//!
//! Every action is signed with EIP-712 and relayed by the gateway, so the
//! patient needs no ETH. Uploads are encrypted on this machine by default:
//! a fresh data key per record, wrapped under the category's key
//! ([`crate::keychain`]). Granting or approving access seals the category
//! keys to the grantee; revoking rotates the categories the grantee could
//! read, so the records added afterwards are out of their reach (what they
//! already fetched, they keep: see `docs/keys.md`).

use std::{path::PathBuf, time::Duration};

use alloy::primitives::{Address, B256, Bytes, U256, aliases::U40};
use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use medvault_core::{
    keys::DataKey,
    sig::{self, Action},
};
use medvault_gateway::upload::{Committed, RecordFields, ToSign, add_record};
use serde_json::Value;

use crate::{
    context::{Actor, Context, unix_now},
    gateway_client::UploadParams,
    indexer_client::{number, text},
    input::{self, Access, Categories},
    keychain,
    output::{Output, Report},
    transfer,
};

/// Whose records a command acts on: the signer's own, or (for a guardian
/// with the manage power) another patient's.
#[derive(Debug, Clone, Args)]
pub struct OnBehalf {
    /// The patient acted for (default: the signer).
    #[arg(long, value_parser = input::address)]
    pub patient: Option<Address>,
}

impl OnBehalf {
    fn resolve(&self, actor: &Actor) -> Address {
        self.patient.unwrap_or_else(|| actor.address())
    }
}

/// The patient's commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Register as a patient, with an encryption key derived from the wallet.
    Register,
    /// Encrypt a file and add it to the patient's records.
    Upload {
        /// The file.
        #[arg(value_parser = input::existing_file)]
        file: PathBuf,
        /// Its category (a name such as labs, or 0 to 63).
        #[arg(long, value_parser = input::category)]
        category: u8,
        /// Let the gateway encrypt (the plaintext crosses the network).
        #[arg(long)]
        server_side: bool,
        /// Whose records (a manage guardian names the patient).
        #[command(flatten)]
        on_behalf: OnBehalf,
    },
    /// List the patient's records.
    Records {
        /// Only this category.
        #[arg(long, value_parser = input::category)]
        category: Option<u8>,
        /// Whose records (a manage guardian names the patient).
        #[command(flatten)]
        on_behalf: OnBehalf,
    },
    /// Give a staff member access to categories.
    Grant {
        /// The staff member.
        #[arg(value_parser = input::address)]
        grantee: Address,
        /// The categories, e.g. labs,vitals or 2-4 or all.
        #[arg(long, value_parser = input::categories)]
        categories: Categories,
        /// read, or write (read and add records).
        #[arg(long, value_parser = input::access, default_value = "read")]
        access: Access,
        /// How long the grant lasts, e.g. 30d.
        #[arg(long, value_parser = input::duration, default_value = "30d")]
        expires: Duration,
        /// Whose records (a manage guardian names the patient).
        #[command(flatten)]
        on_behalf: OnBehalf,
    },
    /// Revoke a staff member's access and rotate the categories they held.
    Revoke {
        /// The staff member.
        #[arg(value_parser = input::address)]
        grantee: Address,
        /// Do not rotate the category keys.
        #[arg(long)]
        no_rotate: bool,
        /// Whose records (a manage guardian names the patient).
        #[command(flatten)]
        on_behalf: OnBehalf,
    },
    /// List access requests.
    Requests {
        /// Only pending ones.
        #[arg(long)]
        pending: bool,
        /// Whose records (a manage guardian names the patient).
        #[command(flatten)]
        on_behalf: OnBehalf,
    },
    /// Approve an access request and share the category keys it names.
    Approve {
        /// The request id.
        #[arg(value_parser = input::id)]
        request: U256,
    },
    /// Deny an access request.
    Deny {
        /// The request id.
        #[arg(value_parser = input::id)]
        request: U256,
    },
    /// Move a category to a new key epoch.
    Rotate {
        /// The category.
        #[arg(long, value_parser = input::category)]
        category: u8,
        /// Whose records (a manage guardian names the patient).
        #[command(flatten)]
        on_behalf: OnBehalf,
    },
    /// Name or remove a guardian.
    #[command(subcommand)]
    Guardian(Guardian),
    /// Register or remove a device.
    #[command(subcommand)]
    Device(Device),
    /// The accounting of disclosures: who read what, checked against the
    /// anchors on chain.
    Audit,
    /// Check a record's CID and hash against the chain.
    Verify {
        /// The record id.
        #[arg(value_parser = input::id)]
        record: U256,
    },
}

/// `patient guardian`.
#[derive(Debug, Subcommand)]
pub enum Guardian {
    /// Name a guardian.
    Add {
        /// The guardian.
        #[arg(value_parser = input::address)]
        guardian: Address,
        /// Their powers: manage, read, or both.
        #[arg(long, default_value = "manage,read", value_parser = powers)]
        powers: u8,
    },
    /// Remove a guardian.
    Remove {
        /// The guardian.
        #[arg(value_parser = input::address)]
        guardian: Address,
    },
}

/// `patient device`.
#[derive(Debug, Subcommand)]
pub enum Device {
    /// Register a device that may add records of one category.
    Add {
        /// The device's account.
        #[arg(value_parser = input::address)]
        device: Address,
        /// The category it writes.
        #[arg(long, value_parser = input::category, default_value = "vitals")]
        category: u8,
    },
    /// Remove a device.
    Remove {
        /// The device's account.
        #[arg(value_parser = input::address)]
        device: Address,
    },
}

/// Parses guardian powers: `manage` 1, `read` 2, both 3.
fn powers(input: &str) -> Result<u8, String> {
    let mut powers = 0;
    for part in input.split(',').map(str::trim) {
        powers |= match part {
            "manage" => 1,
            "read" => 2,
            _ => return Err(format!("{part:?} is not a power: use manage, read or manage,read")),
        };
    }
    Ok(powers)
}

/// Runs a patient command.
pub async fn run(ctx: Context, command: Command) -> anyhow::Result<Output> {
    let actor = Actor::connect(ctx).await?;
    let report = match command {
        Command::Register => register(&actor).await?,
        Command::Upload { file, category, server_side, on_behalf } => {
            let patient = on_behalf.resolve(&actor);
            upload(&actor, patient, category, &file, server_side).await?
        }
        Command::Records { category, on_behalf } => {
            records(&actor, on_behalf.resolve(&actor), category).await?
        }
        Command::Grant { grantee, categories, access, expires, on_behalf } => {
            grant(&actor, on_behalf.resolve(&actor), grantee, categories, access, expires).await?
        }
        Command::Revoke { grantee, no_rotate, on_behalf } => {
            revoke(&actor, on_behalf.resolve(&actor), grantee, !no_rotate).await?
        }
        Command::Requests { pending, on_behalf } => {
            requests(&actor, on_behalf.resolve(&actor), pending).await?
        }
        Command::Approve { request } => approve(&actor, request).await?,
        Command::Deny { request } => {
            let relayed = actor.relay(sig::DenyRequest { request_id: request }).await?;
            Report::new("denied").fact("request", request).transactions([relayed.transaction_hash])
        }
        Command::Rotate { category, on_behalf } => {
            rotate(&actor, on_behalf.resolve(&actor), category).await?
        }
        Command::Guardian(Guardian::Add { guardian, powers }) => {
            let relayed = actor.relay(sig::SetGuardian { guardian, powers }).await?;
            Report::new("guardian named")
                .fact("guardian", guardian)
                .fact("powers", powers)
                .transactions([relayed.transaction_hash])
        }
        Command::Guardian(Guardian::Remove { guardian }) => {
            let relayed = actor.relay(sig::RemoveGuardian { guardian }).await?;
            Report::new("guardian removed")
                .fact("guardian", guardian)
                .transactions([relayed.transaction_hash])
        }
        Command::Device(Device::Add { device, category }) => {
            let relayed = actor.relay(sig::AddDevice { device, category }).await?;
            Report::new("device added")
                .fact("device", device)
                .fact("category", input::category_name(category))
                .transactions([relayed.transaction_hash])
        }
        Command::Device(Device::Remove { device }) => {
            let relayed = actor.relay(sig::RemoveDevice { device }).await?;
            Report::new("device removed")
                .fact("device", device)
                .transactions([relayed.transaction_hash])
        }
        Command::Audit => audit(&actor).await?,
        Command::Verify { record } => verify(&actor, record).await?,
    };
    Ok(report.output())
}

async fn register(actor: &Actor) -> anyhow::Result<Report> {
    let key = actor.encryption_key().await?.public_key_bytes();
    if actor.vault.isPatient(actor.address()).call().await? {
        return Ok(Report::new("already registered")
            .fact("patient", actor.address())
            .fact("encryption_key", Bytes::copy_from_slice(&key)));
    }
    let relayed =
        actor.relay(sig::Register { encryption_key: Bytes::copy_from_slice(&key) }).await?;
    Ok(Report::new("registered")
        .fact("patient", actor.address())
        .fact("encryption_key", Bytes::copy_from_slice(&key))
        .transactions([relayed.transaction_hash]))
}

/// Uploads `file` as a record of `patient`'s `category` written by the
/// actor: encrypted here under a fresh data key wrapped with the category
/// key when the actor holds it (or can make it), else with record-level
/// envelopes sealed to the patient and the actor; or encrypted by the
/// gateway with `server_side`.
pub async fn upload(
    actor: &Actor,
    patient: Address,
    category: u8,
    file: &std::path::Path,
    server_side: bool,
) -> anyhow::Result<Report> {
    let started = std::time::Instant::now();
    let deadline = Actor::deadline();
    let mut transactions = Vec::new();
    let (to_sign, sealed) = if server_side {
        let params = UploadParams {
            patient,
            category,
            mode: Some("server"),
            epoch: None,
            wrapped_key: None,
            envelopes: None,
            deadline,
            signed: false,
        };
        let body = transfer::plaintext_body(file).await?;
        (actor.gateway.upload(&params, body).await?, None)
    } else {
        let data_key = DataKey::generate();
        // The file is sealed from now on, and the upload's request starts as
        // soon as the category key is known, while the author's forwarder
        // nonce is read; the `AddRecord` is signed with them once the last
        // segment is sealed and goes at the end of the upload's body: one
        // request stores and commits the record.
        let (sign_with, signing) = tokio::sync::oneshot::channel::<(RecordFields, U256)>();
        let (signer, domain) = (actor.signer.clone(), actor.domain.clone());
        let sign = move |sealed: medvault_core::record::Sealed, cid: Vec<u8>| async move {
            let (fields, nonce) =
                signing.await.context("the upload stopped before its keys were read")?;
            let action = fields.add_record(Bytes::copy_from_slice(&cid), sealed.sha256.into());
            let auth = action.authorise(&signer, &domain, nonce, deadline).await?;
            // The trailer: the CID signed, then the signature.
            anyhow::Ok(Bytes::from([&cid[..], &auth.signature[..]].concat()))
        };
        let (body, sealing) = transfer::signed_record_body(file, data_key.clone(), sign).await?;
        let first_nonce = {
            let (forwarder, author) = (actor.forwarder.clone(), actor.address());
            tokio::spawn(async move { forwarder.nonces(author).call().await })
        };
        let (epoch, wrapped_key, envelopes, made) =
            match category_key(actor, patient, category).await? {
                Some((key, made)) => {
                    let wrapped = Bytes::from(key.wrap_data_key(&data_key)?);
                    (Some(key.id().epoch), Some(wrapped), None, made)
                }
                None => {
                    let envelopes = record_envelopes(actor, patient, category, &data_key).await?;
                    (None, None, Some(envelopes), None)
                }
            };
        let fields = RecordFields {
            author: actor.address(),
            patient,
            category,
            epoch: epoch.unwrap_or_default(),
            wrapped_key: wrapped_key.clone().unwrap_or_default(),
            amends: U256::ZERO,
            envelopes: envelopes.clone().unwrap_or_default(),
        };
        let params = UploadParams {
            patient,
            category,
            mode: None,
            epoch,
            wrapped_key,
            envelopes: envelopes.map(|e| serde_json::to_string(&e)).transpose()?,
            deadline,
            signed: true,
        };
        let nonce = async {
            let nonce = match made {
                // Publishing the category key took a nonce.
                Some(_) => actor.forwarder.nonces(actor.address()).call().await?,
                None => first_nonce.await??,
            };
            // Refused only if the sealing failed already: the body then ends
            // in that error.
            let _ = sign_with.send((fields, nonce));
            anyhow::Ok(())
        };
        let upload = async { anyhow::Ok(actor.gateway.upload(&params, body).await?) };
        let (to_sign, ()) = tokio::try_join!(upload, nonce)?;
        transactions.extend(made);
        let (sealed, _cid) = sealing.await.context("the encryption task failed")??;
        if to_sign.upload.sha256 != B256::from(sealed.sha256) {
            bail!("the gateway stored a record whose hash differs from the one encrypted here");
        }
        (to_sign, Some(sealed))
    };
    let upload = &to_sign.upload;
    let committed = match to_sign.committed {
        // The gateway committed with the signature the body ended with: the
        // record is the one signed here.
        Some(committed) => committed,
        // The upload is pending (server-side encryption, or a signature the
        // gateway could not use: a nonce that moved, a CID that differs).
        None => commit(actor, &to_sign, deadline).await?,
    };
    transactions.push(committed.tx_hash);
    // The next read (`records`, `verify`) goes through the indexer.
    actor.wait_indexed(committed.block_number).await;
    let mut report = Report::new("uploaded")
        .fact("record", committed.record_id)
        .fact("patient", patient)
        .fact("category", input::category_name(category))
        .fact("cid", &upload.cid)
        .fact("sha256", upload.sha256)
        .fact("size", upload.size)
        .fact("encryption", if server_side { "gateway" } else { "client" });
    if let Some(sealed) = sealed {
        report = report.fact("plaintext_size", sealed.plaintext_len);
    }
    Ok(report.fact("seconds", started.elapsed().as_secs_f64()).transactions(transactions))
}

/// Signs the `AddRecord` of the pending upload `to_sign` and commits it.
async fn commit(actor: &Actor, to_sign: &ToSign, deadline: u64) -> anyhow::Result<Committed> {
    let upload = &to_sign.upload;
    let action = add_record(upload)?;
    // Sign only what we computed ourselves, and check it is what the gateway
    // will submit.
    if action.signing_hash(&actor.domain, actor.address(), to_sign.nonce, deadline)
        != to_sign.signing_hash
    {
        bail!("the gateway asked to sign another record than the one uploaded");
    }
    let auth = action.authorise(&actor.signer, &actor.domain, to_sign.nonce, deadline).await?;
    Ok(actor.gateway.commit(&upload.id, deadline, auth.signature).await?)
}

/// The category key the actor wraps with: the patient (or a manage
/// guardian) makes it if needed; a writer uses it if it was shared with
/// them, else gets `None` and writes record-level envelopes.
async fn category_key(
    actor: &Actor,
    patient: Address,
    category: u8,
) -> anyhow::Result<Option<(medvault_core::keys::CategoryKey, Option<alloy::primitives::TxHash>)>> {
    let manages = actor.address() == patient
        || actor.vault.guardianPowers(patient, actor.address()).call().await? & 1 != 0;
    if manages {
        let (key, made) = keychain::current_key(actor, patient, category).await?;
        return Ok(Some((key, made.map(|relayed| relayed.transaction_hash))));
    }
    let epoch = actor.vault.categoryEpoch(patient, category).call().await?;
    let ring = keychain::ring(actor, patient).await?;
    let id = medvault_core::keys::CategoryKeyId { patient, category, epoch };
    Ok(ring.category_key(id).ok().map(|key| (key, None)))
}

/// The data key sealed to the patient and, when the actor may read the
/// category (staff with a grant; not a device), to the actor.
async fn record_envelopes(
    actor: &Actor,
    patient: Address,
    category: u8,
    data_key: &DataKey,
) -> anyhow::Result<Vec<(Address, Bytes)>> {
    let registered = actor.vault.encryptionKey(patient).call().await?;
    let patient_key = medvault_core::envelope::parse_public_key(&registered)
        .map_err(|_| anyhow::anyhow!("{patient} has no valid encryption key on chain"))?;
    let mut envelopes = vec![(patient, Bytes::from(data_key.seal_to(&patient_key)))];
    if actor.vault.hasAccess(patient, actor.address(), category).call().await? {
        let own = actor.encryption_key().await?.public_key();
        envelopes.push((actor.address(), Bytes::from(data_key.seal_to(&own))));
    }
    Ok(envelopes)
}

/// One line for a record item of the indexer.
pub fn record_line(item: &Value) -> String {
    format!(
        "#{}  {}  epoch {}  {}  by {}",
        text(item, "id").unwrap_or("?"),
        number(item, "category").map_or_else(|| "?".into(), |c| input::category_name(c as u8)),
        number(item, "epoch").unwrap_or(0),
        text(item, "cid").unwrap_or("?"),
        text(item, "author").unwrap_or("?"),
    )
}

async fn records(actor: &Actor, patient: Address, category: Option<u8>) -> anyhow::Result<Report> {
    let items = actor.indexer.records(patient, category).await?;
    let mut report = Report::new(format!("records of {patient}")).fact("patient", patient).list();
    for item in items {
        report = report.item(record_line(&item), item);
    }
    Ok(report)
}

async fn grant(
    actor: &Actor,
    patient: Address,
    grantee: Address,
    categories: Categories,
    access: Access,
    expires: Duration,
) -> anyhow::Result<Report> {
    let expiry = unix_now() + expires.as_secs();
    let write_mask = if access == Access::Write { categories.0 } else { 0 };
    let relayed = actor
        .relay(sig::Grant {
            patient,
            grantee,
            read_mask: categories.0,
            write_mask,
            expiry: U40::from(expiry),
        })
        .await?;
    let mut transactions = vec![relayed.transaction_hash];
    transactions.extend(share(actor, patient, grantee, categories).await?);
    Ok(Report::new("granted")
        .fact("patient", patient)
        .fact("grantee", grantee)
        .fact("categories", categories.to_string())
        .fact("access", access)
        .fact("expiry", expiry)
        .transactions(transactions))
}

/// Seals the current key of each category to `grantee` (making keys that
/// do not exist yet, so that later uploads are readable too).
async fn share(
    actor: &Actor,
    patient: Address,
    grantee: Address,
    categories: Categories,
) -> anyhow::Result<Vec<alloy::primitives::TxHash>> {
    let mut transactions = Vec::new();
    // `all` would make 64 keys; share only the categories with records.
    let used: Option<Vec<u8>> = if categories.0 == u64::MAX {
        let records = actor.indexer.records(patient, None).await?;
        let mut used: Vec<u8> =
            records.iter().filter_map(|r| number(r, "category")).map(|c| c as u8).collect();
        used.sort_unstable();
        used.dedup();
        Some(used)
    } else {
        None
    };
    for category in used.unwrap_or_else(|| categories.iter().collect()) {
        let (key, made) = keychain::current_key(actor, patient, category).await?;
        transactions.extend(made.map(|relayed| relayed.transaction_hash));
        transactions.push(keychain::publish(actor, &key, grantee).await?.transaction_hash);
    }
    Ok(transactions)
}

async fn revoke(
    actor: &Actor,
    patient: Address,
    grantee: Address,
    rotate: bool,
) -> anyhow::Result<Report> {
    let held = actor.vault.grantOf(patient, grantee).call().await?;
    let relayed = actor.relay(sig::Revoke { patient, grantee }).await?;
    let mut transactions = vec![relayed.transaction_hash];
    let mut rotated = Vec::new();
    if rotate {
        let remaining = live_grantees(actor, patient).await?;
        for category in Categories(held.readMask).iter() {
            let epoch = actor.vault.categoryEpoch(patient, category).call().await?;
            let ring = keychain::ring(actor, patient).await?;
            let id = medvault_core::keys::CategoryKeyId { patient, category, epoch };
            // A category without a key has nothing to protect yet.
            if ring.category_key(id).is_err() {
                continue;
            }
            let (key, relayed) = keychain::rotate(actor, patient, category, &remaining).await?;
            transactions.extend(relayed.into_iter().map(|r| r.transaction_hash));
            rotated.push(serde_json::json!({
                "category": category, "epoch": key.id().epoch
            }));
        }
    }
    Ok(Report::new("revoked")
        .fact("patient", patient)
        .fact("grantee", grantee)
        .fact("rotated", rotated)
        .transactions(transactions))
}

/// The staff whose category grants from `patient` are live.
async fn live_grantees(actor: &Actor, patient: Address) -> anyhow::Result<Vec<Address>> {
    let grants = actor.indexer.list(&format!("/v1/patients/{patient:#x}/grants"), &[]).await?;
    Ok(grants
        .iter()
        .filter(|g| text(g, "status") == Some("live"))
        .filter_map(|g| text(g, "grantee")?.parse().ok())
        .collect())
}

async fn requests(actor: &Actor, patient: Address, pending: bool) -> anyhow::Result<Report> {
    let items = actor.indexer.list(&format!("/v1/patients/{patient:#x}/requests"), &[]).await?;
    let mut report = Report::new(format!("requests to {patient}")).list();
    for item in items {
        if pending && text(&item, "status") != Some("pending") {
            continue;
        }
        let line = request_line(&item);
        report = report.item(line, item);
    }
    Ok(report)
}

/// One line for a request item of the indexer.
pub fn request_line(item: &Value) -> String {
    let read = number(item, "readMask").unwrap_or(0);
    let write = number(item, "writeMask").unwrap_or(0);
    format!(
        "#{}  {}  from {}  read {}  write {}  for {} days",
        text(item, "id").unwrap_or("?"),
        text(item, "status").unwrap_or("?"),
        text(item, "staff").unwrap_or("?"),
        Categories(read),
        Categories(write),
        number(item, "duration").unwrap_or(0) / 86_400,
    )
}

async fn approve(actor: &Actor, request_id: U256) -> anyhow::Result<Report> {
    let request = actor.vault.request(request_id).call().await?;
    let relayed = actor.relay(sig::ApproveRequest { request_id }).await?;
    let mut transactions = vec![relayed.transaction_hash];
    transactions
        .extend(share(actor, request.patient, request.staff, Categories(request.readMask)).await?);
    Ok(Report::new("approved")
        .fact("request", request_id)
        .fact("staff", request.staff)
        .fact("categories", Categories(request.readMask).to_string())
        .transactions(transactions))
}

async fn rotate(actor: &Actor, patient: Address, category: u8) -> anyhow::Result<Report> {
    let remaining = live_grantees(actor, patient).await?;
    let (key, relayed) = keychain::rotate(actor, patient, category, &remaining).await?;
    Ok(Report::new("rotated")
        .fact("patient", patient)
        .fact("category", input::category_name(category))
        .fact("epoch", key.id().epoch)
        .transactions(relayed.into_iter().map(|r| r.transaction_hash)))
}

async fn audit(actor: &Actor) -> anyhow::Result<Report> {
    let accounting = actor.gateway.access_log().await?;
    let verified = accounting.verify();
    let last_anchor = actor.vault.lastAnchorSequence().call().await?;
    let mut report = Report::new(format!("accounting of disclosures for {}", actor.address()))
        .fact("reads", accounting.entries.len())
        .fact("last_anchor_on_chain", last_anchor);
    report = match verified {
        Ok(v) => report
            .fact("anchored", v.anchored)
            .fact("unanchored", v.unanchored)
            .fact("chain", "intact"),
        Err(error) => report.fact("chain", format!("broken: {error}")),
    };
    report = report.list();
    for entry in &accounting.entries {
        let line = format!(
            "#{}  at {}  record {}  read by {}  ({:?}, purpose {:?})",
            entry.sequence,
            entry.at,
            entry.access.record_id,
            entry.access.reader,
            entry.access.basis,
            entry.access.purpose
        );
        report = report.item(line, serde_json::to_value(entry)?);
    }
    Ok(report)
}

/// Downloads the record's ciphertext, hashes it here, and asks the chain
/// whether the CID and that hash are the ones its header holds: a check of
/// what IPFS serves, not only of what the indexer says.
async fn verify(actor: &Actor, record: U256) -> anyhow::Result<Report> {
    use sha2::Digest as _;
    let item = actor.indexer.item(&format!("/v1/records/{record}")).await?;
    let cid = transfer::cid_bytes(text(&item, "cid").context("the indexer gave no CID")?)?;
    let mut download = actor.gateway.download(record, "verify").await?;
    let mut sha256 = sha2::Sha256::new();
    let mut size = 0u64;
    while let Some(chunk) = download.chunk().await? {
        size += chunk.len() as u64;
        sha256.update(&chunk);
    }
    let hash = B256::from(<[u8; 32]>::from(sha256.finalize()));
    if !actor.vault.verifyRecord(record, cid.clone(), hash).call().await? {
        bail!(
            "record {record} does not verify: the ciphertext served for its CID hashes to {hash}, \
             which is not the hash on chain"
        );
    }
    Ok(Report::new("verified")
        .fact("record", record)
        .fact("cid", transfer::cid_text(&cid))
        .fact("sha256", hash)
        .fact("size", size))
}
