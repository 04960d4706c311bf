import { describe, expect, it } from 'vitest';

import { decryptBytes, encryptBytes, fingerprintOf } from '../../src/crypto';
import { hex, pattern, recordFormatVectors, unhex } from './vectors';

describe('the record format', () => {
  it('writes and reads every vector of docs/record-format.md', async () => {
    const vectors = recordFormatVectors();
    expect(vectors.map((v) => v.name)).toEqual(['empty', 'segment-1', 'segment', 'segment+1', '3xsegment+1']);
    for (const v of vectors) {
      const key = unhex(v.key!);
      const plaintext = unhex(v.plaintext!);
      expect(plaintext).toEqual(pattern(plaintext.length));
      const sealed = await encryptBytes(plaintext, key, {
        segmentSize: Number(v.segment),
        noncePrefix: unhex(v.prefix!),
      });
      expect(hex(sealed.record), v.name).toBe(v.record);
      expect(sealed.fingerprint).toBe(`0x${v.sha256}`);
      expect(sealed.size).toBe(sealed.record.length);
      expect(sealed.plaintextSize).toBe(plaintext.length);
      expect(await fingerprintOf(unhex(v.record!))).toBe(`0x${v.sha256}`);
      const opened = await decryptBytes(unhex(v.record!), key, { expectedFingerprint: `0x${v.sha256}` });
      expect(hex(opened)).toBe(hex(plaintext));
    }
  });
});
