//! The gateway's Kubo client: records in, records out, pins.
//!
//! Records are added as CIDv1 with raw leaves and pinned, so the CID names
//! the exact bytes and the same bytes always give the same CID; the chain
//! stores the CID in its binary form ([`Added::cid_bytes`]). Reads come back
//! as a stream of chunks, never a buffered file. Kubo being down is told
//! apart from Kubo refusing a request ([`IpfsError::is_unavailable`]), so the
//! HTTP layer answers 503 for the first.
//!
//! Both directions keep the producer and the consumer of the bytes on tasks
//! of their own with a short queue of whole chunks between them, so that
//! encryption and Kubo's hashing, or Kubo's reading and decryption, run side
//! by side on two cores. A byte pipe ([`tokio::io::duplex`]) is the wrong
//! tool for this: once full, it wakes its writer for every read, and the
//! multipart body reads 2 KiB at a time, so the encryptor was woken for every
//! 2 KiB that Kubo took ([`pipe`] wakes it once a segment).

use std::{
    io,
    pin::Pin,
    task::{Context, Poll, ready},
};

use bytes::Bytes;
use futures_util::{Stream, StreamExt, TryStreamExt, stream};
use ipfs_api_backend_hyper::{IpfsApi, IpfsClient, TryFromUri, request::Add};
use multibase::Base;
use tokio::{
    io::{AsyncRead, AsyncWrite},
    sync::mpsc,
};
use tokio_util::{compat::TokioAsyncReadCompatExt, io::StreamReader, sync::PollSender};

/// How many chunks of a read may wait between Kubo and the consumer.
pub const CAT_QUEUE: usize = 16;

/// Why Kubo could not do what the gateway asked.
#[derive(Debug, thiserror::Error)]
pub enum IpfsError {
    /// The configured Kubo RPC URL does not parse.
    #[error("invalid kubo rpc url {url}")]
    Url {
        /// The URL as configured.
        url: String,
    },
    /// Kubo did not answer (down, unreachable, connection dropped).
    #[error("kubo is unavailable")]
    Unavailable {
        /// The transport's error.
        #[source]
        source: ipfs_api_backend_hyper::Error,
    },
    /// Kubo answered with an error (an unknown CID, a pin that is not there).
    #[error("kubo refused the request")]
    Refused {
        /// Kubo's error.
        #[source]
        source: ipfs_api_backend_hyper::Error,
    },
    /// Kubo returned a CID that is not multibase.
    #[error("kubo returned an invalid cid")]
    Cid {
        /// The decoder's error.
        #[source]
        source: multibase::Error,
    },
}

impl IpfsError {
    /// Whether Kubo itself is out of reach (503), rather than refusing one
    /// request.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }

    fn from_client(source: ipfs_api_backend_hyper::Error) -> Self {
        match source {
            ipfs_api_backend_hyper::Error::Api(_) => Self::Refused { source },
            _ => Self::Unavailable { source },
        }
    }
}

/// A record added to Kubo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Added {
    /// The CID as Kubo prints it (base32, `bafk...`).
    pub cid: String,
    /// The binary CID, as the chain stores it.
    pub cid_bytes: Bytes,
}

/// A Kubo RPC client that adds, reads and unpins records.
#[derive(Clone)]
pub struct Ipfs {
    client: IpfsClient,
}

impl std::fmt::Debug for Ipfs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ipfs").finish_non_exhaustive()
    }
}

impl Ipfs {
    /// A client for the Kubo RPC API at `url` (`http://127.0.0.1:5001`).
    pub fn new(url: &str) -> Result<Self, IpfsError> {
        let client =
            IpfsClient::from_str(url).map_err(|_| IpfsError::Url { url: url.to_owned() })?;
        Ok(Self { client })
    }

    /// Adds everything `data` yields as one file (CIDv1, raw leaves,
    /// pinned), streaming it to Kubo as it is read.
    pub async fn add<R>(&self, data: R) -> Result<Added, IpfsError>
    where
        R: AsyncRead + Send + Sync + Unpin + 'static,
    {
        let options = Add {
            cid_version: Some(1),
            raw_leaves: Some(true),
            pin: Some(true),
            ..Default::default()
        };
        let response = self
            .client
            .add_async_with_options(data.compat(), options)
            .await
            .map_err(IpfsError::from_client)?;
        let cid_bytes = cid_to_bytes(&response.hash)?;
        Ok(Added { cid: response.hash, cid_bytes })
    }

    /// The bytes of `cid`, as a stream of chunks. They are fetched on a task
    /// of their own, at most [`CAT_QUEUE`] chunks ahead of the consumer, so
    /// that Kubo's reading and whatever consumes the bytes (decryption, the
    /// client's socket) overlap; the task stops when the consumer goes away.
    pub fn cat(
        &self,
        cid: &str,
    ) -> impl Stream<Item = Result<Bytes, IpfsError>> + Send + 'static + use<> {
        let (tx, rx) = mpsc::channel(CAT_QUEUE);
        let mut chunks = self.client.cat(cid).map_err(IpfsError::from_client);
        tokio::spawn(async move {
            while let Some(chunk) = chunks.next().await {
                let stop = chunk.is_err();
                if tx.send(chunk).await.is_err() || stop {
                    return;
                }
            }
        });
        stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|chunk| (chunk, rx)) })
    }

    /// The bytes of `cid` as an [`AsyncRead`], for the record decoder.
    pub fn cat_reader(&self, cid: &str) -> impl AsyncRead + Send + Unpin + 'static + use<> {
        StreamReader::new(self.cat(cid).map(|chunk| chunk.map_err(io::Error::other)).boxed())
    }

    /// Removes the recursive pin on `cid`. A CID that is not pinned is not
    /// an error: the sweeper may retry an unpin that already happened.
    pub async fn unpin(&self, cid: &str) -> Result<(), IpfsError> {
        match self.client.pin_rm(cid, true).await {
            Ok(_) => Ok(()),
            Err(ipfs_api_backend_hyper::Error::Api(error))
                if error.message.contains("not pinned") =>
            {
                Ok(())
            }
            Err(source) => Err(IpfsError::from_client(source)),
        }
    }

    /// Whether `cid` is pinned (directly or recursively).
    pub async fn is_pinned(&self, cid: &str) -> Result<bool, IpfsError> {
        match self.client.pin_ls(Some(cid), None).await {
            Ok(response) => Ok(!response.keys.is_empty()),
            Err(ipfs_api_backend_hyper::Error::Api(error))
                if error.message.contains("not pinned") =>
            {
                Ok(false)
            }
            Err(source) => Err(IpfsError::from_client(source)),
        }
    }

    /// Every recursively pinned CID, sorted.
    pub async fn pins(&self) -> Result<Vec<String>, IpfsError> {
        let response =
            self.client.pin_ls(None, Some("recursive")).await.map_err(IpfsError::from_client)?;
        let mut pins: Vec<String> = response.keys.into_keys().collect();
        pins.sort();
        Ok(pins)
    }
}

/// A pipe into [`Ipfs::add`] that carries each write as one chunk, at most
/// `chunks` of them in flight. The writer waits only when the queue is full
/// and is woken once a whole chunk has been taken, however small the reads
/// on the other side. Dropping the writer ends the reader; an add whose
/// writer failed must be dropped, not awaited, so that Kubo never keeps a
/// truncated file.
pub fn pipe(chunks: usize) -> (PipeWriter, PipeReader) {
    let (tx, mut rx) = mpsc::channel(chunks);
    let chunks: ChunkStream = Box::pin(stream::poll_fn(move |cx| rx.poll_recv(cx)));
    (PipeWriter { tx: PollSender::new(tx) }, PipeReader { inner: StreamReader::new(chunks) })
}

type ChunkStream = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send + Sync>>;

/// The writing end of a [`pipe`].
#[derive(Debug)]
pub struct PipeWriter {
    tx: PollSender<io::Result<Bytes>>,
}

impl AsyncWrite for PipeWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        ready!(self.tx.poll_reserve(cx)).map_err(|_| io::ErrorKind::BrokenPipe)?;
        self.tx
            .send_item(Ok(Bytes::copy_from_slice(buf)))
            .map_err(|_| io::ErrorKind::BrokenPipe)?;
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.tx.close();
        Poll::Ready(Ok(()))
    }
}

/// The reading end of a [`pipe`], for [`Ipfs::add`].
pub struct PipeReader {
    inner: StreamReader<ChunkStream, Bytes>,
}

impl std::fmt::Debug for PipeReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PipeReader").finish_non_exhaustive()
    }
}

impl AsyncRead for PipeReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

/// The binary form of a multibase CID string (what the chain stores).
pub fn cid_to_bytes(cid: &str) -> Result<Bytes, IpfsError> {
    let (_, bytes) = multibase::decode(cid).map_err(|source| IpfsError::Cid { source })?;
    Ok(Bytes::from(bytes))
}

/// The string form (base32, as Kubo prints CIDv1) of a binary CID.
pub fn cid_to_string(cid: &[u8]) -> String {
    multibase::encode(Base::Base32Lower, cid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cids_round_trip_between_text_and_bytes() {
        let cid = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku";
        let bytes = cid_to_bytes(cid).unwrap();
        // CIDv1, raw codec (0x55), sha2-256 multihash of 32 bytes.
        assert_eq!(&bytes[..4], &[0x01, 0x55, 0x12, 0x20]);
        assert_eq!(bytes.len(), 36);
        assert_eq!(cid_to_string(&bytes), cid);
    }

    #[test]
    fn a_cid_that_is_not_multibase_is_refused() {
        assert!(matches!(cid_to_bytes("!nope"), Err(IpfsError::Cid { .. })));
    }

    #[tokio::test]
    async fn the_pipe_carries_each_write_whole_and_ends_when_the_writer_shuts_down() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        let (mut writer, mut reader) = pipe(2);
        let write = async move {
            for byte in 0..5u8 {
                writer.write_all(&[byte; 3000]).await.unwrap();
            }
            writer.shutdown().await.unwrap();
        };
        let read = async move {
            // Reads smaller than a write, as the multipart body's are.
            let mut got = Vec::new();
            let mut buf = [0; 2048];
            loop {
                let n = reader.read(&mut buf).await.unwrap();
                if n == 0 {
                    break got;
                }
                got.extend_from_slice(&buf[..n]);
            }
        };
        let ((), got) = tokio::join!(write, read);
        let expected: Vec<u8> = (0..5u8).flat_map(|byte| [byte; 3000]).collect();
        assert_eq!(got, expected);
    }

    #[tokio::test]
    async fn a_write_into_a_pipe_whose_reader_is_gone_fails() {
        use tokio::io::AsyncWriteExt;

        let (mut writer, reader) = pipe(1);
        drop(reader);
        assert!(writer.write_all(b"record").await.is_err());
    }
}
