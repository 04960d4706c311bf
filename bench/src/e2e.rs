//! `e2e`: end-to-end latency of a record, against the sum of its raw parts.
//!
//! On a whole local stack (`medvault_cli::dev::DevStack`: Anvil, Kubo, the
//! gateway and the indexer), the patient uploads a 1 MiB file with the
//! CLI's own upload (client-side encryption, the gateway's store into Kubo,
//! the signed record relayed and mined) and the doctor the patient granted
//! the category fetches it with the CLI's own fetch (the ciphertext and
//! the key envelopes in one request, decryption while the hash is checked
//! on chain) until the plaintext is on disk. Sign-in happens once, before the runs, as a session would.
//!
//! Each run also times the raw parts that path cannot do without, on the
//! same stack and in the same order: `ipfs add` of the same bytes (Kubo's
//! RPC API, CIDv1, raw leaves, pinned), one transaction sent and mined, one
//! `eth_getLogs` and `ipfs cat` of what was added. 50 runs after 3 of
//! warm-up; p50 and p99 of both and their ratio (goal: at most 1.5).

use std::{path::Path, time::Duration};

use alloy::{
    network::{EthereumWallet, TransactionBuilder},
    primitives::U256,
    providers::{Provider, ProviderBuilder},
    rpc::types::{Filter, TransactionRequest},
};
use anyhow::{Context as _, bail};
use medvault_cli::{
    context::{Actor, Context, GlobalArgs},
    demo::{LABS, lab_report},
    dev::{DevOptions, DevStack},
    doctor,
    input::{Access, Categories},
    patient,
    stack::Role,
};
use medvault_gateway::{ipfs::Ipfs, relay::poll_receipt};
use tokio::{io::AsyncReadExt, time::Instant};

use crate::MIB;

const RUNS: usize = 50;
const WARM_UP: usize = 3;
/// Kubo's default chunk (`size-262144`): the size of each block of an add.
const KUBO_CHUNK: usize = 256 * 1024;

/// One run's timings.
struct Run {
    end_to_end: Duration,
    upload: Duration,
    add: Duration,
    transaction: Duration,
    get_logs: Duration,
    cat: Duration,
}

impl Run {
    fn raw(&self) -> Duration {
        self.add + self.transaction + self.get_logs + self.cat
    }
}

/// Runs the benchmark and prints its Markdown table.
pub(crate) fn run() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let dir = tempfile::tempdir()?;
        let dev = DevStack::start(DevOptions::new(dir.path().join("dev")))
            .await
            .context("start the local stack")?;
        let result = measure(&dev, dir.path()).await;
        dev.shutdown().await;
        let runs = result?;
        print(&runs);
        Ok(())
    })
}

async fn actor(stack: &Path, role: Role) -> anyhow::Result<Actor> {
    let global =
        GlobalArgs { stack: Some(stack.to_owned()), as_role: Some(role), ..GlobalArgs::default() };
    Ok(Actor::connect(Context::resolve(global.clone())?).await?)
}

async fn measure(dev: &DevStack, dir: &Path) -> anyhow::Result<Vec<Run>> {
    let stack = dev.stack();
    let stack_path = dev.stack_path();
    let patient = stack.identity(Role::Patient)?.address;
    let doctor = stack.identity(Role::Doctor)?.address;

    // The patient grants the doctor the labs once, as the CLI's grant does.
    let global = GlobalArgs {
        stack: Some(stack_path.clone()),
        as_role: Some(Role::Patient),
        ..GlobalArgs::default()
    };
    let grant = patient::Command::Grant {
        grantee: doctor,
        categories: Categories(1 << LABS),
        access: Access::Read,
        expires: Duration::from_secs(86_400),
        on_behalf: patient::OnBehalf { patient: None },
    };
    patient::run(Context::resolve(global)?, grant).await?;
    let patient_actor = actor(&stack_path, Role::Patient).await?;
    let doctor_actor = actor(&stack_path, Role::Doctor).await?;

    // The raw parts: Kubo's RPC, and the chain with a funded wallet.
    let ipfs = Ipfs::new(stack.ipfs_api_url.as_str().trim_end_matches('/'))?;
    let governance = stack.identity(Role::Governance)?.signer()?;
    let sender = governance.address();
    let chain = ProviderBuilder::new()
        .wallet(EthereumWallet::from(governance))
        .connect_http(stack.rpc_url.clone());

    let plaintext = lab_report(MIB as usize);
    let file = dir.join("report.bin");
    tokio::fs::write(&file, &plaintext).await?;
    let out = dir.join("fetched.bin");

    let mut runs = Vec::with_capacity(RUNS);
    for n in 0..WARM_UP + RUNS {
        let _ = tokio::fs::remove_file(&out).await;
        let start = Instant::now();
        let uploaded = patient::upload(&patient_actor, patient, LABS, &file, false).await?.output();
        let record: U256 = serde_json::from_value(uploaded.json()["record"].clone())?;
        let upload = start.elapsed();
        doctor::fetch(&doctor_actor, record, &out, "treatment").await?;
        let end_to_end = start.elapsed();
        if tokio::fs::read(&out).await? != plaintext {
            bail!("run {n}: the doctor decrypted other bytes than the patient uploaded");
        }

        let fresh = fresh_blocks(&plaintext, n);
        let start = Instant::now();
        let added = ipfs.add(std::io::Cursor::new(fresh)).await?;
        let add = start.elapsed();

        let start = Instant::now();
        let tx = TransactionRequest::default().with_to(sender).with_value(U256::from(1));
        let sent = chain.send_transaction(tx).await?;
        // Looked for as the gateway looks for its own: alloy's `get_receipt`
        // falls back to its 250 ms poll interval when the first look misses.
        let receipt = poll_receipt(&chain, *sent.tx_hash()).await?;
        let transaction = start.elapsed();
        let block = receipt.block_number.context("the receipt has no block")?;

        let start = Instant::now();
        let filter = Filter::new().address(stack.contract).from_block(block).to_block(block);
        chain.get_logs(&filter).await?;
        let get_logs = start.elapsed();

        let start = Instant::now();
        let mut bytes = Vec::with_capacity(plaintext.len());
        ipfs.cat_reader(&added.cid).read_to_end(&mut bytes).await?;
        let cat = start.elapsed();
        if bytes.len() != plaintext.len() {
            bail!("run {n}: ipfs cat gave {} bytes, not {}", bytes.len(), plaintext.len());
        }
        ipfs.unpin(&added.cid).await?;

        if n >= WARM_UP {
            runs.push(Run { end_to_end, upload, add, transaction, get_logs, cat });
        }
    }
    Ok(runs)
}

/// `bytes` with the run number `n` written over the start of each of Kubo's
/// chunks, so that Kubo holds none of its blocks yet and the raw add writes
/// every one, as the record's upload (fresh ciphertext each run) does.
/// Adding the same bytes every run measured an add that wrote nothing: an
/// unpin keeps the blocks.
fn fresh_blocks(bytes: &[u8], n: usize) -> Vec<u8> {
    let mut fresh = bytes.to_vec();
    let tag = (u64::MAX - n as u64).to_le_bytes();
    for chunk in fresh.chunks_mut(KUBO_CHUNK) {
        let len = tag.len().min(chunk.len());
        chunk[..len].copy_from_slice(&tag[..len]);
    }
    fresh
}

/// The `p`-th percentile (nearest rank) of `values`.
fn percentile(values: &mut [Duration], p: f64) -> Duration {
    values.sort_unstable();
    let rank = ((p / 100.0) * values.len() as f64).ceil() as usize;
    values[rank.clamp(1, values.len()) - 1]
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

fn print(runs: &[Run]) {
    let column = |f: fn(&Run) -> Duration| runs.iter().map(f).collect::<Vec<_>>();
    let mut e2e = column(|run| run.end_to_end);
    let mut raw = column(Run::raw);
    println!("## End to end: 1 MiB from the patient's upload to the doctor's plaintext\n");
    println!("{} runs after {WARM_UP} of warm-up, milliseconds.\n", runs.len());
    println!("| | p50 | p99 |");
    println!("| --- | ---: | ---: |");
    let (e50, e99) = (percentile(&mut e2e, 50.0), percentile(&mut e2e, 99.0));
    let (r50, r99) = (percentile(&mut raw, 50.0), percentile(&mut raw, 99.0));
    println!(
        "| upload until the granted doctor's fetch has the bytes | {:.1} | {:.1} |",
        ms(e50),
        ms(e99)
    );
    for (name, f) in [
        (
            "of which the upload, until the record is mined",
            (|run: &Run| run.upload) as fn(&Run) -> Duration,
        ),
        ("of which the fetch", |run: &Run| run.end_to_end - run.upload),
    ] {
        let mut part = column(f);
        println!(
            "| {name} | {:.1} | {:.1} |",
            ms(percentile(&mut part, 50.0)),
            ms(percentile(&mut part, 99.0))
        );
    }
    for (name, f) in [
        ("`ipfs add` (RPC)", (|run: &Run| run.add) as fn(&Run) -> Duration),
        ("one transaction sent and mined", |run: &Run| run.transaction),
        ("one `eth_getLogs`", |run: &Run| run.get_logs),
        ("`ipfs cat` (RPC)", |run: &Run| run.cat),
    ] {
        let mut part = column(f);
        println!(
            "| raw part: {name} | {:.1} | {:.1} |",
            ms(percentile(&mut part, 50.0)),
            ms(percentile(&mut part, 99.0))
        );
    }
    println!("| sum of the raw parts (per run) | {:.1} | {:.1} |", ms(r50), ms(r99));
    println!(
        "| **ratio** | **{:.2}** | **{:.2}** |\n",
        e50.as_secs_f64() / r50.as_secs_f64(),
        e99.as_secs_f64() / r99.as_secs_f64()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut values: Vec<Duration> = (1..=100).rev().map(Duration::from_millis).collect();
        assert_eq!(percentile(&mut values, 50.0), Duration::from_millis(50));
        assert_eq!(percentile(&mut values, 99.0), Duration::from_millis(99));
        let mut one = vec![Duration::from_millis(7)];
        assert_eq!(percentile(&mut one, 99.0), Duration::from_millis(7));
    }

    #[test]
    fn fresh_blocks_share_no_chunk_with_each_other_or_the_plaintext() {
        let plaintext = lab_report(MIB as usize + 5);
        let runs: Vec<Vec<u8>> = (0..3).map(|n| fresh_blocks(&plaintext, n)).collect();
        let chunks =
            |bytes: &[u8]| bytes.chunks(KUBO_CHUNK).map(<[u8]>::to_vec).collect::<Vec<_>>();
        let mut seen = std::collections::HashSet::new();
        for bytes in std::iter::once(&plaintext).chain(&runs) {
            assert_eq!(bytes.len(), plaintext.len());
            for chunk in chunks(bytes) {
                assert!(seen.insert(chunk), "a chunk repeats");
            }
        }
    }
}
