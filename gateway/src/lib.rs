//! The MedVault gateway: the HTTP service that moves the bytes and pays the
//! gas.
//!
//! It holds sign-in with Ethereum (EIP-4361) sessions; streaming upload of
//! records to Kubo ([`ipfs`], [`upload`]), encrypted on the client or, for
//! hospital systems, on the fly in the gateway; download of ciphertext and
//! key envelopes after an on-chain `canRead` check ([`download`]); uploads
//! whose transaction has not landed yet ([`pending`]); the emergency key
//! custodian; and the hash-chained access log anchored on chain
//! ([`access_log`]). It never holds a user's wallet key and never writes
//! plaintext to disk or to IPFS.

pub mod access_log;
pub mod custodian;
pub mod download;
pub mod ipfs;
pub mod pending;
pub mod upload;
