//! What one participant holds, and the paths from it to a record's data key.
//!
//! Every path starts from the participant's [`EncryptionKey`] and the
//! envelopes sealed to it (`docs/keys.md` draws them):
//!
//! - **record envelope:** the record's data key sealed to the reader
//!   (`RecordKeyPublished`): writers without the category key (a device, the
//!   gateway for a hospital system) seal it to the patient and each grantee.
//! - **category key:** the key of (patient, category, epoch) sealed to the
//!   reader (`CategoryKeyPublished`) unwraps the record's `wrappedKey`. The
//!   patient seals each new key to themselves, so every device with their
//!   wallet finds it; grantees and read guardians get it when access is given
//!   or the key rotates.
//! - **history:** a key of a later epoch opens the one before it
//!   (`CategoryKeyRotated`), and so on back, for records of older epochs.
//! - **emergency:** the patient's emergency custodian holds the emergency
//!   category's key and re-seals it ([`CategoryKey::seal_to`]) to staff with
//!   a live break-glass case, who then follow the category-key path.

use std::collections::BTreeMap;

use alloy::primitives::Address;
use k256::PublicKey;

use super::{CategoryKey, CategoryKeyId, DataKey, EncryptionKey, KEY_LEN, KeyError};
use crate::envelope;

impl CategoryKey {
    /// Seals this key to a recipient's encryption key: the envelope of a
    /// `publishCategoryKey`.
    pub fn seal_to(&self, recipient: &PublicKey) -> Vec<u8> {
        envelope::seal(recipient, self.as_bytes())
    }
}

impl DataKey {
    /// Seals this key to a recipient's encryption key: a record-level
    /// envelope (`addRecord`'s envelopes, `publishRecordKey`).
    pub fn seal_to(&self, recipient: &PublicKey) -> Vec<u8> {
        envelope::seal(recipient, self.as_bytes())
    }
}

impl EncryptionKey {
    /// Opens a category key sealed to this key, filing it under `id` (the
    /// patient, category and epoch of the `CategoryKeyPublished` event).
    pub fn open_category_key(
        &self,
        id: CategoryKeyId,
        sealed: &[u8],
    ) -> Result<CategoryKey, KeyError> {
        Ok(CategoryKey::from_bytes(id, self.open_key(sealed)?))
    }

    /// Opens a record's data key sealed to this key.
    pub fn open_data_key(&self, sealed: &[u8]) -> Result<DataKey, KeyError> {
        Ok(DataKey::from_bytes(self.open_key(sealed)?))
    }

    fn open_key(&self, sealed: &[u8]) -> Result<[u8; KEY_LEN], KeyError> {
        let opened = envelope::open(self.secret(), sealed)?;
        // The array is moved straight into a zeroizing owner by the callers.
        <[u8; KEY_LEN]>::try_from(opened.as_slice())
            .map_err(|_| KeyError::EnvelopeContents { len: opened.len() })
    }
}

/// Where a record's data key is, as the chain tells it.
#[derive(Debug, Clone, Copy)]
pub struct RecordKeys<'a> {
    /// The record's patient.
    pub patient: Address,
    /// The record's category.
    pub category: u8,
    /// The epoch its key is wrapped under.
    pub epoch: u32,
    /// The record's `wrappedKey` (empty when it has none).
    pub wrapped_key: &'a [u8],
    /// A record-level envelope sealed to the reader, if one was published.
    pub envelope: Option<&'a [u8]>,
}

/// The category keys one participant holds and the rotation chain they
/// have seen; finds a record's data key by whichever path reaches it.
#[derive(Debug)]
pub struct KeyRing {
    owner: EncryptionKey,
    keys: BTreeMap<CategoryKeyId, CategoryKey>,
    /// The previous epoch's key sealed under each rotated-to key, by the id
    /// of the key it is sealed under.
    rotations: BTreeMap<CategoryKeyId, Vec<u8>>,
}

impl KeyRing {
    /// An empty ring for the participant with this encryption key.
    pub fn new(owner: EncryptionKey) -> Self {
        Self { owner, keys: BTreeMap::new(), rotations: BTreeMap::new() }
    }

    /// The participant's encryption key.
    pub fn owner(&self) -> &EncryptionKey {
        &self.owner
    }

    /// Adds a category key this participant made (a patient's new key).
    pub fn insert(&mut self, key: CategoryKey) {
        self.keys.insert(key.id(), key);
    }

    /// Opens and adds a category key sealed to this participant (a
    /// `CategoryKeyPublished` event addressed to them).
    pub fn add_envelope(&mut self, id: CategoryKeyId, sealed: &[u8]) -> Result<(), KeyError> {
        let key = self.owner.open_category_key(id, sealed)?;
        self.insert(key);
        Ok(())
    }

    /// Records a rotation to `id` (a `CategoryKeyRotated` event): the
    /// previous epoch's key, sealed under the key of `id`.
    pub fn add_rotation(&mut self, id: CategoryKeyId, sealed_previous_key: Vec<u8>) {
        self.rotations.insert(id, sealed_previous_key);
    }

    /// The category key of `id`: held, or opened back from the nearest later
    /// epoch held through the rotations in between.
    pub fn category_key(&self, id: CategoryKeyId) -> Result<CategoryKey, KeyError> {
        let newest = CategoryKeyId { epoch: u32::MAX, ..id };
        let (_, held) =
            self.keys.range(id..=newest).next().ok_or(KeyError::MissingCategoryKey { id })?;
        let mut key = held.clone();
        while key.id().epoch > id.epoch {
            let sealed =
                self.rotations.get(&key.id()).ok_or(KeyError::MissingCategoryKey { id })?;
            key = key.open_previous(sealed)?;
        }
        Ok(key)
    }

    /// The data key of a record: from a record-level envelope sealed to this
    /// participant if there is one, else by unwrapping its `wrappedKey` with
    /// the category key of its epoch.
    pub fn record_key(&self, record: &RecordKeys<'_>) -> Result<DataKey, KeyError> {
        if let Some(sealed) = record.envelope {
            return self.owner.open_data_key(sealed);
        }
        if record.wrapped_key.is_empty() {
            return Err(KeyError::NoRecordKey);
        }
        let id = CategoryKeyId {
            patient: record.patient,
            category: record.category,
            epoch: record.epoch,
        };
        self.category_key(id)?.unwrap_data_key(record.wrapped_key)
    }
}

#[cfg(test)]
mod tests {
    use alloy::primitives::address;
    use k256::SecretKey;
    use rand_core::OsRng;

    use super::*;

    const PATIENT: Address = address!("0x00000000000000000000000000000000000000aa");

    fn participant() -> KeyRing {
        KeyRing::new(EncryptionKey::from_secret(SecretKey::random(&mut OsRng)))
    }

    fn id(category: u8, epoch: u32) -> CategoryKeyId {
        CategoryKeyId { patient: PATIENT, category, epoch }
    }

    /// A record of `category` whose key is wrapped under `kek`.
    fn record(kek: &CategoryKey) -> (DataKey, Vec<u8>) {
        let dek = DataKey::generate();
        let wrapped = kek.wrap_data_key(&dek).unwrap();
        (dek, wrapped)
    }

    fn keys<'a>(kek: &CategoryKey, wrapped: &'a [u8]) -> RecordKeys<'a> {
        let id = kek.id();
        RecordKeys {
            patient: id.patient,
            category: id.category,
            epoch: id.epoch,
            wrapped_key: wrapped,
            envelope: None,
        }
    }

    #[test]
    fn the_patient_and_a_grantee_reach_a_record_through_the_category_key() {
        let mut patient = participant();
        let mut doctor = participant();
        let kek = CategoryKey::generate(id(3, 0));
        // The patient seals the key to themselves (any device with their
        // wallet finds it) and to the grantee.
        patient.add_envelope(kek.id(), &kek.seal_to(&patient.owner().public_key())).unwrap();
        doctor.add_envelope(kek.id(), &kek.seal_to(&doctor.owner().public_key())).unwrap();
        let (dek, wrapped) = record(&kek);
        for reader in [&patient, &doctor] {
            assert_eq!(
                reader.record_key(&keys(&kek, &wrapped)).unwrap().as_bytes(),
                dek.as_bytes()
            );
        }
        // Someone the key was not sealed to cannot open it or the record.
        let stranger = participant();
        assert!(matches!(
            stranger.record_key(&keys(&kek, &wrapped)),
            Err(KeyError::MissingCategoryKey { .. })
        ));
        let mut stranger = stranger;
        assert!(matches!(
            stranger.add_envelope(kek.id(), &kek.seal_to(&doctor.owner().public_key())),
            Err(KeyError::Envelope(_))
        ));
    }

    #[test]
    fn todays_key_opens_the_history_and_a_revoked_reader_is_shut_out_of_new_epochs() {
        let mut patient = participant();
        let mut doctor = participant();
        let mut revoked = participant();
        let keks: Vec<CategoryKey> =
            (0..3).map(|epoch| CategoryKey::generate(id(5, epoch))).collect();
        let records: Vec<(DataKey, Vec<u8>)> = keks.iter().map(record).collect();
        // Epoch 0 went to both; a revoke rotated to 1 and 2, sealed only to
        // the remaining doctor.
        revoked
            .add_envelope(keks[0].id(), &keks[0].seal_to(&revoked.owner().public_key()))
            .unwrap();
        for epoch in 1..3 {
            let sealed = keks[epoch].seal_previous(&keks[epoch - 1]).unwrap();
            for ring in [&mut patient, &mut doctor, &mut revoked] {
                ring.add_rotation(keks[epoch].id(), sealed.clone());
            }
        }
        patient.insert(keks[2].clone());
        doctor.add_envelope(keks[2].id(), &keks[2].seal_to(&doctor.owner().public_key())).unwrap();

        for (kek, (dek, wrapped)) in keks.iter().zip(&records) {
            for reader in [&patient, &doctor] {
                assert_eq!(
                    reader.record_key(&keys(kek, wrapped)).unwrap().as_bytes(),
                    dek.as_bytes(),
                    "epoch {}",
                    kek.id().epoch
                );
            }
        }
        // The revoked reader keeps epoch 0 (the honest limit) but not later.
        let (dek0, wrapped0) = &records[0];
        assert_eq!(
            revoked.record_key(&keys(&keks[0], wrapped0)).unwrap().as_bytes(),
            dek0.as_bytes()
        );
        for epoch in 1..3 {
            assert!(matches!(
                revoked.record_key(&keys(&keks[epoch], &records[epoch].1)),
                Err(KeyError::MissingCategoryKey { .. })
            ));
        }
        // A missing link in the chain is named, not guessed around.
        let mut gap = participant();
        gap.insert(keks[2].clone());
        gap.add_rotation(keks[2].id(), keks[2].seal_previous(&keks[1]).unwrap());
        assert!(gap.category_key(id(5, 1)).is_ok());
        assert!(matches!(gap.category_key(id(5, 0)), Err(KeyError::MissingCategoryKey { .. })));
        // Keys of another category are no help.
        assert!(gap.category_key(id(6, 0)).is_err());
    }

    #[test]
    fn a_device_record_is_read_through_its_record_envelope() {
        let patient = participant();
        // A device has no category key: it seals the record's key to the
        // patient (and each grantee) with the record.
        let dek = DataKey::generate();
        let envelope = dek.seal_to(&patient.owner().public_key());
        let record = RecordKeys {
            patient: PATIENT,
            category: 9,
            epoch: 0,
            wrapped_key: &[],
            envelope: Some(&envelope),
        };
        assert_eq!(patient.record_key(&record).unwrap().as_bytes(), dek.as_bytes());
        let without = RecordKeys { envelope: None, ..record };
        assert!(matches!(patient.record_key(&without), Err(KeyError::NoRecordKey)));
    }

    #[test]
    fn the_emergency_custodian_reseals_the_emergency_key_to_staff() {
        let mut patient = participant();
        let mut custodian = participant();
        let mut responder = participant();
        let kek = CategoryKey::generate(id(0, 0));
        patient.insert(kek.clone());
        let (dek, wrapped) = record(&kek);
        custodian.add_envelope(kek.id(), &kek.seal_to(&custodian.owner().public_key())).unwrap();
        // Break-glass: the custodian opens its copy and seals it to the responder.
        let resealed =
            custodian.category_key(kek.id()).unwrap().seal_to(&responder.owner().public_key());
        responder.add_envelope(kek.id(), &resealed).unwrap();
        assert_eq!(responder.record_key(&keys(&kek, &wrapped)).unwrap().as_bytes(), dek.as_bytes());
    }

    #[test]
    fn an_envelope_of_the_wrong_size_is_refused() {
        let reader = participant();
        let sealed = envelope::seal(&reader.owner().public_key(), &[1; 31]);
        assert!(matches!(
            reader.owner().open_data_key(&sealed),
            Err(KeyError::EnvelopeContents { len: 31 })
        ));
    }

    #[test]
    fn debug_output_shows_only_public_keys() {
        let ring = participant();
        let shown = format!("{ring:?}");
        let public = alloy::hex::encode(ring.owner().public_key_bytes());
        let secret = alloy::hex::encode(ring.owner().secret().to_bytes());
        assert!(shown.contains(&public));
        assert!(!shown.contains(&secret));
    }
}
