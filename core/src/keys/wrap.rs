//! Wrapping keys under a category key, with AES-256-GCM.
//!
//! ```text
//! wrapped = 0x01 || nonce (12, random) || AES-256-GCM(category key, nonce, aad, key (32)) || tag (16)
//! aad     = label || patient (20) || category (1) || epoch (u32 BE)
//! ```
//!
//! The label tells the two uses apart, so that neither can stand for the
//! other: `"MedVault data key v1"` for a record's data key under its
//! category key (the record's `wrappedKey` on chain), and `"MedVault previous
//! key v1"` for the previous epoch's category key under the new one (the
//! `sealedPreviousKey` of a rotation). The patient, category and epoch in the
//! associated data are those of the wrapping key.

use rand_core::{CryptoRngCore, OsRng};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use zeroize::Zeroizing;

use super::{CategoryKey, CategoryKeyId, DataKey, KEY_LEN, KeyError};

/// The length of a wrapped key: version, nonce, key and tag.
pub const WRAPPED_KEY_LEN: usize = 1 + NONCE_LEN + KEY_LEN + 16;

const WRAP_VERSION: u8 = 1;
const DATA_KEY_LABEL: &[u8] = b"MedVault data key v1";
const PREVIOUS_KEY_LABEL: &[u8] = b"MedVault previous key v1";

impl CategoryKey {
    /// Wraps a record's data key under this category key: the record's
    /// `wrappedKey` on chain.
    pub fn wrap_data_key(&self, key: &DataKey) -> Result<Vec<u8>, KeyError> {
        self.wrap_data_key_with_rng(key, &mut OsRng)
    }

    /// [`Self::wrap_data_key`] with the nonce drawn from `rng`: for test
    /// vectors that a second implementation (the browser's) checks.
    pub fn wrap_data_key_with_rng(
        &self,
        key: &DataKey,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Vec<u8>, KeyError> {
        wrap(self, DATA_KEY_LABEL, key.as_bytes(), rng)
    }

    /// Unwraps a record's data key wrapped under this category key.
    pub fn unwrap_data_key(&self, wrapped: &[u8]) -> Result<DataKey, KeyError> {
        unwrap(self, DATA_KEY_LABEL, wrapped).map(|bytes| DataKey::from_bytes(*bytes))
    }

    /// Seals the previous epoch's key under this one: the
    /// `sealedPreviousKey` of the rotation to this key's epoch.
    pub fn seal_previous(&self, previous: &CategoryKey) -> Result<Vec<u8>, KeyError> {
        self.seal_previous_with_rng(previous, &mut OsRng)
    }

    /// [`Self::seal_previous`] with the nonce drawn from `rng`: for test
    /// vectors that a second implementation checks.
    pub fn seal_previous_with_rng(
        &self,
        previous: &CategoryKey,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Vec<u8>, KeyError> {
        wrap(self, PREVIOUS_KEY_LABEL, previous.as_bytes(), rng)
    }

    /// Opens the previous epoch's key, sealed under this one at rotation.
    /// Fails for the first epoch, which has no previous key.
    pub fn open_previous(&self, sealed: &[u8]) -> Result<CategoryKey, KeyError> {
        let id = self.id();
        let epoch = id.epoch.checked_sub(1).ok_or(KeyError::Unwrap { id })?;
        let bytes = unwrap(self, PREVIOUS_KEY_LABEL, sealed)?;
        Ok(CategoryKey::from_bytes(CategoryKeyId { epoch, ..id }, *bytes))
    }
}

/// ring refuses only a key of the wrong length, which a `CategoryKey`
/// cannot have.
fn aead_key(key: &CategoryKey) -> Result<LessSafeKey, ring::error::Unspecified> {
    Ok(LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key.as_bytes())?))
}

fn aad(label: &[u8], id: &CategoryKeyId) -> Vec<u8> {
    [label, &id.context()].concat()
}

fn wrap(
    wrapping: &CategoryKey,
    label: &[u8],
    key: &[u8; KEY_LEN],
    rng: &mut impl CryptoRngCore,
) -> Result<Vec<u8>, KeyError> {
    let mut nonce = [0; NONCE_LEN];
    rng.fill_bytes(&mut nonce);
    let mut out = Vec::with_capacity(WRAPPED_KEY_LEN);
    out.push(WRAP_VERSION);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(key);
    let id = wrapping.id();
    let tag = aead_key(wrapping)
        .and_then(|key| {
            key.seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad(label, &id)),
                &mut out[1 + NONCE_LEN..],
            )
        })
        .map_err(|_| KeyError::Wrap { id })?;
    out.extend_from_slice(tag.as_ref());
    Ok(out)
}

fn unwrap(
    wrapping: &CategoryKey,
    label: &[u8],
    wrapped: &[u8],
) -> Result<Zeroizing<[u8; KEY_LEN]>, KeyError> {
    if wrapped.len() != WRAPPED_KEY_LEN || wrapped[0] != WRAP_VERSION {
        return Err(KeyError::WrappedKeyFormat { len: wrapped.len() });
    }
    let mut nonce = [0; NONCE_LEN];
    nonce.copy_from_slice(&wrapped[1..1 + NONCE_LEN]);
    let mut buf = Zeroizing::new(wrapped[1 + NONCE_LEN..].to_vec());
    let id = wrapping.id();
    let plaintext = aead_key(wrapping)
        .and_then(|key| {
            key.open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad(label, &id)),
                &mut buf,
            )
        })
        .map_err(|_| KeyError::Unwrap { id })?;
    let mut key = Zeroizing::new([0; KEY_LEN]);
    key.copy_from_slice(plaintext);
    Ok(key)
}

#[cfg(test)]
mod tests {
    use alloy::primitives::address;

    use super::*;

    fn id(epoch: u32) -> CategoryKeyId {
        CategoryKeyId {
            patient: address!("0x00000000000000000000000000000000000000aa"),
            category: 3,
            epoch,
        }
    }

    #[test]
    fn a_data_key_round_trips_and_fits_on_chain() {
        let kek = CategoryKey::generate(id(0));
        let dek = DataKey::generate();
        let wrapped = kek.wrap_data_key(&dek).unwrap();
        assert_eq!(wrapped.len(), WRAPPED_KEY_LEN);
        assert!(wrapped.len() <= 128, "the contract accepts wrapped keys up to 128 bytes");
        assert_eq!(kek.unwrap_data_key(&wrapped).unwrap().as_bytes(), dek.as_bytes());
        // Random nonces: the same key wraps differently each time.
        assert_ne!(kek.wrap_data_key(&dek).unwrap(), wrapped);
    }

    #[test]
    fn a_wrapped_key_opens_under_no_other_key_place_or_use() {
        let kek = CategoryKey::generate(id(0));
        let wrapped = kek.wrap_data_key(&DataKey::generate()).unwrap();
        let other = CategoryKey::generate(id(0));
        assert!(matches!(other.unwrap_data_key(&wrapped), Err(KeyError::Unwrap { .. })));
        // The same key bytes filed under another epoch or category.
        let moved = CategoryKey::from_bytes(id(1), *kek.as_bytes());
        assert!(moved.unwrap_data_key(&wrapped).is_err());
        let moved =
            CategoryKey::from_bytes(CategoryKeyId { category: 4, ..id(0) }, *kek.as_bytes());
        assert!(moved.unwrap_data_key(&wrapped).is_err());
        // A wrapped data key is not a sealed previous key.
        let next = CategoryKey::from_bytes(id(1), *kek.as_bytes());
        assert!(next.open_previous(&wrapped).is_err());
        for i in 0..wrapped.len() {
            let mut flipped = wrapped.clone();
            flipped[i] ^= 0x01;
            assert!(kek.unwrap_data_key(&flipped).is_err(), "a flip at byte {i} went unnoticed");
        }
        assert!(matches!(
            kek.unwrap_data_key(&wrapped[..60]),
            Err(KeyError::WrappedKeyFormat { len: 60 })
        ));
    }

    #[test]
    fn each_epoch_opens_the_one_before() {
        let first = CategoryKey::generate(id(0));
        let second = CategoryKey::generate(id(1));
        let sealed = second.seal_previous(&first).unwrap();
        let opened = second.open_previous(&sealed).unwrap();
        assert_eq!(opened.id(), id(0));
        assert_eq!(opened.as_bytes(), first.as_bytes());
        assert!(matches!(first.open_previous(&sealed), Err(KeyError::Unwrap { .. })));
    }

    #[test]
    fn debug_output_shows_no_key_bytes() {
        let dek = DataKey::from_bytes([0xab; 32]);
        let kek = CategoryKey::from_bytes(id(0), [0xcd; 32]);
        assert_eq!(format!("{dek:?}"), "DataKey(<secret>)");
        let shown = format!("{kek:?}");
        assert!(!shown.contains("cd, cd") && !shown.contains("cdcd") && !shown.contains("205"));
    }
}
