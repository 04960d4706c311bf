//! A patient's audit trail: every event that touches them, in chain order.
//!
//! That is every log the indexer attributes to the patient (consent,
//! requests, records, key envelopes and rotations, break-glass, alerts,
//! guardians and devices) and every anchor of the gateway's access log. The
//! anchors name no patient: each commits to a stretch of the log in which
//! the patient's downloads are, so the trail lists them all, interleaved,
//! for the patient's client to check its entries against.

use axum::{Json, extract::State, http::Uri};
use serde_json::{Value, json};

use super::{
    ApiError, ApiState, Params, Segment,
    params::{PageRequest, path_address},
    read::{Cols, Snapshot, Sql},
    records::lower,
};

/// The columns of an event, in every place events are read from.
macro_rules! event_columns {
    () => {
        "block_number, log_index, tx_hash, block_time, name, patient, account, record_id, data"
    };
}

const EVENT_COLUMNS: &str = event_columns!();

/// The events in `events`: every log but key envelopes.
const EVENTS: &str = concat!("SELECT ", event_columns!(), " FROM events WHERE chain_id = ");

/// Record envelopes, which have no `events` row, as events of the same
/// shape. Their `data` is made from their columns (hex text, nothing to
/// escape): the object the decoder makes of the log.
const RECORD_KEY_EVENTS: &str = "SELECT block_number, log_index, tx_hash, block_time, \
     'RecordKeyPublished' AS name, patient, recipient AS account, record_id, \
     '{\"recordId\":\"' || record_id || '\",\"recipient\":\"' || recipient || \
     '\",\"publisher\":\"' || publisher || '\",\"sealedKey\":\"' || sealed_key || '\"}' AS data \
     FROM record_keys WHERE chain_id = ";

/// Category envelopes, the same way (category and epoch are JSON numbers).
const CATEGORY_KEY_EVENTS: &str = "SELECT block_number, log_index, tx_hash, block_time, \
     'CategoryKeyPublished' AS name, patient, recipient AS account, CAST(NULL AS TEXT) AS record_id, \
     '{\"patient\":\"' || patient || '\",\"recipient\":\"' || recipient || '\",\"category\":' || \
     CAST(category AS TEXT) || ',\"epoch\":' || CAST(epoch AS TEXT) || ',\"publisher\":\"' || \
     publisher || '\",\"sealedKey\":\"' || sealed_key || '\"}' AS data FROM category_keys WHERE chain_id = ";

/// Where events are, each with the column that holds an event's account.
const SOURCES: [(&str, &str); 3] =
    [(EVENTS, "account"), (RECORD_KEY_EVENTS, "recipient"), (CATEGORY_KEY_EVENTS, "recipient")];

/// Whose events to read.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Whose {
    /// Those that touch a patient.
    Patient,
    /// Those whose counterpart (grantee, recipient, staff...) an account is.
    Account,
}

/// Appends the events of `whose` `value` as `UNION ALL` halves, one for
/// each place events are, each in chain order after `page.after`, limited to
/// a page and walking its own index; `only` narrows the `events` half
/// (envelopes pass it). The caller orders and limits the whole.
pub(crate) fn push_events_of(
    sql: &mut Sql,
    chain_id: i64,
    whose: Whose,
    value: &str,
    only: &str,
    page: PageRequest,
) {
    for (i, (select, account)) in SOURCES.into_iter().enumerate() {
        let column = match whose {
            Whose::Patient => "patient",
            Whose::Account => account,
        };
        if i > 0 {
            sql.push(" UNION ALL ");
        }
        sql.push("SELECT * FROM (").push(select).int(chain_id);
        sql.push(&format!(" AND {column} = ")).text(value);
        if i == 0 {
            sql.push(only);
        }
        sql.page("", page).push(&format!(") s{i}"));
    }
}

/// The statement behind a patient's trail after `page.after`. Ordered,
/// limited halves (the patient's events in each place, the anchors), merged:
/// each half walks its own index.
pub(crate) fn trail_sql(chain_id: i64, patient: &str, page: PageRequest) -> Sql {
    let mut sql = Sql::new(&format!("SELECT {EVENT_COLUMNS} FROM ("));
    push_events_of(&mut sql, chain_id, Whose::Patient, patient, "", page);
    sql.push(" UNION ALL SELECT * FROM (").push(EVENTS).int(chain_id);
    sql.push(" AND name = 'AccessLogAnchored'").page("", page);
    sql.push(") a) t WHERE 1 = 1").page("t", page);
    sql
}

/// `GET /v1/patients/{address}/audit`.
pub(crate) async fn trail(
    State(state): State<ApiState>,
    Segment(address): Segment,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    let patient = lower(path_address(&address)?);
    let mut params = Params::from_uri(&uri)?;
    let page = params.page(state.config().limits)?;
    params.finish()?;
    let mut snapshot = Snapshot::begin(&state).await?;
    let rows = snapshot.fetch(trail_sql(snapshot.chain_id, &patient, page)).await?;
    snapshot.page(page, rows, event)
}

/// An event of the trail or the stream, as JSON.
pub(crate) fn event(cols: &Cols<'_>) -> Result<Value, ApiError> {
    let record_id = match cols.opt_text("record_id")? {
        Some(stored) => Some(
            super::read::stored_to_id(&stored).ok_or(ApiError::Corrupt { what: "record_id" })?,
        ),
        None => None,
    };
    Ok(json!({
        "event": cols.text("name")?,
        "patient": cols.opt_text("patient")?,
        "account": cols.opt_text("account")?,
        "recordId": record_id,
        "data": cols.json("data")?,
        "at": cols.origin()?,
    }))
}

#[cfg(test)]
mod tests {
    use alloy::primitives::{Address, B256, U256};
    use medvault_core::bindings::vault::MedVault;
    use medvault_tests::PostgresServer;

    use super::*;
    use crate::{
        api::params::Position,
        store::{
            Batch, BlockRef, Store, Table, data, decode,
            fixtures::{CHAIN, contract, log_at, record},
        },
    };

    /// A key envelope has no `events` row; the trail makes it an event from
    /// its table's row, with the very `data` the decoder gives its log.
    async fn envelopes_read_back_as_their_decoded_events(store: Store) {
        store.migrate().await.unwrap();
        store.start(CHAIN, contract(), 1).await.unwrap();
        let (patient, doctor) = (Address::repeat_byte(0xaa), Address::repeat_byte(0xbb));
        let record = record(patient, 2);
        let id = U256::from(7);
        let logs = [
            log_at(&MedVault::RecordAdded { recordId: id, patient, author: patient, record }, 2, 0),
            log_at(
                &MedVault::RecordKeyPublished {
                    recordId: id,
                    recipient: doctor,
                    publisher: patient,
                    sealedKey: vec![0xab; 93].into(),
                },
                2,
                1,
            ),
            log_at(
                &MedVault::CategoryKeyPublished {
                    patient,
                    recipient: doctor,
                    category: 3,
                    epoch: 2,
                    publisher: patient,
                    sealedKey: vec![0xcd; 93].into(),
                },
                3,
                0,
            ),
        ];
        let rows: Vec<_> = logs.iter().flat_map(|log| decode(CHAIN, log, None).unwrap()).collect();
        assert_eq!(rows.iter().filter(|row| row.table == Table::Events).count(), 1);
        let to = BlockRef {
            number: 3,
            hash: B256::with_last_byte(3),
            parent_hash: B256::with_last_byte(2),
            timestamp: 1_003,
        };
        let batch =
            Batch { chain_id: CHAIN, contract: contract(), from: 1, to, blocks: vec![], rows };
        store.commit(&batch).await.unwrap();

        let page = PageRequest { after: Position { block: 0, log_index: 0 }, limit: 10 };
        let patient_hex = alloy::hex::encode_prefixed(patient);
        let trail = trail_sql(i64::try_from(CHAIN).unwrap(), &patient_hex, page);
        let found = trail.query().fetch_all(store.pool()).await.unwrap();
        assert_eq!(found.len(), 3);
        for (log, row) in logs.iter().zip(&found) {
            let cols = Cols(row);
            let event = event(&cols).unwrap();
            assert_eq!(event["data"], data(log).unwrap(), "{}", event["event"]);
            assert_eq!(event["patient"], Value::from(patient_hex.clone()));
            assert_eq!(cols.position().unwrap().log_index, log.log_index.unwrap());
        }
        let names: Vec<_> = found.iter().map(|row| Cols(row).text("name").unwrap()).collect();
        assert_eq!(names, ["RecordAdded", "RecordKeyPublished", "CategoryKeyPublished"]);
    }

    #[tokio::test]
    async fn envelopes_read_back_as_their_decoded_events_on_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::connect(dir.path().join("index.db").to_str().unwrap()).await.unwrap();
        envelopes_read_back_as_their_decoded_events(store).await;
    }

    #[tokio::test]
    async fn envelopes_read_back_as_their_decoded_events_on_postgres() {
        let server = PostgresServer::spawn().unwrap();
        envelopes_read_back_as_their_decoded_events(Store::connect(&server.url()).await.unwrap())
            .await;
    }
}
