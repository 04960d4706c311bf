//! `POST /v1/relay`: submits a user's signed `...BySig` action, paying the
//! gas.
//!
//! The body is `{"calldata": "0x..."}`: the forwarder call exactly as
//! [`medvault_core::sig::Action::sign`] returns it, ABI-encoded with its
//! selector. The gateway decodes it with the forwarder's generated bindings
//! and accepts only the `...BySig` functions, simulates it once with
//! `eth_simulateV1`, which also sizes its gas (a revert comes back as a 4xx
//! with the contract's decoded error), then
//! signs the transaction itself with a nonce from the one [`Relayer`] nonce
//! manager, sends it and waits for its receipt. With an `Idempotency-Key`
//! header a retry gets the first result (see [`crate::idempotency`]).
//!
//! The same relay is a library call, [`Relayer::relay`], for the routes that
//! relay as part of their work (the upload's add-record).

use std::{
    future::Future,
    sync::atomic::{AtomicBool, Ordering},
    time::Duration,
};

use alloy::{
    network::{EthereumWallet, NetworkTransactionBuilder as _, TransactionBuilder},
    primitives::{Address, Bytes, TxHash},
    providers::Provider,
    rpc::types::{
        TransactionReceipt, TransactionRequest,
        simulate::{SimBlock, SimulatePayload},
    },
    sol_types::SolInterface,
    transports::RpcError,
};
use axum::{
    extract::State,
    http::HeaderMap,
    response::{IntoResponse, Response},
};
use medvault_core::{
    bindings::forwarder::{
        IMedVaultForwarder::Signature,
        MedVaultForwarder::{MedVaultForwarderCalls as Calls, MedVaultForwarderCalls},
    },
    revert::Revert,
};
use serde::{Deserialize, Serialize};
use tokio::{sync::Mutex, time::Instant};

use crate::{
    ApiError, AppState, Json,
    idempotency::{Claim, Idempotency, Stored, replayed_header, request_hash},
    session::Session,
    state::Chain,
};

/// How long a receipt is looked for back to back, one round trip after
/// the other, before the first pause. A node that mines on arrival
/// (Anvil's automine) has it a millisecond or so after the send (more for a
/// heavier transaction, or while the node answers other calls), where the
/// shortest pause the timer gives is 1 to 2 ms; against a remote node the
/// window holds a look or two.
const QUICK_RECEIPT_WINDOW: Duration = Duration::from_millis(3);

/// The first pause between receipt polls, after the quick looks; it doubles
/// up to [`RECEIPT_POLL`].
const FIRST_RECEIPT_POLL: Duration = Duration::from_millis(1);

/// The longest pause between receipt polls.
const RECEIPT_POLL: Duration = Duration::from_millis(20);

/// The gas an `SSTORE` needs left beyond its cost (EIP-2200's sentry).
const SSTORE_SENTRY: u64 = 2_300;

/// The relay request.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RelayRequest {
    /// The forwarder calldata: selector and ABI-encoded arguments.
    pub calldata: Bytes,
}

/// A relayed action, mined.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Relayed {
    /// The forwarder function, e.g. `grantBySig`.
    pub function: String,
    /// Who signed the action.
    pub signer: Address,
    /// The transaction.
    pub transaction_hash: TxHash,
    /// The block that holds it.
    pub block_number: u64,
}

/// The relayer: its account, the one nonce manager, and the chain.
///
/// Every transaction the gateway sends goes through [`Relayer::submit`], so
/// the nonce lives in one place: a mutex held from choosing the nonce to the
/// node accepting the transaction. The cached nonce is dropped whenever a
/// send fails, and re-read from the node's pending count, so a transaction
/// sent by another process with the same key ("nonce too low") costs one
/// retry rather than a stuck queue.
#[derive(Debug)]
pub struct Relayer {
    chain: Chain,
    wallet: EthereumWallet,
    address: Address,
    nonce: Mutex<Option<u64>>,
    receipt_timeout: Duration,
    /// Whether the node answers `eth_simulateV1` (until it refuses once).
    simulate_v1: AtomicBool,
}

/// A relayable call: its function name and authorisation.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The forwarder function.
    pub function: &'static str,
    /// The signer of the action.
    pub signer: Address,
}

impl Relayer {
    /// A relayer that signs with `wallet`'s default signer, `address`.
    pub fn new(chain: Chain, wallet: EthereumWallet, receipt_timeout: Duration) -> Self {
        let address =
            alloy::network::NetworkWallet::<alloy::network::Ethereum>::default_signer_address(
                &wallet,
            );
        Self {
            chain,
            wallet,
            address,
            nonce: Mutex::new(None),
            receipt_timeout,
            simulate_v1: AtomicBool::new(true),
        }
    }

    /// The relayer's account.
    pub fn address(&self) -> Address {
        self.address
    }

    /// Checks that `calldata` is a forwarder `...BySig` call.
    pub fn check(calldata: &[u8]) -> Result<Checked, ApiError> {
        let call = Calls::abi_decode(calldata).map_err(|_| ApiError::NotRelayable {
            message: "the calldata is not a call of the MedVault forwarder".into(),
        })?;
        let auth = authorisation(&call).ok_or_else(|| ApiError::NotRelayable {
            message: "only the forwarder's ...BySig functions are relayed".into(),
        })?;
        let function = calldata
            .get(..4)
            .and_then(|selector| {
                MedVaultForwarderCalls::name_by_selector(selector.try_into().ok()?)
            })
            .unwrap_or("unknown");
        Ok(Checked { function, signer: auth.signer })
    }

    /// Checks, simulates and relays `calldata`, waiting for its receipt.
    pub async fn relay(&self, calldata: Bytes) -> Result<Relayed, ApiError> {
        self.relay_with(calldata, |_| async { Ok(()) }).await
    }

    /// [`Relayer::relay`], calling `before_send` with the transaction's hash
    /// after it is signed and before it is sent (to record it durably); again
    /// with the new hash if a stale nonce makes it sign another.
    pub async fn relay_with<F, Fut>(
        &self,
        calldata: Bytes,
        before_send: F,
    ) -> Result<Relayed, ApiError>
    where
        F: Fn(TxHash) -> Fut,
        Fut: Future<Output = Result<(), ApiError>>,
    {
        let checked = Self::check(&calldata)?;
        let hash = self.submit(*self.chain.forwarder.address(), calldata, before_send).await?;
        let receipt = self.wait_for_receipt(hash).await?;
        relayed(checked, &receipt)
    }

    /// Simulates a call of `to` with `input` from the relayer's account,
    /// then signs it with the next nonce of the one nonce manager and sends
    /// it; returns the transaction's hash without waiting for its receipt.
    /// `before_send` gets the hash after signing and before sending (to
    /// record it durably), and again with the new hash if a stale nonce makes
    /// it sign another. A revert in the simulation is
    /// [`ApiError::Reverted`], with the contract's decoded error.
    ///
    /// Everything the gateway sends as the relayer (relayed actions, upload
    /// commits, access-log anchors) comes through here or
    /// [`Relayer::send_prepared`].
    pub async fn submit<F, Fut>(
        &self,
        to: Address,
        input: Bytes,
        before_send: F,
    ) -> Result<TxHash, ApiError>
    where
        F: Fn(TxHash) -> Fut,
        Fut: Future<Output = Result<(), ApiError>>,
    {
        let prepared = self.prepare(to, input).await?;
        self.send_prepared(prepared, before_send).await
    }

    /// The first half of [`Relayer::submit`]: simulates the call (sizing its
    /// gas) and reads the fees, side by side. A caller may prepare while
    /// something else finishes, and send once it has.
    pub async fn prepare(&self, to: Address, input: Bytes) -> Result<Prepared, ApiError> {
        let provider = &self.chain.provider;
        let request =
            TransactionRequest::default().with_from(self.address).with_to(to).with_input(input);
        let (gas, fees) =
            tokio::join!(self.simulate_and_size(&request), provider.estimate_eip1559_fees());
        let gas = gas?;
        let fees = fees.map_err(|error| ApiError::from_rpc(&error))?;
        let request = request
            .with_chain_id(self.chain.chain_id)
            .with_gas_limit(gas)
            .with_max_fee_per_gas(fees.max_fee_per_gas)
            .with_max_priority_fee_per_gas(fees.max_priority_fee_per_gas);
        Ok(Prepared { request })
    }

    /// The second half of [`Relayer::submit`]: signs `prepared` with the
    /// next nonce and sends it.
    pub async fn send_prepared<F, Fut>(
        &self,
        prepared: Prepared,
        before_send: F,
    ) -> Result<TxHash, ApiError>
    where
        F: Fn(TxHash) -> Fut,
        Fut: Future<Output = Result<(), ApiError>>,
    {
        let provider = &self.chain.provider;
        let request = prepared.request;
        let mut next = self.nonce.lock().await;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let nonce = match *next {
                Some(nonce) => nonce,
                None => provider
                    .get_transaction_count(self.address)
                    .pending()
                    .await
                    .map_err(|error| ApiError::from_rpc(&error))?,
            };
            let envelope = request
                .clone()
                .with_nonce(nonce)
                .build(&self.wallet)
                .await
                .map_err(ApiError::internal)?;
            let hash = *envelope.tx_hash();
            before_send(hash).await?;
            match provider.send_tx_envelope(envelope).await {
                Ok(_) => {
                    *next = Some(nonce + 1);
                    return Ok(hash);
                }
                Err(error) => {
                    *next = None;
                    let stale = error
                        .as_error_resp()
                        .is_some_and(|payload| payload.message.contains("nonce"));
                    if stale && attempt < 3 {
                        tracing::warn!(nonce, "relayer nonce was stale; resyncing");
                        continue;
                    }
                    return Err(ApiError::from_rpc(&error));
                }
            }
        }
    }

    /// Simulates `request` and returns the gas limit to send it with; a
    /// revert is [`ApiError::Reverted`].
    ///
    /// One execution (`eth_simulateV1`) tells both whether the call reverts
    /// and the gas it uses ([`spent`] and [`gas_limit`] bound what it needs
    /// from that).
    /// `eth_estimateGas` is a binary search of several executions, the
    /// longest step before a send on Anvil. A node that refuses
    /// `eth_simulateV1` gets `eth_call` and `eth_estimateGas` side by side
    /// from then on.
    async fn simulate_and_size(&self, request: &TransactionRequest) -> Result<u64, ApiError> {
        let provider = &self.chain.provider;
        if self.simulate_v1.load(Ordering::Relaxed) {
            match simulate(provider, request).await? {
                Some(spent) => return Ok(gas_limit(spent)),
                None => {
                    self.simulate_v1.store(false, Ordering::Relaxed);
                    tracing::warn!(
                        "the node refused eth_simulateV1: simulating with eth_call and eth_estimateGas"
                    );
                }
            }
        }
        let (simulated, gas) =
            tokio::join!(provider.call(request.clone()), provider.estimate_gas(request.clone()));
        simulated.map_err(|error| ApiError::from_rpc(&error))?;
        let gas = gas.map_err(|error| ApiError::from_rpc(&error))?;
        Ok(with_headroom(gas))
    }

    /// Simulates with `eth_call` and sizes the gas with `eth_estimateGas`
    /// from now on, as for a node without `eth_simulateV1`.
    #[doc(hidden)]
    pub fn without_simulate_v1(self) -> Self {
        self.simulate_v1.store(false, Ordering::Relaxed);
        self
    }

    /// Waits for the receipt of `hash`, up to the receipt timeout.
    pub async fn wait_for_receipt(&self, hash: TxHash) -> Result<TransactionReceipt, ApiError> {
        tokio::time::timeout(self.receipt_timeout, poll_receipt(&self.chain.provider, hash))
            .await
            .unwrap_or(Err(ApiError::Timeout { limit: self.receipt_timeout }))
    }

    /// The result of an earlier attempt that sent `hash`: its receipt if it
    /// was mined, awaited if it still waits in the node's pool (sending the
    /// action again would revert once the first is mined, and answer a
    /// success with an error); `None` if the node does not know it (lost, or
    /// the attempt died before sending).
    pub async fn resume(&self, calldata: &[u8], hash: TxHash) -> Result<Option<Relayed>, ApiError> {
        let checked = Self::check(calldata)?;
        let found = find_sent(&self.chain.provider, hash)
            .await
            .map_err(|error| ApiError::from_rpc(&error))?;
        let receipt = match found {
            Found::Mined(receipt) => *receipt,
            Found::Pending => self.wait_for_receipt(hash).await?,
            Found::Unknown => return Ok(None),
        };
        relayed(checked, &receipt).map(Some)
    }
}

/// A call simulated, its gas sized and its fees read, ready to sign with
/// the next nonce ([`Relayer::prepare`]).
#[derive(Debug, Clone)]
pub struct Prepared {
    request: TransactionRequest,
}

impl Prepared {
    /// The calldata simulated.
    pub fn input(&self) -> Option<&Bytes> {
        self.request.input.input()
    }

    /// An empty request, for tests of what carries one.
    #[cfg(test)]
    pub(crate) fn unsimulated() -> Self {
        Self { request: TransactionRequest::default() }
    }
}

/// What the node knows of a transaction sent earlier.
#[derive(Debug)]
pub enum Found {
    /// Mined, with this receipt (which may say it reverted).
    Mined(Box<TransactionReceipt>),
    /// Waiting in the node's pool.
    Pending,
    /// Not known: dropped, or never sent.
    Unknown,
}

/// Looks up a transaction sent earlier as `hash`: its receipt, else whether
/// the node still holds it (and then the receipt once more, in case it was
/// mined between the two looks). A retry waits for a pending one rather than
/// sending the signed action again, which would revert once the first is
/// mined.
pub async fn find_sent<P: Provider>(
    provider: &P,
    hash: TxHash,
) -> Result<Found, alloy::transports::TransportError> {
    if let Some(receipt) = provider.get_transaction_receipt(hash).await? {
        return Ok(Found::Mined(Box::new(receipt)));
    }
    if provider.get_transaction_by_hash(hash).await?.is_none() {
        return Ok(Found::Unknown);
    }
    Ok(match provider.get_transaction_receipt(hash).await? {
        Some(receipt) => Found::Mined(Box::new(receipt)),
        None => Found::Pending,
    })
}

/// Executes `request` once on the latest state with `eth_simulateV1`:
/// the gas its execution spent before refunds (see [`spent`]), a revert as
/// [`ApiError::Reverted`], `None` when the node refuses the method or
/// answers it in a shape alloy cannot read.
async fn simulate<P: Provider>(
    provider: &P,
    request: &TransactionRequest,
) -> Result<Option<u64>, ApiError> {
    let payload = SimulatePayload {
        block_state_calls: vec![SimBlock { calls: vec![request.clone()], ..SimBlock::default() }],
        ..SimulatePayload::default()
    };
    let blocks = match provider.simulate(&payload).await {
        Ok(blocks) => blocks,
        // Down, or a revert: the answer. Any other refusal: the old pair.
        Err(error)
            if matches!(error, RpcError::Transport(_))
                || Revert::from_transport_error(&error).is_some() =>
        {
            return Err(ApiError::from_rpc(&error));
        }
        Err(_) => return Ok(None),
    };
    let Some(call) = blocks.first().and_then(|block| block.calls.first()) else {
        return Ok(None);
    };
    if !call.status {
        // Geth puts the revert data in the error, Anvil in the return data.
        let data = call
            .error
            .as_ref()
            .and_then(|error| error.data.as_ref())
            .filter(|data| !data.is_empty())
            .unwrap_or(&call.return_data);
        return Err(ApiError::Reverted(Revert::decode(data)));
    }
    Ok(Some(spent(call.gas_used, call.max_used_gas)))
}

/// The gas an execution spent before refunds: what the node reports as
/// such (`maxUsedGas`, which Anvil leaves out), else a bound from the gas
/// used. A refund is capped at a fifth of the gas spent (EIP-3529), so the
/// gas used is at least four fifths of it.
fn spent(used: u64, before_refunds: Option<u64>) -> u64 {
    before_refunds.map_or(used + used / 4, |spent| spent.max(used))
}

/// The gas limit for a transaction whose simulation spent `spent` gas
/// before refunds.
///
/// - Each call level keeps back a 64th of the gas it could forward
///   (EIP-150): the forwarder calls the vault, which may call a contract
///   wallet, so two levels.
/// - An `SSTORE` needs more than 2,300 gas left (EIP-2200).
///
/// Then [`with_headroom`], as for an estimate. Only the gas used is paid
/// for.
fn gas_limit(spent: u64) -> u64 {
    with_headroom(spent + spent / 31 + SSTORE_SENTRY)
}

/// `gas` and a fifth more: the state may move between the simulation or
/// estimate and the block.
const fn with_headroom(gas: u64) -> u64 {
    gas + gas / 5
}

/// Polls `provider` for the receipt of `hash` until it has one: looks
/// back to back for [`QUICK_RECEIPT_WINDOW`], then pauses from
/// [`FIRST_RECEIPT_POLL`] doubling up to [`RECEIPT_POLL`]. Unbounded: the
/// caller sets the time limit.
pub async fn poll_receipt<P: Provider>(
    provider: &P,
    hash: TxHash,
) -> Result<TransactionReceipt, ApiError> {
    let quick_until = Instant::now() + QUICK_RECEIPT_WINDOW;
    let mut pause = FIRST_RECEIPT_POLL;
    loop {
        if let Some(receipt) = provider
            .get_transaction_receipt(hash)
            .await
            .map_err(|error| ApiError::from_rpc(&error))?
        {
            return Ok(receipt);
        }
        if Instant::now() < quick_until {
            continue;
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(RECEIPT_POLL);
    }
}

/// The result of a mined relay; a revert on chain (the state moved between
/// the simulation and the block) is an error.
fn relayed(checked: Checked, receipt: &TransactionReceipt) -> Result<Relayed, ApiError> {
    if !receipt.status() {
        return Err(ApiError::RevertedOnChain { transaction_hash: receipt.transaction_hash });
    }
    Ok(Relayed {
        function: checked.function.to_owned(),
        signer: checked.signer,
        transaction_hash: receipt.transaction_hash,
        block_number: receipt.block_number.unwrap_or_default(),
    })
}

/// The authorisation of a `...BySig` call; `None` for the forwarder's other
/// functions. Exhaustive, so a new forwarder function must say which it is.
fn authorisation(call: &Calls) -> Option<&Signature> {
    Some(match call {
        Calls::addDeviceBySig(c) => &c.auth,
        Calls::addRecordBySig(c) => &c.auth,
        Calls::addStaffBySig(c) => &c.auth,
        Calls::approveRequestBySig(c) => &c.auth,
        Calls::closeBreakGlassBySig(c) => &c.auth,
        Calls::denyRequestBySig(c) => &c.auth,
        Calls::grantBySig(c) => &c.auth,
        Calls::grantRecordBySig(c) => &c.auth,
        Calls::openBreakGlassBySig(c) => &c.auth,
        Calls::publishCategoryKeyBySig(c) => &c.auth,
        Calls::publishRecordKeyBySig(c) => &c.auth,
        Calls::raiseAlertBySig(c) => &c.auth,
        Calls::registerBySig(c) => &c.auth,
        Calls::removeDeviceBySig(c) => &c.auth,
        Calls::removeGuardianBySig(c) => &c.auth,
        Calls::removeStaffBySig(c) => &c.auth,
        Calls::requestAccessBySig(c) => &c.auth,
        Calls::revokeBySig(c) => &c.auth,
        Calls::revokeRecordBySig(c) => &c.auth,
        Calls::rotateCategoryKeyBySig(c) => &c.auth,
        Calls::setEmergencyCustodianBySig(c) => &c.auth,
        Calls::setEncryptionKeyBySig(c) => &c.auth,
        Calls::setGuardianBySig(c) => &c.auth,
        Calls::DOMAIN_SEPARATOR(_)
        | Calls::eip712Domain(_)
        | Calls::nonces(_)
        | Calls::vault(_) => {
            return None;
        }
    })
}

/// `POST /v1/relay`.
pub async fn handler(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Json(request): Json<RelayRequest>,
) -> Result<Response, ApiError> {
    let Some(key) = Idempotency::key(&headers)? else {
        return relay_once(&state, request.calldata).await.map(IntoResponse::into_response);
    };
    let hash = request_hash(b"relay", &request.calldata);
    let (ticket, sent) = match state.idempotency.claim(session.address, &key, "relay", hash).await?
    {
        Claim::Done(stored) => {
            state.metrics.idempotent_replay();
            return Ok((stored.status, [replayed_header()], Json(stored.body)).into_response());
        }
        Claim::Fresh { ticket, sent } => (ticket, sent),
    };
    // An earlier attempt sent a transaction and died: its receipt is the
    // answer, once it is mined. If the node does not know it, it was lost
    // (or never sent); relaying again is safe, because the signature's nonce
    // lets only one of them through.
    let previous = match sent {
        Some(hash) => state.relayer.resume(&request.calldata, hash).await,
        None => Ok(None),
    };
    let result = match previous {
        Ok(Some(relayed)) => Ok(relayed),
        Ok(None) => {
            state
                .relayer
                .relay_with(request.calldata.clone(), |hash| ticket.record_sent(hash))
                .await
        }
        Err(error) => Err(error),
    };
    let stored = match &result {
        Ok(relayed) => {
            state.metrics.relayed();
            Stored {
                status: axum::http::StatusCode::OK,
                body: serde_json::to_value(relayed).map_err(ApiError::internal)?,
            }
        }
        // Final answers: the same request would get them again.
        Err(
            error @ (ApiError::Reverted(_)
            | ApiError::RevertedOnChain { .. }
            | ApiError::NotRelayable { .. }),
        ) => {
            state.metrics.relay_reverted();
            Stored { status: error.status_and_code().0, body: error.to_json() }
        }
        // The chain is down or slow: a retry may do better. Keep the key
        // (and a recorded transaction) for it.
        Err(_) => {
            drop(ticket);
            return result.map(|relayed| Json(relayed).into_response());
        }
    };
    ticket.finish(&stored).await?;
    result.map(|relayed| Json(relayed).into_response())
}

async fn relay_once(state: &AppState, calldata: Bytes) -> Result<Json<Relayed>, ApiError> {
    match state.relayer.relay(calldata).await {
        Ok(relayed) => {
            state.metrics.relayed();
            Ok(Json(relayed))
        }
        Err(error) => {
            if matches!(error, ApiError::Reverted(_) | ApiError::RevertedOnChain { .. }) {
                state.metrics.relay_reverted();
            }
            Err(error)
        }
    }
}

#[cfg(test)]
mod tests {
    use alloy::{
        primitives::{U256, address, aliases::U40},
        sol_types::SolCall,
    };
    use medvault_core::bindings::forwarder::MedVaultForwarder;

    use super::*;

    #[test]
    fn the_gas_spent_is_the_nodes_figure_when_given_else_a_quarter_over_the_gas_used() {
        // The largest refund: 34,570 used of 43,212 spent (Anvil, an SSTORE
        // set and cleared).
        assert_eq!(spent(34_570, None), 43_212);
        assert_eq!(spent(34_570, Some(43_000)), 43_000);
        // A figure below the gas used is not believed.
        assert_eq!(spent(34_570, Some(1)), 34_570);
        assert_eq!(gas_limit(31_000), (31_000 + 1_000 + SSTORE_SENTRY) * 6 / 5);
    }

    #[test]
    fn only_by_sig_calls_are_relayable() {
        let auth = Signature {
            signer: address!("0x00000000000000000000000000000000000a11ce"),
            deadline: U256::from(1),
            signature: Bytes::new(),
        };
        let grant = MedVaultForwarder::grantBySigCall {
            patient: auth.signer,
            grantee: Address::ZERO,
            readMask: 2,
            writeMask: 0,
            expiry: U40::from(10),
            auth: auth.clone(),
        }
        .abi_encode();
        let checked = Relayer::check(&grant).unwrap();
        assert_eq!(checked.function, "grantBySig");
        assert_eq!(checked.signer, auth.signer);

        let nonces = MedVaultForwarder::noncesCall { owner: auth.signer }.abi_encode();
        assert!(matches!(Relayer::check(&nonces), Err(ApiError::NotRelayable { .. })));
        assert!(matches!(Relayer::check(&[1, 2, 3]), Err(ApiError::NotRelayable { .. })));
        assert!(matches!(
            Relayer::check(&grant[..grant.len() - 1]),
            Err(ApiError::NotRelayable { .. })
        ));
    }
}
