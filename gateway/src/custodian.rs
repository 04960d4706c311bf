//! The emergency custodian: re-seals a patient's emergency category key to
//! the staff member who broke the glass, once the chain says they may have
//! it.
//!
//! A patient who names the gateway as their emergency custodian seals their
//! emergency category key (category 0) to the custodian's encryption key.
//! When emergency staff open a break-glass case (`BreakGlassOpened`), the
//! custodian checks on chain that the case is live, that the opener is
//! emergency staff of the organisation named in the case, that this
//! organisation is active and that their licence is valid; then it opens
//! its own envelope of the current epoch's key and publishes it sealed to
//! the opener (`publishCategoryKey`), which the contract allows only while
//! the case is live. Otherwise it refuses and logs why, by case id and a
//! reason code only: nothing identifying or medical reaches the log.
//!
//! The custodian signs with its own wallet (a key from the environment or a
//! keystore: `Config::custodian_key_source`); its encryption key is derived
//! from that wallet as every participant's is (`docs/keys.md`, [`start`]).
//!
//! Given the gateway's database ([`Custodian::persisting`]), it stores how
//! far it has scanned, and a restart resumes a few blocks before that point
//! rather than at the deployment block. The overlap is harmless, since an
//! opener already served is recognised and not served twice, and it covers
//! an opening moved by a shallow reorg into a block the scan had passed.

use alloy::{
    network::EthereumWallet,
    primitives::{Address, B256, U256, aliases::U40},
    providers::Provider,
    providers::{DynProvider, ProviderBuilder},
    signers::local::PrivateKeySigner,
    transports::http::reqwest::Url,
};
use medvault_core::{
    bindings::{MedVault, vault::IMedVault},
    envelope,
    keys::{CategoryKeyId, EncryptionKey, EncryptionKeyMessage},
};

use sqlx::SqlitePool;

use crate::upload::now;

/// The emergency category.
pub const EMERGENCY: u8 = 0;
/// The role of emergency staff in `IMedVault.Role`.
const ROLE_EMERGENCY: u8 = 4;
/// `IMedVault.OrganisationStatus.Active`.
const ACTIVE: u8 = 1;
/// How many blocks before its stored position a restarted scan begins.
pub const RESCAN_BLOCKS: u64 = 12;

/// Why the custodian could not act.
#[derive(Debug, thiserror::Error)]
pub enum CustodianError {
    /// The custodian's encryption key could not be derived from its wallet.
    #[error("the custodian's encryption key could not be derived")]
    Key(#[from] medvault_core::keys::KeyError),
    /// The chain could not be read or the transaction failed.
    #[error("the chain call failed")]
    Chain(#[from] alloy::contract::Error),
    /// The publication's receipt did not come.
    #[error("the publication's receipt did not come")]
    Receipt(#[from] alloy::providers::PendingTransactionError),
    /// The scan position could not be read or stored.
    #[error("the custodian's scan position could not be read or stored")]
    Store(#[from] sqlx::Error),
}

/// Why the custodian refused a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The patient named another custodian (or none).
    NotOurPatient,
    /// The case was closed or has expired.
    CaseNotLive,
    /// The opener is not (or no longer) emergency staff.
    NotEmergencyStaff,
    /// The opener's staff record names another organisation than the case.
    OtherOrganisation,
    /// The opener's organisation is suspended.
    OrganisationNotActive,
    /// The opener's licence has expired.
    LicenceExpired,
    /// The opener has no encryption key to seal to.
    NoEncryptionKey,
    /// The patient has sealed no emergency key of the current epoch to the
    /// custodian.
    NoCustodianEnvelope,
}

impl Refusal {
    /// A stable code for the log.
    pub fn code(self) -> &'static str {
        match self {
            Self::NotOurPatient => "not-our-patient",
            Self::CaseNotLive => "case-not-live",
            Self::NotEmergencyStaff => "not-emergency-staff",
            Self::OtherOrganisation => "other-organisation",
            Self::OrganisationNotActive => "organisation-not-active",
            Self::LicenceExpired => "licence-expired",
            Self::NoEncryptionKey => "no-encryption-key",
            Self::NoCustodianEnvelope => "no-custodian-envelope",
        }
    }
}

/// What the custodian did about a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The emergency key was sealed to the opener in this transaction.
    Published {
        /// The `publishCategoryKey` transaction.
        tx_hash: B256,
    },
    /// The opener holds the current emergency key already (an earlier run
    /// published it, or the patient did): nothing sent.
    AlreadyPublished,
    /// The custodian refused.
    Refused(Refusal),
}

/// The custodian: its wallet's provider, MedVault, and its encryption key.
#[derive(Debug)]
pub struct Custodian<P> {
    vault: MedVault::MedVaultInstance<P>,
    address: Address,
    key: EncryptionKey,
    from_block: u64,
    /// Where the scan position is kept, if anywhere, and the chain's id.
    db: Option<(SqlitePool, u64)>,
}

impl<P: Provider> Custodian<P> {
    /// A custodian acting as `address` (the wallet of `vault`'s provider)
    /// with encryption key `key`; event scans start at `from_block`.
    pub fn new(
        vault: MedVault::MedVaultInstance<P>,
        address: Address,
        key: EncryptionKey,
        from_block: u64,
    ) -> Self {
        Self { vault, address, key, from_block, db: None }
    }

    /// Keeps the scan position in `db` (the gateway's database, migrated),
    /// under the chain `chain_id`, MedVault's address and the custodian's.
    pub fn persisting(mut self, db: SqlitePool, chain_id: u64) -> Self {
        self.db = Some((db, chain_id));
        self
    }

    /// The block [`Custodian::run`] starts at: [`RESCAN_BLOCKS`] before the
    /// stored position, never before the deployment block; the deployment
    /// block when nothing is stored.
    pub async fn resume_from(&self) -> Result<u64, CustodianError> {
        let Some((db, chain_id)) = &self.db else { return Ok(self.from_block) };
        let stored: Option<i64> = sqlx::query_scalar(
            "SELECT next_block FROM custodian_scan WHERE chain_id = ? AND vault = ? AND custodian = ?",
        )
        .bind(*chain_id as i64)
        .bind(self.vault.address().as_slice())
        .bind(self.address.as_slice())
        .fetch_optional(db)
        .await?;
        Ok(stored.map_or(self.from_block, |next| {
            (next as u64).saturating_sub(RESCAN_BLOCKS).max(self.from_block)
        }))
    }

    /// Stores `next` as the first block not yet scanned.
    async fn save(&self, next: u64) -> Result<(), CustodianError> {
        let Some((db, chain_id)) = &self.db else { return Ok(()) };
        sqlx::query(
            "INSERT INTO custodian_scan (chain_id, vault, custodian, next_block) VALUES (?, ?, ?, ?)
             ON CONFLICT (chain_id, vault, custodian) DO UPDATE SET next_block = excluded.next_block",
        )
        .bind(*chain_id as i64)
        .bind(self.vault.address().as_slice())
        .bind(self.address.as_slice())
        .bind(next as i64)
        .execute(db)
        .await?;
        Ok(())
    }

    /// Handles one break-glass case.
    pub async fn handle(&self, case_id: U256) -> Result<Outcome, CustodianError> {
        let outcome = self.decide(case_id).await?;
        match outcome {
            Outcome::Published { .. } => {
                tracing::info!(case_id = %case_id, "emergency key published to the opener");
            }
            Outcome::AlreadyPublished => {
                tracing::debug!(case_id = %case_id, "the opener holds the emergency key already");
            }
            Outcome::Refused(refusal) => {
                tracing::warn!(case_id = %case_id, reason = refusal.code(), "emergency key refused");
            }
        }
        Ok(outcome)
    }

    async fn decide(&self, case_id: U256) -> Result<Outcome, CustodianError> {
        let case = self.vault.emergencyCase(case_id).call().await?;
        if self.vault.emergencyCustodian(case.patient).call().await? != self.address {
            return Ok(Outcome::Refused(Refusal::NotOurPatient));
        }
        let now = now();
        // Verdict `None` (0) while the case is open.
        if case.verdict != 0 || case.expiresAt <= U40::from(now) {
            return Ok(Outcome::Refused(Refusal::CaseNotLive));
        }
        let staff: IMedVault::Staff = self.vault.staff(case.staff).call().await?;
        if staff.role != ROLE_EMERGENCY {
            return Ok(Outcome::Refused(Refusal::NotEmergencyStaff));
        }
        if staff.organisation != case.organisation {
            return Ok(Outcome::Refused(Refusal::OtherOrganisation));
        }
        if self.vault.organisationStatus(staff.organisation).call().await? != ACTIVE {
            return Ok(Outcome::Refused(Refusal::OrganisationNotActive));
        }
        if staff.licenceExpiry <= U40::from(now) {
            return Ok(Outcome::Refused(Refusal::LicenceExpired));
        }
        let opener_key = self.vault.encryptionKey(case.staff).call().await?;
        let Ok(opener_key) = envelope::parse_public_key(&opener_key) else {
            return Ok(Outcome::Refused(Refusal::NoEncryptionKey));
        };
        let epoch = self.vault.categoryEpoch(case.patient, EMERGENCY).call().await?;
        // A restart scans the openings again from the deployment block: an
        // opener served before it is not served twice.
        let held = self.emergency_envelopes(case.patient, case.staff).await?;
        if held.iter().any(|(event, _)| event.epoch == epoch) {
            return Ok(Outcome::AlreadyPublished);
        }
        let published = self.emergency_envelopes(case.patient, self.address).await?;
        let id = CategoryKeyId { patient: case.patient, category: EMERGENCY, epoch };
        let Some(key) = published
            .iter()
            .rev()
            .filter(|(event, _)| event.epoch == epoch)
            .find_map(|(event, _)| self.key.open_category_key(id, &event.sealedKey).ok())
        else {
            return Ok(Outcome::Refused(Refusal::NoCustodianEnvelope));
        };
        let sealed = envelope::seal(&opener_key, key.as_bytes());
        let envelope = IMedVault::Envelope { recipient: case.staff, sealedKey: sealed.into() };
        let receipt = self
            .vault
            .publishCategoryKey(case.patient, EMERGENCY, epoch, envelope)
            .from(self.address)
            .send()
            .await?
            .get_receipt()
            .await?;
        Ok(Outcome::Published { tx_hash: receipt.transaction_hash })
    }

    /// The patient's emergency-key envelopes sealed to `recipient`, every
    /// epoch, oldest first.
    async fn emergency_envelopes(
        &self,
        patient: Address,
        recipient: Address,
    ) -> Result<Vec<(MedVault::CategoryKeyPublished, alloy::rpc::types::Log)>, CustodianError> {
        Ok(self
            .vault
            .CategoryKeyPublished_filter()
            .topic1(patient.into_word())
            .topic2(recipient.into_word())
            .topic3(B256::from(U256::from(EMERGENCY)))
            .from_block(self.from_block)
            .query()
            .await?)
    }

    /// Handles every `BreakGlassOpened` from [`Custodian::resume_from`] on,
    /// polling every `interval`, until the task is dropped. A failure of the
    /// chain is logged and the same blocks are scanned again at the next
    /// tick, so an opening is never skipped; the position is stored after
    /// each scan that moved it.
    pub async fn run(&self, interval: std::time::Duration) {
        let mut from = loop {
            match self.resume_from().await {
                Ok(from) => break from,
                Err(error) => {
                    tracing::warn!(%error, "the custodian's scan position is unreadable; retrying");
                    tokio::time::sleep(interval).await;
                }
            }
        };
        loop {
            match self.poll(from).await {
                Ok(next) if next != from => {
                    from = next;
                    // Unstored, the position only costs a longer rescan
                    // after a restart.
                    if let Err(error) = self.save(next).await {
                        tracing::warn!(%error, "the custodian's scan position was not stored");
                    }
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, from, "the custodian's scan failed; retrying"),
            }
            tokio::time::sleep(interval).await;
        }
    }

    /// Handles the openings from block `from` to the head; returns the next
    /// block to scan.
    async fn poll(&self, from: u64) -> Result<u64, CustodianError> {
        let head = self
            .vault
            .provider()
            .get_block_number()
            .await
            .map_err(|error| CustodianError::Chain(error.into()))?;
        if head < from {
            return Ok(from);
        }
        let opened =
            self.vault.BreakGlassOpened_filter().from_block(from).to_block(head).query().await?;
        for (event, _) in opened {
            self.handle(event.caseId).await?;
        }
        Ok(head + 1)
    }
}

/// A custodian that signs as `wallet` on the chain at `rpc_url`, for the
/// MedVault at `vault` deployed in block `from_block`: derives its
/// encryption key from the wallet. Its [`Custodian::run`] starts at
/// `from_block`, so that a case opened while the gateway was down is
/// answered when it comes back (closed and expired cases are skipped, and
/// openers served already are not served again).
pub async fn start(
    wallet: PrivateKeySigner,
    rpc_url: Url,
    vault: Address,
    chain_id: u64,
    from_block: u64,
) -> Result<Custodian<DynProvider>, CustodianError> {
    let address = wallet.address();
    let key = EncryptionKeyMessage { chain_id, contract: vault, account: address }
        .derive(&wallet)
        .await?;
    let provider =
        ProviderBuilder::new().wallet(EthereumWallet::from(wallet)).connect_http(rpc_url).erased();
    let vault = MedVault::new(vault, provider);
    Ok(Custodian::new(vault, address, key, from_block))
}
