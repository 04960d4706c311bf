//! Where the stack is and who is acting: the global options of every actor
//! command.
//!
//! [`GlobalArgs`] are the flags every command takes (`--stack`, the three
//! endpoints, the key, `--json`). [`Context::resolve`] reads `stack.json`
//! (found from the current folder upward) and lets flags and `MEDVAULT_*`
//! variables override it. [`Actor::connect`] opens the key, the chain, the
//! indexer and a signed-in gateway session, and [`Actor::relay`] signs a
//! `...BySig` action (EIP-712) and has the gateway submit it, so that no
//! actor but governance needs ETH.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    time::{SystemTime, UNIX_EPOCH},
};

use alloy::{
    primitives::{Address, Bytes},
    providers::{DynProvider, Provider, ProviderBuilder},
    signers::local::PrivateKeySigner,
    sol_types::{Eip712Domain, SolCall},
};
use medvault_core::{
    bindings::{MedVault, MedVaultForwarder},
    keys::{CategoryKey, CategoryKeyId, EncryptionKey, EncryptionKeyMessage},
    sig::{self, Action},
};
use medvault_deploy::signer::{KeySource, Secret};
use medvault_gateway::relay::Relayed;
use tokio::sync::{Mutex, OnceCell};
use url::Url;

use crate::{
    gateway_client::{GatewayClient, GatewayError},
    indexer_client::IndexerClient,
    input,
    stack::{self, Role, Stack, StackError},
};

/// How long a signed action stays valid: long enough for the relay to
/// land it, short enough that a leaked signature soon expires.
pub const SIGNATURE_WINDOW_SECS: u64 = 600;

/// How long an action waits for the indexer to reach its block before the
/// command goes on: far above the indexer's usual lag (milliseconds), far
/// below a person's patience.
pub const INDEX_PATIENCE: std::time::Duration = std::time::Duration::from_secs(30);

/// The options every actor command takes.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct GlobalArgs {
    /// The stack file (default: `.medvault/dev/stack.json` in this folder or
    /// the nearest parent that has one).
    #[arg(long, global = true, env = "MEDVAULT_STACK")]
    pub stack: Option<PathBuf>,
    /// The chain's JSON-RPC URL (overrides the stack file).
    #[arg(long, global = true, env = "MEDVAULT_RPC_URL")]
    pub rpc_url: Option<Url>,
    /// The gateway's URL (overrides the stack file).
    #[arg(long, global = true, env = "MEDVAULT_GATEWAY_URL")]
    pub gateway_url: Option<Url>,
    /// The domain the gateway expects in sign-in messages (default: the
    /// gateway URL's host and port).
    #[arg(long, global = true, env = "MEDVAULT_GATEWAY_DOMAIN")]
    pub gateway_domain: Option<String>,
    /// The indexer's URL (overrides the stack file).
    #[arg(long, global = true, env = "MEDVAULT_INDEXER_URL")]
    pub indexer_url: Option<Url>,
    /// The MedVault contract (overrides the stack file).
    #[arg(long, global = true, env = "MEDVAULT_CONTRACT", value_parser = input::address)]
    pub contract: Option<Address>,
    /// Act as this demo identity of the stack file (patient, doctor,
    /// emergency-doctor, hospital, governance, guardian, device).
    #[arg(long = "as", global = true, value_parser = input::role)]
    pub as_role: Option<Role>,
    /// The private key to act with, 64 hex digits. Prefer the environment
    /// variable: other users can read command lines.
    #[arg(long, global = true, env = "MEDVAULT_PRIVATE_KEY", hide_env_values = true)]
    pub private_key: Option<Secret>,
    /// A foundry or geth keystore holding the key to act with.
    #[arg(long, global = true, env = "MEDVAULT_KEYSTORE")]
    pub keystore: Option<PathBuf>,
    /// A file holding the keystore's password.
    #[arg(long, global = true, env = "MEDVAULT_PASSWORD_FILE")]
    pub password_file: Option<PathBuf>,
    /// The keystore's password.
    #[arg(long, global = true, env = "MEDVAULT_KEYSTORE_PASSWORD", hide_env_values = true)]
    pub password: Option<Secret>,
    /// Print the result as one JSON document.
    #[arg(long, global = true)]
    pub json: bool,
}

/// Why the context could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    /// The stack file is missing or broken, and the flags do not replace it.
    #[error(transparent)]
    Stack(#[from] StackError),
    /// An endpoint is given neither by the stack file nor by a flag.
    #[error("no {what}: pass --{flag} (or {env}), or start the local stack with `medvault dev`")]
    Missing {
        /// What is missing.
        what: &'static str,
        /// The flag that gives it.
        flag: &'static str,
        /// The environment variable that gives it.
        env: &'static str,
    },
    /// No key to act with.
    #[error("no key to act with: pass --as ROLE (a stack identity), --private-key or --keystore")]
    NoKey,
    /// A keystore without a password.
    #[error(
        "the keystore needs a password: pass --password-file or set MEDVAULT_KEYSTORE_PASSWORD"
    )]
    NoPassword,
    /// The password file could not be read, or the key opened.
    #[error(transparent)]
    Key(#[from] medvault_deploy::signer::SignerError),
    /// `--as` without a stack file.
    #[error("--as needs a stack file with demo identities")]
    NoIdentities,
    /// The chain did not answer.
    #[error("the chain at {url} did not answer")]
    Chain {
        /// The RPC URL.
        url: Box<Url>,
        /// The error.
        #[source]
        source: Box<alloy::transports::TransportError>,
    },
    /// The contract did not answer.
    #[error("the MedVault contract at {contract} did not answer: is it deployed on this chain?")]
    Contract {
        /// The contract.
        contract: Address,
        /// The error.
        #[source]
        source: Box<alloy::contract::Error>,
    },
    /// Sign-in failed.
    #[error("cannot sign in to the gateway: {0}")]
    SignIn(#[source] GatewayError),
    /// The key task failed.
    #[error("the key could not be opened")]
    KeyTask,
}

/// The resolved options: endpoints, the chain and the key source.
#[derive(Debug, Clone)]
pub struct Context {
    /// The stack file, when one was found.
    pub stack: Option<Stack>,
    /// The chain's JSON-RPC URL.
    pub rpc_url: Url,
    /// The gateway's URL.
    pub gateway_url: Option<Url>,
    /// The gateway's sign-in domain, when set.
    pub gateway_domain: Option<String>,
    /// The indexer's URL.
    pub indexer_url: Option<Url>,
    /// The MedVault contract.
    pub contract: Address,
    /// Print JSON.
    pub json: bool,
    args: GlobalArgs,
}

/// Finds `.medvault/dev/stack.json` in `start` or its nearest parent that has one.
pub fn find_stack(start: &Path) -> Option<PathBuf> {
    start.ancestors().map(stack::default_path).find(|path| path.is_file())
}

impl Context {
    /// Reads the stack file and applies the flags over it.
    pub fn resolve(args: GlobalArgs) -> Result<Self, ContextError> {
        let stack = match &args.stack {
            Some(path) => Some(Stack::load(path)?),
            None => std::env::current_dir()
                .ok()
                .and_then(|dir| find_stack(&dir))
                .map(|path| Stack::load(&path))
                .transpose()?,
        };
        let rpc_url =
            args.rpc_url.clone().or_else(|| stack.as_ref().map(|s| s.rpc_url.clone())).ok_or(
                ContextError::Missing {
                    what: "chain RPC URL",
                    flag: "rpc-url",
                    env: "MEDVAULT_RPC_URL",
                },
            )?;
        let contract = args.contract.or_else(|| stack.as_ref().map(|s| s.contract)).ok_or(
            ContextError::Missing {
                what: "contract address",
                flag: "contract",
                env: "MEDVAULT_CONTRACT",
            },
        )?;
        Ok(Self {
            gateway_url: args
                .gateway_url
                .clone()
                .or_else(|| stack.as_ref().map(|s| s.gateway_url.clone())),
            gateway_domain: args.gateway_domain.clone(),
            indexer_url: args
                .indexer_url
                .clone()
                .or_else(|| stack.as_ref().map(|s| s.indexer_url.clone())),
            json: args.json,
            stack,
            rpc_url,
            contract,
            args,
        })
    }

    /// The key to act with: `--as`, else `--private-key`, else `--keystore`.
    /// Decrypting a keystore is slow on purpose, so it runs off the runtime.
    pub async fn signer(&self) -> Result<PrivateKeySigner, ContextError> {
        if let Some(role) = self.args.as_role {
            let stack = self.stack.as_ref().ok_or(ContextError::NoIdentities)?;
            return Ok(stack.identity(role)?.signer()?);
        }
        let source = if let Some(key) = &self.args.private_key {
            KeySource::PrivateKey(key.clone())
        } else if let Some(path) = &self.args.keystore {
            let password = match (&self.args.password_file, &self.args.password) {
                (Some(file), _) => Secret::from_file(file)?,
                (None, Some(password)) => password.clone(),
                (None, None) => return Err(ContextError::NoPassword),
            };
            KeySource::Keystore { path: path.clone(), password }
        } else {
            return Err(ContextError::NoKey);
        };
        tokio::task::spawn_blocking(move || source.signer())
            .await
            .map_err(|_| ContextError::KeyTask)?
            .map_err(ContextError::Key)
    }

    /// The gateway's URL, or the sentence that says how to give it.
    pub fn gateway_url(&self) -> Result<Url, ContextError> {
        self.gateway_url.clone().ok_or(ContextError::Missing {
            what: "gateway URL",
            flag: "gateway-url",
            env: "MEDVAULT_GATEWAY_URL",
        })
    }

    /// The indexer, or the sentence that says how to give it.
    pub fn indexer(&self) -> Result<IndexerClient, ContextError> {
        self.indexer_url.clone().map(IndexerClient::new).ok_or(ContextError::Missing {
            what: "indexer URL",
            flag: "indexer-url",
            env: "MEDVAULT_INDEXER_URL",
        })
    }

    /// A read-only provider of the chain.
    pub fn provider(&self) -> DynProvider {
        ProviderBuilder::new().connect_http(self.rpc_url.clone()).erased()
    }
}

/// Someone acting: their key, the chain, the indexer and a gateway session.
#[derive(Debug)]
pub struct Actor {
    /// The resolved options.
    pub ctx: Context,
    /// Their wallet.
    pub signer: PrivateKeySigner,
    /// The chain (read-only; actions go through the gateway).
    pub provider: DynProvider,
    /// The MedVault contract.
    pub vault: MedVault::MedVaultInstance<DynProvider>,
    /// Its forwarder.
    pub forwarder: MedVaultForwarder::MedVaultForwarderInstance<DynProvider>,
    /// The chain id.
    pub chain_id: u64,
    /// The forwarder's EIP-712 domain.
    pub domain: Eip712Domain,
    /// The gateway, signed in as `signer`.
    pub gateway: GatewayClient,
    /// The indexer.
    pub indexer: IndexerClient,
    encryption: OnceCell<EncryptionKey>,
    category_keys: Mutex<HashMap<CategoryKeyId, CategoryKey>>,
}

impl Actor {
    /// Opens the key, reads the chain id and the forwarder, and signs in.
    pub async fn connect(ctx: Context) -> Result<Self, ContextError> {
        let signer = ctx.signer().await?;
        let provider = ctx.provider();
        let chain_id = provider.get_chain_id().await.map_err(|source| ContextError::Chain {
            url: Box::new(ctx.rpc_url.clone()),
            source: Box::new(source),
        })?;
        let vault = MedVault::new(ctx.contract, provider.clone());
        let forwarder_address = match ctx.stack.as_ref() {
            Some(stack) if stack.contract == ctx.contract => stack.forwarder,
            _ => vault.forwarder().call().await.map_err(|source| ContextError::Contract {
                contract: ctx.contract,
                source: Box::new(source),
            })?,
        };
        let forwarder = MedVaultForwarder::new(forwarder_address, provider.clone());
        let mut gateway = GatewayClient::new(ctx.gateway_url()?, ctx.gateway_domain.clone())
            .map_err(ContextError::SignIn)?;
        gateway.sign_in(&signer, chain_id).await.map_err(ContextError::SignIn)?;
        let indexer = ctx.indexer()?;
        Ok(Self {
            domain: sig::domain(chain_id, forwarder_address),
            ctx,
            signer,
            provider,
            vault,
            forwarder,
            chain_id,
            gateway,
            indexer,
            encryption: OnceCell::new(),
            category_keys: Mutex::new(HashMap::new()),
        })
    }

    /// The acting account.
    pub fn address(&self) -> Address {
        self.signer.address()
    }

    /// A deadline for a signature made now.
    pub fn deadline() -> u64 {
        unix_now() + SIGNATURE_WINDOW_SECS
    }

    /// Signs `action` with the actor's next forwarder nonce and has the
    /// gateway relay it. A contract refusal arrives as the gateway's
    /// sentence.
    pub async fn relay<A>(&self, action: A) -> anyhow::Result<Relayed>
    where
        A: Action + Send,
    {
        let nonce = self.forwarder.nonces(self.address()).call().await?;
        let call = action.sign(&self.signer, &self.domain, nonce, Self::deadline()).await?;
        let relayed = self.gateway.relay(Bytes::from(call.abi_encode()), None).await?;
        self.wait_indexed(relayed.block_number).await;
        Ok(relayed)
    }

    /// Waits (up to [`INDEX_PATIENCE`]) until the indexer has reached
    /// `block`, so that the next read, often through the indexer, sees
    /// the action that block holds. The action stands either way; an
    /// indexer that lags longer gets a warning, not an error.
    pub async fn wait_indexed(&self, block: u64) {
        if !self.indexer.wait_for_block(block, INDEX_PATIENCE).await {
            tracing::warn!(
                block,
                "the indexer has not reached the block of this action yet; reads through it may \
                 not show it for a while"
            );
        }
    }

    /// A category key this actor opened or made earlier in the session.
    /// A key never changes for its epoch, so the cache needs no expiry: a
    /// rotation moves the epoch and the next lookup misses.
    pub async fn cached_category_key(&self, id: CategoryKeyId) -> Option<CategoryKey> {
        self.category_keys.lock().await.get(&id).cloned()
    }

    /// Keeps `key` for the rest of the session.
    pub async fn remember_category_key(&self, key: &CategoryKey) {
        self.category_keys.lock().await.insert(key.id(), key.clone());
    }

    /// The actor's encryption key, derived from a signature of their
    /// wallet, once per process.
    pub async fn encryption_key(&self) -> anyhow::Result<&EncryptionKey> {
        self.encryption
            .get_or_try_init(|| async {
                let message = EncryptionKeyMessage {
                    chain_id: self.chain_id,
                    contract: self.ctx.contract,
                    account: self.address(),
                };
                Ok::<_, anyhow::Error>(message.derive(&self.signer).await?)
            })
            .await
    }
}

/// Now, in unix seconds.
pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stack_file_is_found_from_a_subfolder() {
        let root = tempfile::tempdir().unwrap();
        let path = stack::default_path(root.path());
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "{}").unwrap();
        let deep = root.path().join("a/b");
        std::fs::create_dir_all(&deep).unwrap();
        assert_eq!(find_stack(&deep), Some(path));
        let elsewhere = tempfile::tempdir().unwrap();
        assert_eq!(find_stack(elsewhere.path()), None);
    }

    fn context(args: GlobalArgs) -> Context {
        Context {
            stack: None,
            rpc_url: "http://127.0.0.1:8545".parse().unwrap(),
            gateway_url: None,
            gateway_domain: None,
            indexer_url: None,
            contract: Address::repeat_byte(1),
            json: false,
            args,
        }
    }

    #[tokio::test]
    async fn the_key_comes_from_the_flags_in_order() {
        // Anvil's first account.
        let key = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
        let args = GlobalArgs { private_key: Some(Secret::new(key)), ..GlobalArgs::default() };
        let signer = context(args).signer().await.unwrap();
        assert_eq!(
            alloy::signers::Signer::address(&signer),
            "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266".parse::<Address>().unwrap()
        );
        let err = context(GlobalArgs::default()).signer().await.unwrap_err();
        assert!(matches!(err, ContextError::NoKey), "{err}");
        let args = GlobalArgs { keystore: Some("k.json".into()), ..GlobalArgs::default() };
        assert!(matches!(context(args).signer().await, Err(ContextError::NoPassword)));
        let args = GlobalArgs { as_role: Some(Role::Patient), ..GlobalArgs::default() };
        assert!(matches!(context(args).signer().await, Err(ContextError::NoIdentities)));
        let args = GlobalArgs { private_key: Some(Secret::new("0x12")), ..GlobalArgs::default() };
        assert!(matches!(context(args).signer().await, Err(ContextError::Key(_))));
    }

    #[test]
    fn without_a_stack_the_missing_endpoint_is_named() {
        let args = GlobalArgs {
            stack: None,
            rpc_url: None,
            contract: Some(Address::repeat_byte(1)),
            ..GlobalArgs::default()
        };
        // Resolved from a folder with no stack file above it.
        let dir = tempfile::tempdir().unwrap();
        let previous = std::env::current_dir().unwrap();
        std::env::set_current_dir(dir.path()).unwrap();
        let result = Context::resolve(args);
        std::env::set_current_dir(previous).unwrap();
        let err = result.unwrap_err().to_string();
        assert!(err.contains("--rpc-url"), "{err}");
    }
}
