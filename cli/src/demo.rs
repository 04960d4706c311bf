//! `medvault demo`: MedVault's whole story, told against a running stack.
//!
//! [`Demo`] plays every actor of a dev stack's `stack.json` in turn, through
//! the same functions the actor commands run (so the demo proves the
//! commands, not a copy of them): the patient registers and uploads a lab
//! report; a doctor asks for access, the patient approves, the doctor
//! fetches the record and the bytes are compared; the patient's device
//! streams vital signs and raises an alert that the doctor finds in the
//! indexer; the patient revokes and the doctor is refused; the category key
//! rotates; the emergency doctor breaks the glass, the gateway's custodian
//! releases the emergency key, the hospital reviews the case; the patient
//! reads the accounting of disclosures. Each step is a [`Step`] with its
//! timing and the command's own result (transaction hashes, CIDs); the
//! first step that fails stops the story with its reason.

use std::{
    io::Write as _,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use alloy::primitives::{Address, Bytes, U256};
use anyhow::{Context as _, bail};
use medvault_core::keys::{CategoryKeyId, EncryptionKeyMessage};
use serde::Serialize;
use serde_json::Value;

use crate::{
    context::{Context, GlobalArgs},
    device, doctor,
    indexer_client::{number, text},
    input::{self, Access, Categories},
    output::Output,
    patient,
    stack::{Role, Stack},
};

/// The category of the lab report (`labs`).
pub const LABS: u8 = 2;
/// The category of the vital signs (`vitals`).
pub const VITALS: u8 = 1;
/// The emergency category, which break-glass opens.
pub const EMERGENCY: u8 = 0;
/// Every step of the story, in order: the names [`Step::name`] takes.
pub const STEPS: [&str; 14] = [
    "register",
    "upload",
    "request",
    "approve",
    "fetch",
    "vitals",
    "alert",
    "revoke",
    "refused",
    "rotate",
    "break-glass",
    "release",
    "review",
    "audit",
];
/// How long the custodian may take to release the emergency key.
const RELEASE_TIMEOUT: Duration = Duration::from_secs(30);

/// Options of `medvault demo`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The size of the lab report the patient uploads, in bytes.
    #[arg(long, default_value_t = 256 * 1024)]
    pub report_size: usize,
    /// How many vital-sign readings the device sends (the last is abnormal).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
    pub readings: u64,
    /// Keep the demo's files (the lab report and what the doctor fetched)
    /// in this folder instead of a temporary one.
    #[arg(long)]
    pub keep: Option<PathBuf>,
}

impl Default for Args {
    fn default() -> Self {
        Self { report_size: 256 * 1024, readings: 3, keep: None }
    }
}

/// One step of the story: what happened, how long it took and the
/// command's result (its JSON, with transaction hashes and CIDs).
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// Its position, from 1.
    pub number: usize,
    /// Its name, one of [`STEPS`].
    pub name: &'static str,
    /// What happened, as a sentence.
    pub summary: String,
    /// How long it took.
    pub seconds: f64,
    /// The result of the command(s) the step ran.
    pub result: Value,
    #[serde(skip)]
    text: String,
}

impl Step {
    /// The step as lines: a heading with its timing, the command's result
    /// indented below it.
    pub fn render(&self) -> String {
        let mut out = format!(
            "[{:>2}/{}] {:<11}  {}  ({:.2} s)\n",
            self.number,
            STEPS.len(),
            self.name,
            self.summary,
            self.seconds
        );
        for line in self.text.lines() {
            out.push_str("         ");
            out.push_str(line);
            out.push('\n');
        }
        out
    }
}

/// The whole story's result: every step and the total time.
#[derive(Debug, Clone, Serialize)]
pub struct Story {
    /// `demo`.
    pub action: &'static str,
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// The whole story's time.
    pub seconds: f64,
}

impl std::fmt::Display for Story {
    // The steps were printed as they happened: the result is the verdict.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the story is told: {} steps in {:.1} s, every one as the chain, the gateway and \
             the indexer recorded it",
            self.steps.len(),
            self.seconds
        )
    }
}

/// Runs `medvault demo`: the story step by step, each printed as it ends
/// unless the output is JSON.
pub async fn run(global: GlobalArgs, args: Args) -> anyhow::Result<Output> {
    let print = !global.json;
    let mut demo = Demo::new(global, args)?;
    let started = Instant::now();
    let steps = demo
        .tell(|step| {
            if print {
                let mut stdout = std::io::stdout().lock();
                let _ = write!(stdout, "{}", step.render());
                let _ = stdout.flush();
            }
        })
        .await?;
    let story = Story { action: "demo", steps, seconds: started.elapsed().as_secs_f64() };
    Ok(Output::new(&story)?)
}

/// The story against one stack: who plays whom, and what the earlier steps
/// left for the later ones (the record, the request, the case).
#[derive(Debug)]
pub struct Demo {
    global: GlobalArgs,
    stack: Stack,
    args: Args,
    files: Files,
    steps: Vec<Step>,
    record: Option<U256>,
    report: Vec<u8>,
    request: Option<U256>,
    case: Option<U256>,
}

/// Where the demo's files go: a temporary folder, or the one asked for.
#[derive(Debug)]
enum Files {
    Temporary(tempfile::TempDir),
    Kept(PathBuf),
}

impl Files {
    fn path(&self) -> &Path {
        match self {
            Self::Temporary(dir) => dir.path(),
            Self::Kept(path) => path,
        }
    }
}

impl Demo {
    /// A demo of the stack that `global` resolves to (its `stack.json` with
    /// the demo identities).
    pub fn new(global: GlobalArgs, args: Args) -> anyhow::Result<Self> {
        let ctx = Context::resolve(GlobalArgs { as_role: None, ..global.clone() })?;
        let stack = ctx.stack.context(
            "the demo plays the identities of a stack file: start one with `medvault dev` or \
             pass --stack",
        )?;
        for role in
            [Role::Patient, Role::Doctor, Role::Device, Role::EmergencyDoctor, Role::Hospital]
        {
            stack.identity(role).with_context(|| format!("the stack file has no {role}"))?;
        }
        let files = match &args.keep {
            Some(path) => {
                std::fs::create_dir_all(path)
                    .with_context(|| format!("cannot create {}", path.display()))?;
                Files::Kept(path.clone())
            }
            None => Files::Temporary(tempfile::tempdir().context("no temporary folder")?),
        };
        Ok(Self {
            global,
            stack,
            args,
            files,
            steps: Vec::new(),
            record: None,
            report: Vec::new(),
            request: None,
            case: None,
        })
    }

    /// The stack the story is told against.
    pub fn stack(&self) -> &Stack {
        &self.stack
    }

    /// Tells the whole story, calling `each` after every step, and returns
    /// the steps. The first step that fails stops it.
    pub async fn tell(&mut self, mut each: impl FnMut(&Step)) -> anyhow::Result<Vec<Step>> {
        for name in STEPS {
            let step = self.step(name).await?;
            each(&step);
        }
        Ok(std::mem::take(&mut self.steps))
    }

    /// Runs the step `name` (one of [`STEPS`]) with what the earlier steps
    /// left, and returns it. A failure names the step.
    pub async fn step(&mut self, name: &'static str) -> anyhow::Result<Step> {
        let number = self.steps.len() + 1;
        let started = Instant::now();
        let (summary, output) =
            self.act(name).await.with_context(|| format!("step {number} ({name}) failed"))?;
        let step = Step {
            number,
            name,
            summary,
            seconds: started.elapsed().as_secs_f64(),
            result: output.json().clone(),
            text: output.text().to_owned(),
        };
        self.steps.push(step.clone());
        Ok(step)
    }

    /// The options of a command run as `role`.
    pub fn context(&self, role: Role) -> anyhow::Result<Context> {
        Ok(Context::resolve(GlobalArgs {
            as_role: Some(role),
            private_key: None,
            keystore: None,
            json: false,
            ..self.global.clone()
        })?)
    }

    fn address(&self, role: Role) -> anyhow::Result<Address> {
        Ok(self.stack.identity(role)?.address)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.files.path().join(name)
    }

    async fn act(&mut self, name: &str) -> anyhow::Result<(String, Output)> {
        match name {
            "register" => self.register().await,
            "upload" => self.upload().await,
            "request" => self.request().await,
            "approve" => self.approve().await,
            "fetch" => self.fetch().await,
            "vitals" => self.vitals().await,
            "alert" => self.alert().await,
            "revoke" => self.revoke().await,
            "refused" => self.refused().await,
            "rotate" => self.rotate().await,
            "break-glass" => self.break_glass().await,
            "release" => self.release().await,
            "review" => self.review().await,
            "audit" => self.audit().await,
            other => bail!("the story has no step {other:?}"),
        }
    }

    async fn register(&mut self) -> anyhow::Result<(String, Output)> {
        let output = patient::run(self.context(Role::Patient)?, patient::Command::Register).await?;
        let summary = if output.json()["action"] == "already registered" {
            "the patient is registered already (the dev stack seeded them)"
        } else {
            "the patient registers with an encryption key derived from their wallet"
        };
        Ok((summary.to_owned(), output))
    }

    async fn upload(&mut self) -> anyhow::Result<(String, Output)> {
        let file = self.path("lab-report.pdf");
        self.report = lab_report(self.args.report_size);
        tokio::fs::write(&file, &self.report)
            .await
            .with_context(|| format!("cannot write {}", file.display()))?;
        let command = patient::Command::Upload {
            file,
            category: LABS,
            server_side: false,
            on_behalf: patient::OnBehalf { patient: None },
        };
        let output = patient::run(self.context(Role::Patient)?, command).await?;
        self.record = Some(id_of(&output, "record")?);
        Ok((
            format!(
                "the patient uploads a lab report of {} bytes, encrypted on this machine",
                self.report.len()
            ),
            output,
        ))
    }

    async fn request(&mut self) -> anyhow::Result<(String, Output)> {
        let patient = self.address(Role::Patient)?;
        let command = doctor::Command::Request {
            patient,
            categories: Categories((1 << LABS) | (1 << VITALS)),
            access: Access::Read,
            duration: Duration::from_secs(7 * 86_400),
            purpose: "follow-up of the lab results".into(),
        };
        let output = doctor::run(self.context(Role::Doctor)?, command).await?;
        self.request = Some(id_of(&output, "request")?);
        Ok(("the doctor asks to read the patient's labs and vitals for 7 days".into(), output))
    }

    async fn approve(&mut self) -> anyhow::Result<(String, Output)> {
        let request = self.request.context("no request: the request step did not run")?;
        let command = patient::Command::Approve { request };
        let output = patient::run(self.context(Role::Patient)?, command).await?;
        Ok(("the patient approves and seals the category keys to the doctor".into(), output))
    }

    async fn fetch(&mut self) -> anyhow::Result<(String, Output)> {
        let record = self.record.context("no record: the upload step did not run")?;
        let out = self.path("fetched-by-doctor.pdf");
        let _ = tokio::fs::remove_file(&out).await;
        let command = doctor::Command::Fetch {
            record,
            output: out.clone(),
            purpose: "follow-up of the lab results".into(),
        };
        let output = doctor::run(self.context(Role::Doctor)?, command).await?;
        let fetched = tokio::fs::read(&out)
            .await
            .with_context(|| format!("cannot read {}", out.display()))?;
        if fetched != self.report {
            bail!(
                "the doctor decrypted {} bytes that differ from the {} bytes the patient uploaded",
                fetched.len(),
                self.report.len()
            );
        }
        Ok((
            format!(
                "the doctor fetches record {record:#x}, decrypts it and gets the same {} bytes",
                fetched.len()
            ),
            output,
        ))
    }

    async fn vitals(&mut self) -> anyhow::Result<(String, Output)> {
        let command = device::Command::Simulate(device::SimulateArgs {
            every: Duration::from_millis(500),
            count: Some(self.args.readings),
            abnormal_from: Some(self.args.readings),
            seed: 7,
        });
        let output = device::run(self.context(Role::Device)?, command).await?;
        let alerts = output.json()["items"]
            .as_array()
            .map_or(0, |items| items.iter().filter(|item| !item["alert"].is_null()).count());
        if alerts == 0 {
            bail!("the device sent an abnormal reading but raised no alert");
        }
        Ok((
            format!(
                "the device streams {} vital-sign readings; the abnormal one raises an alert",
                self.args.readings
            ),
            output,
        ))
    }

    async fn alert(&mut self) -> anyhow::Result<(String, Output)> {
        let ctx = self.context(Role::Doctor)?;
        let patient = self.address(Role::Patient)?;
        let doctor = self.address(Role::Doctor)?;
        let indexer = ctx.indexer()?;
        let alerts = indexer.list("/v1/alerts", &[("patient", format!("{patient:#x}"))]).await?;
        let alert = alerts.last().context("the indexer holds no alert for the patient")?;
        let grants = indexer.list(&format!("/v1/grantees/{doctor:#x}/grants"), &[]).await?;
        let covers_vitals = grants.iter().any(|grant| {
            text(grant, "status") == Some("live")
                && text(grant, "patient").and_then(|p| p.parse::<Address>().ok()) == Some(patient)
                && Categories(number(grant, "readMask").unwrap_or(0)).contains(VITALS)
        });
        if !covers_vitals {
            bail!("the doctor's grant does not cover the patient's vitals");
        }
        let severity = number(alert, "severity").unwrap_or(0);
        let output = crate::output::Report::new("alert seen")
            .fact("patient", patient)
            .fact("record", text(alert, "recordId"))
            .fact("severity", severity)
            .fact("raised_by", text(alert, "raisedBy"))
            .fact("tx", alert["raised"]["txHash"].clone())
            .fact("block", alert["raised"]["blockNumber"].clone())
            .output();
        Ok((
            format!(
                "the doctor, who may read the vitals, finds the severity-{severity} alert in the \
                 indexer"
            ),
            output,
        ))
    }

    async fn revoke(&mut self) -> anyhow::Result<(String, Output)> {
        let command = patient::Command::Revoke {
            grantee: self.address(Role::Doctor)?,
            // The rotation is the story's own step, after the refusal.
            no_rotate: true,
            on_behalf: patient::OnBehalf { patient: None },
        };
        let output = patient::run(self.context(Role::Patient)?, command).await?;
        Ok(("the patient revokes the doctor's access".into(), output))
    }

    async fn refused(&mut self) -> anyhow::Result<(String, Output)> {
        let record = self.record.context("no record: the upload step did not run")?;
        let out = self.path("refused.pdf");
        let command = doctor::Command::Fetch {
            record,
            output: out.clone(),
            purpose: "follow-up of the lab results".into(),
        };
        match doctor::run(self.context(Role::Doctor)?, command).await {
            Ok(_) => bail!("the doctor could still fetch record {record:#x} after the revocation"),
            Err(refusal) => {
                if tokio::fs::try_exists(&out).await.unwrap_or(false) {
                    bail!("the refused fetch left {} behind", out.display());
                }
                let sentence = format!("{refusal:#}");
                let output = crate::output::Report::new("refused")
                    .fact("record", record)
                    .fact("reason", &sentence)
                    .output();
                Ok(("the doctor tries again and is refused".into(), output))
            }
        }
    }

    async fn rotate(&mut self) -> anyhow::Result<(String, Output)> {
        let command = patient::Command::Rotate {
            category: LABS,
            on_behalf: patient::OnBehalf { patient: None },
        };
        let output = patient::run(self.context(Role::Patient)?, command).await?;
        let epoch = number(output.json(), "epoch").unwrap_or(0);
        Ok((
            format!(
                "the labs key moves to epoch {epoch}: new records are out of the doctor's reach"
            ),
            output,
        ))
    }

    async fn break_glass(&mut self) -> anyhow::Result<(String, Output)> {
        let command = doctor::Command::BreakGlass(doctor::BreakGlass::Open {
            patient: self.address(Role::Patient)?,
            reason: "unconscious on arrival".into(),
        });
        let output = doctor::run(self.context(Role::EmergencyDoctor)?, command).await?;
        self.case = Some(id_of(&output, "case")?);
        Ok(("the emergency doctor breaks the glass".into(), output))
    }

    async fn release(&mut self) -> anyhow::Result<(String, Output)> {
        let ctx = self.context(Role::EmergencyDoctor)?;
        let patient = self.address(Role::Patient)?;
        let responder = self.stack.identity(Role::EmergencyDoctor)?.signer()?;
        let vault = medvault_core::bindings::MedVault::new(ctx.contract, ctx.provider());
        let custodian = vault.emergencyCustodian(patient).call().await?;
        if custodian.is_zero() {
            bail!("the patient named no emergency custodian");
        }
        let indexer = ctx.indexer()?;
        let deadline = Instant::now() + RELEASE_TIMEOUT;
        let envelope = loop {
            let envelopes = indexer.envelopes(responder.address(), Some(patient)).await?;
            let released = envelopes.into_iter().rev().find(|envelope| {
                text(envelope, "kind") == Some("category")
                    && number(envelope, "category") == Some(EMERGENCY.into())
                    && text(envelope, "publisher").and_then(|p| p.parse::<Address>().ok())
                        == Some(custodian)
            });
            if let Some(envelope) = released {
                break envelope;
            }
            if Instant::now() > deadline {
                bail!(
                    "the custodian {custodian} released no emergency key within {} s",
                    RELEASE_TIMEOUT.as_secs()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        // The released key must open with the responder's own key.
        let epoch = number(&envelope, "epoch").unwrap_or(0);
        let sealed: Bytes = text(&envelope, "sealedKey")
            .context("the envelope has no sealed key")?
            .parse()
            .context("the sealed key is not hex")?;
        let message = EncryptionKeyMessage {
            chain_id: self.stack.chain_id,
            contract: ctx.contract,
            account: responder.address(),
        };
        let key = message.derive(&responder).await?;
        let id = CategoryKeyId { patient, category: EMERGENCY, epoch: u32::try_from(epoch)? };
        key.open_category_key(id, &sealed)
            .context("the released emergency key does not open with the responder's key")?;
        let output = crate::output::Report::new("emergency key released")
            .fact("custodian", custodian)
            .fact("recipient", responder.address())
            .fact("category", input::category_name(EMERGENCY))
            .fact("epoch", epoch)
            .fact("opens", true)
            .fact("tx", envelope["published"]["txHash"].clone())
            .output();
        Ok((
            "the gateway's custodian releases the emergency key, and it opens for the responder"
                .into(),
            output,
        ))
    }

    async fn review(&mut self) -> anyhow::Result<(String, Output)> {
        let case = self.case.context("no case: the break-glass step did not run")?;
        let command = doctor::Command::BreakGlass(doctor::BreakGlass::Close { case, verdict: 1 });
        let output = doctor::run(self.context(Role::Hospital)?, command).await?;
        Ok((format!("the hospital reviews case {case} and closes it as justified"), output))
    }

    async fn audit(&mut self) -> anyhow::Result<(String, Output)> {
        let output = patient::run(self.context(Role::Patient)?, patient::Command::Audit).await?;
        let reads = number(output.json(), "reads").unwrap_or(0);
        if reads == 0 {
            bail!(
                "the accounting of disclosures shows no read, though the doctor fetched a record"
            );
        }
        Ok((format!("the patient reads their accounting of disclosures: {reads} reads"), output))
    }
}

/// The id a command printed under `field` (a decimal string).
fn id_of(output: &Output, field: &str) -> anyhow::Result<U256> {
    let value = &output.json()[field];
    let shown = match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    shown.parse().with_context(|| format!("the command printed no {field} id (it printed {value})"))
}

/// A seeded, incompressible stand-in for a lab report of `len` bytes.
pub fn lab_report(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_step_has_a_name_the_demo_knows() {
        let mut names = STEPS.to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), STEPS.len(), "no step twice");
        assert_eq!(STEPS.first(), Some(&"register"));
        assert_eq!(STEPS.last(), Some(&"audit"));
    }

    #[test]
    fn a_step_renders_its_heading_and_the_command_result_indented() {
        let step = Step {
            number: 2,
            name: "upload",
            summary: "the patient uploads".into(),
            seconds: 1.234,
            result: Value::Null,
            text: "uploaded\n  cid  bafy\n".into(),
        };
        let rendered = step.render();
        assert!(rendered.starts_with("[ 2/14] upload       the patient uploads  (1.23 s)\n"));
        assert!(rendered.contains("\n         uploaded\n           cid  bafy\n"), "{rendered}");
    }

    #[test]
    fn the_lab_report_is_seeded() {
        assert_eq!(lab_report(64), lab_report(64));
        assert_ne!(lab_report(64)[..32], lab_report(64)[32..]);
    }

    #[test]
    fn a_missing_id_is_named() {
        let output = crate::output::Report::new("requested").fact("request", "?").output();
        let err = id_of(&output, "request").unwrap_err().to_string();
        assert!(err.contains("no request id"), "{err}");
        let output = crate::output::Report::new("x").fact("case", U256::from(7)).output();
        assert_eq!(id_of(&output, "case").unwrap(), U256::from(7));
    }
}
