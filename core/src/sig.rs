//! EIP-712 signing of every `...BySig` action of the forwarder.
//!
//! A patient, guardian, organisation or staff member signs an action; a
//! relayer submits it to `MedVaultForwarder`, which checks the signature and
//! calls MedVault as the signer, so the signer needs no ETH. Each action is a
//! struct here named after its EIP-712 type ([`Grant`], [`AddRecord`], ...)
//! holding the forwarder function's arguments; [`Action::sign`] signs it with
//! any [`Signer`] (a private key, a keystore, a remote or browser wallet) and
//! returns the forwarder call to submit:
//!
//! ```no_run
//! # use alloy::{primitives::{Address, aliases::U40}, providers::Provider, signers::Signer};
//! # use medvault_core::{bindings::forwarder::MedVaultForwarder, sig::{self, Action}};
//! # async fn grant(
//! #     forwarder: MedVaultForwarder::MedVaultForwarderInstance<impl Provider>,
//! #     patient: impl Signer + Sync,
//! #     grantee: Address,
//! #     deadline: u64,
//! # ) -> Result<(), Box<dyn std::error::Error>> {
//! let chain_id = forwarder.provider().get_chain_id().await?;
//! let domain = sig::domain(chain_id, *forwarder.address());
//! let nonce = forwarder.nonces(patient.address()).call().await?;
//! let call = sig::Grant {
//!     patient: patient.address(),
//!     grantee,
//!     read_mask: 0b110,
//!     write_mask: 0b100,
//!     expiry: U40::from(deadline + 30 * 86_400),
//! }
//! .sign(&patient, &domain, nonce, deadline)
//! .await?;
//! forwarder.call_builder(&call).send().await?.get_receipt().await?;
//! # Ok(())
//! # }
//! ```
//!
//! The signed types are in [`eip712`]. They follow the forwarder's NatSpec:
//! the action's arguments in order, then `address signer,uint256 nonce,uint256
//! deadline`; `bytes` are signed as their keccak256 and the envelopes of a
//! record as an EIP-712 array of `Envelope` structs. They are not in the ABI,
//! so they are declared here; a test compares each with the type hash string
//! in `contracts/src/MedVaultForwarder.sol`. The domain is the forwarder's
//! ([`domain`]), not MedVault's.

use std::future::Future;

use alloy::{
    dyn_abi::eip712::TypedData,
    primitives::{Address, B256, Bytes, U256, aliases::U40},
    signers::Signer,
    sol_types::{Eip712Domain, SolCall, SolStruct, eip712_domain},
};
use serde::Serialize;

pub use crate::bindings::forwarder::IMedVaultForwarder::Signature;
use crate::bindings::forwarder::{IMedVault, MedVaultForwarder};

/// The EIP-712 domain name of the forwarder.
pub const DOMAIN_NAME: &str = "MedVault";
/// The EIP-712 domain version of the forwarder.
pub const DOMAIN_VERSION: &str = "1";

/// The forwarder's EIP-712 domain on `chain_id`: name "MedVault", version
/// "1", verified by the forwarder at `forwarder` (not by MedVault).
pub fn domain(chain_id: u64, forwarder: Address) -> Eip712Domain {
    eip712_domain! {
        name: DOMAIN_NAME,
        version: DOMAIN_VERSION,
        chain_id: chain_id,
        verifying_contract: forwarder,
    }
}

/// Why an action could not be signed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The signer failed or refused to sign (a wallet user may decline).
    #[error("the signer did not sign the {action} message")]
    Sign {
        /// The EIP-712 type of the action, e.g. `Grant`.
        action: &'static str,
        /// The signer's error.
        #[source]
        source: alloy::signers::Error,
    },
}

/// A `...BySig` action of the forwarder: what is signed and how it is sent.
pub trait Action: Sized {
    /// The EIP-712 message the signer signs.
    type Message: SolStruct + Serialize + Send + Sync;
    /// The forwarder call that carries the action and its authorisation.
    type Call: SolCall;

    /// The message for `signer`'s `nonce`, valid until `deadline` (a unix
    /// time in seconds, inclusive).
    fn message(&self, signer: Address, nonce: U256, deadline: U256) -> Self::Message;

    /// The forwarder call that submits this action with `auth`.
    fn into_call(self, auth: Signature) -> Self::Call;

    /// The EIP-712 digest that `signer` signs for this action: what the
    /// forwarder recovers the signature against.
    fn signing_hash(
        &self,
        domain: &Eip712Domain,
        signer: Address,
        nonce: U256,
        deadline: u64,
    ) -> B256 {
        self.message(signer, nonce, U256::from(deadline)).eip712_signing_hash(domain)
    }

    /// The action as `eth_signTypedData_v4` typed data, for a wallet that
    /// signs the JSON rather than a digest.
    fn typed_data(
        &self,
        domain: &Eip712Domain,
        signer: Address,
        nonce: U256,
        deadline: u64,
    ) -> TypedData {
        TypedData::from_struct(
            &self.message(signer, nonce, U256::from(deadline)),
            Some(domain.clone()),
        )
    }

    /// Signs the action as `signer`, whose next forwarder nonce is `nonce`
    /// (`nonces(signer)`), valid until `deadline` (unix seconds, inclusive).
    ///
    /// Signs through [`Signer::sign_typed_data`], so a wallet that implements
    /// it itself sees the typed message, not a bare digest.
    fn authorise<S>(
        &self,
        signer: &S,
        domain: &Eip712Domain,
        nonce: U256,
        deadline: u64,
    ) -> impl Future<Output = Result<Signature, Error>> + Send
    where
        S: Signer + Sync,
    {
        let address = signer.address();
        let deadline = U256::from(deadline);
        let message = self.message(address, nonce, deadline);
        async move {
            let signature = signer
                .sign_typed_data(&message, domain)
                .await
                .map_err(|source| Error::Sign { action: Self::Message::NAME, source })?;
            Ok(Signature { signer: address, deadline, signature: signature.as_bytes().into() })
        }
    }

    /// Signs the action (see [`Action::authorise`]) and returns the forwarder
    /// call to submit, e.g. with `MedVaultForwarderInstance::call_builder`.
    fn sign<S>(
        self,
        signer: &S,
        domain: &Eip712Domain,
        nonce: U256,
        deadline: u64,
    ) -> impl Future<Output = Result<Self::Call, Error>> + Send
    where
        S: Signer + Sync,
        Self: Send,
    {
        async move {
            let auth = self.authorise(signer, domain, nonce, deadline).await?;
            Ok(self.into_call(auth))
        }
    }
}

/// The EIP-712 types the forwarder verifies, one per action plus `Envelope`.
///
/// Each field is the action's argument of the same name, then the signer,
/// their nonce and the deadline (see `IMedVaultForwarder`'s NatSpec).
#[allow(missing_docs)]
pub mod eip712 {
    alloy::sol! {
        #![sol(extra_derives(Debug, PartialEq, Eq, serde::Serialize))]

        struct AddStaff {
            address staff; uint8 role; uint40 licenceExpiry;
            address signer; uint256 nonce; uint256 deadline;
        }

        struct RemoveStaff {
            address staff;
            address signer; uint256 nonce; uint256 deadline;
        }

        struct Register {
            bytes encryptionKey;
            address signer; uint256 nonce; uint256 deadline;
        }

        struct SetEncryptionKey {
            bytes encryptionKey;
            address signer; uint256 nonce; uint256 deadline;
        }

        struct SetGuardian {
            address guardian; uint8 powers;
            address signer; uint256 nonce; uint256 deadline;
        }

        struct RemoveGuardian {
            address guardian;
            address signer; uint256 nonce; uint256 deadline;
        }

        struct AddDevice {
            address device; uint8 category;
            address signer; uint256 nonce; uint256 deadline;
        }

        struct RemoveDevice {
            address device;
            address signer; uint256 nonce; uint256 deadline;
        }

        struct SetEmergencyCustodian {
            address custodian;
            address signer; uint256 nonce; uint256 deadline;
        }

        struct Envelope {
            address recipient; bytes sealedKey;
        }

        struct AddRecord {
            address patient; uint8 category; bytes cid; bytes32 ciphertextHash; bytes wrappedKey;
            uint32 epoch; uint256 amends; Envelope[] envelopes;
            address signer; uint256 nonce; uint256 deadline;
        }

        struct RaiseAlert {
            uint256 recordId; uint8 severity;
            address signer; uint256 nonce; uint256 deadline;
        }

        struct Grant {
            address patient; address grantee; uint64 readMask; uint64 writeMask; uint40 expiry;
            address signer; uint256 nonce; uint256 deadline;
        }

        struct Revoke {
            address patient; address grantee;
            address signer; uint256 nonce; uint256 deadline;
        }

        struct GrantRecord {
            uint256 recordId; address grantee; uint40 expiry;
            address signer; uint256 nonce; uint256 deadline;
        }

        struct RevokeRecord {
            uint256 recordId; address grantee;
            address signer; uint256 nonce; uint256 deadline;
        }

        struct RequestAccess {
            address patient; uint64 readMask; uint64 writeMask; uint32 duration;
            bytes32 purposeHash;
            address signer; uint256 nonce; uint256 deadline;
        }

        struct ApproveRequest {
            uint256 requestId;
            address signer; uint256 nonce; uint256 deadline;
        }

        struct DenyRequest {
            uint256 requestId;
            address signer; uint256 nonce; uint256 deadline;
        }

        struct PublishCategoryKey {
            address patient; uint8 category; uint32 epoch; address recipient; bytes sealedKey;
            address signer; uint256 nonce; uint256 deadline;
        }

        struct PublishRecordKey {
            uint256 recordId; address recipient; bytes sealedKey;
            address signer; uint256 nonce; uint256 deadline;
        }

        struct RotateCategoryKey {
            address patient; uint8 category; bytes sealedPreviousKey;
            address signer; uint256 nonce; uint256 deadline;
        }

        struct OpenBreakGlass {
            address patient; bytes32 reasonHash;
            address signer; uint256 nonce; uint256 deadline;
        }

        struct CloseBreakGlass {
            uint256 caseId; uint8 verdict;
            address signer; uint256 nonce; uint256 deadline;
        }
    }
}

impl From<&IMedVault::Envelope> for eip712::Envelope {
    fn from(envelope: &IMedVault::Envelope) -> Self {
        Self { recipient: envelope.recipient, sealedKey: envelope.sealedKey.clone() }
    }
}

/// Declares each action: its struct (the forwarder function's arguments, in
/// order), its EIP-712 message and its forwarder call. The message's fields
/// are the action's fields in order unless `signs (...)` lists them.
macro_rules! actions {
    ($(
        $(#[$doc:meta])*
        $name:ident { $($field:ident: $ty:ty),* $(,)? } => $call:ident
            $(signs ($($signed:expr),* $(,)?))?;
    )*) => {$(
        $(#[$doc])*
        ///
        /// The fields are the arguments of the forwarder call, in order.
        #[derive(Clone, Debug, PartialEq, Eq)]
        #[allow(missing_docs)] // `IMedVault`'s NatSpec documents the arguments.
        pub struct $name {
            $(pub $field: $ty),*
        }

        impl Action for $name {
            type Message = eip712::$name;
            type Call = MedVaultForwarder::$call;

            fn message(&self, signer: Address, nonce: U256, deadline: U256) -> Self::Message {
                let Self { $($field),* } = self.clone();
                actions!(@message $name [signer nonce deadline] [$($field),*] $([$($signed),*])?)
            }

            fn into_call(self, auth: Signature) -> Self::Call {
                let Self { $($field),* } = self;
                <Self::Call as SolCall>::new(($($field,)* auth))
            }
        }
    )*};
    (@message $name:ident [$signer:ident $nonce:ident $deadline:ident] [$($field:ident),*]) => {
        eip712::$name::from(($($field,)* $signer, $nonce, $deadline))
    };
    (
        @message $name:ident [$signer:ident $nonce:ident $deadline:ident] [$($field:ident),*]
        [$($signed:expr),*]
    ) => {
        eip712::$name::from(($($signed,)* $signer, $nonce, $deadline))
    };
}

actions! {
    /// `addStaff`, signed by the organisation: adds `staff` with a role
    /// (`IMedVault.Role`: 1 doctor, 2 nurse, 3 lab, 4 emergency) and a licence
    /// expiry, or changes them.
    AddStaff { staff: Address, role: u8, licence_expiry: U40 } => addStaffBySigCall;

    /// `removeStaff`, signed by the organisation.
    RemoveStaff { staff: Address } => removeStaffBySigCall;

    /// `register`, signed by the new patient with their 33-byte compressed
    /// encryption public key.
    Register { encryption_key: Bytes } => registerBySigCall;

    /// `setEncryptionKey`, signed by any participant.
    SetEncryptionKey { encryption_key: Bytes } => setEncryptionKeyBySigCall;

    /// `setGuardian`, signed by the patient: powers 1 (manage), 2 (read) or 3.
    SetGuardian { guardian: Address, powers: u8 } => setGuardianBySigCall;

    /// `removeGuardian`, signed by the patient.
    RemoveGuardian { guardian: Address } => removeGuardianBySigCall;

    /// `addDevice`, signed by the patient: the device may append records in
    /// `category`.
    AddDevice { device: Address, category: u8 } => addDeviceBySigCall;

    /// `removeDevice`, signed by the patient.
    RemoveDevice { device: Address } => removeDeviceBySigCall;

    /// `setEmergencyCustodian`, signed by the patient (the zero address
    /// clears it).
    SetEmergencyCustodian { custodian: Address } => setEmergencyCustodianBySigCall;

    /// `addRecord`, signed by the author: the patient, staff with a write
    /// grant, or the patient's device.
    AddRecord { record: IMedVault::RecordInput, envelopes: Vec<IMedVault::Envelope> }
        => addRecordBySigCall
        signs (
            record.patient,
            record.category,
            record.cid,
            record.ciphertextHash,
            record.wrappedKey,
            record.epoch,
            record.amends,
            envelopes.iter().map(eip712::Envelope::from).collect(),
        );

    /// `raiseAlert`, signed by the device or the staff member: severity 1
    /// (watch) to 3 (critical).
    RaiseAlert { record_id: U256, severity: u8 } => raiseAlertBySigCall;

    /// `grant`, signed by the patient or a manage guardian.
    Grant { patient: Address, grantee: Address, read_mask: u64, write_mask: u64, expiry: U40 }
        => grantBySigCall;

    /// `revoke`, signed by the patient or a manage guardian.
    Revoke { patient: Address, grantee: Address } => revokeBySigCall;

    /// `grantRecord`, signed by the patient or a manage guardian.
    GrantRecord { record_id: U256, grantee: Address, expiry: U40 } => grantRecordBySigCall;

    /// `revokeRecord`, signed by the patient or a manage guardian.
    RevokeRecord { record_id: U256, grantee: Address } => revokeRecordBySigCall;

    /// `requestAccess`, signed by the staff member.
    RequestAccess {
        patient: Address,
        read_mask: u64,
        write_mask: u64,
        duration: u32,
        purpose_hash: B256,
    } => requestAccessBySigCall;

    /// `approveRequest`, signed by the patient or a manage guardian.
    ApproveRequest { request_id: U256 } => approveRequestBySigCall;

    /// `denyRequest`, signed by the patient or a manage guardian.
    DenyRequest { request_id: U256 } => denyRequestBySigCall;

    /// `publishCategoryKey`, signed by the publisher (the patient, a manage
    /// guardian or, for the emergency category, the custodian).
    PublishCategoryKey { patient: Address, category: u8, epoch: u32, envelope: IMedVault::Envelope }
        => publishCategoryKeyBySigCall
        signs (patient, category, epoch, envelope.recipient, envelope.sealedKey);

    /// `publishRecordKey`, signed by the publisher.
    PublishRecordKey { record_id: U256, envelope: IMedVault::Envelope }
        => publishRecordKeyBySigCall
        signs (record_id, envelope.recipient, envelope.sealedKey);

    /// `rotateCategoryKey`, signed by the patient or a manage guardian.
    RotateCategoryKey { patient: Address, category: u8, sealed_previous_key: Bytes }
        => rotateCategoryKeyBySigCall;

    /// `openBreakGlass`, signed by the emergency staff member.
    OpenBreakGlass { patient: Address, reason_hash: B256 } => openBreakGlassBySigCall;

    /// `closeBreakGlass`, signed by the reviewer: verdict
    /// (`IMedVault.Verdict`) 1 justified or 2 abuse.
    CloseBreakGlass { case_id: U256, verdict: u8 } => closeBreakGlassBySigCall;
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use alloy::{
        primitives::{address, b256, bytes, keccak256},
        signers::local::PrivateKeySigner,
        sol_types::SolValue,
    };

    use super::*;

    /// The forwarder's type strings, by EIP-712 type name, read from the
    /// Solidity source so that a change there fails here.
    fn contract_types() -> BTreeMap<String, String> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../contracts/src/MedVaultForwarder.sol");
        let source = std::fs::read_to_string(path).unwrap();
        let mut types = BTreeMap::new();
        for declaration in source.split("bytes32 private constant _").skip(1) {
            let (constant, rest) = declaration.split_once(" =").unwrap();
            let Some(name) = constant.strip_suffix("_TYPEHASH") else { continue };
            let body = &rest[..rest.find(");").unwrap()];
            let body = body.trim_start().strip_prefix("keccak256(").unwrap();
            // Adjacent string literals concatenate, as in Solidity.
            let text: String = body.split('"').skip(1).step_by(2).collect();
            let camel: String = name
                .split('_')
                .map(|word| word[..1].to_owned() + &word[1..].to_lowercase())
                .collect();
            types.insert(camel, text);
        }
        types
    }

    /// Every type this module signs, by name.
    fn our_types() -> BTreeMap<String, String> {
        fn entry<T: SolStruct>() -> (String, String) {
            (T::NAME.to_owned(), T::eip712_encode_type().into_owned())
        }
        use eip712::*;
        BTreeMap::from([
            entry::<AddStaff>(),
            entry::<RemoveStaff>(),
            entry::<Register>(),
            entry::<SetEncryptionKey>(),
            entry::<SetGuardian>(),
            entry::<RemoveGuardian>(),
            entry::<AddDevice>(),
            entry::<RemoveDevice>(),
            entry::<SetEmergencyCustodian>(),
            entry::<Envelope>(),
            entry::<AddRecord>(),
            entry::<RaiseAlert>(),
            entry::<Grant>(),
            entry::<Revoke>(),
            entry::<GrantRecord>(),
            entry::<RevokeRecord>(),
            entry::<RequestAccess>(),
            entry::<ApproveRequest>(),
            entry::<DenyRequest>(),
            entry::<PublishCategoryKey>(),
            entry::<PublishRecordKey>(),
            entry::<RotateCategoryKey>(),
            entry::<OpenBreakGlass>(),
            entry::<CloseBreakGlass>(),
        ])
    }

    #[test]
    fn every_type_string_is_the_contracts() {
        let contract = contract_types();
        assert_eq!(contract.len(), 24, "{:?}", contract.keys());
        assert_eq!(our_types(), contract);
        assert_eq!(
            contract["Grant"],
            "Grant(address patient,address grantee,uint64 readMask,uint64 writeMask,uint40 expiry,\
             address signer,uint256 nonce,uint256 deadline)"
        );
    }

    #[test]
    fn every_by_sig_function_of_the_abi_has_an_action() {
        let abi = include_str!("../abi/MedVaultForwarder.json");
        let abi: alloy::json_abi::JsonAbi = serde_json::from_str(abi).unwrap();
        let mut by_sig: Vec<_> =
            abi.functions().filter(|f| f.name.ends_with("BySig")).map(|f| f.signature()).collect();
        by_sig.sort();
        let mut ours = vec![
            AddStaff::SIGNATURE,
            RemoveStaff::SIGNATURE,
            Register::SIGNATURE,
            SetEncryptionKey::SIGNATURE,
            SetGuardian::SIGNATURE,
            RemoveGuardian::SIGNATURE,
            AddDevice::SIGNATURE,
            RemoveDevice::SIGNATURE,
            SetEmergencyCustodian::SIGNATURE,
            AddRecord::SIGNATURE,
            RaiseAlert::SIGNATURE,
            Grant::SIGNATURE,
            Revoke::SIGNATURE,
            GrantRecord::SIGNATURE,
            RevokeRecord::SIGNATURE,
            RequestAccess::SIGNATURE,
            ApproveRequest::SIGNATURE,
            DenyRequest::SIGNATURE,
            PublishCategoryKey::SIGNATURE,
            PublishRecordKey::SIGNATURE,
            RotateCategoryKey::SIGNATURE,
            OpenBreakGlass::SIGNATURE,
            CloseBreakGlass::SIGNATURE,
        ];
        ours.sort_unstable();
        assert_eq!(ours.len(), 23);
        assert_eq!(ours, by_sig);
    }

    /// The call signature of an action's forwarder function.
    trait CallSignature {
        const SIGNATURE: &'static str;
    }
    impl<A: Action> CallSignature for A {
        const SIGNATURE: &'static str = <A::Call as SolCall>::SIGNATURE;
    }

    const FORWARDER: Address = address!("0x5FbDB2315678afecb367f032d93F642f64180aa3");
    const SIGNER: Address = address!("0x00000000000000000000000000000000000000a1");

    /// The contract's digest, computed as `_authorise` does:
    /// keccak256(typeHash ‖ args ‖ abi.encode(signer, nonce, deadline)) in
    /// the domain, with `args` the static words of the action.
    fn contract_digest(type_string: &str, args: &[u8], nonce: u64, deadline: u64) -> B256 {
        let mut preimage = keccak256(type_string).to_vec();
        preimage.extend_from_slice(args);
        preimage.extend((SIGNER, U256::from(nonce), U256::from(deadline)).abi_encode());
        let struct_hash = keccak256(preimage);
        let separator = domain(31337, FORWARDER).separator();
        keccak256([&[0x19, 0x01], separator.as_slice(), struct_hash.as_slice()].concat())
    }

    #[test]
    fn bytes_are_signed_as_their_hash_as_the_forwarder_does() {
        let key = bytes!("02aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
        let action = Register { encryption_key: key.clone() };
        let ours = action.signing_hash(&domain(31337, FORWARDER), SIGNER, U256::from(4), 1_000);
        let theirs =
            contract_digest(&contract_types()["Register"], &keccak256(&key).abi_encode(), 4, 1_000);
        assert_eq!(ours, theirs);
    }

    fn record_action() -> AddRecord {
        let envelope = |recipient, sealed: &[u8]| IMedVault::Envelope {
            recipient,
            sealedKey: Bytes::copy_from_slice(sealed),
        };
        AddRecord {
            record: IMedVault::RecordInput {
                patient: address!("0x00000000000000000000000000000000000000b2"),
                category: 2,
                cid: bytes!("01701220aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
                ciphertextHash: b256!(
                    "0x1111111111111111111111111111111111111111111111111111111111111111"
                ),
                wrappedKey: Bytes::new(),
                epoch: 3,
                amends: U256::from(9),
            },
            envelopes: vec![envelope(SIGNER, b"one"), envelope(FORWARDER, b"two")],
        }
    }

    #[test]
    fn a_record_signs_its_envelopes_as_an_array_of_struct_hashes() {
        let action = record_action();
        let envelope_type = &contract_types()["Envelope"];
        let hashes: Vec<u8> = action
            .envelopes
            .iter()
            .flat_map(|e| {
                let encoded = (keccak256(envelope_type), e.recipient, keccak256(&e.sealedKey));
                keccak256(encoded.abi_encode()).0
            })
            .collect();
        let r = &action.record;
        let args = (
            r.patient,
            U256::from(r.category),
            keccak256(&r.cid),
            r.ciphertextHash,
            keccak256(&r.wrappedKey),
            U256::from(r.epoch),
            r.amends,
            keccak256(hashes),
        )
            .abi_encode();
        let theirs = contract_digest(&contract_types()["AddRecord"], &args, 0, 77);
        let ours = action.signing_hash(&domain(31337, FORWARDER), SIGNER, U256::ZERO, 77);
        assert_eq!(ours, theirs);
    }

    #[test]
    fn typed_data_for_a_wallet_hashes_to_the_same_digest() {
        let domain = domain(31337, FORWARDER);
        let action = record_action();
        let typed = action.typed_data(&domain, SIGNER, U256::from(5), 99);
        assert_eq!(typed.primary_type, "AddRecord");
        assert_eq!(
            typed.eip712_signing_hash().unwrap(),
            action.signing_hash(&domain, SIGNER, U256::from(5), 99)
        );
    }

    #[tokio::test]
    async fn a_signed_call_recovers_to_its_signer_and_carries_the_action() {
        let signer = PrivateKeySigner::from_bytes(&keccak256("patient")).unwrap();
        let domain = domain(31337, FORWARDER);
        let action = Grant {
            patient: signer.address(),
            grantee: SIGNER,
            read_mask: 0b110,
            write_mask: 0b100,
            expiry: U40::from(2_000_000_000u64),
        };
        let digest = action.signing_hash(&domain, signer.address(), U256::from(7), 1_234);
        let call = action.clone().sign(&signer, &domain, U256::from(7), 1_234).await.unwrap();

        assert_eq!(call.auth.signer, signer.address());
        assert_eq!(call.auth.deadline, U256::from(1_234));
        assert_eq!(call.auth.signature.len(), 65);
        let signature = alloy::primitives::Signature::from_raw(&call.auth.signature).unwrap();
        assert_eq!(signature.recover_address_from_prehash(&digest).unwrap(), signer.address());
        assert_eq!(
            (call.patient, call.grantee, call.readMask, call.writeMask, call.expiry),
            (action.patient, action.grantee, 0b110, 0b100, action.expiry)
        );
    }

    #[tokio::test]
    async fn a_signer_chosen_at_run_time_signs_like_a_concrete_one() {
        let key = PrivateKeySigner::from_bytes(&keccak256("patient")).unwrap();
        let boxed: Box<dyn Signer + Send + Sync> = Box::new(key.clone());
        let domain = domain(31337, FORWARDER);
        let action = SetGuardian { guardian: SIGNER, powers: 3 };
        let direct = action.clone().sign(&key, &domain, U256::ZERO, 60).await.unwrap();
        let dynamic = action.sign(&boxed, &domain, U256::ZERO, 60).await.unwrap();
        assert_eq!(direct, dynamic);
    }

    #[test]
    fn the_domain_names_the_forwarder() {
        let domain = domain(5, FORWARDER);
        assert_eq!(domain.name.as_deref(), Some("MedVault"));
        assert_eq!(domain.version.as_deref(), Some("1"));
        assert_eq!(domain.chain_id, Some(U256::from(5)));
        assert_eq!(domain.verifying_contract, Some(FORWARDER));
    }
}
