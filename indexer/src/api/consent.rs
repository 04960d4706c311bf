//! Consent: category grants by patient and by grantee, and access requests
//! by patient, by staff and by id.
//!
//! A grant's state is its latest row for (patient, grantee): `revoked`, or
//! `granted` and then live or expired by comparing its expiry with the
//! timestamp of the answer's block, the chain's time at the indexed head, as
//! the contract itself compares it (`block.timestamp < expiry`). A request
//! is its `requested` row joined with its answer, if any.

use axum::{Json, extract::State, http::Uri};
use serde_json::{Value, json};

use super::{
    ApiError, ApiState, Params, Segment,
    params::parse_address,
    read::{Cols, Snapshot, Sql, int, one_by_id},
    records::lower,
};

/// A grant's state at the answer's block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GrantStatus {
    /// Granted, and the expiry is after the block's time.
    Live,
    /// Granted, and the expiry has passed.
    Expired,
    /// Revoked.
    Revoked,
}

/// The values of `status=` for grants.
pub(crate) const STATUS_CHOICES: [(&str, GrantStatus); 3] = [
    ("live", GrantStatus::Live),
    ("expired", GrantStatus::Expired),
    ("revoked", GrantStatus::Revoked),
];

/// The status of the latest grant row `cols` at time `now`.
pub(crate) fn grant_status(cols: &Cols<'_>, now: u64) -> Result<&'static str, ApiError> {
    Ok(match cols.text("action")?.as_str() {
        "revoked" => "revoked",
        _ if cols.uint("expiry")? > now => "live",
        _ => "expired",
    })
}

/// Whose grants a list holds.
#[derive(Clone, Copy)]
enum Side {
    Patient,
    Grantee,
}

/// `GET /v1/patients/{address}/grants`: the patient's current grants.
pub(crate) async fn of_patient(
    state: State<ApiState>,
    Segment(address): Segment,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    grants(state, &address, uri, Side::Patient).await
}

/// `GET /v1/grantees/{address}/grants`: the grants an account holds.
pub(crate) async fn of_grantee(
    state: State<ApiState>,
    Segment(address): Segment,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    grants(state, &address, uri, Side::Grantee).await
}

async fn grants(
    State(state): State<ApiState>,
    address: &str,
    uri: Uri,
    side: Side,
) -> Result<Json<Value>, ApiError> {
    let account = parse_address(address).map_err(|reason| ApiError::bad("address", reason))?;
    let mut params = Params::from_uri(&uri)?;
    let status = params.choice("status", &STATUS_CHOICES)?;
    let page = params.page(state.config().limits)?;
    params.finish()?;
    let mut snapshot = Snapshot::begin(&state).await?;
    let now = snapshot.head.timestamp;
    let column = match side {
        Side::Patient => "patient",
        Side::Grantee => "grantee",
    };
    let mut sql = Sql::new(
        "SELECT g.block_number, g.log_index, g.tx_hash, g.block_time, g.patient, g.grantee, \
         g.actor, g.action, g.read_mask, g.write_mask, g.expiry FROM category_grants g \
         WHERE g.chain_id = ",
    );
    sql.int(snapshot.chain_id).push(&format!(" AND g.{column} = ")).text(lower(account)).push(
        " AND NOT EXISTS (SELECT 1 FROM category_grants h WHERE h.chain_id = g.chain_id \
         AND h.patient = g.patient AND h.grantee = g.grantee \
         AND (h.block_number, h.log_index) > (g.block_number, g.log_index))",
    );
    if let Some(status) = status {
        status.filter(&mut sql, "g", int(now));
    }
    sql.page("g", page);
    let rows = snapshot.fetch(sql).await?;
    snapshot.page(page, rows, |cols| {
        Ok(json!({
            "patient": cols.text("patient")?,
            "grantee": cols.text("grantee")?,
            "status": grant_status(cols, now)?,
            "readMask": cols.mask("read_mask")?,
            "writeMask": cols.mask("write_mask")?,
            "expiry": cols.uint("expiry")?,
            "by": cols.text("actor")?,
            "changed": cols.origin()?,
        }))
    })
}

/// A request's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RequestStatus {
    Pending,
    Approved,
    Denied,
}

const REQUEST_STATUS_CHOICES: [(&str, RequestStatus); 3] = [
    ("pending", RequestStatus::Pending),
    ("approved", RequestStatus::Approved),
    ("denied", RequestStatus::Denied),
];

const REQUEST_SELECT: &str = "SELECT r.block_number, r.log_index, r.tx_hash, r.block_time, \
     r.request_id, r.patient, r.staff, r.read_mask, r.write_mask, r.duration, r.purpose_hash, \
     o.action AS outcome, o.expiry AS expiry, o.block_number AS answered_block, \
     o.log_index AS answered_log_index, o.tx_hash AS answered_tx_hash, \
     o.block_time AS answered_block_time \
     FROM requests r LEFT JOIN requests o ON o.chain_id = r.chain_id \
     AND o.request_id = r.request_id AND o.action <> 'requested' \
     WHERE r.action = 'requested' AND r.chain_id = ";

/// `GET /v1/patients/{address}/requests`: requests to a patient, `status`
/// pending, approved or denied.
pub(crate) async fn requests_of_patient(
    state: State<ApiState>,
    Segment(address): Segment,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    requests(state, &address, uri, "patient").await
}

/// `GET /v1/staff/{address}/requests`: requests a staff member made.
pub(crate) async fn requests_of_staff(
    state: State<ApiState>,
    Segment(address): Segment,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    requests(state, &address, uri, "staff").await
}

async fn requests(
    State(state): State<ApiState>,
    address: &str,
    uri: Uri,
    column: &'static str,
) -> Result<Json<Value>, ApiError> {
    let account = parse_address(address).map_err(|reason| ApiError::bad("address", reason))?;
    let mut params = Params::from_uri(&uri)?;
    let status = params.choice("status", &REQUEST_STATUS_CHOICES)?;
    let page = params.page(state.config().limits)?;
    params.finish()?;
    let mut snapshot = Snapshot::begin(&state).await?;
    let mut sql = Sql::new(REQUEST_SELECT);
    sql.int(snapshot.chain_id).push(&format!(" AND r.{column} = ")).text(lower(account));
    match status {
        Some(RequestStatus::Pending) => sql.push(" AND o.action IS NULL"),
        Some(RequestStatus::Approved) => sql.push(" AND o.action = 'approved'"),
        Some(RequestStatus::Denied) => sql.push(" AND o.action = 'denied'"),
        None => &mut sql,
    };
    sql.page("r", page);
    let rows = snapshot.fetch(sql).await?;
    snapshot.page(page, rows, request)
}

/// `GET /v1/requests/{id}`: one request; 404 when unknown.
pub(crate) async fn request_by_id(
    State(state): State<ApiState>,
    Segment(id): Segment,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    let select = |chain_id, stored| {
        let mut sql = Sql::new(REQUEST_SELECT);
        sql.int(chain_id).push(" AND r.request_id = ").text(stored).push(" LIMIT 1");
        sql
    };
    one_by_id(&state, &id, &uri, "request", select, request).await
}

/// A request and its answer, as JSON.
fn request(cols: &Cols<'_>) -> Result<Value, ApiError> {
    let outcome = cols.opt_text("outcome")?;
    let answered = match cols.opt_uint("answered_block")? {
        Some(block) => json!({
            "blockNumber": block,
            "logIndex": cols.opt_uint("answered_log_index")?,
            "txHash": cols.opt_text("answered_tx_hash")?,
            "blockTime": cols.opt_uint("answered_block_time")?,
        }),
        None => Value::Null,
    };
    Ok(json!({
        "id": cols.id("request_id")?,
        "patient": cols.text("patient")?,
        "staff": cols.text("staff")?,
        "status": outcome.as_deref().unwrap_or("pending"),
        "readMask": cols.mask("read_mask")?,
        "writeMask": cols.mask("write_mask")?,
        "duration": cols.opt_uint("duration")?,
        "purposeHash": cols.opt_text("purpose_hash")?,
        "grantExpiry": cols.opt_uint("expiry")?,
        "requested": cols.origin()?,
        "answered": answered,
    }))
}
