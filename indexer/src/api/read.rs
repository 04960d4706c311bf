//! Reading the index consistently: one read transaction per answer, the
//! cursor first, then the rows, and the pieces every list shares.
//!
//! On Postgres the transaction is `REPEATABLE READ`, so every statement in it
//! sees the same snapshot (the default, `READ COMMITTED`, would let a batch
//! committed between the cursor and the rows slip in). SQLite in WAL mode
//! takes its snapshot at the transaction's first read, which is the cursor.

use alloy::{
    hex,
    primitives::{B256, U256},
};
use axum::{Json, http::Uri};
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::{Any, AssertSqlSafe, Row as _, Transaction, any::AnyRow};

use super::{ApiError, ApiState, Params, Position, params::PageRequest};
use crate::store::{Backend, BlockRef};

/// The block an answer is consistent with: the index's cursor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Head {
    /// Its number.
    pub number: u64,
    /// Its hash.
    pub hash: B256,
    /// Its timestamp, in seconds: grants are live, expired or revoked as of
    /// this time, the chain's, not the server's clock.
    pub timestamp: u64,
}

impl From<BlockRef> for Head {
    fn from(block: BlockRef) -> Self {
        Self { number: block.number, hash: block.hash, timestamp: block.timestamp }
    }
}

/// A read transaction that has read the cursor.
pub(crate) struct Snapshot {
    tx: Transaction<'static, Any>,
    /// The block everything read in this snapshot is consistent with.
    pub(crate) head: Head,
    /// The chain the API serves.
    pub(crate) chain_id: i64,
}

impl Snapshot {
    /// Begins a read transaction and reads the cursor in it; a 503 when
    /// nothing is indexed yet.
    pub(crate) async fn begin(state: &ApiState) -> Result<Self, ApiError> {
        let store = state.store();
        let mut tx = match store.backend() {
            Backend::Postgres => {
                store.pool().begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").await?
            }
            Backend::Sqlite => store.pool().begin().await?,
        };
        let chain_id = int(state.chain_id());
        let row = sqlx::query(
            "SELECT c.block_number, c.block_hash, b.timestamp FROM cursor c \
             LEFT JOIN blocks b ON b.chain_id = c.chain_id AND b.number = c.block_number \
             WHERE c.chain_id = $1",
        )
        .bind(chain_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Err(ApiError::NotReady { reason: "nothing is indexed yet" });
        };
        let hash: Option<String> = row.try_get(1)?;
        let timestamp: Option<i64> = row.try_get(2)?;
        let (Some(hash), Some(timestamp)) = (hash, timestamp) else {
            return Err(ApiError::NotReady { reason: "nothing is indexed yet" });
        };
        let head = Head {
            number: uint(row.try_get(0)?, "cursor.block_number")?,
            hash: hash.parse().map_err(|_| ApiError::Corrupt { what: "cursor.block_hash" })?,
            timestamp: uint(timestamp, "blocks.timestamp")?,
        };
        Ok(Self { tx, head, chain_id })
    }

    /// Runs `sql` with its arguments in the snapshot.
    pub(crate) async fn fetch(&mut self, sql: Sql) -> Result<Vec<AnyRow>, ApiError> {
        Ok(sql.query().fetch_all(&mut *self.tx).await?)
    }

    /// One item: `{ "block", "item" }`.
    pub(crate) fn item(self, item: Value) -> Json<Value> {
        Json(json!({ "block": self.head, "item": item }))
    }

    /// A page of `rows` (fetched with `limit + 1`): `{ "block", "items",
    /// "next" }`, `next` the position of the last item when more follow.
    pub(crate) fn page(
        self,
        page: PageRequest,
        mut rows: Vec<AnyRow>,
        item: impl Fn(&Cols<'_>) -> Result<Value, ApiError>,
    ) -> Result<Json<Value>, ApiError> {
        let more = rows.len() > page.limit as usize;
        rows.truncate(page.limit as usize);
        let next = match rows.last() {
            Some(last) if more => Some(Cols(last).position()?.to_string()),
            _ => None,
        };
        let items = rows.iter().map(|row| item(&Cols(row))).collect::<Result<Vec<_>, _>>()?;
        Ok(Json(json!({ "block": self.head, "items": items, "next": next })))
    }
}

/// An argument of a statement.
#[derive(Debug, Clone)]
pub enum Arg {
    /// A BIGINT.
    Int(i64),
    /// A TEXT.
    Text(String),
}

/// A statement built at run time, with `$n` placeholders numbered as they
/// are bound (both databases take `$n` through the `Any` driver).
#[derive(Debug, Default)]
pub struct Sql {
    text: String,
    args: Vec<Arg>,
}

impl Sql {
    /// Starts a statement.
    pub fn new(text: &str) -> Self {
        Self { text: text.to_owned(), args: Vec::new() }
    }

    /// Appends SQL text.
    pub fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Appends a placeholder bound to `arg`.
    pub fn bind(&mut self, arg: Arg) -> &mut Self {
        self.args.push(arg);
        self.text.push('$');
        self.text.push_str(&self.args.len().to_string());
        self
    }

    /// Appends a placeholder bound to an integer.
    pub fn int(&mut self, value: i64) -> &mut Self {
        self.bind(Arg::Int(value))
    }

    /// Appends a placeholder bound to a text.
    pub fn text(&mut self, value: impl Into<String>) -> &mut Self {
        self.bind(Arg::Text(value.into()))
    }

    /// Appends `AND (alias.block_number, alias.log_index) > (after) ORDER BY
    /// ... LIMIT limit + 1`: the page after `page.after` in chain order.
    pub fn page(&mut self, alias: &str, page: PageRequest) -> &mut Self {
        let prefix = if alias.is_empty() { String::new() } else { format!("{alias}.") };
        self.push(&format!(" AND ({prefix}block_number, {prefix}log_index) > ("))
            .int(int(page.after.block))
            .push(", ")
            .int(int(page.after.log_index))
            .push(&format!(") ORDER BY {prefix}block_number, {prefix}log_index LIMIT "))
            .int(i64::from(page.limit) + 1)
    }

    /// The statement's text.
    pub fn sql(&self) -> &str {
        &self.text
    }

    /// The statement with its arguments bound.
    pub fn query(self) -> sqlx::query::Query<'static, Any, sqlx::any::AnyArguments> {
        let mut query = sqlx::query(AssertSqlSafe(self.text));
        for arg in self.args {
            query = match arg {
                Arg::Int(v) => query.bind(v),
                Arg::Text(v) => query.bind(v),
            };
        }
        query
    }
}

/// A row, read by column name into the API's JSON forms.
pub(crate) struct Cols<'a>(pub(crate) &'a AnyRow);

impl Cols<'_> {
    /// A non-negative BIGINT.
    pub(crate) fn uint(&self, column: &'static str) -> Result<u64, ApiError> {
        uint(self.0.try_get(column)?, column)
    }

    /// A BIGINT that may be NULL.
    pub(crate) fn opt_uint(&self, column: &'static str) -> Result<Option<u64>, ApiError> {
        let value: Option<i64> = self.0.try_get(column)?;
        value.map(|v| uint(v, column)).transpose()
    }

    /// A TEXT.
    pub(crate) fn text(&self, column: &'static str) -> Result<String, ApiError> {
        Ok(self.0.try_get(column)?)
    }

    /// A TEXT that may be NULL.
    pub(crate) fn opt_text(&self, column: &'static str) -> Result<Option<String>, ApiError> {
        Ok(self.0.try_get(column)?)
    }

    /// A uint256 id, stored as 0x and 64 hex digits, answered in decimal.
    pub(crate) fn id(&self, column: &'static str) -> Result<String, ApiError> {
        let stored: String = self.0.try_get(column)?;
        stored_to_id(&stored).ok_or(ApiError::Corrupt { what: column })
    }

    /// A uint64 category mask, stored as its two's-complement i64, answered
    /// as a decimal string (JSON numbers stop being exact at 2^53).
    pub(crate) fn mask(&self, column: &'static str) -> Result<Option<String>, ApiError> {
        let stored: Option<i64> = self.0.try_get(column)?;
        Ok(stored.map(|v| (v as u64).to_string()))
    }

    /// The JSON text of a column, parsed.
    pub(crate) fn json(&self, column: &'static str) -> Result<Value, ApiError> {
        let stored: String = self.0.try_get(column)?;
        serde_json::from_str(&stored).map_err(|_| ApiError::Corrupt { what: column })
    }

    /// The row's chain position.
    pub(crate) fn position(&self) -> Result<Position, ApiError> {
        Ok(Position { block: self.uint("block_number")?, log_index: self.uint("log_index")? })
    }

    /// Where the row's event is on chain: `blockNumber`, `logIndex`,
    /// `txHash`, `blockTime`.
    pub(crate) fn origin(&self) -> Result<Value, ApiError> {
        Ok(json!({
            "blockNumber": self.uint("block_number")?,
            "logIndex": self.uint("log_index")?,
            "txHash": self.text("tx_hash")?,
            "blockTime": self.uint("block_time")?,
        }))
    }
}

/// A uint256 id as stored (0x and 64 lowercase hex digits).
/// `GET …/{id}` of one item: `id` parsed (400 naming it), no query
/// parameters, the row `select` finds for the chain and the stored id (404
/// naming `what` when none), as `{ "block", "item" }`.
pub(crate) async fn one_by_id(
    state: &ApiState,
    id: &str,
    uri: &Uri,
    what: &'static str,
    select: impl FnOnce(i64, String) -> Sql,
    item: impl FnOnce(&Cols<'_>) -> Result<Value, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let stored = id_to_stored(parse_id(id).map_err(|reason| ApiError::bad("id", reason))?);
    Params::from_uri(uri)?.finish()?;
    let mut snapshot = Snapshot::begin(state).await?;
    let rows = snapshot.fetch(select(snapshot.chain_id, stored)).await?;
    let row = rows.first().ok_or_else(|| ApiError::not_found(what, id))?;
    let item = item(&Cols(row))?;
    Ok(snapshot.item(item))
}

pub(crate) fn id_to_stored(id: U256) -> String {
    hex::encode_prefixed(id.to_be_bytes::<32>())
}

/// A stored id in decimal.
pub(crate) fn stored_to_id(stored: &str) -> Option<String> {
    let digits = stored.strip_prefix("0x")?;
    U256::from_str_radix(digits, 16).ok().map(|id| id.to_string())
}

/// Parses an id from a path or a query: decimal, or 0x-hex.
pub(crate) fn parse_id(raw: &str) -> Result<U256, String> {
    let parsed = match raw.strip_prefix("0x") {
        Some(digits) if !digits.is_empty() && digits.len() <= 64 => {
            U256::from_str_radix(digits, 16)
        }
        Some(_) => return Err("an id: a decimal integer or 0x and up to 64 hex digits".into()),
        None if !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()) => {
            U256::from_str_radix(raw, 10)
        }
        None => return Err("an id: a decimal integer or 0x and up to 64 hex digits".into()),
    };
    parsed.map_err(|_| "an id: a decimal integer below 2^256".into())
}

/// A stored BIGINT that must not be negative.
pub(crate) fn uint(value: i64, what: &'static str) -> Result<u64, ApiError> {
    u64::try_from(value).map_err(|_| ApiError::Corrupt { what })
}

/// A number as the BIGINT it is stored as (none comes near 2^63).
pub(crate) fn int(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_go_from_decimal_to_the_stored_form_and_back() {
        let id = parse_id("42").unwrap();
        let stored = id_to_stored(id);
        assert_eq!(stored, format!("0x{}2a", "0".repeat(62)));
        assert_eq!(stored_to_id(&stored).as_deref(), Some("42"));
        assert_eq!(parse_id("0x2a"), Ok(id));
        for bad in ["", "0x", "-1", "4e2", &format!("0x{}", "f".repeat(65))] {
            assert!(parse_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn pages_bind_their_position_and_one_extra_row() {
        let mut sql = Sql::new("SELECT * FROM records r WHERE r.chain_id = ");
        sql.int(1).page("r", PageRequest { after: Position { block: 9, log_index: 3 }, limit: 50 });
        assert_eq!(
            sql.sql(),
            "SELECT * FROM records r WHERE r.chain_id = $1 AND (r.block_number, r.log_index) > ($2, $3) \
             ORDER BY r.block_number, r.log_index LIMIT $4"
        );
        assert!(matches!(sql.args[3], Arg::Int(51)));
    }
}
