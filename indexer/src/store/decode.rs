//! From a contract log to the rows it adds to the index.
//!
//! Logs are matched and decoded through the generated bindings
//! ([`MedVaultEvents`]), so every event the contract can emit (its own and
//! Ownable2Step's) has an arm below, and a log that matches none is an error
//! rather than a silent gap. Each log gives one `events` row and, for most
//! events, one row of a projection; a key envelope gives only the row of its
//! table, which holds every field of it.

use alloy::{
    hex,
    primitives::{Address, B256, Bytes, U256},
    rpc::types::Log,
    sol_types::SolEventInterface,
};
use medvault_core::bindings::vault::MedVault::MedVaultEvents;
use serde_json::{Map, Value as Json, json};

use super::schema::{LogPosition, Row, Table, Value};

/// Why a log could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The log lacks its block, transaction or index: it is pending.
    #[error("log at {tx_hash:?} is missing its position in the chain")]
    Pending {
        /// The transaction, when known.
        tx_hash: Option<B256>,
    },
    /// The log's block time is unknown.
    #[error("no timestamp for block {block_number}")]
    MissingTimestamp {
        /// The log's block.
        block_number: u64,
    },
    /// The log matches no event of the contract's ABI.
    #[error("log {log_index} of transaction {tx_hash} is not a MedVault event")]
    UnknownEvent {
        /// The transaction.
        tx_hash: B256,
        /// The log's index in its block.
        log_index: u64,
        /// The ABI decoder's reason (boxed: it is large, and rare).
        #[source]
        source: Box<alloy::sol_types::Error>,
    },
}

/// The position of `log` in the chain, with the block time given or carried
/// by the log.
pub fn position(
    chain_id: u64,
    log: &Log,
    block_time: Option<u64>,
) -> Result<LogPosition, DecodeError> {
    let (Some(block_number), Some(log_index), Some(tx_hash)) =
        (log.block_number, log.log_index, log.transaction_hash)
    else {
        return Err(DecodeError::Pending { tx_hash: log.transaction_hash });
    };
    let block_time =
        block_time.or(log.block_timestamp).ok_or(DecodeError::MissingTimestamp { block_number })?;
    Ok(LogPosition {
        chain_id,
        block_number,
        log_index,
        tx_hash: hex::encode_prefixed(tx_hash),
        block_time,
    })
}

/// The rows `log` adds: its `events` row first (none for a key envelope),
/// then its projection's.
///
/// `block_time` is the log's block timestamp when the log does not carry it.
/// Rows that name only a record (record grants and record envelopes) leave
/// `patient` NULL; the store fills it in from the record.
pub fn decode(chain_id: u64, log: &Log, block_time: Option<u64>) -> Result<Vec<Row>, DecodeError> {
    let position = position(chain_id, log, block_time)?;
    let mut decoded = decoded(log)?;
    let data = object(std::mem::take(&mut decoded.fields));
    let mut rows = Vec::with_capacity(2);
    // A key envelope's table holds every field of it: it has no `events` row.
    if !decoded.projection.as_ref().is_some_and(|(table, _)| table.stands_for_log()) {
        rows.push(Row {
            position: position.clone(),
            table: Table::Events,
            values: vec![
                text(decoded.name),
                decoded.patient.map_or(Value::Null, addr),
                decoded.account.map_or(Value::Null, addr),
                decoded.record_id.map_or(Value::Null, id),
                Value::Text(data.to_string()),
            ],
        });
    }
    if let Some((table, values)) = decoded.projection {
        rows.push(Row { position, table, values });
    }
    Ok(rows)
}

/// Every decoded field of `log` as one JSON object (camelCase, as in the
/// ABI): what `events.data` holds, and what the API makes of the row of a key
/// envelope, which has none (the tests compare the two).
#[cfg(test)]
pub(crate) fn data(log: &Log) -> Result<Json, DecodeError> {
    Ok(object(decoded(log)?.fields))
}

fn decoded(log: &Log) -> Result<Decoded, DecodeError> {
    MedVaultEvents::decode_raw_log(log.topics(), &log.data().data).map(Decoded::from).map_err(
        |source| DecodeError::UnknownEvent {
            tx_hash: log.transaction_hash.unwrap_or_default(),
            log_index: log.log_index.unwrap_or_default(),
            source: Box::new(source),
        },
    )
}

fn object(fields: Vec<(&'static str, Json)>) -> Json {
    Json::Object(
        fields.into_iter().map(|(name, value)| (name.to_owned(), value)).collect::<Map<_, _>>(),
    )
}

/// An event as the index sees it.
struct Decoded {
    name: &'static str,
    patient: Option<Address>,
    account: Option<Address>,
    record_id: Option<U256>,
    fields: Vec<(&'static str, Json)>,
    projection: Option<(Table, Vec<Value>)>,
}

impl Decoded {
    fn new(name: &'static str) -> Self {
        Self {
            name,
            patient: None,
            account: None,
            record_id: None,
            fields: Vec::new(),
            projection: None,
        }
    }

    fn patient(mut self, patient: Address) -> Self {
        self.patient = Some(patient);
        self
    }

    fn account(mut self, account: Address) -> Self {
        self.account = Some(account);
        self
    }

    fn record(mut self, record_id: U256) -> Self {
        self.record_id = Some(record_id);
        self
    }

    fn field(mut self, name: &'static str, value: impl Into<Field>) -> Self {
        self.fields.push((name, value.into().0));
        self
    }

    fn row(mut self, table: Table, values: Vec<Value>) -> Self {
        self.projection = Some((table, values));
        self
    }
}

/// A participants row: role, account, subject, status, active, then the
/// optional staff_role, licence_expiry, since, powers, category.
fn participant(
    role: &str,
    account: Address,
    subject: Option<Address>,
    status: &str,
    active: bool,
) -> Vec<Value> {
    vec![
        text(role),
        addr(account),
        subject.map_or_else(|| text(""), addr),
        text(status),
        Value::Int(i64::from(active)),
        Value::Null,
        Value::Null,
        Value::Null,
        Value::Null,
        Value::Null,
    ]
}

impl From<MedVaultEvents> for Decoded {
    fn from(event: MedVaultEvents) -> Self {
        use MedVaultEvents as E;
        match event {
            E::OrganisationAdded(e) => Self::new("OrganisationAdded")
                .account(e.organisation)
                .field("organisation", e.organisation)
                .row(
                    Table::Participants,
                    participant("organisation", e.organisation, None, "added", true),
                ),
            E::OrganisationSuspended(e) => Self::new("OrganisationSuspended")
                .account(e.organisation)
                .field("organisation", e.organisation)
                .row(
                    Table::Participants,
                    participant("organisation", e.organisation, None, "suspended", false),
                ),
            E::OrganisationRestored(e) => Self::new("OrganisationRestored")
                .account(e.organisation)
                .field("organisation", e.organisation)
                .row(
                    Table::Participants,
                    participant("organisation", e.organisation, None, "restored", true),
                ),
            E::RelayerSet(e) => {
                let status = if e.enabled { "enabled" } else { "disabled" };
                Self::new("RelayerSet")
                    .account(e.relayer)
                    .field("relayer", e.relayer)
                    .field("enabled", e.enabled)
                    .row(
                        Table::Participants,
                        participant("relayer", e.relayer, None, status, e.enabled),
                    )
            }
            E::StaffAdded(e) => {
                let mut row = participant("staff", e.staff, Some(e.organisation), "added", true);
                row[5] = Value::Int(i64::from(e.role));
                row[6] = int(e.licenceExpiry.to::<u64>());
                row[7] = int(e.since.to::<u64>());
                Self::new("StaffAdded")
                    .account(e.staff)
                    .field("organisation", e.organisation)
                    .field("staff", e.staff)
                    .field("role", u64::from(e.role))
                    .field("licenceExpiry", e.licenceExpiry.to::<u64>())
                    .field("since", e.since.to::<u64>())
                    .row(Table::Participants, row)
            }
            E::StaffRemoved(e) => Self::new("StaffRemoved")
                .account(e.staff)
                .field("organisation", e.organisation)
                .field("staff", e.staff)
                .row(
                    Table::Participants,
                    participant("staff", e.staff, Some(e.organisation), "removed", false),
                ),
            E::PatientRegistered(e) => {
                Self::new("PatientRegistered").patient(e.patient).field("patient", e.patient).row(
                    Table::Participants,
                    participant("patient", e.patient, None, "registered", true),
                )
            }
            E::EncryptionKeySet(e) => Self::new("EncryptionKeySet")
                .account(e.account)
                .field("account", e.account)
                .field("key", &e.key)
                .row(Table::EncryptionKeys, vec![addr(e.account), bytes(&e.key)]),
            E::GuardianSet(e) => {
                let mut row = participant("guardian", e.guardian, Some(e.patient), "set", true);
                row[8] = Value::Int(i64::from(e.powers));
                Self::new("GuardianSet")
                    .patient(e.patient)
                    .account(e.guardian)
                    .field("patient", e.patient)
                    .field("guardian", e.guardian)
                    .field("powers", u64::from(e.powers))
                    .row(Table::Participants, row)
            }
            E::GuardianRemoved(e) => Self::new("GuardianRemoved")
                .patient(e.patient)
                .account(e.guardian)
                .field("patient", e.patient)
                .field("guardian", e.guardian)
                .row(
                    Table::Participants,
                    participant("guardian", e.guardian, Some(e.patient), "removed", false),
                ),
            E::DeviceAdded(e) => {
                let mut row = participant("device", e.device, Some(e.patient), "added", true);
                row[9] = Value::Int(i64::from(e.category));
                Self::new("DeviceAdded")
                    .patient(e.patient)
                    .account(e.device)
                    .field("patient", e.patient)
                    .field("device", e.device)
                    .field("category", u64::from(e.category))
                    .row(Table::Participants, row)
            }
            E::DeviceRemoved(e) => Self::new("DeviceRemoved")
                .patient(e.patient)
                .account(e.device)
                .field("patient", e.patient)
                .field("device", e.device)
                .row(
                    Table::Participants,
                    participant("device", e.device, Some(e.patient), "removed", false),
                ),
            E::EmergencyCustodianSet(e) => {
                let active = !e.custodian.is_zero();
                Self::new("EmergencyCustodianSet")
                    .patient(e.patient)
                    .account(e.custodian)
                    .field("patient", e.patient)
                    .field("custodian", e.custodian)
                    .row(
                        Table::Participants,
                        participant("custodian", e.custodian, Some(e.patient), "set", active),
                    )
            }
            E::OwnershipTransferStarted(e) => Self::new("OwnershipTransferStarted")
                .account(e.newOwner)
                .field("previousOwner", e.previousOwner)
                .field("newOwner", e.newOwner)
                .row(
                    Table::Participants,
                    participant("pending_owner", e.newOwner, None, "started", true),
                ),
            E::OwnershipTransferred(e) => Self::new("OwnershipTransferred")
                .account(e.newOwner)
                .field("previousOwner", e.previousOwner)
                .field("newOwner", e.newOwner)
                .row(
                    Table::Participants,
                    participant("owner", e.newOwner, None, "transferred", !e.newOwner.is_zero()),
                ),
            E::RecordAdded(e) => {
                let r = &e.record;
                Self::new("RecordAdded")
                    .patient(e.patient)
                    .account(e.author)
                    .record(e.recordId)
                    .field("recordId", Field::id(e.recordId))
                    .field("patient", e.patient)
                    .field("author", e.author)
                    .field("category", u64::from(r.category))
                    .field("cid", &r.cid)
                    .field("ciphertextHash", r.ciphertextHash)
                    .field("wrappedKey", &r.wrappedKey)
                    .field("epoch", u64::from(r.epoch))
                    .field("amends", Field::id(r.amends))
                    .row(
                        Table::Records,
                        vec![
                            id(e.recordId),
                            addr(e.patient),
                            addr(e.author),
                            Value::Int(i64::from(r.category)),
                            bytes(&r.cid),
                            b256(r.ciphertextHash),
                            bytes(&r.wrappedKey),
                            Value::Int(i64::from(r.epoch)),
                            id(r.amends),
                        ],
                    )
            }
            E::Granted(e) => Self::new("Granted")
                .patient(e.patient)
                .account(e.grantee)
                .field("patient", e.patient)
                .field("grantee", e.grantee)
                .field("grantedBy", e.grantedBy)
                .field("readMask", Field::mask(e.readMask))
                .field("writeMask", Field::mask(e.writeMask))
                .field("expiry", e.expiry.to::<u64>())
                .row(
                    Table::CategoryGrants,
                    vec![
                        addr(e.patient),
                        addr(e.grantee),
                        addr(e.grantedBy),
                        text("granted"),
                        mask(e.readMask),
                        mask(e.writeMask),
                        int(e.expiry.to::<u64>()),
                    ],
                ),
            E::Revoked(e) => Self::new("Revoked")
                .patient(e.patient)
                .account(e.grantee)
                .field("patient", e.patient)
                .field("grantee", e.grantee)
                .field("revokedBy", e.revokedBy)
                .row(
                    Table::CategoryGrants,
                    vec![
                        addr(e.patient),
                        addr(e.grantee),
                        addr(e.revokedBy),
                        text("revoked"),
                        Value::Int(0),
                        Value::Int(0),
                        Value::Int(0),
                    ],
                ),
            E::RecordGranted(e) => Self::new("RecordGranted")
                .account(e.grantee)
                .record(e.recordId)
                .field("recordId", Field::id(e.recordId))
                .field("grantee", e.grantee)
                .field("grantedBy", e.grantedBy)
                .field("expiry", e.expiry.to::<u64>())
                .row(
                    Table::RecordGrants,
                    vec![
                        id(e.recordId),
                        Value::Null,
                        addr(e.grantee),
                        addr(e.grantedBy),
                        text("granted"),
                        int(e.expiry.to::<u64>()),
                    ],
                ),
            E::RecordRevoked(e) => Self::new("RecordRevoked")
                .account(e.grantee)
                .record(e.recordId)
                .field("recordId", Field::id(e.recordId))
                .field("grantee", e.grantee)
                .field("revokedBy", e.revokedBy)
                .row(
                    Table::RecordGrants,
                    vec![
                        id(e.recordId),
                        Value::Null,
                        addr(e.grantee),
                        addr(e.revokedBy),
                        text("revoked"),
                        Value::Int(0),
                    ],
                ),
            E::AccessRequested(e) => Self::new("AccessRequested")
                .patient(e.patient)
                .account(e.staff)
                .field("requestId", Field::id(e.requestId))
                .field("patient", e.patient)
                .field("staff", e.staff)
                .field("readMask", Field::mask(e.readMask))
                .field("writeMask", Field::mask(e.writeMask))
                .field("duration", u64::from(e.duration))
                .field("purposeHash", e.purposeHash)
                .row(
                    Table::Requests,
                    vec![
                        id(e.requestId),
                        addr(e.patient),
                        addr(e.staff),
                        text("requested"),
                        mask(e.readMask),
                        mask(e.writeMask),
                        Value::Int(i64::from(e.duration)),
                        b256(e.purposeHash),
                        Value::Null,
                    ],
                ),
            E::RequestApproved(e) => Self::new("RequestApproved")
                .patient(e.patient)
                .account(e.staff)
                .field("requestId", Field::id(e.requestId))
                .field("patient", e.patient)
                .field("staff", e.staff)
                .field("expiry", e.expiry.to::<u64>())
                .row(
                    Table::Requests,
                    vec![
                        id(e.requestId),
                        addr(e.patient),
                        addr(e.staff),
                        text("approved"),
                        Value::Null,
                        Value::Null,
                        Value::Null,
                        Value::Null,
                        int(e.expiry.to::<u64>()),
                    ],
                ),
            E::RequestDenied(e) => Self::new("RequestDenied")
                .patient(e.patient)
                .account(e.staff)
                .field("requestId", Field::id(e.requestId))
                .field("patient", e.patient)
                .field("staff", e.staff)
                .row(
                    Table::Requests,
                    vec![
                        id(e.requestId),
                        addr(e.patient),
                        addr(e.staff),
                        text("denied"),
                        Value::Null,
                        Value::Null,
                        Value::Null,
                        Value::Null,
                        Value::Null,
                    ],
                ),
            E::CategoryKeyPublished(e) => Self::new("CategoryKeyPublished")
                .patient(e.patient)
                .account(e.recipient)
                .field("patient", e.patient)
                .field("recipient", e.recipient)
                .field("category", u64::from(e.category))
                .field("epoch", u64::from(e.epoch))
                .field("publisher", e.publisher)
                .field("sealedKey", &e.sealedKey)
                .row(
                    Table::CategoryKeys,
                    vec![
                        addr(e.patient),
                        addr(e.recipient),
                        Value::Int(i64::from(e.category)),
                        Value::Int(i64::from(e.epoch)),
                        addr(e.publisher),
                        bytes(&e.sealedKey),
                    ],
                ),
            E::RecordKeyPublished(e) => Self::new("RecordKeyPublished")
                .account(e.recipient)
                .record(e.recordId)
                .field("recordId", Field::id(e.recordId))
                .field("recipient", e.recipient)
                .field("publisher", e.publisher)
                .field("sealedKey", &e.sealedKey)
                .row(
                    Table::RecordKeys,
                    vec![
                        id(e.recordId),
                        Value::Null,
                        addr(e.recipient),
                        addr(e.publisher),
                        bytes(&e.sealedKey),
                    ],
                ),
            E::CategoryKeyRotated(e) => Self::new("CategoryKeyRotated")
                .patient(e.patient)
                .account(e.rotatedBy)
                .field("patient", e.patient)
                .field("category", u64::from(e.category))
                .field("epoch", u64::from(e.epoch))
                .field("rotatedBy", e.rotatedBy)
                .field("sealedPreviousKey", &e.sealedPreviousKey)
                .row(
                    Table::KeyRotations,
                    vec![
                        addr(e.patient),
                        Value::Int(i64::from(e.category)),
                        Value::Int(i64::from(e.epoch)),
                        addr(e.rotatedBy),
                        bytes(&e.sealedPreviousKey),
                    ],
                ),
            E::AlertRaised(e) => Self::new("AlertRaised")
                .patient(e.patient)
                .account(e.raisedBy)
                .record(e.recordId)
                .field("patient", e.patient)
                .field("recordId", Field::id(e.recordId))
                .field("raisedBy", e.raisedBy)
                .field("severity", u64::from(e.severity))
                .row(
                    Table::Alerts,
                    vec![
                        addr(e.patient),
                        id(e.recordId),
                        addr(e.raisedBy),
                        Value::Int(i64::from(e.severity)),
                    ],
                ),
            E::BreakGlassOpened(e) => Self::new("BreakGlassOpened")
                .patient(e.patient)
                .account(e.staff)
                .field("caseId", Field::id(e.caseId))
                .field("patient", e.patient)
                .field("organisation", e.organisation)
                .field("staff", e.staff)
                .field("reasonHash", e.reasonHash)
                .field("expiresAt", e.expiresAt.to::<u64>())
                .row(
                    Table::BreakGlass,
                    vec![
                        id(e.caseId),
                        addr(e.patient),
                        addr(e.organisation),
                        addr(e.staff),
                        text("opened"),
                        b256(e.reasonHash),
                        int(e.expiresAt.to::<u64>()),
                        Value::Null,
                        Value::Null,
                    ],
                ),
            E::BreakGlassClosed(e) => Self::new("BreakGlassClosed")
                .patient(e.patient)
                .account(e.staff)
                .field("caseId", Field::id(e.caseId))
                .field("patient", e.patient)
                .field("organisation", e.organisation)
                .field("staff", e.staff)
                .field("verdict", u64::from(e.verdict))
                .field("closedBy", e.closedBy)
                .row(
                    Table::BreakGlass,
                    vec![
                        id(e.caseId),
                        addr(e.patient),
                        addr(e.organisation),
                        addr(e.staff),
                        text("closed"),
                        Value::Null,
                        Value::Null,
                        Value::Int(i64::from(e.verdict)),
                        addr(e.closedBy),
                    ],
                ),
            E::AccessLogAnchored(e) => Self::new("AccessLogAnchored")
                .account(e.relayer)
                .field("sequence", e.sequence)
                .field("logHash", e.logHash)
                .field("relayer", e.relayer)
                .row(
                    Table::AccessLogAnchors,
                    vec![int(e.sequence), b256(e.logHash), addr(e.relayer)],
                ),
        }
    }
}

/// A field of the `data` JSON.
struct Field(Json);

impl Field {
    /// A uint256 id, as the 64-digit hex the tables use.
    fn id(value: U256) -> Self {
        Self(Json::String(hex::encode_prefixed(B256::from(value))))
    }

    /// A uint64 mask, as 0x and 16 hex digits: JSON numbers lose bits past 2^53.
    fn mask(value: u64) -> Self {
        Self(Json::String(format!("{value:#018x}")))
    }
}

impl From<Address> for Field {
    fn from(value: Address) -> Self {
        Self(Json::String(hex::encode_prefixed(value)))
    }
}

impl From<B256> for Field {
    fn from(value: B256) -> Self {
        Self(Json::String(hex::encode_prefixed(value)))
    }
}

impl From<&Bytes> for Field {
    fn from(value: &Bytes) -> Self {
        Self(Json::String(hex::encode_prefixed(value)))
    }
}

impl From<u64> for Field {
    fn from(value: u64) -> Self {
        Self(json!(value))
    }
}

impl From<bool> for Field {
    fn from(value: bool) -> Self {
        Self(Json::Bool(value))
    }
}

fn text(value: &str) -> Value {
    Value::Text(value.to_owned())
}

fn addr(value: Address) -> Value {
    Value::Text(hex::encode_prefixed(value))
}

fn b256(value: B256) -> Value {
    Value::Text(hex::encode_prefixed(value))
}

fn bytes(value: &Bytes) -> Value {
    Value::Text(hex::encode_prefixed(value))
}

/// A uint256 id: 0x and 64 zero-padded lowercase hex digits.
fn id(value: U256) -> Value {
    b256(B256::from(value))
}

/// A uint64 mask, its bits reinterpreted as an i64 (see the migrations).
fn mask(value: u64) -> Value {
    Value::Int(i64::from_ne_bytes(value.to_ne_bytes()))
}

/// A u64 that the chain bounds well below 2^63 (a block number, a uint40
/// time, a sequence); saturates rather than wraps if one ever is not.
fn int(value: u64) -> Value {
    Value::Int(i64::try_from(value).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use alloy::{
        primitives::{LogData, address, b256},
        sol_types::SolEvent,
    };
    use medvault_core::bindings::vault::MedVault;

    use super::*;

    fn log_of(event: &impl SolEvent) -> Log {
        Log {
            inner: alloy::primitives::Log { address: Address::ZERO, data: event.encode_log_data() },
            block_hash: Some(B256::repeat_byte(1)),
            block_number: Some(7),
            block_timestamp: Some(1_700_000_000),
            transaction_hash: Some(B256::repeat_byte(2)),
            transaction_index: Some(0),
            log_index: Some(3),
            removed: false,
        }
    }

    #[test]
    fn a_grant_gives_an_event_row_and_a_category_grant_row() {
        let patient = address!("00000000000000000000000000000000000000aa");
        let grantee = address!("00000000000000000000000000000000000000bb");
        let event = MedVault::Granted {
            patient,
            grantee,
            grantedBy: patient,
            readMask: u64::MAX,
            writeMask: 1,
            expiry: alloy::primitives::aliases::U40::from(99u64),
        };
        let rows = decode(31337, &log_of(&event), None).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].table, Table::Events);
        assert_eq!(rows[0].get("name"), Some(&text("Granted")));
        assert_eq!(
            rows[0].get("patient"),
            Some(&text("0x00000000000000000000000000000000000000aa"))
        );
        assert_eq!(
            rows[0].get("account"),
            Some(&text("0x00000000000000000000000000000000000000bb"))
        );
        let Some(Value::Text(data)) = rows[0].get("data") else { panic!("no data") };
        let data: Json = serde_json::from_str(data).unwrap();
        assert_eq!(data["readMask"], "0xffffffffffffffff");
        assert_eq!(data["expiry"], 99);
        assert_eq!(rows[1].table, Table::CategoryGrants);
        assert_eq!(rows[1].get("read_mask"), Some(&Value::Int(-1)));
        assert_eq!(rows[1].get("write_mask"), Some(&Value::Int(1)));
        assert_eq!(rows[1].get("action"), Some(&text("granted")));
        assert_eq!(rows[1].position.block_number, 7);
        assert_eq!(rows[1].position.log_index, 3);
        assert_eq!(rows[1].position.block_time, 1_700_000_000);
        assert_eq!(rows[1].position.tx_hash, format!("0x{}", "02".repeat(32)));
    }

    #[test]
    fn ids_are_zero_padded_so_that_they_sort() {
        let event = MedVault::RecordRevoked {
            recordId: U256::from(255),
            grantee: Address::ZERO,
            revokedBy: Address::ZERO,
        };
        let rows = decode(1, &log_of(&event), None).unwrap();
        let expected = format!("0x{}ff", "0".repeat(62));
        assert_eq!(rows[0].get("record_id"), Some(&Value::Text(expected.clone())));
        assert_eq!(rows[1].get("record_id"), Some(&Value::Text(expected)));
        assert_eq!(rows[1].get("patient"), Some(&Value::Null));
    }

    #[test]
    fn a_log_of_another_contract_is_an_error() {
        let mut log = log_of(&MedVault::PatientRegistered { patient: Address::ZERO });
        log.inner.data = LogData::new_unchecked(
            vec![b256!("00000000000000000000000000000000000000000000000000000000000000ff")],
            Bytes::new(),
        );
        assert!(matches!(decode(1, &log, None), Err(DecodeError::UnknownEvent { .. })));
    }

    #[test]
    fn a_pending_log_is_an_error() {
        let mut log = log_of(&MedVault::PatientRegistered { patient: Address::ZERO });
        log.block_number = None;
        assert!(matches!(decode(1, &log, None), Err(DecodeError::Pending { .. })));
    }
}
