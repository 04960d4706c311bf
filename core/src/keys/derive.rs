//! Deriving a participant's encryption key from a wallet signature.
//!
//! The wallet signs one fixed EIP-712 message ([`EncryptionKeyMessage`]):
//! domain `{ name: "MedVault", version: "1", chainId, verifyingContract:
//! <MedVault> }`, type `EncryptionKey(string purpose,address account)`, with
//! the fixed [`ENCRYPTION_KEY_PURPOSE`] and the signer's address. Wallets sign
//! deterministically (RFC 6979), so the same wallet gets the same signature,
//! and so the same key, in the CLI and in the browser. The key is
//!
//! ```text
//! ikm    = r (32) || s (32, normalised to the lower half of the curve order)
//! salt   = "MedVault encryption key v1"
//! info   = chain id (u64 BE) || MedVault address (20) || account (20) || counter (u8, from 0)
//! secret = HKDF-SHA256(salt, ikm, info, 32 bytes), the first that is a valid secp256k1 scalar
//! ```
//!
//! `docs/keys.md` says why this is safe and what a user must never sign.

use alloy::{
    dyn_abi::TypedData,
    primitives::{Address, B256, Signature},
    signers::Signer,
    sol_types::{Eip712Domain, SolStruct, eip712_domain},
};
use hkdf::Hkdf;
use k256::SecretKey;
use sha2::Sha256;
use zeroize::Zeroizing;

use super::{EncryptionKey, KeyError};

/// The `purpose` the wallet shows: what signing does, and when not to.
pub const ENCRYPTION_KEY_PURPOSE: &str = "Derive my MedVault encryption key. Sign this only in a \
     MedVault app: anyone who holds this signature can read the records shared with you.";

const SALT: &[u8] = b"MedVault encryption key v1";

mod typed {
    alloy::sol! {
        /// The EIP-712 message a wallet signs to derive its encryption key.
        #[derive(Debug, serde::Serialize)]
        struct EncryptionKey {
            string purpose;
            address account;
        }
    }
}

/// The message `account` signs to derive its encryption key for the MedVault
/// contract at `contract` on chain `chain_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncryptionKeyMessage {
    /// The chain's id.
    pub chain_id: u64,
    /// The MedVault contract (not its forwarder).
    pub contract: Address,
    /// The wallet that signs, and whose key it is.
    pub account: Address,
}

impl EncryptionKeyMessage {
    /// The EIP-712 domain: MedVault, version 1, the chain and the contract.
    pub fn domain(&self) -> Eip712Domain {
        eip712_domain! {
            name: "MedVault",
            version: "1",
            chain_id: self.chain_id,
            verifying_contract: self.contract,
        }
    }

    fn message(&self) -> typed::EncryptionKey {
        typed::EncryptionKey { purpose: ENCRYPTION_KEY_PURPOSE.to_owned(), account: self.account }
    }

    /// The EIP-712 hash the wallet signs.
    pub fn signing_hash(&self) -> B256 {
        self.message().eip712_signing_hash(&self.domain())
    }

    /// The typed data as a browser wallet takes it (`eth_signTypedData_v4`).
    pub fn typed_data(&self) -> TypedData {
        TypedData::from_struct(&self.message(), Some(self.domain()))
    }

    /// Asks `signer` (which must be `account`) to sign the message, and
    /// derives the key from the signature.
    pub async fn derive<S: Signer + Sync>(&self, signer: &S) -> Result<EncryptionKey, KeyError> {
        if signer.address() != self.account {
            return Err(KeyError::WrongSigner { account: self.account });
        }
        let signature = signer.sign_typed_data(&self.message(), &self.domain()).await?;
        self.key_from_signature(&signature)
    }

    /// Derives the key from `account`'s signature over the message, checking
    /// first that it is theirs.
    pub fn key_from_signature(&self, signature: &Signature) -> Result<EncryptionKey, KeyError> {
        let signer = signature
            .recover_address_from_prehash(&self.signing_hash())
            .map_err(|_| KeyError::WrongSigner { account: self.account })?;
        if signer != self.account {
            return Err(KeyError::WrongSigner { account: self.account });
        }
        // A wallet may return either of the two valid `s`; both give one key.
        let signature = signature.normalize_s().unwrap_or(*signature);
        let mut ikm = Zeroizing::new([0; 64]);
        ikm[..32].copy_from_slice(&signature.r().to_be_bytes::<32>());
        ikm[32..].copy_from_slice(&signature.s().to_be_bytes::<32>());
        let hkdf = Hkdf::<Sha256>::new(Some(SALT), ikm.as_ref());

        let mut info = [0; 8 + 20 + 20 + 1];
        info[..8].copy_from_slice(&self.chain_id.to_be_bytes());
        info[8..28].copy_from_slice(self.contract.as_slice());
        info[28..48].copy_from_slice(self.account.as_slice());
        // An output that is zero or not below the curve order (odds 2^-128)
        // moves on to the next counter.
        for counter in 0..=u8::MAX {
            info[48] = counter;
            let mut okm = Zeroizing::new([0; 32]);
            hkdf.expand(&info, okm.as_mut()).map_err(|_| KeyError::Derivation)?;
            if let Ok(secret) = SecretKey::from_slice(okm.as_ref()) {
                return Ok(EncryptionKey(secret));
            }
        }
        Err(KeyError::Derivation)
    }

    /// [`Self::derive`], then checks the key against the one `account`
    /// registered on chain (`registered`, compressed), so a wallet that does
    /// not sign deterministically is caught before it seals anything.
    pub async fn derive_registered<S: Signer + Sync>(
        &self,
        signer: &S,
        registered: &[u8],
    ) -> Result<EncryptionKey, KeyError> {
        let key = self.derive(signer).await?;
        if key.public_key_bytes().as_slice() != registered {
            return Err(KeyError::NotRegisteredKey { account: self.account });
        }
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use alloy::{
        primitives::{U256, address},
        signers::local::PrivateKeySigner,
    };

    use super::*;

    const CONTRACT: Address = address!("0x5FbDB2315678afecb367f032d93F642f64180aa3");

    /// Anvil's first account.
    fn wallet() -> PrivateKeySigner {
        "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80".parse().unwrap()
    }

    fn message(signer: &PrivateKeySigner) -> EncryptionKeyMessage {
        EncryptionKeyMessage { chain_id: 31337, contract: CONTRACT, account: signer.address() }
    }

    #[tokio::test]
    async fn the_same_wallet_always_derives_the_same_key() {
        let signer = wallet();
        let first = message(&signer).derive(&signer).await.unwrap();
        let second = message(&signer).derive(&signer).await.unwrap();
        assert_eq!(first.public_key_bytes(), second.public_key_bytes());
        assert_eq!(first.public_key_bytes()[0] & 0xfe, 0x02, "compressed SEC1");
        // Pinned, so that a change to the derivation cannot pass unnoticed:
        // docs/keys.md lists the same vector.
        assert_eq!(
            alloy::hex::encode(first.public_key_bytes()),
            "031a35ccde960122d0df94b3b42b00499f37878ec0d05f250413c57f14e00b93fc"
        );
    }

    #[tokio::test]
    async fn another_chain_contract_or_wallet_derives_another_key() {
        let signer = wallet();
        let base = message(&signer);
        let key = base.derive(&signer).await.unwrap().public_key_bytes();
        let other_chain = EncryptionKeyMessage { chain_id: 1, ..base };
        assert_ne!(other_chain.derive(&signer).await.unwrap().public_key_bytes(), key);
        let other_contract = EncryptionKeyMessage { contract: Address::repeat_byte(1), ..base };
        assert_ne!(other_contract.derive(&signer).await.unwrap().public_key_bytes(), key);
        let other = PrivateKeySigner::random();
        assert_ne!(message(&other).derive(&other).await.unwrap().public_key_bytes(), key);
    }

    #[tokio::test]
    async fn a_high_s_signature_derives_the_same_key() {
        let signer = wallet();
        let message = message(&signer);
        let signature = signer.sign_hash(&message.signing_hash()).await.unwrap();
        let order = U256::from_be_slice(&alloy::hex!(
            "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141"
        ));
        let high = Signature::new(signature.r(), order - signature.s(), !signature.v());
        assert_eq!(
            message.key_from_signature(&high).unwrap().public_key_bytes(),
            message.key_from_signature(&signature).unwrap().public_key_bytes()
        );
    }

    #[tokio::test]
    async fn another_wallets_signature_is_refused() {
        let signer = wallet();
        let message = message(&signer);
        let stranger = PrivateKeySigner::random();
        let signature = stranger.sign_hash(&message.signing_hash()).await.unwrap();
        assert!(matches!(
            message.key_from_signature(&signature),
            Err(KeyError::WrongSigner { account }) if account == signer.address()
        ));
        assert!(matches!(message.derive(&stranger).await, Err(KeyError::WrongSigner { .. })));
    }

    #[tokio::test]
    async fn a_key_other_than_the_registered_one_is_refused() {
        let signer = wallet();
        let message = message(&signer);
        let key = message.derive(&signer).await.unwrap();
        message.derive_registered(&signer, &key.public_key_bytes()).await.unwrap();
        let other = [2; 33];
        assert!(matches!(
            message.derive_registered(&signer, &other).await,
            Err(KeyError::NotRegisteredKey { .. })
        ));
    }

    /// Prints the typed data and the signature of the documented vector.
    #[tokio::test]
    #[ignore = "prints the vector of docs/keys.md"]
    async fn print_vector() {
        let signer = wallet();
        let message = message(&signer);
        println!("{}", serde_json::to_string(&message.typed_data()).unwrap());
        let signature = signer.sign_hash(&message.signing_hash()).await.unwrap();
        println!("{}", alloy::hex::encode(signature.as_bytes()));
        println!("{}", message.signing_hash());
    }

    #[test]
    fn the_browser_typed_data_hashes_like_the_struct() {
        let message = message(&wallet());
        let typed = message.typed_data();
        assert_eq!(typed.eip712_signing_hash().unwrap(), message.signing_hash());
        let json = serde_json::to_value(&typed).unwrap();
        assert_eq!(json["primaryType"], "EncryptionKey");
        assert_eq!(json["domain"]["name"], "MedVault");
        assert_eq!(json["message"]["purpose"], ENCRYPTION_KEY_PURPOSE);
    }
}
