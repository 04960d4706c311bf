//! The MedVault gateway: the HTTP service that moves the bytes and pays the
//! gas.
//!
//! It will hold an axum router with sign-in with Ethereum (EIP-4361)
//! sessions; streaming upload of records to Kubo, encrypted on the client or,
//! for hospital systems, on the fly in the gateway; download of ciphertext
//! and key envelopes after an on-chain `canRead` check; relaying of EIP-712
//! signed actions through one nonce manager; the emergency key custodian; and
//! the hash-chained access log anchored on chain. It never holds a user's
//! wallet key and never writes plaintext to disk or to IPFS.
//!
//! Nothing is implemented here yet: the gateway arrives with its own issue,
//! on top of `medvault-core`.
