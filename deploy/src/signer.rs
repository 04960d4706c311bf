//! Where the deployer's key comes from: a raw private key, a keystore in the
//! format foundry (`cast wallet new`) and geth write (Web3 Secret Storage), or
//! a BIP-39 mnemonic with a BIP-44 account index (`m/44'/60'/0'/0/<index>`,
//! as Anvil, foundry and MetaMask derive them).
//!
//! Secrets live in [`Secret`], which zeroes its memory on drop and whose
//! `Debug` prints nothing. No error of this module repeats a secret, not even
//! a part of it: a wrong word of a mnemonic or a stray character of a key
//! would otherwise end up in a terminal's scrollback or a CI log.

use std::{
    fmt, fs, io,
    path::{Path, PathBuf},
};

use alloy::{
    hex,
    signers::local::{MnemonicBuilder, PrivateKeySigner},
};
use eth_keystore::KeystoreError;
use zeroize::Zeroizing;

/// A secret string (a private key, a mnemonic, a password), zeroed on drop.
#[derive(Clone)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Wraps `value`.
    pub fn new(value: impl Into<String>) -> Self {
        Self(Zeroizing::new(value.into()))
    }

    /// Reads a secret from the file at `path`, without its final line break
    /// (`echo pass > file` writes one).
    pub fn from_file(path: &Path) -> Result<Self, SignerError> {
        let text = Zeroizing::new(
            fs::read_to_string(path)
                .map_err(|source| SignerError::ReadSecretFile { path: path.to_owned(), source })?,
        );
        let trimmed = text.strip_suffix('\n').unwrap_or(&text);
        Ok(Self::new(trimmed.strip_suffix('\r').unwrap_or(trimmed)))
    }

    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// Where the deployer's key comes from.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// A private key: 64 hex digits, with or without `0x`.
    PrivateKey(Secret),
    /// An encrypted JSON keystore (foundry's `~/.foundry/keystores/<name>`,
    /// geth's `keystore/UTC--...`).
    Keystore {
        /// The keystore file.
        path: PathBuf,
        /// The password that decrypts it.
        password: Secret,
    },
    /// A BIP-39 English mnemonic and the account index to derive.
    Mnemonic {
        /// The phrase, words separated by spaces.
        phrase: Secret,
        /// The account index `i` of `m/44'/60'/0'/0/i`.
        index: u32,
    },
}

impl KeySource {
    /// Opens the key. Decrypting a keystore runs scrypt or PBKDF2 with the
    /// keystore's own cost, a second or more for geth's defaults: call it off
    /// an async runtime's worker threads.
    pub fn signer(&self) -> Result<PrivateKeySigner, SignerError> {
        match self {
            Self::PrivateKey(key) => private_key(key),
            Self::Keystore { path, password } => keystore(path, password),
            Self::Mnemonic { phrase, index } => mnemonic(phrase, *index),
        }
    }
}

fn private_key(key: &Secret) -> Result<PrivateKeySigner, SignerError> {
    let text = key.expose().trim();
    let digits = text.strip_prefix("0x").unwrap_or(text);
    let mut bytes = Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(digits, bytes.as_mut_slice())
        .map_err(|_| SignerError::MalformedPrivateKey)?;
    PrivateKeySigner::from_slice(bytes.as_slice()).map_err(|_| SignerError::InvalidPrivateKey)
}

fn keystore(path: &Path, password: &Secret) -> Result<PrivateKeySigner, SignerError> {
    let secret =
        eth_keystore::decrypt_key(path, password.expose()).map(Zeroizing::new).map_err(|err| {
            match err {
                KeystoreError::MacMismatch => SignerError::WrongPassword { path: path.to_owned() },
                // eth-keystore flattens I/O errors into strings: read the file
                // again for a typed error and its kind.
                KeystoreError::StdIo(_) => match fs::metadata(path) {
                    Err(source) => SignerError::ReadKeystore { path: path.to_owned(), source },
                    Ok(_) => SignerError::MalformedKeystore {
                        path: path.to_owned(),
                        reason: err.to_string(),
                    },
                },
                other => SignerError::MalformedKeystore {
                    path: path.to_owned(),
                    reason: other.to_string(),
                },
            }
        })?;
    PrivateKeySigner::from_slice(secret.as_slice()).map_err(|_| SignerError::MalformedKeystore {
        path: path.to_owned(),
        reason: "the decrypted key is not a valid secp256k1 key".into(),
    })
}

fn mnemonic(phrase: &Secret, index: u32) -> Result<PrivateKeySigner, SignerError> {
    // One space between words, as BIP-39 derives the seed from the phrase's
    // exact text; extra spaces or a trailing line break would change the key.
    let words = Zeroizing::new(phrase.expose().split_whitespace().collect::<Vec<_>>().join(" "));
    let count = words.split(' ').count();
    if ![12, 15, 18, 21, 24].contains(&count) {
        return Err(SignerError::MnemonicWordCount { words: count });
    }
    let builder = MnemonicBuilder::from_phrase(words.as_str())
        .index(index)
        .map_err(|_| SignerError::MnemonicIndex { index })?;
    // The errors quote the phrase or a word of it; say what is wrong without.
    builder.build().map_err(|_| SignerError::InvalidMnemonic)
}

/// Why the deployer's key could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum SignerError {
    /// The private key is not 64 hex digits.
    #[error("the private key is not 32 bytes of hex (64 hex digits, with or without 0x)")]
    MalformedPrivateKey,
    /// The private key is zero or not below the secp256k1 group order.
    #[error("the private key is not a valid secp256k1 key")]
    InvalidPrivateKey,
    /// A file holding a secret (a password) could not be read.
    #[error("cannot read {}", path.display())]
    ReadSecretFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The keystore file could not be read.
    #[error("cannot read the keystore {}", path.display())]
    ReadKeystore {
        /// The keystore file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The password does not decrypt the keystore (its MAC does not match).
    #[error("the password does not decrypt the keystore {}", path.display())]
    WrongPassword {
        /// The keystore file.
        path: PathBuf,
    },
    /// The file is not a Web3 Secret Storage keystore.
    #[error("{} is not a foundry or geth keystore: {reason}", path.display())]
    MalformedKeystore {
        /// The keystore file.
        path: PathBuf,
        /// What was wrong with it.
        reason: String,
    },
    /// The mnemonic does not have a BIP-39 word count.
    #[error("the mnemonic has {words} words; a BIP-39 phrase has 12, 15, 18, 21 or 24")]
    MnemonicWordCount {
        /// How many words it has.
        words: usize,
    },
    /// A word is not in the BIP-39 English list, or the checksum is wrong.
    #[error(
        "the mnemonic is not a valid BIP-39 English phrase (a word outside the list or a wrong checksum word)"
    )]
    InvalidMnemonic,
    /// The account index is at or above 2^31 (a hardened index).
    #[error("the mnemonic index {index} is too large (it must be below 2147483648)")]
    MnemonicIndex {
        /// The requested index.
        index: u32,
    },
}

#[cfg(test)]
mod tests {
    use alloy::primitives::address;

    use super::*;

    /// Anvil's default mnemonic and its first two accounts.
    const ANVIL_MNEMONIC: &str = "test test test test test test test test test test test junk";

    #[test]
    fn a_private_key_with_or_without_0x_gives_its_address() {
        let key = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
        let expected = address!("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266");
        for text in [key.to_owned(), format!("0x{key}"), format!(" 0x{key}\n")] {
            let signer = KeySource::PrivateKey(Secret::new(text)).signer().unwrap();
            assert_eq!(signer.address(), expected);
        }
    }

    #[test]
    fn a_malformed_private_key_is_refused_without_being_quoted() {
        for text in ["0x12", "zz0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"] {
            let err = KeySource::PrivateKey(Secret::new(text)).signer().unwrap_err();
            assert!(matches!(err, SignerError::MalformedPrivateKey), "{err:?}");
            assert!(!err.to_string().contains("zz09"), "{err}");
        }
        let zero = "0".repeat(64);
        let err = KeySource::PrivateKey(Secret::new(zero)).signer().unwrap_err();
        assert!(matches!(err, SignerError::InvalidPrivateKey), "{err:?}");
    }

    #[test]
    fn anvils_mnemonic_derives_anvils_accounts() {
        let phrase = Secret::new(format!("  {ANVIL_MNEMONIC}\n"));
        let first = KeySource::Mnemonic { phrase: phrase.clone(), index: 0 }.signer().unwrap();
        let second = KeySource::Mnemonic { phrase, index: 1 }.signer().unwrap();
        assert_eq!(first.address(), address!("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"));
        assert_eq!(second.address(), address!("0x70997970C51812dc3A010C7d01b50e0d17dc79C8"));
    }

    #[test]
    fn a_bad_mnemonic_is_refused_without_being_quoted() {
        let short = Secret::new("test test test");
        let err = KeySource::Mnemonic { phrase: short, index: 0 }.signer().unwrap_err();
        assert!(matches!(err, SignerError::MnemonicWordCount { words: 3 }), "{err:?}");

        let unknown = Secret::new(ANVIL_MNEMONIC.replace("junk", "zebrafish"));
        let err = KeySource::Mnemonic { phrase: unknown, index: 0 }.signer().unwrap_err();
        assert!(matches!(err, SignerError::InvalidMnemonic), "{err:?}");
        assert!(!err.to_string().contains("zebrafish"), "{err}");
        assert!(!format!("{err:?}").contains("zebrafish"), "{err:?}");

        let checksum = Secret::new(ANVIL_MNEMONIC.replace("junk", "test"));
        let err = KeySource::Mnemonic { phrase: checksum, index: 0 }.signer().unwrap_err();
        assert!(matches!(err, SignerError::InvalidMnemonic), "{err:?}");

        let phrase = Secret::new(ANVIL_MNEMONIC);
        let err = KeySource::Mnemonic { phrase, index: 1 << 31 }.signer().unwrap_err();
        assert!(matches!(err, SignerError::MnemonicIndex { index: 0x8000_0000 }), "{err:?}");
    }

    /// A keystore that foundry wrote (`cast wallet import --unsafe-password
    /// "correct horse"`, cast 1.7.1): Anvil's second account, scrypt.
    const CAST_KEYSTORE: &str = include_str!("../tests/fixtures/cast-keystore.json");

    /// The PBKDF2 test vector of the Web3 Secret Storage definition, the
    /// format geth writes.
    const PBKDF2_VECTOR: &str = r#"{
        "crypto": {
            "cipher": "aes-128-ctr",
            "cipherparams": { "iv": "6087dab2f9fdbbfaddc31a909735c1e6" },
            "ciphertext": "5318b4d5bcd28de64ee5559e671353e16f075ecae9f99c7a79a38af5f869aa46",
            "kdf": "pbkdf2",
            "kdfparams": {
                "c": 262144, "dklen": 32, "prf": "hmac-sha256",
                "salt": "ae3cd4e7013836a3df6bd7241b12db061dbe2c6785853cce422d148a624ce0bd"
            },
            "mac": "517ead924a9d0dc3124507e3393d175ce3ff7c1e96529c6c555ce9e51205e9b2"
        },
        "id": "3198bc9c-6672-5ab3-d995-4942343ae5b6",
        "version": 3
    }"#;

    #[test]
    fn foundry_and_geth_keystores_open_with_their_password_and_not_without() {
        let dir = tempfile::tempdir().unwrap();
        let geth_key: PrivateKeySigner =
            "7a28b5ba57c53603b0b07b56bba752f7784bf506fa95edc395f5cf6c7514fe9d".parse().unwrap();
        let cases = [
            (
                CAST_KEYSTORE,
                "correct horse",
                address!("0x70997970C51812dc3A010C7d01b50e0d17dc79C8"),
            ),
            (PBKDF2_VECTOR, "testpassword", geth_key.address()),
        ];
        for (i, (json, password, expected)) in cases.into_iter().enumerate() {
            let path = dir.path().join(format!("keystore-{i}"));
            fs::write(&path, json).unwrap();

            let source =
                KeySource::Keystore { path: path.clone(), password: Secret::new(password) };
            assert_eq!(source.signer().unwrap().address(), expected);

            let wrong = KeySource::Keystore { path: path.clone(), password: Secret::new("nope") };
            let err = wrong.signer().unwrap_err();
            assert!(matches!(err, SignerError::WrongPassword { .. }), "{err:?}");
            assert_eq!(
                err.to_string(),
                format!("the password does not decrypt the keystore {}", path.display())
            );
        }
    }

    #[test]
    fn a_missing_or_malformed_keystore_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("absent.json");
        let source = KeySource::Keystore { path: missing.clone(), password: Secret::new("x") };
        let err = source.signer().unwrap_err();
        assert!(
            matches!(&err, SignerError::ReadKeystore { path, source }
                if *path == missing && source.kind() == io::ErrorKind::NotFound),
            "{err:?}"
        );

        let garbage = dir.path().join("garbage.json");
        fs::write(&garbage, "{\"not\": \"a keystore\"}").unwrap();
        let source = KeySource::Keystore { path: garbage, password: Secret::new("x") };
        let err = source.signer().unwrap_err();
        assert!(matches!(err, SignerError::MalformedKeystore { .. }), "{err:?}");
        assert!(err.to_string().contains("is not a foundry or geth keystore"), "{err}");
    }

    #[test]
    fn a_secret_file_loses_its_final_line_break_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("password");
        fs::write(&path, " pass word \r\n").unwrap();
        assert_eq!(Secret::from_file(&path).unwrap().expose(), " pass word ");
        fs::write(&path, "pass\n\n").unwrap();
        assert_eq!(Secret::from_file(&path).unwrap().expose(), "pass\n");
    }

    #[test]
    fn debug_prints_no_secret() {
        let source = KeySource::Mnemonic { phrase: Secret::new(ANVIL_MNEMONIC), index: 3 };
        let debug = format!("{source:?}");
        assert!(!debug.contains("junk"), "{debug}");
        assert!(debug.contains("index: 3"), "{debug}");
        let key = KeySource::PrivateKey(Secret::new("ac0974bec39a17e36ba4a6b4d238ff94"));
        assert!(!format!("{key:?}").contains("ac09"));
    }
}
