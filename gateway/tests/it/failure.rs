//! A failure after each step of an upload (the IPFS add, the transaction
//! sent, its receipt), then a retry with the same idempotency key on a
//! restarted gateway, leaves exactly one record and one pin; the sweeper
//! leaves no pin without a record.

use std::{collections::BTreeSet, time::Duration};

use alloy::providers::{Provider as _, ext::AnvilApi as _};
use medvault_gateway::{pending::State, upload::Sent};

use crate::stack::Stack;

#[tokio::test]
async fn retries_after_each_failure_leave_one_record_and_one_pin() {
    let stack = Stack::new().await;
    // Kubo pins the empty folder of a fresh repository.
    let baseline: BTreeSet<String> = stack.ipfs.pins().await.unwrap().into_iter().collect();
    let pins = || async {
        let pins: BTreeSet<String> = stack.ipfs.pins().await.unwrap().into_iter().collect();
        pins.difference(&baseline).cloned().collect::<BTreeSet<String>>()
    };
    let patient = stack.patient.address();
    let body = vec![42u8; 300_000];
    let mut committed_cids = BTreeSet::new();

    for (step, key) in [(0, "after-add"), (1, "after-send"), (2, "after-receipt")] {
        let before = stack.vault.recordCount(patient).call().await.unwrap();
        let upload = stack
            .uploader
            .store(stack.lab_fields(), &body[..], true, Some(key.into()))
            .await
            .unwrap();
        let auth = stack.sign(upload.clone(), &stack.doctor).await;
        let mut confirmed = None;
        if step >= 1 {
            let Sent::Pending(tx_hash) =
                stack.uploader.send(&upload.id, auth.clone(), None).await.unwrap()
            else {
                panic!("a fresh upload is not committed yet")
            };
            if step >= 2 {
                confirmed = Some(stack.uploader.confirm(&upload.id, tx_hash).await.unwrap());
            }
        }
        // The gateway restarts; the client retries the whole upload with
        // the same key and the same signature.
        let restarted = stack.restarted().await;
        let retried =
            restarted.store(stack.lab_fields(), &body[..], true, Some(key.into())).await.unwrap();
        assert_eq!(retried.id, upload.id, "{key}: the retry finds the first upload");
        assert_eq!(retried.cid, upload.cid);
        let committed = restarted.commit(&upload.id, auth).await.unwrap();
        // The same answer as the first commit's, block included.
        if let Some(confirmed) = confirmed {
            assert_eq!(committed, confirmed, "{key}");
        }
        let receipt = stack.vault.provider().get_transaction_receipt(committed.tx_hash).await;
        assert_eq!(Some(committed.block_number), receipt.unwrap().unwrap().block_number, "{key}");
        let after = stack.vault.recordCount(patient).call().await.unwrap();
        assert_eq!(after, before + alloy::primitives::aliases::U88::from(1), "{key}: one record");
        let stored = restarted.pending.get(&upload.id).await.unwrap().unwrap();
        assert_eq!(stored.state, State::Committed);
        assert_eq!(stored.record_id, Some(committed.record_id));
        committed_cids.insert(upload.cid);
    }

    // An upload that is never signed, swept after the limit.
    let abandoned =
        stack.uploader.store(stack.lab_fields(), &b"never signed"[..], true, None).await.unwrap();
    let pinned = pins().await;
    assert_eq!(pinned.len(), 4, "three records and the abandoned upload");
    assert!(pinned.contains(&abandoned.cid));

    let now = medvault_gateway::upload::now();
    let early = stack.uploader.pending.sweep(&stack.ipfs, now, Duration::from_secs(3_600)).await;
    assert!(early.unwrap().is_empty(), "nothing is swept before the limit");
    let swept = stack
        .uploader
        .pending
        .sweep(&stack.ipfs, now + 7_200, Duration::from_secs(3_600))
        .await
        .unwrap();
    assert_eq!(swept, vec![abandoned.id.clone()]);
    assert_eq!(pins().await, committed_cids, "every pin has a record, and every record one pin");
    // A swept upload cannot be committed any more.
    let auth = stack.sign(abandoned.clone(), &stack.doctor).await;
    assert!(stack.uploader.commit(&abandoned.id, auth).await.is_err());
}

/// A retry that comes while the first transaction still waits in the node's
/// pool waits for it, rather than sending the signed action again (which
/// would revert once the first lands): one record, from the first
/// transaction.
#[tokio::test]
async fn a_retry_while_the_transaction_is_pending_waits_for_it() {
    let stack = Stack::new().await;
    let patient = stack.patient.address();
    let before = stack.vault.recordCount(patient).call().await.unwrap();
    let upload = stack
        .uploader
        .store(stack.lab_fields(), &b"pending"[..], true, Some("pending".into()))
        .await
        .unwrap();
    let auth = stack.sign(upload.clone(), &stack.doctor).await;
    stack.provider.anvil_set_auto_mine(false).await.unwrap();
    let Sent::Pending(tx_hash) = stack.uploader.send(&upload.id, auth.clone(), None).await.unwrap()
    else {
        panic!("a fresh upload is not committed yet")
    };

    // The gateway restarts and the client retries before the next block.
    let restarted = stack.restarted().await;
    let id = upload.id.clone();
    let retry = tokio::spawn(async move { restarted.commit(&id, auth).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!retry.is_finished(), "the retry answered before its transaction landed");
    let sent = stack.provider.get_transaction_count(stack.relayer.address()).pending().await;
    let mined = stack.provider.get_transaction_count(stack.relayer.address()).await;
    assert_eq!(sent.unwrap(), mined.unwrap() + 1, "one transaction waits, not two");
    stack.provider.anvil_mine(Some(1), None).await.unwrap();
    stack.provider.anvil_set_auto_mine(true).await.unwrap();

    let committed = retry.await.unwrap().unwrap();
    assert_eq!(committed.tx_hash, tx_hash);
    let after = stack.vault.recordCount(patient).call().await.unwrap();
    assert_eq!(after, before + alloy::primitives::aliases::U88::from(1), "one record");
    let stored = stack.restarted().await.pending.get(&upload.id).await.unwrap().unwrap();
    assert_eq!((stored.state, stored.record_id), (State::Committed, Some(committed.record_id)));
}
