import { describe, expect, it } from 'vitest';

import {
  DEFAULT_SEGMENT_SIZE,
  HEADER_LEN,
  MAX_SEGMENT_SIZE,
  RecordError,
  TAG_LEN,
  collect,
  decryptBytes,
  decryptRecord,
  encryptBytes,
  encryptRecord,
  fingerprintOf,
  parseHeader,
  recordLength,
  streamOf,
} from '../../src/crypto';
import { hex, pattern, recordFormatVectors, unhex, vectorFile } from './vectors';

const KEY = Uint8Array.from({ length: 32 }, (_, i) => i);
const PREFIX = Uint8Array.of(0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6);
const S = 16;

/** Decrypts, returning what was released and the error, if any. */
async function open(record: Uint8Array, key = KEY, expectedFingerprint?: `0x${string}`) {
  const released: number[] = [];
  const reader = decryptRecord(streamOf(record, 5), key, expectedFingerprint ? { expectedFingerprint } : {}).getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return { released: Uint8Array.from(released), error: undefined };
      released.push(...value);
    }
  } catch (error) {
    return { released: Uint8Array.from(released), error: error as RecordError };
  }
}

/** Four segments at S = 16: 16, 16, 16 and 1 bytes of plaintext. */
async function fourSegments() {
  const data = pattern(3 * S + 1);
  const { record } = await encryptBytes(data, KEY, { segmentSize: S, noncePrefix: PREFIX });
  return { data, record };
}

/** The byte range of segment `i` (ciphertext and tag). */
function segment(i: number): [number, number] {
  const full = S + TAG_LEN;
  return [HEADER_LEN + i * full, HEADER_LEN + (i + 1) * full];
}

async function expectFailsAt(record: Uint8Array, data: Uint8Array, index: number) {
  const { released, error } = await open(record);
  expect(error?.kind, `segment ${index}`).toBe('corrupt');
  expect(error?.segment).toBe(index);
  expect(hex(released)).toBe(hex(data.subarray(0, index * S)));
}

// WebCrypto answers on a thread pool: slow on a loaded machine, so the
// exhaustive tamper tests get time.
describe('the record format', { timeout: 180_000 }, () => {
  it('writes and reads every vector of docs/record-format.md', async () => {
    const vectors = recordFormatVectors();
    expect(vectors.map((v) => v.name)).toEqual(['empty', 'segment-1', 'segment', 'segment+1', '3xsegment+1']);
    for (const v of vectors) {
      const key = unhex(v.key!);
      const plaintext = unhex(v.plaintext!);
      expect(plaintext).toEqual(pattern(plaintext.length));
      const sealed = await encryptBytes(plaintext, key, { segmentSize: Number(v.segment), noncePrefix: unhex(v.prefix!) });
      expect(hex(sealed.record), v.name).toBe(v.record);
      expect(sealed.fingerprint).toBe(`0x${v.sha256}`);
      expect(sealed.size).toBe(sealed.record.length);
      expect(sealed.plaintextSize).toBe(plaintext.length);
      expect(await fingerprintOf(unhex(v.record!))).toBe(`0x${v.sha256}`);
      const opened = await decryptBytes(unhex(v.record!), key, { expectedFingerprint: `0x${v.sha256}` });
      expect(hex(opened)).toBe(hex(plaintext));
    }
  });

  it('writes byte for byte the records Rust writes, and reads them', async () => {
    const { records } = vectorFile<{
      records: { key: string; prefix: string; segment: number; plaintext_length: number; record: string | null; record_length: number; sha256: string }[];
    }>('web.json');
    expect(records.length).toBe(2);
    for (const v of records) {
      const data = pattern(v.plaintext_length);
      const sealed = await encryptBytes(data, unhex(v.key), { segmentSize: v.segment, noncePrefix: unhex(v.prefix) });
      expect(sealed.fingerprint).toBe(v.sha256);
      expect(sealed.size).toBe(v.record_length);
      expect(recordLength(v.plaintext_length, v.segment)).toBe(v.record_length);
      const rust = v.record === null ? sealed.record : unhex(v.record);
      if (v.record !== null) expect(hex(sealed.record)).toBe(hex(rust));
      const opened = await decryptBytes(rust, unhex(v.key), { expectedFingerprint: v.sha256 as `0x${string}` });
      expect(opened).toEqual(data);
    }
  });

  it('round-trips 0 B, 1 B, around a segment boundary and 1 MiB, in chunks of any size', async () => {
    const cases: [number, number][] = [
      [0, S],
      [1, S],
      [S - 1, S],
      [S, S],
      [S + 1, S],
      [2 * S, S],
      [0, DEFAULT_SEGMENT_SIZE],
      [1, DEFAULT_SEGMENT_SIZE],
      [DEFAULT_SEGMENT_SIZE, DEFAULT_SEGMENT_SIZE],
      [DEFAULT_SEGMENT_SIZE + 1, DEFAULT_SEGMENT_SIZE],
      [1 << 20, DEFAULT_SEGMENT_SIZE],
    ];
    for (const [length, segmentSize] of cases) {
      const data = pattern(length);
      for (const chunk of [1, 7, 4096, 1 << 20]) {
        // Tiny chunks cost one read each: enough to cross a few boundaries.
        if (chunk < 4096 && length > 2 * DEFAULT_SEGMENT_SIZE) continue;
        const { stream, done } = encryptRecord(streamOf(data, chunk), KEY, { segmentSize });
        const record = await collect(stream);
        const sealed = await done;
        expect(record.length, `${length} at ${segmentSize}`).toBe(recordLength(length, segmentSize));
        expect(sealed.size).toBe(record.length);
        expect(sealed.plaintextSize).toBe(length);
        expect(sealed.fingerprint).toBe(await fingerprintOf(record));
        const opened = await collect(decryptRecord(streamOf(record, chunk), KEY, { expectedFingerprint: sealed.fingerprint }));
        expect(opened.length).toBe(length);
        expect(opened).toEqual(data);
      }
    }
  });

  it('has one segment per segment size and at least one', () => {
    expect(recordLength(0, S)).toBe(HEADER_LEN + TAG_LEN);
    expect(recordLength(16, S)).toBe(HEADER_LEN + 16 + TAG_LEN);
    expect(recordLength(17, S)).toBe(HEADER_LEN + 17 + 2 * TAG_LEN);
  });

  it('draws a fresh nonce prefix for every record', async () => {
    const data = pattern(100);
    const a = await encryptBytes(data, KEY);
    const b = await encryptBytes(data, KEY);
    expect(hex(a.record.subarray(10, HEADER_LEN))).not.toBe(hex(b.record.subarray(10, HEADER_LEN)));
    expect(a.fingerprint).not.toBe(b.fingerprint);
  });

  it('releases nothing under a wrong key', async () => {
    const { record } = await fourSegments();
    const { released, error } = await open(record, new Uint8Array(32).fill(9));
    expect(error?.kind).toBe('corrupt');
    expect(error?.segment).toBe(0);
    expect(released.length).toBe(0);
  });

  it('refuses every flipped header bit before any plaintext', async () => {
    const { record } = await fourSegments();
    for (let byte = 0; byte < HEADER_LEN; byte++) {
      for (let bit = 0; bit < 8; bit++) {
        const tampered = record.slice();
        tampered[byte]! ^= 1 << bit;
        const { released, error } = await open(tampered);
        expect(error, `header byte ${byte} bit ${bit}`).toBeInstanceOf(RecordError);
        expect(released.length).toBe(0);
      }
    }
  });

  it('fails the segment of every flipped segment or tag byte, releasing only the segments before it', async () => {
    const { data, record } = await fourSegments();
    for (let i = HEADER_LEN; i < record.length; i++) {
      const tampered = record.slice();
      tampered[i]! ^= 0x80;
      await expectFailsAt(tampered, data, Math.floor((i - HEADER_LEN) / (S + TAG_LEN)));
    }
  });

  it('refuses every truncation and releases only whole earlier segments', async () => {
    const { data, record } = await fourSegments();
    for (let length = 0; length < record.length; length++) {
      const { released, error } = await open(record.subarray(0, length));
      expect(error, `cut to ${length}`).toBeInstanceOf(RecordError);
      expect(released.length % S).toBe(0);
      expect(released.length).toBeLessThan(data.length);
      expect(hex(released)).toBe(hex(data.subarray(0, released.length)));
    }
    // A cut at a segment boundary fails the new last segment, sealed as not last.
    await expectFailsAt(record.subarray(0, segment(2)[1]), data, 2);
  });

  it('refuses reordered, dropped and spliced segments', async () => {
    const { data, record } = await fourSegments();
    const swapped = record.slice();
    swapped.set(record.subarray(...segment(2)), segment(1)[0]);
    swapped.set(record.subarray(...segment(1)), segment(2)[0]);
    await expectFailsAt(swapped, data, 1);

    const dropped = new Uint8Array([...record.subarray(0, segment(1)[0]), ...record.subarray(segment(1)[1])]);
    await expectFailsAt(dropped, data, 1);

    const { record: other } = await encryptBytes(data, KEY, { segmentSize: S, noncePrefix: new Uint8Array(7).fill(1) });
    const spliced = record.slice();
    spliced.set(other.subarray(...segment(1)), segment(1)[0]);
    await expectFailsAt(spliced, data, 1);
  });

  it('refuses appended data', async () => {
    const { data, record } = await fourSegments();
    for (const extra of [record.subarray(...segment(0)), Uint8Array.of(0), record]) {
      const { released, error } = await open(new Uint8Array([...record, ...extra]));
      expect(error).toBeInstanceOf(RecordError);
      expect(released.length).toBeLessThanOrEqual(3 * S);
      expect(hex(released)).toBe(hex(data.subarray(0, released.length)));
    }
  });

  it('holds back the last segment when the fingerprint is not the registered one', async () => {
    const { data, record } = await fourSegments();
    const fingerprint = await fingerprintOf(record);
    expect((await open(record, KEY, fingerprint)).released).toEqual(data);
    const other = `0x${(fingerprint[2] === '0' ? '1' : '0') + fingerprint.slice(3)}` as const;
    const { released, error } = await open(record, KEY, other);
    expect(error?.kind).toBe('hash-mismatch');
    expect(released.length).toBe(3 * S);
  });

  it('names a bad header', async () => {
    const { record } = await fourSegments();
    const bad = (at: number, ...bytes: number[]) => {
      const copy = record.slice();
      copy.set(bytes, at);
      return copy;
    };
    expect((await open(bad(0, 0x58))).error?.kind).toBe('not-a-record');
    expect((await open(bad(4, 2))).error?.kind).toBe('unsupported-version');
    expect((await open(bad(5, 9))).error?.kind).toBe('unsupported-algorithm');
    const big = MAX_SEGMENT_SIZE + 1;
    expect((await open(bad(6, big >>> 24, (big >>> 16) & 0xff, (big >>> 8) & 0xff, big & 0xff))).error?.kind).toBe('segment-size');
    expect((await open(new TextEncoder().encode('MEDV'))).error?.kind).toBe('truncated');
    expect(() => encryptRecord(streamOf(new Uint8Array(0)), KEY, { segmentSize: 0 })).toThrow(RecordError);
    expect(parseHeader(record).segmentSize).toBe(S);
  });

  it('rejects `done` and errors the stream when the source fails', async () => {
    const failing = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(pattern(40));
        controller.error(new Error('the file went away'));
      },
    });
    const { stream, done } = encryptRecord(failing, KEY, { segmentSize: S });
    await expect(collect(stream)).rejects.toMatchObject({ kind: 'source' });
    await expect(done).rejects.toMatchObject({ kind: 'source' });
  });

  it('streams 32 MiB through encryption and decryption with a segment or two in flight', async () => {
    const total = 32 << 20;
    const chunk = pattern(1 << 16);
    let produced = 0;
    let released = 0;
    let ahead = 0;
    const source = new ReadableStream<Uint8Array>(
      {
        pull(controller) {
          if (produced >= total) return controller.close();
          controller.enqueue(chunk.slice());
          produced += chunk.length;
          ahead = Math.max(ahead, produced - released);
        },
      },
      { highWaterMark: 0 },
    );
    const { stream, done } = encryptRecord(source, KEY);
    const reader = decryptRecord(stream, KEY).getReader();
    for (;;) {
      const { done: end, value } = await reader.read();
      if (end) break;
      released += value.length;
    }
    const sealed = await done;
    expect(released).toBe(total);
    expect(sealed.plaintextSize).toBe(total);
    expect(sealed.size).toBe(recordLength(total));
    // The source is read only as the reader asks: never more than the
    // segment being sealed, the one being opened and a chunk ahead.
    expect(ahead).toBeLessThanOrEqual(3 * DEFAULT_SEGMENT_SIZE);
  });
});
