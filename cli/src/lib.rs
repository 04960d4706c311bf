//! The `medvault` command.
//!
//! It runs the local stack (`medvault dev`, [`dev::DevStack`]: Anvil, Kubo,
//! the contracts, the indexer and the gateway on loopback, the demo
//! identities seeded, [`stack`]`.json` written) and every actor's actions
//! against it or any other deployment. Each subcommand is a module with its
//! arguments and a `run` function, so that `main.rs` only parses and
//! dispatches:
//!
//! - [`governance`]: organisations (governance) and their staff (`org`);
//! - [`patient`]: register, upload, grant, revoke, requests, guardians,
//!   devices, rotation, the audit trail, verification;
//! - [`doctor`]: requests, the patients' records, fetch, add-record,
//!   break-glass;
//! - [`device`]: a simulated vital-signs sensor;
//! - [`watch`]: the live stream of the indexer;
//! - [`demo`]: the whole story, every actor in turn, against a dev stack.
//!
//! They share [`context`] (the global options, `stack.json`, the key, the
//! signed-in [`gateway_client`] and the [`indexer_client`]), [`input`]
//! (every argument checked before anything is sent), [`keychain`] (the
//! category keys), [`transfer`] (streaming encryption and decryption with
//! progress bars) and [`output`] (readable lines or `--json`).

pub mod context;
pub mod demo;
pub mod dev;
pub mod device;
pub mod doctor;
pub mod files;
pub mod gateway_client;
pub mod governance;
pub mod indexer_client;
pub mod input;
pub mod keychain;
pub mod output;
pub mod patient;
pub mod stack;
pub mod transfer;
pub mod watch;
