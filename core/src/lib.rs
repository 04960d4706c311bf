//! The library every MedVault service and the CLI build on.
//!
//! It holds what must agree byte for byte across the system:
//!
//! - [`record`]: the encrypted record format, a versioned header followed by
//!   STREAM-sealed AES-256-GCM segments, encrypted and decrypted as streams in
//!   constant memory (`docs/record-format.md`).
//! - [`envelope`]: ECIES on secp256k1, byte-compatible with `eciesjs`, which
//!   seals keys to a participant's encryption key.
//! - [`keys`]: the key hierarchy (record keys wrapped under per-category,
//!   per-epoch keys, and the chain of previous keys) and the derivation of a
//!   participant's encryption key from a wallet signature (`docs/keys.md`).
//! - [`bindings`], [`sig`] and [`revert`]: the contracts' `sol!` bindings
//!   from the compiled Foundry artifacts, the EIP-712 signing of every
//!   `...BySig` action, and the contract's custom errors as sentences.
//!
//! `docs/` describes the formats; this crate is their reference
//! implementation.

pub mod bindings;
pub mod cid;
pub mod envelope;
pub mod keys;
pub mod record;
pub mod revert;
pub mod sig;
