//! Why a call to MedVault or its forwarder reverted, as a typed error and a
//! sentence.
//!
//! [`Revert::decode`] turns revert data into the contracts' generated error
//! enums ([`MedVaultErrors`], [`MedVaultForwarderErrors`]); the forwarder
//! bubbles MedVault's errors unchanged, so a `...BySig` call decodes into
//! either. Services match on the typed variants (to choose an HTTP status,
//! say) and show the [`Display`](std::fmt::Display) sentence, which names the
//! error's arguments. Each contract error has its sentence in an exhaustive
//! `match`, so a new error in the contracts does not compile until it has
//! one.
//!
//! The OpenZeppelin errors in the ABIs are covered too (`Ownable...`,
//! `InvalidAccountNonce`, the short-string errors). OpenZeppelin's ECDSA
//! errors are not in the ABI: the forwarder recovers with `tryRecover`
//! (through `SignatureChecker`) and reports a bad signature as
//! `InvalidSignature`.

use std::fmt;

use alloy::{
    contract,
    primitives::{Bytes, Selector},
    sol_types::{Panic, SolError, SolInterface},
    transports::TransportError,
};

use crate::bindings::{
    forwarder::MedVaultForwarder::MedVaultForwarderErrors, vault::MedVault::MedVaultErrors,
};

/// A decoded revert of MedVault or its forwarder.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Revert {
    /// A MedVault rule refused the action, called directly or through the
    /// forwarder.
    #[error("{}", Sentence(.0))]
    Vault(MedVaultErrors),
    /// The forwarder refused the authorisation (expired, not the signer's,
    /// stale nonce).
    #[error("{}", Sentence(.0))]
    Forwarder(MedVaultForwarderErrors),
    /// `Error(string)`: a `require` or `revert` with a message. The MedVault
    /// contracts raise none, but a contract they call might.
    #[error("the call reverted: {0}")]
    Reason(String),
    /// `Panic(uint256)`: a failed `assert`, an overflow, an out-of-bounds
    /// index.
    #[error("the contract panicked: {}", panic_kind(.0))]
    Panic(Panic),
    /// Revert data that none of the above declares (or none at all).
    #[error("{}", Sentence(.0))]
    Unknown(Bytes),
}

impl Revert {
    /// Decodes revert data. Never fails: data that no contract here declares
    /// becomes [`Revert::Unknown`].
    pub fn decode(data: &[u8]) -> Self {
        if let Ok(error) = MedVaultErrors::abi_decode(data) {
            Self::Vault(error)
        } else if let Ok(error) = MedVaultForwarderErrors::abi_decode(data) {
            Self::Forwarder(error)
        } else if let Ok(revert) = alloy::sol_types::Revert::abi_decode(data) {
            Self::Reason(revert.reason)
        } else if let Ok(panic) = Panic::abi_decode(data) {
            Self::Panic(panic)
        } else {
            Self::Unknown(Bytes::copy_from_slice(data))
        }
    }

    /// The revert behind a failed contract call, or a transaction refused
    /// when its gas was estimated; `None` when it failed for another reason
    /// (the node, the transport, decoding). A transaction mined as reverted
    /// carries no revert data in its receipt.
    pub fn from_contract_error(error: &contract::Error) -> Option<Self> {
        error.as_revert_data().map(|data| Self::decode(&data))
    }

    /// The revert behind a failed RPC request (`eth_call`,
    /// `eth_estimateGas`, `eth_sendTransaction`), or `None` when the node
    /// reported no revert.
    pub fn from_transport_error(error: &TransportError) -> Option<Self> {
        error
            .as_error_resp()
            .and_then(|payload| payload.as_revert_data())
            .map(|data| Self::decode(&data))
    }

    /// The 4-byte selector of the error, if the revert data has one.
    pub fn selector(&self) -> Option<Selector> {
        match self {
            Self::Vault(error) => Some(error.selector().into()),
            Self::Forwarder(error) => Some(error.selector().into()),
            Self::Reason(_) => Some(alloy::sol_types::Revert::SELECTOR.into()),
            Self::Panic(_) => Some(Panic::SELECTOR.into()),
            Self::Unknown(data) => data.get(..4).map(Selector::from_slice),
        }
    }
}

/// What a panic code means, as Solidity documents it.
fn panic_kind(panic: &Panic) -> &'static str {
    panic.kind().map_or("unknown panic code", |kind| kind.as_str())
}

/// The sentence of a contract error.
struct Sentence<'a, T>(&'a T);

impl fmt::Display for Sentence<'_, MedVaultErrors> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use MedVaultErrors as E;
        match self.0 {
            // Governance and organisations.
            E::OwnableUnauthorizedAccount(e) => write!(f, "{} is not governance", e.account),
            E::OwnableInvalidOwner(e) => write!(f, "{} cannot be governance", e.owner),
            E::RenounceDisabled(_) => f.write_str("governance cannot be renounced"),
            E::NotActiveOrganisation(e) => write!(f, "{} is not an active organisation", e.account),
            E::NotOrganisation(e) => write!(f, "{} is not an organisation", e.account),
            E::NotSuspended(e) => {
                write!(f, "{} is not suspended, so it cannot be restored", e.organisation)
            }
            E::NotRelayer(e) => write!(f, "{} does not hold the relayer role", e.account),
            E::StaleSequence(e) => {
                write!(f, "access-log anchor {} is not above the last one, {}", e.sequence, e.last)
            }
            // Identities.
            E::AccountInUse(e) => write!(
                f,
                "{} already holds another part (organisation, staff, patient or device)",
                e.account
            ),
            E::NotStaff(e) => write!(f, "{} is not a staff member", e.account),
            E::StaffOfOtherOrganisation(e) => write!(
                f,
                "{} is staff of {}, not of the signing organisation",
                e.staff, e.organisation
            ),
            E::InvalidRole(e) => write!(
                f,
                "role {} is not a staff role (1 doctor, 2 nurse, 3 lab, 4 emergency)",
                e.role
            ),
            E::InvalidLicenceExpiry(e) => {
                write!(f, "the licence expiry {} is not in the future", e.licenceExpiry)
            }
            E::NotPatient(e) => write!(f, "{} is not a registered patient", e.account),
            E::InvalidEncryptionKey(e) => write!(
                f,
                "the {}-byte encryption key is not a 33-byte compressed secp256k1 key \
                 (0x02 or 0x03 first)",
                e.length
            ),
            E::MissingEncryptionKey(e) => {
                write!(f, "{} has not registered an encryption key", e.account)
            }
            E::InvalidPowers(e) => {
                write!(f, "guardian powers are 1 (manage), 2 (read) or 3 (both), not {}", e.powers)
            }
            E::NotGuardian(e) => write!(f, "{} is not a guardian of {}", e.guardian, e.patient),
            E::SelfReference(e) => {
                write!(f, "{} cannot be their own guardian, device or custodian", e.patient)
            }
            E::NotDevice(e) => write!(f, "{} is not a device of {}", e.device, e.patient),
            // Consent.
            E::NotManager(e) => write!(
                f,
                "{} may not manage {}'s consent: they are neither the patient nor a manage \
                 guardian",
                e.caller, e.patient
            ),
            E::InvalidCategory(e) => write!(f, "category {} is not 0 to 63", e.category),
            E::InvalidScope(e) => write!(
                f,
                "the scope reading {:#x} and writing {:#x} must read a category and write only \
                 categories it reads",
                e.readMask, e.writeMask
            ),
            E::InvalidExpiry(e) => write!(f, "the expiry {} is not in the future", e.expiry),
            E::NoGrant(e) => {
                write!(f, "{} holds no category grant from {}", e.grantee, e.patient)
            }
            E::NoRecordGrant(e) => {
                write!(f, "{} holds no grant on record {:#x}", e.grantee, e.recordId)
            }
            E::UnknownRequest(e) => write!(f, "no access request has id {}", e.requestId),
            E::RequestAnswered(e) => {
                write!(f, "access request {} was already answered", e.requestId)
            }
            E::InvalidDuration(e) => write!(
                f,
                "a requested duration is 1 second to 10 years, not {} seconds",
                e.duration
            ),
            // Records and keys.
            E::UnknownRecord(e) => write!(f, "no record has id {:#x}", e.recordId),
            E::InvalidCid(e) => write!(f, "a CID is 34 to 64 bytes, not {}", e.length),
            E::InvalidWrappedKey(e) => {
                write!(f, "a wrapped data key is at most 128 bytes, not {}", e.length)
            }
            E::StaleEpoch(e) => write!(
                f,
                "key epoch {} is not the category's current epoch, {}",
                e.epoch, e.current
            ),
            E::InvalidAmendment(e) => write!(
                f,
                "record {:#x} cannot be amended here: an amendment amends an existing record of \
                 the same patient and category",
                e.amends
            ),
            E::NotWriter(e) => write!(
                f,
                "{} may not add records or raise alerts in {}'s category {}",
                e.caller, e.patient, e.category
            ),
            E::TooManyEnvelopes(e) => {
                write!(f, "at most 16 envelopes go with a record, not {}", e.count)
            }
            E::InvalidSeverity(e) => {
                write!(f, "an alert's severity is 1 to 3, not {}", e.severity)
            }
            E::NotPublisher(e) => {
                write!(f, "{} may not publish {}'s keys", e.caller, e.patient)
            }
            E::NotEntitled(e) => write!(
                f,
                "{} is not entitled to the key: they hold no access that needs it",
                e.recipient
            ),
            E::InvalidSealedKey(e) => {
                write!(f, "a sealed key is 1 to 256 bytes, not {}", e.length)
            }
            // Break-glass.
            E::NotEmergencyStaff(e) => {
                write!(f, "{} is not live emergency staff of an active organisation", e.account)
            }
            E::TooManyOpenCases(e) => write!(
                f,
                "{} has {} unreviewed break-glass cases, the most allowed",
                e.staff, e.openCases
            ),
            E::EmergencyAccessOpen(e) => {
                write!(f, "{} already holds live emergency access to {}", e.staff, e.patient)
            }
            E::UnknownCase(e) => write!(f, "no break-glass case has id {}", e.caseId),
            E::CaseReviewed(e) => {
                write!(f, "break-glass case {} was already reviewed", e.caseId)
            }
            E::InvalidVerdict(_) => f.write_str("a verdict is 1 (justified) or 2 (abuse)"),
            E::NotReviewer(e) => write!(
                f,
                "{} may not review break-glass case {}: they are neither its patient, a manage \
                 guardian nor its organisation",
                e.caller, e.caseId
            ),
        }
    }
}

impl fmt::Display for Sentence<'_, MedVaultForwarderErrors> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use MedVaultForwarderErrors as E;
        match self.0 {
            E::ExpiredSignature(e) => {
                write!(f, "the signature expired: its deadline {} has passed", e.deadline)
            }
            E::InvalidSignature(e) => write!(
                f,
                "the signature is not {}'s for this action, chain, forwarder and nonce",
                e.signer
            ),
            E::InvalidAccountNonce(e) => {
                write!(f, "{}'s next nonce is {}, not the one signed", e.account, e.currentNonce)
            }
            E::InvalidShortString(_) => {
                f.write_str("the EIP-712 domain name or version is not a short string")
            }
            E::StringTooLong(e) => write!(f, "the string {:?} is too long", e.str),
        }
    }
}

impl fmt::Display for Sentence<'_, Bytes> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.get(..4) {
            None if self.0.is_empty() => f.write_str("the call reverted without a reason"),
            None => {
                write!(f, "the call reverted with {} bytes of data, not an error", self.0.len())
            }
            Some(selector) => write!(
                f,
                "the call reverted with an unknown error (selector {})",
                Selector::from_slice(selector)
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use alloy::{
        primitives::{Address, U256, address, hex},
        sol_types::{PanicKind, SolError},
        transports::{RpcError, TransportErrorKind},
    };

    use super::*;
    use crate::bindings::{forwarder::MedVaultForwarder, vault::MedVault};

    const PATIENT: Address = address!("0x00000000000000000000000000000000000000a1");
    const DOCTOR: Address = address!("0x00000000000000000000000000000000000000b2");

    #[test]
    fn a_vault_error_decodes_to_its_variant_and_sentence() {
        let data = MedVault::NotPatient { account: PATIENT }.abi_encode();
        let revert = Revert::decode(&data);
        assert_eq!(
            revert,
            Revert::Vault(MedVaultErrors::NotPatient(MedVault::NotPatient { account: PATIENT }))
        );
        assert_eq!(
            revert.to_string(),
            "0x00000000000000000000000000000000000000A1 is not a registered patient"
        );
        assert_eq!(revert.selector(), Some(MedVault::NotPatient::SELECTOR.into()));
    }

    #[test]
    fn errors_with_several_arguments_name_them_all() {
        let data = MedVault::NotManager { caller: DOCTOR, patient: PATIENT }.abi_encode();
        let sentence = Revert::decode(&data).to_string();
        assert!(sentence.starts_with(&format!("{DOCTOR} may not manage {PATIENT}'s consent")));

        let data = MedVault::StaleEpoch { epoch: 2, current: 5 }.abi_encode();
        assert_eq!(
            Revert::decode(&data).to_string(),
            "key epoch 2 is not the category's current epoch, 5"
        );

        let data = MedVault::InvalidScope { readMask: 0, writeMask: 4 }.abi_encode();
        assert!(Revert::decode(&data).to_string().contains("reading 0x0 and writing 0x4"));
    }

    #[test]
    fn forwarder_errors_decode_to_the_forwarder_variant() {
        let data = MedVaultForwarder::InvalidSignature { signer: PATIENT }.abi_encode();
        let revert = Revert::decode(&data);
        assert!(matches!(
            revert,
            Revert::Forwarder(MedVaultForwarderErrors::InvalidSignature(ref e))
                if e.signer == PATIENT
        ));
        assert!(revert.to_string().contains(&PATIENT.to_string()));

        let data = MedVaultForwarder::ExpiredSignature { deadline: U256::from(1_700_000_000) }
            .abi_encode();
        assert_eq!(
            Revert::decode(&data).to_string(),
            "the signature expired: its deadline 1700000000 has passed"
        );
    }

    #[test]
    fn openzeppelin_errors_of_the_abis_decode() {
        let data = MedVault::OwnableUnauthorizedAccount { account: DOCTOR }.abi_encode();
        assert_eq!(Revert::decode(&data).to_string(), format!("{DOCTOR} is not governance"));

        let data = MedVaultForwarder::InvalidAccountNonce {
            account: PATIENT,
            currentNonce: U256::from(3),
        }
        .abi_encode();
        assert!(matches!(
            Revert::decode(&data),
            Revert::Forwarder(MedVaultForwarderErrors::InvalidAccountNonce(_))
        ));
    }

    #[test]
    fn reasons_and_panics_decode() {
        let data = alloy::sol_types::Revert::from("not allowed").abi_encode();
        assert_eq!(Revert::decode(&data), Revert::Reason("not allowed".into()));
        assert_eq!(Revert::decode(&data).to_string(), "the call reverted: not allowed");

        let data = Panic::from(PanicKind::UnderOverflow).abi_encode();
        assert_eq!(
            Revert::decode(&data).to_string(),
            "the contract panicked: arithmetic underflow or overflow"
        );
    }

    #[test]
    fn an_unknown_selector_is_named_in_hex() {
        let data = hex!("deadbeef0000000000000000000000000000000000000000000000000000000000000001");
        let revert = Revert::decode(&data);
        assert!(matches!(revert, Revert::Unknown(_)));
        assert_eq!(
            revert.to_string(),
            "the call reverted with an unknown error (selector 0xdeadbeef)"
        );
        assert_eq!(revert.selector(), Some(Selector::from(hex!("deadbeef"))));

        assert_eq!(Revert::decode(&[]).to_string(), "the call reverted without a reason");
        assert_eq!(Revert::decode(&[]).selector(), None);
        assert_eq!(
            Revert::decode(&[1, 2]).to_string(),
            "the call reverted with 2 bytes of data, not an error"
        );
    }

    #[test]
    fn a_known_selector_with_a_truncated_body_is_unknown() {
        let data = MedVault::NotPatient { account: PATIENT }.abi_encode();
        assert!(matches!(Revert::decode(&data[..20]), Revert::Unknown(_)));
    }

    /// The error a node returns for a reverted `eth_call` or `eth_estimateGas`.
    fn node_revert(data: &[u8]) -> TransportError {
        let payload = serde_json::from_value(serde_json::json!({
            "code": 3,
            "message": "execution reverted",
            "data": format!("0x{}", hex::encode(data)),
        }))
        .unwrap();
        RpcError::ErrorResp(payload)
    }

    #[test]
    fn a_node_error_yields_the_revert() {
        let data = MedVault::UnknownRecord { recordId: U256::from(0xabc) }.abi_encode();
        let error = node_revert(&data);
        assert_eq!(
            Revert::from_transport_error(&error).map(|r| r.to_string()).as_deref(),
            Some("no record has id 0xabc")
        );
        let error = contract::Error::TransportError(error);
        assert!(matches!(
            Revert::from_contract_error(&error),
            Some(Revert::Vault(MedVaultErrors::UnknownRecord(_)))
        ));

        let other = RpcError::Transport(TransportErrorKind::BackendGone);
        assert_eq!(Revert::from_transport_error(&other), None);
        assert_eq!(Revert::from_contract_error(&contract::Error::TransportError(other)), None);
    }
}
