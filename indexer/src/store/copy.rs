//! The Postgres write path for a batch that starts right after the cursor:
//! its rows through `COPY ... FROM STDIN`, on sqlx's native Postgres driver.
//!
//! A multi-row `INSERT` of thousands of parameters costs Postgres a parse,
//! an analysis and a plan of the whole `VALUES` list each time, and the
//! `Any` driver cannot bind the arrays that `UNNEST` needs; `COPY` streams
//! the rows in its text format and is the fastest way Postgres loads them.
//! `COPY` has no `ON CONFLICT`, so it serves only a batch that cannot
//! replay a row: one whose first block follows the cursor, which the same
//! transaction locks and checks. Rows past the cursor never exist (a
//! rollback deletes them in the transaction that moves the cursor back), and
//! if one ever did, the unique constraint would fail the transaction rather
//! than let a row in twice. Any other batch goes through the generic path,
//! which skips replayed rows. Blocks, cursor and rows still commit in one
//! transaction.

use std::{collections::HashMap, io::Write as _};

use alloy::hex;
use sqlx::{PgPool, Postgres, Transaction};
use tokio::sync::oneshot;

use super::{Batch, LOG_COLUMNS, Row, StoreError, Table, Value, int, patient_of, record_patients};

/// What [`commit`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Copied {
    /// The batch is committed.
    Committed,
    /// The batch may replay rows already indexed (it does not start right
    /// after the cursor, or there is no cursor): nothing was written, and it
    /// goes through the path that skips them.
    Overlaps,
}

/// Commits `batch` in one transaction with its rows copied in, when it
/// starts right after the cursor.
///
/// `after`: the batch before (ending at `batch.from - 1`) is still being
/// written, on another connection, and this resolves once it is committed
/// (an error if it failed). This batch's rows then go in at once, beside
/// it, and its transaction waits for it before it takes the cursor, which
/// must then be right before it; if the batch before failed, this one leaves
/// nothing. Rows past the cursor never exist but the batch before's own, so
/// the copy cannot meet a row already there. A row that takes its patient
/// from a record the index does not have yet (the batch before may add it)
/// makes the whole batch wait first instead.
pub(super) async fn commit(
    pool: &PgPool,
    batch: &Batch,
    after: Option<oneshot::Receiver<()>>,
) -> Result<Copied, StoreError> {
    let mut tx = pool.begin().await?;
    let Some(after) = after else { return in_order(tx, batch).await };
    let (patients, resolved) = patients(&mut tx, batch).await?;
    if resolved {
        copy_rows(&mut tx, batch, &patients).await?;
    }
    after.await.map_err(|_| StoreError::Abandoned { from: batch.from })?;
    if !resolved {
        return in_order(tx, batch).await;
    }
    let cursor = lock_cursor(&mut tx, batch.chain_id).await?;
    if cursor.map(|cursor| cursor + 1) != Some(batch.from) {
        return Err(StoreError::NotContiguous { from: batch.from, cursor: cursor.unwrap_or(0) });
    }
    set_cursor(&mut tx, batch).await?;
    tx.commit().await?;
    Ok(Copied::Committed)
}

/// [`commit`] of a batch with nothing being written before it: the cursor
/// locked and checked first.
async fn in_order(mut tx: Transaction<'_, Postgres>, batch: &Batch) -> Result<Copied, StoreError> {
    let Some(cursor) = lock_cursor(&mut tx, batch.chain_id).await? else {
        return Ok(Copied::Overlaps);
    };
    if batch.from > cursor + 1 {
        return Err(StoreError::NotContiguous { from: batch.from, cursor });
    }
    if batch.from <= cursor {
        return Ok(Copied::Overlaps);
    }
    let (patients, _) = patients(&mut tx, batch).await?;
    copy_rows(&mut tx, batch, &patients).await?;
    set_cursor(&mut tx, batch).await?;
    tx.commit().await?;
    Ok(Copied::Committed)
}

/// Locks the cursor of `chain_id` for the transaction and reads it.
async fn lock_cursor(
    tx: &mut Transaction<'_, Postgres>,
    chain_id: u64,
) -> Result<Option<u64>, StoreError> {
    let cursor: Option<i64> =
        sqlx::query_scalar("SELECT block_number FROM cursor WHERE chain_id = $1 FOR UPDATE")
            .bind(int(chain_id))
            .fetch_optional(&mut **tx)
            .await?;
    cursor
        .map(|cursor| {
            u64::try_from(cursor).map_err(|_| StoreError::Malformed { column: "block_number" })
        })
        .transpose()
}

/// Copies the rows of `batch` in, table by table, and inserts its blocks.
async fn copy_rows(
    tx: &mut Transaction<'_, Postgres>,
    batch: &Batch,
    patients: &HashMap<String, String>,
) -> Result<(), StoreError> {
    let mut by_table: HashMap<Table, Vec<&Row>> = HashMap::new();
    for row in &batch.rows {
        by_table.entry(row.table).or_default().push(row);
    }
    let mut data = Vec::new();
    for table in Table::ALL {
        let Some(rows) = by_table.get(&table) else { continue };
        data.clear();
        for row in rows {
            push_row(&mut data, row, patient_of(row, patients));
        }
        let mut columns = LOG_COLUMNS.join(", ");
        for (name, _) in table.columns() {
            columns.push_str(", ");
            columns.push_str(name);
        }
        let statement = format!("COPY {} ({columns}) FROM STDIN", table.name());
        let mut copy = tx.copy_in_raw(&statement).await?;
        copy.send(data.as_slice()).await?;
        copy.finish().await?;
    }
    let mut blocks = batch.blocks.clone();
    blocks.push(batch.to);
    blocks.sort_by_key(|b| b.number);
    blocks.dedup_by_key(|b| b.number);
    // A block re-recorded after a rollback kept it has the same hash by then.
    sqlx::query(
        "INSERT INTO blocks (chain_id, number, hash, parent_hash, timestamp) \
         SELECT $1, * FROM UNNEST($2::BIGINT[], $3::TEXT[], $4::TEXT[], $5::BIGINT[]) \
         ON CONFLICT (chain_id, number) DO NOTHING",
    )
    .bind(int(batch.chain_id))
    .bind(blocks.iter().map(|b| int(b.number)).collect::<Vec<_>>())
    .bind(blocks.iter().map(|b| hex::encode_prefixed(b.hash)).collect::<Vec<_>>())
    .bind(blocks.iter().map(|b| hex::encode_prefixed(b.parent_hash)).collect::<Vec<_>>())
    .bind(blocks.iter().map(|b| int(b.timestamp)).collect::<Vec<_>>())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Moves the cursor to the end of `batch`.
async fn set_cursor(tx: &mut Transaction<'_, Postgres>, batch: &Batch) -> Result<(), StoreError> {
    sqlx::query("UPDATE cursor SET block_number = $2, block_hash = $3 WHERE chain_id = $1")
        .bind(int(batch.chain_id))
        .bind(int(batch.to.number))
        .bind(hex::encode_prefixed(batch.to.hash))
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The patients of the records that rows of `batch` name without their
/// patient: from the batch's own records, then from the index; and whether
/// every such record was found.
async fn patients(
    tx: &mut Transaction<'_, Postgres>,
    batch: &Batch,
) -> Result<(HashMap<String, String>, bool), StoreError> {
    let (mut patients, missing) = record_patients(&batch.rows);
    if missing.is_empty() {
        return Ok((patients, true));
    }
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT record_id, patient FROM records WHERE chain_id = $1 AND record_id = ANY($2)",
    )
    .bind(int(batch.chain_id))
    .bind(&missing)
    .fetch_all(&mut **tx)
    .await?;
    patients.extend(rows);
    let resolved = missing.iter().all(|id| patients.contains_key(id));
    Ok((patients, resolved))
}

/// Appends `row` as one line of `COPY`'s text format, with `patient` in
/// place of its NULL patient when given.
fn push_row(data: &mut Vec<u8>, row: &Row, patient: Option<&str>) {
    let p = &row.position;
    // Writing to a Vec cannot fail.
    let _ = write!(
        data,
        "{}\t{}\t{}\t{}\t{}",
        int(p.chain_id),
        int(p.block_number),
        int(p.log_index),
        p.tx_hash,
        int(p.block_time)
    );
    for ((name, _), value) in row.table.columns().iter().zip(&row.values) {
        data.push(b'\t');
        match (patient, *name, value) {
            (Some(patient), "patient", _) => push_text(data, patient),
            (_, _, Value::Int(v)) => {
                let _ = write!(data, "{v}");
            }
            (_, _, Value::Text(v)) => push_text(data, v),
            (_, _, Value::Null) => data.extend_from_slice(b"\\N"),
        }
    }
    data.push(b'\n');
}

/// Appends `text` with the backslash escapes of `COPY`'s text format.
fn push_text(data: &mut Vec<u8>, text: &str) {
    // Nearly every value is hex or a name, with nothing to escape.
    if !text.bytes().any(|byte| matches!(byte, b'\\' | b'\t' | b'\n' | b'\r')) {
        data.extend_from_slice(text.as_bytes());
        return;
    }
    for byte in text.bytes() {
        match byte {
            b'\\' => data.extend_from_slice(b"\\\\"),
            b'\t' => data.extend_from_slice(b"\\t"),
            b'\n' => data.extend_from_slice(b"\\n"),
            b'\r' => data.extend_from_slice(b"\\r"),
            _ => data.push(byte),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::LogPosition;

    #[test]
    fn a_row_is_one_line_of_tab_separated_escaped_values_with_its_patient_filled_in() {
        let row = Row {
            position: LogPosition {
                chain_id: 1,
                block_number: 2,
                log_index: 3,
                tx_hash: "0xab".to_owned(),
                block_time: 4,
            },
            table: Table::RecordKeys,
            values: vec![
                Value::Text("0x01".to_owned()),
                Value::Null,
                Value::Text("a\tb\\c\nd\re".to_owned()),
                Value::Null,
                Value::Int(-5),
            ],
        };
        let mut data = Vec::new();
        push_row(&mut data, &row, None);
        assert_eq!(data, b"1\t2\t3\t0xab\t4\t0x01\t\\N\ta\\tb\\\\c\\nd\\re\t\\N\t-5\n");
        data.clear();
        push_row(&mut data, &row, Some("0xpp"));
        assert_eq!(data, b"1\t2\t3\t0xab\t4\t0x01\t0xpp\ta\\tb\\\\c\\nd\\re\t\\N\t-5\n");
    }
}
