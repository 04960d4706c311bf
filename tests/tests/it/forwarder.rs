//! Every `...BySig` action through the forwarder on a real Anvil: signed with
//! `medvault_core::sig` by keys that hold no ETH, submitted by relayers, and
//! refused with reverts that `medvault_core::revert` decodes.

use std::{collections::BTreeSet, sync::LazyLock};

use alloy::{
    network::EthereumWallet,
    node_bindings::AnvilInstance,
    primitives::{
        Address, Bytes, U256,
        aliases::{U40, U88},
        keccak256,
    },
    providers::{DynProvider, Provider, ProviderBuilder},
    rpc::types::TransactionReceipt,
    signers::local::PrivateKeySigner,
    sol_types::{Eip712Domain, SolCall, SolEvent, SolValue},
};
use medvault_core::{
    bindings::{
        forwarder::{IMedVault as Fwd, MedVaultForwarder},
        vault::MedVault,
    },
    revert::Revert,
    sig::{self, Action},
};
use medvault_deploy::{Compiled, ContractsCompiler, deploy};
use medvault_tests::{Toolchain, spawn_anvil, toolchain::contracts_dir};

use MedVault::MedVaultErrors as VaultError;
use MedVaultForwarder::MedVaultForwarderErrors as ForwarderError;

const EMERGENCY: u8 = 0;
const VITALS: u8 = 1;
const LABS: u8 = 2;
const DAY: u64 = 86_400;

/// The contracts, compiled once for every test of this binary (solc-js takes
/// half a minute).
static CONTRACTS: LazyLock<Compiled> = LazyLock::new(|| {
    ContractsCompiler::new(contracts_dir(), Toolchain::locate().solc().unwrap()).compile().unwrap()
});

/// A key with no ETH, the same in every run.
fn key(name: &str) -> PrivateKeySigner {
    PrivateKeySigner::from_bytes(&keccak256(name)).unwrap()
}

/// The compressed public key of `signer`, as a participant's encryption key.
fn encryption_key(signer: &PrivateKeySigner) -> Bytes {
    let xy = signer.public_key();
    let prefix = 2 + (xy[63] & 1);
    [&[prefix], &xy[..32]].concat().into()
}

/// An ECIES envelope's length of filler bytes, different for each seed.
fn sealed(seed: &str) -> Bytes {
    keccak256(seed).repeat(4).into()
}

/// MedVault on a fresh Anvil, governance at Anvil's first key, and the other
/// nine keys as relayers that take turns.
struct Deployment {
    provider: DynProvider,
    vault: MedVault::MedVaultInstance<DynProvider>,
    forwarder: MedVaultForwarder::MedVaultForwarderInstance<DynProvider>,
    domain: Eip712Domain,
    relayers: Vec<Address>,
    relayed: usize,
    /// The relayers whose submissions went through.
    submitters: BTreeSet<Address>,
    /// The `...BySig` functions that have been called successfully.
    covered: BTreeSet<&'static str>,
    _anvil: AnvilInstance,
}

impl Deployment {
    async fn new() -> Self {
        let compiled = tokio::task::spawn_blocking(|| &*CONTRACTS).await.unwrap();
        let anvil = spawn_anvil(&Toolchain::locate()).unwrap();
        let mut keys = anvil.keys().iter().cloned().map(PrivateKeySigner::from);
        let governance = keys.next().unwrap();
        let governance_address = governance.address();
        let mut wallet = EthereumWallet::from(governance);
        let relayers: Vec<Address> = keys
            .map(|relayer| {
                let address = relayer.address();
                wallet.register_signer(relayer);
                address
            })
            .collect();
        assert_eq!(relayers.len(), 9);
        let provider =
            ProviderBuilder::new().wallet(wallet).connect_http(anvil.endpoint_url()).erased();

        let address = deploy(
            &provider,
            compiled.contract("MedVault").unwrap(),
            &governance_address.abi_encode(),
        )
        .await
        .unwrap();
        let vault = MedVault::new(address, provider.clone());
        let forwarder = MedVaultForwarder::new(vault.forwarder().call().await.unwrap(), &provider)
            .with_cloned_provider();
        let domain = sig::domain(anvil.chain_id(), *forwarder.address());
        Self {
            provider,
            vault,
            forwarder,
            domain,
            relayers,
            relayed: 0,
            submitters: BTreeSet::new(),
            covered: BTreeSet::new(),
            _anvil: anvil,
        }
    }

    async fn now(&self) -> u64 {
        let block = self.provider.get_block_by_number(Default::default()).await.unwrap().unwrap();
        block.header.timestamp
    }

    /// Signs `action` as `signer` for their next nonce, valid for an hour.
    async fn sign<A: Action + Send>(&self, action: A, signer: &PrivateKeySigner) -> A::Call {
        let nonce = self.forwarder.nonces(signer.address()).call().await.unwrap();
        let deadline = self.now().await + 3_600;
        action.sign(signer, &self.domain, nonce, deadline).await.unwrap()
    }

    /// Submits a signed call from the next relayer; the revert if it fails.
    async fn submit<C: SolCall>(&mut self, call: &C) -> Result<TransactionReceipt, Revert> {
        let relayer = self.relayers[self.relayed % self.relayers.len()];
        self.relayed += 1;
        let sent = self.forwarder.call_builder(call).from(relayer).send().await;
        let receipt = match sent {
            Ok(pending) => pending.get_receipt().await.unwrap(),
            Err(err) => return Err(Revert::from_contract_error(&err).expect("a revert")),
        };
        assert!(receipt.status(), "{} reverted on chain", C::SIGNATURE);
        assert_eq!(receipt.from, relayer);
        self.covered.insert(C::SIGNATURE);
        self.submitters.insert(relayer);
        Ok(receipt)
    }

    /// Signs `action` as `signer`, submits it, and checks that it used up
    /// exactly the signer's nonce.
    async fn relay<A: Action + Send>(
        &mut self,
        action: A,
        signer: &PrivateKeySigner,
    ) -> TransactionReceipt {
        let before = self.forwarder.nonces(signer.address()).call().await.unwrap();
        let call = self.sign(action, signer).await;
        let receipt = self.submit(&call).await.unwrap_or_else(|revert| panic!("{revert}"));
        let after = self.forwarder.nonces(signer.address()).call().await.unwrap();
        assert_eq!(after, before + U256::from(1));
        receipt
    }

    /// Signs and submits `action`, which must revert; returns the revert.
    async fn refused<A: Action + Send>(&mut self, action: A, signer: &PrivateKeySigner) -> Revert {
        let call = self.sign(action, signer).await;
        self.submit(&call).await.expect_err("the action should revert")
    }
}

/// The events `E` that MedVault emitted in `receipt`.
fn events<E: SolEvent>(receipt: &TransactionReceipt, vault: &Address) -> Vec<E> {
    receipt
        .logs()
        .iter()
        .filter(|log| log.address() == *vault)
        .filter_map(|log| log.log_decode::<E>().ok())
        .map(|log| log.inner.data)
        .collect()
}

/// The one event `E` that MedVault emitted in `receipt`.
fn event<E: SolEvent>(receipt: &TransactionReceipt, vault: &Address) -> E {
    let mut found = events::<E>(receipt, vault);
    assert_eq!(found.len(), 1, "{} events in {:?}", E::SIGNATURE, receipt.transaction_hash);
    found.remove(0)
}

/// The cast: an organisation, its staff, a patient with a guardian, a device
/// and a custodian, and a stranger. None of them holds ETH.
struct Cast {
    hospital: PrivateKeySigner,
    doctor: PrivateKeySigner,
    nurse: PrivateKeySigner,
    responder: PrivateKeySigner,
    patient: PrivateKeySigner,
    guardian: PrivateKeySigner,
    device: PrivateKeySigner,
    custodian: PrivateKeySigner,
    stranger: PrivateKeySigner,
}

impl Cast {
    fn new() -> Self {
        Self {
            hospital: key("hospital"),
            doctor: key("doctor"),
            nurse: key("nurse"),
            responder: key("responder"),
            patient: key("patient"),
            guardian: key("guardian"),
            device: key("device"),
            custodian: key("custodian"),
            stranger: key("stranger"),
        }
    }

    fn all(&self) -> [&PrivateKeySigner; 9] {
        [
            &self.hospital,
            &self.doctor,
            &self.nurse,
            &self.responder,
            &self.patient,
            &self.guardian,
            &self.device,
            &self.custodian,
            &self.stranger,
        ]
    }
}

#[tokio::test]
async fn every_signed_action_goes_through_the_forwarder_from_keys_without_eth() {
    let mut d = Deployment::new().await;
    let c = Cast::new();
    let vault = *d.vault.address();
    let patient = c.patient.address();
    let now = d.now().await;
    let licence_expiry = U40::from(now + 365 * DAY);
    let expiry = U40::from(now + 30 * DAY);

    // The domain the signatures use is the one the forwarder verifies.
    let separator = d.forwarder.DOMAIN_SEPARATOR().call().await.unwrap();
    assert_eq!(separator, d.domain.separator());

    // Governance acts only as itself, never through the forwarder.
    d.vault
        .addOrganisation(c.hospital.address())
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();

    // The organisation adds its staff and removes one.
    for (staff, role) in [(&c.doctor, 1u8), (&c.nurse, 2), (&c.responder, 4)] {
        let receipt = d
            .relay(sig::AddStaff { staff: staff.address(), role, licence_expiry }, &c.hospital)
            .await;
        let added = event::<MedVault::StaffAdded>(&receipt, &vault);
        assert_eq!(
            (added.organisation, added.staff, added.role),
            (c.hospital.address(), staff.address(), role)
        );
        let stored = d.vault.staff(staff.address()).call().await.unwrap();
        assert_eq!(
            (stored.organisation, stored.role, stored.licenceExpiry),
            (c.hospital.address(), role, licence_expiry)
        );
    }
    d.relay(sig::RemoveStaff { staff: c.nurse.address() }, &c.hospital).await;
    assert_eq!(d.vault.staff(c.nurse.address()).call().await.unwrap().role, 0);

    // The patient registers; the others register encryption keys.
    let receipt =
        d.relay(sig::Register { encryption_key: encryption_key(&c.patient) }, &c.patient).await;
    assert_eq!(event::<MedVault::PatientRegistered>(&receipt, &vault).patient, patient);
    assert!(d.vault.isPatient(patient).call().await.unwrap());
    assert_eq!(d.vault.encryptionKey(patient).call().await.unwrap(), encryption_key(&c.patient));
    for participant in [&c.doctor, &c.responder, &c.guardian, &c.custodian] {
        let key = encryption_key(participant);
        d.relay(sig::SetEncryptionKey { encryption_key: key.clone() }, participant).await;
        assert_eq!(d.vault.encryptionKey(participant.address()).call().await.unwrap(), key);
    }

    // The patient names a guardian, a device and an emergency custodian.
    d.relay(sig::SetGuardian { guardian: c.guardian.address(), powers: 3 }, &c.patient).await;
    assert_eq!(d.vault.guardianPowers(patient, c.guardian.address()).call().await.unwrap(), 3);
    d.relay(sig::AddDevice { device: c.device.address(), category: VITALS }, &c.patient).await;
    let device = d.vault.device(c.device.address()).call().await.unwrap();
    assert_eq!((device._0, device._1), (patient, VITALS));
    d.relay(sig::SetEmergencyCustodian { custodian: c.custodian.address() }, &c.patient).await;
    assert_eq!(d.vault.emergencyCustodian(patient).call().await.unwrap(), c.custodian.address());

    // The patient grants the doctor vitals and labs, with writing labs.
    let scope = (1u64 << VITALS) | (1 << LABS);
    d.relay(
        sig::Grant {
            patient,
            grantee: c.doctor.address(),
            read_mask: scope,
            write_mask: 1 << LABS,
            expiry,
        },
        &c.patient,
    )
    .await;
    let grant = d.vault.grantOf(patient, c.doctor.address()).call().await.unwrap();
    assert_eq!((grant.readMask, grant.writeMask, grant.expiry), (scope, 1 << LABS, expiry));
    assert!(d.vault.hasAccess(patient, c.doctor.address(), LABS).call().await.unwrap());

    // The doctor adds a lab record with its key sealed to the patient and the
    // guardian; the device adds a vitals record and raises an alert on it.
    let record = Fwd::RecordInput {
        patient,
        category: LABS,
        cid: [&[0x01, 0x70, 0x12, 0x20][..], keccak256("labs").as_slice()].concat().into(),
        ciphertextHash: keccak256("labs ciphertext"),
        wrappedKey: Bytes::new(),
        epoch: 0,
        amends: U256::ZERO,
    };
    let envelopes = vec![
        Fwd::Envelope { recipient: patient, sealedKey: sealed("to patient") },
        Fwd::Envelope { recipient: c.guardian.address(), sealedKey: sealed("to guardian") },
    ];
    let receipt = d
        .relay(sig::AddRecord { record: record.clone(), envelopes: envelopes.clone() }, &c.doctor)
        .await;
    let added = event::<MedVault::RecordAdded>(&receipt, &vault);
    let labs = added.recordId;
    assert_eq!((added.patient, added.author), (patient, c.doctor.address()));
    assert!(
        d.vault.verifyRecord(labs, record.cid.clone(), record.ciphertextHash).call().await.unwrap()
    );
    let published = events::<MedVault::RecordKeyPublished>(&receipt, &vault);
    let published: Vec<_> = published.iter().map(|e| (e.recipient, e.sealedKey.clone())).collect();
    let expected: Vec<_> = envelopes.iter().map(|e| (e.recipient, e.sealedKey.clone())).collect();
    assert_eq!(published, expected);

    let vitals_record = Fwd::RecordInput {
        category: VITALS,
        cid: [&[0x01, 0x70, 0x12, 0x20][..], keccak256("vitals").as_slice()].concat().into(),
        ciphertextHash: keccak256("vitals ciphertext"),
        ..record.clone()
    };
    let receipt =
        d.relay(sig::AddRecord { record: vitals_record, envelopes: vec![] }, &c.device).await;
    let vitals = event::<MedVault::RecordAdded>(&receipt, &vault).recordId;
    assert_eq!(d.vault.recordCount(patient).call().await.unwrap(), U88::from(2));
    let receipt = d.relay(sig::RaiseAlert { record_id: vitals, severity: 3 }, &c.device).await;
    let alert = event::<MedVault::AlertRaised>(&receipt, &vault);
    assert_eq!(
        (alert.patient, alert.recordId, alert.raisedBy, alert.severity),
        (patient, vitals, c.device.address(), 3)
    );

    // One record for the responder, granted by the patient and revoked by the
    // guardian.
    d.relay(
        sig::GrantRecord { record_id: labs, grantee: c.responder.address(), expiry },
        &c.patient,
    )
    .await;
    assert_eq!(
        d.vault.recordGrantExpiry(labs, c.responder.address()).call().await.unwrap(),
        expiry
    );
    assert!(d.vault.canRead(labs, c.responder.address()).call().await.unwrap());
    let receipt = d
        .relay(sig::RevokeRecord { record_id: labs, grantee: c.responder.address() }, &c.guardian)
        .await;
    assert_eq!(event::<MedVault::RecordRevoked>(&receipt, &vault).revokedBy, c.guardian.address());
    assert!(!d.vault.canRead(labs, c.responder.address()).call().await.unwrap());

    // The doctor asks for read-only access for a week; the patient approves.
    let purpose_hash = keccak256("follow-up");
    let request = sig::RequestAccess {
        patient,
        read_mask: scope,
        write_mask: 0,
        duration: 7 * DAY as u32,
        purpose_hash,
    };
    let receipt = d.relay(request.clone(), &c.doctor).await;
    let requested = event::<MedVault::AccessRequested>(&receipt, &vault);
    assert_eq!((requested.staff, requested.purposeHash), (c.doctor.address(), purpose_hash));
    let request_id = requested.requestId;
    assert_eq!(d.vault.request(request_id).call().await.unwrap().status, 1);
    let receipt = d.relay(sig::ApproveRequest { request_id }, &c.patient).await;
    let approved = event::<MedVault::RequestApproved>(&receipt, &vault);
    assert_eq!(d.vault.request(request_id).call().await.unwrap().status, 2);
    let grant = d.vault.grantOf(patient, c.doctor.address()).call().await.unwrap();
    assert_eq!((grant.readMask, grant.writeMask, grant.expiry), (scope, 0, approved.expiry));

    // A second request, denied by the guardian.
    let receipt = d.relay(request, &c.doctor).await;
    let request_id = event::<MedVault::AccessRequested>(&receipt, &vault).requestId;
    d.relay(sig::DenyRequest { request_id }, &c.guardian).await;
    assert_eq!(d.vault.request(request_id).call().await.unwrap().status, 3);

    // The patient shares the labs key and the record key with the doctor, then
    // rotates the labs key.
    let envelope = Fwd::Envelope { recipient: c.doctor.address(), sealedKey: sealed("labs key") };
    let receipt = d
        .relay(
            sig::PublishCategoryKey {
                patient,
                category: LABS,
                epoch: 0,
                envelope: envelope.clone(),
            },
            &c.patient,
        )
        .await;
    let published = event::<MedVault::CategoryKeyPublished>(&receipt, &vault);
    assert_eq!(
        (
            published.recipient,
            published.category,
            published.epoch,
            published.publisher,
            published.sealedKey
        ),
        (c.doctor.address(), LABS, 0, patient, envelope.sealedKey.clone())
    );
    let envelope = Fwd::Envelope { recipient: c.doctor.address(), sealedKey: sealed("record key") };
    let receipt = d
        .relay(sig::PublishRecordKey { record_id: labs, envelope: envelope.clone() }, &c.patient)
        .await;
    let published = event::<MedVault::RecordKeyPublished>(&receipt, &vault);
    assert_eq!(
        (published.recordId, published.recipient, published.sealedKey),
        (labs, c.doctor.address(), envelope.sealedKey)
    );
    let receipt = d
        .relay(
            sig::RotateCategoryKey {
                patient,
                category: LABS,
                sealed_previous_key: sealed("old labs key"),
            },
            &c.patient,
        )
        .await;
    assert_eq!(event::<MedVault::CategoryKeyRotated>(&receipt, &vault).epoch, 1);
    assert_eq!(d.vault.categoryEpoch(patient, LABS).call().await.unwrap(), 1);

    // The patient revokes the doctor.
    d.relay(sig::Revoke { patient, grantee: c.doctor.address() }, &c.patient).await;
    assert_eq!(d.vault.grantOf(patient, c.doctor.address()).call().await.unwrap().readMask, 0);
    assert!(!d.vault.hasAccess(patient, c.doctor.address(), LABS).call().await.unwrap());

    // The responder breaks the glass; the patient reviews the case.
    let reason_hash = keccak256("unconscious on arrival");
    let receipt = d.relay(sig::OpenBreakGlass { patient, reason_hash }, &c.responder).await;
    let opened = event::<MedVault::BreakGlassOpened>(&receipt, &vault);
    assert_eq!((opened.staff, opened.reasonHash), (c.responder.address(), reason_hash));
    assert!(d.vault.hasAccess(patient, c.responder.address(), EMERGENCY).call().await.unwrap());
    d.relay(sig::CloseBreakGlass { case_id: opened.caseId, verdict: 1 }, &c.patient).await;
    assert_eq!(d.vault.emergencyCase(opened.caseId).call().await.unwrap().verdict, 1);
    assert!(!d.vault.hasAccess(patient, c.responder.address(), EMERGENCY).call().await.unwrap());

    // The patient removes the guardian and the device.
    d.relay(sig::RemoveGuardian { guardian: c.guardian.address() }, &c.patient).await;
    assert_eq!(d.vault.guardianPowers(patient, c.guardian.address()).call().await.unwrap(), 0);
    d.relay(sig::RemoveDevice { device: c.device.address() }, &c.patient).await;
    assert_eq!(d.vault.device(c.device.address()).call().await.unwrap()._0, Address::ZERO);

    // Every `...BySig` function of the compiled forwarder was called, by
    // relayers, for signers that never held ETH.
    let abi = &CONTRACTS.contract("MedVaultForwarder").unwrap().abi;
    let by_sig: BTreeSet<String> =
        abi.functions().filter(|f| f.name.ends_with("BySig")).map(|f| f.signature()).collect();
    let covered: BTreeSet<String> = d.covered.iter().map(|s| s.to_string()).collect();
    assert_eq!(covered, by_sig);
    assert_eq!(covered.len(), 23);
    assert_eq!(d.submitters.len(), 9, "every relayer took a turn");
    for signer in c.all() {
        assert_eq!(d.provider.get_balance(signer.address()).await.unwrap(), U256::ZERO);
        assert_eq!(d.provider.get_transaction_count(signer.address()).await.unwrap(), 0);
    }
}

#[tokio::test]
async fn forged_expired_replayed_and_refused_actions_revert_with_decoded_errors() {
    let mut d = Deployment::new().await;
    let c = Cast::new();
    let patient = c.patient.address();
    d.relay(sig::Register { encryption_key: encryption_key(&c.patient) }, &c.patient).await;
    d.relay(sig::SetEncryptionKey { encryption_key: encryption_key(&c.guardian) }, &c.guardian)
        .await;
    let set_guardian = sig::SetGuardian { guardian: c.guardian.address(), powers: 3 };
    let nonce = d.forwarder.nonces(patient).call().await.unwrap();

    // Signed by the stranger's key but claiming to be the patient's.
    let mut forged = d.sign(set_guardian.clone(), &c.stranger).await;
    forged.auth.signer = patient;
    let revert = d.submit(&forged).await.unwrap_err();
    assert_eq!(
        revert,
        Revert::Forwarder(ForwarderError::InvalidSignature(MedVaultForwarder::InvalidSignature {
            signer: patient
        }))
    );
    assert_eq!(
        revert.to_string(),
        format!("the signature is not {patient}'s for this action, chain, forwarder and nonce")
    );

    // Signed by the patient, but its deadline has passed.
    let deadline = d.now().await - 1;
    let expired = set_guardian.clone().sign(&c.patient, &d.domain, nonce, deadline).await.unwrap();
    let revert = d.submit(&expired).await.unwrap_err();
    assert_eq!(
        revert,
        Revert::Forwarder(ForwarderError::ExpiredSignature(MedVaultForwarder::ExpiredSignature {
            deadline: U256::from(deadline)
        }))
    );
    assert_eq!(
        revert.to_string(),
        format!("the signature expired: its deadline {deadline} has passed")
    );

    // Signed for another chain's forwarder: not the patient's signature here.
    let elsewhere = sig::domain(1, *d.forwarder.address());
    let deadline = d.now().await + 3_600;
    let other_chain =
        set_guardian.clone().sign(&c.patient, &elsewhere, nonce, deadline).await.unwrap();
    assert!(matches!(
        d.submit(&other_chain).await.unwrap_err(),
        Revert::Forwarder(ForwarderError::InvalidSignature(_))
    ));
    assert_eq!(d.forwarder.nonces(patient).call().await.unwrap(), nonce, "no nonce used up");

    // A valid signature works once; replayed, its nonce is gone.
    let call = d.sign(set_guardian, &c.patient).await;
    d.submit(&call).await.unwrap();
    assert_eq!(d.vault.guardianPowers(patient, c.guardian.address()).call().await.unwrap(), 3);
    let revert = d.submit(&call).await.unwrap_err();
    assert!(matches!(revert, Revert::Forwarder(ForwarderError::InvalidSignature(_))), "{revert:?}");

    // MedVault's own rules bubble up through the forwarder unchanged: the
    // stranger is not the patient's manager, nor a patient at all.
    let grant = sig::Grant {
        patient,
        grantee: c.doctor.address(),
        read_mask: 1 << LABS,
        write_mask: 0,
        expiry: U40::from(d.now().await + DAY),
    };
    let revert = d.refused(grant, &c.stranger).await;
    let stranger = c.stranger.address();
    assert_eq!(
        revert,
        Revert::Vault(VaultError::NotManager(MedVault::NotManager { caller: stranger, patient }))
    );
    assert_eq!(
        revert.to_string(),
        format!(
            "{stranger} may not manage {patient}'s consent: they are neither the patient nor a \
             manage guardian"
        )
    );
    let revert = d
        .refused(sig::SetGuardian { guardian: c.guardian.address(), powers: 3 }, &c.stranger)
        .await;
    assert!(matches!(&revert, Revert::Vault(VaultError::NotPatient(e)) if e.account == stranger));
    assert_eq!(revert.to_string(), format!("{stranger} is not a registered patient"));

    // A refused action uses up no nonce: the whole call reverted.
    assert_eq!(d.forwarder.nonces(stranger).call().await.unwrap(), U256::ZERO);

    // The same revert comes back from `eth_call`.
    let call = d.sign(sig::RemoveDevice { device: c.device.address() }, &c.patient).await;
    let err = d.forwarder.call_builder(&call).call().await.unwrap_err();
    let revert = Revert::from_contract_error(&err).unwrap();
    assert!(matches!(revert, Revert::Vault(VaultError::NotDevice(_))), "{revert:?}");
    assert_eq!(revert.to_string(), format!("{} is not a device of {patient}", c.device.address()));
}
