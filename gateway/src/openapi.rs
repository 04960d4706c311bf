//! `GET /openapi.json`: the OpenAPI 3.1 document of every route.
//!
//! Written by hand, next to the routes: a test checks that the router and
//! this document list the same routes, so neither drifts.

use axum::{Json, response::IntoResponse};
use serde_json::{Value, json};

/// The error body every failure returns.
fn error_schema() -> Value {
    json!({
        "type": "object",
        "required": ["error", "message"],
        "properties": {
            "error": {"type": "string", "description": "A stable code, e.g. `unauthenticated`, `reverted`, `rate_limited`."},
            "message": {"type": "string", "description": "A sentence for people."},
            "revert": {"type": "string", "description": "The contract error's name, for `reverted`."},
            "expected": {"type": "integer", "description": "Where the next part of an upload session starts, for `wrong_offset`."}
        }
    })
}

fn errors(codes: &[u16]) -> Value {
    let mut responses = serde_json::Map::new();
    for code in codes {
        responses.insert(
            code.to_string(),
            json!({"description": "An error.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}),
        );
    }
    Value::Object(responses)
}

fn merge(mut a: Value, b: Value) -> Value {
    if let (Some(a), Value::Object(b)) = (a.as_object_mut(), b) {
        a.extend(b);
    }
    a
}

/// The document.
pub fn document() -> Value {
    let secured = json!([{"bearer": []}]);
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "MedVault gateway",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Sign-in with Ethereum, relayed signed actions, encrypted records on IPFS. Every route but /health, /metrics, /openapi.json and /config.json needs a session token (Authorization: Bearer). Errors are JSON: {error, message}."
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Error": error_schema()}
        },
        "paths": {
            "/health": {"get": {
                "summary": "Whether the chain and Kubo answer.",
                "responses": {"200": {"description": "Both answer."}, "503": {"description": "One does not; the body says which."}}
            }},
            "/metrics": {"get": {
                "summary": "Counters in the Prometheus text format.",
                "responses": {"200": {"description": "The counters.", "content": {"text/plain": {}}}}
            }},
            "/openapi.json": {"get": {
                "summary": "This document.",
                "responses": {"200": {"description": "The document."}}
            }},
            "/config.json": {"get": {
                "summary": "What the web page needs: chain id, MedVault and its forwarder, the deployment block, the sign-in domain, the indexer's URL (null when the gateway was not told it).",
                "responses": {"200": {"description": "`{chainId, contract, forwarder, deploymentBlock, domain, indexerUrl}`."}}
            }},
            "/v1/auth/nonce": {"post": {
                "summary": "A single-use sign-in nonce with its expiry.",
                "responses": merge(json!({"200": {"description": "`{nonce, expiresAt}`."}}), errors(&[429, 503]))
            }},
            "/v1/auth/verify": {"post": {
                "summary": "Checks an EIP-4361 message and its signature (EOA or ERC-1271) and returns a session token.",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["message", "signature"],
                    "properties": {"message": {"type": "string"}, "signature": {"type": "string", "description": "0x-hex"}}
                }}}},
                "responses": merge(json!({"200": {"description": "`{token, address, expiresAt}`."}}), errors(&[400, 401, 413, 429, 503]))
            }},
            "/v1/relay": {"post": {
                "summary": "Simulates, submits and awaits a forwarder `...BySig` call. An `Idempotency-Key` header makes retries return the first result.",
                "security": secured,
                "parameters": [{"name": "Idempotency-Key", "in": "header", "required": false, "schema": {"type": "string", "maxLength": 255}}],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["calldata"],
                    "properties": {"calldata": {"type": "string", "description": "0x-hex forwarder calldata with its selector."}}
                }}}},
                "responses": merge(
                    json!({"200": {"description": "`{function, signer, transactionHash, blockNumber}`."}}),
                    errors(&[400, 401, 403, 404, 409, 413, 422, 429, 503, 504])
                )
            }},
            "/v1/records": {"post": {
                "summary": "Streams a record (mode=client, the default) or plaintext that the gateway encrypts (mode=server) into Kubo; returns the pending upload and the AddRecord typed data for the signed-in author to sign. With signed=true, the body's last 101 bytes after the record are the CID the author computed for it (36) and the author's signature of that AddRecord (65; the forwarder's current nonce, `deadline`): when it is the author's over the CID and hash stored, the record is committed in the same request and the answer carries `committed`; otherwise the upload stays pending. An `Idempotency-Key` header makes a retry return the same upload.",
                "security": secured,
                "parameters": [
                    {"name": "mode", "in": "query", "required": false, "schema": {"type": "string", "enum": ["client", "server"]}},
                    {"name": "signed", "in": "query", "required": false, "schema": {"type": "boolean"}},
                    {"name": "deadline", "in": "query", "required": false, "schema": {"type": "integer"}},
                    {"name": "patient", "in": "query", "required": true, "schema": {"type": "string"}},
                    {"name": "category", "in": "query", "required": true, "schema": {"type": "integer"}},
                    {"name": "Idempotency-Key", "in": "header", "required": false, "schema": {"type": "string", "maxLength": 255}}
                ],
                "requestBody": {"required": true, "content": {"application/octet-stream": {}}},
                "responses": merge(json!({"200": {"description": "`{upload, nonce, typed_data, signing_hash}`, and `committed` `{record_id, tx_hash, block_number}` when a signed upload was committed."}}), errors(&[400, 401, 403, 404, 413, 422, 429, 503, 504]))
            }},
            "/v1/upload-sessions": {"post": {
                "summary": "Opens an upload session: a client-side record (the query of POST /v1/records, mode=client) sent in parts, all piped into one Kubo add. The session is the signed-in address's. An `Idempotency-Key` that names a stored upload answers `{done}` at once.",
                "security": secured,
                "parameters": [
                    {"name": "patient", "in": "query", "required": true, "schema": {"type": "string"}},
                    {"name": "category", "in": "query", "required": true, "schema": {"type": "integer"}},
                    {"name": "Idempotency-Key", "in": "header", "required": false, "schema": {"type": "string", "maxLength": 255}}
                ],
                "responses": merge(json!({"200": {"description": "`{id, part_limit}`, or `{done: {upload, nonce, typed_data, signing_hash}}`."}}), errors(&[400, 401, 403, 429, 503]))
            }},
            "/v1/upload-sessions/{id}": {"put": {
                "summary": "A part of the session's record, starting at byte `offset` (the bytes received so far; 409 `wrong_offset` with `expected` otherwise). Without `last`: `{received}`. With `last=true`: the record is stored and the answer is POST /v1/records's. A session that gets no byte for the idle time is abandoned and nothing of it is pinned.",
                "security": secured,
                "parameters": [
                    {"name": "id", "in": "path", "required": true, "schema": {"type": "string"}},
                    {"name": "offset", "in": "query", "required": true, "schema": {"type": "integer"}},
                    {"name": "last", "in": "query", "required": false, "schema": {"type": "boolean"}}
                ],
                "requestBody": {"required": true, "content": {"application/octet-stream": {}}},
                "responses": merge(json!({"200": {"description": "`{received}`, or `{upload, nonce, typed_data, signing_hash}` after the last part."}}), errors(&[400, 401, 403, 404, 409, 413, 429, 503]))
            }},
            "/v1/uploads/{id}/commit": {"post": {
                "summary": "Relays the author's signed add-record of a pending upload and awaits its receipt.",
                "security": secured,
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["deadline", "signature"],
                    "properties": {"deadline": {"type": "integer"}, "signature": {"type": "string", "description": "0x-hex"}}
                }}}},
                "responses": merge(json!({"200": {"description": "`{record_id, tx_hash, block_number}`."}}), errors(&[400, 401, 403, 404, 422, 429, 503]))
            }},
            "/v1/records/{id}/keys": {"get": {
                "summary": "The caller's key envelopes and the record's fingerprint, after canRead on chain.",
                "security": secured,
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": merge(json!({"200": {"description": "The grant."}}), errors(&[401, 403, 404, 429, 503]))
            }},
            "/v1/records/{id}": {"get": {
                "summary": "The record's ciphertext, streamed from Kubo after canRead on chain; logged in the access log.",
                "security": secured,
                "parameters": [
                    {"name": "id", "in": "path", "required": true, "schema": {"type": "string"}},
                    {"name": "purpose", "in": "query", "required": false, "schema": {"type": "string", "maxLength": 64}}
                ],
                "responses": merge(json!({"200": {
                    "description": "The ciphertext.",
                    "headers": {
                        "X-MedVault-Sha256": {"description": "The record's SHA-256.", "schema": {"type": "string"}},
                        "X-MedVault-Grant": {"description": "The caller's grant (as the keys route returns it), when at most 8 KiB.", "schema": {"type": "string"}}
                    },
                    "content": {"application/octet-stream": {}}
                }}), errors(&[401, 403, 404, 429, 503]))
            }},
            "/v1/access-log": {"get": {
                "summary": "The caller's accounting of disclosures, with the links and anchors to check it against the chain.",
                "security": secured,
                "responses": merge(json!({"200": {"description": "The accounting."}}), errors(&[401, 429]))
            }}
        }
    })
}

/// `GET /openapi.json`.
pub async fn handler() -> impl IntoResponse {
    Json(document())
}
