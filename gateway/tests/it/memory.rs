//! A 200 MiB upload and download through the gateway's data path in a
//! process of its own, whose peak resident memory (VmHWM) must stay under
//! 128 MiB: the bodies stream end to end.
//!
//! The parent test re-runs this test binary with only the child test and an
//! environment variable set; Anvil and Kubo are processes of their own and
//! do not count.

use std::{
    pin::Pin,
    task::{Context, Poll},
};

use futures_util::StreamExt;
use medvault_core::{keys::DataKey, record};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::stack::Stack;

const CHILD: &str = "MEDVAULT_GATEWAY_MEMORY_CHILD";
const LEN: u64 = 200 << 20;
const LIMIT_KIB: u64 = 128 * 1024;

/// `len` bytes of a fixed pattern, generated as they are read.
struct Pattern {
    left: u64,
    offset: u64,
}

impl AsyncRead for Pattern {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let n = (buf.remaining() as u64).min(self.left) as usize;
        let offset = self.offset;
        let bytes: Vec<u8> = (0..n as u64).map(|i| ((offset + i) * 7 + 3) as u8).collect();
        buf.put_slice(&bytes);
        self.left -= n as u64;
        self.offset += n as u64;
        Poll::Ready(Ok(()))
    }
}

/// A writer that only hashes.
struct HashSink(Sha256, u64);

impl AsyncWrite for HashSink {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.0.update(buf);
        self.1 += buf.len() as u64;
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|line| line.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_200_mib_upload_and_download_stay_under_128_mib() {
    if std::env::var_os(CHILD).is_some() {
        return;
    }
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "memory::child_200_mib", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let peak: u64 = stdout
        .lines()
        // libtest prints the test's name on the same line.
        .find_map(|line| line.split("peak-rss-kib ").nth(1))
        .expect("the child reports its peak")
        .trim()
        .parse()
        .unwrap();
    println!("peak RSS of 200 MiB up and down: {} MiB", peak / 1024);
    assert!(peak < LIMIT_KIB, "peak RSS {peak} KiB");
}

#[tokio::test]
async fn child_200_mib() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let stack = Stack::new().await;
    let expected: [u8; 32] = {
        let mut sink = HashSink(Sha256::new(), 0);
        tokio::io::copy(&mut Pattern { left: LEN, offset: 0 }, &mut sink).await.unwrap();
        sink.0.finalize().into()
    };

    // Server-side: plaintext in, one record and its envelopes.
    let upload = stack
        .uploader
        .store(stack.lab_fields(), Pattern { left: LEN, offset: 0 }, true, None)
        .await
        .unwrap();
    let auth = stack.sign(upload.clone(), &stack.doctor).await;
    let committed = stack.uploader.commit(&upload.id, auth).await.unwrap();
    let (grant, stream) = medvault_gateway::download::serve(
        stack.reader(),
        &stack.ipfs,
        &stack.log,
        stack.patient.address(),
        committed.record_id,
        "treatment".into(),
    )
    .await
    .unwrap();
    let opened = medvault_core::envelope::open(
        stack.patient.key.secret(),
        grant.record_envelopes.first().unwrap(),
    )
    .unwrap();
    let key = DataKey::from_bytes(opened.as_slice().try_into().unwrap());
    let reader = tokio_util::io::StreamReader::new(
        stream.map(|chunk| chunk.map_err(std::io::Error::other)).boxed(),
    );
    let mut sink = HashSink(Sha256::new(), 0);
    record::decrypt_verified(&key, &grant.sha256.0, reader, &mut sink).await.unwrap();
    assert_eq!(sink.1, LEN);
    assert_eq!(<[u8; 32]>::from(sink.0.finalize()), expected, "byte-exact");

    // Client-side: the same bytes encrypted here, streamed in as a record.
    let (mut writer, reader) = tokio::io::duplex(256 * 1024);
    let key = DataKey::generate();
    let header = record::Header::random(record::DEFAULT_SEGMENT_SIZE).unwrap();
    let encrypt = async move {
        record::encrypt(&key, &header, Pattern { left: LEN, offset: 0 }, &mut writer)
            .await
            .unwrap();
        drop(writer);
        key
    };
    let (key, stored) =
        tokio::join!(encrypt, medvault_gateway::upload::store_record(&stack.ipfs, reader));
    let stored = stored.unwrap();
    let mut sink = HashSink(Sha256::new(), 0);
    record::decrypt_verified(
        &key,
        &stored.sha256.0,
        stack.ipfs.cat_reader(&stored.added.cid),
        &mut sink,
    )
    .await
    .unwrap();
    assert_eq!(<[u8; 32]>::from(sink.0.finalize()), expected, "byte-exact");

    println!("peak-rss-kib {}", peak_rss_kib());
}
