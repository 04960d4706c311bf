//! `medvault-deploy`: compiles MedVault's contracts and deploys them.

use std::{path::PathBuf, process::ExitCode};

use alloy::primitives::Address;
use anyhow::Context as _;
use clap::Parser;
use medvault_deploy::{ContractsCompiler, Deployer, KeySource, RoleRequest, Secret, locate_solc};

/// The environment variable that holds a keystore's password.
const PASSWORD_ENV: &str = "MEDVAULT_KEYSTORE_PASSWORD";

/// Compiles MedVault's contracts and deploys them to a JSON-RPC endpoint
/// (Anvil, a testnet) with their roles, and records the result in
/// <out>/<chain-id>.json. A second run with the same bytecode sends only what
/// is missing, usually nothing.
#[derive(Debug, Parser)]
#[command(name = "medvault-deploy", version)]
#[command(group(clap::ArgGroup::new("key").required(true).args(["private_key", "keystore", "mnemonic"])))]
struct Cli {
    /// The JSON-RPC endpoint, http or https.
    #[arg(
        long,
        env = "MEDVAULT_RPC_URL",
        default_value = "http://127.0.0.1:8545",
        hide_env_values = true
    )]
    rpc_url: String,

    /// The chain id the endpoint must serve; the run stops if it serves another.
    #[arg(long, env = "MEDVAULT_CHAIN_ID")]
    chain_id: Option<u64>,

    /// The deployer's private key, 64 hex digits. Prefer the environment
    /// variable or a keystore: other users can read command lines.
    #[arg(long, env = "MEDVAULT_PRIVATE_KEY", hide_env_values = true)]
    private_key: Option<Secret>,

    /// A foundry or geth keystore holding the deployer's key. Its password
    /// comes from --password-file or MEDVAULT_KEYSTORE_PASSWORD.
    #[arg(long, env = "MEDVAULT_KEYSTORE", value_name = "PATH")]
    keystore: Option<PathBuf>,

    /// A file holding the keystore's password (one line).
    #[arg(long, env = "MEDVAULT_PASSWORD_FILE", value_name = "PATH", requires = "keystore")]
    password_file: Option<PathBuf>,

    /// A BIP-39 mnemonic; the deployer is the account at --mnemonic-index.
    #[arg(long, env = "MEDVAULT_MNEMONIC", hide_env_values = true)]
    mnemonic: Option<Secret>,

    /// The mnemonic's account index i, for m/44'/60'/0'/0/i.
    #[arg(long, env = "MEDVAULT_MNEMONIC_INDEX", default_value_t = 0, value_name = "INDEX")]
    mnemonic_index: u32,

    /// The governance account. It is offered ownership after the relayers are
    /// set and must accept it (acceptOwnership). Default: the deployer on a
    /// first deployment, the recorded governance after.
    #[arg(long, env = "MEDVAULT_GOVERNANCE", value_name = "ADDRESS")]
    governance: Option<Address>,

    /// A relayer to enable (the gateway's account). Repeat it for more; the
    /// environment variable takes a comma-separated list.
    #[arg(
        long = "relayer",
        env = "MEDVAULT_RELAYERS",
        value_name = "ADDRESS",
        value_delimiter = ','
    )]
    relayers: Vec<Address>,

    /// The gateway's account that patients name as their emergency key
    /// custodian; recorded in the manifest.
    #[arg(long, env = "MEDVAULT_EMERGENCY_CUSTODIAN", value_name = "ADDRESS")]
    emergency_custodian: Option<Address>,

    /// The Foundry project to compile.
    #[arg(long, env = "MEDVAULT_CONTRACTS", default_value = "contracts", value_name = "DIR")]
    contracts: PathBuf,

    /// The solc to compile with. Default: <contracts>/../.tools/bin/solc,
    /// else the solc on PATH.
    #[arg(long, env = "MEDVAULT_SOLC", value_name = "PATH")]
    solc: Option<PathBuf>,

    /// The folder of the deployment manifests.
    #[arg(long, env = "MEDVAULT_DEPLOYMENTS", default_value = "deployments", value_name = "DIR")]
    out: PathBuf,
}

impl Cli {
    /// The key source chosen; clap's group guarantees exactly one.
    fn key_source(&self) -> anyhow::Result<KeySource> {
        if let Some(key) = &self.private_key {
            return Ok(KeySource::PrivateKey(key.clone()));
        }
        if let Some(phrase) = &self.mnemonic {
            return Ok(KeySource::Mnemonic { phrase: phrase.clone(), index: self.mnemonic_index });
        }
        let path = self.keystore.clone().context("no key given")?;
        let password = match &self.password_file {
            Some(file) => Secret::from_file(file)?,
            None => std::env::var(PASSWORD_ENV).map(Secret::new).map_err(|_| {
                anyhow::anyhow!(
                    "the keystore {} needs a password: give --password-file PATH or set {PASSWORD_ENV}",
                    path.display()
                )
            })?,
        };
        Ok(KeySource::Keystore { path, password })
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let source = cli.key_source()?;
    // Decrypting a keystore runs scrypt: keep it off the runtime's threads.
    let signer = tokio::task::spawn_blocking(move || source.signer())
        .await
        .context("the key task failed")?
        .context("cannot open the deployer's key")?;

    let deployer = Deployer::connect(&cli.rpc_url, signer, cli.chain_id).await?;
    eprintln!(
        "Connected to chain {} at {} as {}.",
        deployer.chain_id(),
        deployer.endpoint(),
        deployer.address()
    );

    let solc = cli.solc.clone().or_else(|| locate_solc(&cli.contracts)).with_context(|| {
        format!(
            "no solc found: neither {} nor a solc on PATH; run scripts/bootstrap.sh or give --solc",
            cli.contracts.join("../.tools/bin/solc").display()
        )
    })?;
    eprintln!("Compiling {} with {}.", cli.contracts.display(), solc.display());
    let compiler = ContractsCompiler::new(&cli.contracts, solc);
    let compiled = tokio::task::spawn_blocking(move || compiler.compile())
        .await
        .context("the compiler task failed")?
        .with_context(|| format!("cannot compile {}", cli.contracts.display()))?;
    let contract = compiled.contract("MedVault")?;

    let roles = RoleRequest {
        governance: cli.governance,
        relayers: cli.relayers,
        emergency_custodian: cli.emergency_custodian,
    };
    let report = deployer.run(contract, compiled.compiler_version(), &roles, &cli.out).await?;
    print!("{report}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    const KEY: &str = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn options_parse_and_the_key_stays_out_of_debug() {
        let cli = Cli::try_parse_from([
            "medvault-deploy",
            "--private-key",
            KEY,
            "--relayer",
            "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
            "--relayer",
            "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
            "--chain-id",
            "11155111",
        ])
        .unwrap();
        assert_eq!(cli.relayers.len(), 2);
        assert_eq!(cli.chain_id, Some(11155111));
        assert_eq!(cli.rpc_url, "http://127.0.0.1:8545");
        assert_eq!(cli.out, PathBuf::from("deployments"));
        assert!(matches!(cli.key_source().unwrap(), KeySource::PrivateKey(_)));
        assert!(!format!("{cli:?}").contains("ac0974"));
    }

    #[test]
    fn exactly_one_key_source_is_required() {
        let none = Cli::try_parse_from(["medvault-deploy"]).unwrap_err();
        assert_eq!(none.kind(), clap::error::ErrorKind::MissingRequiredArgument);
        let two = Cli::try_parse_from([
            "medvault-deploy",
            "--private-key",
            KEY,
            "--mnemonic",
            "test test test test test test test test test test test junk",
        ])
        .unwrap_err();
        assert_eq!(two.kind(), clap::error::ErrorKind::ArgumentConflict);
    }
}
