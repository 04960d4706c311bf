//! Sending a transaction and waiting for its receipt; a contract's creation
//! transaction in particular.

use std::time::Duration;

use alloy::{
    network::TransactionBuilder,
    primitives::{Address, Bytes, TxHash},
    providers::{PendingTransactionError, Provider},
    rpc::types::{TransactionReceipt, TransactionRequest},
    transports::TransportError,
};

use crate::CompiledContract;

/// How long to wait for a sent transaction's receipt. Anvil mines at once;
/// on a testnet a transaction priced at the node's own estimate is normally
/// in one of the next few blocks.
pub const RECEIPT_TIMEOUT: Duration = Duration::from_secs(300);

/// Deploys `contract` with ABI-encoded constructor arguments `args`, waits for
/// the receipt and returns the new contract's address.
pub async fn deploy<P: Provider>(
    provider: &P,
    contract: &CompiledContract,
    args: &[u8],
) -> Result<Address, DeployError> {
    let receipt = send(provider, creation_tx(contract, args)).await?;
    receipt.contract_address.ok_or(DeployError::NoAddress { tx: receipt.transaction_hash })
}

/// The transaction that creates `contract` with ABI-encoded constructor
/// arguments `args`.
pub fn creation_tx(contract: &CompiledContract, args: &[u8]) -> TransactionRequest {
    let mut code = contract.bytecode.to_vec();
    code.extend_from_slice(args);
    TransactionRequest::default().with_deploy_code(Bytes::from(code))
}

/// Sends `tx`, waits for its receipt (at most [`RECEIPT_TIMEOUT`]) and
/// returns it if the transaction succeeded.
pub async fn send<P: Provider>(
    provider: &P,
    tx: TransactionRequest,
) -> Result<TransactionReceipt, DeployError> {
    let receipt = provider
        .send_transaction(tx)
        .await
        .map_err(|source| DeployError::Send { source })?
        .with_timeout(Some(RECEIPT_TIMEOUT))
        .get_receipt()
        .await
        .map_err(|source| DeployError::Receipt { source })?;
    if !receipt.status() {
        return Err(DeployError::Reverted { tx: receipt.transaction_hash });
    }
    Ok(receipt)
}

/// Why a transaction failed.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// The node refused the transaction (unfunded key, bad nonce, node down).
    #[error("the node did not accept the transaction")]
    Send {
        /// The RPC error.
        #[source]
        source: TransportError,
    },
    /// The transaction was sent but its receipt could not be obtained.
    #[error("the transaction was sent but no receipt came back")]
    Receipt {
        /// The error while waiting.
        #[source]
        source: PendingTransactionError,
    },
    /// The transaction reverted.
    #[error("the transaction {tx} reverted")]
    Reverted {
        /// The transaction hash.
        tx: TxHash,
    },
    /// The receipt of a creation transaction names no contract address.
    #[error("the receipt of {tx} names no contract address")]
    NoAddress {
        /// The transaction hash.
        tx: TxHash,
    },
}
