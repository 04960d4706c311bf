//! The flows of the demo's story, one test each. Every test tells the part
//! of the story it needs through [`Demo`](medvault_cli::demo::Demo) (the
//! commands' own functions) and then checks the outcome where it is kept:
//! the chain, the indexer, the bytes on disk.

use alloy::{
    primitives::{Address, B256, U256},
    providers::ProviderBuilder,
};
use medvault_cli::{
    demo::{LABS, Step},
    stack::Role,
    transfer,
};
use medvault_core::bindings::MedVault;
use serde_json::Value;

use crate::stack::lease;

/// A uint256 a command printed (0x-hex or decimal).
fn id(value: &Value) -> U256 {
    value.as_str().map(str::to_owned).unwrap_or_else(|| value.to_string()).parse().unwrap()
}

/// The transaction hashes a step's command printed.
fn transactions(step: &Step) -> Vec<B256> {
    step.result["transactions"]
        .as_array()
        .map(|hashes| hashes.iter().map(|hash| hash.as_str().unwrap().parse().unwrap()).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_patient_uploads_a_lab_report_that_the_chain_records() {
    let lease = lease().await;
    let mut demo = lease.demo();
    let patient = lease.stack.identity(Role::Patient).unwrap().address;
    let provider = ProviderBuilder::new().connect_http(lease.stack.rpc_url.clone());
    let vault = MedVault::new(lease.stack.contract, &provider);
    let before = vault.recordCount(patient).call().await.unwrap().to::<u64>();

    let registered = demo.step("register").await.unwrap();
    assert_eq!(registered.result["action"], "already registered", "the stack seeds the patient");
    let uploaded = demo.step("upload").await.unwrap();
    assert_eq!(uploaded.result["encryption"], "client");
    assert_eq!(uploaded.result["plaintext_size"], 64 * 1024);
    assert!(!transactions(&uploaded).is_empty());

    let record = id(&uploaded.result["record"]);
    let cid = uploaded.result["cid"].as_str().unwrap();
    let sha256: B256 = uploaded.result["sha256"].as_str().unwrap().parse().unwrap();
    assert!(
        vault.verifyRecord(record, transfer::cid_bytes(cid).unwrap(), sha256).call().await.unwrap()
    );
    assert!(
        !vault
            .verifyRecord(record, transfer::cid_bytes(cid).unwrap(), B256::ZERO)
            .call()
            .await
            .unwrap()
    );
    assert_eq!(vault.recordCount(patient).call().await.unwrap().to::<u64>(), before + 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_doctor_the_patient_approves_fetches_and_decrypts_the_report() {
    let lease = lease().await;
    let mut demo = lease.demo();
    let doctor = lease.stack.identity(Role::Doctor).unwrap().address;
    let provider = ProviderBuilder::new().connect_http(lease.stack.rpc_url.clone());
    let vault = MedVault::new(lease.stack.contract, &provider);

    let uploaded = demo.step("upload").await.unwrap();
    let record = id(&uploaded.result["record"]);
    assert!(!vault.canRead(record, doctor).call().await.unwrap());
    let requested = demo.step("request").await.unwrap();
    let request = id(&requested.result["request"]);
    assert_eq!(vault.request(request).call().await.unwrap().staff, doctor);
    demo.step("approve").await.unwrap();
    assert!(vault.canRead(record, doctor).call().await.unwrap());

    // The step itself compares the bytes; here, the record is the one uploaded.
    let fetched = demo.step("fetch").await.unwrap();
    assert_eq!(id(&fetched.result["record"]), record);
    assert_eq!(fetched.result["sha256"], uploaded.result["sha256"]);
    assert_eq!(fetched.result["cid"], uploaded.result["cid"]);
    assert_eq!(fetched.result["size"], 64 * 1024);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_device_raises_an_alert_that_the_doctor_finds_in_the_indexer() {
    let lease = lease().await;
    let mut demo = lease.demo();
    let device = lease.stack.identity(Role::Device).unwrap().address;

    demo.step("request").await.unwrap();
    demo.step("approve").await.unwrap();
    let vitals = demo.step("vitals").await.unwrap();
    let readings = vitals.result["items"].as_array().unwrap();
    assert_eq!(readings.len(), 3);
    assert!(readings[..2].iter().all(|reading| reading["alert"].is_null()), "{readings:?}");
    let abnormal = &readings[2];
    assert!(abnormal["severity"].as_u64().unwrap() >= 1);

    let alert = demo.step("alert").await.unwrap();
    assert_eq!(id(&alert.result["record"]), id(&abnormal["record"]));
    assert_eq!(alert.result["severity"], abnormal["severity"]);
    assert_eq!(alert.result["raised_by"].as_str().unwrap().parse::<Address>().unwrap(), device);
    assert_eq!(alert.result["tx"], abnormal["alert"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn after_the_patient_revokes_the_doctor_is_refused_and_the_key_rotates() {
    let lease = lease().await;
    let mut demo = lease.demo();
    let patient = lease.stack.identity(Role::Patient).unwrap().address;
    let doctor = lease.stack.identity(Role::Doctor).unwrap().address;
    let provider = ProviderBuilder::new().connect_http(lease.stack.rpc_url.clone());
    let vault = MedVault::new(lease.stack.contract, &provider);

    let uploaded = demo.step("upload").await.unwrap();
    let record = id(&uploaded.result["record"]);
    for name in ["request", "approve", "fetch"] {
        demo.step(name).await.unwrap();
    }
    demo.step("revoke").await.unwrap();
    assert!(!vault.canRead(record, doctor).call().await.unwrap());
    let refused = demo.step("refused").await.unwrap();
    let reason = refused.result["reason"].as_str().unwrap();
    assert!(reason.contains("may not read record"), "{reason}");
    assert!(reason.contains("revoked"), "a sentence: {reason}");
    assert!(!reason.contains("0x0"), "no revert data: {reason}");

    let epoch = vault.categoryEpoch(patient, LABS).call().await.unwrap();
    let rotated = demo.step("rotate").await.unwrap();
    assert_eq!(rotated.result["epoch"], epoch + 1);
    assert_eq!(vault.categoryEpoch(patient, LABS).call().await.unwrap(), epoch + 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_emergency_doctor_breaks_the_glass_and_the_hospital_reviews_the_case() {
    let lease = lease().await;
    let mut demo = lease.demo();
    let patient = lease.stack.identity(Role::Patient).unwrap().address;
    let responder = lease.stack.identity(Role::EmergencyDoctor).unwrap().address;
    let provider = ProviderBuilder::new().connect_http(lease.stack.rpc_url.clone());
    let vault = MedVault::new(lease.stack.contract, &provider);

    let opened = demo.step("break-glass").await.unwrap();
    let case = id(&opened.result["case"]);
    let released = demo.step("release").await.unwrap();
    assert_eq!(released.result["opens"], true);
    assert_eq!(
        released.result["custodian"].as_str().unwrap().parse::<Address>().unwrap(),
        vault.emergencyCustodian(patient).call().await.unwrap()
    );
    assert_eq!(
        released.result["recipient"].as_str().unwrap().parse::<Address>().unwrap(),
        responder
    );
    demo.step("review").await.unwrap();

    let url = lease.stack.indexer_url.join(&format!("v1/break-glass/{case}")).unwrap();
    let indexed: Value = reqwest::get(url).await.unwrap().json().await.unwrap();
    let item = &indexed["item"];
    assert_eq!(item["status"], "closed", "{indexed}");
    assert_eq!(item["closed"]["verdict"], "justified", "{indexed}");
    assert_eq!(item["staff"].as_str().unwrap().parse::<Address>().unwrap(), responder);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_patient_reads_who_read_their_records() {
    let lease = lease().await;
    let mut demo = lease.demo();
    let doctor = lease.stack.identity(Role::Doctor).unwrap().address;

    let uploaded = demo.step("upload").await.unwrap();
    let record = id(&uploaded.result["record"]);
    for name in ["request", "approve", "fetch"] {
        demo.step(name).await.unwrap();
    }
    let audit = demo.step("audit").await.unwrap();
    assert_eq!(audit.result["chain"], "intact", "{}", audit.result);
    let reads = audit.result["items"].as_array().unwrap();
    let read = reads
        .iter()
        .find(|entry| id(&entry["record_id"]) == record)
        .unwrap_or_else(|| panic!("no read of {record:#x} in {reads:?}"));
    assert_eq!(read["reader"].as_str().unwrap().parse::<Address>().unwrap(), doctor);
    assert_eq!(read["purpose"], "follow-up of the lab results");
}
