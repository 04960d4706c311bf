//! Encrypted records through a real Kubo: what goes to IPFS is the record
//! format's ciphertext, it comes back byte-exact and opens under its key and
//! registered fingerprint, and the same file encrypted twice is two records
//! with two CIDs.

use std::io::Cursor;

use futures_util::TryStreamExt;
use ipfs_api_backend_hyper::{IpfsApi, request::Add};
use medvault_core::{
    keys::DataKey,
    record::{self, DEFAULT_SEGMENT_SIZE, Header},
};
use medvault_tests::{KuboNode, Toolchain};

#[tokio::test]
async fn the_same_file_encrypted_twice_gives_two_keys_records_and_cids() {
    let kubo = KuboNode::spawn(&Toolchain::locate()).await.unwrap();
    // A little over three segments, so the record has four.
    let file: Vec<u8> =
        (0..3 * DEFAULT_SEGMENT_SIZE as usize + 100).map(|i| (i % 251) as u8).collect();

    let mut uploads = Vec::new();
    for _ in 0..2 {
        let key = DataKey::generate();
        let header = Header::random(DEFAULT_SEGMENT_SIZE).unwrap();
        let mut sealed = Vec::new();
        let summary = record::encrypt(&key, &header, &file[..], &mut sealed).await.unwrap();
        assert!(
            !sealed.windows(64).any(|w| file.windows(64).next() == Some(w)),
            "plaintext leaked"
        );
        let options = Add {
            cid_version: Some(1),
            raw_leaves: Some(true),
            pin: Some(true),
            ..Default::default()
        };
        let added =
            kubo.client().add_with_options(Cursor::new(sealed.clone()), options).await.unwrap();
        uploads.push((key, summary, sealed, added.hash));
    }
    let (first, second) = (&uploads[0], &uploads[1]);
    assert_ne!(first.0.as_bytes(), second.0.as_bytes(), "two keys");
    assert_ne!(first.2, second.2, "two ciphertexts");
    assert_ne!(first.1.sha256, second.1.sha256, "two fingerprints");
    assert_ne!(first.3, second.3, "two CIDs");

    for (key, summary, sealed, cid) in &uploads {
        let fetched: Vec<u8> =
            kubo.client().cat(cid).map_ok(|chunk| chunk.to_vec()).try_concat().await.unwrap();
        assert_eq!(&fetched, sealed);
        let mut opened = Vec::new();
        record::decrypt_verified(key, &summary.sha256, &fetched[..], &mut opened).await.unwrap();
        assert_eq!(opened, file);
    }
}
