//! Following: backfill, kills, live, reorgs, range shrinking, `check`.

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use alloy::{
    eips::BlockNumberOrTag,
    primitives::B256,
    providers::{Provider, ProviderBuilder},
};
use medvault_indexer::{
    FollowConfig, Follower, Store, SyncError,
    check::{Difference, check},
    store::Table,
    sync::FetchConfig,
};

use crate::{Db, chain::Chain};

/// A fixed-seed generator (xorshift) for the kill points.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn config(chain: &Chain) -> FollowConfig {
    let mut config = FollowConfig::new(chain.chain_id, chain.vault, 0);
    config.poll_interval = Duration::from_millis(20);
    config
}

async fn follower(chain: &Chain, store: Store, config: FollowConfig) -> Follower {
    Follower::connect(chain.anvil.endpoint_url().as_str(), store, config).await.unwrap()
}

async fn count(store: &Store, table: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
        .fetch_one(store.pool())
        .await
        .unwrap()
}

/// The rows that stand for a log: one per log indexed.
async fn logs(store: &Store) -> i64 {
    let mut n = 0;
    for table in Table::ALL.into_iter().filter(|table| table.stands_for_log()) {
        n += count(store, table.name()).await;
    }
    n
}

async fn cursor(store: &Store, chain: &Chain) -> u64 {
    store.cursor(chain.chain_id).await.unwrap().map_or(0, |c| c.block_number)
}

/// Every table of `a` equals `b`'s, and both equal the chain's logs.
async fn assert_same_index(a: &Store, b: &Store, chain: &Chain) {
    let to = cursor(a, chain).await;
    assert_eq!(to, cursor(b, chain).await);
    for table in Table::ALL {
        let left = a.rows(table, chain.chain_id, 0, to).await.unwrap();
        let right = b.rows(table, chain.chain_id, 0, to).await.unwrap();
        assert!(left == right, "{table} differs: {} rows against {}", left.len(), right.len());
    }
    let fetch = FetchConfig {
        chain_id: chain.chain_id,
        contract: chain.vault,
        max_logs: 10_000,
        reorg_window: 0,
    };
    let provider = ProviderBuilder::new().connect_http(chain.anvil.endpoint_url()).erased();
    let report = check(&provider, a, &fetch, 0, 2_000).await.unwrap();
    assert!(report.is_clean(), "{:?}", report.differences.first());
    assert_eq!(logs(a).await, i64::try_from(chain.log_count().await).unwrap());
}

fn spawn_indexer(chain: &Chain, database: &str) -> Child {
    spawn_indexer_with(chain, database, &[])
}

fn spawn_indexer_with(chain: &Chain, database: &str, extra: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_medvault-indexer"))
        .args(["run", "--rpc-url", chain.anvil.endpoint_url().as_str(), "--database", database])
        .args(["--chain-id", &chain.chain_id.to_string(), "--contract", &chain.vault.to_string()])
        .args(["--from-block", "0", "--max-range", "1", "--poll-interval-ms", "20"])
        .args(extra)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

/// 10,000+ events over 200 blocks; the binary killed with SIGKILL at 20
/// random points of the backfill (chosen by progress), then
/// left to finish and follow live; the index equals a fresh one and the
/// chain.
async fn backfill_kills_and_live(db: Db) {
    let stores = db.stores(2);
    let mut chain = Chain::new().await;
    chain.fill(600, 3).await;
    let logs = chain.log_count().await;
    assert!(logs >= 10_000, "{logs} logs");
    let head = chain.raw.get_block_number().await.unwrap();

    let store = stores[0].open().await;
    let mut rng = Rng(0x5eed);
    let mut kills_mid_backfill = 0;
    let mut cursors = Vec::new();
    // Kill points by progress, not by time, so that a faster or slower
    // machine still kills mid-backfill: each run is killed once the cursor
    // passes a random block ahead of where it stood, after a random few
    // milliseconds more (mid-batch, mid-transaction or between batches).
    for _ in 0..40 {
        let from = cursor(&store, &chain).await;
        if from >= head {
            break;
        }
        // About a fortieth of the range on average: twenty kills span half
        // of it, leaving the rest to the last run.
        let target = from + 1 + rng.below((head / 20).max(1));
        let mut child = spawn_indexer(&chain, &stores[0].url);
        let started = Instant::now();
        while cursor(&store, &chain).await < target && started.elapsed() < Duration::from_secs(30) {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        tokio::time::sleep(Duration::from_millis(rng.below(8))).await;
        child.kill().unwrap();
        child.wait().unwrap();
        let reached = cursor(&store, &chain).await;
        cursors.push(reached);
        if reached < head {
            kills_mid_backfill += 1;
        }
        if kills_mid_backfill == 20 {
            break;
        }
    }
    let reached = cursor(&store, &chain).await;
    assert_eq!(kills_mid_backfill, 20, "the backfill finished before 20 kills: {cursors:?}");
    // The kills landed at different points, not all before the first batch.
    assert!(cursors.windows(2).filter(|w| w[1] > w[0]).count() >= 5, "{cursors:?}");
    // The last run also serves the query API.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let listen = format!("127.0.0.1:{port}");
    let mut child = spawn_indexer_with(&chain, &stores[0].url, &["--listen", &listen]);
    let started = Instant::now();
    while cursor(&store, &chain).await < head {
        assert!(started.elapsed() < Duration::from_secs(60), "backfill did not finish");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(reached < head);

    // Live: a new record shows up while the binary follows, and its API
    // answers `min_block` once the record's block is indexed, without the
    // client polling.
    let before = count(&store, "records").await;
    let input = chain.add_record(1_000_000);
    let tx_hash = chain.send(input).await;
    let receipt = chain.raw.get_transaction_receipt(tx_hash).await.unwrap().unwrap();
    let block = receipt.block_number.unwrap();
    let head_at = |min_block: u64| {
        let url = format!("http://{listen}/v1/head?min_block={min_block}");
        async move {
            let started = Instant::now();
            let head: serde_json::Value =
                reqwest::get(url).await.unwrap().error_for_status().unwrap().json().await.unwrap();
            (head["block"]["number"].as_u64().unwrap(), started.elapsed())
        }
    };
    let (number, _) = head_at(block).await;
    assert!(number >= block, "answered at {number}, before block {block}");
    assert_eq!(count(&store, "records").await, before + 1);
    assert_eq!(number, cursor(&store, &chain).await);
    // A block the chain has not reached: the head as it is, after the wait.
    let (number, waited) = head_at(block + 1_000).await;
    assert!(number < block + 1_000);
    assert!(waited >= Duration::from_secs(4), "answered after {waited:?}");
    // SIGTERM stops it cleanly.
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(child.wait().unwrap().success());

    let fresh = stores[1].open().await;
    follower(&chain, fresh.clone(), config(&chain)).await.sync_once().await.unwrap();
    assert_same_index(&store, &fresh, &chain).await;
}

/// Reorgs of depth 1, 2, 5 and 12 with other transactions are repaired, and
/// the index equals a fresh one; one deeper than the limit stops with an
/// error naming both hashes.
async fn reorgs(db: Db) {
    let stores = db.stores(3);
    let mut chain = Chain::new().await;
    chain.fill(40, 2).await;
    let store = stores[0].open().await;
    let following = follower(&chain, store.clone(), config(&chain)).await;
    following.sync_once().await.unwrap();
    for (i, depth) in [1, 2, 5, 12].into_iter().enumerate() {
        chain.reorg(depth, i as u64 + 1).await;
        let progress = following.sync_once().await.unwrap();
        assert!(
            progress.rolled_back >= depth,
            "depth {depth}: rolled back {}",
            progress.rolled_back
        );
        let fresh_url = &stores[1];
        let fresh = Store::connect(&fresh_url.url).await.unwrap();
        for table in Table::ALL {
            sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {table}")))
                .execute(fresh.pool())
                .await
                .ok();
        }
        sqlx::query("DELETE FROM cursor").execute(fresh.pool()).await.ok();
        sqlx::query("DELETE FROM blocks").execute(fresh.pool()).await.ok();
        let fresh_follower = follower(&chain, fresh.clone(), config(&chain)).await;
        fresh_follower.sync_once().await.unwrap();
        assert_same_index(&store, &fresh, &chain).await;
    }

    let shallow = stores[2].open().await;
    let mut limited = config(&chain);
    limited.max_reorg_depth = 3;
    let limited = follower(&chain, shallow.clone(), limited).await;
    limited.sync_once().await.unwrap();
    let before = cursor(&shallow, &chain).await;
    chain.reorg(5, 99).await;
    let error = limited.sync_once().await.unwrap_err();
    let SyncError::ReorgTooDeep { depth, max_depth, indexed, chain: Some(on_chain), .. } = &error
    else {
        panic!("expected a deep reorg error, got {error:?}")
    };
    assert!(*depth > 3 && *max_depth == 3);
    let message = error.to_string();
    assert!(
        message.contains(&indexed.to_string()) && message.contains(&on_chain.to_string()),
        "{message}"
    );
    // Nothing was rolled back or served past the fork.
    assert_eq!(cursor(&shallow, &chain).await, before);
}

/// A tiny cap on logs per response shrinks the range down to single blocks
/// and still indexes everything; `check` finds a row removed and a row
/// altered behind the indexer's back.
async fn shrinking_and_check(db: Db) {
    let stores = db.stores(1);
    let mut chain = Chain::new().await;
    chain.fill(30, 3).await;
    let store = stores[0].open().await;
    let mut tiny = config(&chain);
    tiny.max_logs = 20;
    tiny.max_range = 64;
    follower(&chain, store.clone(), tiny).await.sync_once().await.unwrap();
    assert_eq!(logs(&store).await, i64::try_from(chain.log_count().await).unwrap());
    assert_eq!(count(&store, "records").await, 30);

    let fetch = FetchConfig {
        chain_id: chain.chain_id,
        contract: chain.vault,
        max_logs: 10_000,
        reorg_window: 0,
    };
    let provider = ProviderBuilder::new().connect_http(chain.anvil.endpoint_url()).erased();
    assert!(check(&provider, &store, &fetch, 0, 2_000).await.unwrap().is_clean());
    sqlx::query("DELETE FROM record_keys WHERE log_index = 3").execute(store.pool()).await.unwrap();
    sqlx::query("UPDATE records SET category = 63 WHERE log_index = 0")
        .execute(store.pool())
        .await
        .unwrap();
    let report = check(&provider, &store, &fetch, 0, 2_000).await.unwrap();
    assert!(
        report
            .differences
            .iter()
            .any(|d| matches!(d, Difference::Missing(r) if r.table == Table::RecordKeys))
    );
    assert!(report.differences.iter().any(
        |d| matches!(d, Difference::Different { indexed, .. } if indexed.table == Table::Records)
    ));
    assert!(!report.differences.iter().any(|d| matches!(d, Difference::Extra(_))));
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_backfill_kills_and_live() {
    backfill_kills_and_live(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_backfill_kills_and_live() {
    backfill_kills_and_live(Db::Postgres).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_reorgs() {
    reorgs(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_reorgs() {
    reorgs(Db::Postgres).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_shrinking_and_check() {
    shrinking_and_check(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_shrinking_and_check() {
    shrinking_and_check(Db::Postgres).await;
}

/// Over WebSocket the follower waits on a new-head subscription: a record
/// is indexed within a second though the backstop timer is minutes away.
#[tokio::test(flavor = "multi_thread")]
async fn sqlite_live_over_websocket() {
    let stores = Db::Sqlite.stores(1);
    let mut chain = Chain::new().await;
    let store = stores[0].open().await;
    let mut slow = config(&chain);
    slow.poll_interval = Duration::from_secs(10);
    let following =
        Follower::connect(&chain.anvil.ws_endpoint(), store.clone(), slow).await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(following.run(async {
        let _ = stopped.await;
    }));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(count(&store, "records").await, 0);
    let input = chain.add_record(7);
    chain.send(input).await;
    let started = Instant::now();
    while count(&store, "records").await == 0 {
        assert!(started.elapsed() < Duration::from_secs(1), "not indexed through the subscription");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

/// A subscribed head is committed from the notification alone only when its
/// parent is the cursor's block; any other head is left to a full pass,
/// with nothing written, and the index ends as a full pass makes it.
#[tokio::test(flavor = "multi_thread")]
async fn a_head_is_committed_from_its_notification_only_when_it_follows_the_cursor() {
    let stores = Db::Sqlite.stores(2);
    let mut chain = Chain::new().await;
    let (store, reference) = (stores[0].open().await, stores[1].open().await);
    let following = follower(&chain, store.clone(), config(&chain)).await;
    following.sync_once().await.unwrap();
    let (start, before) = (cursor(&store, &chain).await, logs(&store).await);
    let latest = async |chain: &Chain| {
        chain.raw.get_block_by_number(BlockNumberOrTag::Latest).await.unwrap().unwrap().header
    };
    let input = chain.add_record(1);
    chain.send(input).await;
    let head = latest(&chain).await;
    let input = chain.add_record(2);
    chain.send(input).await;
    let next = latest(&chain).await;
    assert_eq!((head.number, next.number), (start + 1, start + 2));

    // Waiting for confirmations, a head is always left to the full pass.
    let mut waiting = config(&chain);
    waiting.confirmations = 1;
    let cautious = follower(&chain, store.clone(), waiting).await;
    assert_eq!(cautious.follow_head(&head).await.unwrap(), None);
    // A head past a missed one, or with another parent: nothing written.
    assert_eq!(following.follow_head(&next).await.unwrap(), None);
    let mut forged = head.clone();
    forged.inner.parent_hash = B256::repeat_byte(7);
    assert_eq!(following.follow_head(&forged).await.unwrap(), None);
    assert_eq!((cursor(&store, &chain).await, logs(&store).await), (start, before));

    // Each head in turn: its record's 17 events, and the cursor on it.
    for (n, announced) in [head, next].iter().enumerate() {
        let progress = following.follow_head(announced).await.unwrap().expect("followed");
        assert_eq!((progress.cursor, progress.events), (announced.number, 17));
        assert_eq!(cursor(&store, &chain).await, announced.number);
        assert_eq!(logs(&store).await, before + 17 * (n as i64 + 1));
    }
    follower(&chain, reference.clone(), config(&chain)).await.sync_once().await.unwrap();
    assert_same_index(&store, &reference, &chain).await;
}
