//! Sign-in with Ethereum and sessions.

use alloy::{
    primitives::Address,
    signers::{Signer, local::PrivateKeySigner},
};
use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::harness::{Gateway, key};

#[tokio::test]
async fn a_signed_in_address_opens_session_routes_and_nothing_else_does() {
    let gateway = Gateway::start().await;
    let alice = key("alice");

    let (status, json) = gateway.post("/v1/relay", None, json!({"calldata": "0x"})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(json["error"], "unauthenticated");

    let token = gateway.sign_in(&alice).await;
    // Past the session check, the empty calldata is refused for what it is.
    let (status, json) = gateway.post("/v1/relay", Some(&token), json!({"calldata": "0x"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{json}");
    assert_eq!(json["error"], "not_relayable");

    // A tampered token: one digit of the address changed.
    let mut forged = token.clone().into_bytes();
    forged[5] = if forged[5] == b'0' { b'1' } else { b'0' };
    let forged = String::from_utf8(forged).unwrap();
    let (status, json) = gateway.post("/v1/relay", Some(&forged), json!({"calldata": "0x"})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{json}");
    let (status, _) =
        gateway.post("/v1/relay", Some("not-a-token"), json!({"calldata": "0x"})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_replayed_sign_in_message_is_refused() {
    let gateway = Gateway::start().await;
    let alice = key("alice");
    let nonce = gateway.nonce().await;
    let message = gateway.message(alice.address(), &nonce).await;
    let signature = alice.sign_message(message.as_bytes()).await.unwrap().as_bytes();

    let (status, json) = gateway.verify(&message, &signature).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(json["address"].as_str().unwrap().parse::<Address>().unwrap(), alice.address());
    let (status, json) = gateway.verify(&message, &signature).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(json["error"], "sign_in_refused");
    assert!(json["message"].as_str().unwrap().contains("nonce"), "{json}");
}

#[tokio::test]
async fn wrong_domain_chain_time_nonce_or_signer_is_refused() {
    let gateway = Gateway::start().await;
    let alice = key("alice");
    let chain = format!("Chain ID: {}", gateway.anvil.chain_id());
    let cases: [(&str, &dyn Fn(String) -> String); 5] = [
        ("is for evil.example", &|m| m.replacen("localhost:8080 wants", "evil.example wants", 1)),
        ("not on this gateway's domain", &|m| {
            m.replace("URI: http://localhost:8080", "URI: https://evil.example")
        }),
        ("for chain 1,", &|m: String| m.replace(&chain, "Chain ID: 1")),
        ("expired", &|m: String| {
            let (head, _) = m.split_once("\nExpiration Time: ").unwrap();
            format!("{head}\nExpiration Time: 2020-01-01T00:00:00Z")
        }),
        ("unknown, used or expired", &|m: String| {
            let (head, tail) = m.split_once("Nonce: ").unwrap();
            let (_, rest) = tail.split_once('\n').unwrap();
            format!("{head}Nonce: 0000000000000000\n{rest}")
        }),
    ];
    for (expected, change) in cases {
        let nonce = gateway.nonce().await;
        let message = change(gateway.message(alice.address(), &nonce).await);
        let signature = alice.sign_message(message.as_bytes()).await.unwrap().as_bytes();
        let (status, json) = gateway.verify(&message, &signature).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{expected}: {json}");
        assert!(json["message"].as_str().unwrap().contains(expected), "{expected}: {json}");
    }

    // Bob signs a message that names Alice.
    let nonce = gateway.nonce().await;
    let message = gateway.message(alice.address(), &nonce).await;
    let signature = key("bob").sign_message(message.as_bytes()).await.unwrap().as_bytes();
    let (status, json) = gateway.verify(&message, &signature).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(json["message"].as_str().unwrap().contains("is not"), "{json}");
    // ... and the nonce survives for Alice's own signature.
    let signature = alice.sign_message(message.as_bytes()).await.unwrap().as_bytes();
    assert_eq!(gateway.verify(&message, &signature).await.0, StatusCode::OK);

    // A message that is not EIP-4361 is a 400.
    let (status, json) = gateway.verify("hello", &signature).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{json}");
}

#[tokio::test]
async fn an_erc1271_contract_wallet_signs_in_with_its_owners_signature() {
    let gateway = Gateway::start().await;
    let owner = key("wallet owner");
    let wallet = gateway.contract_wallet(owner.address()).await;

    let sign_in_as = |signer: PrivateKeySigner, wallet: Address| {
        let gateway = &gateway;
        async move {
            let nonce = gateway.nonce().await;
            let message = gateway.message(wallet, &nonce).await;
            let signature = signer.sign_message(message.as_bytes()).await.unwrap().as_bytes();
            gateway.verify(&message, &signature).await
        }
    };
    let (status, json) = sign_in_as(key("stranger"), wallet).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(json["message"].as_str().unwrap().contains("contract wallet"), "{json}");

    let (status, json) = sign_in_as(owner, wallet).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(json["address"].as_str().unwrap().parse::<Address>().unwrap(), wallet);
    let token = json["token"].as_str().unwrap();
    let (status, _, _) = gateway
        .request(Method::POST, "/v1/relay", Some(token), &[], Some(json!({"calldata": "0x"})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}
