//! Reading a block range from the node: logs through `eth_getLogs` with a
//! range that shrinks when the node refuses it and grows back after, and the
//! headers the index keeps.

use std::collections::{BTreeMap, BTreeSet};

use alloy::{
    eips::BlockNumberOrTag,
    primitives::{Address, B256},
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

/// The size of the next `eth_getLogs` range: it starts at one block and
/// doubles (up to the maximum) after each response of at most half the log
/// cap; it is halved when the node refuses a range, and scaled down to aim
/// at the cap when a response exceeds it.
///
/// Starting small costs a few calls on a sparse chain and, on a dense one,
/// gives the writer a first batch at once, so that the next ranges are
/// fetched and decoded while it commits rather than all before.
#[derive(Debug, Clone, Copy)]
pub struct RangeSize {
    current: u64,
    max: u64,
}

impl RangeSize {
    /// Starts at one block, growing up to `max`.
    pub fn new(max: u64) -> Self {
        Self { current: 1, max: max.max(1) }
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

    /// Adapts to a response of `logs` logs over `blocks` blocks, under a
    /// cap of `max_logs` a response.
    fn fit(&mut self, blocks: u64, logs: usize, max_logs: usize) {
        let (logs, max_logs) = (logs as u128, max_logs.max(1) as u128);
        if logs > max_logs {
            let scaled = u128::from(blocks) * max_logs / logs;
            self.current = u64::try_from(scaled).unwrap_or(u64::MAX).clamp(1, self.max);
        } else if logs * 2 <= max_logs {
            self.grow();
        }
    }
}

/// What the fetcher needs to know.
#[derive(Debug, Clone)]
pub struct FetchConfig {
    /// The chain.
    pub chain_id: u64,
    /// The contract whose logs are indexed.
    pub contract: Address,
    /// The most logs in one batch. A response with more is split into
    /// batches under it and narrows the next range; its last block is left
    /// for the next range, in case the node cut the response short there
    /// (nodes that cap results do so silently or with an error).
    pub max_logs: usize,
    /// Blocks within this distance of the head get their headers kept, so
    /// that a reorg up to this depth is found exactly.
    pub reorg_window: u64,
}

/// Logs of `contract` in `from..=to`, in chain order, shrinking the range
/// when the node refuses it: returns the logs and the last block they cover
/// (at most `to`).
///
/// A response over `config.max_logs` is kept, not fetched again in smaller
/// pieces: it holds every log of its range but perhaps the last block's
/// (which is left for the next range), and [`split`] cuts it into batches
/// under the cap. Only the next range is made smaller.
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
            Ok(mut logs) => {
                let mut end = end;
                if logs.len() > config.max_logs {
                    debug!(
                        from,
                        to = end,
                        logs = logs.len(),
                        "many logs; narrowing the next range"
                    );
                    end = trim_last_block(&mut logs, from, end);
                }
                size.fit(end - from + 1, logs.len(), config.max_logs);
                return Ok((logs, end));
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

/// Drops the logs of the last block in `logs` (logs of `from..=end` in
/// chain order) unless it is `from`, and returns the last block whose logs
/// are then all in: a node that caps responses without saying so returns
/// the first logs of the range, and may have cut that block short.
fn trim_last_block(logs: &mut Vec<Log>, from: u64, end: u64) -> u64 {
    match logs.last().and_then(|log| log.block_number) {
        Some(last) if last > from && last <= end => {
            let keep = logs.partition_point(|log| log.block_number.is_some_and(|b| b < last));
            logs.truncate(keep);
            last - 1
        }
        _ => end,
    }
}

/// Cuts the logs of blocks `from..=to` (in chain order) into ranges of
/// whole blocks holding at most `max_logs` logs each (a block with more is
/// a range of its own): returns each range's first and last block and the
/// number of its logs. The ranges cover `from..=to` without a gap.
pub fn split(logs: &[Log], from: u64, to: u64, max_logs: usize) -> Vec<(u64, u64, usize)> {
    let max_logs = max_logs.max(1);
    let mut ranges = Vec::new();
    let (mut start, mut rest) = (from, logs);
    while rest.len() > max_logs {
        // The block of the first log past the cap starts the next range,
        // unless no log comes before it: then that block goes in whole.
        let over = rest[max_logs].block_number.unwrap_or(start);
        let before = |cut: u64| rest.partition_point(|log| log.block_number.unwrap_or(start) < cut);
        let (mut cut, mut n) = (over, before(over));
        if n == 0 {
            cut = over.saturating_add(1);
            n = before(cut);
        }
        if cut > to || n == rest.len() {
            break;
        }
        ranges.push((start, cut - 1, n));
        start = cut;
        rest = &rest[n..];
    }
    ranges.push((start, to, rest.len()));
    ranges
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

/// Fetches `from..` (up to `to`, or fewer blocks if the range shrinks) and
/// decodes it into batches of at most `config.max_logs` logs (see
/// [`batch`]).
pub async fn range(
    provider: &DynProvider,
    config: &FetchConfig,
    size: &mut RangeSize,
    from: u64,
    to: u64,
    head: u64,
) -> Result<Vec<Fetched>, SyncError> {
    let (logs, end) = logs(provider, config, size, from, to).await?;
    let mut batches = Vec::new();
    let mut at = 0;
    for (first, last, n) in split(&logs, from, end, config.max_logs) {
        batches.push(batch(provider, config, first, last, &logs[at..at + n], head).await?);
        at += n;
    }
    Ok(batches)
}

/// Decodes `logs`, every log of blocks `from..=end`, into a batch, with the
/// headers the index keeps: the first and last blocks, every block within
/// the reorg window of `head`, and any block whose logs do not carry their
/// timestamp.
pub async fn batch(
    provider: &DynProvider,
    config: &FetchConfig,
    from: u64,
    end: u64,
    logs: &[Log],
    head: u64,
) -> Result<Fetched, SyncError> {
    let mut wanted: BTreeSet<u64> = [from, end].into();
    wanted.extend(from.max(head.saturating_sub(config.reorg_window))..=end);
    wanted.extend(
        logs.iter().filter(|log| log.block_timestamp.is_none()).filter_map(|log| log.block_number),
    );
    let headers = headers(provider, wanted).await?;
    assemble(config, from, end, logs, headers.into_values())
}

/// The logs of `contract` in the block `hash`, or `None` when the node
/// does not give them (it no longer has the block).
pub async fn block_logs(
    provider: &DynProvider,
    config: &FetchConfig,
    hash: B256,
) -> Option<Vec<Log>> {
    let filter = Filter::new().address(config.contract).at_block_hash(hash);
    match provider.get_logs(&filter).await {
        Ok(logs) => Some(logs),
        Err(error) => {
            debug!(%hash, %error, "no logs by block hash");
            None
        }
    }
}

/// Decodes `logs`, every log of blocks `from..=end`, into a batch with
/// `headers`, which hold `from`'s and `end`'s. A log whose block is in
/// `headers` under another hash, or that the node marks removed, is
/// [`SyncError::Inconsistent`].
pub fn assemble(
    config: &FetchConfig,
    from: u64,
    end: u64,
    logs: &[Log],
    headers: impl IntoIterator<Item = BlockRef>,
) -> Result<Fetched, SyncError> {
    let headers: BTreeMap<u64, BlockRef> =
        headers.into_iter().map(|header| (header.number, header)).collect();
    let mut rows = Vec::with_capacity(logs.len() * 2);
    for log in logs {
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
    fn the_range_starts_at_one_block_halves_down_to_one_and_doubles_back_to_the_maximum() {
        let mut size = RangeSize::new(100);
        assert_eq!(size.get(), 1);
        for _ in 0..10 {
            size.grow();
        }
        assert_eq!(size.get(), 100);
        for _ in 0..10 {
            size.shrink();
        }
        assert_eq!(size.get(), 1);
        size.grow();
        assert_eq!(size.get(), 2);
        assert_eq!(RangeSize::new(0).get(), 1);
    }

    #[test]
    fn a_response_over_the_cap_narrows_the_next_range_to_aim_at_the_cap() {
        let mut size = RangeSize::new(2_000);
        size.fit(1, 10, 10_000);
        assert_eq!(size.get(), 2);
        size.fit(2_000, 40_000, 10_000);
        assert_eq!(size.get(), 500);
        // Between half the cap and the cap: it stays.
        size.fit(500, 8_000, 10_000);
        assert_eq!(size.get(), 500);
        size.fit(500, 5_000, 10_000);
        assert_eq!(size.get(), 1_000);
        size.fit(1_000, 1_000_000, 10);
        assert_eq!(size.get(), 1);
    }

    fn logs_in(blocks: &[u64]) -> Vec<Log> {
        blocks.iter().map(|&b| Log { block_number: Some(b), ..Log::default() }).collect()
    }

    #[test]
    fn a_response_over_the_cap_leaves_its_last_block_for_the_next_range() {
        let mut logs = logs_in(&[3, 3, 4, 4, 4]);
        assert_eq!(trim_last_block(&mut logs, 1, 10), 3);
        assert_eq!(logs.len(), 2);
        // All in the first block: kept whole.
        let mut logs = logs_in(&[3, 3]);
        assert_eq!(trim_last_block(&mut logs, 3, 10), 10);
        assert_eq!(logs.len(), 2);
    }

    #[test]
    fn split_cuts_between_whole_blocks_and_covers_the_range() {
        let logs = logs_in(&[3, 3, 4, 4, 4, 6, 9]);
        assert_eq!(split(&logs, 1, 10, 100), vec![(1, 10, 7)]);
        assert_eq!(split(&logs, 1, 10, 3), vec![(1, 3, 2), (4, 5, 3), (6, 10, 2)]);
        // A block over the cap is a range of its own.
        assert_eq!(split(&logs, 1, 10, 1), vec![(1, 3, 2), (4, 4, 3), (5, 8, 1), (9, 10, 1)]);
        assert_eq!(split(&logs[..5], 3, 4, 1), vec![(3, 3, 2), (4, 4, 3)]);
        assert_eq!(split(&[], 5, 8, 1), vec![(5, 8, 0)]);
    }
}
