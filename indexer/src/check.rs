//! Checking the index against the chain: the logs over the indexed range are
//! read again, decoded, and compared row by row with every table.

use std::collections::BTreeMap;

use alloy::providers::DynProvider;

use crate::{
    store::{Row, Store, Table},
    sync::{FetchConfig, RangeSize, SyncError, fetch},
};

/// A difference between the index and the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Difference {
    /// A row the chain's logs give that the index lacks.
    Missing(Row),
    /// A row in the index that no log gives.
    Extra(Row),
    /// The same log gives other values than the index holds.
    Different {
        /// The row in the index.
        indexed: Row,
        /// The row from the chain.
        chain: Row,
    },
}

/// What a check found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// The first block checked.
    pub from: u64,
    /// The last block checked (the cursor).
    pub to: u64,
    /// Rows compared (from the chain).
    pub rows: usize,
    /// Every difference found.
    pub differences: Vec<Difference>,
}

impl Report {
    /// Whether the index equals the chain over the range.
    pub fn is_clean(&self) -> bool {
        self.differences.is_empty()
    }
}

/// Compares the index in `store` of `config.contract` with the chain, from
/// `from` to the cursor.
pub async fn check(
    provider: &DynProvider,
    store: &Store,
    config: &FetchConfig,
    from: u64,
    max_range: u64,
) -> Result<Report, SyncError> {
    let to = store.cursor(config.chain_id).await?.map_or(0, |c| c.block_number);
    let mut report = Report { from, to, ..Report::default() };
    if to < from {
        return Ok(report);
    }
    let mut size = RangeSize::new(max_range);
    let mut chain_rows = Vec::new();
    let mut next = from;
    while next <= to {
        // Headers matter only to repair reorgs; a check needs the logs.
        let check_config = FetchConfig { reorg_window: 0, ..config.clone() };
        for fetched in fetch::range(provider, &check_config, &mut size, next, to, to).await? {
            next = fetched.batch.to.number + 1;
            chain_rows.extend(fetched.batch.rows);
        }
    }
    store.resolve_patients(config.chain_id, &mut chain_rows).await?;
    report.rows = chain_rows.len();
    let mut by_table: BTreeMap<Table, Vec<Row>> = BTreeMap::new();
    for row in chain_rows {
        by_table.entry(row.table).or_default().push(row);
    }
    for table in Table::ALL {
        let chain = by_table.remove(&table).unwrap_or_default();
        let indexed = store.rows(table, config.chain_id, from, to).await?;
        compare(chain, indexed, &mut report.differences);
    }
    Ok(report)
}

fn compare(chain: Vec<Row>, indexed: Vec<Row>, differences: &mut Vec<Difference>) {
    let key = |row: &Row| (row.position.tx_hash.clone(), row.position.log_index);
    let mut indexed: BTreeMap<_, Row> = indexed.into_iter().map(|row| (key(&row), row)).collect();
    for row in chain {
        match indexed.remove(&key(&row)) {
            None => differences.push(Difference::Missing(row)),
            Some(stored) if stored != row => {
                differences.push(Difference::Different { indexed: stored, chain: row })
            }
            Some(_) => {}
        }
    }
    differences.extend(indexed.into_values().map(Difference::Extra));
}
