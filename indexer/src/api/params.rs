//! Query parameters, parsed by hand so that every rejection names its
//! parameter, and the opaque cursor of paginated lists.
//!
//! Lists are in chain order, `(block number, log index)`; the cursor is the
//! position of the last item of a page, sent back to get the next one. It is
//! opaque on purpose (hex of the two numbers) so that clients do not build
//! positions of their own. A route takes only the parameters it names:
//! [`Params::finish`] rejects the others, so a typo is a 400, not a filter
//! silently ignored.

use std::{fmt, str::FromStr};

use alloy::primitives::Address;
use axum::{
    extract::{FromRequestParts, Path, Query},
    http::{Uri, request::Parts},
};

use super::ApiError;

/// A position in chain order: the items after it come in the next page.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    /// The block number.
    pub block: u64,
    /// The log's index in its block.
    pub log_index: u64,
}

impl Position {
    /// Before every event.
    pub const START: Self = Self { block: 0, log_index: 0 };

    /// After every event of `block`: where a rollback to `block` resumes.
    pub fn end_of(block: u64) -> Self {
        Self { block, log_index: i64::MAX as u64 }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}{:016x}", self.block, self.log_index)
    }
}

/// A cursor or an event id that is not one the API handed out.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a cursor from this API")]
pub struct BadPosition;

impl FromStr for Position {
    type Err = BadPosition;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 32 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(BadPosition);
        }
        let (block, log_index) = s.split_at(16);
        let block = u64::from_str_radix(block, 16).map_err(|_| BadPosition)?;
        let log_index = u64::from_str_radix(log_index, 16).map_err(|_| BadPosition)?;
        // Both are stored as signed 64-bit integers.
        if block > i64::MAX as u64 || log_index > i64::MAX as u64 {
            return Err(BadPosition);
        }
        Ok(Self { block, log_index })
    }
}

/// Page size limits.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Items in a page when the client does not say.
    pub default: u32,
    /// The most items a page may hold; a larger `limit` is a 400.
    pub max: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self { default: 50, max: 500 }
    }
}

/// A page request: start after `after`, at most `limit` items.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageRequest {
    /// The position of the last item already seen.
    pub after: Position,
    /// How many items to answer.
    pub limit: u32,
}

/// The query string of a request, consumed parameter by parameter.
#[derive(Debug, Default)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Splits a raw query string (`a=1&b=2`, percent-encoded).
    pub fn parse(query: Option<&str>) -> Result<Self, ApiError> {
        let Some(query) = query else { return Ok(Self::default()) };
        let uri: Uri = format!("/?{query}")
            .parse()
            .map_err(|_| ApiError::bad("query", "not a valid query string"))?;
        Self::from_uri(&uri)
    }

    /// The query string of `uri`.
    pub fn from_uri(uri: &Uri) -> Result<Self, ApiError> {
        let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(uri)
            .map_err(|_| ApiError::bad("query", "not a valid query string"))?;
        let mut seen = std::collections::HashSet::new();
        for (name, _) in &pairs {
            if !seen.insert(name.as_str()) {
                return Err(ApiError::bad(name.clone(), "given more than once"));
            }
        }
        Ok(Self { pairs })
    }

    /// Takes the raw value of `name`, if given.
    pub fn take(&mut self, name: &str) -> Option<String> {
        let at = self.pairs.iter().position(|(n, _)| n == name)?;
        Some(self.pairs.swap_remove(at).1)
    }

    /// Takes and parses `name` with `parse`, naming it in the error.
    pub fn take_with<T>(
        &mut self,
        name: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<Option<T>, ApiError> {
        self.take(name)
            .map(|raw| parse(&raw).map_err(|reason| ApiError::bad(name, reason)))
            .transpose()
    }

    /// An address (`0x` and 40 hex digits, any case).
    pub fn address(&mut self, name: &str) -> Result<Option<Address>, ApiError> {
        self.take_with(name, parse_address)
    }

    /// An unsigned integer no larger than `max`.
    pub fn uint(&mut self, name: &str, max: u64) -> Result<Option<u64>, ApiError> {
        self.take_with(name, |raw| parse_uint(raw, max))
    }

    /// One of `choices`.
    pub fn choice<T: Copy>(
        &mut self,
        name: &str,
        choices: &[(&str, T)],
    ) -> Result<Option<T>, ApiError> {
        self.take_with(name, |raw| {
            choices.iter().find(|(c, _)| *c == raw).map(|(_, v)| *v).ok_or_else(|| {
                let names: Vec<&str> = choices.iter().map(|(c, _)| *c).collect();
                format!("one of {}", names.join(", "))
            })
        })
    }

    /// `cursor` and `limit`.
    pub fn page(&mut self, limits: Limits) -> Result<PageRequest, ApiError> {
        let after = self
            .take_with("cursor", |raw| raw.parse::<Position>().map_err(|e| e.to_string()))?
            .unwrap_or(Position::START);
        let limit = self
            .take_with("limit", |raw| {
                let limit = parse_uint(raw, u64::from(limits.max))
                    .map_err(|_| format!("an integer from 1 to {}", limits.max))?;
                if limit == 0 {
                    return Err(format!("an integer from 1 to {}", limits.max));
                }
                Ok(limit as u32)
            })?
            .unwrap_or(limits.default);
        Ok(PageRequest { after, limit })
    }

    /// Rejects whatever parameter was not taken.
    pub fn finish(self) -> Result<(), ApiError> {
        match self.pairs.into_iter().next() {
            Some((name, _)) => Err(ApiError::bad(name, "not a parameter of this route")),
            None => Ok(()),
        }
    }
}

/// The one parameter of a route's path (`{address}`, `{id}`), raw; a path
/// that is not valid percent-encoded UTF-8 is a JSON 400 like any other.
#[derive(Debug, Clone)]
pub struct Segment(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Segment {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(segment)) => Ok(Self(segment)),
            Err(rejection) => Err(ApiError::bad("path", rejection.body_text())),
        }
    }
}

/// Parses an address in a path or a query.
pub fn parse_address(raw: &str) -> Result<Address, String> {
    let digits = raw.strip_prefix("0x").ok_or("an address, 0x and 40 hex digits")?;
    if digits.len() != 40 {
        return Err("an address, 0x and 40 hex digits".into());
    }
    digits.parse::<Address>().map_err(|_| "an address, 0x and 40 hex digits".into())
}

/// The `{address}` segment of a path; a 400 naming it when it is not one.
pub(crate) fn path_address(raw: &str) -> Result<Address, ApiError> {
    parse_address(raw).map_err(|reason| ApiError::bad("address", reason))
}

/// Parses a decimal unsigned integer no larger than `max`.
pub fn parse_uint(raw: &str, max: u64) -> Result<u64, String> {
    let reason = || format!("an integer from 0 to {max}");
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(reason());
    }
    raw.parse::<u64>().ok().filter(|v| *v <= max).ok_or_else(reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parameter(err: ApiError) -> String {
        match err {
            ApiError::BadParameter { name, .. } => name,
            other => panic!("expected a bad parameter, got {other:?}"),
        }
    }

    #[test]
    fn positions_round_trip_and_order_like_the_chain() {
        let a = Position { block: 7, log_index: 300 };
        let b = Position { block: 8, log_index: 0 };
        assert!(a < b);
        assert_eq!(a.to_string().parse::<Position>(), Ok(a));
        assert_eq!(Position::end_of(7).to_string().parse::<Position>(), Ok(Position::end_of(7)));
        assert!(Position::end_of(7) > a && Position::end_of(7) < b);
        for bad in ["", "12", "zz", &"f".repeat(32), &format!("{:016x}{:016x}", 1, u64::MAX)] {
            assert_eq!(bad.parse::<Position>(), Err(BadPosition), "{bad}");
        }
    }

    #[test]
    fn the_page_size_has_a_default_and_a_hard_cap() {
        let limits = Limits::default();
        let page = Params::parse(None).unwrap().page(limits).unwrap();
        assert_eq!(page, PageRequest { after: Position::START, limit: 50 });
        let page = Params::parse(Some("limit=500")).unwrap().page(limits).unwrap();
        assert_eq!(page.limit, 500);
        for bad in ["limit=501", "limit=0", "limit=-1", "limit=ten", "cursor=nope"] {
            let err = Params::parse(Some(bad)).unwrap().page(limits).unwrap_err();
            assert_eq!(parameter(err), bad.split('=').next().unwrap(), "{bad}");
        }
    }

    #[test]
    fn every_rejection_names_its_parameter() {
        let mut params = Params::parse(Some("patient=0x12&epoch=4294967296")).unwrap();
        assert_eq!(parameter(params.address("patient").unwrap_err()), "patient");
        assert_eq!(parameter(params.uint("epoch", u32::MAX.into()).unwrap_err()), "epoch");

        let mut params = Params::parse(Some("status=live&colour=red")).unwrap();
        let status = params.choice("status", &[("live", 1), ("revoked", 2)]).unwrap();
        assert_eq!(status, Some(1));
        assert_eq!(parameter(params.finish().unwrap_err()), "colour");

        let err = Params::parse(Some("limit=1&limit=2")).unwrap_err();
        assert_eq!(parameter(err), "limit");
    }

    #[test]
    fn addresses_take_any_case_but_need_the_prefix() {
        let lower = "0x70997970c51812dc3a010c7d01b50e0d17dc79c8";
        let upper = lower.to_uppercase().replacen("0X", "0x", 1);
        assert_eq!(parse_address(lower), parse_address(&upper));
        assert!(parse_address(&lower[2..]).is_err());
        assert!(parse_address(&format!("{lower}00")).is_err());
    }
}
