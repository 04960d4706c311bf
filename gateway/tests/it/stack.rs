//! MedVault on a fresh Anvil, a fresh Kubo, and the gateway's data path on a
//! SQLite file, with a cast of actors (each one of Anvil's funded keys).

use std::{
    path::PathBuf,
    sync::{Arc, LazyLock},
    time::Duration,
};

use alloy::{
    network::EthereumWallet,
    node_bindings::AnvilInstance,
    primitives::{Address, Bytes, U256, aliases::U40},
    providers::{DynProvider, Provider, ProviderBuilder, ext::AnvilApi},
    signers::{SignerSync, local::PrivateKeySigner},
    sol_types::SolValue,
};
use k256::SecretKey;
use medvault_core::{
    bindings::{MedVault, MedVaultForwarder},
    keys::EncryptionKey,
    sig::{self, Signature},
};
use medvault_deploy::{Compiled, ContractsCompiler, deploy};
use medvault_gateway::{
    access_log::AccessLog,
    download::{Headers, Reader},
    ipfs::Ipfs,
    pending::{Pending, Upload},
    relay::Relayer,
    state::Chain,
    upload::{RecordFields, Uploader},
};
use medvault_tests::{KuboNode, Toolchain, spawn_anvil, toolchain::contracts_dir};
use sqlx::SqlitePool;
use tempfile::TempDir;

/// The contracts, compiled once per test binary.
static CONTRACTS: LazyLock<Compiled> = LazyLock::new(|| {
    ContractsCompiler::new(contracts_dir(), Toolchain::locate().solc().unwrap()).compile().unwrap()
});

/// The categories the tests use.
pub(crate) const LABS: u8 = 2;

/// Someone on chain: their wallet and their encryption key.
pub(crate) struct Actor {
    pub(crate) wallet: PrivateKeySigner,
    pub(crate) key: EncryptionKey,
}

impl Actor {
    pub(crate) fn address(&self) -> Address {
        self.wallet.address()
    }
}

pub(crate) struct Stack {
    pub(crate) provider: DynProvider,
    pub(crate) vault: MedVault::MedVaultInstance<DynProvider>,
    pub(crate) uploader: Uploader,
    /// The gateway's relayer (Anvil's last account), which sends the
    /// add-records and the anchors.
    pub(crate) relayer: Arc<Relayer>,
    pub(crate) log: AccessLog,
    pub(crate) ipfs: Ipfs,
    pub(crate) db: PathBuf,
    pub(crate) governance: Actor,
    pub(crate) hospital: Actor,
    pub(crate) doctor: Actor,
    pub(crate) patient: Actor,
    pub(crate) stranger: Actor,
    pub(crate) revoked: Actor,
    pub(crate) expiring: Actor,
    pub(crate) suspended: Actor,
    pub(crate) other_hospital: Actor,
    pub(crate) kubo: KuboNode,
    _dir: TempDir,
    pub(crate) anvil: AnvilInstance,
}

impl Stack {
    /// Deploys MedVault, registers the cast and grants the doctors access.
    pub(crate) async fn new() -> Self {
        let compiled = tokio::task::spawn_blocking(|| &*CONTRACTS).await.unwrap();
        let anvil = spawn_anvil(&Toolchain::locate()).unwrap();
        let kubo = KuboNode::spawn(&Toolchain::locate()).await.unwrap();
        let mut actors = anvil.keys().iter().enumerate().map(|(i, key)| Actor {
            wallet: PrivateKeySigner::from(key.clone()),
            key: EncryptionKey::from_secret(SecretKey::from_slice(&[i as u8 + 1; 32]).unwrap()),
        });
        let mut next = || actors.next().unwrap();
        let (governance, hospital, doctor, patient, stranger) =
            (next(), next(), next(), next(), next());
        let (revoked, expiring, suspended, other_hospital) = (next(), next(), next(), next());

        let mut wallet = EthereumWallet::from(governance.wallet.clone());
        for actor in [
            &hospital,
            &doctor,
            &patient,
            &stranger,
            &revoked,
            &expiring,
            &suspended,
            &other_hospital,
        ] {
            wallet.register_signer(actor.wallet.clone());
        }
        let provider =
            ProviderBuilder::new().wallet(wallet).connect_http(anvil.endpoint_url()).erased();
        let address = deploy(
            &provider,
            compiled.contract("MedVault").unwrap(),
            &governance.address().abi_encode(),
        )
        .await
        .unwrap();
        let vault = MedVault::new(address, provider.clone());
        let forwarder =
            MedVaultForwarder::new(vault.forwarder().call().await.unwrap(), provider.clone());
        let domain = sig::domain(anvil.chain_id(), *forwarder.address());
        let chain = Chain {
            provider: provider.clone(),
            chain_id: anvil.chain_id(),
            vault: vault.clone(),
            forwarder: forwarder.clone(),
            deployment_block: 0,
        };
        let relayer_key = anvil.keys().last().unwrap().clone();
        let relayer = Arc::new(Relayer::new(
            chain,
            EthereumWallet::from(PrivateKeySigner::from(relayer_key)),
            Duration::from_secs(30),
        ));

        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("gateway.sqlite");
        let pool = connect(&db).await;
        let ipfs = Ipfs::new(&kubo.api_url()).unwrap();
        let uploader = Uploader {
            ipfs: ipfs.clone(),
            pending: Pending::open(pool.clone()).await.unwrap(),
            vault: vault.clone(),
            forwarder,
            relayer: relayer.clone(),
            domain,
            from_block: 0,
            headers: Headers::default(),
        };
        let log = AccessLog::open(pool).await.unwrap();
        let stack = Self {
            provider,
            vault,
            uploader,
            relayer,
            log,
            ipfs,
            db,
            governance,
            hospital,
            doctor,
            patient,
            stranger,
            revoked,
            expiring,
            suspended,
            other_hospital,
            kubo,
            _dir: dir,
            anvil,
        };
        stack.cast().await;
        stack
    }

    async fn cast(&self) {
        let v = &self.vault;
        let gov = self.governance.address();
        for org in [&self.hospital, &self.other_hospital] {
            send(v.addOrganisation(org.address()).from(gov)).await;
        }
        send(v.setRelayer(self.relayer.address(), true).from(gov)).await;
        let licence = U40::from(self.now().await + 365 * 86_400);
        for doctor in [&self.doctor, &self.revoked, &self.expiring] {
            send(v.addStaff(doctor.address(), 1, licence).from(self.hospital.address())).await;
        }
        send(v.addStaff(self.suspended.address(), 1, licence).from(self.other_hospital.address()))
            .await;
        send(v.register(key_bytes(&self.patient)).from(self.patient.address())).await;
        for staff in [&self.doctor, &self.revoked, &self.expiring, &self.suspended, &self.stranger]
        {
            send(v.setEncryptionKey(key_bytes(staff)).from(staff.address())).await;
        }
        let year = U40::from(self.now().await + 365 * 86_400);
        let mask = 1u64 << LABS;
        for (doctor, write, expiry) in [
            (&self.doctor, mask, year),
            (&self.revoked, 0, year),
            (&self.expiring, 0, U40::from(self.now().await + 600)),
            (&self.suspended, 0, year),
        ] {
            send(
                v.grant(self.patient.address(), doctor.address(), mask, write, expiry)
                    .from(self.patient.address()),
            )
            .await;
        }
    }

    pub(crate) async fn now(&self) -> u64 {
        let block = self.provider.get_block_by_number(Default::default()).await.unwrap().unwrap();
        block.header.timestamp
    }

    /// Moves the chain's clock on by `seconds` and mines a block.
    pub(crate) async fn warp(&self, seconds: u64) {
        self.provider.anvil_increase_time(seconds).await.unwrap();
        self.provider.anvil_mine(Some(1), None).await.unwrap();
    }

    /// The doctor's lab result for the patient, server-side encrypted.
    pub(crate) fn lab_fields(&self) -> RecordFields {
        RecordFields {
            author: self.doctor.address(),
            patient: self.patient.address(),
            category: LABS,
            epoch: 0,
            wrapped_key: Bytes::new(),
            amends: U256::ZERO,
            envelopes: Vec::new(),
        }
    }

    /// `upload`'s add-record signed by `author`.
    pub(crate) async fn sign(&self, upload: Upload, author: &Actor) -> Signature {
        let deadline = self.now().await + 3_600;
        let to_sign = self.uploader.to_sign(upload, deadline).await.unwrap();
        let signature = author.wallet.sign_hash_sync(&to_sign.signing_hash).unwrap();
        Signature {
            signer: author.address(),
            deadline: U256::from(deadline),
            signature: signature.as_bytes().into(),
        }
    }

    /// The uploader as a restarted gateway sees it: the same SQLite file
    /// through a new pool.
    pub(crate) async fn restarted(&self) -> Uploader {
        let pool = connect(&self.db).await;
        Uploader {
            pending: Pending::open(pool).await.unwrap(),
            headers: Headers::default(),
            ..self.uploader.clone()
        }
    }

    /// Where downloads read the chain, with the headers of the records the
    /// uploader committed.
    pub(crate) const fn reader(&self) -> Reader<'_, DynProvider> {
        Reader { vault: &self.vault, from_block: 0, headers: &self.uploader.headers }
    }
}

pub(crate) async fn connect(path: &std::path::Path) -> SqlitePool {
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(path).create_if_missing(true);
    SqlitePool::connect_with(options).await.unwrap()
}

fn key_bytes(actor: &Actor) -> Bytes {
    Bytes::from(actor.key.public_key_bytes().to_vec())
}

pub(crate) async fn send<C: alloy::sol_types::SolCall>(
    call: alloy::contract::CallBuilder<&DynProvider, std::marker::PhantomData<C>>,
) {
    let receipt = call.send().await.unwrap().get_receipt().await.unwrap();
    assert!(receipt.status());
}
