//! The indexer's backfill and live lag on one Anvil.
//!
//! - **Backfill**: events per second from an empty index to the head, on
//!   SQLite and on Postgres, against the baseline of raw `eth_getLogs` over
//!   the same range in the same range size (the fetch alone, decoding and
//!   writing nothing), run just before it so that both see the same load on
//!   the machine. [`ROUNDS`] rounds, each into an empty store, and their
//!   median ratio.
//! - **Live lag**: from a transaction's receipt to its block being committed
//!   in the store (the moment the API can answer with it), with new heads
//!   polled every 20 ms over HTTP, then subscribed over WebSocket as
//!   `medvault dev` follows them.

use std::time::{Duration, Instant};

use alloy::{
    network::TransactionBuilder as _,
    primitives::{Address, Bytes, U256, keccak256},
    providers::{DynProvider, Provider, ProviderBuilder, ext::AnvilApi as _},
    rpc::types::{Filter, TransactionRequest},
    signers::local::PrivateKeySigner,
    sol_types::{SolCall, SolValue},
};
use anyhow::Context as _;
use medvault_core::bindings::vault::{IMedVault, MedVault};
use medvault_deploy::{ContractsCompiler, deploy};
use medvault_indexer::{FollowConfig, Follower, Store, store::Change};
use medvault_tests::{PostgresServer, Toolchain, spawn_anvil, toolchain::contracts_dir};
use tokio::sync::broadcast::error::RecvError;

/// Records sent for the backfill; 17 events each.
const RECORDS: u64 = 1_800;
/// Backfill rounds on each store.
const ROUNDS: usize = 3;
/// Live transactions measured.
const LIVE: usize = 100;

/// Runs the indexer benchmarks and prints their tables.
pub(crate) async fn run() -> anyhow::Result<()> {
    let compiled = tokio::task::spawn_blocking(|| {
        ContractsCompiler::new(contracts_dir(), Toolchain::locate().solc()?)
            .compile()
            .map_err(anyhow::Error::from)
    })
    .await??;
    let anvil = spawn_anvil(&Toolchain::locate())?;
    let signer = PrivateKeySigner::from(anvil.keys()[0].clone());
    let patient = signer.address();
    let wallet = ProviderBuilder::new().wallet(signer.clone()).connect_http(anvil.endpoint_url());
    let vault = deploy(&wallet, compiled.contract("MedVault")?, &patient.abi_encode()).await?;
    let raw = ProviderBuilder::new()
        .disable_recommended_fillers()
        .connect_http(anvil.endpoint_url())
        .erased();
    let chain_id = anvil.chain_id();
    let nonce = std::cell::Cell::new(raw.get_transaction_count(patient).await?);
    let xy = signer.public_key();
    let key: Bytes = [&[2 + (xy[63] & 1)], &xy[..32]].concat().into();
    let tx = |input: Vec<u8>| {
        let request = TransactionRequest::default()
            .from(patient)
            .to(vault)
            .input(Bytes::from(input).into())
            .nonce(nonce.get())
            .gas_limit(1_500_000)
            .max_fee_per_gas(100_000_000_000)
            .max_priority_fee_per_gas(1)
            .with_chain_id(chain_id);
        nonce.set(nonce.get() + 1);
        request
    };
    raw.send_transaction(tx(MedVault::registerCall { key }.abi_encode()))
        .await?
        .get_receipt()
        .await?;
    raw.anvil_set_auto_mine(false).await?;
    for i in 0..RECORDS {
        let _ = raw.send_transaction(tx(record(patient, i))).await?;
        if i % 10 == 9 {
            raw.evm_mine(None).await?;
        }
    }
    while raw.get_transaction_count(patient).await? < nonce.get() {
        raw.evm_mine(None).await?;
    }
    raw.anvil_set_auto_mine(true).await?;
    let head = raw.get_block_number().await?;

    let config = FollowConfig::new(chain_id, vault, 0);
    let dir = tempfile::tempdir()?;
    let server = PostgresServer::spawn()?;
    let mut logs = 0;
    let mut rounds = Vec::new();
    let mut sqlite = None;
    for round in 0..ROUNDS {
        let path = dir.path().join(format!("index-{round}.sqlite"));
        let store = Store::connect(path.to_str().context("temp path")?).await?;
        let (n, raw_secs) = raw_get_logs(&raw, vault, head, config.max_range).await?;
        let secs = backfill(&raw, store.clone(), config.clone()).await?;
        rounds.push(("SQLite", raw_secs, secs));
        sqlite = Some(store);
        let store = Store::connect(&server.create_database(&format!("index_{round}"))?).await?;
        let (_, raw_secs) = raw_get_logs(&raw, vault, head, config.max_range).await?;
        let secs = backfill(&raw, store, config.clone()).await?;
        rounds.push(("Postgres", raw_secs, secs));
        logs = n;
    }
    let sqlite = sqlite.context("no round")?;

    let rate = |secs: f64| logs as f64 / secs;
    println!("## Indexer\n");
    println!(
        "### Backfill ({logs} events over {head} blocks, {} blocks a range)\n",
        config.max_range
    );
    println!(
        "| run | events/s | raw `eth_getLogs` events/s (just before) | ratio |\n| --- | ---: | ---: | ---: |"
    );
    for (name, raw_secs, secs) in &rounds {
        println!(
            "| {name} | {:.0} | {:.0} | {:.2} |",
            rate(*secs),
            rate(*raw_secs),
            raw_secs / secs
        );
    }
    for store in ["SQLite", "Postgres"] {
        let mut ratios: Vec<f64> =
            rounds.iter().filter(|r| r.0 == store).map(|r| r.1 / r.2).collect();
        ratios.sort_by(f64::total_cmp);
        println!("| {store}, median ratio | | | {:.2} |", ratios[ratios.len() / 2]);
    }

    let mut polling = config.clone();
    polling.poll_interval = Duration::from_millis(20);
    let follower = Follower::new(raw.clone(), None, sqlite.clone(), polling).await?;
    let by_polling =
        live_lags(follower, &sqlite, &raw, |i| tx(record(patient, RECORDS + i))).await?;
    let follower = Follower::connect(&anvil.ws_endpoint(), sqlite.clone(), config).await?;
    let by_subscription =
        live_lags(follower, &sqlite, &raw, |i| tx(record(patient, RECORDS + LIVE as u64 + i)))
            .await?;
    println!("\n### Live lag, receipt to committed in the store ({LIVE} transactions, SQLite)\n");
    println!("| New heads | p50 (ms) | p99 (ms) |\n| --- | ---: | ---: |");
    for (how, mut lags) in [
        ("polled every 20 ms over HTTP", by_polling),
        ("subscribed over WebSocket", by_subscription),
    ] {
        lags.sort();
        let pct = |p: usize| lags[(lags.len() * p / 100).min(lags.len() - 1)].as_secs_f64() * 1e3;
        println!("| {how} | {:.1} | {:.1} |", pct(50), pct(99));
    }
    Ok(())
}

/// Runs `follower` while `node` mines [`LIVE`] transactions one after the
/// other (`request(i)`), and returns each one's time from its receipt to its
/// block being committed in `store`.
///
/// The receipt is polled back to back from the send's answer, so the clock
/// starts within a poll of the moment the node has it; each commit notice is
/// timestamped as it arrives, by a task of its own, so a block committed
/// before its receipt was seen counts as no lag rather than as the time the
/// bench took to look.
async fn live_lags(
    follower: Follower,
    store: &Store,
    node: &DynProvider,
    request: impl Fn(u64) -> TransactionRequest,
) -> anyhow::Result<Vec<Duration>> {
    let mut changes = store.subscribe();
    let (committed, mut commits) = tokio::sync::mpsc::unbounded_channel::<(u64, Instant)>();
    let listener = tokio::spawn(async move {
        loop {
            match changes.recv().await {
                Ok(Change::Committed { to, .. }) => {
                    if committed.send((to, Instant::now())).is_err() {
                        break;
                    }
                }
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => break,
            }
        }
    });
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(follower.run(async {
        let _ = stopped.await;
    }));
    let mut lags = Vec::with_capacity(LIVE);
    for i in 0..LIVE {
        let hash = *node.send_transaction(request(i as u64)).await?.tx_hash();
        let receipt = loop {
            if let Some(receipt) = node.get_transaction_receipt(hash).await? {
                break receipt;
            }
        };
        let seen = Instant::now();
        let block = receipt.block_number.context("receipt without a block")?;
        let at = loop {
            let (to, at) = commits.recv().await.context("the store stopped")?;
            if to >= block {
                break at;
            }
        };
        lags.push(at.saturating_duration_since(seen));
    }
    let _ = stop.send(());
    task.await??;
    listener.abort();
    Ok(lags)
}

fn record(patient: Address, seed: u64) -> Vec<u8> {
    let record = IMedVault::RecordInput {
        patient,
        category: u8::try_from(seed % 8).unwrap_or(0) + 1,
        cid: keccak256(seed.to_be_bytes()).repeat(2).into(),
        ciphertextHash: keccak256(seed.to_le_bytes()),
        wrappedKey: Bytes::new(),
        epoch: 0,
        amends: U256::ZERO,
    };
    let envelope =
        IMedVault::Envelope { recipient: patient, sealedKey: keccak256(b"k").repeat(2).into() };
    MedVault::addRecordCall { record, envelopes: vec![envelope; 16] }.abi_encode()
}

/// The logs of `vault` up to `head` in ranges of `range` blocks, fetched
/// one range after the other; returns the count and the seconds taken.
async fn raw_get_logs(
    provider: &DynProvider,
    vault: Address,
    head: u64,
    range: u64,
) -> anyhow::Result<(usize, f64)> {
    let started = Instant::now();
    let mut logs = 0;
    let mut from = 0;
    while from <= head {
        let to = head.min(from + range - 1);
        logs += provider
            .get_logs(&Filter::new().address(vault).from_block(from).to_block(to))
            .await?
            .len();
        from = to + 1;
    }
    Ok((logs, started.elapsed().as_secs_f64()))
}

async fn backfill(
    provider: &DynProvider,
    store: Store,
    config: FollowConfig,
) -> anyhow::Result<f64> {
    let follower = Follower::new(provider.clone(), None, store, config).await?;
    let started = Instant::now();
    follower.sync_once().await?;
    Ok(started.elapsed().as_secs_f64())
}
