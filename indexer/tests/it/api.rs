//! The query API over a real index: MedVault on Anvil, every flow sent as
//! real transactions, the logs decoded and committed through the store, then
//! every endpoint asked through the router (no socket), on SQLite and on a
//! throwaway Postgres.

use std::{collections::BTreeMap, sync::LazyLock, time::Duration};

use alloy::{
    network::EthereumWallet,
    network::TransactionBuilder as _,
    node_bindings::AnvilInstance,
    primitives::{Address, Bytes, U256, aliases::U40, keccak256},
    providers::{DynProvider, Provider, ProviderBuilder, ext::AnvilApi},
    rpc::types::{
        Filter, TransactionReceipt, TransactionRequest,
        anvil::{ReorgOptions, TransactionData},
    },
    signers::local::PrivateKeySigner,
    sol_types::{SolCall as _, SolEvent, SolValue},
};
use axum::{
    body::Body,
    http::{Request, StatusCode},
};
use futures_util::StreamExt;
use http_body_util::BodyExt;
use medvault_core::bindings::vault::{IMedVault, MedVault};
use medvault_deploy::{Compiled, ContractsCompiler, deploy};
use medvault_indexer::{
    api::{ApiConfig, ApiState, router},
    store::{Batch, BlockRef, Store, decode},
};
use medvault_tests::{PostgresServer, Toolchain, spawn_anvil, toolchain::contracts_dir};
use serde_json::Value;
use tower::ServiceExt;

const VITALS: u8 = 1;
const LABS: u8 = 2;
const DAY: u64 = 86_400;

/// The contracts, compiled once for the binary (solc-js takes a while).
static CONTRACTS: LazyLock<Compiled> = LazyLock::new(|| {
    ContractsCompiler::new(contracts_dir(), Toolchain::locate().solc().unwrap()).compile().unwrap()
});

/// Which database an index is in.
#[derive(Debug, Clone, Copy)]
enum Db {
    Sqlite,
    Postgres,
}

/// MedVault on a fresh Anvil, every Anvil key in one wallet, and an index.
struct Chain {
    provider: DynProvider,
    vault: MedVault::MedVaultInstance<DynProvider>,
    chain_id: u64,
    store: Store,
    /// The last block indexed.
    indexed: u64,
    accounts: Vec<Address>,
    _anvil: AnvilInstance,
    _dir: tempfile::TempDir,
    _postgres: Option<PostgresServer>,
}

impl Chain {
    async fn new(db: Db) -> Self {
        let compiled = tokio::task::spawn_blocking(|| &*CONTRACTS).await.unwrap();
        let anvil = spawn_anvil(&Toolchain::locate()).unwrap();
        let signers: Vec<PrivateKeySigner> =
            anvil.keys().iter().cloned().map(PrivateKeySigner::from).collect();
        let accounts: Vec<Address> = signers.iter().map(|s| s.address()).collect();
        let mut wallet = EthereumWallet::from(signers[0].clone());
        for signer in &signers[1..] {
            wallet.register_signer(signer.clone());
        }
        let provider =
            ProviderBuilder::new().wallet(wallet).connect_http(anvil.endpoint_url()).erased();
        let address =
            deploy(&provider, compiled.contract("MedVault").unwrap(), &accounts[0].abi_encode())
                .await
                .unwrap();
        let vault = MedVault::new(address, provider.clone());
        let dir = tempfile::tempdir().unwrap();
        let (url, postgres) = match db {
            Db::Sqlite => (dir.path().join("index.db").to_str().unwrap().to_owned(), None),
            Db::Postgres => {
                let server =
                    tokio::task::spawn_blocking(PostgresServer::spawn).await.unwrap().unwrap();
                (server.create_database("api").unwrap(), Some(server))
            }
        };
        let store = Store::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        let chain_id = anvil.chain_id();
        store.start(chain_id, address, 0).await.unwrap();
        Self {
            provider,
            vault,
            chain_id,
            store,
            indexed: 0,
            accounts,
            _anvil: anvil,
            _dir: dir,
            _postgres: postgres,
        }
    }

    fn api(&self) -> axum::Router {
        router(ApiState::new(self.store.clone(), self.chain_id, ApiConfig::default()))
    }

    async fn now(&self) -> u64 {
        let block = self.provider.get_block_by_number(Default::default()).await.unwrap().unwrap();
        block.header.timestamp
    }

    async fn block(&self, number: u64) -> BlockRef {
        let block = self.provider.get_block_by_number(number.into()).await.unwrap().unwrap();
        BlockRef {
            number,
            hash: block.header.hash,
            parent_hash: block.header.parent_hash,
            timestamp: block.header.timestamp,
        }
    }

    /// Indexes every log from the last indexed block to the chain's head in
    /// one batch, through the store's decode and commit.
    async fn index(&mut self) -> BlockRef {
        let head = self.provider.get_block_number().await.unwrap();
        let from = self.indexed + 1;
        let filter = Filter::new().address(*self.vault.address()).from_block(from).to_block(head);
        let logs = self.provider.get_logs(&filter).await.unwrap();
        let mut blocks = BTreeMap::new();
        let mut rows = Vec::new();
        for log in &logs {
            let number = log.block_number.unwrap();
            if let std::collections::btree_map::Entry::Vacant(slot) = blocks.entry(number) {
                slot.insert(self.block(number).await);
            }
            rows.extend(decode(self.chain_id, log, Some(blocks[&number].timestamp)).unwrap());
        }
        let to = self.block(head).await;
        let batch = Batch {
            chain_id: self.chain_id,
            contract: *self.vault.address(),
            from,
            to,
            blocks: blocks.into_values().collect(),
            rows,
        };
        self.store.commit(&batch).await.unwrap();
        self.indexed = head;
        to
    }
}

/// Waits for `call`'s receipt and checks it succeeded.
async fn sent(
    call: impl std::future::Future<
        Output = Result<
            alloy::providers::PendingTransactionBuilder<alloy::network::Ethereum>,
            alloy::contract::Error,
        >,
    >,
) -> TransactionReceipt {
    let receipt = call.await.unwrap().get_receipt().await.unwrap();
    assert!(receipt.status());
    receipt
}

/// The one event `E` of `receipt`.
fn event<E: SolEvent>(receipt: &TransactionReceipt) -> E {
    let found: Vec<E> = receipt
        .logs()
        .iter()
        .filter_map(|log| log.log_decode::<E>().ok())
        .map(|l| l.inner.data)
        .collect();
    assert_eq!(found.len(), 1, "{}", E::SIGNATURE);
    found.into_iter().next().unwrap()
}

/// A compressed secp256k1 point, as an encryption key (any valid prefix will
/// do for the contract).
fn encryption_key(seed: &str) -> Bytes {
    [&[0x02][..], keccak256(seed).as_slice()].concat().into()
}

fn sealed(seed: &str) -> Bytes {
    keccak256(seed).repeat(4).into()
}

fn cid(seed: &str) -> Bytes {
    [&[0x01, 0x70, 0x12, 0x20][..], keccak256(seed).as_slice()].concat().into()
}

async fn get(api: &axum::Router, uri: &str) -> (StatusCode, Value) {
    let response =
        api.clone().oneshot(Request::get(uri).body(Body::empty()).unwrap()).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, json)
}

/// A 200 answer, consistent with block `head`.
async fn ok(api: &axum::Router, uri: &str, head: &BlockRef) -> Value {
    let (status, json) = get(api, uri).await;
    assert_eq!(status, StatusCode::OK, "{uri}: {json}");
    assert_eq!(json["block"]["number"], head.number, "{uri}");
    assert_eq!(json["block"]["hash"], head.hash.to_string(), "{uri}");
    json
}

/// A 400 that names `parameter`.
async fn bad(api: &axum::Router, uri: &str, parameter: &str) {
    let (status, json) = get(api, uri).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {json}");
    assert_eq!(json["error"], "bad_parameter", "{uri}");
    assert_eq!(json["parameter"], parameter, "{uri}: {json}");
}

fn lower(address: Address) -> String {
    alloy::hex::encode_prefixed(address)
}

fn field<'a>(items: &'a Value, name: &str) -> Vec<&'a Value> {
    items["items"].as_array().unwrap().iter().map(|item| &item[name]).collect()
}

/// The cast, by Anvil key.
struct Cast {
    hospital: Address,
    doctor: Address,
    nurse: Address,
    responder: Address,
    patient: Address,
    relayer: Address,
    other_patient: Address,
}

/// Everything the flows produced that the assertions need.
struct World {
    labs: [U256; 2],
    vitals: U256,
    approved: U256,
    denied: U256,
    pending: U256,
}

/// Sends every flow the API answers about.
async fn flows(chain: &Chain, c: &Cast) -> World {
    let v = &chain.vault;
    let now = chain.now().await;
    let licence = U40::from(now + 365 * DAY);
    sent(v.addOrganisation(c.hospital).send()).await;
    sent(v.setRelayer(c.relayer, true).send()).await;
    for (staff, role) in [(c.doctor, 1u8), (c.nurse, 2), (c.responder, 4)] {
        sent(v.addStaff(staff, role, licence).from(c.hospital).send()).await;
        sent(v.setEncryptionKey(encryption_key(&staff.to_string())).from(staff).send()).await;
    }
    for patient in [c.patient, c.other_patient] {
        sent(v.register(encryption_key(&patient.to_string())).from(patient).send()).await;
    }

    let mut records = Vec::new();
    for (category, seed) in [(LABS, "labs 1"), (VITALS, "vitals"), (LABS, "labs 2")] {
        let input = IMedVault::RecordInput {
            patient: c.patient,
            category,
            cid: cid(seed),
            ciphertextHash: keccak256(seed),
            wrappedKey: Bytes::new(),
            epoch: 0,
            amends: U256::ZERO,
        };
        let receipt = sent(v.addRecord(input, vec![]).from(c.patient).send()).await;
        records.push(event::<MedVault::RecordAdded>(&receipt).recordId);
    }
    let other = IMedVault::RecordInput {
        patient: c.other_patient,
        category: LABS,
        cid: cid("other"),
        ciphertextHash: keccak256("other"),
        wrappedKey: Bytes::new(),
        epoch: 0,
        amends: U256::ZERO,
    };
    sent(v.addRecord(other, vec![]).from(c.other_patient).send()).await;

    // Requests: one approved (the doctor's grant), one denied, one pending.
    let purpose = keccak256("purpose");
    let request = |staff: Address| async move {
        let call = v.requestAccess(c.patient, 1 << LABS, 1 << LABS, (30 * DAY) as u32, purpose);
        let receipt = sent(call.from(staff).send()).await;
        event::<MedVault::AccessRequested>(&receipt).requestId
    };
    let approved = request(c.doctor).await;
    let denied = request(c.nurse).await;
    let pending = request(c.responder).await;
    sent(v.approveRequest(approved).from(c.patient).send()).await;
    sent(v.denyRequest(denied).from(c.patient).send()).await;

    // Grants: the nurse's revoked, the responder's short one left to expire.
    let later = U40::from(now + 10 * DAY);
    sent(v.grant(c.patient, c.nurse, 1 << VITALS, 0, later).from(c.patient).send()).await;
    sent(v.revoke(c.patient, c.nurse).from(c.patient).send()).await;
    let soon = U40::from(chain.now().await + 100);
    sent(v.grant(c.patient, c.responder, 1 << VITALS, 0, soon).from(c.patient).send()).await;

    // Envelopes: the labs key at epoch 0, a rotation, the key at epoch 1; a
    // record grant and its record-level envelope.
    let to_doctor =
        |seed: &str| IMedVault::Envelope { recipient: c.doctor, sealedKey: sealed(seed) };
    sent(v.publishCategoryKey(c.patient, LABS, 0, to_doctor("labs 0")).from(c.patient).send())
        .await;
    sent(v.rotateCategoryKey(c.patient, LABS, sealed("labs 0 under 1")).from(c.patient).send())
        .await;
    sent(v.publishCategoryKey(c.patient, LABS, 1, to_doctor("labs 1")).from(c.patient).send())
        .await;
    sent(v.grantRecord(records[1], c.doctor, later).from(c.patient).send()).await;
    sent(v.publishRecordKey(records[1], to_doctor("vitals record")).from(c.patient).send()).await;

    // The doctor (a labs writer) raises an alert.
    sent(v.raiseAlert(records[0], 2).from(c.doctor).send()).await;

    // Break-glass: a case closed as justified, then a second one left open.
    let reason = keccak256("unconscious");
    sent(v.openBreakGlass(c.patient, reason).from(c.responder).send()).await;
    sent(v.closeBreakGlass(U256::from(1), 1).from(c.hospital).send()).await;
    sent(v.openBreakGlass(c.patient, reason).from(c.responder).send()).await;

    sent(v.anchorAccessLog(1, keccak256("log")).from(c.relayer).send()).await;

    // Past the responder's grant; the doctor's (30 days) stays live.
    chain.provider.anvil_increase_time(200).await.unwrap();
    chain.provider.anvil_mine(Some(1), None).await.unwrap();

    World { labs: [records[0], records[2]], vitals: records[1], approved, denied, pending }
}

#[tokio::test]
async fn every_endpoint_answers_from_a_real_index_on_sqlite() {
    every_endpoint_answers_from_a_real_index(Db::Sqlite).await;
}

#[tokio::test]
async fn every_endpoint_answers_from_a_real_index_on_postgres() {
    every_endpoint_answers_from_a_real_index(Db::Postgres).await;
}

async fn every_endpoint_answers_from_a_real_index(db: Db) {
    let mut chain = Chain::new(db).await;
    let a = chain.accounts.clone();
    let c = Cast {
        hospital: a[1],
        doctor: a[2],
        nurse: a[3],
        responder: a[4],
        patient: a[5],
        relayer: a[6],
        other_patient: a[7],
    };
    let api = chain.api();

    // Before the first batch there is no block to be consistent with.
    let (status, json) = get(&api, "/v1/head").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{json}");
    assert_eq!(json["error"], "not_ready");
    assert_eq!(get(&api, "/health").await.0, StatusCode::SERVICE_UNAVAILABLE);

    let w = flows(&chain, &c).await;
    let head = chain.index().await;
    let patient = lower(c.patient);
    let doctor = lower(c.doctor);

    // Head and health.
    let json = ok(&api, "/v1/head", &head).await;
    assert_eq!(json["block"]["timestamp"], head.timestamp);
    // A block already reached is answered at once.
    ok(&api, &format!("/v1/head?min_block={}", head.number), &head).await;
    bad(&api, "/v1/head?min_block=soon", "min_block").await;
    bad(&api, "/v1/head?min_block=-1", "min_block").await;
    assert_eq!(get(&api, "/health").await.0, StatusCode::OK);

    // Participants.
    let json = ok(&api, &format!("/v1/participants/{doctor}"), &head).await;
    let item = &json["item"];
    assert_eq!(item["encryptionKey"], encryption_key(&c.doctor.to_string()).to_string());
    assert_eq!(item["roles"].as_array().unwrap().len(), 1, "{item}");
    assert_eq!(item["roles"][0]["role"], "staff");
    assert_eq!(item["roles"][0]["staffRole"], "doctor");
    assert_eq!(item["roles"][0]["organisation"], lower(c.hospital));
    let json = ok(&api, "/v1/participants?role=doctor", &head).await;
    assert_eq!(field(&json, "address"), [&Value::from(doctor.clone())]);
    let json = ok(&api, "/v1/participants?role=patient", &head).await;
    assert_eq!(field(&json, "address").len(), 2);
    let json =
        ok(&api, &format!("/v1/participants?role=staff&organisation={}", lower(c.hospital)), &head)
            .await;
    assert_eq!(field(&json, "address").len(), 3);
    let (status, json) = get(&api, &format!("/v1/participants/{}", lower(a[9]))).await;
    assert_eq!((status, json["error"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));
    bad(&api, "/v1/participants?role=wizard", "role").await;
    bad(&api, "/v1/participants", "role").await;
    bad(&api, "/v1/participants/0x1234", "address").await;

    // Records: all three, by category, by page, by time.
    let json = ok(&api, &format!("/v1/patients/{patient}/records"), &head).await;
    let ids: Vec<String> = [w.labs[0], w.vitals, w.labs[1]].iter().map(U256::to_string).collect();
    assert_eq!(
        field(&json, "id"),
        ids.iter().map(|id| Value::from(id.clone())).collect::<Vec<_>>().iter().collect::<Vec<_>>()
    );
    assert_eq!(json["next"], Value::Null);
    let json = ok(&api, &format!("/v1/patients/{patient}/records?category=2"), &head).await;
    assert_eq!(field(&json, "id").len(), 2);
    let first = ok(&api, &format!("/v1/patients/{patient}/records?limit=2"), &head).await;
    assert_eq!(field(&first, "id").len(), 2);
    let next = first["next"].as_str().unwrap();
    let second =
        ok(&api, &format!("/v1/patients/{patient}/records?limit=2&cursor={next}"), &head).await;
    assert_eq!(field(&second, "id"), [&Value::from(ids[2].clone())]);
    assert_eq!(second["next"], Value::Null);
    let vitals_time = first["items"][1]["added"]["blockTime"].as_u64().unwrap();
    let json = ok(
        &api,
        &format!("/v1/patients/{patient}/records?from={vitals_time}&to={}", vitals_time + 1),
        &head,
    )
    .await;
    assert!(field(&json, "id").contains(&&Value::from(ids[1].clone())));
    assert!(
        !field(&json, "id").contains(&&Value::from(ids[0].clone()))
            || vitals_time == first["items"][0]["added"]["blockTime"]
    );
    bad(&api, &format!("/v1/patients/{patient}/records?limit=501"), "limit").await;
    bad(&api, &format!("/v1/patients/{patient}/records?limit=0"), "limit").await;
    bad(&api, &format!("/v1/patients/{patient}/records?cursor=nope"), "cursor").await;
    bad(&api, &format!("/v1/patients/{patient}/records?category=64"), "category").await;
    bad(&api, &format!("/v1/patients/{patient}/records?colour=red"), "colour").await;

    let json = ok(&api, &format!("/v1/records/{}", w.vitals), &head).await;
    assert_eq!(json["item"]["category"], VITALS);
    assert_eq!(json["item"]["patient"], patient);
    assert_eq!(json["item"]["cid"], cid("vitals").to_string());
    assert_eq!(get(&api, "/v1/records/12345").await.0, StatusCode::NOT_FOUND);
    bad(&api, "/v1/records/twelve", "id").await;

    // Grants: live, revoked and expired, as of the head's time.
    let json = ok(&api, &format!("/v1/patients/{patient}/grants"), &head).await;
    let states: BTreeMap<String, String> = json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (g["grantee"].as_str().unwrap().to_owned(), g["status"].as_str().unwrap().to_owned())
        })
        .collect();
    assert_eq!(states[&doctor], "live");
    assert_eq!(states[&lower(c.nurse)], "revoked");
    assert_eq!(states[&lower(c.responder)], "expired");
    let json = ok(&api, &format!("/v1/patients/{patient}/grants?status=live"), &head).await;
    assert_eq!(field(&json, "grantee"), [&Value::from(doctor.clone())]);
    assert_eq!(json["items"][0]["readMask"], (1u64 << LABS).to_string());
    let json =
        ok(&api, &format!("/v1/grantees/{}/grants?status=expired", lower(c.responder)), &head)
            .await;
    assert_eq!(field(&json, "patient"), [&Value::from(patient.clone())]);
    bad(&api, &format!("/v1/grantees/{doctor}/grants?status=forever"), "status").await;
    let json = ok(&api, &format!("/v1/records/{}/grants", w.vitals), &head).await;
    assert_eq!(field(&json, "grantee"), [&Value::from(doctor.clone())]);
    assert_eq!(json["items"][0]["status"], "live");
    assert_eq!(get(&api, "/v1/records/7/grants").await.0, StatusCode::NOT_FOUND);

    // Requests.
    let json = ok(&api, &format!("/v1/patients/{patient}/requests"), &head).await;
    let statuses: Vec<&Value> = field(&json, "status");
    assert_eq!(
        statuses,
        [&Value::from("approved"), &Value::from("denied"), &Value::from("pending")]
    );
    let json = ok(&api, &format!("/v1/patients/{patient}/requests?status=pending"), &head).await;
    assert_eq!(field(&json, "id"), [&Value::from(w.pending.to_string())]);
    let json = ok(&api, &format!("/v1/staff/{doctor}/requests"), &head).await;
    assert_eq!(field(&json, "id"), [&Value::from(w.approved.to_string())]);
    assert!(json["items"][0]["grantExpiry"].as_u64().unwrap() > head.timestamp);
    let json = ok(&api, &format!("/v1/requests/{}", w.denied), &head).await;
    assert_eq!(json["item"]["status"], "denied");
    assert_eq!(json["item"]["staff"], lower(c.nurse));
    assert_eq!(get(&api, "/v1/requests/999").await.0, StatusCode::NOT_FOUND);

    // Envelopes and rotations.
    let json = ok(&api, &format!("/v1/recipients/{doctor}/envelopes"), &head).await;
    assert_eq!(
        field(&json, "kind"),
        [&Value::from("category"), &Value::from("category"), &Value::from("record")]
    );
    let json = ok(
        &api,
        &format!("/v1/recipients/{doctor}/envelopes?patient={patient}&category=2&epoch=1"),
        &head,
    )
    .await;
    assert_eq!(field(&json, "sealedKey"), [&Value::from(sealed("labs 1").to_string())]);
    let json =
        ok(&api, &format!("/v1/recipients/{doctor}/envelopes?record={}", w.vitals), &head).await;
    assert_eq!(field(&json, "sealedKey"), [&Value::from(sealed("vitals record").to_string())]);
    // A labs record added at epoch 0 needs the epoch-0 category key.
    let json =
        ok(&api, &format!("/v1/recipients/{doctor}/envelopes?record={}", w.labs[0]), &head).await;
    assert_eq!(field(&json, "sealedKey"), [&Value::from(sealed("labs 0").to_string())]);
    bad(&api, &format!("/v1/recipients/{doctor}/envelopes?record=1&epoch=1"), "record").await;
    let json = ok(&api, &format!("/v1/patients/{patient}/rotations?category=2"), &head).await;
    assert_eq!(field(&json, "epoch"), [&Value::from(1)]);
    assert_eq!(json["items"][0]["sealedPreviousKey"], sealed("labs 0 under 1").to_string());

    // Break-glass and alerts.
    let json = ok(&api, &format!("/v1/break-glass?patient={patient}"), &head).await;
    assert_eq!(field(&json, "status"), [&Value::from("closed"), &Value::from("open")]);
    let json =
        ok(&api, &format!("/v1/break-glass?staff={}&status=open", lower(c.responder)), &head).await;
    assert_eq!(field(&json, "id"), [&Value::from("2")]);
    let json = ok(&api, "/v1/break-glass/1", &head).await;
    assert_eq!(json["item"]["closed"]["verdict"], "justified");
    assert_eq!(json["item"]["closed"]["by"], lower(c.hospital));
    assert_eq!(get(&api, "/v1/break-glass/3").await.0, StatusCode::NOT_FOUND);
    let json = ok(&api, &format!("/v1/alerts?patient={patient}&severity=2"), &head).await;
    assert_eq!(field(&json, "recordId"), [&Value::from(w.labs[0].to_string())]);
    let json = ok(&api, &format!("/v1/alerts?patient={patient}&severity=3"), &head).await;
    assert!(field(&json, "recordId").is_empty());

    // The audit trail: the patient's events and the anchor, in chain order,
    // nothing of the other patient.
    let json = ok(&api, &format!("/v1/patients/{patient}/audit?limit=500"), &head).await;
    let names: Vec<&str> = field(&json, "event").iter().map(|n| n.as_str().unwrap()).collect();
    for expected in [
        "PatientRegistered",
        "RecordAdded",
        "AccessRequested",
        "RequestApproved",
        "Granted",
        "Revoked",
        "CategoryKeyPublished",
        "CategoryKeyRotated",
        "RecordGranted",
        "RecordKeyPublished",
        "AlertRaised",
        "BreakGlassOpened",
        "BreakGlassClosed",
        "AccessLogAnchored",
    ] {
        assert!(names.contains(&expected), "{expected} missing from {names:?}");
    }
    let positions: Vec<(u64, u64)> = json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["at"]["blockNumber"].as_u64().unwrap(), e["at"]["logIndex"].as_u64().unwrap()))
        .collect();
    assert!(positions.windows(2).all(|p| p[0] < p[1]), "{positions:?}");
    assert!(
        json["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["patient"] == patient || e["event"] == "AccessLogAnchored")
    );
    // Paged in twos, the trail is the same.
    let mut paged = Vec::new();
    let mut cursor = String::new();
    loop {
        let json = ok(&api, &format!("/v1/patients/{patient}/audit?limit=2{cursor}"), &head).await;
        paged.extend(field(&json, "event").into_iter().cloned());
        match json["next"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => break,
        }
    }
    assert_eq!(paged.iter().map(|n| n.as_str().unwrap()).collect::<Vec<_>>(), names);

    // Anything else is a JSON 404; the documents are served.
    let (status, json) = get(&api, "/v2/nothing").await;
    assert_eq!((status, json["error"].as_str()), (StatusCode::NOT_FOUND, Some("no_route")));
    let response =
        api.clone().oneshot(Request::post("/v1/head").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(serde_json::from_slice::<Value>(&bytes).unwrap()["error"], "method_not_allowed");
    bad(&api, "/v1/records/%FF", "path").await;
    let (status, json) = get(&api, "/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json["openapi"], "3.1.0");
    let (status, metrics) = get(&api, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    let metrics = metrics.as_str().unwrap();
    assert!(
        metrics.contains(&format!("medvault_indexer_head_block {}\n", head.number)),
        "{metrics}"
    );
    assert!(metrics.contains("medvault_indexer_rows{table=\"records\"} 4\n"), "{metrics}");
    assert!(
        metrics.contains(
            "medvault_indexer_http_requests_total{route=\"/v1/records/{id}\",status=\"404\"} 1\n"
        ),
        "{metrics}"
    );
}

/// Reads server-sent events from `body` until `count` have come (comments
/// skipped), each as (event, id, data).
async fn read_events(
    body: &mut (impl futures_util::Stream<Item = Result<axum::body::Bytes, axum::Error>> + Unpin),
    buffer: &mut String,
    count: usize,
) -> Vec<(String, String, Value)> {
    let mut events = Vec::new();
    while events.len() < count {
        if let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let (mut name, mut id, mut data) = (String::new(), String::new(), Value::Null);
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event: ") {
                    name = v.to_owned();
                } else if let Some(v) = line.strip_prefix("id: ") {
                    id = v.to_owned();
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data = serde_json::from_str(v).unwrap();
                }
            }
            if !name.is_empty() {
                events.push((name, id, data));
            }
            continue;
        }
        let chunk = tokio::time::timeout(Duration::from_secs(20), body.next())
            .await
            .expect("an event within 20 s")
            .expect("the stream to stay open")
            .unwrap();
        buffer.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    events
}

/// Opens the patient's live stream after `last_event_id`.
async fn open_stream(
    api: &axum::Router,
    patient: &str,
    last_event_id: &str,
) -> axum::http::Response<Body> {
    api.clone()
        .oneshot(
            Request::get(format!("/v1/stream?patient={patient}"))
                .header("last-event-id", last_event_id)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn the_stream_resumes_with_exactly_the_missed_events_then_follows_on_sqlite() {
    the_stream_resumes_with_exactly_the_missed_events_then_follows(Db::Sqlite).await;
}

#[tokio::test]
async fn the_stream_resumes_with_exactly_the_missed_events_then_follows_on_postgres() {
    the_stream_resumes_with_exactly_the_missed_events_then_follows(Db::Postgres).await;
}

async fn the_stream_resumes_with_exactly_the_missed_events_then_follows(db: Db) {
    let mut chain = Chain::new(db).await;
    let a = chain.accounts.clone();
    let c = Cast {
        hospital: a[1],
        doctor: a[2],
        nurse: a[3],
        responder: a[4],
        patient: a[5],
        relayer: a[6],
        other_patient: a[7],
    };
    let api = chain.api();
    flows(&chain, &c).await;
    let head = chain.index().await;
    let patient = lower(c.patient);

    // The streamed kinds of the patient's trail: what a client could have seen.
    let trail = ok(&api, &format!("/v1/patients/{patient}/audit?limit=500"), &head).await;
    let streamed: Vec<&Value> = trail["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| medvault_indexer::api::stream::STREAMED.contains(&e["event"].as_str().unwrap()))
        .filter(|e| e["patient"] == patient)
        .collect();
    assert!(streamed.len() >= 10, "{}", streamed.len());

    // A client that saw the first four resumes from the fourth's id.
    let all = {
        let response = open_stream(&api, &patient, &format!("{:016x}{:016x}", 0, 0)).await;
        assert_eq!(response.status(), StatusCode::OK);
        let mut body = response.into_body().into_data_stream();
        read_events(&mut body, &mut String::new(), streamed.len()).await
    };
    let seen = &all[3].1;
    let response = open_stream(&api, &patient, seen).await;
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body().into_data_stream();
    let mut buffer = String::new();
    let missed = read_events(&mut body, &mut buffer, streamed.len() - 4).await;
    assert_eq!(missed, all[4..].to_vec());
    let names: Vec<&str> = missed.iter().map(|(name, _, _)| name.as_str()).collect();
    let expected: Vec<&str> = streamed[4..].iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(names, expected);

    // Then it follows: a new grant, indexed, arrives live, and nothing else.
    let expiry = U40::from(chain.now().await + DAY);
    sent(chain.vault.grant(c.patient, c.nurse, 1 << VITALS, 0, expiry).from(c.patient).send())
        .await;
    chain.index().await;
    let live = read_events(&mut body, &mut buffer, 1).await;
    assert_eq!(live[0].0, "Granted");
    assert_eq!(live[0].2["account"], lower(c.nurse));
    assert!(live[0].1 > missed.last().unwrap().1);

    // A reorg is a rollback event whose id resumes after the kept block.
    chain.store.rollback_to(chain.chain_id, head.number).await.unwrap();
    let rollback = read_events(&mut body, &mut buffer, 1).await;
    assert_eq!(rollback[0].0, "rollback");
    assert_eq!(rollback[0].2["to"], head.number);

    // A client away during a reorg that replaced its last block comes back
    // with that block's id: it is rolled back below the block, then sent
    // what replaced it. The live grant's block becomes one granting the
    // doctor instead.
    let replaced = &live[0].1;
    assert_eq!(replaced.len(), 48, "the id names its block's hash: {replaced}");
    let nonce = chain.provider.get_transaction_count(c.patient).await.unwrap() - 1;
    let instead = TransactionRequest::default()
        .from(c.patient)
        .to(*chain.vault.address())
        .input(
            MedVault::grantCall {
                patient: c.patient,
                grantee: c.doctor,
                readMask: 1 << VITALS,
                writeMask: 0,
                expiry,
            }
            .abi_encode()
            .into(),
        )
        .nonce(nonce)
        .gas_limit(1_000_000)
        .max_fee_per_gas(100_000_000_000)
        .max_priority_fee_per_gas(1)
        .with_chain_id(chain.chain_id);
    chain
        .provider
        .anvil_reorg(ReorgOptions {
            depth: 1,
            tx_block_pairs: vec![(TransactionData::JSON(instead), 0)],
        })
        .await
        .unwrap();
    chain.indexed = head.number;
    chain.index().await;
    let response = open_stream(&api, &patient, replaced).await;
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body().into_data_stream();
    let mut buffer = String::new();
    let back = read_events(&mut body, &mut buffer, 1).await;
    assert_eq!(back[0].0, "rollback");
    let to = back[0].2["to"].as_u64().unwrap();
    let grant_block: u64 = u64::from_str_radix(&replaced[..16], 16).unwrap();
    assert!(to < grant_block, "rolled back below the replaced block: {to} >= {grant_block}");
    let resent = streamed.iter().filter(|e| e["at"]["blockNumber"].as_u64().unwrap() > to).count();
    let again = read_events(&mut body, &mut buffer, resent + 1).await;
    let last = again.last().unwrap();
    assert_eq!((last.0.as_str(), &last.2["account"]), ("Granted", &Value::from(lower(c.doctor))));
    assert_ne!(&last.1, replaced);

    // Bad stream parameters.
    bad(&api, "/v1/stream", "patient").await;
    bad(&api, &format!("/v1/stream?patient={patient}&grantee={patient}"), "grantee").await;
    let (status, json) = {
        let response = open_stream(&api, &patient, "yesterday").await;
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice::<Value>(&bytes).unwrap())
    };
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(json["parameter"], "Last-Event-ID");
}
