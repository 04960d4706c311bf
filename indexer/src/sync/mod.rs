//! Following the chain: backfill from the deployment block, then live.
//!
//! Each pass reads from the block after the cursor to the head less the
//! confirmation depth. A fetcher task reads ranges ahead ([`fetch`]) over a
//! bounded channel while the writer commits them, one transaction a range;
//! the writer checks that each range's first block is the child of the
//! cursor's block, and at every pass that the chain still has the cursor's
//! block. When it does not, [`reorg`] finds the common ancestor, the store
//! rolls back to it, and the pass starts again from there. Once caught up,
//! the follower waits for a new head: a subscription over WebSocket, a timer
//! otherwise. A subscribed head whose parent is the cursor's block is
//! committed from the notification and its logs alone
//! ([`Follower::follow_head`]).

pub mod fetch;
pub mod reorg;

use std::{future::Future, time::Duration};

use alloy::{
    primitives::{Address, B256},
    providers::{DynProvider, Provider, ProviderBuilder},
    rpc::types::Header,
    transports::TransportError,
};
use futures_util::StreamExt as _;
use tokio::{
    sync::{mpsc, oneshot},
    task::JoinHandle,
};
use tracing::{info, warn};

pub use fetch::{FetchConfig, Fetched, RangeSize};

use crate::store::{Batch, BlockRef, DecodeError, Store, StoreError};

/// A batch being written on a task of its own, given back with the result.
type Writing = JoinHandle<(Result<(), StoreError>, Batch)>;

/// Ranges fetched ahead of the writer.
const PIPELINE_DEPTH: usize = 4;

/// Why following stopped.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The node could not be reached or refused a call.
    #[error("{what} failed")]
    Rpc {
        /// The call.
        what: &'static str,
        /// The transport's error.
        #[source]
        source: TransportError,
    },
    /// The node is on another chain than the one configured.
    #[error("the node is on chain {actual}, not {expected}")]
    WrongChain {
        /// The chain configured.
        expected: u64,
        /// The node's chain.
        actual: u64,
    },
    /// The node has no block at a height it reported.
    #[error("the node has no block {number}")]
    MissingBlock {
        /// The block.
        number: u64,
    },
    /// A log and its block's header disagree: the chain changed while the
    /// range was read.
    #[error("the chain changed while block {number} was read")]
    Inconsistent {
        /// The block.
        number: u64,
    },
    /// A reorg deeper than the limit: the index stops rather than serve an
    /// answer it cannot repair.
    #[error(
        "reorg of at least {depth} blocks exceeds the limit of {max_depth}: block {number} is {indexed} in the index \
         and {} on the chain",
        chain.map_or_else(|| "missing".to_owned(), |hash| hash.to_string())
    )]
    ReorgTooDeep {
        /// How many blocks at least would be rolled back.
        depth: u64,
        /// The limit.
        max_depth: u64,
        /// The highest block found to differ.
        number: u64,
        /// Its hash in the index.
        indexed: B256,
        /// Its hash on the chain, if the chain still has such a block.
        chain: Option<B256>,
    },
    /// A log could not be decoded.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The fetcher task panicked or was cancelled.
    #[error("the fetcher task failed")]
    Fetcher(#[from] tokio::task::JoinError),
}

/// How to follow a chain.
#[derive(Debug, Clone)]
pub struct FollowConfig {
    /// The chain (checked against the node's).
    pub chain_id: u64,
    /// The MedVault contract.
    pub contract: Address,
    /// The first block to index: the deployment block.
    pub from_block: u64,
    /// The largest `eth_getLogs` range, in blocks.
    pub max_range: u64,
    /// The most logs in one batch (one transaction); a response with more is
    /// split, and the next range narrowed.
    pub max_logs: usize,
    /// Blocks behind the head to stay (0 on Anvil).
    pub confirmations: u64,
    /// The deepest reorg repaired; deeper stops the follower.
    pub max_reorg_depth: u64,
    /// How often to look for a new head when not subscribed.
    pub poll_interval: Duration,
}

impl FollowConfig {
    /// Defaults for `contract` on `chain_id` from `from_block`.
    pub const fn new(chain_id: u64, contract: Address, from_block: u64) -> Self {
        Self {
            chain_id,
            contract,
            from_block,
            max_range: 2_000,
            max_logs: 10_000,
            confirmations: 0,
            max_reorg_depth: 64,
            poll_interval: Duration::from_millis(100),
        }
    }

    fn fetch(&self) -> FetchConfig {
        FetchConfig {
            chain_id: self.chain_id,
            contract: self.contract,
            max_logs: self.max_logs,
            reorg_window: self.max_reorg_depth,
        }
    }
}

/// Follows one contract on one chain into a store.
#[derive(Debug, Clone)]
pub struct Follower {
    provider: DynProvider,
    /// The connection new heads arrive on, when the node offers them.
    heads: Option<DynProvider>,
    store: Store,
    config: FollowConfig,
}

/// What one pass did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Progress {
    /// The cursor after the pass.
    pub cursor: u64,
    /// Logs committed.
    pub events: usize,
    /// Blocks rolled back for reorgs.
    pub rolled_back: u64,
}

impl Progress {
    fn add(&mut self, batch: &Batch) {
        self.cursor = batch.to.number;
        self.events += batch.logs();
    }
}

impl Follower {
    /// Connects to the node at `rpc_url` (http(s):// or ws(s)://), checks
    /// its chain, migrates the store and sets its cursor before
    /// `config.from_block` if it has none.
    ///
    /// Over WebSocket, new heads arrive on a connection of their own. A node
    /// that leaves Nagle's algorithm on (Anvil does) holds a notification
    /// back while its last response on the same connection waits for the
    /// client's delayed ACK: up to 40 ms on every block when the follower's
    /// own requests share it.
    pub async fn connect(
        rpc_url: &str,
        store: Store,
        config: FollowConfig,
    ) -> Result<Self, SyncError> {
        let provider = connect(rpc_url).await?;
        let heads = if rpc_url.starts_with("ws://") || rpc_url.starts_with("wss://") {
            Some(connect(rpc_url).await?)
        } else {
            None
        };
        Self::new(provider, heads, store, config).await
    }

    /// As [`Follower::connect`], over an existing provider for requests and,
    /// if `heads` is given, one that offers `eth_subscribe` for new heads.
    pub async fn new(
        provider: DynProvider,
        heads: Option<DynProvider>,
        store: Store,
        config: FollowConfig,
    ) -> Result<Self, SyncError> {
        let actual = provider
            .get_chain_id()
            .await
            .map_err(|source| SyncError::Rpc { what: "eth_chainId", source })?;
        if actual != config.chain_id {
            return Err(SyncError::WrongChain { expected: config.chain_id, actual });
        }
        store.migrate().await?;
        store.start(config.chain_id, config.contract, config.from_block).await?;
        Ok(Self { provider, heads, store, config })
    }

    /// The store.
    pub const fn store(&self) -> &Store {
        &self.store
    }

    /// The node.
    pub const fn provider(&self) -> &DynProvider {
        &self.provider
    }

    /// The configuration.
    pub const fn config(&self) -> &FollowConfig {
        &self.config
    }

    /// Follows until `shutdown` resolves or an error stops it.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), SyncError> {
        tokio::pin!(shutdown);
        let mut heads = if let Some(node) = &self.heads {
            match node.subscribe_blocks().await {
                Ok(subscription) => Some(subscription.into_stream()),
                Err(error) => {
                    warn!(%error, "no new-head subscription; polling");
                    None
                }
            }
        } else {
            None
        };
        // The head the subscription announced last, if it woke the loop.
        let mut announced: Option<Header> = None;
        loop {
            let pass = async {
                if let Some(head) = announced.take()
                    && let Some(progress) = self.follow_head(&head).await?
                {
                    return Ok(progress);
                }
                self.sync_once().await
            };
            tokio::select! {
                () = &mut shutdown => return Ok(()),
                progress = pass => {
                    let progress = progress?;
                    if progress.events > 0 || progress.rolled_back > 0 {
                        info!(cursor = progress.cursor, events = progress.events, "indexed");
                    }
                }
            }
            // A subscription can miss a head; the timer is the backstop.
            let backstop = if heads.is_some() {
                self.config.poll_interval * 20
            } else {
                self.config.poll_interval
            };
            tokio::select! {
                () = &mut shutdown => return Ok(()),
                () = tokio::time::sleep(backstop) => {}
                head = async {
                    match heads.as_mut() {
                        Some(heads) => heads.next().await,
                        None => std::future::pending().await,
                    }
                } => announced = head,
            }
        }
    }

    /// Commits `head`, a block the subscription announced, if it is the
    /// child of the cursor's block and the follower waits for no
    /// confirmations. The notification gives the block's number, hash,
    /// parent and time, so the node is asked one thing, the block's logs by
    /// its hash, while the cursor is read; a full pass asks the head's
    /// number, the cursor's header, the range's logs and the block's header,
    /// one after the other. `None`, with nothing written, leaves the head
    /// to a full pass: one that does not follow the cursor (a head missed,
    /// a reorg), or whose logs the node no longer has.
    pub async fn follow_head(&self, head: &Header) -> Result<Option<Progress>, SyncError> {
        if self.config.confirmations > 0 || head.number == 0 {
            return Ok(None);
        }
        let block = BlockRef {
            number: head.number,
            hash: head.hash,
            parent_hash: head.parent_hash,
            timestamp: head.timestamp,
        };
        let config = self.config.fetch();
        let (cursor, logs) =
            tokio::join!(self.cursor(), fetch::block_logs(&self.provider, &config, block.hash));
        if cursor? != (block.number - 1, Some(block.parent_hash)) {
            return Ok(None);
        }
        let Some(logs) = logs else { return Ok(None) };
        let batch = match fetch::assemble(&config, block.number, block.number, &logs, [block]) {
            Ok(fetched) => fetched.batch,
            Err(SyncError::Inconsistent { .. }) => return Ok(None),
            Err(error) => return Err(error),
        };
        self.store.commit(&batch).await?;
        let mut progress = Progress::default();
        progress.add(&batch);
        Ok(Some(progress))
    }

    /// One pass: repairs a reorg if the chain no longer has the cursor's
    /// block, then indexes up to the head less the confirmations.
    pub async fn sync_once(&self) -> Result<Progress, SyncError> {
        let mut progress = Progress::default();
        loop {
            let head = self
                .provider
                .get_block_number()
                .await
                .map_err(|source| SyncError::Rpc { what: "eth_blockNumber", source })?;
            let target = head.saturating_sub(self.config.confirmations);
            let cursor = self.cursor().await?;
            progress.cursor = cursor.0;
            if let Some(hash) = cursor.1 {
                let chain = fetch::header(&self.provider, cursor.0).await?;
                if chain.map(|c| c.hash) != Some(hash) {
                    progress.rolled_back += self.repair(cursor.0).await?;
                    continue;
                }
            }
            if cursor.0 >= target {
                return Ok(progress);
            }
            match self.backfill(cursor, target, head, &mut progress).await {
                Ok(()) => {}
                // The chain moved under the range; the next turn finds the
                // reorg through the cursor check.
                Err(SyncError::Inconsistent { number }) => {
                    warn!(block = number, "chain changed while reading")
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// Indexes `cursor + 1..=target`, fetching ahead of the writer. Stops
    /// early (returning Ok) when a range does not follow the cursor.
    async fn backfill(
        &self,
        cursor: (u64, Option<B256>),
        target: u64,
        head: u64,
        progress: &mut Progress,
    ) -> Result<(), SyncError> {
        let (tx, mut rx) = mpsc::channel::<Result<Fetched, SyncError>>(PIPELINE_DEPTH);
        let fetcher: JoinHandle<()> = {
            let provider = self.provider.clone();
            let config = self.config.fetch();
            let max_range = self.config.max_range;
            tokio::spawn(async move {
                let mut size = RangeSize::new(max_range);
                let mut from = cursor.0 + 1;
                while from <= target {
                    let (logs, end) =
                        match fetch::logs(&provider, &config, &mut size, from, target).await {
                            Ok(fetched) => fetched,
                            Err(error) => {
                                let _ = tx.send(Err(error)).await;
                                return;
                            }
                        };
                    // Each batch goes to the writer as soon as it is decoded,
                    // so the next range's fetch and decode overlap its commit.
                    let mut at = 0;
                    for (first, last, n) in fetch::split(&logs, from, end, config.max_logs) {
                        let batch =
                            fetch::batch(&provider, &config, first, last, &logs[at..at + n], head)
                                .await;
                        at += n;
                        let failed = batch.is_err();
                        if tx.send(batch).await.is_err() || failed {
                            return;
                        }
                    }
                    from = end + 1;
                }
            })
        };
        let _abort = AbortOnDrop(fetcher);
        let mut parent = cursor.1;
        // Where the store allows it (Postgres), the next batch is written
        // while the one before commits, each on a connection of its own;
        // subscribers hear of them in chain order. A batch in flight is
        // always waited for, whatever stops the loop.
        let mut writing: Option<Writing> = None;
        // Resolves once the batch last handed to a task has committed.
        let mut last_written: Option<oneshot::Receiver<()>> = None;
        let result = loop {
            let fetched = match rx.recv().await {
                Some(Ok(fetched)) => fetched,
                Some(Err(error)) => break Err(error),
                None => break Ok(()),
            };
            if parent.is_some_and(|parent| parent != fetched.first.parent_hash) {
                break Ok(());
            }
            parent = Some(fetched.batch.to.hash);
            let batch = fetched.batch;
            if !self.store.writes_behind() {
                if let Err(error) = self.store.commit(&batch).await {
                    break Err(error.into());
                }
                progress.add(&batch);
                continue;
            }
            let (store, after) = (self.store.clone(), last_written.take());
            let (written, next_written) = oneshot::channel();
            last_written = Some(next_written);
            let next = tokio::spawn(async move {
                let result = store.write(&batch, after).await;
                if result.is_ok() {
                    let _ = written.send(());
                }
                (result, batch)
            });
            if let Some(previous) = writing.replace(next)
                && let Err(error) = self.written(previous, progress).await
            {
                break Err(error);
            }
        };
        if let Some(last) = writing {
            let written = self.written(last, progress).await;
            // An earlier error comes first (a batch behind a failed one fails
            // too, having written nothing).
            return result.and(written);
        }
        result
    }

    /// Waits for a batch being written, then tells the store's subscribers.
    async fn written(&self, writing: Writing, progress: &mut Progress) -> Result<(), SyncError> {
        let (written, batch) = match writing.await {
            Ok(done) => done,
            Err(error) => std::panic::resume_unwind(error.into_panic()),
        };
        written?;
        self.store.committed(&batch);
        progress.add(&batch);
        Ok(())
    }

    /// Rolls back to the common ancestor with the chain; returns how many
    /// blocks were dropped.
    async fn repair(&self, cursor: u64) -> Result<u64, SyncError> {
        let start = self.config.from_block.saturating_sub(1);
        let ancestor = reorg::common_ancestor(
            &self.provider,
            &self.store,
            self.config.chain_id,
            cursor,
            start,
            self.config.max_reorg_depth,
        )
        .await?;
        warn!(from = cursor, to = ancestor, "reorg; rolling back");
        self.store.rollback_to(self.config.chain_id, ancestor).await?;
        Ok(cursor - ancestor)
    }

    async fn cursor(&self) -> Result<(u64, Option<B256>), SyncError> {
        let cursor = self
            .store
            .start(self.config.chain_id, self.config.contract, self.config.from_block)
            .await?;
        Ok((cursor.block_number, cursor.block_hash))
    }
}

async fn connect(rpc_url: &str) -> Result<DynProvider, SyncError> {
    Ok(ProviderBuilder::new()
        .connect(rpc_url)
        .await
        .map_err(|source| SyncError::Rpc { what: "connect", source })?
        .erased())
}

/// Stops the fetcher when the writer returns, whatever the reason.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
