//! `indexer-query`: a patient's records page through the indexer's API
//! against the same SQL run directly on the same database.
//!
//! The index holds one patient with 100,000 records, written through the
//! store's own commit path as synthetic decoded rows (10 a block, 10,000
//! blocks; no chain is needed to measure a read). Each request asks for a
//! 50-record page after a cursor drawn uniformly over the patient's history
//! (a fixed seed), so pages come from all over the index, not the first one.
//!
//! Requests are sent open-loop at a fixed rate, and each latency runs from
//! the request's scheduled time, so a slow answer that delays the next ones
//! is counted in them too (no coordinated omission). The API side goes
//! through the whole router (middleware, read transaction, cursor read, JSON
//! body) with `oneshot`, no socket; the raw side runs the statement the
//! handler builds ([`patient_records_sql`]) on the store's pool. Both run
//! on SQLite and on a throwaway Postgres.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use alloy::primitives::{Address, B256, keccak256};
use anyhow::Context as _;
use axum::{body::Body, http::Request};
use http_body_util::BodyExt;
use medvault_indexer::{
    api::{
        ApiConfig, ApiState, Position,
        params::PageRequest,
        records::{RecordFilter, patient_records_sql},
        router,
    },
    store::{Batch, BlockRef, LogPosition, Row, Store, Table, Value},
};
use medvault_tests::PostgresServer;
use tower::ServiceExt;

const CHAIN_ID: u64 = 31_337;
const RECORDS: u64 = 100_000;
const PER_BLOCK: u64 = 10;
const PAGE: u32 = 50;
/// Requests per second, on each side.
const RATE: u64 = 200;
const WARM_UP: usize = 200;
const REQUESTS: usize = 4_000;

/// Runs the benchmark on SQLite, then on Postgres, and prints its table.
pub(crate) fn run() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("index.db");
        let store = Store::connect(path.to_str().context("temporary path")?).await?;
        println!("## Indexer: a patient's records page (issue 5)\n");
        println!(
            "{RECORDS} records of one patient, a {PAGE}-record page after a random cursor, \
             {RATE} requests/s open-loop, {REQUESTS} requests a side after {WARM_UP} of warm-up.\n"
        );
        println!("| store | path | p50 | p99 | p99 / raw p99 (goal ≤ 2) |");
        println!("| --- | --- | --- | --- | --- |");
        measure("SQLite", store).await?;
        let server = tokio::task::spawn_blocking(PostgresServer::spawn).await??;
        measure("Postgres", Store::connect(&server.url()).await?).await?;
        println!();
        Ok(())
    })
}

async fn measure(name: &str, store: Store) -> anyhow::Result<()> {
    store.migrate().await?;
    let patient = Address::repeat_byte(0x5a);
    let contract = Address::repeat_byte(0xcc);
    let filled = Instant::now();
    fill(&store, contract, patient).await?;
    eprintln!("{name}: {RECORDS} records committed in {:.1?}", filled.elapsed());

    let api = router(ApiState::new(store.clone(), CHAIN_ID, ApiConfig::default()));
    let patient_hex = alloy::hex::encode_prefixed(patient);
    let cursors = Arc::new(cursors(WARM_UP + REQUESTS));

    let api_uri = {
        let patient_hex = patient_hex.clone();
        move |cursor: Position| {
            format!("/v1/patients/{patient_hex}/records?limit={PAGE}&cursor={cursor}")
        }
    };
    let api_latencies = open_loop(cursors.clone(), move |cursor| {
        let api = api.clone();
        let uri = api_uri(cursor);
        async move {
            let response = api.oneshot(Request::get(uri).body(Body::empty())?).await?;
            anyhow::ensure!(response.status().is_success(), "status {}", response.status());
            let body = response.into_body().collect().await?.to_bytes();
            anyhow::ensure!(body.len() > 1_000, "a short page");
            Ok(())
        }
    })
    .await?;

    let pool = store.pool().clone();
    let raw_latencies = open_loop(cursors, move |cursor| {
        let pool = pool.clone();
        let sql = patient_records_sql(
            CHAIN_ID,
            &patient_hex,
            RecordFilter::default(),
            PageRequest { after: cursor, limit: PAGE },
        );
        async move {
            let rows = sql.query().fetch_all(&pool).await?;
            anyhow::ensure!(rows.len() > PAGE as usize / 2, "a short page");
            Ok(())
        }
    })
    .await?;

    let (raw_p50, raw_p99) = (percentile(&raw_latencies, 0.50), percentile(&raw_latencies, 0.99));
    let (api_p50, api_p99) = (percentile(&api_latencies, 0.50), percentile(&api_latencies, 0.99));
    println!("| {name} | raw SQL (baseline) | {raw_p50:.2?} | {raw_p99:.2?} | 1.00 |");
    println!(
        "| {name} | API | {api_p50:.2?} | {api_p99:.2?} | {:.2} |",
        api_p99.as_secs_f64() / raw_p99.as_secs_f64()
    );
    Ok(())
}

/// Commits `RECORDS` records of `patient` through the store, 10,000 rows a
/// batch.
async fn fill(store: &Store, contract: Address, patient: Address) -> anyhow::Result<()> {
    let blocks = RECORDS / PER_BLOCK;
    store.start(CHAIN_ID, contract, 1).await?;
    let patient = alloy::hex::encode_prefixed(patient);
    let per_batch = 1_000;
    for first in (1..=blocks).step_by(per_batch as usize) {
        let last = (first + per_batch - 1).min(blocks);
        let mut rows = Vec::new();
        for block in first..=last {
            for log_index in 0..PER_BLOCK {
                let n = (block - 1) * PER_BLOCK + log_index;
                rows.push(record(block, log_index, n, &patient));
            }
        }
        let batch = Batch {
            chain_id: CHAIN_ID,
            contract,
            from: first,
            to: block_ref(last),
            blocks: Vec::new(),
            rows,
        };
        store.commit(&batch).await?;
    }
    Ok(())
}

fn block_ref(number: u64) -> BlockRef {
    BlockRef {
        number,
        hash: keccak256(number.to_be_bytes()),
        parent_hash: keccak256(number.saturating_sub(1).to_be_bytes()),
        timestamp: 1_700_000_000 + number * 12,
    }
}

/// A synthetic `records` row: the `n`th record, as the decoder would write it.
fn record(block: u64, log_index: u64, n: u64, patient: &str) -> Row {
    let hash = |seed: &str| alloy::hex::encode_prefixed(keccak256(format!("{seed} {n}")));
    let values = Table::Records
        .columns()
        .iter()
        .map(|(column, _)| match *column {
            "record_id" => Value::Text(format!("0x{:064x}", n + 1)),
            "patient" => Value::Text(patient.to_owned()),
            "author" => Value::Text(patient.to_owned()),
            "category" => Value::Int((n % 4) as i64),
            "cid" => Value::Text(format!("0x01701220{}", &hash("cid")[2..])),
            "ciphertext_hash" => Value::Text(hash("ciphertext")),
            "wrapped_key" => Value::Text(hash("key")),
            "epoch" => Value::Int(0),
            "amends" => Value::Text(format!("0x{:064x}", 0)),
            _ => Value::Null,
        })
        .collect();
    Row {
        position: LogPosition {
            chain_id: CHAIN_ID,
            block_number: block,
            log_index,
            tx_hash: alloy::hex::encode_prefixed(B256::from(keccak256(format!("tx {n}")))),
            block_time: block_ref(block).timestamp,
        },
        table: Table::Records,
        values,
    }
}

/// `count` cursors uniformly over the history, from a fixed seed.
fn cursors(count: usize) -> Vec<Position> {
    let mut state: u64 = 0x6d65_6476_6175_6c74;
    (0..count)
        .map(|_| {
            // splitmix64
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            let n = (z ^ (z >> 31)) % (RECORDS - u64::from(PAGE));
            Position { block: n / PER_BLOCK + 1, log_index: n % PER_BLOCK }
        })
        .collect()
}

/// Sends one request per cursor at `RATE` a second without waiting for the
/// answers; the latencies of the measured ones, from their scheduled times.
async fn open_loop<F, Fut>(cursors: Arc<Vec<Position>>, request: F) -> anyhow::Result<Vec<Duration>>
where
    F: Fn(Position) -> Fut,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let start = tokio::time::Instant::now();
    let interval = Duration::from_secs(1) / RATE as u32;
    let mut tasks = Vec::with_capacity(cursors.len());
    for (i, cursor) in cursors.iter().enumerate() {
        let scheduled = start + interval * i as u32;
        tokio::time::sleep_until(scheduled).await;
        let future = request(*cursor);
        tasks.push(tokio::spawn(async move {
            future.await?;
            anyhow::Ok(scheduled.elapsed())
        }));
    }
    let mut latencies = Vec::with_capacity(tasks.len());
    for (i, task) in tasks.into_iter().enumerate() {
        let latency = task.await??;
        if i >= WARM_UP {
            latencies.push(latency);
        }
    }
    latencies.sort();
    Ok(latencies)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}
