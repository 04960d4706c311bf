//! The `medvault` command.
//!
//! Today it runs the local stack (`medvault dev`, [`dev::DevStack`]): Anvil
//! and an isolated Kubo on loopback, the contracts compiled and deployed,
//! the indexer and the gateway in-process, the demo identities seeded, and
//! [`stack`]`.json` written for every other command to read. Every actor's
//! commands (patient, doctor, organisation, governance, device) join it with
//! their issues. Each subcommand is a module with an `Args` struct and a
//! `run` function, so that `main.rs` only parses and dispatches.

pub mod dev;
pub mod stack;
