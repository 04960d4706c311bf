//! Logs for the crate's tests: placed in a block, with a timestamp and a
//! transaction, as a node would give them.

use alloy::{
    primitives::{Address, B256, U256},
    rpc::types::Log,
    sol_types::SolEvent,
};
use medvault_core::bindings::vault::IMedVault;

/// The chain the tests index.
pub(crate) const CHAIN: u64 = 31337;

/// The contract the tests' logs come from.
pub(crate) fn contract() -> Address {
    Address::repeat_byte(0xcc)
}

/// `event` as log `index` of block `block`, in a transaction of its own per
/// block and index.
pub(crate) fn log_at(event: &impl SolEvent, block: u64, index: u64) -> Log {
    Log {
        inner: alloy::primitives::Log { address: contract(), data: event.encode_log_data() },
        block_hash: Some(hash(block)),
        block_number: Some(block),
        block_timestamp: Some(1_000 + block),
        transaction_hash: Some(B256::with_last_byte(u8::try_from(block * 10 + index).unwrap())),
        transaction_index: Some(0),
        log_index: Some(index),
        removed: false,
    }
}

/// The hash the tests give block `block`.
pub(crate) fn hash(block: u64) -> B256 {
    B256::left_padding_from(&block.to_be_bytes())
}

/// A record of `patient`'s in category 3, made under `epoch`.
pub(crate) fn record(patient: Address, epoch: u32) -> IMedVault::RecordInput {
    IMedVault::RecordInput {
        patient,
        category: 3,
        cid: vec![1, 2, 3].into(),
        ciphertextHash: B256::repeat_byte(9),
        wrappedKey: vec![].into(),
        epoch,
        amends: U256::ZERO,
    }
}
