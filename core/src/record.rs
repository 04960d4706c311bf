//! The encrypted record format: a versioned header, then the plaintext in
//! fixed-size segments sealed with AES-256-GCM in a STREAM construction.
//!
//! ```text
//! record  = header || segment_0 || ... || segment_n
//! header  = "MEDV" || version (1) || algorithm (1) || segment size (u32 BE) || nonce prefix (7)
//! segment = AES-256-GCM(key, nonce_i, aad = header, plaintext_i) = ciphertext_i || tag (16)
//! nonce_i = nonce prefix (7) || i (u32 BE) || 0x01 if the segment is the last, else 0x00
//! ```
//!
//! Every segment but the last holds exactly `segment size` bytes of
//! plaintext; the last holds 0 to `segment size` bytes, and there is always
//! one. The header is the associated data of every segment, so a changed
//! header fails the first segment; the counter in the nonce rejects reordered,
//! dropped or spliced segments; the last-segment flag rejects truncation at a
//! segment boundary and appended segments. A segment's plaintext is released
//! only once its tag has been verified.
//!
//! [`encrypt`] and [`decrypt`] stream between async readers and writers with
//! one segment in memory, and compute the SHA-256 of the ciphertext (the
//! whole record, header included: the fingerprint registered on chain) on the
//! way. `docs/record-format.md` is the specification, with test vectors that
//! the tests of this module check.

use rand_core::{OsRng, RngCore};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::keys::DataKey;

/// The first four bytes of every record.
pub const MAGIC: [u8; 4] = *b"MEDV";
/// The format version this module writes and reads.
pub const VERSION: u8 = 1;
/// The length of the header in bytes.
pub const HEADER_LEN: usize = 17;
/// The length of a segment's authentication tag.
pub const TAG_LEN: usize = 16;
/// The length of the random nonce prefix in the header.
pub const NONCE_PREFIX_LEN: usize = 7;
/// The segment size [`Header::random`] is usually given: 64 KiB.
pub const DEFAULT_SEGMENT_SIZE: u32 = 64 * 1024;
/// The smallest segment size a header may declare.
pub const MIN_SEGMENT_SIZE: u32 = 16;
/// The largest segment size a header may declare (16 MiB), which bounds the
/// memory a reader allocates for a record from an untrusted source.
pub const MAX_SEGMENT_SIZE: u32 = 16 * 1024 * 1024;

/// The segment cipher a header names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Algorithm {
    /// AES-256-GCM with 12-byte nonces in the STREAM construction above.
    Aes256GcmStream = 1,
}

/// A record's header: what a reader needs, besides the key, to open it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    algorithm: Algorithm,
    segment_size: u32,
    nonce_prefix: [u8; NONCE_PREFIX_LEN],
}

impl Header {
    /// A header with a random nonce prefix. Every record has its own data
    /// key, so the prefix is a second line of defence, not the first.
    pub fn random(segment_size: u32) -> Result<Self, RecordError> {
        let mut nonce_prefix = [0; NONCE_PREFIX_LEN];
        OsRng.fill_bytes(&mut nonce_prefix);
        Self::new(segment_size, nonce_prefix)
    }

    /// A header with the given nonce prefix: for test vectors and for a
    /// second implementation's tests. Never reuse a prefix with the same key.
    pub fn new(
        segment_size: u32,
        nonce_prefix: [u8; NONCE_PREFIX_LEN],
    ) -> Result<Self, RecordError> {
        if !(MIN_SEGMENT_SIZE..=MAX_SEGMENT_SIZE).contains(&segment_size) {
            return Err(RecordError::SegmentSize { size: segment_size });
        }
        Ok(Self { algorithm: Algorithm::Aes256GcmStream, segment_size, nonce_prefix })
    }

    /// The plaintext bytes in every segment but the last.
    pub fn segment_size(&self) -> u32 {
        self.segment_size
    }

    /// The segment cipher.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The header's bytes, as written at the start of the record.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut bytes = [0; HEADER_LEN];
        bytes[..4].copy_from_slice(&MAGIC);
        bytes[4] = VERSION;
        bytes[5] = self.algorithm as u8;
        bytes[6..10].copy_from_slice(&self.segment_size.to_be_bytes());
        bytes[10..].copy_from_slice(&self.nonce_prefix);
        bytes
    }

    /// Parses and checks a header.
    pub fn parse(bytes: &[u8; HEADER_LEN]) -> Result<Self, RecordError> {
        if bytes[..4] != MAGIC {
            return Err(RecordError::NotARecord);
        }
        if bytes[4] != VERSION {
            return Err(RecordError::UnsupportedVersion { version: bytes[4] });
        }
        if bytes[5] != Algorithm::Aes256GcmStream as u8 {
            return Err(RecordError::UnsupportedAlgorithm { algorithm: bytes[5] });
        }
        let segment_size = u32::from_be_bytes([bytes[6], bytes[7], bytes[8], bytes[9]]);
        let mut nonce_prefix = [0; NONCE_PREFIX_LEN];
        nonce_prefix.copy_from_slice(&bytes[10..]);
        Self::new(segment_size, nonce_prefix)
    }

    /// The length of the record that holds `plaintext_len` bytes.
    pub fn record_len(&self, plaintext_len: u64) -> u64 {
        let size = u64::from(self.segment_size);
        let segments = plaintext_len.div_ceil(size).max(1);
        HEADER_LEN as u64 + plaintext_len + segments * TAG_LEN as u64
    }
}

/// What [`encrypt`] produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sealed {
    /// Bytes of plaintext read.
    pub plaintext_len: u64,
    /// Bytes of record written, header included.
    pub record_len: u64,
    /// The SHA-256 of the record: the `ciphertextHash` registered on chain.
    pub sha256: [u8; 32],
}

/// What [`decrypt`] read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opened {
    /// Bytes of plaintext written.
    pub plaintext_len: u64,
    /// Bytes of record read, header included.
    pub record_len: u64,
}

/// The segment cipher of one record: the key, the header as associated data,
/// and the next segment's counter.
struct Segments {
    key: LessSafeKey,
    header: [u8; HEADER_LEN],
    nonce_prefix: [u8; NONCE_PREFIX_LEN],
    counter: u32,
}

impl Segments {
    fn new(key: &DataKey, header: &Header) -> Result<Self, RecordError> {
        let key = UnboundKey::new(&AES_256_GCM, key.as_bytes()).map_err(|_| RecordError::Key)?;
        Ok(Self {
            key: LessSafeKey::new(key),
            header: header.to_bytes(),
            nonce_prefix: header.nonce_prefix,
            counter: 0,
        })
    }

    /// The next segment's nonce; moves the counter on. The caller stops
    /// after the last segment, so a counter is never used twice.
    fn next_nonce(&mut self, last: bool) -> Result<Nonce, RecordError> {
        let mut nonce = [0; NONCE_LEN];
        nonce[..NONCE_PREFIX_LEN].copy_from_slice(&self.nonce_prefix);
        nonce[NONCE_PREFIX_LEN..NONCE_LEN - 1].copy_from_slice(&self.counter.to_be_bytes());
        nonce[NONCE_LEN - 1] = u8::from(last);
        if !last {
            self.counter = self.counter.checked_add(1).ok_or(RecordError::TooLong)?;
        }
        Ok(Nonce::assume_unique_for_key(nonce))
    }

    /// Seals `buf[..len]` in place and appends the tag at `buf[len..len + 16]`.
    fn seal(&mut self, buf: &mut [u8], len: usize, last: bool) -> Result<(), RecordError> {
        let nonce = self.next_nonce(last)?;
        let (data, rest) = buf.split_at_mut(len);
        let tag = self
            .key
            .seal_in_place_separate_tag(nonce, Aad::from(&self.header), data)
            .map_err(|_| RecordError::Key)?;
        rest[..TAG_LEN].copy_from_slice(tag.as_ref());
        Ok(())
    }

    /// Opens the segment `buf` (ciphertext and tag) in place and returns its
    /// plaintext, or an error naming the segment if it is not authentic.
    fn open<'a>(&mut self, buf: &'a mut [u8], last: bool) -> Result<&'a [u8], RecordError> {
        let segment = u64::from(self.counter);
        if buf.len() < TAG_LEN {
            return Err(RecordError::Truncated);
        }
        let nonce = self.next_nonce(last)?;
        match self.key.open_in_place(nonce, Aad::from(&self.header), buf) {
            Ok(plaintext) => Ok(plaintext),
            Err(_) => Err(RecordError::Corrupt { segment }),
        }
    }
}

/// Reads until `buf` is full or the reader ends; returns the bytes read
/// (fewer than `buf.len()` only at the end).
pub async fn fill<R: AsyncRead + Unpin>(reader: &mut R, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut len = 0;
    while len < buf.len() {
        match reader.read(&mut buf[len..]).await? {
            0 => break,
            n => len += n,
        }
    }
    Ok(len)
}

/// A record's encryption one segment at a time, for a caller that hands each
/// sealed segment on in a buffer of its own (the gateway streams them into
/// Kubo's request body without copying them again) rather than through an
/// [`AsyncWrite`]. [`encrypt`] is this, driven by a reader and a writer.
///
/// The segments come in order, each but the last with exactly the header's
/// segment size of plaintext; the record's SHA-256 is computed as they are
/// sealed.
pub struct Encryptor {
    segments: Segments,
    segment_size: usize,
    sha256: Sha256,
    sealed: Sealed,
    finished: bool,
}

impl std::fmt::Debug for Encryptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encryptor")
            .field("segment_size", &self.segment_size)
            .field("sealed", &self.sealed)
            .finish_non_exhaustive()
    }
}

impl Encryptor {
    /// Starts a record under `key`, and returns the record's first bytes (the
    /// header) with it.
    pub fn new(key: &DataKey, header: &Header) -> Result<(Self, [u8; HEADER_LEN]), RecordError> {
        let header_bytes = header.to_bytes();
        let mut sha256 = Sha256::new();
        sha256.update(header_bytes);
        let encryptor = Self {
            segments: Segments::new(key, header)?,
            segment_size: header.segment_size as usize,
            sha256,
            sealed: Sealed { plaintext_len: 0, record_len: HEADER_LEN as u64, sha256: [0; 32] },
            finished: false,
        };
        Ok((encryptor, header_bytes))
    }

    /// Seals the segment whose plaintext is `buf[..len]` in place, writes its
    /// tag at `buf[len..len + TAG_LEN]` and returns the sealed segment
    /// (`buf[..len + TAG_LEN]`). `last` marks the record's last segment, after
    /// which nothing more can be sealed.
    pub fn seal<'a>(
        &mut self,
        buf: &'a mut [u8],
        len: usize,
        last: bool,
    ) -> Result<&'a [u8], RecordError> {
        let fits = if last { len <= self.segment_size } else { len == self.segment_size };
        if self.finished || !fits || buf.len() < len + TAG_LEN {
            return Err(RecordError::Layout);
        }
        self.segments.seal(buf, len, last)?;
        let out = &buf[..len + TAG_LEN];
        self.sha256.update(out);
        self.sealed.plaintext_len += len as u64;
        self.sealed.record_len += out.len() as u64;
        self.finished = last;
        Ok(out)
    }

    /// What was sealed, once the last segment has been.
    pub fn finish(self) -> Result<Sealed, RecordError> {
        if !self.finished {
            return Err(RecordError::Layout);
        }
        Ok(Sealed { sha256: self.sha256.finalize().into(), ..self.sealed })
    }
}

/// Encrypts everything `plaintext` yields into `record` under `key`, one
/// segment at a time, and flushes `record`.
///
/// Memory stays at one segment (plus one byte of look-ahead, which tells the
/// last segment from the others) whatever the length of the input.
pub async fn encrypt<R, W>(
    key: &DataKey,
    header: &Header,
    mut plaintext: R,
    mut record: W,
) -> Result<Sealed, RecordError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let size = header.segment_size as usize;
    let (mut encryptor, header_bytes) = Encryptor::new(key, header)?;
    record.write_all(&header_bytes).await?;

    // `buf` holds a segment's plaintext and one byte more: if that byte is
    // there, the segment is not the last. The tag then overwrites it, so it
    // is kept aside and starts the next segment.
    let mut buf = vec![0; size + TAG_LEN];
    let mut carried = None;
    loop {
        let start = match carried.take() {
            Some(byte) => {
                buf[0] = byte;
                1
            }
            None => 0,
        };
        let len = start + fill(&mut plaintext, &mut buf[start..=size]).await?;
        let last = len <= size;
        let data_len = if last { len } else { size };
        if !last {
            carried = Some(buf[size]);
        }
        record.write_all(encryptor.seal(&mut buf, data_len, last)?).await?;
        if last {
            break;
        }
    }
    record.flush().await?;
    encryptor.finish()
}

/// Decrypts the record `record` with `key` into `plaintext`, one segment at
/// a time, and flushes `plaintext`.
///
/// Each segment is written only after its tag has been verified, so a
/// tampered or truncated record stops with an error before any plaintext of
/// the affected segment is released; the segments before it, which were
/// authentic, have been written, and a caller that needs all or nothing
/// writes to a temporary file and keeps it only on success.
pub async fn decrypt<R, W>(key: &DataKey, record: R, plaintext: W) -> Result<Opened, RecordError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    decrypt_inner(key, record, plaintext, None).await
}

/// [`decrypt`], which also checks that the record's SHA-256 is
/// `expected_sha256` (the `ciphertextHash` registered on chain).
///
/// The hash is known only at the end: on a mismatch, the plaintext written so
/// far is authentic under `key` but does not come from the registered
/// record, and the caller must discard it.
pub async fn decrypt_verified<R, W>(
    key: &DataKey,
    expected_sha256: &[u8; 32],
    record: R,
    plaintext: W,
) -> Result<Opened, RecordError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut sha256 = Sha256::new();
    let opened = decrypt_inner(key, record, plaintext, Some(&mut sha256)).await?;
    let actual: [u8; 32] = sha256.finalize().into();
    if actual != *expected_sha256 {
        return Err(RecordError::HashMismatch { expected: *expected_sha256, actual });
    }
    Ok(opened)
}

async fn decrypt_inner<R, W>(
    key: &DataKey,
    mut record: R,
    mut plaintext: W,
    mut sha256: Option<&mut Sha256>,
) -> Result<Opened, RecordError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut header_bytes = [0; HEADER_LEN];
    if fill(&mut record, &mut header_bytes).await? < HEADER_LEN {
        return Err(RecordError::Truncated);
    }
    let header = Header::parse(&header_bytes)?;
    if let Some(sha256) = sha256.as_deref_mut() {
        sha256.update(header_bytes);
    }
    let mut segments = Segments::new(key, &header)?;
    let mut opened = Opened { plaintext_len: 0, record_len: HEADER_LEN as u64 };

    // A full segment with one byte after it is not the last one; the byte is
    // carried to the front of the buffer for the next segment.
    let full = header.segment_size as usize + TAG_LEN;
    let mut buf = vec![0; full + 1];
    let mut start = 0;
    loop {
        let len = start + fill(&mut record, &mut buf[start..]).await?;
        let last = len <= full;
        let segment_len = len.min(full);
        if let Some(sha256) = sha256.as_deref_mut() {
            sha256.update(&buf[..segment_len]);
        }
        opened.record_len += segment_len as u64;
        let data = segments.open(&mut buf[..segment_len], last)?;
        plaintext.write_all(data).await?;
        opened.plaintext_len += data.len() as u64;
        if last {
            break;
        }
        buf[0] = buf[full];
        start = 1;
    }
    plaintext.flush().await?;
    Ok(opened)
}

/// Why a record could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// Reading the input or writing the output failed.
    #[error("record i/o failed")]
    Io(#[from] std::io::Error),
    /// The data does not start with the record magic.
    #[error("not a MedVault record (the magic bytes are wrong)")]
    NotARecord,
    /// The header names a format version this build does not read.
    #[error("record format version {version} is not supported (this build reads version 1)")]
    UnsupportedVersion {
        /// The version in the header.
        version: u8,
    },
    /// The header names an unknown segment cipher.
    #[error("record algorithm {algorithm} is not supported")]
    UnsupportedAlgorithm {
        /// The algorithm byte in the header.
        algorithm: u8,
    },
    /// The segment size is outside 16 bytes to 16 MiB.
    #[error("segment size {size} is outside 16 bytes to 16 MiB")]
    SegmentSize {
        /// The declared size.
        size: u32,
    },
    /// The record ends inside the header or a segment's tag.
    #[error("the record is truncated")]
    Truncated,
    /// A segment failed authentication: a wrong key, or a changed, reordered,
    /// truncated or spliced record.
    #[error("segment {segment} of the record is not authentic (wrong key or altered data)")]
    Corrupt {
        /// The index of the first segment that failed.
        segment: u64,
    },
    /// The plaintext needs more than 2^32 segments.
    #[error("the plaintext is too long for the record's segment size")]
    TooLong,
    /// The record's SHA-256 is not the expected one.
    #[error("the record's SHA-256 does not match the registered fingerprint")]
    HashMismatch {
        /// The fingerprint that was expected.
        expected: [u8; 32],
        /// The fingerprint of what was read.
        actual: [u8; 32],
    },
    /// The key could not be used (never happens with a 32-byte key).
    #[error("the data key cannot be used for AES-256-GCM")]
    Key,
    /// An [`Encryptor`] was given a segment out of the format's layout (one
    /// but the last not of the segment size, one after the last, a buffer
    /// with no room for the tag) or finished before its last segment.
    #[error("a segment does not fit the record's layout")]
    Layout,
}

#[cfg(test)]
mod tests {
    use std::{
        pin::Pin,
        task::{Context, Poll},
    };

    use proptest::prelude::*;
    use tokio::io::ReadBuf;

    use super::*;

    const SEGMENT: u32 = 16;

    fn key() -> DataKey {
        DataKey::from_bytes(std::array::from_fn(|i| i as u8))
    }

    fn header(segment_size: u32) -> Header {
        Header::new(segment_size, [0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6]).unwrap()
    }

    fn plaintext(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + 3) as u8).collect()
    }

    /// A reader that hands out at most `step` bytes a call, as a network does.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl AsyncRead for Trickle<'_> {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<std::io::Result<()>> {
            let n = self.step.min(self.data.len()).min(buf.remaining());
            buf.put_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Poll::Ready(Ok(()))
        }
    }

    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(future)
    }

    fn seal(key: &DataKey, header: &Header, plaintext: &[u8]) -> (Vec<u8>, Sealed) {
        let mut record = Vec::new();
        let sealed = block_on(encrypt(key, header, plaintext, &mut record)).unwrap();
        (record, sealed)
    }

    /// Decrypts, returning what was released and the result.
    fn open(key: &DataKey, record: &[u8]) -> (Vec<u8>, Result<Opened, RecordError>) {
        let mut out = Vec::new();
        let result = block_on(decrypt(key, record, &mut out));
        (out, result)
    }

    fn sha256(bytes: &[u8]) -> [u8; 32] {
        Sha256::digest(bytes).into()
    }

    #[test]
    fn sizes_around_the_segment_boundaries_round_trip() {
        let s = SEGMENT as usize;
        for len in [0, 1, s - 1, s, s + 1, 2 * s, 3 * s + 1] {
            let data = plaintext(len);
            let (record, sealed) = seal(&key(), &header(SEGMENT), &data);
            assert_eq!(sealed.plaintext_len, len as u64);
            assert_eq!(sealed.record_len, record.len() as u64);
            assert_eq!(header(SEGMENT).record_len(len as u64), record.len() as u64, "len {len}");
            assert_eq!(sealed.sha256, sha256(&record));
            let (out, opened) = open(&key(), &record);
            assert_eq!(
                opened.unwrap(),
                Opened { plaintext_len: len as u64, record_len: record.len() as u64 }
            );
            assert_eq!(out, data, "len {len}");
        }
    }

    #[test]
    fn a_record_has_one_segment_per_segment_size_and_at_least_one() {
        let h = header(SEGMENT);
        assert_eq!(h.record_len(0), (HEADER_LEN + TAG_LEN) as u64);
        assert_eq!(h.record_len(16), (HEADER_LEN + 16 + TAG_LEN) as u64);
        assert_eq!(h.record_len(17), (HEADER_LEN + 17 + 2 * TAG_LEN) as u64);
    }

    #[test]
    fn the_default_segment_size_round_trips_a_few_segments() {
        let data = plaintext(3 * DEFAULT_SEGMENT_SIZE as usize + 1);
        let (record, _) = seal(&key(), &Header::random(DEFAULT_SEGMENT_SIZE).unwrap(), &data);
        let (out, opened) = open(&key(), &record);
        opened.unwrap();
        assert_eq!(out, data);
    }

    #[test]
    fn the_encryptor_driven_by_hand_writes_the_same_record_as_encrypt() {
        let s = SEGMENT as usize;
        let data = plaintext(2 * s + 5);
        let (expected, expected_sealed) = seal(&key(), &header(SEGMENT), &data);

        let (mut encryptor, header_bytes) = Encryptor::new(&key(), &header(SEGMENT)).unwrap();
        let mut record = header_bytes.to_vec();
        let chunks: Vec<&[u8]> = data.chunks(s).collect();
        for (i, chunk) in chunks.iter().enumerate() {
            let mut buf = chunk.to_vec();
            buf.resize(chunk.len() + TAG_LEN, 0);
            let last = i == chunks.len() - 1;
            record.extend_from_slice(encryptor.seal(&mut buf, chunk.len(), last).unwrap());
        }
        assert_eq!(encryptor.finish().unwrap(), expected_sealed);
        assert_eq!(record, expected);
    }

    #[test]
    fn the_encryptor_refuses_segments_out_of_the_layout() {
        let s = SEGMENT as usize;
        let new = || Encryptor::new(&key(), &header(SEGMENT)).unwrap().0;
        let mut buf = vec![0; 2 * s + TAG_LEN];
        // Short segments before the last, long ones, no room for the tag.
        assert!(matches!(new().seal(&mut buf, s - 1, false), Err(RecordError::Layout)));
        assert!(matches!(new().seal(&mut buf, s + 1, true), Err(RecordError::Layout)));
        assert!(matches!(new().seal(&mut buf[..s + 1], s, false), Err(RecordError::Layout)));
        // Nothing after the last segment, and no record without one.
        let mut encryptor = new();
        encryptor.seal(&mut buf, 3, true).unwrap();
        assert!(matches!(encryptor.seal(&mut buf, 3, true), Err(RecordError::Layout)));
        let mut unfinished = new();
        unfinished.seal(&mut buf, s, false).unwrap();
        assert!(matches!(unfinished.finish(), Err(RecordError::Layout)));
    }

    #[test]
    fn the_same_plaintext_twice_gives_different_keys_and_records() {
        let data = plaintext(100);
        let (k1, k2) = (DataKey::generate(), DataKey::generate());
        assert_ne!(k1.as_bytes(), k2.as_bytes());
        let (r1, s1) = seal(&k1, &Header::random(SEGMENT).unwrap(), &data);
        let (r2, s2) = seal(&k2, &Header::random(SEGMENT).unwrap(), &data);
        assert_ne!(r1, r2);
        assert_ne!(s1.sha256, s2.sha256);
        // Even under one key, the random nonce prefix keeps records apart.
        let (r3, _) = seal(&k1, &Header::random(SEGMENT).unwrap(), &data);
        assert_ne!(r1[HEADER_LEN..], r3[HEADER_LEN..]);
    }

    #[test]
    fn a_wrong_key_releases_nothing() {
        let (record, _) = seal(&key(), &header(SEGMENT), &plaintext(40));
        let (out, result) = open(&DataKey::from_bytes([9; 32]), &record);
        assert!(matches!(result, Err(RecordError::Corrupt { segment: 0 })));
        assert!(out.is_empty());
    }

    /// Four segments: 16, 16, 16 and 1 bytes of plaintext.
    fn four_segments() -> (Vec<u8>, Vec<u8>) {
        let data = plaintext(3 * SEGMENT as usize + 1);
        let (record, _) = seal(&key(), &header(SEGMENT), &data);
        (data, record)
    }

    /// The byte range of segment `i` (ciphertext and tag) in a record.
    fn segment(i: usize) -> std::ops::Range<usize> {
        let full = SEGMENT as usize + TAG_LEN;
        HEADER_LEN + i * full..HEADER_LEN + (i + 1) * full
    }

    /// Checks that decryption failed at `segment` and released exactly the
    /// plaintext of the segments before it.
    fn assert_fails_at(record: &[u8], data: &[u8], segment: u64) {
        let (out, result) = open(&key(), record);
        assert!(
            matches!(result, Err(RecordError::Corrupt { segment: s }) if s == segment),
            "expected segment {segment} to fail, got {result:?}"
        );
        assert_eq!(out, data[..segment as usize * SEGMENT as usize]);
    }

    #[test]
    fn every_flipped_header_bit_is_rejected_before_any_plaintext() {
        let (_, record) = four_segments();
        for byte in 0..HEADER_LEN {
            for bit in 0..8 {
                let mut tampered = record.clone();
                tampered[byte] ^= 1 << bit;
                let (out, result) = open(&key(), &tampered);
                assert!(result.is_err(), "header byte {byte} bit {bit}");
                assert!(out.is_empty(), "header byte {byte} bit {bit} released plaintext");
            }
        }
    }

    #[test]
    fn every_flipped_segment_or_tag_byte_fails_its_segment() {
        let (data, record) = four_segments();
        for i in HEADER_LEN..record.len() {
            let mut tampered = record.clone();
            tampered[i] ^= 0x80;
            let index = (i - HEADER_LEN) / (SEGMENT as usize + TAG_LEN);
            assert_fails_at(&tampered, &data, index as u64);
        }
    }

    #[test]
    fn every_truncation_is_rejected_and_releases_only_whole_earlier_segments() {
        let (data, record) = four_segments();
        for len in 0..record.len() {
            let (out, result) = open(&key(), &record[..len]);
            assert!(result.is_err(), "a record cut to {len} bytes was accepted");
            assert_eq!(out.len() % SEGMENT as usize, 0, "cut to {len}: a partial segment");
            assert!(out.len() < data.len());
            assert_eq!(out, data[..out.len()]);
        }
    }

    #[test]
    fn a_cut_at_a_segment_boundary_fails_the_new_last_segment() {
        let (data, record) = four_segments();
        assert_fails_at(&record[..segment(2).end], &data, 2);
    }

    #[test]
    fn reordered_segments_are_rejected() {
        let (data, record) = four_segments();
        let mut swapped = record.clone();
        swapped[segment(1)].copy_from_slice(&record[segment(2)]);
        swapped[segment(2)].copy_from_slice(&record[segment(1)]);
        assert_fails_at(&swapped, &data, 1);
    }

    #[test]
    fn a_dropped_segment_is_rejected() {
        let (data, record) = four_segments();
        let dropped = [&record[..segment(1).start], &record[segment(1).end..]].concat();
        assert_fails_at(&dropped, &data, 1);
    }

    #[test]
    fn a_segment_spliced_from_another_record_is_rejected() {
        let (data, record) = four_segments();
        // The same key and plaintext, another nonce prefix.
        let other_header = Header::new(SEGMENT, [1; NONCE_PREFIX_LEN]).unwrap();
        let (other, _) = seal(&key(), &other_header, &data);
        let mut spliced = record.clone();
        spliced[segment(1)].copy_from_slice(&other[segment(1)]);
        assert_fails_at(&spliced, &data, 1);
    }

    #[test]
    fn appended_data_is_rejected() {
        let (data, record) = four_segments();
        let last = segment(3).start;
        // A copy of a segment, a stray byte, or a whole second record.
        for extra in [&record[segment(0)], &[0u8][..], &record[..]] {
            let appended = [&record[..], extra].concat();
            let (out, result) = open(&key(), &appended);
            assert!(result.is_err());
            assert!(
                out.len() <= (last - HEADER_LEN) / (SEGMENT as usize + TAG_LEN) * SEGMENT as usize
            );
            assert_eq!(out, data[..out.len()]);
        }
    }

    #[test]
    fn a_bad_header_is_named() {
        let (_, record) = four_segments();
        let mut bad = record.clone();
        bad[0] = b'X';
        assert!(matches!(open(&key(), &bad).1, Err(RecordError::NotARecord)));
        let mut bad = record.clone();
        bad[4] = 2;
        assert!(matches!(
            open(&key(), &bad).1,
            Err(RecordError::UnsupportedVersion { version: 2 })
        ));
        let mut bad = record.clone();
        bad[5] = 9;
        assert!(matches!(
            open(&key(), &bad).1,
            Err(RecordError::UnsupportedAlgorithm { algorithm: 9 })
        ));
        let mut bad = record;
        bad[6..10].copy_from_slice(&(MAX_SEGMENT_SIZE + 1).to_be_bytes());
        assert!(matches!(open(&key(), &bad).1, Err(RecordError::SegmentSize { .. })));
        assert!(matches!(Header::new(0, [0; 7]), Err(RecordError::SegmentSize { size: 0 })));
        assert!(matches!(open(&key(), b"MEDV").1, Err(RecordError::Truncated)));
    }

    #[test]
    fn the_registered_fingerprint_is_checked() {
        let (record, sealed) = seal(&key(), &header(SEGMENT), &plaintext(40));
        let mut out = Vec::new();
        block_on(decrypt_verified(&key(), &sealed.sha256, &record[..], &mut out)).unwrap();
        assert_eq!(out, plaintext(40));
        let mut other = sealed.sha256;
        other[0] ^= 1;
        let result = block_on(decrypt_verified(&key(), &other, &record[..], &mut Vec::new()));
        assert!(
            matches!(result, Err(RecordError::HashMismatch { expected, actual }) if expected == other && actual == sealed.sha256)
        );
    }

    /// The test vectors of `docs/record-format.md`: key 00..1f, nonce
    /// prefix a0..a6, segment size 16, and these plaintexts.
    const VECTORS: [(&str, usize); 5] =
        [("empty", 0), ("segment-1", 15), ("segment", 16), ("segment+1", 17), ("3xsegment+1", 49)];

    fn vector_block(name: &str, len: usize) -> String {
        let data = plaintext(len);
        let (record, sealed) = seal(&key(), &header(SEGMENT), &data);
        let hex_or_dash = |b: &[u8]| if b.is_empty() { "-".to_owned() } else { hex::encode(b) };
        format!(
            "```vector\nname       {name}\nkey        {}\nsegment    16\nprefix     a0a1a2a3a4a5a6\nplaintext  {}\nrecord     {}\nsha256     {}\n```",
            hex::encode(key().as_bytes()),
            hex_or_dash(&data),
            hex::encode(&record),
            hex::encode(sealed.sha256),
        )
    }

    /// Parses the vector blocks of the format's documentation.
    fn documented_vectors() -> Vec<std::collections::BTreeMap<String, String>> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/record-format.md");
        let doc = std::fs::read_to_string(path).unwrap();
        doc.split("```vector\n")
            .skip(1)
            .map(|block| {
                let block = block.split("```").next().unwrap();
                block
                    .lines()
                    .filter_map(|line| line.split_once(' '))
                    .map(|(k, v)| (k.to_owned(), v.trim().to_owned()))
                    .collect()
            })
            .collect()
    }

    #[test]
    fn the_documented_test_vectors_hold() {
        let vectors = documented_vectors();
        assert_eq!(vectors.len(), VECTORS.len(), "docs/record-format.md lists every vector");
        for (doc, (name, len)) in vectors.iter().zip(VECTORS) {
            assert_eq!(doc["name"], name);
            let unhex = |field: &str| match doc[field].as_str() {
                "-" => Vec::new(),
                hex => hex::decode(hex).unwrap(),
            };
            let key = DataKey::from_bytes(unhex("key").try_into().unwrap());
            let prefix: [u8; NONCE_PREFIX_LEN] = unhex("prefix").try_into().unwrap();
            let header = Header::new(doc["segment"].parse().unwrap(), prefix).unwrap();
            let data = unhex("plaintext");
            assert_eq!(data, plaintext(len), "vector {name}");
            let (record, sealed) = seal(&key, &header, &data);
            assert_eq!(
                hex::encode(&record),
                doc["record"],
                "vector {name} changed; the block should read:\n{}",
                vector_block(name, len)
            );
            assert_eq!(hex::encode(sealed.sha256), doc["sha256"], "vector {name}");
            let mut out = Vec::new();
            block_on(decrypt_verified(&key, &sealed.sha256, &unhex("record")[..], &mut out))
                .unwrap();
            assert_eq!(out, data);
        }
    }

    /// Prints the vector blocks: `cargo test -p medvault-core print_vectors -- --ignored --nocapture`.
    #[test]
    #[ignore = "prints the vectors for docs/record-format.md"]
    fn print_vectors() {
        for (name, len) in VECTORS {
            println!("{}\n", vector_block(name, len));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, rng_seed: proptest::test_runner::RngSeed::Fixed(7), ..ProptestConfig::default() })]

        #[test]
        fn any_size_round_trips_through_any_read_pattern(
            len in 0usize..4096,
            segment_size in MIN_SEGMENT_SIZE..512,
            step in 1usize..700,
        ) {
            let data = plaintext(len);
            let header = Header::new(segment_size, [len as u8; NONCE_PREFIX_LEN]).unwrap();
            let mut record = Vec::new();
            let sealed = block_on(encrypt(&key(), &header, Trickle { data: &data, step }, &mut record)).unwrap();
            prop_assert_eq!(sealed.record_len, header.record_len(len as u64));
            prop_assert_eq!(sealed.sha256, sha256(&record));
            let mut out = Vec::new();
            block_on(decrypt_verified(&key(), &sealed.sha256, Trickle { data: &record, step }, &mut out)).unwrap();
            prop_assert_eq!(out, data);
        }
    }
}
