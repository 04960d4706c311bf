//! Body limits, rate limits, JSON errors, health, metrics and the OpenAPI
//! document.

use std::collections::BTreeSet;

use axum::http::{Method, StatusCode};
use medvault_gateway::config::Limits;
use serde_json::{Value, json};

use crate::harness::{Gateway, key};

#[tokio::test]
async fn the_openapi_document_lists_exactly_the_routes() {
    let gateway = Gateway::start().await;
    let (status, _, document) =
        gateway.request(Method::GET, "/openapi.json", None, &[], None).await;
    assert_eq!(status, StatusCode::OK);
    let documented: BTreeSet<(String, String)> = document["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, methods)| {
            methods
                .as_object()
                .unwrap()
                .keys()
                .map(move |method| (method.to_uppercase(), path.clone()))
        })
        .collect();
    let routed: BTreeSet<(String, String)> = medvault_gateway::routes()
        .added()
        .iter()
        .map(|(method, path)| (method.to_string(), (*path).to_owned()))
        .collect();
    assert_eq!(documented, routed);

    // Every documented route but the open ones wants a session.
    for (method, path) in &routed {
        if [
            "/health",
            "/metrics",
            "/openapi.json",
            "/config.json",
            "/v1/auth/nonce",
            "/v1/auth/verify",
        ]
        .contains(&path.as_str())
        {
            continue;
        }
        let (status, _, json) =
            gateway.request(method.parse().unwrap(), path, None, &[], Some(json!({}))).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}: {json}");
        let declared = &document["paths"][path][method.to_lowercase()]["security"];
        assert!(declared.is_array(), "{method} {path} does not declare its session");
    }
}

#[tokio::test]
async fn errors_are_json_with_stable_codes() {
    let gateway = Gateway::start().await;
    let (status, _, json) = gateway.request(Method::GET, "/nowhere", None, &[], None).await;
    assert_eq!((status, json["error"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));
    let (status, _, json) = gateway.request(Method::GET, "/v1/relay", None, &[], None).await;
    assert_eq!(
        (status, json["error"].as_str()),
        (StatusCode::METHOD_NOT_ALLOWED, Some("method_not_allowed"))
    );
    let token = gateway.sign_in(&key("alice")).await;
    let (status, _, json) = gateway
        .request(Method::POST, "/v1/relay", Some(&token), &[], Some(json!({"calldata": 12})))
        .await;
    assert_eq!(
        (status, json["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
}

#[tokio::test]
async fn a_body_over_the_limit_is_413() {
    let gateway = Gateway::with_limits(Limits { body_limit: 1_024, ..Limits::default() }).await;
    let token = gateway.sign_in(&key("alice")).await;
    let big = format!("0x{}", "00".repeat(2_048));
    let (status, json) = gateway.post("/v1/relay", Some(&token), json!({ "calldata": big })).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{json}");
    assert_eq!(json["error"], "payload_too_large");
}

#[tokio::test]
async fn sign_in_is_rate_limited_harder_than_the_rest() {
    let limits = Limits { sign_in_rate: 0.01, sign_in_burst: 3.0, ..Limits::default() };
    let gateway = Gateway::with_limits(limits).await;
    for _ in 0..3 {
        gateway.nonce().await;
    }
    let (status, headers, json) =
        gateway.request(Method::POST, "/v1/auth/nonce", None, &[], Some(json!({}))).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{json}");
    assert_eq!(json["error"], "rate_limited");
    assert!(headers.contains_key("retry-after"));
    // Other routes from the same address still pass.
    let (status, _, _) = gateway.request(Method::GET, "/openapi.json", None, &[], None).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_signed_in_address_is_rate_limited() {
    let limits = Limits { address_rate: 0.01, address_burst: 2.0, ..Limits::default() };
    let gateway = Gateway::with_limits(limits).await;
    let token = gateway.sign_in(&key("alice")).await;
    for _ in 0..2 {
        let (status, _) = gateway.post("/v1/relay", Some(&token), json!({"calldata": "0x"})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
    let (status, json) = gateway.post("/v1/relay", Some(&token), json!({"calldata": "0x"})).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{json}");
    // Bob has his own bucket.
    let token = gateway.sign_in(&key("bob")).await;
    let (status, _) = gateway.post("/v1/relay", Some(&token), json!({"calldata": "0x"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn health_names_what_is_down_and_metrics_count_requests() {
    let gateway = Gateway::start().await;
    // Kubo is not running in these tests.
    let (status, _, health) = gateway.request(Method::GET, "/health", None, &[], None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{health}");
    assert_eq!(health["chain"]["ok"], true);
    assert_eq!(health["ipfs"]["ok"], false);

    gateway.nonce().await;
    let (status, _, metrics) = gateway.request(Method::GET, "/metrics", None, &[], None).await;
    assert_eq!(status, StatusCode::OK);
    let Value::String(text) = metrics else { panic!("metrics are not text") };
    assert!(
        text.contains(r#"medvault_gateway_requests_total{route="/v1/auth/nonce",method="POST",status="200"} 1"#),
        "{text}"
    );
}

#[tokio::test]
async fn the_chain_down_is_a_503_with_a_clear_error() {
    let mut gateway = Gateway::start().await;
    let token = gateway.sign_in(&key("alice")).await;
    let calldata = gateway.register(&key("patient")).await;
    gateway.anvil.child_mut().kill().unwrap();
    gateway.anvil.child_mut().wait().unwrap();
    let (status, json) =
        gateway.post("/v1/relay", Some(&token), json!({ "calldata": calldata })).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{json}");
    assert_eq!(json["error"], "chain_unavailable");
    let (status, _, health) = gateway.request(Method::GET, "/health", None, &[], None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(health["chain"]["ok"], false);
}

#[tokio::test]
async fn health_is_ok_when_the_chain_and_kubo_answer() {
    let kubo = medvault_tests::KuboNode::spawn(&medvault_tests::Toolchain::locate()).await.unwrap();
    let gateway = Gateway::with(Limits::default(), kubo.api_url().parse().unwrap()).await;
    let (status, _, health) = gateway.request(Method::GET, "/health", None, &[], None).await;
    assert_eq!(status, StatusCode::OK, "{health}");
    assert_eq!(health["status"], "ok");
    assert!(health["ipfs"]["detail"].as_str().unwrap().starts_with("kubo "), "{health}");
}
