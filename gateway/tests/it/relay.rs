//! The relay: simulation, reverts as 4xx, the nonce manager, idempotency.

use alloy::{
    consensus::Transaction as _,
    network::EthereumWallet,
    primitives::{Address, aliases::U40},
    providers::Provider,
    signers::local::PrivateKeySigner,
};
use axum::http::{Method, StatusCode};
use medvault_core::{
    bindings::forwarder::MedVaultForwarder::MedVaultForwarderErrors as ForwarderError,
    revert::Revert, sig,
};
use medvault_gateway::{ApiError, idempotency::Claim, relay::Relayer};
use serde_json::json;
use std::time::{Duration, Instant};

use crate::harness::{Gateway, key};

#[tokio::test]
async fn a_signed_action_is_relayed_and_a_replay_names_the_used_nonce() {
    let gateway = Gateway::start().await;
    let patient = key("patient");
    let token = gateway.sign_in(&key("anyone")).await;
    let calldata = gateway.register(&patient).await;

    let before = gateway.relayer_nonce().await;
    let (status, json) =
        gateway.post("/v1/relay", Some(&token), json!({ "calldata": calldata })).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(json["function"], "registerBySig");
    assert_eq!(json["signer"].as_str().unwrap().parse::<Address>().unwrap(), patient.address());
    let hash = json["transactionHash"].as_str().unwrap().parse().unwrap();
    let receipt = gateway.provider.get_transaction_receipt(hash).await.unwrap().unwrap();
    assert!(receipt.status());
    assert_eq!(receipt.from, gateway.relayer);
    assert_eq!(json["blockNumber"], receipt.block_number.unwrap());
    assert_eq!(gateway.relayer_nonce().await, before + 1);

    // The same signature again: refused in simulation, nothing sent. The
    // forwarder checks the signature against the signer's current nonce, so
    // a used one no longer recovers to the signer.
    let (status, json) =
        gateway.post("/v1/relay", Some(&token), json!({ "calldata": calldata })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{json}");
    assert_eq!(json["error"], "reverted");
    assert_eq!(json["revert"], "InvalidSignature");
    assert!(json["message"].as_str().unwrap().contains("nonce"), "{json}");
    assert_eq!(gateway.relayer_nonce().await, before + 1);
}

#[tokio::test]
async fn a_contract_rule_comes_back_as_its_decoded_error() {
    let gateway = Gateway::start().await;
    let token = gateway.sign_in(&key("anyone")).await;
    // A grant of someone else's records.
    let stranger = key("stranger");
    let now = gateway.now().await;
    let calldata = gateway
        .signed(
            sig::Grant {
                patient: Address::repeat_byte(9),
                grantee: Address::repeat_byte(7),
                read_mask: 2,
                write_mask: 0,
                expiry: U40::from(now + 86_400),
            },
            &stranger,
        )
        .await;
    let (status, json) =
        gateway.post("/v1/relay", Some(&token), json!({ "calldata": calldata })).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{json}");
    assert_eq!(json["revert"], "NotManager");

    // A view function of the forwarder is not relayed.
    let nonces = alloy::sol_types::SolCall::abi_encode(
        &medvault_core::bindings::MedVaultForwarder::noncesCall { owner: stranger.address() },
    );
    let (status, json) = gateway
        .post(
            "/v1/relay",
            Some(&token),
            json!({ "calldata": alloy::primitives::Bytes::from(nonces) }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(json["error"], "not_relayable");
}

#[tokio::test]
async fn a_retry_with_the_same_key_returns_the_first_result_and_sends_nothing() {
    let gateway = Gateway::start().await;
    let token = gateway.sign_in(&key("hospital system")).await;
    let calldata = gateway.register(&key("patient")).await;
    let body = json!({ "calldata": calldata });
    let key_header = [("idempotency-key", "register-patient-1")];

    let before = gateway.relayer_nonce().await;
    let (status, headers, first) = gateway
        .request(Method::POST, "/v1/relay", Some(&token), &key_header, Some(body.clone()))
        .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert!(headers.get("idempotent-replayed").is_none());
    let (status, headers, second) = gateway
        .request(Method::POST, "/v1/relay", Some(&token), &key_header, Some(body.clone()))
        .await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_eq!(headers["idempotent-replayed"], "true");
    assert_eq!(second, first);
    assert_eq!(gateway.relayer_nonce().await, before + 1, "one transaction on chain");

    // Another body under the same key.
    let other = gateway.register(&key("another patient")).await;
    let (status, _, json) = gateway
        .request(
            Method::POST,
            "/v1/relay",
            Some(&token),
            &key_header,
            Some(json!({ "calldata": other })),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{json}");
    assert_eq!(json["error"], "idempotency_key_reused");

    // Another caller's key of the same name is theirs.
    let token = gateway.sign_in(&key("another system")).await;
    let (status, _, json) = gateway
        .request(
            Method::POST,
            "/v1/relay",
            Some(&token),
            &key_header,
            Some(json!({ "calldata": other })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(gateway.relayer_nonce().await, before + 2);
}

#[tokio::test]
async fn concurrent_relays_share_one_nonce_sequence_and_survive_a_foreign_transaction() {
    let gateway = Gateway::start().await;
    let token = gateway.sign_in(&key("anyone")).await;
    let mut calls = Vec::new();
    for i in 0..8 {
        calls.push(gateway.register(&key(&format!("patient {i}"))).await);
    }
    let before = gateway.relayer_nonce().await;
    let results =
        futures_util::future::join_all(calls.iter().map(|calldata| {
            gateway.post("/v1/relay", Some(&token), json!({ "calldata": calldata }))
        }))
        .await;
    for (status, json) in &results {
        assert_eq!(*status, StatusCode::OK, "{json}");
    }
    assert_eq!(gateway.relayer_nonce().await, before + 8);

    // Someone else spends the relayer's next nonce (another process with the
    // same key): the cached nonce is stale, and the next relay resyncs.
    let relayer = alloy::signers::local::PrivateKeySigner::from(gateway.anvil.keys()[1].clone());
    let foreign = alloy::providers::ProviderBuilder::new()
        .wallet(alloy::network::EthereumWallet::from(relayer.clone()))
        .connect_http(gateway.anvil.endpoint_url());
    let tx = alloy::rpc::types::TransactionRequest::default()
        .to(relayer.address())
        .value(alloy::primitives::U256::from(1));
    foreign.send_transaction(tx).await.unwrap().get_receipt().await.unwrap();
    let calldata = gateway.register(&key("late patient")).await;
    let (status, json) =
        gateway.post("/v1/relay", Some(&token), json!({ "calldata": calldata })).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(gateway.relayer_nonce().await, before + 10);
    let _ = relayer.address();
}

/// One simulation sizes the gas. A call that sets a slot and clears it again
/// gets the largest refund EIP-3529 allows, so its gas used is the furthest
/// below what it needs; the limit still covers Anvil's estimate (a binary
/// search for what it needs) with the same fifth of headroom as before, and
/// the transaction lands.
#[tokio::test]
async fn a_gas_limit_from_one_simulation_covers_a_refund_and_lands() {
    let gateway = Gateway::start().await;
    let refunding = Address::repeat_byte(0x42);
    // PUSH1 1 PUSH1 0 SSTORE PUSH1 0 PUSH1 0 SSTORE STOP
    let code = alloy::primitives::Bytes::from_static(&[
        0x60, 0x01, 0x60, 0x00, 0x55, 0x60, 0x00, 0x60, 0x00, 0x55, 0x00,
    ]);
    let () = gateway.provider.raw_request("anvil_setCode".into(), (refunding, code)).await.unwrap();
    let estimate = gateway
        .provider
        .estimate_gas(
            alloy::rpc::types::TransactionRequest::default().from(gateway.relayer).to(refunding),
        )
        .await
        .unwrap();

    let relayer = &gateway.state.relayer;
    let hash = relayer.submit(refunding, Default::default(), |_| async { Ok(()) }).await.unwrap();
    let receipt = relayer.wait_for_receipt(hash).await.unwrap();
    assert!(receipt.status());
    assert!(receipt.gas_used < estimate * 4 / 5, "the refund is not the largest: {receipt:?}");
    let sent = gateway.provider.get_transaction_by_hash(hash).await.unwrap().unwrap();
    assert!(
        sent.gas_limit() >= estimate + estimate / 5,
        "gas limit {} below the estimate {estimate} and its headroom",
        sent.gas_limit()
    );
}

/// A node that refuses `eth_simulateV1` still gets its simulation and its
/// decoded reverts, through `eth_call` and `eth_estimateGas`.
#[tokio::test]
async fn without_simulate_v1_a_relay_lands_and_a_revert_is_decoded() {
    let gateway = Gateway::start().await;
    let relayer_key = PrivateKeySigner::from(gateway.anvil.keys()[1].clone());
    let relayer = Relayer::new(
        gateway.state.chain.clone(),
        EthereumWallet::from(relayer_key),
        Duration::from_secs(30),
    )
    .without_simulate_v1();
    let calldata = gateway.register(&key("patient")).await;
    let relayed = relayer.relay(calldata.clone()).await.unwrap();
    assert_eq!(relayed.function, "registerBySig");
    match relayer.relay(calldata).await {
        Err(ApiError::Reverted(Revert::Forwarder(ForwarderError::InvalidSignature(_)))) => {}
        other => panic!("a replay was not refused in simulation: {other:?}"),
    }
}

/// A gateway, a hospital system's session token, and a patient's signed
/// registration to relay.
async fn signed_in_with_a_registration() -> (Gateway, String, alloy::primitives::Bytes) {
    let gateway = Gateway::start().await;
    let token = gateway.sign_in(&key("hospital system")).await;
    let calldata = gateway.register(&key("patient")).await;
    (gateway, token, calldata)
}

/// A first attempt's claim of key `k` for relaying `calldata`, as the
/// hospital system.
async fn claim(gateway: &Gateway, calldata: &[u8]) -> medvault_gateway::idempotency::Ticket {
    let request_hash = medvault_gateway::idempotency::request_hash(b"relay", calldata);
    let claimed = gateway.state.idempotency.claim(
        key("hospital system").address(),
        "k",
        "relay",
        request_hash,
    );
    let Claim::Fresh { ticket, sent: None } = claimed.await.unwrap() else {
        panic!("a new key was not fresh")
    };
    ticket
}

#[tokio::test]
async fn a_retry_after_a_crash_past_the_send_finds_the_sent_transaction() {
    let (gateway, token, calldata) = signed_in_with_a_registration().await;
    let body = json!({ "calldata": calldata });

    // A first attempt claims the key, records and sends the transaction, and
    // dies before it stores the result.
    let before = gateway.relayer_nonce().await;
    let ticket = claim(&gateway, &calldata).await;
    let first = gateway
        .state
        .relayer
        .relay_with(calldata.clone(), |hash| ticket.record_sent(hash))
        .await
        .unwrap();
    drop(ticket);

    // The retry answers with that transaction and sends nothing.
    let (status, _, json) = gateway
        .request(Method::POST, "/v1/relay", Some(&token), &[("idempotency-key", "k")], Some(body))
        .await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(json["transactionHash"], first.transaction_hash.to_string());
    assert_eq!(gateway.relayer_nonce().await, before + 1);
}

#[tokio::test]
async fn a_retry_while_the_first_transaction_is_pending_waits_for_it() {
    use alloy::providers::{Provider as _, ext::AnvilApi as _};

    let (gateway, token, calldata) = signed_in_with_a_registration().await;
    let body = json!({ "calldata": calldata });

    // A first attempt claims the key, sends the transaction and dies before
    // the next block.
    let before = gateway.relayer_nonce().await;
    let ticket = claim(&gateway, &calldata).await;
    gateway.provider.anvil_set_auto_mine(false).await.unwrap();
    let first = gateway
        .state
        .relayer
        .submit(*gateway.forwarder.address(), calldata.clone(), |hash| ticket.record_sent(hash))
        .await
        .unwrap();
    drop(ticket);

    // The retry waits for that transaction instead of sending another.
    let retry = async {
        let answer = gateway
            .request(
                Method::POST,
                "/v1/relay",
                Some(&token),
                &[("idempotency-key", "k")],
                Some(body),
            )
            .await;
        (answer, Instant::now())
    };
    let block = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let pending = gateway.provider.get_transaction_count(gateway.relayer).pending();
        assert_eq!(pending.await.unwrap(), before + 1, "one transaction waits, not two");
        let mined_at = Instant::now();
        gateway.provider.anvil_mine(Some(1), None).await.unwrap();
        gateway.provider.anvil_set_auto_mine(true).await.unwrap();
        mined_at
    };
    let (((status, _, json), answered_at), mined_at) = tokio::join!(retry, block);
    assert!(answered_at > mined_at, "the retry answered before the transaction was mined");
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(json["transactionHash"], first.to_string());
    assert_eq!(gateway.relayer_nonce().await, before + 1);
}
