//! `medvault device simulate`: an IoT sensor streaming vital signs.
//!
//! Every interval the device takes a reading (a seeded pseudo-random walk
//! of heart rate, SpO2 and temperature), writes it as a record of its
//! category sealed to the patient (record-level envelopes: a device holds
//! no category key) and, when a value is out of range, raises an alert
//! whose severity only goes on chain.

use std::time::Duration;

use alloy::primitives::U256;
use clap::Args as ClapArgs;
use medvault_core::sig;
use serde::Serialize;

use crate::{
    context::{Actor, Context},
    input,
    output::{Output, Report},
    patient,
};

/// Options of `medvault device simulate`.
#[derive(Debug, ClapArgs)]
pub struct SimulateArgs {
    /// Seconds between readings.
    #[arg(long, value_parser = input::duration, default_value = "5s")]
    pub every: Duration,
    /// How many readings (default: until Ctrl-C).
    #[arg(long)]
    pub count: Option<u64>,
    /// Make every reading abnormal from this one on (1-based), to see an alert.
    #[arg(long)]
    pub abnormal_from: Option<u64>,
    /// The seed of the readings.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
}

/// The device's commands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Send vital signs as records, with alerts on abnormal values.
    Simulate(SimulateArgs),
}

/// One reading.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Reading {
    /// Beats per minute.
    pub heart_rate: u32,
    /// Oxygen saturation, percent.
    pub spo2: u32,
    /// Body temperature, tenths of a degree Celsius.
    pub temperature_dc: u32,
}

impl Reading {
    /// The reading number `n` of the seeded walk.
    pub fn take(seed: u64, n: u64, abnormal: bool) -> Self {
        // SplitMix64: deterministic, no dependency.
        let mut x = seed.wrapping_add(n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        x ^= x >> 31;
        let jitter = |shift: u32, span: u64| ((x >> shift) % span) as u32;
        if abnormal {
            Self {
                heart_rate: 140 + jitter(0, 30),
                spo2: 84 + jitter(8, 5),
                temperature_dc: 393 + jitter(16, 8),
            }
        } else {
            Self {
                heart_rate: 62 + jitter(0, 25),
                spo2: 95 + jitter(8, 5),
                temperature_dc: 362 + jitter(16, 9),
            }
        }
    }

    /// The alert severity: 0 normal, 1 watch, 2 warning, 3 critical.
    pub fn severity(&self) -> u8 {
        let mut severity = 0;
        if self.heart_rate > 120 || self.heart_rate < 45 || self.temperature_dc >= 380 {
            severity = 1;
        }
        if self.spo2 < 92 || self.heart_rate > 140 {
            severity = 2;
        }
        if self.spo2 < 88 || self.temperature_dc >= 400 {
            severity = 3;
        }
        severity
    }
}

/// Runs a device command.
pub async fn run(ctx: Context, command: Command) -> anyhow::Result<Output> {
    let Command::Simulate(args) = command;
    let actor = Actor::connect(ctx).await?;
    let (patient, category) =
        actor.vault.device(actor.address()).call().await.map(|d| (d._0, d._1))?;
    if patient.is_zero() {
        anyhow::bail!("{} is not a registered device of any patient", actor.address());
    }
    let dir = tempfile::tempdir()?;
    let mut report = Report::new("simulated")
        .fact("patient", patient)
        .fact("category", input::category_name(category))
        .list();
    let mut n = 0u64;
    loop {
        n += 1;
        let abnormal = args.abnormal_from.is_some_and(|from| n >= from);
        let reading = Reading::take(args.seed, n, abnormal);
        let path = dir.path().join(format!("reading-{n}.json"));
        tokio::fs::write(&path, serde_json::to_vec(&reading)?).await?;
        let uploaded = patient::upload(&actor, patient, category, &path, false).await?.output();
        let record: U256 = serde_json::from_value(uploaded.json()["record"].clone())?;
        let mut line = format!("reading {n}: record {record}");
        let severity = reading.severity();
        let mut alert = None;
        if severity > 0 {
            let relayed = actor.relay(sig::RaiseAlert { record_id: record, severity }).await?;
            line.push_str(&format!(", alert severity {severity} ({})", relayed.transaction_hash));
            alert = Some(relayed.transaction_hash);
        }
        eprintln!("{line}");
        report = report.item(
            line,
            serde_json::json!({ "record": record, "severity": severity, "alert": alert }),
        );
        if args.count.is_some_and(|count| n >= count) {
            return Ok(report.output());
        }
        tokio::time::sleep(args.every).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings_are_seeded_and_abnormal_ones_raise_alerts() {
        assert_eq!(Reading::take(7, 3, false), Reading::take(7, 3, false));
        for n in 1..50 {
            assert_eq!(
                Reading::take(7, n, false).severity(),
                0,
                "{:?}",
                Reading::take(7, n, false)
            );
            assert!(Reading::take(7, n, true).severity() >= 1);
        }
    }
}
