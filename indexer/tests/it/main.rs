//! The indexer against a real Anvil, on SQLite and on a throwaway Postgres:
//! backfill of more than 10,000 events and live following, the binary
//! killed mid-backfill, reorgs, range shrinking and `check`; and the query
//! API over an index of real transactions.

#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

mod api;
mod chain;
mod follow;

use medvault_indexer::Store;
use medvault_tests::PostgresServer;

/// A store to test on, with whatever keeps it alive.
pub(crate) struct TestStore {
    /// The database's URL or path.
    pub(crate) url: String,
    _dir: Option<tempfile::TempDir>,
    _server: Option<std::sync::Arc<PostgresServer>>,
}

/// Which database a test runs on.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Db {
    /// A SQLite file in a temporary folder.
    Sqlite,
    /// A database on a throwaway Postgres server.
    Postgres,
}

impl Db {
    /// `n` empty databases of this kind (on one Postgres server).
    pub(crate) fn stores(self, n: usize) -> Vec<TestStore> {
        match self {
            Self::Sqlite => (0..n)
                .map(|_| {
                    let dir = tempfile::tempdir().unwrap();
                    let url = dir.path().join("index.sqlite").to_str().unwrap().to_owned();
                    TestStore { url, _dir: Some(dir), _server: None }
                })
                .collect(),
            Self::Postgres => {
                let server = std::sync::Arc::new(PostgresServer::spawn().unwrap());
                (0..n)
                    .map(|i| TestStore {
                        url: server.create_database(&format!("index{i}")).unwrap(),
                        _dir: None,
                        _server: Some(server.clone()),
                    })
                    .collect()
            }
        }
    }
}

impl TestStore {
    /// Opens and migrates the store.
    pub(crate) async fn open(&self) -> Store {
        let store = Store::connect(&self.url).await.unwrap();
        store.migrate().await.unwrap();
        store
    }
}
