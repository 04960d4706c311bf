//! What a user types, checked before anything is sent.
//!
//! Every argument that names an account, a category, a duration, a record
//! or a file goes through one of these parsers as a clap `value_parser`, so
//! a typo stops the command with a sentence before it signs, uploads or
//! relays anything. Categories are 0 to 63, as the contract's bitmasks;
//! a few have names (see [`CATEGORY_NAMES`]).

use std::{fmt, path::PathBuf, str::FromStr, time::Duration};

use alloy::primitives::{Address, U256};

use crate::stack::Role;

/// The named categories. Any other category is given by its number.
pub const CATEGORY_NAMES: [(&str, u8); 8] = [
    ("emergency", 0),
    ("vitals", 1),
    ("labs", 2),
    ("imaging", 3),
    ("prescriptions", 4),
    ("notes", 5),
    ("allergies", 6),
    ("immunisations", 7),
];

/// The highest category the contract accepts.
pub const MAX_CATEGORY: u8 = 63;

/// Why an argument was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    /// Not `0x` followed by 40 hex digits.
    #[error("{input:?} is not an address: expected 0x followed by 40 hex digits")]
    Address {
        /// What was typed.
        input: String,
    },
    /// Mixed-case hex whose EIP-55 checksum does not match: a typo.
    #[error(
        "{input:?} fails its EIP-55 checksum (a mistyped letter?); the address would be {expected}"
    )]
    Checksum {
        /// What was typed.
        input: String,
        /// The address with its correct checksum.
        expected: String,
    },
    /// The zero address names no one.
    #[error("the zero address names no one")]
    ZeroAddress,
    /// Neither a category name nor a number from 0 to 63.
    #[error("{input:?} is not a category: use a number from 0 to 63 or one of {}", names())]
    Category {
        /// What was typed.
        input: String,
    },
    /// An empty list of categories.
    #[error("no category given")]
    NoCategory,
    /// Not a number followed by s, m, h, d or w.
    #[error("{input:?} is not a duration: use a number and a unit, e.g. 90s, 15m, 12h, 30d, 2w")]
    Duration {
        /// What was typed.
        input: String,
    },
    /// A zero duration.
    #[error("a duration must be longer than zero")]
    ZeroDuration,
    /// A duration beyond what the chain stores.
    #[error("{input:?} is too long: at most {max_days} days")]
    DurationTooLong {
        /// What was typed.
        input: String,
        /// The longest duration accepted, in days.
        max_days: u64,
    },
    /// Not a record, request or case id.
    #[error("{input:?} is not an id: use a decimal number or 0x-hex")]
    Id {
        /// What was typed.
        input: String,
    },
    /// Neither `read` nor `write`.
    #[error("{input:?} is not an access level: use read or write")]
    Access {
        /// What was typed.
        input: String,
    },
    /// Not a role of `stack.json`.
    #[error("{input:?} is not a role: use one of {}", role_names())]
    Role {
        /// What was typed.
        input: String,
    },
    /// Not a staff role.
    #[error("{input:?} is not a staff role: use doctor, nurse, lab or emergency")]
    StaffRole {
        /// What was typed.
        input: String,
    },
    /// A file to read that is not there or is not a file.
    #[error("{path}: no such file")]
    NoFile {
        /// The path given.
        path: String,
    },
    /// A file to write whose folder does not exist.
    #[error("{path}: its folder does not exist")]
    NoFolder {
        /// The path given.
        path: String,
    },
    /// A severity outside 1 to 3.
    #[error("{input:?} is not a severity: use watch, warning, critical or 1 to 3")]
    Severity {
        /// What was typed.
        input: String,
    },
}

fn names() -> String {
    CATEGORY_NAMES.iter().map(|(name, _)| *name).collect::<Vec<_>>().join(", ")
}

fn role_names() -> String {
    Role::ALL.iter().map(|role| role.as_str()).collect::<Vec<_>>().join(", ")
}

/// Parses an account: `0x` and 40 hex digits. All-lowercase or
/// all-uppercase hex is taken as is; mixed case must carry a valid EIP-55
/// checksum, which catches most typos. The zero address is refused.
pub fn address(input: &str) -> Result<Address, InputError> {
    let text = input.trim();
    let refused = || InputError::Address { input: input.to_owned() };
    let digits = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")).ok_or_else(refused)?;
    if digits.len() != 40 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(refused());
    }
    let parsed = Address::from_str(digits).map_err(|_| refused())?;
    let mixed = digits.bytes().any(|b| b.is_ascii_lowercase())
        && digits.bytes().any(|b| b.is_ascii_uppercase());
    if mixed {
        let expected = parsed.to_checksum(None);
        if expected[2..] != *digits {
            return Err(InputError::Checksum { input: input.to_owned(), expected });
        }
    }
    if parsed.is_zero() {
        return Err(InputError::ZeroAddress);
    }
    Ok(parsed)
}

/// Parses one category: a name of [`CATEGORY_NAMES`] or a number from 0 to 63.
pub fn category(input: &str) -> Result<u8, InputError> {
    let text = input.trim().to_ascii_lowercase();
    if let Some((_, number)) = CATEGORY_NAMES.iter().find(|(name, _)| *name == text) {
        return Ok(*number);
    }
    text.parse::<u8>()
        .ok()
        .filter(|number| *number <= MAX_CATEGORY)
        .ok_or_else(|| InputError::Category { input: input.to_owned() })
}

/// The name of a category, or its number.
pub fn category_name(category: u8) -> String {
    CATEGORY_NAMES
        .iter()
        .find(|(_, number)| *number == category)
        .map_or_else(|| category.to_string(), |(name, _)| (*name).to_owned())
}

/// A set of categories: the contract's 64-bit scope mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Categories(pub u64);

impl Categories {
    /// Each category in the set, in order.
    pub fn iter(self) -> impl Iterator<Item = u8> {
        (0..=MAX_CATEGORY).filter(move |c| self.0 & (1 << c) != 0)
    }

    /// Whether the set holds `category`.
    pub fn contains(self, category: u8) -> bool {
        category <= MAX_CATEGORY && self.0 & (1 << category) != 0
    }
}

impl fmt::Display for Categories {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<String> = self.iter().map(category_name).collect();
        if names.is_empty() { f.write_str("none") } else { f.write_str(&names.join(", ")) }
    }
}

/// Parses a list of categories, comma-separated: names, numbers, ranges
/// (`2-5`) or `all`.
pub fn categories(input: &str) -> Result<Categories, InputError> {
    let mut mask = 0u64;
    for part in input.split(',').map(str::trim).filter(|part| !part.is_empty()) {
        if part.eq_ignore_ascii_case("all") {
            mask = u64::MAX;
            continue;
        }
        match part.split_once('-') {
            Some((low, high)) => {
                let (low, high) = (category(low)?, category(high)?);
                if low > high {
                    return Err(InputError::Category { input: part.to_owned() });
                }
                for c in low..=high {
                    mask |= 1 << c;
                }
            }
            None => mask |= 1 << category(part)?,
        }
    }
    if mask == 0 {
        return Err(InputError::NoCategory);
    }
    Ok(Categories(mask))
}

/// The longest duration accepted: ten years (grants and requests are
/// meant to end; the contract's own limits are checked by the contract).
pub const MAX_DURATION: Duration = Duration::from_secs(3650 * 86_400);

/// Parses a duration: a whole number and a unit, `s`, `m`, `h`, `d` or `w`
/// (`30d`, `12h`).
pub fn duration(input: &str) -> Result<Duration, InputError> {
    let text = input.trim();
    let refused = || InputError::Duration { input: input.to_owned() };
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(refused)?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().map_err(|_| refused())?;
    let seconds = match unit {
        "s" => 1,
        "m" | "min" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(refused()),
    };
    if number == 0 {
        return Err(InputError::ZeroDuration);
    }
    let too_long = || InputError::DurationTooLong {
        input: input.to_owned(),
        max_days: MAX_DURATION.as_secs() / 86_400,
    };
    let total = number.checked_mul(seconds).ok_or_else(too_long)?;
    if total > MAX_DURATION.as_secs() {
        return Err(too_long());
    }
    Ok(Duration::from_secs(total))
}

/// Parses a record, request or case id: decimal or `0x`-hex.
pub fn id(input: &str) -> Result<U256, InputError> {
    let text = input.trim();
    let refused = || InputError::Id { input: input.to_owned() };
    let parsed = match text.strip_prefix("0x") {
        Some(hex) if !hex.is_empty() => U256::from_str_radix(hex, 16),
        Some(_) => return Err(refused()),
        None if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) => {
            U256::from_str_radix(text, 10)
        }
        None => return Err(refused()),
    };
    parsed.map_err(|_| refused())
}

/// What a grant allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    /// Read the records of the categories.
    #[default]
    Read,
    /// Read them and add records to them.
    Write,
}

/// Parses an access level: `read` or `write`.
pub fn access(input: &str) -> Result<Access, InputError> {
    match input.trim().to_ascii_lowercase().as_str() {
        "read" | "r" => Ok(Access::Read),
        "write" | "rw" | "w" => Ok(Access::Write),
        _ => Err(InputError::Access { input: input.to_owned() }),
    }
}

/// Parses a `stack.json` role (`emergency-doctor` or `emergency_doctor`).
pub fn role(input: &str) -> Result<Role, InputError> {
    let text = input.trim().to_ascii_lowercase().replace('-', "_");
    Role::ALL
        .into_iter()
        .find(|role| role.as_str() == text)
        .ok_or_else(|| InputError::Role { input: input.to_owned() })
}

/// Parses a staff role into the contract's `Role` number: doctor 1, nurse 2,
/// lab 3, emergency 4.
pub fn staff_role(input: &str) -> Result<u8, InputError> {
    match input.trim().to_ascii_lowercase().as_str() {
        "doctor" => Ok(1),
        "nurse" => Ok(2),
        "lab" => Ok(3),
        "emergency" => Ok(4),
        _ => Err(InputError::StaffRole { input: input.to_owned() }),
    }
}

/// The name of a staff role number.
pub fn staff_role_name(role: u8) -> &'static str {
    match role {
        1 => "doctor",
        2 => "nurse",
        3 => "lab",
        4 => "emergency",
        _ => "none",
    }
}

/// Parses an alert severity: `watch` 1, `warning` 2, `critical` 3.
pub fn severity(input: &str) -> Result<u8, InputError> {
    match input.trim().to_ascii_lowercase().as_str() {
        "watch" | "1" => Ok(1),
        "warning" | "2" => Ok(2),
        "critical" | "3" => Ok(3),
        _ => Err(InputError::Severity { input: input.to_owned() }),
    }
}

/// Parses a file to read: it must exist and be a regular file.
pub fn existing_file(input: &str) -> Result<PathBuf, InputError> {
    let path = PathBuf::from(input);
    if path.is_file() { Ok(path) } else { Err(InputError::NoFile { path: input.to_owned() }) }
}

/// Parses a file to write: its folder must exist.
pub fn output_file(input: &str) -> Result<PathBuf, InputError> {
    let path = PathBuf::from(input);
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    };
    if input.is_empty() || !folder.is_dir() || path.is_dir() {
        return Err(InputError::NoFolder { path: input.to_owned() });
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use alloy::primitives::address as addr;

    use super::*;

    #[test]
    fn addresses_need_forty_hex_digits_and_a_valid_checksum() {
        let expected = addr!("0x70997970C51812dc3A010C7d01b50e0d17dc79C8");
        assert_eq!(address("0x70997970C51812dc3A010C7d01b50e0d17dc79C8").unwrap(), expected);
        assert_eq!(address("0x70997970c51812dc3a010c7d01b50e0d17dc79c8").unwrap(), expected);
        assert_eq!(address(" 0x70997970C51812DC3A010C7D01B50E0D17DC79C8 ").unwrap(), expected);
        // One letter's case flipped: the checksum catches it.
        let err = address("0x70997970c51812dc3A010C7d01b50e0d17dc79C8").unwrap_err();
        assert!(matches!(err, InputError::Checksum { .. }), "{err}");
        assert!(err.to_string().contains("0x70997970C51812dc3A010C7d01b50e0d17dc79C8"));
        for bad in [
            "",
            "0x",
            "70997970C51812dc3A010C7d01b50e0d17dc79C8",
            "0x1234",
            "0xzz997970c51812dc3a010c7d01b50e0d17dc79c8",
            "0x70997970c51812dc3a010c7d01b50e0d17dc79c800",
            "doctor",
        ] {
            assert!(matches!(address(bad), Err(InputError::Address { .. })), "{bad:?}");
        }
        assert_eq!(
            address("0x0000000000000000000000000000000000000000"),
            Err(InputError::ZeroAddress)
        );
    }

    #[test]
    fn categories_are_names_numbers_ranges_or_all() {
        assert_eq!(category("labs"), Ok(2));
        assert_eq!(category("Vitals"), Ok(1));
        assert_eq!(category("63"), Ok(63));
        assert!(matches!(category("64"), Err(InputError::Category { .. })));
        assert!(matches!(category("lab"), Err(InputError::Category { .. })));
        assert!(matches!(category("-1"), Err(InputError::Category { .. })));
        assert_eq!(categories("labs,vitals"), Ok(Categories(0b110)));
        assert_eq!(categories("2-4, 10"), Ok(Categories(0b11100 | 1 << 10)));
        assert_eq!(categories("all"), Ok(Categories(u64::MAX)));
        assert_eq!(categories(" , "), Err(InputError::NoCategory));
        assert!(matches!(categories("4-2"), Err(InputError::Category { .. })));
        assert!(matches!(categories("labs,xrays"), Err(InputError::Category { .. })));
        assert_eq!(Categories(0b110).to_string(), "vitals, labs");
        assert_eq!(Categories(1 << 40).iter().collect::<Vec<_>>(), vec![40]);
        assert!(Categories(0b100).contains(2) && !Categories(0b100).contains(64));
    }

    #[test]
    fn durations_take_a_number_and_a_unit() {
        assert_eq!(duration("30d"), Ok(Duration::from_secs(30 * 86_400)));
        assert_eq!(duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(duration("12h"), Ok(Duration::from_secs(12 * 3600)));
        assert_eq!(duration("2w"), Ok(Duration::from_secs(14 * 86_400)));
        for bad in ["", "30", "d", "30 days", "1.5d", "-3d", "30y"] {
            assert!(matches!(duration(bad), Err(InputError::Duration { .. })), "{bad:?}");
        }
        assert_eq!(duration("0d"), Err(InputError::ZeroDuration));
        assert!(matches!(duration("3651d"), Err(InputError::DurationTooLong { .. })));
        assert!(matches!(duration("99999999999999999999w"), Err(InputError::Duration { .. })));
        assert!(matches!(duration("9999999999999999w"), Err(InputError::DurationTooLong { .. })));
    }

    #[test]
    fn ids_are_decimal_or_hex() {
        assert_eq!(id("42"), Ok(U256::from(42)));
        assert_eq!(id("0x2a"), Ok(U256::from(42)));
        for bad in ["", "0x", "-1", "4 2", "forty", "0xzz"] {
            assert!(matches!(id(bad), Err(InputError::Id { .. })), "{bad:?}");
        }
    }

    #[test]
    fn access_roles_and_severities_have_fixed_names() {
        assert_eq!(access("write"), Ok(Access::Write));
        assert_eq!(access("READ"), Ok(Access::Read));
        assert!(access("admin").is_err());
        assert_eq!(role("emergency-doctor"), Ok(Role::EmergencyDoctor));
        assert_eq!(role("patient"), Ok(Role::Patient));
        assert!(role("admin").unwrap_err().to_string().contains("governance"));
        assert_eq!(staff_role("emergency"), Ok(4));
        assert!(staff_role("surgeon").is_err());
        assert_eq!(severity("critical"), Ok(3));
        assert!(severity("4").is_err());
    }

    #[test]
    fn files_are_checked_before_use() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("report.pdf");
        std::fs::write(&file, b"x").unwrap();
        assert_eq!(existing_file(file.to_str().unwrap()), Ok(file.clone()));
        assert!(matches!(
            existing_file(dir.path().to_str().unwrap()),
            Err(InputError::NoFile { .. })
        ));
        let missing = dir.path().join("missing.pdf");
        assert!(matches!(existing_file(missing.to_str().unwrap()), Err(InputError::NoFile { .. })));
        assert!(output_file(missing.to_str().unwrap()).is_ok());
        let nowhere = dir.path().join("no/such/out.pdf");
        assert!(matches!(output_file(nowhere.to_str().unwrap()), Err(InputError::NoFolder { .. })));
        assert!(output_file("out.pdf").is_ok());
    }
}
