//! The gateway against a real Anvil with MedVault deployed (and, for the
//! data path, a real Kubo): sign-in, sessions, the relay and its
//! idempotency, limits and the OpenAPI document; uploads in both modes,
//! permission-checked downloads, the access log and its anchors, and
//! recovery from failures at each step; records sent in parts through
//! upload sessions.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod auth;
mod custodian;
mod data;
mod failure;
mod harness;
mod http;
mod limits;
mod memory;
mod relay;
mod stack;
mod upload_sessions;
mod web;
