//! Reading a block range from the node: logs through `eth_getLogs` with a
//! range that shrinks when the node refuses it and grows back after, and the
//! headers the index keeps.

use std::collections::{BTreeMap, BTreeSet};

use alloy::{
    eips::BlockNumberOrTag,
    primitives::Address,
    providers::{DynProvider, Provider},
    rpc::types::{Filter, Log},
};
use futures_util::{StreamExt as _, TryStreamExt as _, stream};
use tracing::debug;

use super::SyncError;
use crate::store::{Batch, BlockRef, decode};

/// Headers fetched at once.
const HEADER_CONCURRENCY: usize = 16;

/// How many times a one-block range is retried before giving up.
const SINGLE_BLOCK_ATTEMPTS: u32 = 5;

/// The size of the next `eth_getLogs` range: halved when the node refuses a
/// range or returns too many logs, doubled back (up to the maximum) after
/// each success.
#[derive(Debug, Clone, Copy)]
pub struct RangeSize {
    current: u64,
    max: u64,
}

impl RangeSize {
    /// Starts at `max` blocks.
    pub fn new(max: u64) -> Self {
        let max = max.max(1);
        Self { current: max, max }
    }

    /// The current size, in blocks.
    pub const fn get(self) -> u64 {
        self.current
    }

    fn shrink(&mut self) {
        self.current = (self.current / 2).max(1);
    }

    fn grow(&mut self) {
        self.current = self.current.saturating_mul(2).min(self.max);
    }
}

/// What the fetcher needs to know.
#[derive(Debug, Clone)]
pub struct FetchConfig {
    /// The chain.
    pub chain_id: u64,
    /// The contract whose logs are indexed.
    pub contract: Address,
    /// More logs than this in one response counts as a refusal, so the
    /// range shrinks (nodes that cap results do so silently or with an
    /// error; this keeps batches bounded either way).
    pub max_logs: usize,
    /// Blocks within this distance of the head get their headers kept, so
    /// that a reorg up to this depth is found exactly.
    pub reorg_window: u64,
}

/// Logs of `contract` in `from..=to`, in chain order, shrinking the range
/// as needed: returns the logs and the last block they cover (at most `to`).
pub async fn logs(
    provider: &DynProvider,
    config: &FetchConfig,
    size: &mut RangeSize,
    from: u64,
    to: u64,
) -> Result<(Vec<Log>, u64), SyncError> {
    let mut attempts = 0;
    loop {
        let end = to.min(from.saturating_add(size.get() - 1));
        let filter = Filter::new().address(config.contract).from_block(from).to_block(end);
        match provider.get_logs(&filter).await {
            Ok(logs) if logs.len() <= config.max_logs || end == from => {
                size.grow();
                return Ok((logs, end));
            }
            Ok(logs) => {
                debug!(from, to = end, logs = logs.len(), "too many logs; shrinking the range");
                size.shrink();
            }
            Err(error) if end > from => {
                debug!(from, to = end, %error, "eth_getLogs refused; shrinking the range");
                size.shrink();
            }
            Err(source) => {
                attempts += 1;
                if attempts >= SINGLE_BLOCK_ATTEMPTS {
                    return Err(SyncError::Rpc { what: "eth_getLogs", source });
                }
            }
        }
    }
}

/// The header of block `number`, or `None` when the chain has no such block.
pub async fn header(provider: &DynProvider, number: u64) -> Result<Option<BlockRef>, SyncError> {
    let block = provider
        .get_block_by_number(BlockNumberOrTag::Number(number))
        .await
        .map_err(|source| SyncError::Rpc { what: "eth_getBlockByNumber", source })?;
    Ok(block.map(|block| BlockRef {
        number: block.header.number,
        hash: block.header.hash,
        parent_hash: block.header.parent_hash,
        timestamp: block.header.timestamp,
    }))
}

/// The headers of `numbers`, fetched concurrently.
async fn headers(
    provider: &DynProvider,
    numbers: impl IntoIterator<Item = u64>,
) -> Result<BTreeMap<u64, BlockRef>, SyncError> {
    stream::iter(numbers)
        .map(|number| async move {
            header(provider, number)
                .await?
                .map(|h| (number, h))
                .ok_or(SyncError::MissingBlock { number })
        })
        .buffer_unordered(HEADER_CONCURRENCY)
        .try_collect()
        .await
}

/// A fetched range, ready to commit once its first block is found to
/// follow the cursor.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The header of the range's first block.
    pub first: BlockRef,
    /// The batch to commit.
    pub batch: Batch,
}

/// Fetches and decodes `from..` (up to `to`, or fewer blocks if the range
/// shrinks), with the headers the index keeps: the first and last blocks,
/// every block within the reorg window of `head`, and any block whose logs
/// do not carry their timestamp.
pub async fn range(
    provider: &DynProvider,
    config: &FetchConfig,
    size: &mut RangeSize,
    from: u64,
    to: u64,
    head: u64,
) -> Result<Fetched, SyncError> {
    let (logs, end) = logs(provider, config, size, from, to).await?;
    let mut wanted: BTreeSet<u64> = [from, end].into();
    wanted.extend(from.max(head.saturating_sub(config.reorg_window))..=end);
    wanted.extend(
        logs.iter().filter(|log| log.block_timestamp.is_none()).filter_map(|log| log.block_number),
    );
    let headers = headers(provider, wanted).await?;
    let mut rows = Vec::with_capacity(logs.len() * 2);
    for log in &logs {
        let number = log.block_number.unwrap_or_default();
        if let Some(header) = headers.get(&number) {
            // The log and the header were read at different moments: a
            // reorg in between shows here, and the range is read again.
            if log.block_hash != Some(header.hash) {
                return Err(SyncError::Inconsistent { number });
            }
        }
        if log.removed {
            return Err(SyncError::Inconsistent { number });
        }
        rows.extend(decode(config.chain_id, log, headers.get(&number).map(|h| h.timestamp))?);
    }
    let first = *headers.get(&from).ok_or(SyncError::MissingBlock { number: from })?;
    let last = *headers.get(&end).ok_or(SyncError::MissingBlock { number: end })?;
    Ok(Fetched {
        first,
        batch: Batch {
            chain_id: config.chain_id,
            contract: config.contract,
            from,
            to: last,
            blocks: headers.into_values().collect(),
            rows,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_range_halves_down_to_one_block_and_doubles_back_to_the_maximum() {
        let mut size = RangeSize::new(100);
        assert_eq!(size.get(), 100);
        for _ in 0..10 {
            size.shrink();
        }
        assert_eq!(size.get(), 1);
        size.grow();
        assert_eq!(size.get(), 2);
        for _ in 0..10 {
            size.grow();
        }
        assert_eq!(size.get(), 100);
        assert_eq!(RangeSize::new(0).get(), 1);
    }
}
