//! Anvil, through alloy's node bindings.

use alloy::node_bindings::{Anvil, AnvilInstance, NodeError};

use crate::{Toolchain, ToolchainError};

/// An Anvil builder for the installed `anvil`, listening on 127.0.0.1 on a
/// port the kernel chooses. Add arguments (block time, accounts) before
/// spawning it.
pub fn anvil(tools: &Toolchain) -> Result<Anvil, ToolchainError> {
    Ok(Anvil::at(tools.anvil()?).host("127.0.0.1"))
}

/// Starts the installed Anvil with its defaults (chain id 31337, ten funded
/// accounts, a block per transaction). It stops when the instance is dropped.
pub fn spawn_anvil(tools: &Toolchain) -> Result<AnvilInstance, AnvilError> {
    Ok(anvil(tools)?.try_spawn()?)
}

/// Why Anvil could not be started.
#[derive(Debug, thiserror::Error)]
pub enum AnvilError {
    /// `anvil` is not installed.
    #[error(transparent)]
    Toolchain(#[from] ToolchainError),
    /// `anvil` did not start or did not report its address.
    #[error("anvil did not start")]
    Spawn(#[from] NodeError),
}
