//! The library every MedVault service and the CLI build on.
//!
//! It will hold what must agree byte for byte across the system: the contract
//! bindings generated with `sol!` from the compiled Foundry artifacts, the
//! encrypted record format (a versioned header followed by STREAM-sealed
//! segments), the derivation of a participant's encryption key from a wallet
//! signature, the ECIES key envelopes compatible with `eciesjs`, the key
//! hierarchy (record keys wrapped under per-category, per-epoch keys), the
//! EIP-712 types of every `...BySig` action, and the types shared by the HTTP
//! APIs. `docs/` describes the formats; this crate is their reference
//! implementation.
//!
//! Nothing is implemented here yet: the record format and keys arrive with the
//! `core` issue, once the contracts exist to bind to.
