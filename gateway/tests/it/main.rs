//! The gateway against a real Anvil with MedVault deployed: sign-in,
//! sessions, the relay and its idempotency, limits and the OpenAPI document.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod auth;
mod harness;
mod limits;
mod relay;
