//! `gateway-objects`: the gateway's data path against Kubo's own CLI on the
//! same node.
//!
//! - **Upload with server-side encryption**: the gateway's pipeline
//!   (`medvault_gateway::upload::encrypt_and_store`: encrypt on the fly,
//!   hash, stream into Kubo through its RPC API, CIDv1, raw leaves, pinned)
//!   against `ipfs add --cid-version=1 --raw-leaves --pin` of the same
//!   number of bytes from a file in the page cache.
//! - **Download with decryption**: the ciphertext streamed out of Kubo and
//!   decrypted and verified as it comes, against `ipfs cat` of the same
//!   record to `/dev/null`.
//!
//! 16 MiB, 256 MiB and 1 GiB, best of 5, 3 and 3 runs; Kubo offline, one
//! fresh repository for the whole run. The two sides take turns going
//! first: the side that follows a `repo gc` writes its block files among
//! the thousands just deleted, which costs it more than the other. The figures are MB/s of plaintext
//! and the ratio against the CLI (goal: at least 0.85).
//!
//! Both adds write blocks Kubo has not seen: the plaintext has no two equal
//! 256 KiB blocks ([`Plaintext`]) and is new in each round, and every round
//! ends with the pins removed and `repo gc`, so that `ipfs add` cannot find
//! its blocks stored already (nor their block files' paths just deleted). The gateway's ciphertext is new on every upload (a fresh
//! data key), so without this the baseline would measure Kubo skipping
//! blocks it has, against the gateway writing all of them.
//!
//! Kubo's block files are written through the page cache, so each timed step
//! starts after a `sync` ([`settle`]): otherwise the kernel's write-back of
//! what the step before wrote (the CLI's input file before the first
//! upload, the upload's blocks during `ipfs add`) lands in the middle of the
//! next one, on the same two cores.

use std::{
    io::Write,
    pin::Pin,
    process::Stdio,
    task::{Context, Poll, ready},
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use medvault_core::{keys::DataKey, record};
use medvault_gateway::{ipfs::Ipfs, upload::encrypt_and_store};
use medvault_tests::{KuboNode, Toolchain};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::{GIB, MIB, Source};

/// The benchmark's plaintext: [`Source`]'s bytes with a counter written at
/// the start of each read (at most 64 KiB), so that no two of Kubo's 256 KiB
/// blocks are equal, as in a real file. [`Source`] alone repeats one 64 KiB
/// block, and Kubo stores a file of it as a single block. The counter starts
/// at `run << 40`, so that each round's file is new to Kubo too.
struct Plaintext {
    source: Source,
    reads: u64,
}

impl Plaintext {
    fn new(len: u64, run: usize) -> Self {
        Self { source: Source::new(len), reads: (run as u64) << 40 }
    }
}

impl AsyncRead for Plaintext {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let start = buf.filled().len();
        ready!(Pin::new(&mut self.source).poll_read(cx, buf))?;
        self.reads += 1;
        let stamp = self.reads.to_le_bytes();
        let read = &mut buf.filled_mut()[start..];
        let n = read.len().min(stamp.len());
        read[..n].copy_from_slice(&stamp[..n]);
        Poll::Ready(Ok(()))
    }
}

/// A writer that drops what it is given.
struct Sink;

impl AsyncWrite for Sink {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

fn runs(len: u64) -> usize {
    match len {
        l if l >= 256 * MIB => 3,
        _ => 5,
    }
}

/// Runs the benchmark and prints its Markdown table.
pub(crate) fn run() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let kubo = KuboNode::spawn(&Toolchain::locate()).await.context("start kubo")?;
        let ipfs = Ipfs::new(&kubo.api_url())?;
        println!("## Gateway: records to and from Kubo\n");
        println!("Server-side encryption into Kubo against `ipfs add` of the same bytes, and");
        println!("download with decryption against `ipfs cat`, on the same offline node.\n");
        println!(
            "| size | gateway upload | `ipfs add` | ratio | gateway download | `ipfs cat` | ratio |"
        );
        println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        for len in [16 * MIB, 256 * MIB, GIB] {
            let row = measure(&kubo, &ipfs, len).await?;
            println!(
                "| {} MiB | {:.0} MB/s | {:.0} MB/s | {:.2} | {:.0} MB/s | {:.0} MB/s | {:.2} |",
                len / MIB,
                row.upload,
                row.add,
                row.upload / row.add,
                row.download,
                row.cat,
                row.download / row.cat,
            );
        }
        println!();
        Ok(())
    })
}

struct Row {
    upload: f64,
    add: f64,
    download: f64,
    cat: f64,
}

fn mbps(len: u64, elapsed: Duration) -> f64 {
    len as f64 / elapsed.as_secs_f64() / 1e6
}

async fn measure(kubo: &KuboNode, ipfs: &Ipfs, len: u64) -> anyhow::Result<Row> {
    let (mut upload, mut add, mut download, mut cat) =
        (Duration::MAX, Duration::MAX, Duration::MAX, Duration::MAX);
    for run in 0..runs(len) {
        // The CLI's input: this round's plaintext, as a file in the page
        // cache. Both sides write blocks Kubo has never held, even if the
        // last round's `repo gc` left some.
        let file = input_file(len, run).await?;
        let gateway_first = run % 2 == 0;
        let mut raw_cid = None;
        if !gateway_first {
            let (elapsed, cid) = cli_add(kubo, file.path())?;
            add = add.min(elapsed);
            raw_cid = Some(cid);
        }
        settle()?;
        let start = Instant::now();
        let (stored, key) = encrypt_and_store(ipfs, Plaintext::new(len, run)).await?;
        upload = upload.min(start.elapsed());
        let raw_cid = match raw_cid {
            Some(cid) => cid,
            None => {
                let (elapsed, cid) = cli_add(kubo, file.path())?;
                add = add.min(elapsed);
                cid
            }
        };

        settle()?;
        let start = Instant::now();
        decrypt(ipfs, &stored.added.cid, &key, &stored.sha256.0).await?;
        download = download.min(start.elapsed());

        settle()?;
        let start = Instant::now();
        let status =
            kubo.command().args(["cat", &stored.added.cid]).stdout(Stdio::null()).status()?;
        cat = cat.min(start.elapsed());
        if !status.success() {
            bail!("ipfs cat failed");
        }
        ipfs.unpin(&stored.added.cid).await?;
        ipfs.unpin(&raw_cid).await?;
        let status = kubo.command().args(["repo", "gc", "-q"]).stdout(Stdio::null()).status()?;
        if !status.success() {
            bail!("ipfs repo gc failed");
        }
    }
    Ok(Row {
        upload: mbps(len, upload),
        add: mbps(len, add),
        download: mbps(len, download),
        cat: mbps(len, cat),
    })
}

/// Round `run`'s plaintext of `len` bytes, written to a temporary file.
async fn input_file(len: u64, run: usize) -> anyhow::Result<tempfile::NamedTempFile> {
    let mut file = tempfile::NamedTempFile::new()?;
    let mut source = Plaintext::new(len, run);
    let mut buf = vec![0; 1 << 20];
    loop {
        let n = tokio::io::AsyncReadExt::read(&mut source, &mut buf).await?;
        if n == 0 {
            break;
        }
        file.write_all(&buf[..n])?;
    }
    file.flush()?;
    Ok(file)
}

/// `ipfs add` of `path` by Kubo's CLI, after a [`settle`]: how long it took
/// and the CID.
fn cli_add(kubo: &KuboNode, path: &std::path::Path) -> anyhow::Result<(Duration, String)> {
    settle()?;
    let start = Instant::now();
    let output = kubo
        .command()
        .args(["add", "-Q", "--cid-version=1", "--raw-leaves", "--pin"])
        .arg(path)
        .output()?;
    let elapsed = start.elapsed();
    if !output.status.success() {
        bail!("ipfs add failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    Ok((elapsed, String::from_utf8(output.stdout)?.trim().to_owned()))
}

/// Writes every dirty page back to disk (`sync`), so that the next timed
/// step does not share the cores and the disk with the write-back of the
/// steps before it.
fn settle() -> anyhow::Result<()> {
    let status = std::process::Command::new("sync").status().context("run sync")?;
    if !status.success() {
        bail!("sync failed");
    }
    Ok(())
}

async fn decrypt(ipfs: &Ipfs, cid: &str, key: &DataKey, sha256: &[u8; 32]) -> anyhow::Result<()> {
    record::decrypt_verified(key, sha256, ipfs.cat_reader(cid), Sink).await?;
    Ok(())
}
