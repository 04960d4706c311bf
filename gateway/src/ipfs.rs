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
//! tool for this: once full, it wakes its writer for every read ([`pipe`]
//! wakes it once a chunk).
//!
//! An add goes through the client's `Add` request, its hyper client and its
//! answer parsing, but its multipart body is built here ([`Ipfs::add_chunks`]):
//! the client's own form reads its part into 2 KiB buffers, zeroed and
//! copied, each sent as a chunk of its own, which cost the gateway a copy and
//! a trip through the body stream per 2 KiB beside Kubo on the same cores.
//! Here each chunk (a record segment, 64 KiB) goes to the socket as it is.

use std::{
    io,
    pin::Pin,
    task::{Context, Poll, ready},
};

use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt, TryStreamExt, stream};
use hyper_014::{
    Body, Request,
    header::{CONTENT_TYPE, HeaderValue},
};
use ipfs_api_backend_hyper::{
    IpfsApi, IpfsClient, TryFromUri, request::Add, response::AddResponse,
};
use ipfs_api_prelude::Backend;
use multibase::Base;
use rand_core::{OsRng, RngCore};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    sync::mpsc,
};
use tokio_util::{
    io::{ReaderStream, StreamReader},
    sync::PollSender,
};

/// How many chunks of a read may wait between Kubo and the consumer: 1 MiB
/// of [`CAT_CHUNK`]s, so that Kubo reads a record of that size whole while a
/// download's grant is gathered and its access logged, and a larger one no
/// more than that ahead of the client.
pub const CAT_QUEUE: usize = 16;

/// The size [`Ipfs::cat`] gathers Kubo's chunks into (a record segment's
/// size). Kubo answers in chunks of about 4 KiB; passed on one by one,
/// each costs a channel send, a body frame and a write on the way to the
/// client, and a 1 MiB read paid for some 260 of them.
pub const CAT_CHUNK: usize = 64 * 1024;

/// The size of the chunks [`Ipfs::add`] reads its input in (a record
/// segment's size).
pub const ADD_CHUNK: usize = 64 * 1024;

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
    /// Kubo's answer to an add named no file.
    #[error("kubo answered the add without a cid")]
    NoCid,
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
    /// pinned), streaming it to Kubo as it is read, [`ADD_CHUNK`] at a
    /// time.
    pub async fn add<R>(&self, data: R) -> Result<Added, IpfsError>
    where
        R: AsyncRead + Send + 'static,
    {
        self.add_chunks(ReaderStream::with_capacity(data, ADD_CHUNK)).await
    }

    /// Adds the chunks `chunks` yields, in order, as one file (CIDv1, raw
    /// leaves, pinned). Each chunk is sent to Kubo as it comes, without
    /// being copied. An error from `chunks` aborts the request before its
    /// closing boundary, so that Kubo keeps nothing of it.
    pub async fn add_chunks<S>(&self, chunks: S) -> Result<Added, IpfsError>
    where
        S: Stream<Item = io::Result<Bytes>> + Send + 'static,
    {
        let options = Add {
            cid_version: Some(1),
            raw_leaves: Some(true),
            pin: Some(true),
            ..Default::default()
        };
        let request =
            self.client.build_base_request(options, None).map_err(IpfsError::from_client)?;
        let (mut head, _) = request.into_parts();
        let form = Form::new();
        head.headers.insert(CONTENT_TYPE, form.content_type());
        let body = Body::wrap_stream(form.around(chunks));
        let mut answers: Vec<AddResponse> = self
            .client
            .request_stream_json(Request::from_parts(head, body))
            .try_collect()
            .await
            .map_err(IpfsError::from_client)?;
        let answer = answers.pop().ok_or(IpfsError::NoCid)?;
        let cid_bytes = cid_to_bytes(&answer.hash)?;
        Ok(Added { cid: answer.hash, cid_bytes })
    }

    /// The bytes of `cid`, as a stream of chunks of [`CAT_CHUNK`] bytes (the
    /// last one shorter). They are fetched on a task
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
            let mut gathered = BytesMut::new();
            while let Some(chunk) = chunks.next().await {
                let chunk = match chunk {
                    Ok(chunk) => chunk,
                    // What was gathered is dropped: the read failed.
                    Err(error) => {
                        let _ = tx.send(Err(error)).await;
                        return;
                    }
                };
                gathered.extend_from_slice(&chunk);
                if gathered.len() >= CAT_CHUNK
                    && tx.send(Ok(gathered.split().freeze())).await.is_err()
                {
                    return;
                }
            }
            if !gathered.is_empty() {
                let _ = tx.send(Ok(gathered.freeze())).await;
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

/// A `multipart/form-data` body of one file part, as Kubo's add takes it
/// (and as the client's own form writes it), around chunks sent as they are.
struct Form {
    boundary: String,
}

impl Form {
    /// A form with a fresh random boundary. The part's bytes may be anyone's
    /// (a client-side record), so the boundary is unguessable: nobody can
    /// end the part early from inside it.
    fn new() -> Self {
        let mut random = [0; 16];
        OsRng.fill_bytes(&mut random);
        Self { boundary: hex::encode(random) }
    }

    fn content_type(&self) -> HeaderValue {
        // Hex digits and ASCII only.
        HeaderValue::from_str(&format!("multipart/form-data; boundary={}", self.boundary))
            .unwrap_or_else(|_| HeaderValue::from_static("multipart/form-data"))
    }

    /// The body: the part's headers, `chunks` (empty ones left out: hyper
    /// would frame them as the end of the body), the closing boundary.
    fn around<S>(self, chunks: S) -> impl Stream<Item = io::Result<Bytes>> + Send + 'static + use<S>
    where
        S: Stream<Item = io::Result<Bytes>> + Send + 'static,
    {
        let open = format!(
            "--{}\r\nContent-Type: application/octet-stream\r\n\
             Content-Disposition: form-data; name=\"path\"\r\n\r\n",
            self.boundary
        );
        let close = format!("\r\n--{}--\r\n", self.boundary);
        stream::once(async move { Ok(Bytes::from(open)) })
            .chain(chunks.try_filter(|chunk| std::future::ready(!chunk.is_empty())))
            .chain(stream::once(async move { Ok(Bytes::from(close)) }))
    }
}

/// A pipe into [`Ipfs::add_chunks`] that carries each write as one chunk, at
/// most `chunks` of them in flight. The writer waits only when the queue is
/// full and is woken once a whole chunk has been taken.
///
/// The reader ends only after the writer's shutdown. A writer dropped
/// without one (its producer failed) ends the reader with an error instead,
/// which aborts the add's request before its closing boundary, so that Kubo
/// never takes the bytes sent so far for a whole file.
pub fn pipe(chunks: usize) -> (PipeWriter, PipeReader) {
    let (tx, rx) = mpsc::channel(chunks);
    (PipeWriter { tx: PollSender::new(tx) }, PipeReader { rx, ended: false })
}

/// What goes through a [`pipe`].
#[derive(Debug)]
enum Piped {
    Chunk(Bytes),
    End,
}

/// The writing end of a [`pipe`].
#[derive(Debug)]
pub struct PipeWriter {
    tx: PollSender<Piped>,
}

impl PipeWriter {
    fn poll_send(
        &mut self,
        cx: &mut Context<'_>,
        item: impl FnOnce() -> Piped,
    ) -> Poll<io::Result<()>> {
        ready!(self.tx.poll_reserve(cx)).map_err(|_| io::ErrorKind::BrokenPipe)?;
        self.tx.send_item(item()).map_err(|_| io::ErrorKind::BrokenPipe)?;
        Poll::Ready(Ok(()))
    }

    /// Sends `chunk` as it is, without copying it; waits while the pipe is
    /// full.
    pub async fn send(&mut self, chunk: Bytes) -> io::Result<()> {
        let mut chunk = Some(chunk);
        std::future::poll_fn(|cx| {
            self.poll_send(cx, || Piped::Chunk(chunk.take().unwrap_or_default()))
        })
        .await
    }
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
        ready!(self.poll_send(cx, || Piped::Chunk(Bytes::copy_from_slice(buf))))?;
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.tx.is_closed() {
            return Poll::Ready(Ok(()));
        }
        ready!(self.poll_send(cx, || Piped::End))?;
        self.tx.close();
        Poll::Ready(Ok(()))
    }
}

/// The reading end of a [`pipe`]: the chunks written, in order, for
/// [`Ipfs::add_chunks`].
#[derive(Debug)]
pub struct PipeReader {
    rx: mpsc::Receiver<Piped>,
    ended: bool,
}

impl Stream for PipeReader {
    type Item = io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.ended {
            return Poll::Ready(None);
        }
        match ready!(self.rx.poll_recv(cx)) {
            Some(Piped::Chunk(chunk)) => Poll::Ready(Some(Ok(chunk))),
            Some(Piped::End) => {
                self.ended = true;
                Poll::Ready(None)
            }
            None => {
                self.ended = true;
                Poll::Ready(Some(Err(io::Error::new(
                    io::ErrorKind::BrokenPipe,
                    "the writer went away before the end",
                ))))
            }
        }
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
        use tokio::io::AsyncWriteExt;

        let (mut writer, reader) = pipe(2);
        let write = async move {
            for byte in 0..3u8 {
                writer.write_all(&[byte; 3000]).await.unwrap();
            }
            writer.send(Bytes::from_static(b"sent as it is")).await.unwrap();
            writer.shutdown().await.unwrap();
        };
        let read = reader.try_collect::<Vec<Bytes>>();
        let ((), chunks) = tokio::join!(write, read);
        let expected: Vec<Bytes> = (0..3u8)
            .map(|byte| Bytes::from(vec![byte; 3000]))
            .chain([Bytes::from_static(b"sent as it is")])
            .collect();
        assert_eq!(chunks.unwrap(), expected);
    }

    #[tokio::test]
    async fn the_form_frames_the_chunks_between_its_boundaries_and_drops_empty_ones() {
        let form = Form::new();
        let boundary = form.boundary.clone();
        assert_eq!(boundary.len(), 32);
        assert_eq!(
            form.content_type(),
            format!("multipart/form-data; boundary={boundary}").as_str()
        );
        let chunks = stream::iter([
            Ok(Bytes::from_static(b"seg")),
            Ok(Bytes::new()),
            Ok(Bytes::from_static(b"ment")),
        ]);
        let body: Vec<Bytes> = form.around(chunks).try_collect().await.unwrap();
        assert_eq!(body.len(), 4, "no empty chunk reaches hyper");
        assert_eq!(
            body.concat(),
            format!(
                "--{boundary}\r\nContent-Type: application/octet-stream\r\n\
                 Content-Disposition: form-data; name=\"path\"\r\n\r\nsegment\r\n--{boundary}--\r\n"
            )
            .into_bytes()
        );
        assert_ne!(Form::new().boundary, boundary, "a fresh boundary per add");
    }

    #[tokio::test]
    async fn a_pipe_whose_writer_is_dropped_without_a_shutdown_ends_in_an_error() {
        let (mut writer, reader) = pipe(2);
        writer.send(Bytes::from_static(b"half a record")).await.unwrap();
        drop(writer);
        let items: Vec<io::Result<Bytes>> = reader.collect().await;
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].as_ref().unwrap(), &Bytes::from_static(b"half a record"));
        assert_eq!(items[1].as_ref().unwrap_err().kind(), io::ErrorKind::BrokenPipe);
    }

    #[tokio::test]
    async fn a_write_into_a_pipe_whose_reader_is_gone_fails() {
        use tokio::io::AsyncWriteExt;

        let (mut writer, reader) = pipe(1);
        drop(reader);
        assert!(writer.write_all(b"record").await.is_err());
    }
}
