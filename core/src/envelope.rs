//! ECIES key envelopes: a key sealed to a participant's secp256k1 encryption
//! key, byte-compatible with the defaults of the npm package `eciesjs` 0.4
//! (checked against 0.4.18), so that a browser can open what Rust seals and
//! the other way round.
//!
//! An envelope is
//!
//! ```text
//! ephemeral public key (65, uncompressed) || nonce (16) || tag (16) || ciphertext
//! ```
//!
//! The sender draws an ephemeral secp256k1 key and multiplies the recipient's
//! public key by it. The AES-256-GCM key is
//! `HKDF-SHA256(ikm = ephemeral_pk || shared_point)`, with no salt, no info
//! and both points uncompressed (65 bytes each): eciesjs derives from the
//! whole shared point, not from its x-coordinate as plain ECDH does. The
//! plaintext is sealed with that key under a random 16-byte nonce and no
//! associated data; the tag comes before the ciphertext, not after it as in
//! most AEAD APIs. `docs/envelopes.md` has the format and a test vector.

use aes_gcm::{AeadInPlace, AesGcm, KeyInit, aead::consts::U16, aes::Aes256};
use hkdf::Hkdf;
use k256::{
    NonZeroScalar, PublicKey, SecretKey,
    elliptic_curve::sec1::{Tag, ToEncodedPoint},
};
use rand_core::{CryptoRngCore, OsRng};
use sha2::Sha256;
use zeroize::{Zeroize, Zeroizing};

/// Length of the ephemeral public key that opens an envelope (uncompressed).
pub const EPHEMERAL_KEY_LEN: usize = 65;
/// Length of the AES-GCM nonce (eciesjs's default, not GCM's usual 12).
pub const NONCE_LEN: usize = 16;
/// Length of the AES-GCM tag.
pub const TAG_LEN: usize = 16;
/// Bytes an envelope adds to its plaintext.
pub const OVERHEAD: usize = EPHEMERAL_KEY_LEN + NONCE_LEN + TAG_LEN;

/// Length of a compressed secp256k1 public key, the form registered on chain.
const COMPRESSED_KEY_LEN: usize = 33;

/// AES-256-GCM with eciesjs's 16-byte nonce.
type Cipher = AesGcm<Aes256, U16>;

/// Why an envelope could not be opened or a public key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// The envelope cannot even hold an ephemeral key, a nonce and a tag.
    #[error("envelope is {len} bytes, shorter than the {OVERHEAD} bytes every envelope has")]
    TooShort {
        /// Length of the envelope.
        len: usize,
    },
    /// The envelope's first 65 bytes are not an uncompressed secp256k1 point.
    #[error("envelope's ephemeral key is not an uncompressed secp256k1 point")]
    BadEphemeralKey,
    /// The tag did not verify: the envelope was sealed to another key, or
    /// some byte of it was changed.
    #[error("envelope failed authentication: sealed to another key or tampered with")]
    AuthenticationFailed,
    /// A public key is neither 33 bytes (compressed) nor 65 (uncompressed).
    #[error("public key is {len} bytes; expected 33 (compressed) or 65 (uncompressed)")]
    PublicKeyLength {
        /// Length of the refused key.
        len: usize,
    },
    /// A public key of a valid length is not a secp256k1 point in that form.
    #[error("public key of {len} bytes is not a {form} secp256k1 point")]
    BadPublicKey {
        /// Length of the refused key.
        len: usize,
        /// The form its length calls for: `compressed` or `uncompressed`.
        form: &'static str,
    },
}

/// Seals `plaintext` to `recipient` with the operating system's randomness.
///
/// # Panics
///
/// If `plaintext` is longer than AES-GCM allows (2^36 - 32 bytes); an
/// envelope carries a key of a few dozen bytes.
pub fn seal(recipient: &PublicKey, plaintext: &[u8]) -> Vec<u8> {
    seal_with_rng(recipient, plaintext, &mut OsRng)
}

/// Seals `plaintext` to `recipient`, drawing the ephemeral key and then the
/// nonce from `rng`.
///
/// # Panics
///
/// As [`seal`].
pub fn seal_with_rng(
    recipient: &PublicKey,
    plaintext: &[u8],
    rng: &mut impl CryptoRngCore,
) -> Vec<u8> {
    let ephemeral = SecretKey::random(rng);
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill_bytes(&mut nonce);
    seal_with(recipient, plaintext, &ephemeral, &nonce)
}

/// Seals `plaintext` to `recipient` with the given ephemeral key and nonce.
fn seal_with(
    recipient: &PublicKey,
    plaintext: &[u8],
    ephemeral: &SecretKey,
    nonce: &[u8; NONCE_LEN],
) -> Vec<u8> {
    let ephemeral_pk = ephemeral.public_key();
    let key = derive_key(&ephemeral_pk, recipient, ephemeral.to_nonzero_scalar());

    let mut sealed = Vec::with_capacity(OVERHEAD + plaintext.len());
    sealed.extend_from_slice(ephemeral_pk.to_encoded_point(false).as_bytes());
    sealed.extend_from_slice(nonce);
    sealed.extend_from_slice(&[0; TAG_LEN]);
    sealed.extend_from_slice(plaintext);
    let cipher = Cipher::new((&*key).into());
    let tag = match cipher.encrypt_in_place_detached(nonce.into(), &[], &mut sealed[OVERHEAD..]) {
        Ok(tag) => tag,
        // The only error is a plaintext over GCM's limit, documented above.
        Err(_) => panic!("plaintext of {} bytes is too long for AES-GCM", plaintext.len()),
    };
    sealed[EPHEMERAL_KEY_LEN + NONCE_LEN..OVERHEAD].copy_from_slice(&tag);
    sealed
}

/// Opens an envelope sealed to `secret`'s public key.
pub fn open(secret: &SecretKey, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, EnvelopeError> {
    let too_short = || EnvelopeError::TooShort { len: sealed.len() };
    let (ephemeral_pk, rest) =
        sealed.split_first_chunk::<EPHEMERAL_KEY_LEN>().ok_or_else(too_short)?;
    let (nonce, rest) = rest.split_first_chunk::<NONCE_LEN>().ok_or_else(too_short)?;
    let (tag, ciphertext) = rest.split_first_chunk::<TAG_LEN>().ok_or_else(too_short)?;

    // At 65 bytes SEC1 admits only the uncompressed form (0x04), the one
    // eciesjs writes and reads.
    let ephemeral =
        PublicKey::from_sec1_bytes(ephemeral_pk).map_err(|_| EnvelopeError::BadEphemeralKey)?;
    let key = derive_key(&ephemeral, &ephemeral, secret.to_nonzero_scalar());

    let mut plaintext = Zeroizing::new(ciphertext.to_vec());
    Cipher::new((&*key).into())
        .decrypt_in_place_detached(nonce.into(), &[], &mut plaintext, tag.into())
        .map_err(|_| EnvelopeError::AuthenticationFailed)?;
    Ok(plaintext)
}

/// Parses a recipient's public key: 33 bytes compressed (as registered on
/// chain) or 65 bytes uncompressed. Other SEC1 forms are refused, as eciesjs
/// refuses them.
pub fn parse_public_key(bytes: &[u8]) -> Result<PublicKey, EnvelopeError> {
    let (form, tags): (_, &[Tag]) = match bytes.len() {
        COMPRESSED_KEY_LEN => ("compressed", &[Tag::CompressedEvenY, Tag::CompressedOddY]),
        EPHEMERAL_KEY_LEN => ("uncompressed", &[Tag::Uncompressed]),
        len => return Err(EnvelopeError::PublicKeyLength { len }),
    };
    let bad = || EnvelopeError::BadPublicKey { len: bytes.len(), form };
    // A 33-byte key could also be SEC1's compact form (0x05), which k256
    // accepts and eciesjs does not.
    let tag = Tag::from_u8(bytes[0]).map_err(|_| bad())?;
    if !tags.contains(&tag) {
        return Err(bad());
    }
    PublicKey::from_sec1_bytes(bytes).map_err(|_| bad())
}

/// The AES-256-GCM key of an envelope: HKDF-SHA256 over the ephemeral public
/// key and the shared point `scalar · other`, both uncompressed, with no salt
/// and no info. The sender passes the ephemeral secret and the recipient's
/// key, the recipient its own secret and the ephemeral key.
fn derive_key(
    ephemeral: &PublicKey,
    other: &PublicKey,
    mut scalar: NonZeroScalar,
) -> Zeroizing<[u8; 32]> {
    // Neither factor is zero and the group has prime order, so the shared
    // point is never the identity and encodes to 65 bytes, as the key does.
    let mut shared = (other.to_projective() * *scalar).to_affine().to_encoded_point(false);
    scalar.zeroize();

    let mut ikm = Zeroizing::new([0u8; 2 * EPHEMERAL_KEY_LEN]);
    ikm[..EPHEMERAL_KEY_LEN].copy_from_slice(ephemeral.to_encoded_point(false).as_bytes());
    ikm[EPHEMERAL_KEY_LEN..].copy_from_slice(shared.as_bytes());
    shared.zeroize();

    let mut key = Zeroizing::new([0u8; 32]);
    // HKDF fails only above 255 hash lengths of output; this asks for one.
    if Hkdf::<Sha256>::new(None, ikm.as_ref()).expand(&[], key.as_mut()).is_err() {
        unreachable!("HKDF-SHA256 expands to 32 bytes");
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::{ChaCha20Rng, rand_core::SeedableRng};

    /// The vector of `docs/envelopes.md` (also opened by eciesjs in the
    /// integration tests).
    const VECTOR: &str = include_str!("../tests/vectors/envelope.json");

    struct Vector {
        recipient_secret: SecretKey,
        recipient_public: Vec<u8>,
        ephemeral_secret: SecretKey,
        ephemeral_public: Vec<u8>,
        aes_key: Vec<u8>,
        nonce: [u8; NONCE_LEN],
        plaintext: Vec<u8>,
        sealed: Vec<u8>,
    }

    fn vector() -> Vector {
        let json: serde_json::Value = serde_json::from_str(VECTOR).unwrap();
        let field = |name: &str| hex::decode(json[name].as_str().unwrap()).unwrap();
        Vector {
            recipient_secret: SecretKey::from_slice(&field("recipient_secret")).unwrap(),
            recipient_public: field("recipient_public"),
            ephemeral_secret: SecretKey::from_slice(&field("ephemeral_secret")).unwrap(),
            ephemeral_public: field("ephemeral_public"),
            aes_key: field("aes_key"),
            nonce: field("nonce").try_into().unwrap(),
            plaintext: field("plaintext"),
            sealed: field("sealed"),
        }
    }

    fn recipient(seed: u64) -> SecretKey {
        SecretKey::random(&mut ChaCha20Rng::seed_from_u64(seed))
    }

    #[test]
    fn vector_seals_to_pinned_bytes_and_opens() {
        let v = vector();
        let public = parse_public_key(&v.recipient_public).unwrap();
        assert_eq!(public, v.recipient_secret.public_key());

        // Both sides derive the same key: the sender from the recipient's
        // public key, the recipient from the ephemeral one.
        let ephemeral = PublicKey::from_sec1_bytes(&v.ephemeral_public).unwrap();
        let sender_key = derive_key(&ephemeral, &public, v.ephemeral_secret.to_nonzero_scalar());
        let recipient_key =
            derive_key(&ephemeral, &ephemeral, v.recipient_secret.to_nonzero_scalar());
        assert_eq!(hex::encode(*sender_key), hex::encode(&v.aes_key));
        assert_eq!(hex::encode(*recipient_key), hex::encode(&v.aes_key));

        let sealed = seal_with(&public, &v.plaintext, &v.ephemeral_secret, &v.nonce);
        assert_eq!(hex::encode(&sealed), hex::encode(&v.sealed));
        assert_eq!(sealed.len(), OVERHEAD + v.plaintext.len());
        assert_eq!(sealed[..EPHEMERAL_KEY_LEN], v.ephemeral_public);
        assert_eq!(sealed[EPHEMERAL_KEY_LEN..EPHEMERAL_KEY_LEN + NONCE_LEN], v.nonce);
        assert_eq!(*open(&v.recipient_secret, &v.sealed).unwrap(), v.plaintext);
    }

    #[test]
    fn round_trips_every_length_up_to_300() {
        let secret = recipient(1);
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        for len in 0..=300 {
            let plaintext: Vec<u8> = (0..len).map(|i| (i * 7 + len) as u8).collect();
            let sealed = seal_with_rng(&secret.public_key(), &plaintext, &mut rng);
            assert_eq!(sealed.len(), OVERHEAD + len);
            assert_eq!(*open(&secret, &sealed).unwrap(), plaintext, "length {len}");
        }
    }

    #[test]
    fn seal_draws_a_fresh_ephemeral_key_and_nonce() {
        let secret = recipient(3);
        let a = seal(&secret.public_key(), b"key");
        let b = seal(&secret.public_key(), b"key");
        assert_ne!(a[..EPHEMERAL_KEY_LEN], b[..EPHEMERAL_KEY_LEN]);
        assert_ne!(a[EPHEMERAL_KEY_LEN..OVERHEAD], b[EPHEMERAL_KEY_LEN..OVERHEAD]);
        assert_eq!(*open(&secret, &a).unwrap(), b"key");
    }

    #[test]
    fn seal_with_rng_is_deterministic() {
        let public = recipient(4).public_key();
        let a = seal_with_rng(&public, b"key", &mut ChaCha20Rng::seed_from_u64(5));
        let b = seal_with_rng(&public, b"key", &mut ChaCha20Rng::seed_from_u64(5));
        assert_eq!(a, b);
    }

    #[test]
    fn flipping_any_bit_is_rejected() {
        let v = vector();
        for byte in 0..v.sealed.len() {
            for bit in 0..8 {
                let mut tampered = v.sealed.clone();
                tampered[byte] ^= 1 << bit;
                let err = open(&v.recipient_secret, &tampered).unwrap_err();
                // A flipped bit in the ephemeral key mostly leaves the
                // curve; where it lands on another point, the tag fails.
                let expected: &[EnvelopeError] = if byte < EPHEMERAL_KEY_LEN {
                    &[EnvelopeError::BadEphemeralKey, EnvelopeError::AuthenticationFailed]
                } else {
                    &[EnvelopeError::AuthenticationFailed]
                };
                assert!(expected.contains(&err), "byte {byte} bit {bit}: {err}");
            }
        }
    }

    #[test]
    fn each_part_is_authenticated() {
        let v = vector();
        let parts = [
            ("ephemeral key", 1),
            ("nonce", EPHEMERAL_KEY_LEN),
            ("tag", EPHEMERAL_KEY_LEN + NONCE_LEN),
            ("ciphertext", OVERHEAD),
            ("last ciphertext byte", v.sealed.len() - 1),
        ];
        for (part, at) in parts {
            let mut tampered = v.sealed.clone();
            tampered[at] ^= 0x80;
            assert!(open(&v.recipient_secret, &tampered).is_err(), "{part}");
        }
        // Another valid point in place of the ephemeral key derives another key.
        let mut swapped = v.sealed.clone();
        swapped[..EPHEMERAL_KEY_LEN]
            .copy_from_slice(recipient(6).public_key().to_encoded_point(false).as_bytes());
        assert_eq!(
            open(&v.recipient_secret, &swapped).unwrap_err(),
            EnvelopeError::AuthenticationFailed
        );
    }

    #[test]
    fn truncation_and_extension_are_rejected() {
        let v = vector();
        for len in 0..v.sealed.len() {
            let err = open(&v.recipient_secret, &v.sealed[..len]).unwrap_err();
            if len < OVERHEAD {
                assert_eq!(err, EnvelopeError::TooShort { len });
            } else {
                assert_eq!(err, EnvelopeError::AuthenticationFailed, "length {len}");
            }
        }
        let mut extended = v.sealed.clone();
        extended.push(0);
        assert_eq!(
            open(&v.recipient_secret, &extended).unwrap_err(),
            EnvelopeError::AuthenticationFailed
        );
    }

    #[test]
    fn the_wrong_recipient_cannot_open() {
        let v = vector();
        assert_eq!(
            open(&recipient(7), &v.sealed).unwrap_err(),
            EnvelopeError::AuthenticationFailed
        );
    }

    #[test]
    fn ephemeral_key_must_be_uncompressed() {
        let v = vector();
        // The compressed form, padded to 65 bytes, is not a 65-byte SEC1 point.
        let mut compressed = v.sealed.clone();
        compressed[..33]
            .copy_from_slice(v.ephemeral_secret.public_key().to_encoded_point(true).as_bytes());
        assert_eq!(
            open(&v.recipient_secret, &compressed).unwrap_err(),
            EnvelopeError::BadEphemeralKey
        );
        let mut zero = v.sealed.clone();
        zero[..EPHEMERAL_KEY_LEN].fill(0);
        assert_eq!(open(&v.recipient_secret, &zero).unwrap_err(), EnvelopeError::BadEphemeralKey);
    }

    #[test]
    fn parse_public_key_accepts_both_forms_of_the_same_key() {
        let public = recipient(8).public_key();
        let compressed = public.to_encoded_point(true);
        let uncompressed = public.to_encoded_point(false);
        assert_eq!(parse_public_key(compressed.as_bytes()).unwrap(), public);
        assert_eq!(parse_public_key(uncompressed.as_bytes()).unwrap(), public);
    }

    #[test]
    fn parse_public_key_refuses_other_forms() {
        let public = recipient(9).public_key();
        let compressed = public.to_encoded_point(true).as_bytes().to_vec();
        let uncompressed = public.to_encoded_point(false).as_bytes().to_vec();

        for len in [0, 1, 32, 64, 66] {
            assert_eq!(
                parse_public_key(&vec![2; len]).unwrap_err(),
                EnvelopeError::PublicKeyLength { len }
            );
        }
        // Ethereum's 64-byte form (the uncompressed key without its prefix).
        assert_eq!(
            parse_public_key(&uncompressed[1..]).unwrap_err(),
            EnvelopeError::PublicKeyLength { len: 64 }
        );

        let refused_33 = EnvelopeError::BadPublicKey { len: 33, form: "compressed" };
        let mut compact = compressed.clone();
        compact[0] = 0x05;
        assert_eq!(parse_public_key(&compact).unwrap_err(), refused_33);
        let mut prefix_04 = compressed.clone();
        prefix_04[0] = 0x04;
        assert_eq!(parse_public_key(&prefix_04).unwrap_err(), refused_33);
        // x = p - 1 has no square root of x^3 + 7.
        let mut off_curve = vec![0x02];
        off_curve.extend_from_slice(
            &hex::decode("fffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2e")
                .unwrap(),
        );
        assert_eq!(parse_public_key(&off_curve).unwrap_err(), refused_33);

        let refused_65 = EnvelopeError::BadPublicKey { len: 65, form: "uncompressed" };
        let mut hybrid = uncompressed.clone();
        hybrid[0] = 0x06 | (uncompressed[64] & 1);
        assert_eq!(parse_public_key(&hybrid).unwrap_err(), refused_65);
        let mut wrong_y = uncompressed.clone();
        wrong_y[64] ^= 1;
        assert_eq!(parse_public_key(&wrong_y).unwrap_err(), refused_65);
    }

    #[test]
    fn errors_say_what_went_wrong() {
        assert_eq!(
            EnvelopeError::TooShort { len: 10 }.to_string(),
            "envelope is 10 bytes, shorter than the 97 bytes every envelope has"
        );
        assert_eq!(
            EnvelopeError::PublicKeyLength { len: 64 }.to_string(),
            "public key is 64 bytes; expected 33 (compressed) or 65 (uncompressed)"
        );
    }
}
