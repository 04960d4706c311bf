//! An Anvil with MedVault deployed, and quick ways to fill it with events.

use std::sync::LazyLock;

use alloy::{
    network::TransactionBuilder as _,
    node_bindings::AnvilInstance,
    primitives::{Address, B256, Bytes, U256, keccak256},
    providers::{DynProvider, Provider, ProviderBuilder, ext::AnvilApi as _},
    rpc::types::{
        TransactionRequest,
        anvil::{ReorgOptions, TransactionData},
    },
    signers::local::PrivateKeySigner,
    sol_types::{SolCall, SolValue},
};
use medvault_core::bindings::vault::{IMedVault, MedVault};
use medvault_deploy::{Compiled, ContractsCompiler, deploy};
use medvault_tests::{Toolchain, spawn_anvil, toolchain::contracts_dir};

static CONTRACTS: LazyLock<Compiled> = LazyLock::new(|| {
    ContractsCompiler::new(contracts_dir(), Toolchain::locate().solc().unwrap()).compile().unwrap()
});

/// Envelopes per record: the contract's maximum, so a transaction gives 17
/// events.
const ENVELOPES: usize = 16;

/// An Anvil with MedVault deployed and the first account registered as a
/// patient.
pub struct Chain {
    pub anvil: AnvilInstance,
    /// Sends as the unlocked accounts, with nothing filled in.
    pub raw: DynProvider,
    pub vault: Address,
    pub patient: Address,
    pub chain_id: u64,
    nonce: u64,
    records: u64,
}

impl Chain {
    pub async fn new() -> Self {
        let compiled = tokio::task::spawn_blocking(|| &*CONTRACTS).await.unwrap();
        let anvil = spawn_anvil(&Toolchain::locate()).unwrap();
        let signer = PrivateKeySigner::from(anvil.keys()[0].clone());
        let patient = signer.address();
        let wallet =
            ProviderBuilder::new().wallet(signer.clone()).connect_http(anvil.endpoint_url());
        let vault = deploy(&wallet, compiled.contract("MedVault").unwrap(), &patient.abi_encode())
            .await
            .unwrap();
        let xy = signer.public_key();
        let key: Bytes = [&[2 + (xy[63] & 1)], &xy[..32]].concat().into();
        let raw = ProviderBuilder::new()
            .disable_recommended_fillers()
            .connect_http(anvil.endpoint_url())
            .erased();
        let nonce = raw.get_transaction_count(patient).await.unwrap();
        let chain_id = anvil.chain_id();
        let mut chain = Self { anvil, raw, vault, patient, chain_id, nonce, records: 0 };
        let register = MedVault::registerCall { key }.abi_encode();
        chain.send(register).await;
        chain
    }

    fn tx(&mut self, input: Vec<u8>) -> TransactionRequest {
        let tx = TransactionRequest::default()
            .from(self.patient)
            .to(self.vault)
            .input(input.into())
            .nonce(self.nonce)
            .gas_limit(1_500_000)
            .max_fee_per_gas(100_000_000_000)
            .max_priority_fee_per_gas(1)
            .with_chain_id(self.chain_id);
        self.nonce += 1;
        tx
    }

    /// Sends a transaction and waits for it to be mined (automine on).
    pub async fn send(&mut self, input: Vec<u8>) -> B256 {
        let tx = self.tx(input);
        let pending = self.raw.send_transaction(tx).await.unwrap();
        let receipt = pending.get_receipt().await.unwrap();
        assert!(receipt.status());
        receipt.transaction_hash
    }

    /// The calldata of a record with 16 envelopes: 17 events.
    pub fn add_record(&mut self, seed: u64) -> Vec<u8> {
        self.records += 1;
        let record = IMedVault::RecordInput {
            patient: self.patient,
            category: u8::try_from(seed % 8).unwrap() + 1,
            cid: keccak256(seed.to_be_bytes()).repeat(2).into(),
            ciphertextHash: keccak256(seed.to_le_bytes()),
            wrappedKey: Bytes::new(),
            epoch: 0,
            amends: U256::ZERO,
        };
        let envelope = IMedVault::Envelope {
            recipient: self.patient,
            sealedKey: keccak256(b"k").repeat(2).into(),
        };
        MedVault::addRecordCall { record, envelopes: vec![envelope; ENVELOPES] }.abi_encode()
    }

    /// Mines `txs` records (17 events each), `per_block` to a block.
    pub async fn fill(&mut self, txs: u64, per_block: u64) {
        self.raw.anvil_set_auto_mine(false).await.unwrap();
        let mut sent = 0;
        while sent < txs {
            for _ in 0..per_block.min(txs - sent) {
                let input = self.add_record(sent);
                let tx = self.tx(input);
                let _ = self.raw.send_transaction(tx).await.unwrap();
                sent += 1;
            }
            self.raw.evm_mine(None).await.unwrap();
        }
        // Blocks have a gas limit: mine until every transaction is in.
        while self.raw.get_transaction_count(self.patient).await.unwrap() < self.nonce {
            self.raw.evm_mine(None).await.unwrap();
        }
        self.raw.anvil_set_auto_mine(true).await.unwrap();
    }

    /// Replaces the last `depth` blocks with as many holding other records.
    pub async fn reorg(&mut self, depth: u64, seed: u64) {
        // The replaced blocks' transactions are gone; count the nonce from
        // the fork point.
        let head = self.raw.get_block_number().await.unwrap();
        self.nonce = self
            .raw
            .get_transaction_count(self.patient)
            .block_id((head - depth).into())
            .await
            .unwrap();
        let mut pairs = Vec::new();
        for i in 0..depth {
            let input = self.add_record(seed * 1000 + i);
            let tx = self.tx(input);
            pairs.push((TransactionData::JSON(tx), i));
        }
        self.raw.anvil_reorg(ReorgOptions { depth, tx_block_pairs: pairs }).await.unwrap();
    }

    /// How many logs the contract has emitted, as `eth_getLogs` says.
    pub async fn log_count(&self) -> usize {
        let filter = alloy::rpc::types::Filter::new().address(self.vault).from_block(0);
        self.raw.get_logs(&filter).await.unwrap().len()
    }
}
