//! Signed grants relayed per second through the gateway, against a bare
//! send-and-wait loop on the same Anvil.
//!
//! One Anvil (a block per transaction), MedVault deployed, patients
//! registered. Every grant is signed beforehand, so the figures are the
//! relay's: the bare loop submits each signed `grantBySig` with alloy
//! (fillers for nonce, gas and fees) and polls for the receipt as the
//! gateway does; the gateway runs on a loopback socket and gets the same
//! calldata over HTTP from one client (the same sequence as the bare loop),
//! then from several clients at once (each its own patient, since one
//! signer's nonces go in order). The three take turns in [`ROUNDS`] rounds
//! of a fifth of the grants each, the order rotating, because Anvil mines
//! more slowly as the chain and the vault's storage grow: run first, the
//! bare loop had a younger chain than the gateway. After each turn the
//! relayer must have no pending transaction.

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use alloy::{
    consensus::Transaction as _,
    network::EthereumWallet,
    primitives::{Address, Bytes, aliases::U40, keccak256},
    providers::{DynProvider, Provider, ProviderBuilder},
    rpc::types::TransactionRequest,
    signers::local::PrivateKeySigner,
    sol_types::{SolCall, SolValue},
};
use anyhow::{Context as _, bail, ensure};
use medvault_core::{
    bindings::{forwarder::MedVaultForwarder, vault::MedVault},
    sig::{self, Action},
};
use medvault_deploy::{ContractsCompiler, deploy};
use medvault_gateway::{
    AppState,
    config::Limits,
    relay::poll_receipt,
    session::SessionKeys,
    state::{Chain, Settings},
};
use medvault_tests::{Toolchain, spawn_anvil, toolchain::contracts_dir};
use serde_json::{Value, json};

/// Grants per run.
const GRANTS: usize = 400;
/// Concurrent clients in the concurrent run.
const CLIENTS: usize = 8;
/// Rounds in which the three runs take turns, `GRANTS / ROUNDS` grants each.
const ROUNDS: usize = 5;

/// Runs the benchmark and prints its table.
pub(crate) fn run() -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(relay())
}

struct Setup {
    provider: DynProvider,
    rpc: alloy::transports::http::reqwest::Url,
    relayer: Address,
    forwarder: MedVaultForwarder::MedVaultForwarderInstance<DynProvider>,
    domain: alloy::sol_types::Eip712Domain,
    chain: Chain,
    wallet: EthereumWallet,
}

fn key(name: &str) -> anyhow::Result<PrivateKeySigner> {
    Ok(PrivateKeySigner::from_bytes(&keccak256(name))?)
}

async fn relay() -> anyhow::Result<()> {
    let tools = Toolchain::locate();
    let solc = tools.solc()?;
    let compiled = tokio::task::spawn_blocking(move || {
        ContractsCompiler::new(contracts_dir(), solc).compile()
    })
    .await??;
    let anvil = spawn_anvil(&tools)?;
    let governance = PrivateKeySigner::from(anvil.keys()[0].clone());
    let relayer = PrivateKeySigner::from(anvil.keys()[1].clone());
    let provider = ProviderBuilder::new()
        .wallet(EthereumWallet::from(governance.clone()))
        .connect_http(anvil.endpoint_url())
        .erased();
    let vault =
        deploy(&provider, compiled.contract("MedVault")?, &governance.address().abi_encode())
            .await?;
    MedVault::new(vault, &provider)
        .setRelayer(relayer.address(), true)
        .send()
        .await?
        .get_receipt()
        .await?;
    let wallet = EthereumWallet::from(relayer.clone());
    let dir = tempfile::tempdir()?;
    let chain =
        Chain::connect(anvil.endpoint_url(), Some(anvil.chain_id()), Some(vault), None, dir.path())
            .await?;
    let forwarder = MedVaultForwarder::new(*chain.forwarder.address(), provider.clone());
    let setup = Setup {
        rpc: anvil.endpoint_url(),
        provider,
        relayer: relayer.address(),
        domain: sig::domain(anvil.chain_id(), *forwarder.address()),
        forwarder,
        chain,
        wallet,
    };

    // Patients, registered by the relayer directly.
    let patients: Vec<PrivateKeySigner> =
        (0..CLIENTS * 3).map(|i| key(&format!("bench patient {i}"))).collect::<Result<_, _>>()?;
    let bare_provider = setup.bare_provider();
    for patient in &patients {
        let call = setup.signed_register(patient).await?;
        setup.bare_send(&bare_provider, call).await?;
    }
    let (bare_patients, rest) = patients.split_at(CLIENTS);
    let (sequential_patients, concurrent_patients) = rest.split_at(CLIENTS);

    // The gateway, served on loopback.
    let db = medvault_gateway::store::open(&dir.path().join("gateway.sqlite")).await?;
    let limits = Limits {
        ip_rate: 1e9,
        ip_burst: 1e9,
        address_rate: 1e9,
        address_burst: 1e9,
        sign_in_rate: 1e9,
        sign_in_burst: 1e9,
        ..Limits::default()
    };
    let state = AppState::new(
        setup.chain.clone(),
        setup.wallet.clone(),
        db,
        SessionKeys::new(&[9; 32], limits.session_ttl()),
        // No Kubo: the relay does not touch it.
        "http://127.0.0.1:1".parse()?,
        medvault_gateway::ipfs::Ipfs::new("http://127.0.0.1:1")?,
        Settings { domain: "bench".into(), limits },
    );
    let token = state.sessions.issue(Address::repeat_byte(1)).0;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            medvault_gateway::router(state).into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    let client = reqwest::Client::new();

    let mut took = [Duration::ZERO; 3];
    for round in 0..ROUNDS {
        for turn in 0..took.len() {
            let run = (round + turn) % took.len();
            took[run] += match run {
                0 => setup.bare_round(bare_patients).await?,
                1 => {
                    setup
                        .gateway_round(&client, address, &token, sequential_patients, false)
                        .await?
                }
                _ => {
                    setup.gateway_round(&client, address, &token, concurrent_patients, true).await?
                }
            };
            setup.no_stuck_transaction().await?;
        }
    }
    let [bare, sequential, concurrent] = took.map(|took| GRANTS as f64 / took.as_secs_f64());
    server.abort();

    println!("## Gateway relay: signed grants per second (Anvil, a block per transaction)\n");
    println!("| run | grants/s | bare send-and-wait loop | ratio |");
    println!("| --- | ---: | ---: | ---: |");
    println!("| gateway, 1 client | {sequential:.1} | {bare:.1} | {:.2} |", sequential / bare);
    println!(
        "| gateway, {CLIENTS} clients | {concurrent:.1} | {bare:.1} | {:.2} |",
        concurrent / bare
    );
    println!(
        "\n{GRANTS} grants a run, in {ROUNDS} rounds taking turns; no transaction left pending \
         after any turn.\n"
    );
    Ok(())
}

impl Setup {
    async fn now(&self) -> anyhow::Result<u64> {
        let block = self
            .provider
            .get_block_by_number(Default::default())
            .await?
            .context("no latest block")?;
        Ok(block.header.timestamp)
    }

    async fn signed_register(&self, patient: &PrivateKeySigner) -> anyhow::Result<Bytes> {
        let xy = patient.public_key();
        let encryption_key: Bytes = [&[2 + (xy[63] & 1)], &xy[..32]].concat().into();
        let nonce = self.forwarder.nonces(patient.address()).call().await?;
        let deadline = self.now().await? + 3_600;
        let call =
            sig::Register { encryption_key }.sign(patient, &self.domain, nonce, deadline).await?;
        Ok(call.abi_encode().into())
    }

    /// `GRANTS / ROUNDS` grants in all, signed in nonce order, one list per
    /// patient.
    async fn grants(&self, patients: &[PrivateKeySigner]) -> anyhow::Result<Vec<Vec<Bytes>>> {
        let deadline = self.now().await? + 3_600;
        let mut all = Vec::new();
        for patient in patients {
            let base = self.forwarder.nonces(patient.address()).call().await?;
            let mut calls = Vec::new();
            for i in 0..GRANTS / ROUNDS / patients.len() {
                let call = sig::Grant {
                    patient: patient.address(),
                    grantee: Address::from_word(keccak256((i as u64).to_be_bytes())),
                    read_mask: 0b10,
                    write_mask: 0,
                    expiry: U40::from(deadline + 86_400),
                }
                .sign(patient, &self.domain, base + alloy::primitives::U256::from(i), deadline)
                .await?;
                calls.push(call.abi_encode().into());
            }
            all.push(calls);
        }
        Ok(all)
    }

    /// The relayer's own provider with alloy's fillers. A new one for each
    /// bare round: the gateway's turns move the relayer's nonce, which a
    /// provider caches.
    fn bare_provider(&self) -> DynProvider {
        ProviderBuilder::new().wallet(self.wallet.clone()).connect_http(self.rpc.clone()).erased()
    }

    /// Sends `calldata` to the forwarder from the relayer and polls for the
    /// receipt with the gateway's own [`poll_receipt`].
    async fn bare_send(&self, provider: &DynProvider, calldata: Bytes) -> anyhow::Result<()> {
        let tx = TransactionRequest::default().to(*self.forwarder.address()).input(calldata.into());
        let tx_again = tx.clone().from(self.relayer);
        let hash = *provider.send_transaction(tx).await?.tx_hash();
        let receipt = poll_receipt(provider, hash).await?;
        if !receipt.status() {
            // Rare (about one run in six): alloy's filler sends Anvil's bare
            // estimate, with no headroom, and the vault's call, which gets
            // only 63/64 of what is left, runs out (48,800 gas used of a
            // limit of 48,826 on 2026-12-07). Say what a replay one block
            // earlier returns and how close the gas came to the limit.
            let block = receipt.block_number.unwrap_or_default().saturating_sub(1);
            let replay = provider.call(tx_again).block(block.into()).await;
            let limit = provider.get_transaction_by_hash(hash).await?.map(|tx| tx.gas_limit());
            bail!(
                "a bare transaction reverted (gas used {} of a limit of {limit:?}, block {block}): \
                 replayed, {:?}",
                receipt.gas_used,
                replay.map_err(|error| error.to_string())
            );
        }
        Ok(())
    }

    /// One round of the bare loop; the time its sends took.
    async fn bare_round(&self, patients: &[PrivateKeySigner]) -> anyhow::Result<Duration> {
        let grants = self.grants(patients).await?;
        let provider = self.bare_provider();
        let started = Instant::now();
        for call in grants.into_iter().flatten() {
            self.bare_send(&provider, call).await?;
        }
        Ok(started.elapsed())
    }

    /// One round through the gateway: from one client, one grant at a time
    /// (`concurrent` false), or from one client per patient at once.
    async fn gateway_round(
        &self,
        client: &reqwest::Client,
        address: SocketAddr,
        token: &str,
        patients: &[PrivateKeySigner],
        concurrent: bool,
    ) -> anyhow::Result<Duration> {
        let grants = self.grants(patients).await?;
        let lanes = if concurrent { grants } else { vec![grants.into_iter().flatten().collect()] };
        let started = Instant::now();
        let clients = lanes.into_iter().map(|calls| {
            let (client, token) = (client.clone(), token.to_owned());
            tokio::spawn(async move {
                for call in calls {
                    post(&client, address, &token, call).await?;
                }
                anyhow::Ok(())
            })
        });
        for result in futures_util::future::join_all(clients).await {
            result??;
        }
        Ok(started.elapsed())
    }

    async fn no_stuck_transaction(&self) -> anyhow::Result<()> {
        let latest = self.provider.get_transaction_count(self.relayer).latest().await?;
        let pending = self.provider.get_transaction_count(self.relayer).pending().await?;
        ensure!(latest == pending, "{} relayer transactions are stuck", pending - latest);
        Ok(())
    }
}

async fn post(
    client: &reqwest::Client,
    address: SocketAddr,
    token: &str,
    calldata: Bytes,
) -> anyhow::Result<()> {
    let response = client
        .post(format!("http://{address}/v1/relay"))
        .bearer_auth(token)
        .json(&json!({ "calldata": calldata }))
        .send()
        .await?;
    let status = response.status();
    let body: Value = response.json().await?;
    if !status.is_success() {
        bail!("the gateway refused a grant: {status} {body}");
    }
    Ok(())
}
