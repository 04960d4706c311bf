//! Record headers: a patient's records by category and time, one record by
//! id, and the grants on one record.

use axum::{Json, extract::State, http::Uri};
use serde_json::{Value, json};

use super::{
    ApiError, ApiState, Params, Segment,
    consent::{GrantStatus, STATUS_CHOICES, grant_status},
    params::{PageRequest, path_address},
    read::{Cols, Snapshot, Sql, id_to_stored, int, one_by_id, parse_id},
};

/// The columns of a record, selected from `records` as `r`.
pub(crate) const RECORD_COLUMNS: &str = "r.block_number, r.log_index, r.tx_hash, r.block_time, \
     r.record_id, r.patient, r.author, r.category, r.cid, r.ciphertext_hash, r.wrapped_key, \
     r.epoch, r.amends";

/// What a patient's records page asks for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecordFilter {
    /// Only this category.
    pub category: Option<u64>,
    /// Only records from blocks at or after this time (seconds).
    pub from: Option<u64>,
    /// Only records from blocks before this time (seconds).
    pub to: Option<u64>,
}

/// The statement behind a patient's records page: the benchmark runs the
/// same SQL directly against the API.
pub fn patient_records_sql(
    chain_id: u64,
    patient: &str,
    filter: RecordFilter,
    page: PageRequest,
) -> Sql {
    let mut sql = Sql::new(&format!("SELECT {RECORD_COLUMNS} FROM records r WHERE r.chain_id = "));
    sql.int(int(chain_id)).push(" AND r.patient = ").text(patient);
    if let Some(category) = filter.category {
        sql.push(" AND r.category = ").int(int(category));
    }
    if let Some(from) = filter.from {
        sql.push(" AND r.block_time >= ").int(int(from));
    }
    if let Some(to) = filter.to {
        sql.push(" AND r.block_time < ").int(int(to));
    }
    sql.page("r", page);
    sql
}

/// `GET /v1/patients/{address}/records`: `category`, `from` and `to` (block
/// time, seconds, `to` excluded), in chain order.
pub(crate) async fn of_patient(
    State(state): State<ApiState>,
    Segment(address): Segment,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    let patient = path_address(&address)?;
    let mut params = Params::from_uri(&uri)?;
    let filter = RecordFilter {
        category: params.uint("category", 63)?,
        from: params.uint("from", i64::MAX as u64)?,
        to: params.uint("to", i64::MAX as u64)?,
    };
    let page = params.page(state.config().limits)?;
    params.finish()?;
    let mut snapshot = Snapshot::begin(&state).await?;
    let sql = patient_records_sql(state.chain_id(), &lower(patient), filter, page);
    let rows = snapshot.fetch(sql).await?;
    snapshot.page(page, rows, record)
}

/// `GET /v1/records/{id}`: one record; 404 when unknown.
pub(crate) async fn one(
    State(state): State<ApiState>,
    Segment(id): Segment,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    one_by_id(&state, &id, &uri, "record", |chain_id, stored| by_id(chain_id, &stored), record)
        .await
}

/// `GET /v1/records/{id}/grants`: the current grant of each grantee on the
/// record, `status` live, expired or revoked as of the answer's block time.
pub(crate) async fn grants(
    State(state): State<ApiState>,
    Segment(id): Segment,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    let stored = id_to_stored(parse_id(&id).map_err(|reason| ApiError::bad("id", reason))?);
    let mut params = Params::from_uri(&uri)?;
    let status = params.choice("status", &STATUS_CHOICES)?;
    let page = params.page(state.config().limits)?;
    params.finish()?;
    let mut snapshot = Snapshot::begin(&state).await?;
    if snapshot.fetch(by_id(snapshot.chain_id, &stored)).await?.is_empty() {
        return Err(ApiError::not_found("record", &id));
    }
    let now = int(snapshot.head.timestamp);
    let mut sql = Sql::new(
        "SELECT g.block_number, g.log_index, g.tx_hash, g.block_time, g.record_id, g.patient, \
         g.grantee, g.actor, g.action, g.expiry FROM record_grants g WHERE g.chain_id = ",
    );
    sql.int(snapshot.chain_id).push(" AND g.record_id = ").text(stored).push(
        " AND NOT EXISTS (SELECT 1 FROM record_grants h WHERE h.chain_id = g.chain_id \
         AND h.record_id = g.record_id AND h.grantee = g.grantee \
         AND (h.block_number, h.log_index) > (g.block_number, g.log_index))",
    );
    if let Some(status) = status {
        status.filter(&mut sql, "g", now);
    }
    sql.page("g", page);
    let rows = snapshot.fetch(sql).await?;
    let now = snapshot.head.timestamp;
    snapshot.page(page, rows, |cols| {
        Ok(json!({
            "recordId": cols.id("record_id")?,
            "patient": cols.opt_text("patient")?,
            "grantee": cols.text("grantee")?,
            "status": grant_status(cols, now)?,
            "expiry": cols.uint("expiry")?,
            "by": cols.text("actor")?,
            "changed": cols.origin()?,
        }))
    })
}

fn by_id(chain_id: i64, stored: &str) -> Sql {
    let mut sql = Sql::new(&format!("SELECT {RECORD_COLUMNS} FROM records r WHERE r.chain_id = "));
    sql.int(chain_id).push(" AND r.record_id = ").text(stored).push(" LIMIT 1");
    sql
}

/// A record header, as JSON.
pub(crate) fn record(cols: &Cols<'_>) -> Result<Value, ApiError> {
    let wrapped_key = cols.text("wrapped_key")?;
    let amends = cols.id("amends")?;
    Ok(json!({
        "id": cols.id("record_id")?,
        "patient": cols.text("patient")?,
        "author": cols.text("author")?,
        "category": cols.uint("category")?,
        "cid": cols.text("cid")?,
        "ciphertextHash": cols.text("ciphertext_hash")?,
        "wrappedKey": (wrapped_key != "0x").then_some(wrapped_key),
        "epoch": cols.uint("epoch")?,
        "amends": (amends != "0").then_some(amends),
        "added": cols.origin()?,
    }))
}

/// An address as stored: lowercase 0x-hex.
pub(crate) fn lower(address: alloy::primitives::Address) -> String {
    alloy::hex::encode_prefixed(address)
}

impl GrantStatus {
    /// Appends the SQL condition of this status on the latest row `alias`.
    pub(crate) fn filter(self, sql: &mut Sql, alias: &str, now: i64) {
        match self {
            Self::Revoked => sql.push(&format!(" AND {alias}.action = 'revoked'")),
            Self::Live => {
                sql.push(&format!(" AND {alias}.action = 'granted' AND {alias}.expiry > ")).int(now)
            }
            Self::Expired => sql
                .push(&format!(" AND {alias}.action = 'granted' AND {alias}.expiry <= "))
                .int(now),
        };
    }
}
