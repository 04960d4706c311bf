//! The web page on the gateway's origin: its files, its views' paths
//! answered with its `index.html`, the API's JSON 404 kept under `/v1/`,
//! and `/config.json`.

use std::net::SocketAddr;

use alloy::primitives::Address;

use axum::{
    body::Body,
    extract::connect_info::MockConnectInfo,
    http::{Request, StatusCode, header},
};
use http_body_util::BodyExt;
use medvault_gateway::{router_with_page, web::Page};
use serde_json::Value;
use tower::ServiceExt;

use crate::harness::{DOMAIN, Gateway};

async fn get(router: &axum::Router, path: &str) -> (StatusCode, String, String) {
    let response =
        router.clone().oneshot(Request::get(path).body(Body::empty()).unwrap()).await.unwrap();
    let status = response.status();
    let kind = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|value| value.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, kind, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn the_gateway_serves_the_page_and_its_configuration() {
    let gateway = Gateway::start().await;
    let dist = tempfile::tempdir().unwrap();
    std::fs::create_dir(dist.path().join("assets")).unwrap();
    std::fs::write(dist.path().join("index.html"), "<main id=\"app\"></main>").unwrap();
    std::fs::write(dist.path().join("assets/app.js"), "console.log(1)").unwrap();
    let page = Page {
        dir: dist.path().to_path_buf(),
        indexer_url: Some("http://127.0.0.1:9/".parse().unwrap()),
    };
    let router = router_with_page(gateway.state.clone(), page)
        .layer(MockConnectInfo(SocketAddr::from(([127, 0, 0, 1], 4000))));

    let (status, kind, body) = get(&router, "/").await;
    assert_eq!((status, kind.starts_with("text/html")), (StatusCode::OK, true));
    assert!(body.contains("id=\"app\""));
    let (status, kind, body) = get(&router, "/assets/app.js").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "console.log(1)"));
    assert!(kind.contains("javascript"), "{kind}");
    // A view's path, reloaded, still loads the page.
    let (status, _, body) = get(&router, "/patient/records").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("id=\"app\""));
    // The API keeps its JSON 404.
    let (status, kind, body) = get(&router, "/v1/nowhere").await;
    assert_eq!((status, kind.as_str()), (StatusCode::NOT_FOUND, "application/json"));
    assert!(body.contains("not_found"));

    let (status, _, body) = get(&router, "/config.json").await;
    assert_eq!(status, StatusCode::OK);
    let config: Value = serde_json::from_str(&body).unwrap();
    let chain = &gateway.state.chain;
    assert_eq!(config["chainId"], chain.chain_id);
    let address = |field: &str| config[field].as_str().unwrap().parse::<Address>().unwrap();
    assert_eq!(address("contract"), *chain.vault.address());
    assert_eq!(address("forwarder"), *chain.forwarder.address());
    assert_eq!(config["domain"], DOMAIN);
    assert_eq!(config["indexerUrl"], "http://127.0.0.1:9");
}
