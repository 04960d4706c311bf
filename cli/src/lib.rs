//! The `medvault` command.
//!
//! Today it runs the local stack (`medvault dev`): Anvil and an isolated
//! Kubo on loopback, with the contracts compiled and deployed. The indexer,
//! the gateway, demo identities and every actor's commands (patient, doctor,
//! organisation, governance, device) join it with their issues. Each
//! subcommand is a module with an `Args` struct and a `run` function, so that
//! `main.rs` only parses and dispatches.

pub mod dev;
pub mod stack;
