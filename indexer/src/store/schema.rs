//! The tables of the index as Rust sees them: their names and columns, and a
//! row as a list of values.
//!
//! Every table but `blocks` and `cursor` holds rows decoded from logs and
//! begins with the same columns ([`LOG_COLUMNS`]); the rest are listed per
//! table in [`Table::columns`], in the order of `migrations/`. Keeping rows
//! generic lets one multi-row `INSERT` serve every table, and lets `check`
//! and the tests read any table back and compare it with a fresh decode.

use std::fmt;

/// The columns every log-derived table begins with, in order.
pub const LOG_COLUMNS: [&str; 5] =
    ["chain_id", "block_number", "log_index", "tx_hash", "block_time"];

/// A column's SQL type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `BIGINT`, read and written as `i64`.
    Int,
    /// `TEXT`.
    Text,
}

/// A table holding rows decoded from logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    /// Every log but key envelopes, decoded (an envelope's own table holds
    /// every field of it).
    Events,
    /// Roles: organisations, staff, patients, guardians, devices, relayers,
    /// custodians, owners.
    Participants,
    /// Encryption public keys.
    EncryptionKeys,
    /// Record headers.
    Records,
    /// Category grants and revocations.
    CategoryGrants,
    /// Record grants and revocations.
    RecordGrants,
    /// Access requests and their outcomes.
    Requests,
    /// Category key envelopes.
    CategoryKeys,
    /// Record key envelopes.
    RecordKeys,
    /// Category key rotations.
    KeyRotations,
    /// Break-glass cases opened and closed.
    BreakGlass,
    /// Alerts.
    Alerts,
    /// Access-log anchors.
    AccessLogAnchors,
}

use Kind::{Int, Text};

impl Table {
    /// Every table, in the order rows are inserted.
    pub const ALL: [Self; 13] = [
        Self::Events,
        Self::Participants,
        Self::EncryptionKeys,
        Self::Records,
        Self::CategoryGrants,
        Self::RecordGrants,
        Self::Requests,
        Self::CategoryKeys,
        Self::RecordKeys,
        Self::KeyRotations,
        Self::BreakGlass,
        Self::Alerts,
        Self::AccessLogAnchors,
    ];

    /// Whether a log's row here is the one row that stands for the log:
    /// `events`, and the tables of key envelopes, which have no `events` row.
    /// A batch holds one such row per log.
    pub const fn stands_for_log(self) -> bool {
        matches!(self, Self::Events | Self::CategoryKeys | Self::RecordKeys)
    }

    /// The table's SQL name.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Events => "events",
            Self::Participants => "participants",
            Self::EncryptionKeys => "encryption_keys",
            Self::Records => "records",
            Self::CategoryGrants => "category_grants",
            Self::RecordGrants => "record_grants",
            Self::Requests => "requests",
            Self::CategoryKeys => "category_keys",
            Self::RecordKeys => "record_keys",
            Self::KeyRotations => "key_rotations",
            Self::BreakGlass => "break_glass",
            Self::Alerts => "alerts",
            Self::AccessLogAnchors => "access_log_anchors",
        }
    }

    /// The table's columns after [`LOG_COLUMNS`], with their types.
    pub const fn columns(self) -> &'static [(&'static str, Kind)] {
        match self {
            Self::Events => &[
                ("name", Text),
                ("patient", Text),
                ("account", Text),
                ("record_id", Text),
                ("data", Text),
            ],
            Self::Participants => &[
                ("role", Text),
                ("account", Text),
                ("subject", Text),
                ("status", Text),
                ("active", Int),
                ("staff_role", Int),
                ("licence_expiry", Int),
                ("since", Int),
                ("powers", Int),
                ("category", Int),
            ],
            Self::EncryptionKeys => &[("account", Text), ("public_key", Text)],
            Self::Records => &[
                ("record_id", Text),
                ("patient", Text),
                ("author", Text),
                ("category", Int),
                ("cid", Text),
                ("ciphertext_hash", Text),
                ("wrapped_key", Text),
                ("epoch", Int),
                ("amends", Text),
            ],
            Self::CategoryGrants => &[
                ("patient", Text),
                ("grantee", Text),
                ("actor", Text),
                ("action", Text),
                ("read_mask", Int),
                ("write_mask", Int),
                ("expiry", Int),
            ],
            Self::RecordGrants => &[
                ("record_id", Text),
                ("patient", Text),
                ("grantee", Text),
                ("actor", Text),
                ("action", Text),
                ("expiry", Int),
            ],
            Self::Requests => &[
                ("request_id", Text),
                ("patient", Text),
                ("staff", Text),
                ("action", Text),
                ("read_mask", Int),
                ("write_mask", Int),
                ("duration", Int),
                ("purpose_hash", Text),
                ("expiry", Int),
            ],
            Self::CategoryKeys => &[
                ("patient", Text),
                ("recipient", Text),
                ("category", Int),
                ("epoch", Int),
                ("publisher", Text),
                ("sealed_key", Text),
            ],
            Self::RecordKeys => &[
                ("record_id", Text),
                ("patient", Text),
                ("recipient", Text),
                ("publisher", Text),
                ("sealed_key", Text),
            ],
            Self::KeyRotations => &[
                ("patient", Text),
                ("category", Int),
                ("epoch", Int),
                ("rotated_by", Text),
                ("sealed_previous_key", Text),
            ],
            Self::BreakGlass => &[
                ("case_id", Text),
                ("patient", Text),
                ("organisation", Text),
                ("staff", Text),
                ("action", Text),
                ("reason_hash", Text),
                ("expires_at", Int),
                ("verdict", Int),
                ("closed_by", Text),
            ],
            Self::Alerts => {
                &[("patient", Text), ("record_id", Text), ("raised_by", Text), ("severity", Int)]
            }
            Self::AccessLogAnchors => &[("sequence", Int), ("log_hash", Text), ("relayer", Text)],
        }
    }

    /// The index of `column` in [`Table::columns`], if the table has it.
    pub fn column(self, column: &str) -> Option<usize> {
        self.columns().iter().position(|(name, _)| *name == column)
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One value of a row.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Value {
    /// SQL `NULL`.
    Null,
    /// A `BIGINT`.
    Int(i64),
    /// A `TEXT`.
    Text(String),
}

/// Where a row comes from: the log's place in the chain.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LogPosition {
    /// The chain.
    pub chain_id: u64,
    /// The log's block.
    pub block_number: u64,
    /// The log's index in its block.
    pub log_index: u64,
    /// The transaction that emitted it (0x-hex).
    pub tx_hash: String,
    /// The block's timestamp, in seconds.
    pub block_time: u64,
}

/// A row of a log-derived table.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Row {
    /// Where it comes from; the first columns of every table.
    pub position: LogPosition,
    /// Its table.
    pub table: Table,
    /// The values of [`Table::columns`], in order.
    pub values: Vec<Value>,
}

impl Row {
    /// The value of `column`, if the table has it.
    pub fn get(&self, column: &str) -> Option<&Value> {
        self.table.column(column).and_then(|i| self.values.get(i))
    }

    /// Sets `column` to `value`; nothing when the table has no such column.
    pub fn set(&mut self, column: &str, value: Value) {
        if let Some(slot) = self.table.column(column).and_then(|i| self.values.get_mut(i)) {
            *slot = value;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_is_created_by_the_migrations_with_its_columns_in_order() {
        let sql = include_str!("../../migrations/0001_events.sql");
        for table in Table::ALL {
            let start = sql
                .find(&format!("CREATE TABLE {} (", table.name()))
                .unwrap_or_else(|| panic!("no CREATE TABLE {table}"));
            let body = &sql[start..];
            let body = &body[..body.find(");").unwrap()];
            let columns: Vec<&str> = body
                .lines()
                .skip(1)
                .map(str::trim)
                .filter(|line| !line.starts_with("UNIQUE"))
                .filter_map(|line| line.split_whitespace().next())
                .collect();
            let expected: Vec<&str> = LOG_COLUMNS
                .iter()
                .copied()
                .chain(table.columns().iter().map(|(name, _)| *name))
                .collect();
            assert_eq!(columns, expected, "{table}");
            for (name, kind) in table.columns() {
                let line =
                    body.lines().find(|l| l.trim().starts_with(&format!("{name} "))).unwrap();
                let sql_kind = if line.contains("BIGINT") { Kind::Int } else { Kind::Text };
                assert_eq!(sql_kind, *kind, "{table}.{name}");
            }
        }
    }
}
