//! Deploying MedVault to one chain and setting up its roles, idempotently.
//!
//! [`Deployer::connect`] checks the endpoint and the chain id before anything
//! else. [`Deployer::run`] then reads `deployments/<chain-id>.json`, asks the
//! chain what the recorded contract and its roles look like, lets [`plan`]
//! decide what is missing, checks that the deployer can pay for all of it
//! before sending the first transaction, sends it, and records the result.
//! The manifest is stored after every transaction, so a run that stops
//! halfway leaves a manifest that the next run continues from; a run with
//! nothing to do leaves it untouched.
//!
//! [`plan`]: crate::plan

use std::{
    fmt,
    path::{Path, PathBuf},
    time::Duration,
};

use alloy::{
    network::TransactionBuilder,
    primitives::{
        Address, B256, U256, keccak256,
        utils::{format_ether, format_units},
    },
    providers::{DynProvider, Provider, ProviderBuilder},
    rpc::types::{TransactionReceipt, TransactionRequest},
    signers::local::PrivateKeySigner,
    sol_types::SolValue,
    transports::{
        TransportError,
        http::reqwest::{self, Url},
    },
};
use medvault_core::bindings::MedVault;

use crate::{
    CompiledContract, DeployError,
    deploy::{creation_tx, send},
    manifest::{Action, Deployment, Manifest, ManifestError, Roles, Transaction},
    plan::{self, ContractStep, DeployReason, PlanError, RoleCall, RoleRequest, RoleState, Target},
};

/// How long to wait for a TCP (and TLS) connection to the RPC endpoint.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long one JSON-RPC request may take. Without it, an endpoint that
/// accepts connections and never answers would hang the run.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The gas counted for each role transaction in the funds check, above what
/// `setRelayer` (about 47,000) and `transferOwnership` (about 48,000) use:
/// they cannot be estimated before the contract they call exists.
pub const ROLE_CALL_GAS: u64 = 100_000;

/// Deploys MedVault with one key to one chain.
#[derive(Debug, Clone)]
pub struct Deployer {
    provider: DynProvider,
    deployer: Address,
    chain_id: u64,
    endpoint: String,
}

impl Deployer {
    /// Connects to the JSON-RPC endpoint at `rpc_url` (http or https) with
    /// `signer` as the deployer, and checks that it answers and, when
    /// `expected_chain_id` is given, that it serves that chain.
    pub async fn connect(
        rpc_url: &str,
        signer: PrivateKeySigner,
        expected_chain_id: Option<u64>,
    ) -> Result<Self, DeployerError> {
        let url = Url::parse(rpc_url)
            .map_err(|err| DeployerError::InvalidUrl { reason: err.to_string() })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(DeployerError::InvalidUrl {
                reason: format!("its scheme is {}, not http or https", url.scheme()),
            });
        }
        let endpoint = endpoint_name(&url);
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|source| DeployerError::HttpClient { source })?;
        let deployer = signer.address();
        let provider = ProviderBuilder::new().wallet(signer).connect_reqwest(client, url).erased();

        let chain_id = provider
            .get_chain_id()
            .await
            .map_err(|source| DeployerError::Unreachable { endpoint: endpoint.clone(), source })?;
        if let Some(expected) = expected_chain_id
            && expected != chain_id
        {
            return Err(DeployerError::WrongChain { endpoint, expected, actual: chain_id });
        }
        Ok(Self { provider, deployer, chain_id, endpoint })
    }

    /// The chain the endpoint serves.
    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// The deployer's address.
    pub fn address(&self) -> Address {
        self.deployer
    }

    /// The endpoint, as errors and reports name it (see [`endpoint_name`]).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The provider, with the deployer's key as its wallet.
    pub fn provider(&self) -> &DynProvider {
        &self.provider
    }

    /// Deploys `contract` (MedVault, compiled by `compiler_version`) unless
    /// the manifest in `out_dir` records the same one live on this chain,
    /// sends the role transactions that `roles` still needs, and records the
    /// outcome in `out_dir/<chain-id>.json`.
    pub async fn run(
        &self,
        contract: &CompiledContract,
        compiler_version: &str,
        roles: &RoleRequest,
        out_dir: &Path,
    ) -> Result<Report, DeployerError> {
        let path = Manifest::path(out_dir, self.chain_id);
        let recorded = Manifest::load(&path, self.chain_id)?;
        let compiled_hash = keccak256(&contract.bytecode);
        let code_hash = match &recorded {
            Some(manifest) => self.code_hash(manifest.deployment.med_vault).await?,
            None => None,
        };
        let step = plan::contract_step(recorded.as_ref(), code_hash, compiled_hash);
        let target = plan::target(step, recorded.as_ref(), roles, self.deployer);
        let kept = recorded.as_ref().filter(|_| step == ContractStep::Keep);
        let state = match kept {
            Some(manifest) => self.role_state(manifest.deployment.med_vault, &target).await?,
            None => RoleState::fresh(self.deployer),
        };
        // A contract still to deploy has no address yet, but then the
        // deployer owns it and the plan cannot fail on it.
        let vault = kept.map(|manifest| manifest.deployment.med_vault).unwrap_or_default();
        let calls = plan::role_calls(vault, self.deployer, &state, &target)?;

        let creation = creation_tx(contract, &self.deployer.abi_encode()).with_from(self.deployer);
        let mut fees = None;
        let mut creation_gas = 0;
        if kept.is_none() || !calls.is_empty() {
            let current = self.fees().await?;
            if kept.is_none() {
                creation_gas = self
                    .provider
                    .estimate_gas(creation.clone())
                    .await
                    .map_err(|source| DeployerError::Estimate { source })?;
            }
            self.check_funds(creation_gas + ROLE_CALL_GAS * calls.len() as u64, current).await?;
            fees = Some(current);
        }

        let mut progress = match kept {
            Some(manifest) => Progress::new(path, recorded.clone(), manifest.clone()),
            None => {
                let tx = creation.with_gas_limit(creation_gas);
                let (deployment, receipt) =
                    self.create(tx, fees, compiler_version, compiled_hash).await?;
                let previous = match (&recorded, step) {
                    (Some(old), ContractStep::Deploy(DeployReason::BytecodeChanged { .. })) => {
                        let mut previous = vec![old.deployment.clone()];
                        previous.extend(old.previous.iter().cloned());
                        previous
                    }
                    // A chain that lost the recorded contract lost the
                    // older ones with it.
                    _ => Vec::new(),
                };
                let manifest = Manifest {
                    chain_id: self.chain_id,
                    deployment,
                    roles: roles_of(&state, &target),
                    transactions: Vec::new(),
                    previous,
                };
                let mut progress = Progress::new(path, recorded.clone(), manifest);
                progress.record(Action::Deploy, &receipt)?;
                progress
            }
        };

        let vault = progress.manifest.deployment.med_vault;
        for call in calls {
            let (action, receipt) = self.role_call(vault, call, fees).await?;
            progress.record(action, &receipt)?;
        }

        // What the chain says now is what the manifest keeps: governance may
        // have accepted, or disabled a relayer, since the last run.
        let state = self.role_state(vault, &target).await?;
        progress.manifest.roles = roles_of(&state, &target);
        progress.store()?;

        Ok(Report {
            chain_id: self.chain_id,
            written: progress.stored != recorded,
            manifest_path: progress.path,
            manifest: progress.manifest,
            step,
            sent: progress.sent,
        })
    }

    /// Sends the creation transaction `tx` of the bytecode that hashes to
    /// `bytecode_hash`, and describes the deployment it made.
    async fn create(
        &self,
        tx: TransactionRequest,
        fees: Option<Fees>,
        compiler_version: &str,
        bytecode_hash: B256,
    ) -> Result<(Deployment, TransactionReceipt), DeployerError> {
        let what = "the MedVault deployment";
        let receipt = self.send(tx, fees, what.into()).await?;
        let vault = receipt.contract_address.ok_or(DeployerError::Transaction {
            what: what.into(),
            source: DeployError::NoAddress { tx: receipt.transaction_hash },
        })?;
        let forwarder =
            MedVault::new(vault, &self.provider).forwarder().call().await.map_err(|source| {
                DeployerError::Call { what: format!("forwarder() on {vault}"), source }
            })?;
        let deployment = Deployment {
            med_vault: vault,
            forwarder,
            deployment_block: receipt.block_number.unwrap_or_default(),
            deployment_transaction: receipt.transaction_hash,
            deployer: self.deployer,
            compiler_version: compiler_version.to_owned(),
            bytecode_hash,
            code_hash: self.code_hash(vault).await?.unwrap_or_default(),
        };
        Ok((deployment, receipt))
    }

    /// Sends one role transaction to MedVault at `vault`.
    async fn role_call(
        &self,
        vault: Address,
        call: RoleCall,
        fees: Option<Fees>,
    ) -> Result<(Action, TransactionReceipt), DeployerError> {
        let medvault = MedVault::new(vault, &self.provider);
        let (tx, what, action) = match call {
            RoleCall::EnableRelayer(relayer) => (
                medvault.setRelayer(relayer, true).into_transaction_request(),
                format!("setRelayer({relayer}, true)"),
                Action::SetRelayer { account: relayer },
            ),
            RoleCall::OfferGovernance(governance) => (
                medvault.transferOwnership(governance).into_transaction_request(),
                format!("transferOwnership({governance})"),
                Action::TransferOwnership { account: governance },
            ),
        };
        Ok((action, self.send(tx, fees, what).await?))
    }

    /// keccak-256 of the code at `address`, `None` when it has none.
    async fn code_hash(&self, address: Address) -> Result<Option<B256>, DeployerError> {
        let code = self.provider.get_code_at(address).await.map_err(|source| {
            DeployerError::Read { what: format!("the code at {address}"), source }
        })?;
        Ok((!code.is_empty()).then(|| keccak256(&code)))
    }

    /// The roles on the contract at `vault`, for the relayers `target` knows.
    async fn role_state(
        &self,
        vault: Address,
        target: &Target,
    ) -> Result<RoleState, DeployerError> {
        let medvault = MedVault::new(vault, &self.provider);
        let call_error = |what: &str| {
            let what = format!("{what} on {vault}");
            move |source| DeployerError::Call { what, source }
        };
        let owner = medvault.owner().call().await.map_err(call_error("owner()"))?;
        let pending = medvault.pendingOwner().call().await.map_err(call_error("pendingOwner()"))?;
        let mut relayers = std::collections::BTreeSet::new();
        for &relayer in &target.known_relayers {
            if medvault
                .isRelayer(relayer)
                .call()
                .await
                .map_err(call_error(&format!("isRelayer({relayer})")))?
            {
                relayers.insert(relayer);
            }
        }
        Ok(RoleState { owner, pending_owner: (!pending.is_zero()).then_some(pending), relayers })
    }

    /// The fees every transaction of this run pays, fixed once so that the
    /// funds check covers what is sent.
    async fn fees(&self) -> Result<Fees, DeployerError> {
        match self.provider.estimate_eip1559_fees().await {
            Ok(estimate) => Ok(Fees::Eip1559 {
                max_fee_per_gas: estimate.max_fee_per_gas,
                max_priority_fee_per_gas: estimate.max_priority_fee_per_gas,
            }),
            // A chain without EIP-1559 (no base fee) takes legacy prices.
            Err(_) => {
                let gas_price = self.provider.get_gas_price().await.map_err(|source| {
                    DeployerError::Read { what: "the gas price".into(), source }
                })?;
                Ok(Fees::Legacy { gas_price })
            }
        }
    }

    /// Fails unless the deployer holds at least `gas` at `fees`.
    async fn check_funds(&self, gas: u64, fees: Fees) -> Result<(), DeployerError> {
        let need = U256::from(gas) * U256::from(fees.per_gas());
        let balance = self.provider.get_balance(self.deployer).await.map_err(|source| {
            DeployerError::Read { what: format!("the balance of {}", self.deployer), source }
        })?;
        if balance < need {
            return Err(DeployerError::InsufficientFunds {
                account: self.deployer,
                balance: ether(balance),
                need: ether(need),
                gas,
                fee_per_gas: gwei(fees.per_gas()),
            });
        }
        Ok(())
    }

    async fn send(
        &self,
        tx: TransactionRequest,
        fees: Option<Fees>,
        what: String,
    ) -> Result<TransactionReceipt, DeployerError> {
        let tx = match fees {
            Some(fees) => fees.apply(tx),
            None => tx,
        };
        send(&self.provider, tx).await.map_err(|source| DeployerError::Transaction { what, source })
    }
}

/// The manifest as it is built, stored after each transaction.
struct Progress {
    path: PathBuf,
    /// What the file holds now.
    stored: Option<Manifest>,
    manifest: Manifest,
    sent: Vec<Transaction>,
}

impl Progress {
    fn new(path: PathBuf, stored: Option<Manifest>, manifest: Manifest) -> Self {
        Self { path, stored, manifest, sent: Vec::new() }
    }

    /// Records a transaction and what it changed, and stores the manifest.
    fn record(
        &mut self,
        action: Action,
        receipt: &TransactionReceipt,
    ) -> Result<(), ManifestError> {
        let roles = &mut self.manifest.roles;
        match action {
            Action::Deploy => {}
            Action::SetRelayer { account } => {
                roles.relayers.push(account);
                roles.relayers.sort();
            }
            Action::TransferOwnership { account } => roles.pending_governance = Some(account),
        }
        let transaction = Transaction {
            action,
            hash: receipt.transaction_hash,
            block: receipt.block_number.unwrap_or_default(),
        };
        self.manifest.transactions.push(transaction.clone());
        self.sent.push(transaction);
        self.store()
    }

    /// Stores the manifest unless the file already holds it.
    fn store(&mut self) -> Result<(), ManifestError> {
        if self.stored.as_ref() != Some(&self.manifest) {
            self.manifest.store(&self.path)?;
            self.stored = Some(self.manifest.clone());
        }
        Ok(())
    }
}

fn roles_of(state: &RoleState, target: &Target) -> Roles {
    Roles {
        governance: state.owner,
        pending_governance: state.pending_owner,
        relayers: state.relayers.iter().copied().collect(),
        emergency_custodian: target.emergency_custodian,
    }
}

/// The fees of this run's transactions.
#[derive(Debug, Clone, Copy)]
enum Fees {
    Eip1559 { max_fee_per_gas: u128, max_priority_fee_per_gas: u128 },
    Legacy { gas_price: u128 },
}

impl Fees {
    /// The most a unit of gas can cost.
    fn per_gas(self) -> u128 {
        match self {
            Self::Eip1559 { max_fee_per_gas, .. } => max_fee_per_gas,
            Self::Legacy { gas_price } => gas_price,
        }
    }

    fn apply(self, tx: TransactionRequest) -> TransactionRequest {
        match self {
            Self::Eip1559 { max_fee_per_gas, max_priority_fee_per_gas } => tx
                .with_max_fee_per_gas(max_fee_per_gas)
                .with_max_priority_fee_per_gas(max_priority_fee_per_gas),
            Self::Legacy { gas_price } => tx.with_gas_price(gas_price),
        }
    }
}

/// The endpoint as messages name it: scheme, host and port. Hosted RPC URLs
/// carry an API key in the path, the query or the user info, so those are
/// shortened to `/…` and never printed.
pub fn endpoint_name(url: &Url) -> String {
    let mut name = format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default());
    if let Some(port) = url.port() {
        name.push_str(&format!(":{port}"));
    }
    if !matches!(url.path(), "" | "/") || url.query().is_some() {
        name.push_str("/…");
    }
    name
}

/// `wei` in ether, without trailing zeros.
fn ether(wei: U256) -> String {
    trim_decimals(format_ether(wei))
}

/// `wei` in gwei, without trailing zeros.
fn gwei(wei: u128) -> String {
    trim_decimals(format_units(wei, "gwei").unwrap_or_else(|_| wei.to_string()))
}

fn trim_decimals(number: String) -> String {
    if number.contains('.') {
        number.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        number
    }
}

/// What a run did, as sentences (its `Display`) and as data.
#[derive(Debug, Clone)]
pub struct Report {
    /// The chain.
    pub chain_id: u64,
    /// The manifest's path.
    pub manifest_path: PathBuf,
    /// The manifest as the run left it.
    pub manifest: Manifest,
    /// Whether MedVault was kept or deployed, and why.
    pub step: ContractStep,
    /// The transactions this run sent, in order.
    pub sent: Vec<Transaction>,
    /// Whether the manifest file was written.
    pub written: bool,
}

impl Report {
    /// True when the run sent nothing and left the manifest as it was.
    pub fn nothing_to_do(&self) -> bool {
        self.step == ContractStep::Keep && self.sent.is_empty() && !self.written
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let deployment = &self.manifest.deployment;
        let (vault, chain, block) =
            (deployment.med_vault, self.chain_id, deployment.deployment_block);
        match self.step {
            ContractStep::Keep if self.nothing_to_do() => {
                return writeln!(
                    f,
                    "MedVault is already deployed at {vault} on chain {chain} (block {block}) with the same bytecode; nothing to do."
                )
                .and_then(|()| self.fmt_pending(f));
            }
            ContractStep::Keep => writeln!(
                f,
                "MedVault is already deployed at {vault} on chain {chain} (block {block}) with the same bytecode."
            )?,
            ContractStep::Deploy(reason) => {
                match reason {
                    DeployReason::First => {}
                    DeployReason::NoCode { recorded } => writeln!(
                        f,
                        "The recorded MedVault at {recorded} has no code on chain {chain} (a restarted node?), so a new one was deployed."
                    )?,
                    DeployReason::OtherCode { recorded } => writeln!(
                        f,
                        "The code at {recorded} on chain {chain} is not the recorded MedVault (a restarted node?), so a new one was deployed."
                    )?,
                    DeployReason::BytecodeChanged { recorded, recorded_hash, compiled_hash } => {
                        writeln!(
                            f,
                            "The compiled MedVault (bytecode hash {compiled_hash}) differs from the one at {recorded} ({recorded_hash}), so a new one was deployed; the old contract keeps its data and is listed under \"previous\" in the manifest: point the gateway and the indexer at the new address."
                        )?
                    }
                }
                writeln!(
                    f,
                    "Deployed MedVault at {vault} on chain {chain} (block {block}, transaction {}); its forwarder is {}.",
                    deployment.deployment_transaction, deployment.forwarder
                )?;
            }
        }
        for sent in &self.sent {
            match sent.action {
                Action::Deploy => {}
                Action::SetRelayer { account } => {
                    writeln!(f, "Enabled relayer {account} (transaction {}).", sent.hash)?
                }
                Action::TransferOwnership { account } => {
                    writeln!(f, "Offered governance to {account} (transaction {}).", sent.hash)?
                }
            }
        }
        let roles = &self.manifest.roles;
        let list = |accounts: &[Address]| {
            if accounts.is_empty() {
                "none".to_owned()
            } else {
                accounts.iter().map(Address::to_string).collect::<Vec<_>>().join(", ")
            }
        };
        writeln!(
            f,
            "Governance is {}; relayers: {}; emergency custodian: {}.",
            roles.governance,
            list(&roles.relayers),
            list(roles.emergency_custodian.as_slice())
        )?;
        self.fmt_pending(f)?;
        if self.written {
            writeln!(f, "Wrote {}.", self.manifest_path.display())?;
        }
        Ok(())
    }
}

impl Report {
    fn fmt_pending(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let roles = &self.manifest.roles;
        match roles.pending_governance {
            Some(pending) => writeln!(
                f,
                "Governance is not handed over yet: {pending} must call acceptOwnership() on {}; until then {} governs.",
                self.manifest.deployment.med_vault, roles.governance
            ),
            None => Ok(()),
        }
    }
}

/// Why a deployment run failed.
#[derive(Debug, thiserror::Error)]
pub enum DeployerError {
    /// The RPC URL does not parse or is not http(s).
    #[error("the RPC URL is not a valid http or https URL: {reason}")]
    InvalidUrl {
        /// Why it was refused.
        reason: String,
    },
    /// The HTTP client could not be set up (its TLS configuration).
    #[error("cannot set up the HTTP client")]
    HttpClient {
        /// The error from reqwest.
        #[source]
        source: reqwest::Error,
    },
    /// The endpoint did not answer `eth_chainId`.
    #[error("cannot reach the JSON-RPC endpoint at {endpoint}")]
    Unreachable {
        /// The endpoint (see [`endpoint_name`]).
        endpoint: String,
        /// What the transport reported.
        #[source]
        source: TransportError,
    },
    /// The endpoint serves another chain than the one expected.
    #[error("the node at {endpoint} is on chain {actual}, not the expected chain {expected}")]
    WrongChain {
        /// The endpoint.
        endpoint: String,
        /// The chain id asked for.
        expected: u64,
        /// The chain id the node reported.
        actual: u64,
    },
    /// The deployer cannot pay for the transactions this run must send.
    #[error(
        "the deployer {account} holds {balance} ETH, but this run needs up to {need} ETH ({gas} gas at {fee_per_gas} gwei); fund it and run again"
    )]
    InsufficientFunds {
        /// The deployer.
        account: Address,
        /// Its balance, in ether.
        balance: String,
        /// The most the run can cost, in ether.
        need: String,
        /// The gas counted.
        gas: u64,
        /// The highest price per gas, in gwei.
        fee_per_gas: String,
    },
    /// The manifest could not be read or written.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// The requested roles need governance, not the deployer.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// A read from the node failed.
    #[error("cannot read {what} from the node")]
    Read {
        /// What was read.
        what: String,
        /// The RPC error.
        #[source]
        source: TransportError,
    },
    /// A contract call failed.
    #[error("the call {what} failed")]
    Call {
        /// The call.
        what: String,
        /// The error from the contract binding.
        #[source]
        source: alloy::contract::Error,
    },
    /// The node could not estimate the deployment's gas (the constructor
    /// reverts, or the node refused).
    #[error("cannot estimate the gas of the MedVault deployment")]
    Estimate {
        /// The RPC error.
        #[source]
        source: TransportError,
    },
    /// A transaction failed.
    #[error("{what} failed")]
    Transaction {
        /// What the transaction was.
        what: String,
        /// Why it failed.
        #[source]
        source: DeployError,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_names_keep_host_and_port_and_hide_keys() {
        let name = |url: &str| endpoint_name(&Url::parse(url).unwrap());
        assert_eq!(name("http://127.0.0.1:8545"), "http://127.0.0.1:8545");
        assert_eq!(name("http://127.0.0.1:8545/"), "http://127.0.0.1:8545");
        assert_eq!(
            name("https://eth-sepolia.g.alchemy.com/v2/SECRETKEY"),
            "https://eth-sepolia.g.alchemy.com/…"
        );
        assert_eq!(
            name("https://user:SECRET@rpc.example.org?key=SECRET"),
            "https://rpc.example.org/…"
        );
    }

    #[test]
    fn amounts_are_printed_without_trailing_zeros() {
        assert_eq!(ether(U256::ZERO), "0");
        assert_eq!(ether(U256::from(1_500_000_000_000_000_000u128)), "1.5");
        assert_eq!(gwei(2_000_000_000), "2");
        assert_eq!(gwei(1_875_000_001), "1.875000001");
    }
}
