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

const EVENT_COLUMNS: &str =
    "block_number, log_index, tx_hash, block_time, name, patient, account, record_id, data";

/// The statement behind a patient's trail after `page.after`; the stream
/// replays with it too. Two ordered, limited halves (the patient's events,
/// the anchors), merged: each half walks its own index.
pub(crate) fn trail_sql(chain_id: i64, patient: &str, page: PageRequest) -> Sql {
    let mut sql = Sql::new(&format!(
        "SELECT {EVENT_COLUMNS} FROM (SELECT * FROM (SELECT {EVENT_COLUMNS} FROM events WHERE chain_id = "
    ));
    sql.int(chain_id).push(" AND patient = ").text(patient).page("", page);
    sql.push(&format!(
        ") p UNION ALL SELECT * FROM (SELECT {EVENT_COLUMNS} FROM events WHERE chain_id = "
    ));
    sql.int(chain_id).push(" AND name = 'AccessLogAnchored'").page("", page);
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
