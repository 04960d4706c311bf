//! The emergency custodian on a real Anvil: it re-seals the patient's
//! emergency key to live emergency staff who broke the glass, and refuses
//! (publishing nothing) when the opener's organisation is suspended or the
//! opener is no longer emergency staff. It answers a case opened while it
//! was down, and never answers one twice.

use std::time::{Duration, Instant};

use alloy::{
    primitives::{B256, Bytes, U256, aliases::U40},
    providers::{DynProvider, Provider, ext::AnvilApi},
    rpc::types::TransactionReceipt,
};
use medvault_core::{
    bindings::{MedVault, vault::IMedVault},
    envelope,
    keys::{CategoryKey, CategoryKeyId},
};
use medvault_gateway::custodian::{Custodian, EMERGENCY, Outcome, RESCAN_BLOCKS, Refusal};

use crate::stack::{Actor, Stack};

async fn mined<P: Provider>(
    call: alloy::contract::CallBuilder<P, std::marker::PhantomData<impl alloy::sol_types::SolCall>>,
) -> TransactionReceipt {
    let receipt = call.send().await.unwrap().get_receipt().await.unwrap();
    assert!(receipt.status());
    receipt
}

/// `responder` (made emergency staff by `organisation`) opens a case on
/// the patient; returns its id.
async fn open_case(stack: &Stack, organisation: &Actor, responder: &Actor) -> U256 {
    let v = &stack.vault;
    let licence = U40::from(stack.now().await + 365 * 86_400);
    mined(v.addStaff(responder.address(), 4, licence).from(organisation.address())).await;
    let receipt = mined(
        v.openBreakGlass(stack.patient.address(), B256::repeat_byte(7)).from(responder.address()),
    )
    .await;
    receipt
        .logs()
        .iter()
        .find_map(|log| log.log_decode::<MedVault::BreakGlassOpened>().ok())
        .unwrap()
        .inner
        .data
        .caseId
}

/// The emergency keys sealed to `recipient`.
async fn sealed_to(stack: &Stack, recipient: &Actor) -> Vec<Bytes> {
    stack
        .vault
        .CategoryKeyPublished_filter()
        .topic2(recipient.address().into_word())
        .from_block(0)
        .query()
        .await
        .unwrap()
        .into_iter()
        .map(|(event, _)| event.sealedKey)
        .collect()
}

/// The stranger, playing the gateway's custodian account, named by the
/// patient and holding the patient's emergency key of epoch 0.
async fn appoint(stack: &Stack) -> (Custodian<DynProvider>, CategoryKeyId, CategoryKey) {
    let v = &stack.vault;
    let patient = stack.patient.address();
    let custodian = &stack.stranger;
    mined(v.setEmergencyCustodian(custodian.address()).from(patient)).await;
    let id = CategoryKeyId { patient, category: EMERGENCY, epoch: 0 };
    let key = CategoryKey::generate(id);
    let envelope = IMedVault::Envelope {
        recipient: custodian.address(),
        sealedKey: envelope::seal(&custodian.key.public_key(), key.as_bytes()).into(),
    };
    mined(v.publishCategoryKey(patient, EMERGENCY, 0, envelope).from(patient)).await;
    (Custodian::new(v.clone(), custodian.address(), custodian.key.clone(), 0), id, key)
}

#[tokio::test]
async fn the_custodian_reseals_to_live_emergency_staff_and_refuses_the_others() {
    let stack = Stack::new().await;
    let v = &stack.vault;
    let (gateway, id, key) = appoint(&stack).await;

    // Live emergency staff of an active organisation get the key.
    let first = open_case(&stack, &stack.hospital, &stack.revoked).await;
    let outcome = gateway.handle(first).await.unwrap();
    assert!(matches!(outcome, Outcome::Published { .. }), "{outcome:?}");
    let sealed = sealed_to(&stack, &stack.revoked).await;
    assert_eq!(sealed.len(), 1);
    let opened = stack.revoked.key.open_category_key(id, &sealed[0]).unwrap();
    assert_eq!(opened.as_bytes(), key.as_bytes());
    // Asked again (a restart scans the openings again): nothing is sent.
    assert_eq!(gateway.handle(first).await.unwrap(), Outcome::AlreadyPublished);
    assert_eq!(sealed_to(&stack, &stack.revoked).await.len(), 1);

    // Staff of an organisation suspended after the case was opened: refused.
    let case = open_case(&stack, &stack.other_hospital, &stack.suspended).await;
    mined(v.suspendOrganisation(stack.other_hospital.address()).from(stack.governance.address()))
        .await;
    let outcome = gateway.handle(case).await.unwrap();
    assert_eq!(outcome, Outcome::Refused(Refusal::OrganisationNotActive));
    assert!(sealed_to(&stack, &stack.suspended).await.is_empty());

    // Staff removed after opening the case: refused.
    let case = open_case(&stack, &stack.hospital, &stack.expiring).await;
    mined(v.removeStaff(stack.expiring.address()).from(stack.hospital.address())).await;
    let outcome = gateway.handle(case).await.unwrap();
    assert_eq!(outcome, Outcome::Refused(Refusal::NotEmergencyStaff));
    assert!(sealed_to(&stack, &stack.expiring).await.is_empty());

    // Another patient's case is not the custodian's to answer.
    let other = Custodian::new(v.clone(), stack.doctor.address(), stack.doctor.key.clone(), 0);
    assert_eq!(other.handle(first).await.unwrap(), Outcome::Refused(Refusal::NotOurPatient));
}

#[tokio::test]
async fn a_case_opened_while_the_custodian_was_down_is_answered_once_it_runs() {
    let stack = Stack::new().await;
    let (gateway, id, key) = appoint(&stack).await;
    let case = open_case(&stack, &stack.hospital, &stack.revoked).await;

    // The custodian starts after the opening, scanning from the deployment.
    let watcher = tokio::spawn(async move { gateway.run(Duration::from_millis(20)).await });
    let deadline = Instant::now() + Duration::from_secs(30);
    let sealed = loop {
        let sealed = sealed_to(&stack, &stack.revoked).await;
        if !sealed.is_empty() {
            break sealed;
        }
        assert!(Instant::now() < deadline, "the custodian never answered case {case}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let opened = stack.revoked.key.open_category_key(id, &sealed[0]).unwrap();
    assert_eq!(opened.as_bytes(), key.as_bytes());

    // Later scans see the opener served and send nothing more.
    tokio::time::sleep(Duration::from_millis(200)).await;
    watcher.abort();
    assert_eq!(sealed_to(&stack, &stack.revoked).await.len(), 1);
}

#[tokio::test]
async fn a_restarted_custodian_resumes_where_its_scan_stopped() {
    let stack = Stack::new().await;
    let (gateway, _, _) = appoint(&stack).await;
    let dir = tempfile::tempdir().unwrap();
    let db = medvault_gateway::store::open(&dir.path().join("gateway.sqlite")).await.unwrap();
    let chain_id = stack.provider.get_chain_id().await.unwrap();
    let gateway = gateway.persisting(db.clone(), chain_id);
    // Nothing stored yet: from the deployment block.
    assert_eq!(gateway.resume_from().await.unwrap(), 0);

    // Far enough past the deployment that a resumed scan starts after it.
    stack.provider.anvil_mine(Some(3 * RESCAN_BLOCKS), None).await.unwrap();
    let case = open_case(&stack, &stack.hospital, &stack.revoked).await;
    let watcher = tokio::spawn(async move { gateway.run(Duration::from_millis(20)).await });
    let deadline = Instant::now() + Duration::from_secs(30);
    while sealed_to(&stack, &stack.revoked).await.is_empty() {
        assert!(Instant::now() < deadline, "the custodian never answered case {case}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let head = stack.provider.get_block_number().await.unwrap();
    // The scan after the answer stores the head it reached.
    tokio::time::sleep(Duration::from_millis(200)).await;
    watcher.abort();

    // A restart over the same database resumes a few blocks before where the
    // scan stopped, not at the deployment block, and answers nothing twice.
    let custodian = &stack.stranger;
    let restarted =
        Custodian::new(stack.vault.clone(), custodian.address(), custodian.key.clone(), 0)
            .persisting(db, chain_id);
    let resumed = restarted.resume_from().await.unwrap();
    assert!(resumed > 0, "the restart rescans from the deployment block");
    assert!(resumed + RESCAN_BLOCKS > head, "resumed at {resumed}, the scan had reached {head}");
    let watcher = tokio::spawn(async move { restarted.run(Duration::from_millis(20)).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    watcher.abort();
    assert_eq!(sealed_to(&stack, &stack.revoked).await.len(), 1);
}
