//! A [`DevStack`] runs every part, seeded as documented, writes a complete
//! stack file, and leaves no process and no open port behind.

use std::{
    collections::BTreeSet,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use alloy::{
    primitives::B256,
    providers::{Provider, ProviderBuilder},
};
use medvault_cli::{
    dev::{DevOptions, DevStack, seed},
    stack::{Role, Stack},
};
use medvault_core::{
    bindings::MedVault,
    keys::{CategoryKeyId, EncryptionKeyMessage},
};
use serde_json::Value;

use crate::support::{answers, exists, socket};

async fn get_json(url: url::Url) -> Value {
    let response = reqwest::get(url.clone()).await.unwrap();
    assert!(response.status().is_success(), "{url}: {}", response.status());
    response.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dev_stack_runs_every_part_seeded_and_stops_it_all() {
    let dir = tempfile::tempdir().unwrap();
    let dev = DevStack::start(DevOptions::new(dir.path().join("dev"))).await.unwrap();

    // The stack file is complete and says what the stack says.
    assert_eq!(dev.stack_path(), dir.path().join("dev").join("stack.json"));
    let stack = Stack::load(&dev.stack_path()).unwrap();
    assert_eq!(&stack, dev.stack());
    assert_eq!(stack.chain_id, 31337);
    let mut addresses = BTreeSet::new();
    for role in Role::ALL {
        let identity = stack.identity(role).unwrap();
        assert_eq!(identity.signer().unwrap().address(), identity.address);
        addresses.insert(identity.address);
    }
    addresses.extend([dev.relayer(), dev.custodian()]);
    assert_eq!(addresses.len(), Role::ALL.len() + 2, "every identity has its own account");
    let address = |role| stack.identity(role).unwrap().address;

    // On chain, every identity is as seeded.
    let provider = ProviderBuilder::new().connect_http(stack.rpc_url.clone());
    assert_eq!(provider.get_chain_id().await.unwrap(), stack.chain_id);
    let vault = MedVault::new(stack.contract, &provider);
    assert_eq!(vault.forwarder().call().await.unwrap(), stack.forwarder);
    assert_eq!(vault.owner().call().await.unwrap(), address(Role::Governance));
    assert!(vault.isRelayer(dev.relayer()).call().await.unwrap());
    assert_eq!(vault.organisationStatus(address(Role::Hospital)).call().await.unwrap(), 1);
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    for (role, staff_role) in [(Role::Doctor, 1), (Role::EmergencyDoctor, 4)] {
        let staff = vault.staff(address(role)).call().await.unwrap();
        assert_eq!(staff.role, staff_role, "{role}");
        assert_eq!(staff.organisation, address(Role::Hospital), "{role}");
        assert!(staff.licenceExpiry.to::<u64>() > now + 300 * 24 * 3600, "{role}'s licence");
    }
    assert!(vault.isPatient(address(Role::Patient)).call().await.unwrap());
    let patient = address(Role::Patient);
    assert_eq!(
        vault.guardianPowers(patient, address(Role::Guardian)).call().await.unwrap(),
        seed::GUARDIAN_POWERS
    );
    let device = vault.device(address(Role::Device)).call().await.unwrap();
    assert_eq!((device._0, device._1), (patient, seed::VITALS));
    assert_eq!(vault.emergencyCustodian(patient).call().await.unwrap(), dev.custodian());

    // Every identity registered the key its wallet derives, and the patient,
    // the guardian and the custodian each hold the emergency category key.
    let signers: Vec<_> =
        Role::ALL.iter().map(|&role| stack.identity(role).unwrap().signer().unwrap()).collect();
    let id = CategoryKeyId { patient, category: seed::EMERGENCY, epoch: 0 };
    let published = vault.CategoryKeyPublished_filter().from_block(0).query().await.unwrap();
    let mut emergency_keys = Vec::new();
    for signer in &signers {
        let message = EncryptionKeyMessage {
            chain_id: stack.chain_id,
            contract: stack.contract,
            account: signer.address(),
        };
        let key = message.derive(signer).await.unwrap();
        let registered = vault.encryptionKey(signer.address()).call().await.unwrap();
        assert_eq!(registered.as_ref(), key.public_key_bytes().as_slice(), "{}", signer.address());
        if let Some((event, _)) =
            published.iter().find(|(event, _)| event.recipient == signer.address())
        {
            assert_eq!((event.patient, event.category, event.epoch), (patient, 0, 0));
            emergency_keys.push(*key.open_category_key(id, &event.sealedKey).unwrap().as_bytes());
        }
    }
    assert_eq!(emergency_keys.len(), 2, "the patient and the guardian");
    let custodian = published.iter().find(|(event, _)| event.recipient == dev.custodian());
    assert!(custodian.is_some(), "the custodian holds an envelope of the emergency key");
    assert_eq!(vault.encryptionKey(dev.custodian()).call().await.unwrap().len(), 33);
    assert_eq!(emergency_keys[0], emergency_keys[1]);

    // The gateway and the indexer answer, and the index holds the seeding.
    let health = reqwest::get(stack.gateway_url.join("health").unwrap()).await.unwrap();
    assert!(health.status().is_success(), "gateway /health: {}", health.status());
    let head = get_json(stack.indexer_url.join("v1/head").unwrap()).await;
    assert_eq!(head["chainId"], stack.chain_id);
    assert!(head["block"]["number"].as_u64().unwrap() >= dev.seeded().last_block);
    for (filter, role) in [
        ("patient", Role::Patient),
        ("organisation", Role::Hospital),
        ("doctor", Role::Doctor),
        ("emergency", Role::EmergencyDoctor),
        ("guardian", Role::Guardian),
        ("device", Role::Device),
    ] {
        let url = stack.indexer_url.join(&format!("v1/participants?role={filter}")).unwrap();
        let listed = get_json(url).await;
        let wanted = Value::from(address(role).to_string().to_lowercase());
        assert!(
            listed["items"].as_array().unwrap().iter().any(|item| item["address"] == wanted),
            "{role} not among the indexed {filter}s: {listed}"
        );
    }
    let custodians =
        get_json(stack.indexer_url.join("v1/participants?role=custodian").unwrap()).await;
    let custodians = custodians["items"].as_array().unwrap();
    assert_eq!(custodians.len(), 1, "{custodians:?}");
    assert_eq!(custodians[0]["address"], dev.custodian().to_string().to_lowercase());

    // The custodian has all it needs: when the emergency doctor breaks the
    // glass, the gateway releases the emergency key to them.
    let responder = stack.identity(Role::EmergencyDoctor).unwrap().signer().unwrap();
    let responder_provider =
        ProviderBuilder::new().wallet(responder.clone()).connect_http(stack.rpc_url.clone());
    let opened = MedVault::new(stack.contract, &responder_provider)
        .openBreakGlass(patient, B256::repeat_byte(1))
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    assert!(opened.status());
    let deadline = Instant::now() + Duration::from_secs(30);
    let released = loop {
        let events = vault
            .CategoryKeyPublished_filter()
            .topic2(responder.address().into_word())
            .from_block(0)
            .query()
            .await
            .unwrap();
        if let Some((event, _)) = events.into_iter().next() {
            break event;
        }
        assert!(Instant::now() < deadline, "the custodian released no emergency key");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(released.publisher, dev.custodian());
    let message = EncryptionKeyMessage {
        chain_id: stack.chain_id,
        contract: stack.contract,
        account: responder.address(),
    };
    let responder_key = message.derive(&responder).await.unwrap();
    let released = responder_key.open_category_key(id, &released.sealedKey).unwrap();
    assert_eq!(released.as_bytes(), &emergency_keys[0]);

    // After shutdown, no process and no port is left.
    let pids = dev.pids();
    assert_eq!(pids.len(), 2, "anvil and kubo");
    assert!(pids.iter().all(|&pid| exists(pid)));
    let sockets =
        [&stack.rpc_url, &stack.gateway_url, &stack.indexer_url, &stack.ipfs_api_url].map(socket);
    assert!(sockets.iter().all(|&socket| answers(socket)));
    dev.shutdown().await;
    for pid in pids {
        assert!(!exists(pid), "process {pid} is still there");
    }
    for socket in sockets {
        assert!(!answers(socket), "{socket} still answers");
    }
}
