//! Files read and written on a blocking thread of their own, ahead of and
//! behind the async code that encrypts and decrypts them.
//!
//! `tokio::fs::File` sends every read and write to the blocking pool and
//! waits for it: 16 round trips for a 1 MiB file read in 64 KiB segments,
//! each a thread hand-off that, measured in the end-to-end bench, took
//! longer than sealing and hashing the segment. Here one blocking task reads
//! the whole file in large chunks into a bounded channel while the
//! segments are sealed, and one writes the plaintext while the next segment
//! is opened; at most [`AHEAD`] or [`BEHIND`] bytes wait in memory.

use std::{
    future::Future as _,
    io::{self, Read as _, Write as _},
    pin::Pin,
    task::{Context, Poll, ready},
};

use bytes::{Bytes, BytesMut};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    sync::{mpsc, oneshot},
};
use tokio_util::sync::PollSender;

/// The chunk a file is read in.
const READ_CHUNK: usize = 256 * 1024;

/// How many chunks are read ahead of the reader.
const AHEAD_CHUNKS: usize = 4;

/// The most bytes read ahead of the reader.
pub const AHEAD: usize = READ_CHUNK * AHEAD_CHUNKS;

/// How many writes wait for the writing thread.
const BEHIND_WRITES: usize = 16;

/// The most bytes waiting to be written, with 64 KiB segments.
pub const BEHIND: usize = 64 * 1024 * BEHIND_WRITES;

/// `file`, read to its end on a blocking task, [`AHEAD`] bytes at most ahead
/// of what is read from the result.
pub fn read_ahead(mut file: std::fs::File) -> ReadAhead {
    let (chunks, rx) = mpsc::channel(AHEAD_CHUNKS);
    tokio::task::spawn_blocking(move || {
        loop {
            let mut chunk = BytesMut::zeroed(READ_CHUNK);
            let read = loop {
                match file.read(&mut chunk) {
                    Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                    read => break read,
                }
            };
            let end = matches!(read, Ok(0) | Err(_));
            let message = read.map(|n| {
                chunk.truncate(n);
                chunk.freeze()
            });
            // An empty chunk is the end; a reader that went away stops this.
            if chunks.blocking_send(message).is_err() || end {
                return;
            }
        }
    });
    ReadAhead { chunks: rx, current: Bytes::new(), ended: false }
}

/// A file read ahead on a blocking task ([`read_ahead`]).
pub struct ReadAhead {
    chunks: mpsc::Receiver<io::Result<Bytes>>,
    current: Bytes,
    ended: bool,
}

// Lengths only: the bytes are a patient's plaintext.
impl std::fmt::Debug for ReadAhead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadAhead")
            .field("current", &self.current.len())
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

impl AsyncRead for ReadAhead {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        while self.current.is_empty() && !self.ended {
            match ready!(self.chunks.poll_recv(cx)) {
                Some(Ok(chunk)) if chunk.is_empty() => self.ended = true,
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(error)) => {
                    self.ended = true;
                    return Poll::Ready(Err(error));
                }
                // Only the end (an empty chunk) or an error end the reading
                // task; anything else is not the end of the file.
                None => {
                    self.ended = true;
                    return Poll::Ready(Err(io::Error::other("the file's reading task stopped")));
                }
            }
        }
        let n = self.current.len().min(buf.remaining());
        buf.put_slice(&self.current.split_to(n));
        Poll::Ready(Ok(()))
    }
}

/// What the writing task is told.
enum Write {
    Bytes(Bytes),
    /// Answered once everything before it is written, with the first error
    /// if a write failed.
    Flush(oneshot::Sender<io::Result<()>>),
}

// Lengths only: the bytes are a patient's plaintext.
impl std::fmt::Debug for Write {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Bytes(bytes) => write!(f, "Bytes({})", bytes.len()),
            Self::Flush(_) => f.write_str("Flush"),
        }
    }
}

/// `file`, written on a blocking task: a write returns once its bytes are
/// queued ([`BEHIND`] bytes at most), and a flush once they are all written,
/// or with the error that stopped them.
pub fn write_behind(mut file: std::fs::File) -> WriteBehind {
    let (writes, mut rx) = mpsc::channel(BEHIND_WRITES);
    tokio::task::spawn_blocking(move || {
        // After a failure nothing more is written; each flush reports it.
        let mut failed: Option<(io::ErrorKind, String)> = None;
        while let Some(write) = rx.blocking_recv() {
            match write {
                Write::Bytes(bytes) => {
                    if failed.is_none()
                        && let Err(error) = file.write_all(&bytes)
                    {
                        failed = Some((error.kind(), error.to_string()));
                    }
                }
                Write::Flush(done) => {
                    let result = match &failed {
                        Some((kind, message)) => Err(io::Error::new(*kind, message.clone())),
                        None => file.flush(),
                    };
                    let _ = done.send(result);
                }
            }
        }
    });
    WriteBehind { writes: PollSender::new(writes), flushed: None }
}

/// A file written on a blocking task ([`write_behind`]).
#[derive(Debug)]
pub struct WriteBehind {
    writes: PollSender<Write>,
    flushed: Option<oneshot::Receiver<io::Result<()>>>,
}

fn stopped() -> io::Error {
    io::Error::other("the file's writing task stopped")
}

impl WriteBehind {
    fn poll_send(
        &mut self,
        cx: &mut Context<'_>,
        write: impl FnOnce() -> Write,
    ) -> Poll<io::Result<()>> {
        ready!(self.writes.poll_reserve(cx)).map_err(|_| stopped())?;
        self.writes.send_item(write()).map_err(|_| stopped())?;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for WriteBehind {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        ready!(self.poll_send(cx, || Write::Bytes(Bytes::copy_from_slice(buf))))?;
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            if let Some(flushed) = self.flushed.as_mut() {
                let result = ready!(Pin::new(flushed).poll(cx));
                self.flushed = None;
                return Poll::Ready(result.unwrap_or_else(|_| Err(stopped())));
            }
            let (done, flushed) = oneshot::channel();
            ready!(self.poll_send(cx, || Write::Flush(done)))?;
            self.flushed = Some(flushed);
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flush(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    #[tokio::test]
    async fn a_file_read_ahead_gives_its_bytes_in_order_to_the_end() {
        let dir = tempfile::tempdir().unwrap();
        for len in [0, 1, READ_CHUNK - 1, READ_CHUNK, READ_CHUNK + 1, 3 * AHEAD + 12_345] {
            let path = dir.path().join(format!("{len}.bin"));
            std::fs::write(&path, pattern(len)).unwrap();
            let mut reader = read_ahead(std::fs::File::open(&path).unwrap());
            let mut read = Vec::new();
            // Small reads, so that chunks are split across them.
            let mut buf = [0; 10_007];
            loop {
                let n = reader.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                read.extend_from_slice(&buf[..n]);
            }
            assert_eq!(read, pattern(len), "{len} bytes");
            assert_eq!(reader.read(&mut buf).await.unwrap(), 0, "the end stays the end");
        }
    }

    #[tokio::test]
    async fn what_is_read_ahead_stays_out_of_debug_output() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.txt");
        std::fs::write(&path, b"SENTINEL-PLAINTEXT").unwrap();
        let mut reader = read_ahead(std::fs::File::open(&path).unwrap());
        let mut first = [0; 1];
        reader.read_exact(&mut first).await.unwrap();
        let shown = format!("{reader:?} {:?}", Write::Bytes(Bytes::from_static(b"SENTINEL")));
        assert!(!shown.contains("SENTINEL"), "{shown}");
        assert!(shown.contains("current: 17"), "{shown}");
    }

    #[tokio::test]
    async fn a_read_error_is_the_readers_error_not_an_end() {
        // A directory opens, and its read fails (EISDIR).
        let dir = tempfile::tempdir().unwrap();
        let mut reader = read_ahead(std::fs::File::open(dir.path()).unwrap());
        let mut read = Vec::new();
        let error = reader.read_to_end(&mut read).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::IsADirectory);
    }

    #[tokio::test]
    async fn a_file_written_behind_holds_every_write_once_flushed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.bin");
        let mut writer = write_behind(std::fs::File::create(&path).unwrap());
        let bytes = pattern(BEHIND * 3 + 17);
        for piece in bytes.chunks(65_537) {
            writer.write_all(piece).await.unwrap();
        }
        writer.flush().await.unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
        // More after a flush, and a second flush.
        writer.write_all(b"tail").await.unwrap();
        writer.shutdown().await.unwrap();
        assert_eq!(std::fs::read(&path).unwrap().len(), bytes.len() + 4);
    }

    #[tokio::test]
    async fn a_failed_write_is_reported_by_every_flush_after_it() {
        // /dev/full takes the open and fails every write (ENOSPC).
        let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
        let mut writer = write_behind(full);
        writer.write_all(&pattern(1000)).await.unwrap();
        let error = writer.flush().await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::StorageFull);
        writer.write_all(b"more").await.unwrap();
        assert_eq!(writer.flush().await.unwrap_err().kind(), io::ErrorKind::StorageFull);
    }
}
