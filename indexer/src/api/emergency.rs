//! Break-glass cases and alerts.
//!
//! A case is its `opened` row joined with its `closed` row, if any: open
//! until a reviewer closes it with a verdict. Alerts carry a severity and
//! the record that raised them, never a value.

use axum::{Json, extract::State, http::Uri};
use serde_json::{Value, json};

use super::{
    ApiError, ApiState, Params, Segment,
    read::{Cols, Snapshot, Sql, one_by_id},
    records::lower,
};

const CASE_SELECT: &str = "SELECT o.block_number, o.log_index, o.tx_hash, o.block_time, \
     o.case_id, o.patient, o.organisation, o.staff, o.reason_hash, o.expires_at, \
     c.verdict AS verdict, c.closed_by AS closed_by, c.block_number AS closed_block, \
     c.log_index AS closed_log_index, c.tx_hash AS closed_tx_hash, \
     c.block_time AS closed_block_time \
     FROM break_glass o LEFT JOIN break_glass c ON c.chain_id = o.chain_id \
     AND c.case_id = o.case_id AND c.action = 'closed' \
     WHERE o.action = 'opened' AND o.chain_id = ";

const VERDICTS: [&str; 3] = ["none", "justified", "abuse"];

/// `GET /v1/break-glass`: cases, filtered by `patient`, `organisation` or
/// `staff`, and `status` open or closed, in chain order of their opening.
pub(crate) async fn cases(
    State(state): State<ApiState>,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    let mut params = Params::from_uri(&uri)?;
    let patient = params.address("patient")?.map(lower);
    let organisation = params.address("organisation")?.map(lower);
    let staff = params.address("staff")?.map(lower);
    let open = params.choice("status", &[("open", true), ("closed", false)])?;
    let page = params.page(state.config().limits)?;
    params.finish()?;
    let mut snapshot = Snapshot::begin(&state).await?;
    let mut sql = Sql::new(CASE_SELECT);
    sql.int(snapshot.chain_id);
    for (column, value) in [("patient", patient), ("organisation", organisation), ("staff", staff)]
    {
        if let Some(value) = value {
            sql.push(&format!(" AND o.{column} = ")).text(value);
        }
    }
    match open {
        Some(true) => sql.push(" AND c.case_id IS NULL"),
        Some(false) => sql.push(" AND c.case_id IS NOT NULL"),
        None => &mut sql,
    };
    sql.page("o", page);
    let rows = snapshot.fetch(sql).await?;
    snapshot.page(page, rows, case)
}

/// `GET /v1/break-glass/{id}`: one case; 404 when unknown.
pub(crate) async fn case_by_id(
    State(state): State<ApiState>,
    Segment(id): Segment,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    let select = |chain_id, stored| {
        let mut sql = Sql::new(CASE_SELECT);
        sql.int(chain_id).push(" AND o.case_id = ").text(stored).push(" LIMIT 1");
        sql
    };
    one_by_id(&state, &id, &uri, "break-glass case", select, case).await
}

fn case(cols: &Cols<'_>) -> Result<Value, ApiError> {
    let closed = match cols.opt_uint("closed_block")? {
        Some(block) => {
            let verdict = cols.opt_uint("verdict")?.unwrap_or(0);
            json!({
                "verdict": VERDICTS.get(verdict as usize).copied(),
                "by": cols.opt_text("closed_by")?,
                "blockNumber": block,
                "logIndex": cols.opt_uint("closed_log_index")?,
                "txHash": cols.opt_text("closed_tx_hash")?,
                "blockTime": cols.opt_uint("closed_block_time")?,
            })
        }
        None => Value::Null,
    };
    Ok(json!({
        "id": cols.id("case_id")?,
        "patient": cols.text("patient")?,
        "organisation": cols.text("organisation")?,
        "staff": cols.text("staff")?,
        "status": if closed.is_null() { "open" } else { "closed" },
        "reasonHash": cols.opt_text("reason_hash")?,
        "expiresAt": cols.opt_uint("expires_at")?,
        "opened": cols.origin()?,
        "closed": closed,
    }))
}

/// `GET /v1/alerts`: alerts, filtered by `patient` and `severity` (at
/// least), in chain order.
pub(crate) async fn alerts(
    State(state): State<ApiState>,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    let mut params = Params::from_uri(&uri)?;
    let patient = params.address("patient")?.map(lower);
    let severity = params.uint("severity", u8::MAX.into())?;
    let page = params.page(state.config().limits)?;
    params.finish()?;
    let mut snapshot = Snapshot::begin(&state).await?;
    let mut sql = Sql::new(
        "SELECT a.block_number, a.log_index, a.tx_hash, a.block_time, a.patient, a.record_id, \
         a.raised_by, a.severity FROM alerts a WHERE a.chain_id = ",
    );
    sql.int(snapshot.chain_id);
    if let Some(patient) = patient {
        sql.push(" AND a.patient = ").text(patient);
    }
    if let Some(severity) = severity {
        sql.push(" AND a.severity >= ").int(severity as i64);
    }
    sql.page("a", page);
    let rows = snapshot.fetch(sql).await?;
    snapshot.page(page, rows, |cols| {
        Ok(json!({
            "patient": cols.text("patient")?,
            "recordId": cols.id("record_id")?,
            "raisedBy": cols.text("raised_by")?,
            "severity": cols.uint("severity")?,
            "raised": cols.origin()?,
        }))
    })
}
