//! The vectors the browser's TypeScript (`web/src/crypto`, `web/src/protocol`)
//! is checked against: `core/tests/vectors/web.json`, made here from fixed
//! keys, nonces and seeds, so that both sides read the same file. The test
//! fails if the file differs from what this build makes; after a deliberate
//! change, rewrite it with `MEDVAULT_WRITE_VECTORS=1 cargo test -p
//! medvault-core --test it web` and run `npx vitest run` in `web/`.

use alloy::{
    dyn_abi::TypedData,
    primitives::{Address, B256, Bytes, U256, address, aliases::U40, b256, bytes, keccak256},
    signers::{SignerSync, local::PrivateKeySigner},
    sol_types::{Eip712Domain, SolCall},
};
use medvault_core::{
    bindings::forwarder::IMedVault,
    keys::{CategoryKey, CategoryKeyId, DataKey, EncryptionKeyMessage},
    record::{self, Header},
    sig::{self, Action},
};
use rand_chacha::{ChaCha20Rng, rand_core::SeedableRng};
use serde_json::{Value, json};

use crate::workspace_root;

const VECTORS: &str = "core/tests/vectors/web.json";
const WRITE: &str = "MEDVAULT_WRITE_VECTORS";

/// `0x` hex of bytes.
fn hex(bytes: impl AsRef<[u8]>) -> String {
    alloy::hex::encode_prefixed(bytes)
}

/// Anvil's first account, whose key the documented derivation vector uses.
fn anvil_wallet() -> PrivateKeySigner {
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80".parse().unwrap()
}

fn derivation() -> Value {
    let signer = anvil_wallet();
    let message = EncryptionKeyMessage {
        chain_id: 31337,
        contract: address!("0x5FbDB2315678afecb367f032d93F642f64180aa3"),
        account: signer.address(),
    };
    let signature = signer.sign_hash_sync(&message.signing_hash()).unwrap();
    let key = message.key_from_signature(&signature).unwrap();
    // The other valid signature of the same hash: `n - s`, the parity flipped.
    let order = U256::from_be_slice(&alloy::hex!(
        "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141"
    ));
    let high_s =
        alloy::primitives::Signature::new(signature.r(), order - signature.s(), !signature.v());
    assert_eq!(
        message.key_from_signature(&high_s).unwrap().public_key_bytes(),
        key.public_key_bytes()
    );
    json!({
        "chain_id": message.chain_id,
        "contract": message.contract,
        "account": message.account,
        "wallet_secret": hex(signer.credential().to_bytes()),
        "signing_hash": message.signing_hash(),
        "typed_data": message.typed_data(),
        "signature": hex(signature.as_bytes()),
        "signature_high_s": hex(high_s.as_bytes()),
        "secret": hex(key.secret().to_bytes()),
        "public_key": hex(key.public_key_bytes()),
    })
}

fn wrap() -> Value {
    let id = CategoryKeyId {
        patient: address!("0x70997970C51812dc3A010C7d01b50e0d17dc79C8"),
        category: 3,
        epoch: 2,
    };
    let category_key = CategoryKey::from_bytes(id, std::array::from_fn(|i| 0x40 + i as u8));
    let previous = CategoryKey::from_bytes(
        CategoryKeyId { epoch: 1, ..id },
        std::array::from_fn(|i| 0x80 + i as u8),
    );
    let data_key = DataKey::from_bytes(std::array::from_fn(|i| 0x20 + i as u8));
    let mut rng = ChaCha20Rng::seed_from_u64(8);
    let wrapped = category_key.wrap_data_key_with_rng(&data_key, &mut rng).unwrap();
    let sealed_previous = category_key.seal_previous_with_rng(&previous, &mut rng).unwrap();
    assert_eq!(category_key.unwrap_data_key(&wrapped).unwrap().as_bytes(), data_key.as_bytes());
    assert_eq!(
        category_key.open_previous(&sealed_previous).unwrap().as_bytes(),
        previous.as_bytes()
    );
    json!({
        "patient": id.patient,
        "category": id.category,
        "epoch": id.epoch,
        "category_key": hex(category_key.as_bytes()),
        "data_key": hex(data_key.as_bytes()),
        "wrapped_data_key": hex(&wrapped),
        "previous_key": hex(previous.as_bytes()),
        "sealed_previous_key": hex(&sealed_previous),
    })
}

/// The plaintext of the record vectors: byte `i` is `(7 i + 3) mod 256`, as
/// in `docs/record-format.md`.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + 3) as u8).collect()
}

fn sealed_record(segment_size: u32, len: usize, with_record: bool) -> Value {
    let key = DataKey::from_bytes(std::array::from_fn(|i| 0xc0 + i as u8));
    let prefix = [0xb0, 0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6];
    let header = Header::new(segment_size, prefix).unwrap();
    let mut out = Vec::new();
    let sealed = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(record::encrypt(&key, &header, &pattern(len)[..], &mut out))
        .unwrap();
    assert_eq!(sealed.record_len, out.len() as u64);
    json!({
        "key": hex(key.as_bytes()),
        "prefix": hex(prefix),
        "segment": segment_size,
        "plaintext_length": len,
        "record": with_record.then(|| hex(&out)),
        "record_length": out.len(),
        "sha256": hex(sealed.sha256),
    })
}

fn records() -> Value {
    json!([
        // Small enough to keep whole: five segments and a short last one.
        sealed_record(1024, 5000, true),
        // The default segment size, past three segments: the hash says it all.
        sealed_record(record::DEFAULT_SEGMENT_SIZE, 3 * 65536 + 7, false),
    ])
}

const FORWARDER: Address = address!("0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512");
const ALICE: Address = address!("0x70997970C51812dc3A010C7d01b50e0d17dc79C8");
const BOB: Address = address!("0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC");

/// What the browser must reproduce for one action: its digest, its typed
/// data and the forwarder call that carries it.
struct Signed {
    digest: B256,
    typed_data: TypedData,
    calldata: Vec<u8>,
}

/// Signs an action with fixed inputs (the signature bytes are a stand-in:
/// only their encoding in the call matters here).
type Make = Box<dyn Fn(&Eip712Domain, Address, U256, u64) -> Signed>;

/// The stand-in signature of the calldata vectors.
const SIGNATURE: [u8; 65] = [0x5a; 65];

/// One action of each kind, with distinct values in every field.
fn actions() -> Vec<(&'static str, Make)> {
    fn entry<A: Action + Clone + 'static>(name: &'static str, action: A) -> (&'static str, Make) {
        let make: Make = Box::new(move |domain, signer, nonce, deadline| {
            let auth = sig::Signature {
                signer,
                deadline: U256::from(deadline),
                signature: Bytes::copy_from_slice(&SIGNATURE),
            };
            Signed {
                digest: action.signing_hash(domain, signer, nonce, deadline),
                typed_data: action.typed_data(domain, signer, nonce, deadline),
                calldata: action.clone().into_call(auth).abi_encode(),
            }
        });
        (name, make)
    }
    let envelope = |recipient, sealed: &[u8]| IMedVault::Envelope {
        recipient,
        sealedKey: Bytes::copy_from_slice(sealed),
    };
    let key = bytes!("031a35ccde960122d0df94b3b42b00499f37878ec0d05f250413c57f14e00b93fc");
    vec![
        entry(
            "AddStaff",
            sig::AddStaff { staff: BOB, role: 1, licence_expiry: U40::from(1_900_000_000u64) },
        ),
        entry("RemoveStaff", sig::RemoveStaff { staff: BOB }),
        entry("Register", sig::Register { encryption_key: key.clone() }),
        entry("SetEncryptionKey", sig::SetEncryptionKey { encryption_key: key }),
        entry("SetGuardian", sig::SetGuardian { guardian: BOB, powers: 3 }),
        entry("RemoveGuardian", sig::RemoveGuardian { guardian: BOB }),
        entry("AddDevice", sig::AddDevice { device: BOB, category: 7 }),
        entry("RemoveDevice", sig::RemoveDevice { device: BOB }),
        entry("SetEmergencyCustodian", sig::SetEmergencyCustodian { custodian: BOB }),
        entry(
            "AddRecord",
            sig::AddRecord {
                record: IMedVault::RecordInput {
                    patient: ALICE,
                    category: 2,
                    cid: bytes!(
                        "01551220aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                    ),
                    ciphertextHash: keccak256("ciphertext"),
                    wrappedKey: Bytes::new(),
                    epoch: 4,
                    amends: U256::from(9),
                },
                envelopes: vec![envelope(ALICE, b"one"), envelope(BOB, b"two")],
            },
        ),
        entry("RaiseAlert", sig::RaiseAlert { record_id: U256::from(12), severity: 3 }),
        entry(
            "Grant",
            sig::Grant {
                patient: ALICE,
                grantee: BOB,
                read_mask: 0b110,
                write_mask: 0b100,
                expiry: U40::from(2_000_000_000u64),
            },
        ),
        entry("Revoke", sig::Revoke { patient: ALICE, grantee: BOB }),
        entry(
            "GrantRecord",
            sig::GrantRecord {
                record_id: U256::from(5),
                grantee: BOB,
                expiry: U40::from(1_800_000_000u64),
            },
        ),
        entry("RevokeRecord", sig::RevokeRecord { record_id: U256::from(5), grantee: BOB }),
        entry(
            "RequestAccess",
            sig::RequestAccess {
                patient: ALICE,
                read_mask: u64::MAX,
                write_mask: 1 << 63,
                duration: 30 * 86_400,
                purpose_hash: keccak256("treatment"),
            },
        ),
        entry("ApproveRequest", sig::ApproveRequest { request_id: U256::from(77) }),
        entry("DenyRequest", sig::DenyRequest { request_id: U256::from(78) }),
        entry(
            "PublishCategoryKey",
            sig::PublishCategoryKey {
                patient: ALICE,
                category: 0,
                epoch: 6,
                envelope: envelope(BOB, &[0xee; 129]),
            },
        ),
        entry(
            "PublishRecordKey",
            sig::PublishRecordKey { record_id: U256::MAX, envelope: envelope(ALICE, &[0xdd; 129]) },
        ),
        entry(
            "RotateCategoryKey",
            sig::RotateCategoryKey {
                patient: ALICE,
                category: 63,
                sealed_previous_key: Bytes::from(vec![0xcc; 61]),
            },
        ),
        entry(
            "OpenBreakGlass",
            sig::OpenBreakGlass {
                patient: ALICE,
                reason_hash: b256!(
                    "0x1111111111111111111111111111111111111111111111111111111111111111"
                ),
            },
        ),
        entry("CloseBreakGlass", sig::CloseBreakGlass { case_id: U256::from(3), verdict: 2 }),
    ]
}

fn typed() -> Value {
    let domain = sig::domain(31337, FORWARDER);
    let (nonce, deadline) = (U256::from(41), 1_900_000_123u64);
    let actions: Vec<Value> = actions()
        .into_iter()
        .map(|(name, make)| {
            let signed = make(&domain, ALICE, nonce, deadline);
            assert_eq!(signed.typed_data.eip712_signing_hash().unwrap(), signed.digest, "{name}");
            json!({
                "name": name,
                "typed_data": signed.typed_data,
                "digest": signed.digest,
                "calldata": hex(&signed.calldata),
            })
        })
        .collect();
    json!({
        "chain_id": 31337,
        "forwarder": FORWARDER,
        "signer": ALICE,
        "nonce": nonce.to_string(),
        "deadline": deadline,
        "signature": hex(SIGNATURE),
        "actions": actions,
    })
}

fn vectors() -> String {
    let value = json!({
        "comment": format!(
            "Vectors for the browser's TypeScript, made by core/tests/it/web.rs; \
             rewrite with {WRITE}=1 cargo test -p medvault-core --test it web. \
             Byte strings are 0x hex."
        ),
        "derivation": derivation(),
        "wrap": wrap(),
        "records": records(),
        "typed": typed(),
    });
    serde_json::to_string_pretty(&value).unwrap() + "\n"
}

#[test]
fn the_web_vectors_are_the_ones_this_build_makes() {
    let path = workspace_root().join(VECTORS);
    let made = vectors();
    if std::env::var_os(WRITE).is_some() {
        std::fs::write(&path, &made).unwrap();
        return;
    }
    let stored = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        stored == made,
        "{VECTORS} is not what this build makes; if the change is deliberate, rewrite it with \
         `{WRITE}=1 cargo test -p medvault-core --test it web` and run `npx vitest run` in web/"
    );
}
