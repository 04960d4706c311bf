import { ECIES_CONFIG, PrivateKey, decrypt as eciesDecrypt } from 'eciesjs';
import { describe, expect, it } from 'vitest';

import { ENVELOPE_OVERHEAD, EnvelopeError, open, parsePublicKey, seal } from '../../src/crypto';
import { hex, unhex, vectorFile } from './vectors';

interface EnvelopeVector {
  recipient_secret: string;
  recipient_public: string;
  plaintext: string;
  sealed: string;
}

const vector = vectorFile<EnvelopeVector>('envelope.json');

/** A recipient key from a seed byte. */
function recipient(seed: number): PrivateKey {
  return new PrivateKey(new Uint8Array(32).fill(seed));
}

describe('key envelopes', { timeout: 60_000 }, () => {
  it('open the vector Rust sealed (core/tests/vectors/envelope.json)', () => {
    const secret = unhex(vector.recipient_secret);
    expect(hex(new PrivateKey(secret).publicKey.toBytes(true))).toBe(vector.recipient_public);
    expect(hex(open(secret, unhex(vector.sealed)))).toBe(vector.plaintext);
    expect(hex(open(secret, `0x${vector.sealed}`))).toBe(vector.plaintext);
    expect(unhex(vector.sealed).length).toBe(ENVELOPE_OVERHEAD + 32);
  });

  it('round-trip lengths up to 300 bytes, to compressed and uncompressed keys', () => {
    const key = recipient(7);
    for (const length of [0, 1, 31, 32, 33, 100, 300]) {
      const plaintext = Uint8Array.from({ length }, (_, i) => i * 3);
      for (const compressed of [true, false]) {
        const sealed = seal(key.publicKey.toBytes(compressed), plaintext);
        expect(sealed.length).toBe(ENVELOPE_OVERHEAD + length);
        expect(sealed[0]).toBe(0x04);
        expect(open(key.secret, sealed)).toEqual(plaintext);
        // eciesjs itself opens what this module seals.
        expect(Uint8Array.from(eciesDecrypt(key.secret, sealed))).toEqual(plaintext);
      }
    }
  });

  it('refuse every changed byte, truncations, an extension and the wrong recipient', () => {
    const key = recipient(9);
    const sealed = seal(key.publicKey.toBytes(true), new Uint8Array(32).fill(0xab));
    for (let i = 0; i < sealed.length; i++) {
      const flipped = sealed.slice();
      flipped[i]! ^= 0x01;
      expect(() => open(key.secret, flipped), `byte ${i}`).toThrow(EnvelopeError);
    }
    for (const length of [0, 1, 65, 81, 96, 97, 112, 128]) {
      expect(() => open(key.secret, sealed.subarray(0, length))).toThrow(EnvelopeError);
    }
    expect(() => open(key.secret, new Uint8Array([...sealed, 0]))).toThrow(EnvelopeError);
    expect(() => open(recipient(10).secret, sealed)).toThrowError(
      expect.objectContaining({ kind: 'authentication-failed' }),
    );
    expect(() => open(key.secret, sealed.subarray(0, 96))).toThrowError(expect.objectContaining({ kind: 'too-short' }));
    const compressedEphemeral = sealed.slice();
    compressedEphemeral[0] = 0x02;
    expect(() => open(key.secret, compressedEphemeral)).toThrowError(
      expect.objectContaining({ kind: 'bad-ephemeral-key' }),
    );
  });

  it('take public keys compressed or uncompressed only', () => {
    const key = recipient(3);
    const compressed = key.publicKey.toBytes(true);
    const uncompressed = key.publicKey.toBytes(false);
    expect(parsePublicKey(compressed)).toEqual(Uint8Array.from(compressed));
    expect(parsePublicKey(uncompressed)).toEqual(Uint8Array.from(uncompressed));
    const refused = [
      uncompressed.subarray(1), // Ethereum's bare 64 bytes
      Uint8Array.from([0x06, ...uncompressed.subarray(1)]), // SEC1 hybrid
      Uint8Array.from([0x05, ...compressed.subarray(1)]), // compact
      Uint8Array.from([0x02, ...new Uint8Array(32).fill(0xff)]), // not on the curve
      new Uint8Array(0),
    ];
    for (const bytes of refused) {
      expect(() => parsePublicKey(bytes)).toThrowError(expect.objectContaining({ kind: 'bad-public-key' }));
    }
  });

  it("refuse to seal in another format than eciesjs's defaults", () => {
    const key = recipient(4);
    ECIES_CONFIG.symmetricNonceLength = 12;
    try {
      expect(() => seal(key.publicKey.toBytes(true), new Uint8Array(32))).toThrowError(
        expect.objectContaining({ kind: 'configuration' }),
      );
    } finally {
      ECIES_CONFIG.symmetricNonceLength = 16;
    }
  });
});
