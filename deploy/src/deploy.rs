//! Sending a contract's creation transaction.

use alloy::{
    network::TransactionBuilder,
    primitives::{Address, Bytes, TxHash},
    providers::{PendingTransactionError, Provider},
    rpc::types::TransactionRequest,
    transports::TransportError,
};

use crate::CompiledContract;

/// Deploys `contract` with ABI-encoded constructor arguments `args`, waits for
/// the receipt and returns the new contract's address.
pub async fn deploy<P: Provider>(
    provider: &P,
    contract: &CompiledContract,
    args: &[u8],
) -> Result<Address, DeployError> {
    let mut code = contract.bytecode.to_vec();
    code.extend_from_slice(args);
    let tx = TransactionRequest::default().with_deploy_code(Bytes::from(code));
    let receipt = provider
        .send_transaction(tx)
        .await
        .map_err(|source| DeployError::Send { source })?
        .get_receipt()
        .await
        .map_err(|source| DeployError::Receipt { source })?;
    if !receipt.status() {
        return Err(DeployError::Reverted { tx: receipt.transaction_hash });
    }
    receipt.contract_address.ok_or(DeployError::NoAddress { tx: receipt.transaction_hash })
}

/// Why a deployment failed.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// The node refused the transaction (unfunded key, bad nonce, node down).
    #[error("the node did not accept the deployment")]
    Send {
        /// The RPC error.
        #[source]
        source: TransportError,
    },
    /// The transaction was sent but its receipt could not be obtained.
    #[error("the deployment was sent but no receipt came back")]
    Receipt {
        /// The error while waiting.
        #[source]
        source: PendingTransactionError,
    },
    /// The constructor reverted.
    #[error("the deployment transaction {tx} reverted")]
    Reverted {
        /// The transaction hash.
        tx: TxHash,
    },
    /// The receipt names no contract address.
    #[error("the receipt of {tx} names no contract address")]
    NoAddress {
        /// The transaction hash.
        tx: TxHash,
    },
}
