//! Participants: who holds which role, and their encryption keys.
//!
//! `participants` keeps one row per change; the current state of a role is
//! its latest row for (role, account, subject). An account's roles are few,
//! so they are folded here; a list by role keeps, in SQL, only the rows no
//! later row of the same key supersedes.

use std::collections::BTreeMap;

use axum::{Json, extract::State, http::Uri};
use serde_json::{Value, json};

use super::{
    ApiError, ApiState, Params, Segment,
    params::path_address,
    read::{Cols, Snapshot, Sql},
};

/// Staff roles as `IMedVault.Role` numbers them.
const STAFF_ROLES: [(&str, i64); 4] = [("doctor", 1), ("nurse", 2), ("lab", 3), ("emergency", 4)];

/// `role=` of the list: a stored role, or a staff role.
#[derive(Clone, Copy)]
enum RoleFilter {
    Role(&'static str),
    Staff(i64),
}

const ROLE_CHOICES: [(&str, RoleFilter); 11] = [
    ("patient", RoleFilter::Role("patient")),
    ("organisation", RoleFilter::Role("organisation")),
    ("staff", RoleFilter::Role("staff")),
    ("doctor", RoleFilter::Staff(1)),
    ("nurse", RoleFilter::Staff(2)),
    ("lab", RoleFilter::Staff(3)),
    ("emergency", RoleFilter::Staff(4)),
    ("guardian", RoleFilter::Role("guardian")),
    ("device", RoleFilter::Role("device")),
    ("custodian", RoleFilter::Role("custodian")),
    ("relayer", RoleFilter::Role("relayer")),
];

const ROLE_COLUMNS: &str = "p.block_number, p.log_index, p.tx_hash, p.block_time, p.role, \
     p.account, p.subject, p.status, p.active, p.staff_role, p.licence_expiry, p.since, \
     p.powers, p.category";

/// `GET /v1/participants/{address}`: the account's current roles and
/// encryption key; 404 when the index has never seen it.
pub(crate) async fn one(
    State(state): State<ApiState>,
    Segment(address): Segment,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    let account = path_address(&address)?;
    Params::from_uri(&uri)?.finish()?;
    let account = account.to_string().to_lowercase();
    let mut snapshot = Snapshot::begin(&state).await?;
    let mut sql =
        Sql::new(&format!("SELECT {ROLE_COLUMNS} FROM participants p WHERE p.chain_id = "));
    sql.int(snapshot.chain_id)
        .push(" AND p.account = ")
        .text(account.clone())
        .push(" ORDER BY p.block_number, p.log_index");
    let rows = snapshot.fetch(sql).await?;
    let mut sql = Sql::new("SELECT public_key FROM encryption_keys WHERE chain_id = ");
    sql.int(snapshot.chain_id)
        .push(" AND account = ")
        .text(account.clone())
        .push(" ORDER BY block_number DESC, log_index DESC LIMIT 1");
    let key = snapshot.fetch(sql).await?;
    if rows.is_empty() && key.is_empty() {
        return Err(ApiError::not_found("participant", address));
    }
    // The latest row of each (role, subject) is its state.
    let mut current: BTreeMap<(String, String), Value> = BTreeMap::new();
    for row in &rows {
        let cols = Cols(row);
        let key = (cols.text("role")?, cols.text("subject")?);
        // A suspended organisation is still one, with its status.
        if cols.uint("active")? == 1 || cols.text("status")? == "suspended" {
            current.insert(key, current_role(&cols)?);
        } else {
            current.remove(&key);
        }
    }
    let encryption_key = key.first().map(|row| Cols(row).text("public_key")).transpose()?;
    Ok(snapshot.item(json!({
        "address": account,
        "encryptionKey": encryption_key,
        "roles": current.into_values().collect::<Vec<_>>(),
    })))
}

/// `GET /v1/participants?role=...`: the accounts that hold `role` now, in
/// the chain order of their latest change; `organisation=` narrows staff to
/// one organisation, `patient=` guardians, devices and custodians to one
/// patient.
pub(crate) async fn list(State(state): State<ApiState>, uri: Uri) -> Result<Json<Value>, ApiError> {
    let mut params = Params::from_uri(&uri)?;
    let role =
        params.choice("role", &ROLE_CHOICES)?.ok_or_else(|| ApiError::bad("role", "required"))?;
    let organisation = params.address("organisation")?;
    let patient = params.address("patient")?;
    let page = params.page(state.config().limits)?;
    params.finish()?;
    let mut snapshot = Snapshot::begin(&state).await?;
    let mut sql = Sql::new(&format!(
        "SELECT {ROLE_COLUMNS}, (SELECT k.public_key FROM encryption_keys k \
         WHERE k.chain_id = p.chain_id AND k.account = p.account \
         ORDER BY k.block_number DESC, k.log_index DESC LIMIT 1) AS public_key \
         FROM participants p WHERE p.chain_id = "
    ));
    sql.int(snapshot.chain_id).push(" AND (p.active = 1 OR p.status = 'suspended') AND p.role = ");
    match role {
        RoleFilter::Role(role) => sql.text(role),
        RoleFilter::Staff(staff_role) => {
            sql.text("staff").push(" AND p.staff_role = ").int(staff_role)
        }
    };
    if let Some(organisation) = organisation {
        sql.push(" AND p.subject = ").text(organisation.to_string().to_lowercase());
    }
    if let Some(patient) = patient {
        sql.push(" AND p.subject = ").text(patient.to_string().to_lowercase());
    }
    sql.push(
        " AND NOT EXISTS (SELECT 1 FROM participants q WHERE q.chain_id = p.chain_id \
         AND q.account = p.account AND q.role = p.role AND q.subject = p.subject \
         AND (q.block_number, q.log_index) > (p.block_number, p.log_index))",
    )
    .page("p", page);
    let rows = snapshot.fetch(sql).await?;
    snapshot.page(page, rows, |cols| {
        let mut item = current_role(cols)?;
        item["address"] = json!(cols.text("account")?);
        item["encryptionKey"] = json!(cols.opt_text("public_key")?);
        Ok(item)
    })
}

/// One current role, as JSON.
fn current_role(cols: &Cols<'_>) -> Result<Value, ApiError> {
    let role = cols.text("role")?;
    let subject = cols.text("subject")?;
    let mut item = json!({ "role": role, "since": cols.origin()? });
    match role.as_str() {
        "staff" => {
            let staff_role = cols.opt_uint("staff_role")?;
            let name = STAFF_ROLES
                .iter()
                .find(|(_, n)| Some(*n as u64) == staff_role)
                .map(|(name, _)| *name);
            item["organisation"] = json!(subject);
            item["staffRole"] = json!(name);
            item["licenceExpiry"] = json!(cols.opt_uint("licence_expiry")?);
        }
        "guardian" => {
            item["patient"] = json!(subject);
            item["powers"] = json!(cols.opt_uint("powers")?);
        }
        "device" => {
            item["patient"] = json!(subject);
            item["category"] = json!(cols.opt_uint("category")?);
        }
        "custodian" => item["patient"] = json!(subject),
        "organisation" => item["status"] = json!(cols.text("status")?),
        _ => {}
    }
    Ok(item)
}
