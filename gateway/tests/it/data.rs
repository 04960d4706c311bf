//! Uploads in both modes round-trip byte-exact; downloads are refused to
//! everyone `canRead` refuses; each served download is in the access log,
//! which verifies against its anchor; no plaintext reaches Kubo's blocks.

use std::path::Path;

use alloy::{
    primitives::{Address, B256, Bytes, U256, aliases::U40},
    providers::Provider as _,
    sol_types::SolCall as _,
};
use futures_util::TryStreamExt;
use medvault_core::{
    cid::FileCid,
    keys::{DataKey, EncryptionKey},
    record::{self, DEFAULT_SEGMENT_SIZE, Header},
    sig::{self, Action as _},
};
use medvault_gateway::{
    access_log::Basis,
    custodian::EMERGENCY,
    download::{self, DownloadError, Reader},
    ipfs::CAT_CHUNK,
    upload::{RecordFields, UploadError, store_record},
};

use crate::stack::{Actor, LABS, Stack, send};

/// A file of `len` bytes, the same in every run.
fn file(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + 3) as u8).collect()
}

/// Downloads `record_id` as `reader` and decrypts it with the record
/// envelope sealed to them.
async fn read(stack: &Stack, reader: &Actor, record_id: U256) -> Vec<u8> {
    let (grant, stream) = download::serve(
        stack.reader(),
        &stack.ipfs,
        &stack.log,
        reader.address(),
        record_id,
        "treatment".into(),
    )
    .await
    .unwrap();
    let chunks: Vec<Vec<u8>> = stream.map_ok(|chunk| chunk.to_vec()).try_collect().await.unwrap();
    // Kubo's small chunks reach the client gathered, every one but the last
    // of a whole segment's size or more.
    if let Some((_, whole)) = chunks.split_last() {
        let lens: Vec<usize> = chunks.iter().map(Vec::len).collect();
        assert!(whole.iter().all(|chunk| chunk.len() >= CAT_CHUNK), "chunks of {lens:?} bytes");
    }
    let ciphertext = chunks.concat();
    let sealed = grant.record_envelopes.first().expect("an envelope for the reader");
    let key = data_key(&reader.key, sealed);
    let mut plaintext = Vec::new();
    record::decrypt_verified(&key, &grant.sha256.0, &ciphertext[..], &mut plaintext).await.unwrap();
    plaintext
}

fn data_key(key: &EncryptionKey, sealed: &Bytes) -> DataKey {
    let opened = medvault_core::envelope::open(key.secret(), sealed).unwrap();
    DataKey::from_bytes(opened.as_slice().try_into().unwrap())
}

#[tokio::test]
async fn both_upload_modes_round_trip_byte_exact_and_downloads_follow_the_chain() {
    let stack = Stack::new().await;

    // Server-side: the doctor's system sends plaintext.
    let mut records = Vec::new();
    for len in [0, 1, 1 << 20] {
        let plaintext = file(len);
        let upload =
            stack.uploader.store(stack.lab_fields(), &plaintext[..], true, None).await.unwrap();
        let recipients: Vec<Address> = upload.envelopes.iter().map(|(a, _)| *a).collect();
        let mut expected = vec![
            stack.patient.address(),
            stack.doctor.address(),
            stack.revoked.address(),
            stack.expiring.address(),
            stack.suspended.address(),
        ];
        expected.sort();
        assert_eq!(recipients, expected, "the patient and every live grantee of the category");
        let auth = stack.sign(upload.clone(), &stack.doctor).await;
        let committed = stack.uploader.commit(&upload.id, auth).await.unwrap();
        assert_eq!(read(&stack, &stack.patient, committed.record_id).await, plaintext);
        assert_eq!(read(&stack, &stack.doctor, committed.record_id).await, plaintext);
        records.push(committed.record_id);
    }

    // Client-side: the patient encrypts and seals the key to themselves.
    for len in [0, 1, 1 << 20] {
        let plaintext = file(len);
        let key = DataKey::generate();
        let header = Header::random(DEFAULT_SEGMENT_SIZE).unwrap();
        let mut sealed = Vec::new();
        let summary = record::encrypt(&key, &header, &plaintext[..], &mut sealed).await.unwrap();
        let mut fields = stack.lab_fields();
        fields.author = stack.patient.address();
        fields.envelopes = vec![(
            stack.patient.address(),
            medvault_core::envelope::seal(&stack.patient.key.public_key(), key.as_bytes()).into(),
        )];
        let upload = stack.uploader.store(fields, &sealed[..], false, None).await.unwrap();
        assert_eq!(upload.sha256.0, summary.sha256);
        assert_eq!(upload.size, summary.record_len);
        let auth = stack.sign(upload.clone(), &stack.patient).await;
        let committed = stack.uploader.commit(&upload.id, auth).await.unwrap();
        assert_eq!(read(&stack, &stack.patient, committed.record_id).await, plaintext);
    }

    // Every refusal the chain makes.
    let record_id = records[1];
    stack
        .vault
        .revoke(stack.patient.address(), stack.revoked.address())
        .from(stack.patient.address())
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    stack
        .vault
        .suspendOrganisation(stack.other_hospital.address())
        .from(stack.governance.address())
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    stack.warp(3_600).await;
    for (who, reader) in [
        ("stranger", &stack.stranger),
        ("revoked", &stack.revoked),
        ("expired", &stack.expiring),
        ("suspended organisation", &stack.suspended),
    ] {
        let refused = download::authorise(stack.reader(), reader.address(), record_id).await;
        assert!(matches!(refused, Err(DownloadError::Forbidden { .. })), "{who}: {refused:?}");
    }
    let unknown =
        download::authorise(stack.reader(), stack.doctor.address(), U256::from(999)).await;
    assert!(matches!(unknown, Err(DownloadError::UnknownRecord { .. })), "{unknown:?}");
    // The doctor still reads.
    assert_eq!(read(&stack, &stack.doctor, record_id).await, file(1));

    // The access log has every served download, and the patient's
    // accounting verifies against the anchor on chain.
    let entries = stack.log.entries().await.unwrap();
    assert_eq!(entries.len(), 3 * 2 + 3 + 1);
    assert!(entries.iter().all(|e| e.access.patient == stack.patient.address()));
    assert_eq!(entries.last().unwrap().access.basis, Basis::Grant);
    assert_eq!(entries[0].access.basis, Basis::Patient);
    let anchor = stack.log.anchor(&stack.relayer, *stack.vault.address()).await.unwrap().unwrap();
    assert_eq!(anchor.sequence, 10);
    assert_eq!(stack.vault.lastAnchorSequence().call().await.unwrap(), 10);
    assert_eq!(
        stack.log.anchor(&stack.relayer, *stack.vault.address()).await.unwrap(),
        None,
        "nothing new to anchor"
    );
    let accounting = stack.log.accounting(stack.patient.address()).await.unwrap();
    let verified = accounting.verify().unwrap();
    assert_eq!((verified.anchored, verified.unanchored), (10, 0));
}

#[tokio::test]
async fn a_body_that_is_not_a_record_is_refused_before_kubo_and_leaves_no_pin() {
    let stack = Stack::new().await;
    // Kubo pins the empty folder of a fresh repository.
    let baseline = stack.ipfs.pins().await.unwrap();
    for body in [&b""[..], b"MEDV", b"%PDF-1.7 this is a plain file, not a record"] {
        let refused = store_record(&stack.ipfs, body).await;
        assert!(matches!(refused, Err(UploadError::NotARecord { .. })), "{refused:?}");
    }
    // A valid header followed by a stub shorter than a tag is refused after
    // the add, and unpinned.
    let header = Header::random(DEFAULT_SEGMENT_SIZE).unwrap().to_bytes();
    let truncated = [&header[..], &[0; 5]].concat();
    let refused = store_record(&stack.ipfs, &truncated[..]).await;
    assert!(matches!(refused, Err(UploadError::BadLength)), "{refused:?}");
    assert_eq!(stack.ipfs.pins().await.unwrap(), baseline);
}

#[tokio::test]
async fn a_plaintext_sentinel_never_reaches_kubos_blocks() {
    let stack = Stack::new().await;
    let sentinel = b"MEDVAULT-PLAINTEXT-SENTINEL-4f1c9b";
    let plaintext: Vec<u8> = sentinel.iter().copied().cycle().take(3 << 20).collect();
    let upload =
        stack.uploader.store(stack.lab_fields(), &plaintext[..], true, None).await.unwrap();
    let ciphertext: Vec<u8> =
        stack.ipfs.cat(&upload.cid).map_ok(|c| c.to_vec()).try_concat().await.unwrap();

    let mut blocks = Vec::new();
    collect_files(&stack.kubo.repo_path().join("blocks"), &mut blocks);
    assert!(!blocks.is_empty(), "kubo stores blocks as files");
    let stored: Vec<u8> = blocks.iter().flat_map(|path| std::fs::read(path).unwrap()).collect();
    // The control: the ciphertext is there.
    assert!(stored.windows(64).any(|w| w == &ciphertext[1000..1064]));
    assert!(!stored.windows(sentinel.len()).any(|w| w == sentinel), "plaintext in a block");
}

fn collect_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "data") {
            out.push(path);
        }
    }
}

/// Relayed actions, add-records and access-log anchors leave through the one
/// nonce manager: sent at once, every one lands, each with its own nonce.
#[tokio::test]
async fn relays_commits_and_anchors_share_one_nonce_manager() {
    let stack = Stack::new().await;
    let relayer = stack.relayer.address();
    // A served download, so that the log has a row to anchor.
    let upload = stack.uploader.store(stack.lab_fields(), &file(10)[..], true, None).await.unwrap();
    let auth = stack.sign(upload.clone(), &stack.doctor).await;
    let first = stack.uploader.commit(&upload.id, auth).await.unwrap();
    read(&stack, &stack.patient, first.record_id).await;
    let sent_before = stack.provider.get_transaction_count(relayer).await.unwrap();

    let by_doctor =
        stack.uploader.store(stack.lab_fields(), &file(20)[..], true, None).await.unwrap();
    let doctor_auth = stack.sign(by_doctor.clone(), &stack.doctor).await;
    let fields = RecordFields { author: stack.patient.address(), ..stack.lab_fields() };
    let by_patient = stack.uploader.store(fields, &file(30)[..], true, None).await.unwrap();
    let patient_auth = stack.sign(by_patient.clone(), &stack.patient).await;
    let deadline = stack.now().await + 3_600;
    let request = sig::RequestAccess {
        patient: stack.patient.address(),
        read_mask: 1 << LABS,
        write_mask: 0,
        duration: 86_400,
        purpose_hash: B256::ZERO,
    }
    .sign(&stack.revoked.wallet, &stack.uploader.domain, U256::ZERO, deadline)
    .await
    .unwrap();

    let (doctor_record, patient_record, relayed, anchor) = tokio::join!(
        stack.uploader.commit(&by_doctor.id, doctor_auth),
        stack.uploader.commit(&by_patient.id, patient_auth),
        stack.relayer.relay(request.abi_encode().into()),
        stack.log.anchor(&stack.relayer, *stack.vault.address()),
    );
    let (doctor_record, patient_record) = (doctor_record.unwrap(), patient_record.unwrap());
    assert_ne!(doctor_record.record_id, patient_record.record_id);
    assert_eq!(relayed.unwrap().function, "requestAccessBySig");
    assert_eq!(anchor.unwrap().map(|anchor| anchor.sequence), Some(1));
    assert_eq!(
        stack.provider.get_transaction_count(relayer).await.unwrap(),
        sent_before + 4,
        "four transactions, no nonce skipped or reused"
    );
    assert_eq!(stack.vault.lastAnchorSequence().call().await.unwrap(), 1);
}

#[tokio::test]
async fn a_remembered_header_is_checked_against_the_chain_in_the_same_round() {
    let stack = Stack::new().await;
    let upload = stack.uploader.store(stack.lab_fields(), &file(1)[..], true, None).await.unwrap();
    let auth = stack.sign(upload.clone(), &stack.doctor).await;
    let record_id = stack.uploader.commit(&upload.id, auth).await.unwrap().record_id;
    // The commit noted the header, so the doctor's download reads the rest of
    // the grant beside `canRead`.
    let remembered = stack.uploader.headers.get(record_id).expect("the commit notes the header");
    assert_eq!((remembered.patient, remembered.category), (stack.patient.address(), LABS));
    let grant = download::authorise(stack.reader(), stack.doctor.address(), record_id).await;
    let grant = grant.unwrap();
    assert_eq!(grant.basis, Basis::Grant);

    // A wrong guess (another patient, whose grant the doctor does not hold)
    // costs a second round, not a wrong grant, and is put right.
    let mut wrong = remembered.clone();
    wrong.patient = stack.stranger.address();
    stack.uploader.headers.insert(record_id, wrong);
    let checked = download::authorise(stack.reader(), stack.doctor.address(), record_id).await;
    assert_eq!(checked.unwrap(), grant);
    assert_eq!(stack.uploader.headers.get(record_id), Some(remembered.clone()));

    // With nothing remembered (a restarted gateway), the same grant, and the
    // header is remembered from then on.
    let uploader = stack.restarted().await;
    let reader = Reader { vault: &stack.vault, from_block: 0, headers: &uploader.headers };
    assert_eq!(uploader.headers.get(record_id), None);
    let fresh = download::authorise(reader, stack.doctor.address(), record_id).await;
    assert_eq!(fresh.unwrap(), grant);
    assert_eq!(uploader.headers.get(record_id), Some(remembered));
}

#[tokio::test]
async fn a_read_started_from_a_remembered_header_serves_the_chains_record_or_nothing() {
    let stack = Stack::new().await;
    let mut ids = Vec::new();
    for len in [1, 3 << 20] {
        let upload =
            stack.uploader.store(stack.lab_fields(), &file(len)[..], true, None).await.unwrap();
        let auth = stack.sign(upload.clone(), &stack.doctor).await;
        ids.push(stack.uploader.commit(&upload.id, auth).await.unwrap().record_id);
    }
    let (small, large) = (ids[0], ids[1]);
    assert_eq!(read(&stack, &stack.doctor, small).await, file(1));

    // Kubo's read starts from the remembered header, here the other record's
    // CID; the chain's header puts it right before a byte is served.
    let mut wrong = stack.uploader.headers.get(small).unwrap();
    wrong.cid = stack.uploader.headers.get(large).unwrap().cid;
    stack.uploader.headers.insert(small, wrong);
    assert_eq!(read(&stack, &stack.doctor, small).await, file(1));
    assert_eq!(read(&stack, &stack.doctor, large).await, file(3 << 20));

    // A stranger's read of a remembered record is started, then dropped.
    assert!(stack.uploader.headers.get(large).is_some());
    let served = download::serve(
        stack.reader(),
        &stack.ipfs,
        &stack.log,
        stack.stranger.address(),
        large,
        "treatment".into(),
    )
    .await;
    assert!(matches!(served, Err(DownloadError::Forbidden { .. })), "{:?}", served.err());
}

/// The CID a client computes for its record before signing ([`FileCid`])
/// is the one Kubo gives the gateway's add, across chunk and node
/// boundaries, however the bytes are fed.
#[tokio::test]
async fn a_clients_cid_is_the_one_kubo_gives_the_gateways_add() {
    let stack = Stack::new().await;
    let chunk = 262_144;
    let mut sizes = vec![0, 1, chunk - 1, chunk, chunk + 1, (1 << 20) + 17];
    sizes.extend([174 * chunk, 174 * chunk + 1, 175 * chunk + 5]);
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    for _ in 0..24 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        sizes.push(usize::try_from(seed % (3 << 20)).unwrap());
    }
    for (n, size) in sizes.into_iter().enumerate() {
        let bytes: Vec<u8> = (0..size).map(|i| (i * 31 + n * 7 + (i >> 9)) as u8).collect();
        let added = stack.ipfs.add(std::io::Cursor::new(bytes.clone())).await.unwrap();
        let mut cid = FileCid::new();
        for piece in bytes.chunks(size / 3 + 7) {
            cid.update(piece);
        }
        assert_eq!(cid.finish(), added.cid_bytes.to_vec(), "{size} bytes ({})", added.cid);
        stack.ipfs.unpin(&added.cid).await.unwrap();
    }
}

/// Stores `fields` with a small file (server-side encryption) and commits
/// it with `author`'s signature.
async fn committed(stack: &Stack, fields: RecordFields, author: &Actor) -> U256 {
    let upload = stack.uploader.store(fields, &file(100)[..], true, None).await.unwrap();
    let auth = stack.sign(upload.clone(), author).await;
    stack.uploader.commit(&upload.id, auth).await.unwrap().record_id
}

/// The grounds the chain names in the same call as its yes are the ones the
/// grant (and so the access-log row) carries: patient, guardian, category
/// grant, grant on the record, and break-glass with its case.
#[tokio::test]
async fn a_reader_is_let_in_on_the_grounds_the_chain_names() {
    let stack = Stack::new().await;
    let v = &stack.vault;
    let patient = stack.patient.address();
    let labs = committed(&stack, stack.lab_fields(), &stack.doctor).await;
    let emergency_fields =
        RecordFields { author: patient, category: EMERGENCY, ..stack.lab_fields() };
    let emergency = committed(&stack, emergency_fields, &stack.patient).await;

    // `expiring` reads as a guardian (which comes before their category
    // grant); `revoked` loses the
    // category grant and is given the record; `stranger` joins the hospital
    // as emergency staff and breaks the glass.
    let year = U40::from(stack.now().await + 365 * 86_400);
    send(v.setGuardian(stack.expiring.address(), 2).from(patient)).await;
    send(v.revoke(patient, stack.revoked.address()).from(patient)).await;
    send(v.grantRecord(labs, stack.revoked.address(), year).from(patient)).await;
    send(v.addStaff(stack.stranger.address(), 4, year).from(stack.hospital.address())).await;
    send(v.openBreakGlass(patient, B256::repeat_byte(1)).from(stack.stranger.address())).await;

    let basis = |record_id: U256, reader: Address| {
        let chain = stack.reader();
        async move { download::authorise(chain, reader, record_id).await.map(|grant| grant.basis) }
    };
    assert_eq!(basis(labs, patient).await.unwrap(), Basis::Patient);
    assert_eq!(basis(labs, stack.expiring.address()).await.unwrap(), Basis::Guardian);
    assert_eq!(basis(labs, stack.doctor.address()).await.unwrap(), Basis::Grant);
    assert_eq!(basis(labs, stack.revoked.address()).await.unwrap(), Basis::RecordGrant);
    assert_eq!(
        basis(emergency, stack.stranger.address()).await.unwrap(),
        Basis::BreakGlass { case_id: U256::from(1) }
    );
    // Break-glass opens the emergency category only, and a category grant
    // elsewhere opens nothing here.
    assert!(matches!(
        basis(labs, stack.stranger.address()).await,
        Err(DownloadError::Forbidden { .. })
    ));
    assert!(matches!(
        basis(emergency, stack.doctor.address()).await,
        Err(DownloadError::Forbidden { .. })
    ));
}
