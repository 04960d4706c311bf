//! Key envelopes: what a recipient needs to open records, and the rotations
//! that let a holder of today's category key walk back to older epochs.
//!
//! A recipient's envelopes are record-level (`record_keys`: one record's key
//! sealed to them) and category-level (`category_keys`: the key of a
//! patient's category at one epoch). `record=` answers both kinds a record
//! needs: its own envelopes and the envelope of its category's epoch.

use axum::{Json, extract::State, http::Uri};
use serde_json::{Value, json};

use super::{
    ApiError, ApiState, Params, Segment,
    params::path_address,
    read::{Cols, Snapshot, Sql, id_to_stored, parse_id},
    records::lower,
};

/// Both kinds of envelope as one shape, for a `UNION ALL` in chain order.
const RECORD_KEYS: &str = "SELECT k.block_number, k.log_index, k.tx_hash, k.block_time, \
     'record' AS kind, k.record_id AS record_id, k.patient AS patient, \
     CAST(NULL AS BIGINT) AS category, CAST(NULL AS BIGINT) AS epoch, k.publisher, k.sealed_key \
     FROM record_keys k WHERE k.chain_id = ";
const CATEGORY_KEYS: &str = "SELECT k.block_number, k.log_index, k.tx_hash, k.block_time, \
     'category' AS kind, CAST(NULL AS TEXT) AS record_id, k.patient AS patient, \
     k.category AS category, k.epoch AS epoch, k.publisher, k.sealed_key \
     FROM category_keys k WHERE k.chain_id = ";

/// `GET /v1/recipients/{address}/envelopes`: the envelopes sealed to an
/// account, in chain order. `record=` narrows them to what one record needs;
/// `patient=`, `category=` and `epoch=` to category keys.
pub(crate) async fn envelopes(
    State(state): State<ApiState>,
    Segment(address): Segment,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    let recipient = lower(path_address(&address)?);
    let mut params = Params::from_uri(&uri)?;
    let record = params.take_with("record", parse_id)?.map(id_to_stored);
    let patient = params.address("patient")?.map(lower);
    let category = params.uint("category", 63)?;
    let epoch = params.uint("epoch", u32::MAX.into())?;
    let page = params.page(state.config().limits)?;
    params.finish()?;
    if record.is_some() && (patient.is_some() || category.is_some() || epoch.is_some()) {
        return Err(ApiError::bad("record", "not with patient, category or epoch"));
    }
    let mut snapshot = Snapshot::begin(&state).await?;
    let chain_id = snapshot.chain_id;
    let mut sql = Sql::new("SELECT * FROM (");
    if let Some(record) = &record {
        let mut check = Sql::new("SELECT r.record_id FROM records r WHERE r.chain_id = ");
        check.int(chain_id).push(" AND r.record_id = ").text(record.clone());
        if snapshot.fetch(check).await?.is_empty() {
            return Err(ApiError::not_found("record", record));
        }
        sql.push(RECORD_KEYS)
            .int(chain_id)
            .push(" AND k.recipient = ")
            .text(recipient.clone())
            .push(" AND k.record_id = ")
            .text(record.clone())
            .push(" UNION ALL ")
            .push(CATEGORY_KEYS)
            .int(chain_id)
            .push(" AND k.recipient = ")
            .text(recipient)
            .push(
                " AND EXISTS (SELECT 1 FROM records r WHERE r.chain_id = k.chain_id \
                 AND r.patient = k.patient AND r.category = k.category AND r.epoch = k.epoch \
                 AND r.record_id = ",
            )
            .text(record.clone())
            .push(")");
    } else {
        let category_only = patient.is_some() || category.is_some() || epoch.is_some();
        if !category_only {
            sql.push(RECORD_KEYS)
                .int(chain_id)
                .push(" AND k.recipient = ")
                .text(recipient.clone())
                .push(" UNION ALL ");
        }
        sql.push(CATEGORY_KEYS).int(chain_id).push(" AND k.recipient = ").text(recipient);
        if let Some(patient) = patient {
            sql.push(" AND k.patient = ").text(patient);
        }
        if let Some(category) = category {
            sql.push(" AND k.category = ").int(category as i64);
        }
        if let Some(epoch) = epoch {
            sql.push(" AND k.epoch = ").int(epoch as i64);
        }
    }
    sql.push(") e WHERE 1 = 1").page("e", page);
    let rows = snapshot.fetch(sql).await?;
    snapshot.page(page, rows, |cols| {
        let kind = cols.text("kind")?;
        let record_id = match cols.opt_text("record_id")? {
            Some(stored) => Some(
                super::read::stored_to_id(&stored)
                    .ok_or(ApiError::Corrupt { what: "record_id" })?,
            ),
            None => None,
        };
        Ok(json!({
            "kind": kind,
            "recordId": record_id,
            "patient": cols.opt_text("patient")?,
            "category": cols.opt_uint("category")?,
            "epoch": cols.opt_uint("epoch")?,
            "publisher": cols.text("publisher")?,
            "sealedKey": cols.text("sealed_key")?,
            "published": cols.origin()?,
        }))
    })
}

/// `GET /v1/patients/{address}/rotations`: the patient's category key
/// rotations (`category=`), each with the previous epoch's key sealed under
/// the new one, in chain order.
pub(crate) async fn rotations(
    State(state): State<ApiState>,
    Segment(address): Segment,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    let patient = lower(path_address(&address)?);
    let mut params = Params::from_uri(&uri)?;
    let category = params.uint("category", 63)?;
    let page = params.page(state.config().limits)?;
    params.finish()?;
    let mut snapshot = Snapshot::begin(&state).await?;
    let mut sql = Sql::new(
        "SELECT k.block_number, k.log_index, k.tx_hash, k.block_time, k.patient, k.category, \
         k.epoch, k.rotated_by, k.sealed_previous_key FROM key_rotations k WHERE k.chain_id = ",
    );
    sql.int(snapshot.chain_id).push(" AND k.patient = ").text(patient);
    if let Some(category) = category {
        sql.push(" AND k.category = ").int(category as i64);
    }
    sql.page("k", page);
    let rows = snapshot.fetch(sql).await?;
    snapshot.page(page, rows, |cols: &Cols<'_>| {
        Ok(json!({
            "patient": cols.text("patient")?,
            "category": cols.uint("category")?,
            "epoch": cols.uint("epoch")?,
            "rotatedBy": cols.text("rotated_by")?,
            "sealedPreviousKey": cols.text("sealed_previous_key")?,
            "rotated": cols.origin()?,
        }))
    })
}
