/**
 * The encrypted record format, version 1 (docs/record-format.md), as
 * `medvault_core::record` writes and reads it: a 17-byte header, then the
 * plaintext in fixed-size segments sealed with AES-256-GCM (WebCrypto) in a
 * STREAM construction.
 *
 * ```text
 * record  = header || segment_0 || ... || segment_n
 * header  = "MEDV" || version (1) || algorithm (1) || segment size (u32 BE) || nonce prefix (7)
 * segment = AES-256-GCM(key, nonce_i, aad = header, plaintext_i) = ciphertext_i || tag (16)
 * nonce_i = nonce prefix (7) || i (u32 BE) || 0x01 if the segment is the last, else 0x00
 * ```
 *
 * {@link encryptRecord} and {@link decryptRecord} are pull streams: they read
 * one segment from their source only when their reader asks for the next
 * chunk, so a file of any size goes through in the memory of a segment or
 * two. A segment's plaintext is released only once its tag verifies; a
 * changed, reordered, spliced or truncated record errors the stream at the
 * first segment it affects. The SHA-256 of the whole record, header
 * included, is its fingerprint: the `ciphertextHash` registered on chain.
 */
import { sha256 } from '@noble/hashes/sha2';
import { type Hex, bytesToHex } from 'viem';

import { type Bytes, equalBytes, randomBytes, subtle, toBytes } from './bytes';
import { KEY_LEN } from './keys';

/** The first four bytes of every record: "MEDV". */
export const MAGIC = Uint8Array.of(0x4d, 0x45, 0x44, 0x56);
/** The format version this module writes and reads. */
export const VERSION = 1;
/** The one segment cipher: AES-256-GCM, STREAM, 12-byte nonces. */
export const ALGORITHM_AES_256_GCM_STREAM = 1;
/** The length of the header in bytes. */
export const HEADER_LEN = 17;
/** The length of a segment's authentication tag. */
export const TAG_LEN = 16;
/** The length of the random nonce prefix in the header. */
export const NONCE_PREFIX_LEN = 7;
/** The segment size records are written with unless told otherwise: 64 KiB. */
export const DEFAULT_SEGMENT_SIZE = 64 * 1024;
/** The smallest segment size a header may declare. */
export const MIN_SEGMENT_SIZE = 16;
/** The largest segment size a header may declare (16 MiB), which bounds what a reader allocates. */
export const MAX_SEGMENT_SIZE = 16 * 1024 * 1024;

const MAX_COUNTER = 0xffff_ffff;

/** Why a record could not be written or read. */
export type RecordErrorKind =
  /** Reading the source failed (the network, the file). */
  | 'source'
  /** The data does not start with the record magic. */
  | 'not-a-record'
  /** The header names a format version this code does not read. */
  | 'unsupported-version'
  /** The header names an unknown segment cipher. */
  | 'unsupported-algorithm'
  /** The segment size is outside 16 bytes to 16 MiB. */
  | 'segment-size'
  /** The record ends inside the header or a segment's tag. */
  | 'truncated'
  /** A segment failed authentication: a wrong key, or a changed, reordered, truncated or spliced record. */
  | 'corrupt'
  /** The record's SHA-256 is not the registered fingerprint. */
  | 'hash-mismatch'
  /** More than 2^32 segments. */
  | 'too-long'
  /** The data key is not 32 bytes. */
  | 'key';

/** A record that could not be written or read; `segment` names the failed segment for `corrupt`. */
export class RecordError extends Error {
  override readonly name = 'RecordError';

  constructor(
    readonly kind: RecordErrorKind,
    message: string,
    readonly segment?: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** A record's header: what a reader needs, besides the key, to open it. */
export interface Header {
  readonly segmentSize: number;
  readonly noncePrefix: Bytes;
}

/** The header's 17 bytes. */
export function encodeHeader(header: Header): Bytes {
  checkSegmentSize(header.segmentSize);
  if (header.noncePrefix.length !== NONCE_PREFIX_LEN) {
    throw new TypeError(`a nonce prefix is ${NONCE_PREFIX_LEN} bytes`);
  }
  const bytes = new Uint8Array(HEADER_LEN);
  bytes.set(MAGIC, 0);
  bytes[4] = VERSION;
  bytes[5] = ALGORITHM_AES_256_GCM_STREAM;
  new DataView(bytes.buffer).setUint32(6, header.segmentSize);
  bytes.set(header.noncePrefix, 10);
  return bytes;
}

/** Parses and checks the first 17 bytes of a record. */
export function parseHeader(bytes: Uint8Array): Header {
  if (bytes.length < HEADER_LEN) throw new RecordError('truncated', 'the record is truncated');
  if (!equalBytes(bytes.subarray(0, 4), MAGIC)) {
    throw new RecordError('not-a-record', 'not a MedVault record (the magic bytes are wrong)');
  }
  if (bytes[4] !== VERSION) {
    throw new RecordError(
      'unsupported-version',
      `record format version ${bytes[4]} is not supported (this page reads version 1)`,
    );
  }
  if (bytes[5] !== ALGORITHM_AES_256_GCM_STREAM) {
    throw new RecordError('unsupported-algorithm', `record algorithm ${bytes[5]} is not supported`);
  }
  const segmentSize = new DataView(bytes.buffer, bytes.byteOffset, HEADER_LEN).getUint32(6);
  checkSegmentSize(segmentSize);
  return { segmentSize, noncePrefix: toBytes(bytes.subarray(10, HEADER_LEN)) };
}

function checkSegmentSize(size: number): void {
  if (!Number.isInteger(size) || size < MIN_SEGMENT_SIZE || size > MAX_SEGMENT_SIZE) {
    throw new RecordError('segment-size', `segment size ${size} is outside 16 bytes to 16 MiB`);
  }
}

/** The length of the record of a `plaintextLength`-byte file: `17 + p + 16 * max(1, ceil(p / S))`. */
export function recordLength(plaintextLength: number, segmentSize = DEFAULT_SEGMENT_SIZE): number {
  const segments = Math.max(1, Math.ceil(plaintextLength / segmentSize));
  return HEADER_LEN + plaintextLength + segments * TAG_LEN;
}

/** How far a transfer has gone, for a progress bar. */
export interface Progress {
  /** Plaintext bytes read (encrypting) or released (decrypting). */
  readonly plaintextBytes: number;
  /** Record bytes written (encrypting) or read (decrypting), header included. */
  readonly recordBytes: number;
}

/** How to encrypt a record. */
export interface EncryptOptions {
  /** Plaintext bytes per segment; {@link DEFAULT_SEGMENT_SIZE} unless given. */
  readonly segmentSize?: number;
  /** The header's nonce prefix, for test vectors only: random unless given. Never reuse one with a key. */
  readonly noncePrefix?: Uint8Array;
  /** Called after each segment. */
  readonly onProgress?: (progress: Progress) => void;
}

/** What {@link encryptRecord} wrote, once its stream has ended. */
export interface Sealed {
  /** The SHA-256 of the record, `0x` hex: the `ciphertextHash` registered on chain. */
  readonly fingerprint: Hex;
  /** Bytes of record written, header included. */
  readonly size: number;
  /** Bytes of plaintext read. */
  readonly plaintextSize: number;
}

/** A record being written: read `stream`; `done` settles when it ends. */
export interface EncryptedRecord {
  /** The record's bytes: the header, then one chunk per segment. */
  readonly stream: ReadableStream<Bytes>;
  /** Resolves when the last segment has been read from `stream`; rejects if it errors or is cancelled. */
  readonly done: Promise<Sealed>;
}

/** Reads exactly the bytes asked for from a stream of chunks of any size. */
class ChunkReader {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  #chunk: Uint8Array = new Uint8Array(0);
  #ended = false;

  constructor(source: ReadableStream<Uint8Array>) {
    this.#reader = source.getReader();
  }

  /** Fills `buf[from..to]`; returns how many bytes it filled (fewer only at the end of the source). */
  async fill(buf: Uint8Array, from: number, to: number): Promise<number> {
    let at = from;
    while (at < to) {
      if (this.#chunk.length === 0) {
        if (this.#ended) break;
        let next: ReadableStreamReadResult<Uint8Array>;
        try {
          next = await this.#reader.read();
        } catch (cause) {
          throw new RecordError('source', 'reading the input failed', undefined, { cause });
        }
        if (next.done) {
          this.#ended = true;
          break;
        }
        this.#chunk = next.value;
        continue;
      }
      const n = Math.min(to - at, this.#chunk.length);
      buf.set(this.#chunk.subarray(0, n), at);
      this.#chunk = this.#chunk.subarray(n);
      at += n;
    }
    return at - from;
  }

  cancel(reason: unknown): Promise<void> {
    return this.#reader.cancel(reason).catch(() => undefined);
  }
}

/** The segment cipher of one record: the key, the header as associated data and the counter. */
class Segments {
  #counter = 0;

  private constructor(
    private readonly key: CryptoKey,
    private readonly header: Bytes,
    private readonly noncePrefix: Bytes,
  ) {}

  static async create(dataKey: Uint8Array, header: Header, usage: KeyUsage): Promise<Segments> {
    if (dataKey.length !== KEY_LEN) throw new RecordError('key', 'a data key is 32 bytes');
    const key = await subtle().importKey('raw', toBytes(dataKey), 'AES-GCM', false, [usage]);
    return new Segments(key, encodeHeader(header), header.noncePrefix);
  }

  /** The index of the next segment. */
  get counter(): number {
    return this.#counter;
  }

  /** The next segment's nonce; moves the counter on unless it is the last. */
  #nextNonce(last: boolean): Bytes {
    const nonce = new Uint8Array(12);
    nonce.set(this.noncePrefix, 0);
    new DataView(nonce.buffer).setUint32(NONCE_PREFIX_LEN, this.#counter);
    nonce[11] = last ? 1 : 0;
    if (!last) {
      if (this.#counter === MAX_COUNTER) throw new RecordError('too-long', 'a record holds at most 2^32 segments');
      this.#counter += 1;
    }
    return nonce;
  }

  async seal(plaintext: Bytes, last: boolean): Promise<Bytes> {
    const iv = this.#nextNonce(last);
    const sealed = await subtle().encrypt(
      { name: 'AES-GCM', iv, additionalData: this.header, tagLength: 128 },
      this.key,
      plaintext,
    );
    return new Uint8Array(sealed);
  }

  async open(segment: Bytes, last: boolean): Promise<Bytes> {
    const index = this.#counter;
    if (segment.length < TAG_LEN) throw new RecordError('truncated', 'the record is truncated');
    const iv = this.#nextNonce(last);
    try {
      const opened = await subtle().decrypt(
        { name: 'AES-GCM', iv, additionalData: this.header, tagLength: 128 },
        this.key,
        segment,
      );
      return new Uint8Array(opened);
    } catch (cause) {
      throw new RecordError(
        'corrupt',
        `segment ${index} of the record failed authentication (a wrong key, or a changed or truncated record)`,
        index,
        { cause },
      );
    }
  }
}

/**
 * Encrypts everything `source` yields under `dataKey` (32 bytes, fresh for
 * this record) into a record, one segment each time the returned stream is
 * read. `done` gives the fingerprint and the size once the last segment
 * has been read.
 */
export function encryptRecord(
  source: ReadableStream<Uint8Array>,
  dataKey: Uint8Array,
  options: EncryptOptions = {},
): EncryptedRecord {
  const segmentSize = options.segmentSize ?? DEFAULT_SEGMENT_SIZE;
  const header: Header = {
    segmentSize,
    noncePrefix: toBytes(options.noncePrefix ?? randomBytes(NONCE_PREFIX_LEN)),
  };
  const headerBytes = encodeHeader(header);
  const key = toBytes(dataKey);
  const input = new ChunkReader(source);
  const hash = sha256.create();
  let resolveDone!: (sealed: Sealed) => void;
  let rejectDone!: (error: unknown) => void;
  const done = new Promise<Sealed>((resolve, reject) => {
    resolveDone = resolve;
    rejectDone = reject;
  });
  // A caller that only reads the stream still sees its error there.
  done.catch(() => undefined);

  // `buf` holds a segment's plaintext and one byte more: if that byte is
  // there, the segment is not the last, and it starts the next one.
  const buf = new Uint8Array(segmentSize + 1);
  let buffered = 0;
  let segments: Segments | undefined;
  let plaintextBytes = 0;
  let recordBytes = 0;

  const emit = (controller: ReadableStreamDefaultController<Bytes>, chunk: Bytes): void => {
    hash.update(chunk);
    recordBytes += chunk.length;
    controller.enqueue(chunk);
  };

  const stream = new ReadableStream<Bytes>(
    {
      async pull(controller) {
        try {
          if (segments === undefined) {
            segments = await Segments.create(key, header, 'encrypt');
            key.fill(0);
            emit(controller, headerBytes);
            return;
          }
          buffered += await input.fill(buf, buffered, segmentSize + 1);
          const last = buffered <= segmentSize;
          const length = last ? buffered : segmentSize;
          emit(controller, await segments.seal(buf.slice(0, length), last));
          plaintextBytes += length;
          options.onProgress?.({ plaintextBytes, recordBytes });
          if (last) {
            buf.fill(0);
            controller.close();
            resolveDone({ fingerprint: bytesToHex(hash.digest()), size: recordBytes, plaintextSize: plaintextBytes });
            return;
          }
          buf[0] = buf[segmentSize] ?? 0;
          buffered = 1;
        } catch (error) {
          buf.fill(0);
          controller.error(error);
          rejectDone(error);
          await input.cancel(error);
        }
      },
      async cancel(reason) {
        buf.fill(0);
        rejectDone(new RecordError('source', 'the record stream was cancelled', undefined, { cause: reason }));
        await input.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, done };
}

/** How to decrypt a record. */
export interface DecryptOptions {
  /**
   * The fingerprint registered on chain. When given, the record is hashed as
   * it is read and the last segment's plaintext is released only if the hash
   * matches; otherwise the stream errors with `hash-mismatch`.
   */
  readonly expectedFingerprint?: Hex | Uint8Array;
  /** Called after each segment. */
  readonly onProgress?: (progress: Progress) => void;
}

/**
 * Decrypts the record `source` with `dataKey`, one segment each time the
 * returned stream is read. The stream errors with a {@link RecordError} at
 * the first segment that is not authentic, after releasing only the
 * plaintext of the authentic segments before it: a caller that needs all or
 * nothing (showing or saving a file) keeps what it read only if the stream
 * ends without error.
 */
export function decryptRecord(
  source: ReadableStream<Uint8Array>,
  dataKey: Uint8Array,
  options: DecryptOptions = {},
): ReadableStream<Bytes> {
  const key = toBytes(dataKey);
  const input = new ChunkReader(source);
  const expected = options.expectedFingerprint === undefined ? undefined : toBytes(options.expectedFingerprint);
  const hash = expected === undefined ? undefined : sha256.create();
  let segments: Segments | undefined;
  let buf = new Uint8Array(0);
  let full = 0;
  let carried = 0;
  let plaintextBytes = 0;
  let recordBytes = 0;

  return new ReadableStream<Bytes>(
    {
      async pull(controller) {
        try {
          if (segments === undefined) {
            const headerBytes = new Uint8Array(HEADER_LEN);
            if ((await input.fill(headerBytes, 0, HEADER_LEN)) < HEADER_LEN) {
              throw new RecordError('truncated', 'the record is truncated');
            }
            const header = parseHeader(headerBytes);
            segments = await Segments.create(key, header, 'decrypt');
            key.fill(0);
            hash?.update(headerBytes);
            recordBytes = HEADER_LEN;
            full = header.segmentSize + TAG_LEN;
            buf = new Uint8Array(full + 1);
          }
          // A full segment with one byte after it is not the last one; the
          // byte is carried to the front of the buffer for the next segment.
          const length = carried + (await input.fill(buf, carried, full + 1));
          const last = length <= full;
          const segment = buf.slice(0, Math.min(length, full));
          hash?.update(segment);
          recordBytes += segment.length;
          const plaintext = await segments.open(segment, last);
          plaintextBytes += plaintext.length;
          if (last && hash !== undefined && expected !== undefined) {
            const actual = hash.digest();
            if (!equalBytes(actual, expected)) {
              throw new RecordError(
                'hash-mismatch',
                `the record's SHA-256 ${bytesToHex(actual)} is not the registered fingerprint ${bytesToHex(expected)}`,
              );
            }
          }
          if (plaintext.length > 0) controller.enqueue(plaintext);
          options.onProgress?.({ plaintextBytes, recordBytes });
          if (last) {
            controller.close();
            return;
          }
          buf[0] = buf[full] ?? 0;
          carried = 1;
        } catch (error) {
          controller.error(error);
          await input.cancel(error);
        }
      },
      cancel(reason) {
        return input.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
}

/** Encrypts a whole file held in memory; the record comes back with its fingerprint. */
export async function encryptBytes(
  plaintext: Uint8Array,
  dataKey: Uint8Array,
  options: EncryptOptions = {},
): Promise<Sealed & { readonly record: Bytes }> {
  const { stream, done } = encryptRecord(streamOf(plaintext), dataKey, options);
  const record = await collect(stream);
  return { ...(await done), record };
}

/** Decrypts a whole record held in memory. */
export function decryptBytes(record: Uint8Array, dataKey: Uint8Array, options: DecryptOptions = {}): Promise<Bytes> {
  return collect(decryptRecord(streamOf(record), dataKey, options));
}

/** The SHA-256 of everything `source` yields, `0x` hex: a record's fingerprint, to verify a download. */
export async function fingerprintOf(source: ReadableStream<Uint8Array> | Uint8Array): Promise<Hex> {
  if (source instanceof Uint8Array) return bytesToHex(sha256(source));
  const hash = sha256.create();
  const reader = source.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return bytesToHex(hash.digest());
    hash.update(value);
  }
}

/** A stream of `bytes`, in chunks of at most `chunkSize`. */
export function streamOf(bytes: Uint8Array, chunkSize = 1 << 20): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        if (offset >= bytes.length) {
          controller.close();
          return;
        }
        const end = Math.min(bytes.length, offset + chunkSize);
        controller.enqueue(bytes.subarray(offset, end));
        offset = end;
      },
    },
    { highWaterMark: 0 },
  );
}

/** Everything `stream` yields, concatenated. */
export async function collect(stream: ReadableStream<Uint8Array>): Promise<Bytes> {
  const chunks: Uint8Array[] = [];
  let length = 0;
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    length += value.length;
  }
  const out = new Uint8Array(length);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}
