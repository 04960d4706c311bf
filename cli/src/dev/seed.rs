//! Seeding a fresh deployment with the demo identities.
//!
//! Governance adds the hospital; the hospital adds two doctors with licences
//! valid for a year, one of them with the emergency role; every participant
//! (and the gateway's emergency custodian) derives its encryption key from
//! its wallet, as `medvault_core::keys` derives it, and registers the public
//! half; the patient registers, names a guardian with both powers, adds a
//! device for the vitals category and names the custodian. Last, the patient
//! makes the first key of the emergency category and seals it to itself, the
//! guardian and the custodian, which is what the custodian needs to release
//! it to a doctor who breaks the glass.
//!
//! Every identity is one of Anvil's funded dev accounts, so nothing needs
//! funding; each action is its own transaction, sent by the account that
//! would send it in real life, and waited for.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use alloy::{
    network::EthereumWallet,
    primitives::{Address, aliases::U40},
    providers::{DynProvider, Provider, ProviderBuilder},
    rpc::types::TransactionRequest,
    signers::local::PrivateKeySigner,
};
use medvault_core::{
    bindings::{MedVault, vault::IMedVault},
    keys::{CategoryKey, CategoryKeyId, EncryptionKey, EncryptionKeyMessage, KeyError},
};
use medvault_deploy::DeployError;
use url::Url;

/// The category the demo device writes to (vital signs).
pub const VITALS: u8 = 1;
/// The emergency category: break-glass opens it, the custodian holds its key.
pub const EMERGENCY: u8 = 0;
/// The guardian's powers: manage consent (1) and read (2).
pub const GUARDIAN_POWERS: u8 = 3;
/// How long the doctors' licences are valid from seeding.
pub const LICENCE: Duration = Duration::from_secs(365 * 24 * 3600);

/// `IMedVault.Role.Doctor`.
const ROLE_DOCTOR: u8 = 1;
/// `IMedVault.Role.Emergency`.
const ROLE_EMERGENCY: u8 = 4;

/// The wallets of the demo identities and of the gateway's custodian.
#[derive(Debug, Clone)]
pub struct Participants {
    /// Governance (the deployer).
    pub governance: PrivateKeySigner,
    /// The hospital's administrator account (the organisation).
    pub hospital: PrivateKeySigner,
    /// A doctor of the hospital.
    pub doctor: PrivateKeySigner,
    /// A doctor of the hospital with the emergency role.
    pub emergency_doctor: PrivateKeySigner,
    /// The patient.
    pub patient: PrivateKeySigner,
    /// The patient's guardian.
    pub guardian: PrivateKeySigner,
    /// The patient's device.
    pub device: PrivateKeySigner,
    /// The gateway's emergency custodian.
    pub custodian: PrivateKeySigner,
}

/// What the seeding left on chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seeded {
    /// The block of the last seeding transaction: an index that has reached
    /// it holds all of the seeding.
    pub last_block: u64,
    /// When the doctors' licences expire (Unix seconds).
    pub licence_expiry: u64,
}

/// Seeds the MedVault at `vault` on the chain at `rpc_url` (`chain_id`)
/// with `participants` (see the module docs).
pub async fn seed(
    rpc_url: Url,
    chain_id: u64,
    vault: Address,
    participants: &Participants,
) -> Result<Seeded, SeedError> {
    let Participants {
        governance,
        hospital,
        doctor,
        emergency_doctor,
        patient,
        guardian,
        device,
        custodian,
    } = participants;
    let mut wallet = EthereumWallet::new(governance.clone());
    for signer in [hospital, doctor, emergency_doctor, patient, guardian, device, custodian] {
        wallet.register_signer(signer.clone());
    }
    let provider = ProviderBuilder::new().wallet(wallet).connect_http(rpc_url).erased();
    let chain = Seeder { provider: provider.clone(), vault: MedVault::new(vault, provider) };
    let key = |signer: &PrivateKeySigner| {
        let message = EncryptionKeyMessage { chain_id, contract: vault, account: signer.address() };
        let signer = signer.clone();
        async move { message.derive(&signer).await }
    };

    chain
        .send("addOrganisation", chain.vault.addOrganisation(hospital.address()), governance)
        .await?;
    let licence_expiry = unix_now() + LICENCE.as_secs();
    for (staff, role) in [(doctor, ROLE_DOCTOR), (emergency_doctor, ROLE_EMERGENCY)] {
        let call = chain.vault.addStaff(staff.address(), role, U40::from(licence_expiry));
        chain.send("addStaff", call, hospital).await?;
    }
    for signer in [governance, hospital, doctor, emergency_doctor, guardian, device, custodian] {
        let public = key(signer).await?.public_key_bytes();
        chain.send("setEncryptionKey", chain.vault.setEncryptionKey(public.into()), signer).await?;
    }
    let patient_key = key(patient).await?;
    chain
        .send("register", chain.vault.register(patient_key.public_key_bytes().into()), patient)
        .await?;
    let call = chain.vault.setGuardian(guardian.address(), GUARDIAN_POWERS);
    chain.send("setGuardian", call, patient).await?;
    chain.send("addDevice", chain.vault.addDevice(device.address(), VITALS), patient).await?;
    let call = chain.vault.setEmergencyCustodian(custodian.address());
    chain.send("setEmergencyCustodian", call, patient).await?;

    let id = CategoryKeyId { patient: patient.address(), category: EMERGENCY, epoch: 0 };
    let emergency = CategoryKey::generate(id);
    let recipients: [(&PrivateKeySigner, EncryptionKey); 3] = [
        (patient, patient_key),
        (guardian, key(guardian).await?),
        (custodian, key(custodian).await?),
    ];
    let mut last_block = 0;
    for (recipient, recipient_key) in &recipients {
        let envelope = IMedVault::Envelope {
            recipient: recipient.address(),
            sealedKey: emergency.seal_to(&recipient_key.public_key()).into(),
        };
        let call = chain.vault.publishCategoryKey(patient.address(), EMERGENCY, 0, envelope);
        last_block = chain.send("publishCategoryKey", call, patient).await?;
    }
    Ok(Seeded { last_block, licence_expiry })
}

/// The provider (it holds every participant's key) and the contract.
struct Seeder {
    provider: DynProvider,
    vault: MedVault::MedVaultInstance<DynProvider>,
}

impl Seeder {
    /// Sends `call` from `from`, waits for it to succeed and returns its
    /// block.
    async fn send<C: alloy::sol_types::SolCall>(
        &self,
        action: &'static str,
        call: alloy::contract::SolCallBuilder<&DynProvider, C>,
        from: &PrivateKeySigner,
    ) -> Result<u64, SeedError> {
        let tx: TransactionRequest = call.from(from.address()).into_transaction_request();
        let receipt = medvault_deploy::deploy::send(&self.provider, tx)
            .await
            .map_err(|source| SeedError::Transaction { action, from: from.address(), source })?;
        receipt.block_number.ok_or(SeedError::Pending { action })
    }
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs())
}

/// Why the seeding failed.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// A seeding transaction was refused, reverted or not mined.
    #[error("the seeding transaction {action} from {from} failed")]
    Transaction {
        /// The contract function called.
        action: &'static str,
        /// The account that sent it.
        from: Address,
        /// What went wrong.
        #[source]
        source: DeployError,
    },
    /// A receipt came without a block number.
    #[error("the receipt of {action} names no block")]
    Pending {
        /// The contract function called.
        action: &'static str,
    },
    /// An encryption key could not be derived from a wallet.
    #[error("cannot derive an encryption key")]
    Key(#[from] KeyError),
}
