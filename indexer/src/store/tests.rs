//! The store on SQLite and on a throwaway Postgres: migrations, commits,
//! replays, rollbacks and placeholders.

use alloy::primitives::{Address, U256, aliases::U40};
use alloy::rpc::types::Log;
use medvault_core::bindings::vault::MedVault;
use medvault_tests::PostgresServer;

use super::{
    fixtures::{CHAIN, contract, hash, log_at, record},
    *,
};

fn block(number: u64) -> BlockRef {
    BlockRef {
        number,
        hash: hash(number),
        parent_hash: hash(number.saturating_sub(1)),
        timestamp: 1_000 + number,
    }
}

fn batch(from: u64, to: u64, logs: &[Log]) -> Batch {
    let rows = logs.iter().flat_map(|log| decode(CHAIN, log, None).unwrap()).collect();
    Batch { chain_id: CHAIN, contract: contract(), from, to: block(to), blocks: vec![], rows }
}

fn sample_logs() -> Vec<Log> {
    let patient = Address::repeat_byte(0xaa);
    let doctor = Address::repeat_byte(0xbb);
    let record = MedVault::RecordAdded {
        recordId: U256::from(1),
        patient,
        author: patient,
        record: record(patient, 0),
    };
    vec![
        log_at(&MedVault::PatientRegistered { patient }, 1, 0),
        log_at(&record, 2, 0),
        log_at(
            &MedVault::RecordGranted {
                recordId: U256::from(1),
                grantee: doctor,
                grantedBy: patient,
                expiry: U40::from(5u64),
            },
            2,
            1,
        ),
        log_at(
            &MedVault::RecordKeyPublished {
                recordId: U256::from(1),
                recipient: doctor,
                publisher: patient,
                sealedKey: vec![7].into(),
            },
            4,
            0,
        ),
    ]
}

async fn exercise(store: Store) {
    store.migrate().await.unwrap();
    // A second run finds nothing to do.
    store.migrate().await.unwrap();
    assert_eq!(store.cursor(CHAIN).await.unwrap(), None);
    let start = store.start(CHAIN, contract(), 1).await.unwrap();
    assert_eq!(start.block_number, 0);
    let mut changes = store.subscribe();
    let logs = sample_logs();
    assert_eq!(store.reached(CHAIN), None);

    store.commit(&batch(1, 2, &logs[..3])).await.unwrap();
    // What a waiting `/v1/head` is told without reading: this chain's only.
    assert_eq!(store.reached(CHAIN), Some(block(2)));
    assert_eq!(store.reached(CHAIN + 1), None);
    assert_eq!(
        changes.recv().await.unwrap(),
        Change::Committed { chain_id: CHAIN, from: 1, to: 2, events: 3 }
    );
    // The same batch again adds nothing and leaves the cursor where it is.
    store.commit(&batch(1, 2, &logs[..3])).await.unwrap();
    assert_eq!(
        changes.recv().await.unwrap(),
        Change::Committed { chain_id: CHAIN, from: 1, to: 2, events: 3 }
    );
    assert_eq!(store.rows(Table::Events, CHAIN, 0, 100).await.unwrap().len(), 3);
    assert_eq!(store.cursor(CHAIN).await.unwrap().unwrap().block_number, 2);
    // A gap is refused.
    assert!(matches!(
        store.commit(&batch(4, 4, &logs[3..])).await,
        Err(StoreError::NotContiguous { .. })
    ));
    // Its rows went with it, and the cursor stayed.
    assert_eq!(store.rows(Table::Events, CHAIN, 0, 100).await.unwrap().len(), 3);
    assert_eq!(store.cursor(CHAIN).await.unwrap().unwrap().block_number, 2);
    store.commit(&batch(3, 4, &logs[3..])).await.unwrap();

    let cursor = store.cursor(CHAIN).await.unwrap().unwrap();
    assert_eq!((cursor.block_number, cursor.block_hash), (4, Some(hash(4))));
    assert_eq!(cursor.contract, contract());

    // Rows that name only a record get the record's patient, whether the
    // record came in the same batch or an earlier one.
    let patient = Value::Text(alloy::hex::encode_prefixed(Address::repeat_byte(0xaa)));
    let grants = store.rows(Table::RecordGrants, CHAIN, 0, 100).await.unwrap();
    assert_eq!(grants[0].get("patient"), Some(&patient));
    let keys = store.rows(Table::RecordKeys, CHAIN, 0, 100).await.unwrap();
    assert_eq!(keys[0].get("patient"), Some(&patient));

    // What is read back is what was decoded (NULLs, integers, text).
    let participants = store.rows(Table::Participants, CHAIN, 0, 100).await.unwrap();
    assert_eq!(participants, batch(1, 1, &logs[..1]).rows[1..].to_vec());

    assert_eq!(store.reached(CHAIN), Some(block(4)));
    store.rollback_to(CHAIN, 2).await.unwrap();
    // After a rollback, the database says where the index is.
    assert_eq!(store.reached(CHAIN), None);
    assert_eq!(
        changes.recv().await.unwrap(),
        Change::Committed { chain_id: CHAIN, from: 3, to: 4, events: 1 }
    );
    assert_eq!(changes.recv().await.unwrap(), Change::RolledBack { chain_id: CHAIN, to: 2 });
    let cursor = store.cursor(CHAIN).await.unwrap().unwrap();
    assert_eq!((cursor.block_number, cursor.block_hash), (2, Some(hash(2))));
    assert_eq!(store.rows(Table::RecordKeys, CHAIN, 0, 100).await.unwrap(), vec![]);
    assert_eq!(store.rows(Table::Events, CHAIN, 0, 100).await.unwrap().len(), 3);
    assert_eq!(store.block(CHAIN, 4).await.unwrap(), None);
    assert_eq!(store.blocks_below(CHAIN, 100, 10).await.unwrap(), vec![block(2)]);

    // Another contract's index on the same chain is refused.
    assert!(matches!(
        store.start(CHAIN, Address::repeat_byte(1), 1).await,
        Err(StoreError::OtherContract { .. })
    ));

    // `$n` placeholders bind by number on both databases, out of order too.
    let (a, b): (i64, String) = sqlx::query_as("SELECT $2 + 1, $1")
        .bind("x".to_owned())
        .bind(41_i64)
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!((a, b.as_str()), (42, "x"));

    // A mask with bit 63 set survives the trip and answers a bit test.
    let grant = MedVault::Granted {
        patient: Address::repeat_byte(0xaa),
        grantee: Address::repeat_byte(0xbb),
        grantedBy: Address::repeat_byte(0xaa),
        readMask: 1 << 63 | 1,
        writeMask: 0,
        expiry: U40::from(10u64),
    };
    store.commit(&batch(3, 3, &[log_at(&grant, 3, 0)])).await.unwrap();
    let hits: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM category_grants WHERE chain_id = $1 AND (read_mask & $2) <> 0 AND (read_mask & $3) <> 0",
    )
    .bind(i64::try_from(CHAIN).unwrap())
    .bind(i64::MIN)
    .bind(1_i64)
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!(hits, 1);
}

#[tokio::test]
async fn sqlite_commits_replays_and_rolls_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(dir.path().join("index.db").to_str().unwrap()).await.unwrap();
    assert_eq!(store.backend(), Backend::Sqlite);
    let mode: String =
        sqlx::query_scalar("PRAGMA journal_mode").fetch_one(store.pool()).await.unwrap();
    assert_eq!(mode, "wal");
    let page_size: i64 =
        sqlx::query_scalar("PRAGMA page_size").fetch_one(store.pool()).await.unwrap();
    assert_eq!(page_size, 16_384);
    // No ping to the connection's own thread before each statement.
    assert!(!store.pool().options().get_test_before_acquire());
    exercise(store).await;
}

/// The writer's commits do not checkpoint (the WAL is far below the
/// backstop); the store's own task copies them into the database file.
#[tokio::test]
async fn sqlite_checkpoints_beside_the_writer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index.db");
    let store = Store::connect(path.to_str().unwrap()).await.unwrap();
    let backstop: i64 =
        sqlx::query_scalar("PRAGMA wal_autocheckpoint").fetch_one(store.pool()).await.unwrap();
    assert_eq!(backstop, i64::from(checkpoint::BACKSTOP_PAGES));
    store.migrate().await.unwrap();
    store.start(CHAIN, contract(), 1).await.unwrap();
    // Nothing has been checkpointed yet: the schema is in the WAL only.
    let before = std::fs::metadata(&path).unwrap().len();
    store.commit(&batch(1, 2, &sample_logs()[..3])).await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let now = std::fs::metadata(&path).unwrap().len();
        if now > before {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no checkpoint: the file is {now} bytes");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// A database made before 16 KiB pages keeps its 4 KiB pages and works.
#[tokio::test]
async fn sqlite_keeps_an_existing_page_size() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index.db");
    let url = format!("sqlite://{}?mode=rwc", path.display());
    {
        use sqlx::Connection as _;
        let mut old = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::raw_sql("PRAGMA page_size = 4096; PRAGMA journal_mode = WAL; CREATE TABLE t (x);")
            .execute(&mut old)
            .await
            .unwrap();
        old.close().await.unwrap();
    }
    let store = Store::connect(path.to_str().unwrap()).await.unwrap();
    let page_size: i64 =
        sqlx::query_scalar("PRAGMA page_size").fetch_one(store.pool()).await.unwrap();
    assert_eq!(page_size, 4_096);
    exercise(store).await;
}

#[tokio::test]
async fn postgres_commits_replays_and_rolls_back() {
    let server = PostgresServer::spawn().unwrap();
    let store = Store::connect(&server.url()).await.unwrap();
    assert_eq!(store.backend(), Backend::Postgres);
    exercise(store).await;
}

/// A batch written behind the one before: its envelope takes its patient
/// from that batch's record; it commits only after that one, and leaves
/// nothing if that one failed.
#[tokio::test]
async fn postgres_writes_a_batch_behind_the_one_before() {
    use tokio::sync::oneshot;
    let server = PostgresServer::spawn().unwrap();
    let store = Store::connect(&server.url()).await.unwrap();
    assert!(store.writes_behind());
    store.migrate().await.unwrap();
    store.start(CHAIN, contract(), 1).await.unwrap();
    let logs = sample_logs();
    let (first, second) = (batch(1, 2, &logs[..3]), batch(3, 4, &logs[3..]));
    let (done, after) = oneshot::channel();
    let (a, b) = tokio::join!(
        async {
            let written = store.write(&first, None).await;
            done.send(()).unwrap();
            written
        },
        store.write(&second, Some(after)),
    );
    a.unwrap();
    b.unwrap();
    assert_eq!(store.cursor(CHAIN).await.unwrap().unwrap().block_number, 4);
    let keys = store.rows(Table::RecordKeys, CHAIN, 0, 100).await.unwrap();
    assert_eq!(keys[0].get("patient"), Some(&Value::Text(format!("0x{}", "aa".repeat(20)))));

    let other = Address::repeat_byte(0xdd);
    let third = batch(5, 6, &[log_at(&MedVault::PatientRegistered { patient: other }, 6, 0)]);
    let (failed, after) = oneshot::channel::<()>();
    drop(failed);
    assert!(matches!(
        store.write(&third, Some(after)).await,
        Err(StoreError::Abandoned { from: 5 })
    ));
    assert_eq!(store.cursor(CHAIN).await.unwrap().unwrap().block_number, 4);
    assert!(store.rows(Table::Events, CHAIN, 5, 6).await.unwrap().is_empty());
    let (done, after) = oneshot::channel();
    done.send(()).unwrap();
    store.write(&third, Some(after)).await.unwrap();
    assert_eq!(store.cursor(CHAIN).await.unwrap().unwrap().block_number, 6);
    assert_eq!(store.rows(Table::Participants, CHAIN, 5, 6).await.unwrap().len(), 1);
}

#[tokio::test]
async fn postgres_replicas_starting_at_once_migrate_once() {
    let server = PostgresServer::spawn().unwrap();
    let mut stores = Vec::new();
    for _ in 0..4 {
        stores.push(Store::connect(&server.url()).await.unwrap());
    }
    let results = futures_util::future::join_all(stores.iter().map(Store::migrate)).await;
    for result in results {
        result.unwrap();
    }
    let versions: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM schema_migrations ORDER BY version")
            .fetch_all(stores[0].pool())
            .await
            .unwrap();
    assert_eq!(versions, migrate::MIGRATIONS.iter().map(|m| m.version).collect::<Vec<_>>());
}
