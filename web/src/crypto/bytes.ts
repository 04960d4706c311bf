/**
 * Byte helpers shared by the crypto modules: WebCrypto wants buffers it owns
 * (`Uint8Array<ArrayBuffer>`), and keys arrive as bytes or `0x` hex.
 */
import { type Hex, hexToBytes, isHex } from 'viem';

/** Bytes backed by an `ArrayBuffer` of their own, as WebCrypto takes them. */
export type Bytes = Uint8Array<ArrayBuffer>;

/** A copy of `bytes` (or the bytes of `0x` hex) in a buffer of its own. */
export function toBytes(bytes: Uint8Array | Hex): Bytes {
  if (typeof bytes === 'string') {
    if (!isHex(bytes, { strict: true })) throw new TypeError('expected 0x-prefixed hex');
    return new Uint8Array(hexToBytes(bytes));
  }
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  return copy;
}

/** The concatenation of `parts`. */
export function concatBytes(...parts: readonly Uint8Array[]): Bytes {
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Whether two byte strings are equal (not constant time: for public values). */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** `n` bytes from the platform's cryptographic random source. */
export function randomBytes(n: number): Bytes {
  return globalThis.crypto.getRandomValues(new Uint8Array(n));
}

/** The WebCrypto implementation: the browser's, or Node's (20 and later). */
export function subtle(): SubtleCrypto {
  return globalThis.crypto.subtle;
}
