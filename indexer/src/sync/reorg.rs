//! Finding where the index and the chain part ways after a reorg.
//!
//! The index keeps the hashes of the blocks near the head (and of some
//! older ones); walking down them, the first whose hash the chain still
//! has is the common ancestor, since a block's hash commits to all its
//! ancestors. Past the configured depth the walk stops with an error
//! rather than roll back what was meant to be final.

use alloy::providers::DynProvider;

use super::{SyncError, fetch};
use crate::store::Store;

/// Stored blocks read at a time while walking down.
const WALK_PAGE: u64 = 64;

/// The last block the index and the chain agree on, at or below `from`
/// (the first block found to differ), checking at most `max_depth` blocks
/// below `cursor`. `start` is the block before the first indexed one: when
/// no stored block survives, everything is rolled back to it.
pub async fn common_ancestor(
    provider: &DynProvider,
    store: &Store,
    chain_id: u64,
    cursor: u64,
    start: u64,
    max_depth: u64,
) -> Result<u64, SyncError> {
    let mut below = cursor;
    let mut first_mismatch = None;
    loop {
        let blocks = store.blocks_below(chain_id, below, WALK_PAGE).await?;
        if blocks.is_empty() {
            return Ok(start);
        }
        for stored in &blocks {
            let chain = fetch::header(provider, stored.number).await?;
            if chain.map(|c| c.hash) == Some(stored.hash) {
                let depth = cursor - stored.number;
                if depth > max_depth {
                    let (number, indexed, chain) =
                        first_mismatch.unwrap_or((stored.number, stored.hash, None));
                    return Err(SyncError::ReorgTooDeep {
                        depth,
                        max_depth,
                        number,
                        indexed,
                        chain,
                    });
                }
                return Ok(stored.number);
            }
            if first_mismatch.is_none() {
                first_mismatch = Some((stored.number, stored.hash, chain.map(|c| c.hash)));
            }
            let depth = cursor - stored.number + 1;
            if depth > max_depth {
                let (number, indexed, chain) =
                    first_mismatch.unwrap_or((stored.number, stored.hash, None));
                return Err(SyncError::ReorgTooDeep { depth, max_depth, number, indexed, chain });
            }
        }
        match blocks.last() {
            Some(last) if last.number > 0 => below = last.number - 1,
            _ => return Ok(start),
        }
    }
}
