//! Moving records between a file and the gateway, in constant memory.
//!
//! An upload encrypts the file into a pipe while the gateway reads the
//! other end, and ends with the record's CID and the author's signature
//! ([`signed_record_body`]);
//! a download feeds the gateway's chunks into
//! a pipe that the decryptor reads, into a temporary file renamed over the
//! output only once every segment, the record's hash and the caller's own
//! check (the hash against the chain, run alongside) passed
//! ([`download_record`]). Neither holds more than a segment and the pipe's
//! buffer. Both show a progress bar with the speed when stderr is a
//! terminal.

use std::{
    io::IsTerminal,
    path::{Path, PathBuf},
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use alloy::primitives::Bytes;
use anyhow::{Context as _, bail};
use futures_util::StreamExt;
use http_body::Frame;
use indicatif::{ProgressBar, ProgressStyle};
use medvault_core::{cid::FileCid, keys::DataKey, record};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};

use crate::{
    files,
    gateway_client::{Download, GatewayError},
};

/// The pipe between the encryptor and the HTTP body.
const PIPE_SIZE: usize = 256 * 1024;
/// The most an upload body reads into one frame: a whole segment, where
/// `ReaderStream`'s default (4 KiB) would send a 1 MiB record as 256 frames.
const BODY_FRAME: usize = 64 * 1024;

/// A progress bar on stderr when it is a terminal, else a hidden one.
pub fn progress(len: Option<u64>, what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = match len {
        Some(len) => ProgressBar::new(len),
        None => ProgressBar::no_length(),
    };
    let template = "{msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} {eta}";
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_owned());
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// A reader that advances a progress bar.
struct Counted<R> {
    inner: R,
    bar: ProgressBar,
}

impl<R: AsyncRead + Unpin> AsyncRead for Counted<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        let read = buf.filled().len() - before;
        self.bar.inc(read as u64);
        polled
    }
}

/// What [`signed_record_body`] produced once the body was sent: the
/// record's length and SHA-256, and its CID.
pub type SignedSealing = tokio::task::JoinHandle<anyhow::Result<(record::Sealed, Vec<u8>)>>;

/// The file at `path` encrypted under `key` as a streaming request body,
/// followed by the trailer `sign` makes from the record's SHA-256 and CID
/// (computed as Kubo will, [`FileCid`]) once the last segment is sealed
/// (for a signed upload, which the gateway commits in the same request: the
/// CID and the author's signature); and the task that reports the record
/// and its CID at the end. If encrypting or signing fails, the body
/// ends in an error rather than short, so the gateway keeps nothing.
pub async fn signed_record_body<F, Fut>(
    path: &Path,
    key: DataKey,
    sign: F,
) -> anyhow::Result<(reqwest::Body, SignedSealing)>
where
    F: FnOnce(record::Sealed, Vec<u8>) -> Fut + Send + 'static,
    Fut: Future<Output = anyhow::Result<Bytes>> + Send,
{
    let (file, len) = open(path)?;
    let header = record::Header::random(record::DEFAULT_SEGMENT_SIZE)?;
    let (writer, reader) = tokio::io::duplex(PIPE_SIZE);
    let (signed, signed_rx) = tokio::sync::oneshot::channel::<()>();
    let bar = progress(len, "upload");
    let sealing = tokio::spawn(async move {
        let plaintext = Counted { inner: file, bar: bar.clone() };
        let mut record = CidWriter { inner: writer, cid: FileCid::new() };
        let sealed = record::encrypt(&key, &header, plaintext, &mut record).await;
        bar.finish_and_clear();
        let sealed = sealed?;
        let CidWriter { inner: mut writer, cid } = record;
        let cid = cid.finish();
        let signature = sign(sealed, cid.clone()).await?;
        writer.write_all(&signature).await?;
        // The body may end now; without this, it ends in an error.
        let _ = signed.send(());
        anyhow::Ok((sealed, cid))
    });
    let end = futures_util::stream::once(async move {
        match signed_rx.await {
            Ok(()) => None,
            Err(_) => Some(Err(std::io::Error::other("the record could not be sealed and signed"))),
        }
    })
    .filter_map(std::future::ready);
    let frames = tokio_util::io::ReaderStream::with_capacity(reader, BODY_FRAME)
        .chain(end)
        .map(|chunk| chunk.map(Frame::data));
    let body = reqwest::Body::wrap(http_body_util::StreamBody::new(frames));
    Ok((body, sealing))
}

/// A writer that feeds what it writes to a [`FileCid`].
struct CidWriter<W> {
    inner: W,
    cid: FileCid,
}

impl<W: AsyncWrite + Unpin> AsyncWrite for CidWriter<W> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = &mut *self;
        let written = std::task::ready!(Pin::new(&mut this.inner).poll_write(cx, buf))?;
        this.cid.update(&buf[..written]);
        Poll::Ready(Ok(written))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The file at `path`, read ahead on a blocking task ([`files::read_ahead`]),
/// and its length if known.
fn open(path: &Path) -> anyhow::Result<(files::ReadAhead, Option<u64>)> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let len = file.metadata().ok().map(|meta| meta.len());
    Ok((files::read_ahead(file), len))
}

/// The plaintext file at `path` as a streaming request body (the gateway
/// encrypts it).
pub async fn plaintext_body(path: &Path) -> anyhow::Result<reqwest::Body> {
    let (file, len) = open(path)?;
    let counted = Counted { inner: file, bar: progress(len, "upload") };
    let frames = tokio_util::io::ReaderStream::with_capacity(counted, BODY_FRAME)
        .map(|chunk| chunk.map(Frame::data));
    Ok(reqwest::Body::wrap(http_body_util::StreamBody::new(frames)))
}

/// Streams a download through the decryptor into `output`, checking every
/// segment and the record's SHA-256 against `expected_sha256`, while
/// `check` runs (the caller's proof that `expected_sha256` is the chain's).
/// The output appears only if all of it checks out.
///
/// The decryptor reads the response's chunks as they come, without a pipe
/// between them: a chunk that could not be read ends the decryption with
/// the gateway's error, told apart from a record that does not decrypt.
pub async fn download_record(
    download: Download,
    key: &DataKey,
    expected_sha256: &[u8; 32],
    output: &Path,
    check: impl Future<Output = anyhow::Result<()>>,
) -> anyhow::Result<record::Opened> {
    let partial = partial_path(output);
    let file = std::fs::File::create(&partial)
        .with_context(|| format!("cannot create {}", partial.display()))?;
    let bar = progress(download.length, "download");
    let chunks = futures_util::stream::unfold(download, |mut download| async move {
        let chunk = download.chunk().await.map_err(std::io::Error::other).transpose()?;
        Some((chunk, download))
    });
    let counted =
        futures_util::TryStreamExt::inspect_ok(chunks, |chunk| bar.inc(chunk.len() as u64));
    let ciphertext = std::pin::pin!(tokio_util::io::StreamReader::new(counted));
    let mut file = files::write_behind(file);
    let decrypting = record::decrypt_verified(key, expected_sha256, ciphertext, &mut file);
    let (opened, checked) = tokio::join!(decrypting, check);
    bar.finish_and_clear();
    let result = match (opened, checked) {
        (_, Err(error)) => Err(error),
        (Err(record::RecordError::Io(error)), _) if broke_off(&error) => {
            Err(anyhow::Error::new(error).context("the download broke off"))
        }
        (Err(error), _) => Err(anyhow::Error::new(error).context("the record did not decrypt")),
        (Ok(opened), Ok(())) => match file.flush().await {
            Ok(()) => Ok(opened),
            Err(error) => Err(anyhow::Error::new(error).context("cannot write the output")),
        },
    };
    match result {
        Ok(opened) => {
            tokio::fs::rename(&partial, output)
                .await
                .with_context(|| format!("cannot move the record to {}", output.display()))?;
            Ok(opened)
        }
        Err(error) => {
            let _ = tokio::fs::remove_file(&partial).await;
            Err(error)
        }
    }
}

/// Whether a read error of the decryptor is the download's: a chunk the
/// gateway's response could not give.
fn broke_off(error: &std::io::Error) -> bool {
    error.get_ref().is_some_and(|inner| inner.is::<GatewayError>())
}

/// Where a download is written before it is checked: beside the output.
fn partial_path(output: &Path) -> PathBuf {
    let mut name = output.file_name().map(|name| name.to_os_string()).unwrap_or_default();
    name.push(".part");
    output.with_file_name(name)
}

/// The binary CID of Kubo's base32 text form (`bafk...`), as the chain
/// stores it.
/// The indexer's `0x`-hex form (the bytes on chain) is taken as well.
pub fn cid_bytes(cid: &str) -> anyhow::Result<alloy::primitives::Bytes> {
    if cid.starts_with("0x") {
        return cid.parse().with_context(|| format!("{cid} is not a CID"));
    }
    let (_, bytes) = multibase::decode(cid).with_context(|| format!("{cid} is not a CID"))?;
    if bytes.is_empty() {
        bail!("{cid} is not a CID");
    }
    Ok(alloy::primitives::Bytes::from(bytes))
}

/// The text form of a binary CID, as Kubo prints it (base32, `bafk...`).
pub fn cid_text(bytes: &[u8]) -> String {
    multibase::encode(multibase::Base::Base32Lower, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Serves `body` once over HTTP/1.1 on loopback, announcing
    /// `content_length` bytes (more than `body` for a response that breaks
    /// off), and returns a download of it.
    async fn served(body: Vec<u8>, content_length: usize) -> Download {
        use tokio::io::AsyncReadExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/record", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut head = Vec::new();
            while !head.ends_with(b"\r\n\r\n") {
                head.push(socket.read_u8().await.unwrap());
            }
            let answer = format!("HTTP/1.1 200 OK\r\ncontent-length: {content_length}\r\n\r\n");
            // A client that stopped reading (a record that does not decrypt)
            // may have closed its end already.
            let _ = socket.write_all(&[answer.as_bytes(), &body].concat()).await;
            // Dropping the socket ends the response, whole or not.
        });
        Download::from_response(reqwest::get(url).await.unwrap())
    }

    #[tokio::test]
    async fn a_download_is_decrypted_from_the_response_or_told_broken_off() {
        let key = DataKey::generate();
        let plaintext: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let mut sealed = Vec::new();
        let header = record::Header::random(record::DEFAULT_SEGMENT_SIZE).unwrap();
        record::encrypt(&key, &header, &plaintext[..], &mut sealed).await.unwrap();
        let sha256: [u8; 32] = <sha2::Sha256 as sha2::Digest>::digest(&sealed).into();
        let dir = tempfile::tempdir().unwrap();
        let output = dir.path().join("out.bin");
        let checked = || async { anyhow::Ok(()) };

        let whole = served(sealed.clone(), sealed.len()).await;
        let opened = download_record(whole, &key, &sha256, &output, checked()).await.unwrap();
        assert_eq!(opened.plaintext_len, plaintext.len() as u64);
        assert_eq!(std::fs::read(&output).unwrap(), plaintext);
        std::fs::remove_file(&output).unwrap();

        // Half the record, then the connection closes: the gateway's error,
        // not a record that failed to decrypt, and nothing is left behind.
        let half = served(sealed[..sealed.len() / 2].to_vec(), sealed.len()).await;
        let error = download_record(half, &key, &sha256, &output, checked()).await.unwrap_err();
        assert_eq!(error.to_string(), "the download broke off");
        assert!(!output.exists() && !partial_path(&output).exists());

        // A whole record that is not this key's does not decrypt.
        let other = served(sealed.clone(), sealed.len()).await;
        let error = download_record(other, &DataKey::generate(), &sha256, &output, checked())
            .await
            .unwrap_err();
        assert_eq!(error.to_string(), "the record did not decrypt");
        assert!(!output.exists() && !partial_path(&output).exists());
    }

    #[test]
    fn partial_files_sit_beside_the_output() {
        assert_eq!(partial_path(Path::new("/tmp/out.pdf")), PathBuf::from("/tmp/out.pdf.part"));
        assert_eq!(partial_path(Path::new("out")), PathBuf::from("out.part"));
    }

    #[test]
    fn cids_decode_from_base32() {
        // CIDv1, raw, sha2-256 of the empty string, as Kubo prints it.
        let bytes =
            cid_bytes("bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku").unwrap();
        assert_eq!(&bytes[..4], &[0x01, 0x55, 0x12, 0x20]);
        assert_eq!(bytes.len(), 36);
        assert!(cid_bytes("not a cid").is_err());
        assert_eq!(cid_bytes(&alloy::primitives::hex::encode_prefixed(&bytes)).unwrap(), bytes);
        assert_eq!(cid_text(&bytes), "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku");
    }

    #[tokio::test]
    async fn a_signed_record_body_is_the_whole_file_sealed_then_the_signature() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in");
        let data: Vec<u8> = (0..600_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let key = DataKey::from_bytes([7; 32]);
        let sign = |sealed: record::Sealed, cid: Vec<u8>| async move {
            anyhow::Ok(Bytes::from([&sealed.sha256[..], &cid[..]].concat()))
        };
        let (body, sealing) = signed_record_body(&path, key.clone(), sign).await.unwrap();
        let mut stream = http_body_util::BodyDataStream::new(body);
        let mut sent = Vec::new();
        while let Some(chunk) = stream.next().await {
            sent.extend_from_slice(&chunk.unwrap());
        }
        let (sealed, cid) = sealing.await.unwrap().unwrap();
        let (record, trailer) = sent.split_at(sealed.record_len as usize);
        assert_eq!(trailer, [&sealed.sha256[..], &cid[..]].concat());
        let mut expected = FileCid::new();
        expected.update(record);
        assert_eq!(cid, expected.finish());
        assert_eq!(cid[..2], [0x01, 0x70], "three chunks: a dag-pb root");
        let mut plaintext = Vec::new();
        record::decrypt_verified(&key, &sealed.sha256, record, &mut plaintext).await.unwrap();
        assert_eq!(plaintext, data);
    }

    #[tokio::test]
    async fn a_signed_record_body_ends_in_an_error_when_signing_fails() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in");
        std::fs::write(&path, b"some bytes").unwrap();
        let sign = |_: record::Sealed, _: Vec<u8>| async { Err(anyhow::anyhow!("no wallet")) };
        let key = DataKey::from_bytes([7; 32]);
        let (body, sealing) = signed_record_body(&path, key, sign).await.unwrap();
        let mut stream = http_body_util::BodyDataStream::new(body);
        let mut failed = false;
        while let Some(chunk) = stream.next().await {
            failed |= chunk.is_err();
        }
        assert!(failed, "the body ended cleanly");
        assert!(sealing.await.unwrap().is_err());
    }
}
