//! Every key source gives the account it should, and deploys from it.

use alloy::signers::local::PrivateKeySigner;
use medvault_deploy::{Deployer, KeySource, RoleRequest, Secret};
use rand_chacha::{ChaCha20Rng, rand_core::SeedableRng};

use crate::common::Chain;

/// Anvil's default mnemonic.
const ANVIL_MNEMONIC: &str = "test test test test test test test test test test test junk";

#[tokio::test]
async fn a_keystore_opens_to_its_account_and_deploys_from_it() {
    let chain = Chain::start();
    let dir = tempfile::tempdir().unwrap();
    let key = chain.anvil.keys()[3].to_bytes();
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    PrivateKeySigner::encrypt_keystore(dir.path(), &mut rng, key, "s3cret pass", Some("deployer"))
        .unwrap();

    let source = KeySource::Keystore {
        path: dir.path().join("deployer"),
        password: Secret::new("s3cret pass"),
    };
    let signer = source.signer().unwrap();
    assert_eq!(signer.address(), chain.account(3));

    let deployer = Deployer::connect(&chain.anvil.endpoint(), signer, None).await.unwrap();
    let report = chain.run(&deployer, &RoleRequest::default()).await.unwrap();
    assert_eq!(report.manifest.deployment.deployer, chain.account(3));
    assert_eq!(report.manifest.roles.governance, chain.account(3));
    assert_eq!(chain.nonce(chain.account(3)).await, 1);
}

#[tokio::test]
async fn anvils_mnemonic_gives_anvils_accounts() {
    let chain = Chain::start();
    for index in 0..4 {
        let source = KeySource::Mnemonic { phrase: Secret::new(ANVIL_MNEMONIC), index };
        assert_eq!(source.signer().unwrap().address(), chain.account(index as usize));
    }
}
