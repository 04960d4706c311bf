//! Where the tools installed by `scripts/bootstrap.sh` live.

use std::{
    env,
    path::{Path, PathBuf},
};

/// The environment variable that overrides the tools folder.
pub const TOOLS_BIN_ENV: &str = "MEDVAULT_TOOLS_BIN";

/// The folder of installed tools: `anvil`, `forge`, `cast`, `solc`, `ipfs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Toolchain {
    bin: PathBuf,
}

impl Toolchain {
    /// The tools in `$MEDVAULT_TOOLS_BIN` when set, else in this workspace's
    /// `.tools/bin`.
    pub fn locate() -> Self {
        let bin = env::var_os(TOOLS_BIN_ENV)
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace_root().join(".tools").join("bin"));
        Self::at(bin)
    }

    /// The tools in `bin`.
    pub fn at(bin: impl Into<PathBuf>) -> Self {
        Self { bin: bin.into() }
    }

    /// The folder the tools are in.
    pub fn bin(&self) -> &Path {
        &self.bin
    }

    /// The `anvil` binary.
    pub fn anvil(&self) -> Result<PathBuf, ToolchainError> {
        self.tool("anvil")
    }

    /// The `solc` command: solc-js behind the wrapper, or a native solc.
    pub fn solc(&self) -> Result<PathBuf, ToolchainError> {
        self.tool("solc")
    }

    /// Kubo's `ipfs` binary.
    pub fn ipfs(&self) -> Result<PathBuf, ToolchainError> {
        self.tool("ipfs")
    }

    fn tool(&self, name: &'static str) -> Result<PathBuf, ToolchainError> {
        let path = self.bin.join(name);
        if path.is_file() { Ok(path) } else { Err(ToolchainError::Missing { tool: name, path }) }
    }
}

/// The root of this Cargo workspace (the repository checkout).
pub fn workspace_root() -> &'static Path {
    // This crate lives in `<root>/tests`.
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir)
}

/// The Foundry project with MedVault's contracts.
pub fn contracts_dir() -> PathBuf {
    workspace_root().join("contracts")
}

/// A tool that is not installed.
#[derive(Debug, thiserror::Error)]
pub enum ToolchainError {
    /// The binary is not where the bootstrap script puts it.
    #[error("{tool} is not installed at {}; run `make bootstrap` (scripts/bootstrap.sh)", path.display())]
    Missing {
        /// The tool's name.
        tool: &'static str,
        /// Where it was looked for.
        path: PathBuf,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_tool_names_itself_and_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let err = Toolchain::at(dir.path()).anvil().unwrap_err();
        let message = err.to_string();
        assert!(message.starts_with("anvil is not installed at "), "{message}");
        assert!(message.contains("make bootstrap"), "{message}");
    }

    #[test]
    fn an_installed_tool_is_found() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ipfs"), b"").unwrap();
        assert_eq!(Toolchain::at(dir.path()).ipfs().unwrap(), dir.path().join("ipfs"));
    }

    #[test]
    fn the_workspace_root_holds_the_contracts() {
        assert!(contracts_dir().join("foundry.toml").is_file());
    }
}
