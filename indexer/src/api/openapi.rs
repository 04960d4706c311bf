//! `/openapi.json`: the API described in OpenAPI 3.1, written by hand.
//!
//! Every path of [`super::routes`] is here (a test checks it both ways), with
//! its parameters and the shape of its answer: a page (`block`, `items`,
//! `next`), one item (`block`, `item`), or its own.

use axum::Json;
use serde_json::{Map, Value, json};

/// A path parameter.
fn path(name: &str, description: &str) -> Value {
    json!({ "name": name, "in": "path", "required": true, "description": description, "schema": { "type": "string" } })
}

/// An optional query parameter.
fn query(name: &str, description: &str, schema: Value) -> Value {
    json!({ "name": name, "in": "query", "required": false, "description": description, "schema": schema })
}

fn address() -> Value {
    json!({ "type": "string", "pattern": "^0x[0-9a-fA-F]{40}$" })
}

fn page_params() -> [Value; 2] {
    [
        query("cursor", "`next` of the previous page.", json!({ "type": "string" })),
        query(
            "limit",
            "Items per page, 1 to 500 (default 50).",
            json!({ "type": "integer", "minimum": 1, "maximum": 500 }),
        ),
    ]
}

fn status(values: &[&str], description: &str) -> Value {
    query("status", description, json!({ "type": "string", "enum": values }))
}

/// A GET operation answering `schema`, with the usual errors.
fn get(summary: &str, parameters: Vec<Value>, schema: &str) -> Value {
    json!({ "get": {
        "summary": summary,
        "parameters": parameters,
        "responses": {
            "200": { "description": "OK", "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } } },
            "400": { "$ref": "#/components/responses/BadParameter" },
            "404": { "$ref": "#/components/responses/NotFound" },
            "503": { "$ref": "#/components/responses/NotReady" },
        },
    }})
}

/// A paginated list: `parameters` plus `cursor` and `limit`.
fn list(summary: &str, mut parameters: Vec<Value>) -> Value {
    parameters.extend(page_params());
    get(summary, parameters, "Page")
}

/// The OpenAPI document of the API.
pub fn document() -> Value {
    let who = |role: &str| path("address", &format!("The {role}'s address."));
    let id = |what: &str| path("id", &format!("The {what} id, decimal or 0x-hex."));
    let grant_status =
        status(&["live", "expired", "revoked"], "The grant's state at the answer's block time.");
    let request_status = status(&["pending", "approved", "denied"], "The request's state.");
    let mut paths = Map::new();
    let mut add = |p: &str, op: Value| {
        paths.insert(p.to_owned(), op);
    };
    add(
        "/v1/head",
        get(
            "The block the index has reached.",
            vec![query(
                "min_block",
                "Wait (up to 5 s) until the index has reached this block, then answer.",
                json!({ "type": "integer", "minimum": 0 }),
            )],
            "Head",
        ),
    );
    add(
        "/v1/participants",
        list(
            "Accounts that hold a role now.",
            vec![
                json!({ "name": "role", "in": "query", "required": true, "schema": { "type": "string", "enum": ["patient", "organisation", "staff", "doctor", "nurse", "lab", "emergency", "guardian", "device", "custodian", "relayer"] } }),
                query("organisation", "Staff of this organisation.", address()),
                query("patient", "Guardians, devices or custodians of this patient.", address()),
            ],
        ),
    );
    add(
        "/v1/participants/{address}",
        get("An account's current roles and encryption key.", vec![who("account")], "Item"),
    );
    add(
        "/v1/patients/{address}/records",
        list(
            "A patient's records, in chain order.",
            vec![
                who("patient"),
                query(
                    "category",
                    "Only this category (0 to 63).",
                    json!({ "type": "integer", "minimum": 0, "maximum": 63 }),
                ),
                query(
                    "from",
                    "Only records from blocks at or after this time (seconds).",
                    json!({ "type": "integer" }),
                ),
                query(
                    "to",
                    "Only records from blocks before this time (seconds).",
                    json!({ "type": "integer" }),
                ),
            ],
        ),
    );
    add("/v1/records/{id}", get("One record header.", vec![id("record")], "Item"));
    add(
        "/v1/records/{id}/grants",
        list(
            "The current grant of each grantee on a record.",
            vec![id("record"), grant_status.clone()],
        ),
    );
    add(
        "/v1/patients/{address}/grants",
        list("A patient's current category grants.", vec![who("patient"), grant_status.clone()]),
    );
    add(
        "/v1/grantees/{address}/grants",
        list("The category grants an account holds.", vec![who("grantee"), grant_status]),
    );
    add(
        "/v1/patients/{address}/requests",
        list("Access requests to a patient.", vec![who("patient"), request_status.clone()]),
    );
    add(
        "/v1/staff/{address}/requests",
        list("Access requests a staff member made.", vec![who("staff member"), request_status]),
    );
    add(
        "/v1/requests/{id}",
        get("One access request and its answer.", vec![id("request")], "Item"),
    );
    add(
        "/v1/recipients/{address}/envelopes",
        list(
            "Key envelopes sealed to an account.",
            vec![
                who("recipient"),
                query(
                    "record",
                    "What this record needs: its envelopes and its category epoch's.",
                    json!({ "type": "string" }),
                ),
                query("patient", "Category keys of this patient.", address()),
                query(
                    "category",
                    "Category keys of this category.",
                    json!({ "type": "integer", "minimum": 0, "maximum": 63 }),
                ),
                query(
                    "epoch",
                    "Category keys of this epoch.",
                    json!({ "type": "integer", "minimum": 0 }),
                ),
            ],
        ),
    );
    add(
        "/v1/patients/{address}/rotations",
        list(
            "A patient's category key rotations, to walk back epochs.",
            vec![
                who("patient"),
                query(
                    "category",
                    "Only this category.",
                    json!({ "type": "integer", "minimum": 0, "maximum": 63 }),
                ),
            ],
        ),
    );
    add(
        "/v1/break-glass",
        list(
            "Break-glass cases.",
            vec![
                query("patient", "Cases about this patient.", address()),
                query("organisation", "Cases of this organisation.", address()),
                query("staff", "Cases opened by this staff member.", address()),
                status(&["open", "closed"], "Open until reviewed."),
            ],
        ),
    );
    add("/v1/break-glass/{id}", get("One break-glass case.", vec![id("case")], "Item"));
    add(
        "/v1/alerts",
        list(
            "Alerts (severity only).",
            vec![
                query("patient", "Alerts about this patient.", address()),
                query(
                    "severity",
                    "At least this severity.",
                    json!({ "type": "integer", "minimum": 0, "maximum": 255 }),
                ),
            ],
        ),
    );
    add(
        "/v1/patients/{address}/audit",
        list(
            "Every event that touches a patient, and every access-log anchor, in chain order.",
            vec![who("patient")],
        ),
    );
    add(
        "/v1/stream",
        json!({ "get": {
            "summary": "Live events (server-sent events) for a patient or a grantee; `id:` is the chain position, resumable with Last-Event-ID; a `rollback` event `{to}` on reorgs.",
            "parameters": [
                query("patient", "Events that touch this patient.", address()),
                query("grantee", "Events whose grantee, staff or recipient is this account.", address()),
                { "name": "Last-Event-ID", "in": "header", "required": false, "schema": { "type": "string" } },
            ],
            "responses": {
                "200": { "description": "An event stream", "content": { "text/event-stream": { "schema": { "type": "string" } } } },
                "400": { "$ref": "#/components/responses/BadParameter" },
            },
        }}),
    );
    add(
        "/openapi.json",
        json!({ "get": { "summary": "This document.", "responses": { "200": { "description": "OpenAPI 3.1" } } } }),
    );
    add(
        "/health",
        json!({ "get": { "summary": "200 when the database answers and a block is indexed.", "responses": { "200": { "description": "healthy" }, "503": { "description": "not ready or database down" } } } }),
    );
    add(
        "/metrics",
        json!({ "get": { "summary": "Requests by route and status, latency, indexed head and rows, in Prometheus' text format.", "responses": { "200": { "description": "text/plain; version=0.0.4" } } } }),
    );

    let block = json!({ "type": "object", "required": ["number", "hash", "timestamp"], "properties": {
        "number": { "type": "integer" }, "hash": { "type": "string" },
        "timestamp": { "type": "integer", "description": "Seconds; grant states are as of this time." },
    }});
    let error = |description: &str| json!({ "description": description, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } });
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "MedVault indexer",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Contract events of MedVault, indexed. Every answer names the block it is consistent with.",
        },
        "paths": paths,
        "components": {
            "schemas": {
                "Block": block,
                "Head": { "type": "object", "properties": { "block": { "$ref": "#/components/schemas/Block" }, "chainId": { "type": "integer" } } },
                "Page": { "type": "object", "required": ["block", "items", "next"], "properties": {
                    "block": { "$ref": "#/components/schemas/Block" },
                    "items": { "type": "array", "items": { "type": "object" } },
                    "next": { "type": ["string", "null"], "description": "The cursor of the next page; null on the last." },
                }},
                "Item": { "type": "object", "required": ["block", "item"], "properties": {
                    "block": { "$ref": "#/components/schemas/Block" }, "item": { "type": "object" },
                }},
                "Error": { "type": "object", "required": ["error", "message"], "properties": {
                    "error": { "type": "string" }, "parameter": { "type": "string" }, "message": { "type": "string" },
                }},
            },
            "responses": {
                "BadParameter": error("A parameter is missing, malformed or not one of this route's; `parameter` names it."),
                "NotFound": error("No such id in the index."),
                "NotReady": error("Nothing indexed yet, or the database is unavailable."),
            },
        },
    })
}

/// `/openapi.json`.
pub(crate) async fn serve() -> Json<Value> {
    Json(document())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn every_route_is_documented_and_every_documented_path_is_a_route() {
        let routes: BTreeSet<&str> =
            super::super::routes().into_iter().map(|(path, _)| path).collect();
        let document = document();
        let documented: BTreeSet<&str> =
            document["paths"].as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(routes, documented);
        for (path, item) in document["paths"].as_object().unwrap() {
            // Every `{name}` of a path is declared as a path parameter.
            for name in path.split('/').filter_map(|s| s.strip_prefix('{')?.strip_suffix('}')) {
                let declared = item["get"]["parameters"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|p| p["in"] == "path" && p["name"] == name);
                assert!(declared, "{path} does not declare {name}");
            }
        }
    }
}
