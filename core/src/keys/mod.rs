//! The key hierarchy: record keys, category keys and encryption keys.
//!
//! ```text
//! wallet ──signs the fixed EIP-712 message──> EncryptionKey (secp256k1; public half on chain)
//!                                                  │ opens ECIES envelopes sealed to it
//! CategoryKey (patient, category, epoch) <─────────┘   CategoryKeyPublished / RecordKeyPublished
//!   │ wraps                      │ seals the previous epoch's key (CategoryKeyRotated)
//!   ▼                            ▼
//! DataKey (one per record) <── CategoryKey (patient, category, epoch - 1) ...
//!   │ encrypts
//!   ▼
//! the record (crate::record)
//! ```
//!
//! - [`DataKey`]: 32 random bytes per record, never reused; encrypts the
//!   record ([`crate::record`]).
//! - [`CategoryKey`]: 32 random bytes per (patient, category, epoch). A
//!   record's data key is stored on chain wrapped under the key of its
//!   category's current epoch ([`CategoryKey::wrap_data_key`]); each
//!   rotation publishes the previous epoch's key sealed under the new one
//!   ([`CategoryKey::seal_previous`]), so today's key opens the history.
//! - [`EncryptionKey`]: a participant's secp256k1 key for ECIES envelopes,
//!   derived from a wallet signature ([`derive`]); its compressed public half
//!   is registered on chain.
//!
//! [`KeyRing`] holds what one participant has been sent and finds the data
//! key of a record by whichever path reaches it (`docs/keys.md` lists them).
//! Every secret lives in a zeroizing type whose `Debug` prints no byte of it.

mod derive;
mod keyring;
mod wrap;

pub use derive::{ENCRYPTION_KEY_PURPOSE, EncryptionKeyMessage};
pub use keyring::{KeyRing, RecordKeys};
pub use wrap::WRAPPED_KEY_LEN;

use std::fmt;

use alloy::primitives::Address;
use k256::{PublicKey, SecretKey, elliptic_curve::sec1::ToEncodedPoint};
use rand_core::{OsRng, RngCore};
use zeroize::Zeroizing;

/// The length of a symmetric key.
pub const KEY_LEN: usize = 32;

/// A record's AES-256 key: random, used for one record only.
#[derive(Clone)]
pub struct DataKey(Zeroizing<[u8; KEY_LEN]>);

impl DataKey {
    /// A fresh random key.
    pub fn generate() -> Self {
        Self(random_key())
    }

    /// The key with these bytes (a key unwrapped or opened elsewhere, a test
    /// vector).
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The key's bytes.
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(<secret>)")
    }
}

/// Which category key: the patient's, for one category, in one epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CategoryKeyId {
    /// The patient whose records the key protects.
    pub patient: Address,
    /// The category, 0 to 63.
    pub category: u8,
    /// The epoch: 0 at first, one more at each rotation.
    pub epoch: u32,
}

impl CategoryKeyId {
    /// The bytes that bind a wrapped key to its place:
    /// `patient (20) || category (1) || epoch (u32 BE)`.
    fn context(&self) -> [u8; 25] {
        let mut bytes = [0; 25];
        bytes[..20].copy_from_slice(self.patient.as_slice());
        bytes[20] = self.category;
        bytes[21..].copy_from_slice(&self.epoch.to_be_bytes());
        bytes
    }
}

/// A category key: the AES-256 key that wraps the data keys of one
/// patient's category in one epoch.
#[derive(Clone)]
pub struct CategoryKey {
    id: CategoryKeyId,
    key: Zeroizing<[u8; KEY_LEN]>,
}

impl CategoryKey {
    /// A fresh random key for `id`: a new category, or a rotation.
    pub fn generate(id: CategoryKeyId) -> Self {
        Self { id, key: random_key() }
    }

    /// The key for `id` with these bytes.
    pub fn from_bytes(id: CategoryKeyId, bytes: [u8; KEY_LEN]) -> Self {
        Self { id, key: Zeroizing::new(bytes) }
    }

    /// Which key this is.
    pub fn id(&self) -> CategoryKeyId {
        self.id
    }

    /// The key's bytes.
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.key
    }
}

impl fmt::Debug for CategoryKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CategoryKey").field("id", &self.id).finish_non_exhaustive()
    }
}

/// A participant's encryption key: the secp256k1 secret that opens the
/// envelopes sealed to them. Derived from a wallet signature
/// ([`EncryptionKeyMessage::derive`]), never stored by MedVault.
#[derive(Clone)]
pub struct EncryptionKey(SecretKey);

impl EncryptionKey {
    /// The key with this secret scalar (a test, or a key kept elsewhere).
    pub fn from_secret(secret: SecretKey) -> Self {
        Self(secret)
    }

    /// The secret scalar, for opening envelopes.
    pub fn secret(&self) -> &SecretKey {
        &self.0
    }

    /// The public key that others seal envelopes to.
    pub fn public_key(&self) -> PublicKey {
        self.0.public_key()
    }

    /// The public key in the 33-byte compressed form registered on chain.
    pub fn public_key_bytes(&self) -> [u8; 33] {
        let mut bytes = [0; 33];
        bytes.copy_from_slice(self.public_key().to_encoded_point(true).as_bytes());
        bytes
    }
}

impl fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("EncryptionKey").field(&alloy::hex::encode(self.public_key_bytes())).finish()
    }
}

fn random_key() -> Zeroizing<[u8; KEY_LEN]> {
    let mut key = Zeroizing::new([0; KEY_LEN]);
    OsRng.fill_bytes(key.as_mut());
    key
}

/// Why a key could not be derived, wrapped, unwrapped or found.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The wallet's signature is not a valid signature by the account over
    /// the encryption-key message.
    #[error("the signature is not {account}'s over the MedVault encryption-key message")]
    WrongSigner {
        /// The account the key was to be derived for.
        account: Address,
    },
    /// The derived key is not the one the account registered on chain: the
    /// wallet signs the same message differently each time, or a different
    /// message was signed.
    #[error(
        "the key derived from {account}'s signature is not the one registered on chain; \
         the wallet may not sign deterministically (RFC 6979)"
    )]
    NotRegisteredKey {
        /// The account.
        account: Address,
    },
    /// The signer failed to sign the encryption-key message.
    #[error("the wallet did not sign the encryption-key message")]
    Sign(#[from] alloy::signers::Error),
    /// A wrapped key has the wrong length or version.
    #[error(
        "a wrapped key must be {WRAPPED_KEY_LEN} bytes starting with version 1, not {len} bytes"
    )]
    WrappedKeyFormat {
        /// The length that was given.
        len: usize,
    },
    /// A wrapped key or sealed previous key does not open under the category
    /// key it names: a wrong key, or altered bytes.
    #[error("the wrapped key does not open under the category key of {id:?}")]
    Unwrap {
        /// The category key that was tried.
        id: CategoryKeyId,
    },
    /// An envelope sealed to this participant does not open.
    #[error("a key envelope does not open with this encryption key")]
    Envelope(#[from] crate::envelope::EnvelopeError),
    /// An envelope opened but does not hold a 32-byte key.
    #[error("a key envelope holds {len} bytes, not a 32-byte key")]
    EnvelopeContents {
        /// The length of what it held.
        len: usize,
    },
    /// No path from the keys held reaches the category key.
    #[error("no key held opens the category key of {id:?}")]
    MissingCategoryKey {
        /// The key that was needed.
        id: CategoryKeyId,
    },
    /// A record has neither a wrapped key nor an envelope for this
    /// participant.
    #[error("the record has no wrapped key and no envelope for this participant")]
    NoRecordKey,
    /// A key could not be wrapped under a category key (never happens with
    /// 32-byte keys).
    #[error("cannot wrap a key under the category key of {id:?}")]
    Wrap {
        /// The wrapping category key.
        id: CategoryKeyId,
    },
    /// HKDF gave no valid secp256k1 scalar in 256 tries (odds 2^-32768).
    #[error("the signature derived no valid secp256k1 key")]
    Derivation,
}
