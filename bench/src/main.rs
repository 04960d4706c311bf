//! `make bench`: the record format and the key envelopes, each run side by
//! side with its baseline on this machine, printed as Markdown tables for
//! `BENCHMARKS.md`.
//!
//! - **Throughput** of streaming encryption and decryption for 1 MiB, 64 MiB
//!   and 1 GiB, against a plain copy through the same reader and writer, the
//!   raw AEAD sealing one buffer, and the raw AEAD plus SHA-256 over one
//!   buffer (the format hashes the record as it goes). All on one core.
//! - **The choice of AEAD and hash**: ring against RustCrypto on one buffer.
//! - **Peak memory** (the kernel's high-water mark, `VmHWM`) of a child
//!   process that encrypts and then decrypts a 1 GiB file, against one that
//!   copies it.
//! - **Key wraps per second**: sealing and opening a 32-byte key in an
//!   envelope, against the bare k256 ECDH and HKDF they are built on.
//! - **The indexer** ([`indexer_sync`]; alone with `-- indexer-sync`):
//!   backfill events per second on SQLite and Postgres against raw
//!   `eth_getLogs`, and the live lag from receipt to store.
//! - **Signed grants relayed per second** through the gateway, against a
//!   bare send-and-wait loop on the same Anvil ([`gateway_relay`]; alone
//!   with `-- gateway-relay`).
//! - **Gateway objects** ([`gateway_objects`]; alone with
//!   `-- gateway-objects`): upload with server-side encryption and download
//!   with decryption against Kubo's CLI.
//! - **Indexer queries** ([`indexer_query`]; alone with `-- indexer-query`):
//!   a patient's records page through the API against the same SQL, on
//!   SQLite and on Postgres.
//! - **End to end** ([`e2e`]; alone with `-- e2e`): a 1 MiB upload until a
//!   granted doctor's fetch has the plaintext, against its raw parts.

mod e2e;
mod gateway_objects;
mod gateway_relay;
mod indexer_query;
mod indexer_sync;

use std::{
    hint::black_box,
    path::Path,
    pin::Pin,
    process::Command,
    task::{Context, Poll},
    time::{Duration, Instant},
};

use aes_gcm::{AeadInPlace, KeyInit};
use anyhow::{Context as _, bail};
use k256::{
    AffinePoint, ProjectivePoint, PublicKey, SecretKey, elliptic_curve::sec1::ToEncodedPoint,
};
use medvault_core::{
    envelope,
    keys::DataKey,
    record::{self, DEFAULT_SEGMENT_SIZE, Header},
};
use rand_core::{OsRng, RngCore};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, ReadBuf};

const MIB: u64 = 1024 * 1024;
const GIB: u64 = 1024 * MIB;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // One part alone, by name; nothing named runs them all.
    match args.first().map(String::as_str) {
        Some("peak-memory") => return peak_memory_child(&args[1..]),
        Some("indexer-sync") => return indexer_sync_run(),
        Some("indexer-query") => return indexer_query::run(),
        Some("gateway-relay") => return gateway_relay::run(),
        Some("gateway-objects") => return gateway_objects::run(),
        Some("e2e") => return e2e::run(),
        Some(other) => bail!(
            "unknown benchmark {other:?}: indexer-sync, indexer-query, gateway-relay, gateway-objects or e2e"
        ),
        None => {}
    }
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    println!("# MedVault benchmarks\n");
    choice()?;
    throughput(&runtime)?;
    peak_memory()?;
    key_wraps()?;
    indexer_sync_run()?;
    gateway_relay::run()?;
    gateway_objects::run()?;
    indexer_query::run()?;
    e2e::run()?;
    Ok(())
}

/// The indexer's backfill and live-lag benchmark, on its own runtime.
fn indexer_sync_run() -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(indexer_sync::run())
}

/// A reader of `len` bytes that repeats one random 64 KiB block, made once:
/// as cheap as a source can be, so that the figures are the format's.
struct Source {
    block: &'static [u8],
    remaining: u64,
}

impl Source {
    fn new(len: u64) -> Self {
        static BLOCK: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
        let block = BLOCK.get_or_init(|| {
            let mut block = vec![0; DEFAULT_SEGMENT_SIZE as usize];
            OsRng.fill_bytes(&mut block);
            block
        });
        Self { block, remaining: len }
    }
}

impl AsyncRead for Source {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let n = (buf.remaining() as u64).min(self.remaining).min(self.block.len() as u64) as usize;
        buf.put_slice(&self.block[..n]);
        self.remaining -= n as u64;
        Poll::Ready(Ok(()))
    }
}

/// The best of `runs` timings of `f`, as GB/s over `bytes`.
fn rate(bytes: u64, runs: usize, mut f: impl FnMut() -> anyhow::Result<()>) -> anyhow::Result<f64> {
    let mut best = Duration::MAX;
    for _ in 0..runs {
        let start = Instant::now();
        f()?;
        best = best.min(start.elapsed());
    }
    Ok(bytes as f64 / best.as_secs_f64() / 1e9)
}

fn runs_for(len: u64) -> usize {
    match len {
        l if l <= MIB => 50,
        l if l <= 64 * MIB => 5,
        _ => 2,
    }
}

fn ring_key() -> anyhow::Result<LessSafeKey> {
    let key = UnboundKey::new(&AES_256_GCM, &[7; 32]).map_err(|_| anyhow::anyhow!("ring key"))?;
    Ok(LessSafeKey::new(key))
}

/// Seals `buf` in one call with ring's AES-256-GCM.
fn ring_seal(key: &LessSafeKey, buf: &mut [u8]) -> anyhow::Result<()> {
    let tag = key
        .seal_in_place_separate_tag(Nonce::assume_unique_for_key([1; 12]), Aad::empty(), buf)
        .map_err(|_| anyhow::anyhow!("ring seal"))?;
    let _ = black_box(tag);
    Ok(())
}

fn choice() -> anyhow::Result<()> {
    let len = 64 * MIB;
    let mut buf = vec![5u8; len as usize];
    let ring = ring_key()?;
    let ring_rate = rate(len, 5, || ring_seal(&ring, &mut buf))?;
    let rust = aes_gcm::Aes256Gcm::new(&[7; 32].into());
    let rust_rate = rate(len, 3, || {
        let tag = rust
            .encrypt_in_place_detached(&[1; 12].into(), b"", &mut buf)
            .map_err(|_| anyhow::anyhow!("aes-gcm seal"))?;
        let _ = black_box(tag);
        Ok(())
    })?;
    let sha2_rate = rate(len, 3, || {
        let _ = black_box(Sha256::digest(&buf));
        Ok(())
    })?;
    let ring_sha_rate = rate(len, 3, || {
        let _ = black_box(ring::digest::digest(&ring::digest::SHA256, &buf));
        Ok(())
    })?;
    println!("## AEAD and hash, one 64 MiB buffer, one core\n");
    println!("| primitive | implementation | GB/s | vs ring AES-256-GCM |");
    println!("| --- | --- | ---: | ---: |");
    for (primitive, implementation, value) in [
        ("AES-256-GCM", "ring 0.17", ring_rate),
        ("AES-256-GCM", "RustCrypto aes-gcm 0.10", rust_rate),
        ("SHA-256", "RustCrypto sha2 0.10", sha2_rate),
        ("SHA-256", "ring 0.17", ring_sha_rate),
    ] {
        println!("| {primitive} | {implementation} | {value:.2} | {:.2} |", value / ring_rate);
    }
    println!();
    Ok(())
}

fn throughput(runtime: &tokio::runtime::Runtime) -> anyhow::Result<()> {
    println!("## Record format throughput, one core (GB/s of plaintext)\n");
    println!(
        "| size | copy | raw AEAD | raw AEAD + SHA-256 | encrypt | decrypt | decrypt + SHA-256 | \
         encrypt / raw AEAD | encrypt / (AEAD + SHA-256) | decrypt / raw AEAD |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    let key = DataKey::generate();
    let header = Header::random(DEFAULT_SEGMENT_SIZE)?;
    let ring = ring_key()?;
    for len in [MIB, 64 * MIB, GIB] {
        let runs = runs_for(len);
        let copy = rate(len, runs, || {
            runtime.block_on(tokio::io::copy(&mut Source::new(len), &mut tokio::io::sink()))?;
            Ok(())
        })?;
        let mut buf = vec![5u8; len as usize];
        let aead = rate(len, runs, || ring_seal(&ring, &mut buf))?;
        let aead_sha = rate(len, runs, || {
            ring_seal(&ring, &mut buf)?;
            let _ = black_box(Sha256::digest(&buf));
            Ok(())
        })?;
        drop(buf);
        let encrypt = rate(len, runs, || {
            runtime.block_on(record::encrypt(
                &key,
                &header,
                Source::new(len),
                tokio::io::sink(),
            ))?;
            Ok(())
        })?;
        let mut sealed = Vec::with_capacity(header.record_len(len) as usize);
        let fingerprint =
            runtime.block_on(record::encrypt(&key, &header, Source::new(len), &mut sealed))?.sha256;
        let decrypt = rate(len, runs, || {
            runtime.block_on(record::decrypt(&key, &sealed[..], tokio::io::sink()))?;
            Ok(())
        })?;
        let decrypt_sha = rate(len, runs, || {
            runtime.block_on(record::decrypt_verified(
                &key,
                &fingerprint,
                &sealed[..],
                tokio::io::sink(),
            ))?;
            Ok(())
        })?;
        println!(
            "| {} | {copy:.2} | {aead:.2} | {aead_sha:.2} | {encrypt:.2} | {decrypt:.2} | {decrypt_sha:.2} | \
             {:.2} | {:.2} | {:.2} |",
            size_name(len),
            encrypt / aead,
            encrypt / aead_sha,
            decrypt / aead,
        );
    }
    println!();
    Ok(())
}

fn size_name(len: u64) -> String {
    if len >= GIB { format!("{} GiB", len / GIB) } else { format!("{} MiB", len / MIB) }
}

/// Writes a 1 GiB file, then runs a child process for each of copy, encrypt
/// and decrypt and prints the child's peak resident memory.
fn peak_memory() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let plain = dir.path().join("plain");
    let sealed = dir.path().join("sealed");
    let opened = dir.path().join("opened");
    {
        use std::io::Write;
        let mut file = std::io::BufWriter::new(std::fs::File::create(&plain)?);
        let mut block = vec![0; MIB as usize];
        for _ in 0..GIB / MIB {
            OsRng.fill_bytes(&mut block);
            file.write_all(&block)?;
        }
        file.flush()?;
    }
    let exe = std::env::current_exe()?;
    let run = |mode: &str, from: &Path, to: &Path| -> anyhow::Result<(u64, u64)> {
        let output = Command::new(&exe).args(["peak-memory", mode]).arg(from).arg(to).output()?;
        if !output.status.success() {
            bail!("{mode} failed: {}", String::from_utf8_lossy(&output.stderr));
        }
        let text = String::from_utf8(output.stdout)?;
        let mut figures = text.split_whitespace().map(str::parse::<u64>);
        match (figures.next(), figures.next()) {
            (Some(Ok(before)), Some(Ok(after))) => Ok((before, after)),
            _ => bail!("{mode} printed {text:?}"),
        }
    };
    println!("## Peak memory, 1 GiB file to file (VmHWM of the process, MiB)\n");
    println!("| operation | before | peak | peak - before |");
    println!("| --- | ---: | ---: | ---: |");
    for (mode, from, to) in
        [("copy", &plain, &opened), ("encrypt", &plain, &sealed), ("decrypt", &sealed, &opened)]
    {
        let (before, peak) = run(mode, from, to)?;
        println!(
            "| {mode} | {:.1} | {:.1} | {:.1} |",
            before as f64 / 1024.0,
            peak as f64 / 1024.0,
            (peak - before) as f64 / 1024.0
        );
    }
    println!();
    Ok(())
}

/// The child of [`peak_memory`]: prints VmHWM (KiB) before and after.
fn peak_memory_child(args: &[String]) -> anyhow::Result<()> {
    let [mode, from, to] = args else { bail!("usage: peak-memory <mode> <from> <to>") };
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    let before = high_water_mark()?;
    let key = DataKey::from_bytes([3; 32]);
    runtime.block_on(async {
        let input = tokio::fs::File::open(from).await?;
        let output = tokio::fs::File::create(to).await?;
        match mode.as_str() {
            "copy" => {
                tokio::io::copy(&mut tokio::io::BufReader::new(input), &mut { output }).await?;
            }
            "encrypt" => {
                let header = Header::random(DEFAULT_SEGMENT_SIZE)?;
                record::encrypt(&key, &header, input, output).await?;
            }
            "decrypt" => {
                record::decrypt(&key, input, output).await?;
            }
            other => bail!("unknown mode {other}"),
        }
        anyhow::Ok(())
    })?;
    println!("{before} {}", high_water_mark()?);
    Ok(())
}

/// The process's peak resident memory in KiB.
fn high_water_mark() -> anyhow::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmHWM in /proc/self/status")
}

/// Per second, the best of three one-second rounds of `f`.
fn per_second(mut f: impl FnMut() -> anyhow::Result<()>) -> anyhow::Result<f64> {
    let mut best: f64 = 0.0;
    for _ in 0..3 {
        let start = Instant::now();
        let mut count = 0u64;
        while start.elapsed() < Duration::from_secs(1) {
            for _ in 0..50 {
                f()?;
            }
            count += 50;
        }
        best = best.max(count as f64 / start.elapsed().as_secs_f64());
    }
    Ok(best)
}

/// The ECIES minimum: a fresh ephemeral key, both points encoded
/// uncompressed, and HKDF-SHA256 over them.
fn bare_ecdh_hkdf(recipient: &PublicKey) -> [u8; 32] {
    let ephemeral = k256::NonZeroScalar::random(&mut OsRng);
    let ephemeral_point = (ProjectivePoint::GENERATOR * *ephemeral).to_affine();
    let shared = (recipient.to_projective() * *ephemeral).to_affine();
    hkdf_over(&ephemeral_point, &shared)
}

/// Opening's minimum: one ECDH with the recipient's secret and HKDF.
fn bare_open(secret: &SecretKey, ephemeral: &PublicKey) -> [u8; 32] {
    let shared = (ephemeral.to_projective() * *secret.to_nonzero_scalar()).to_affine();
    hkdf_over(ephemeral.as_affine(), &shared)
}

/// HKDF-SHA256 over both points, uncompressed, as the envelopes derive
/// their AES key.
fn hkdf_over(ephemeral: &AffinePoint, shared: &AffinePoint) -> [u8; 32] {
    let mut ikm = Vec::with_capacity(130);
    ikm.extend_from_slice(ephemeral.to_encoded_point(false).as_bytes());
    ikm.extend_from_slice(shared.to_encoded_point(false).as_bytes());
    let mut okm = [0; 32];
    let _ = hkdf::Hkdf::<Sha256>::new(None, &ikm).expand(&[], &mut okm);
    okm
}

fn key_wraps() -> anyhow::Result<()> {
    let secret = SecretKey::random(&mut OsRng);
    let recipient = secret.public_key();
    let key = DataKey::generate();
    let sealed = envelope::seal(&recipient, key.as_bytes());
    let ephemeral = PublicKey::from_sec1_bytes(&sealed[..65])?;

    let bare_seal = per_second(|| {
        let _ = black_box(bare_ecdh_hkdf(&recipient));
        Ok(())
    })?;
    let seal = per_second(|| {
        let _ = black_box(envelope::seal(&recipient, key.as_bytes()));
        Ok(())
    })?;
    let bare_opening = per_second(|| {
        let _ = black_box(bare_open(&secret, &ephemeral));
        Ok(())
    })?;
    let open = per_second(|| {
        let _ = black_box(envelope::open(&secret, &sealed)?);
        Ok(())
    })?;
    println!("## Key envelopes, one core (per second)\n");
    println!("| operation | envelope | bare k256 ECDH + HKDF | ratio |");
    println!("| --- | ---: | ---: | ---: |");
    println!("| seal a 32-byte key | {seal:.0} | {bare_seal:.0} | {:.2} |", seal / bare_seal);
    println!("| open it | {open:.0} | {bare_opening:.0} | {:.2} |", open / bare_opening);
    println!();
    Ok(())
}
