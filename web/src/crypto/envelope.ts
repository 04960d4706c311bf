/**
 * ECIES key envelopes: a key sealed to a participant's secp256k1 encryption
 * key, as `medvault_core::envelope` seals them (docs/envelopes.md): eciesjs
 * 0.4.18 with its default configuration.
 *
 * ```text
 * envelope = ephemeral public key (65, uncompressed) || nonce (16) || tag (16) || ciphertext
 * key      = HKDF-SHA256(ikm = ephemeral public key || shared point, both uncompressed), no salt, no info
 * ```
 */
import { ECIES_CONFIG, PublicKey, decrypt, encrypt } from 'eciesjs';
import type { Hex } from 'viem';

import { type Bytes, toBytes } from './bytes';

/** Length of the ephemeral public key that opens an envelope (uncompressed). */
export const EPHEMERAL_KEY_LEN = 65;
/** Bytes an envelope adds to its plaintext: ephemeral key, nonce and tag. */
export const ENVELOPE_OVERHEAD = EPHEMERAL_KEY_LEN + 16 + 16;

/** Why an envelope could not be opened or a public key was refused. */
export type EnvelopeErrorKind =
  /** Shorter than the 97 bytes every envelope has. */
  | 'too-short'
  /** The first 65 bytes are not an uncompressed secp256k1 point. */
  | 'bad-ephemeral-key'
  /** Sealed to another key, or some byte changed. */
  | 'authentication-failed'
  /** A public key that is not a 33-byte compressed or 65-byte uncompressed point. */
  | 'bad-public-key'
  /** Someone changed eciesjs's global configuration, which would change the format. */
  | 'configuration';

/** A refused envelope or public key. */
export class EnvelopeError extends Error {
  override readonly name = 'EnvelopeError';

  constructor(
    readonly kind: EnvelopeErrorKind,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** eciesjs reads a process-wide configuration; anything but its defaults is another format. */
function checkConfiguration(): void {
  const c = ECIES_CONFIG;
  if (
    c.ellipticCurve !== 'secp256k1' ||
    c.isEphemeralKeyCompressed ||
    c.isHkdfKeyCompressed ||
    c.symmetricAlgorithm !== 'aes-256-gcm' ||
    c.symmetricNonceLength !== 16
  ) {
    throw new EnvelopeError('configuration', "eciesjs's configuration was changed from its defaults");
  }
}

/**
 * Parses a recipient's public key: 33 bytes compressed (prefix 02 or 03, as
 * registered on chain) or 65 bytes uncompressed (prefix 04), on the curve.
 */
export function parsePublicKey(key: Uint8Array | Hex): Bytes {
  const bytes = toBytes(key);
  const form =
    (bytes.length === 33 && (bytes[0] === 0x02 || bytes[0] === 0x03)) ||
    (bytes.length === 65 && bytes[0] === 0x04);
  if (form) {
    try {
      new PublicKey(bytes);
      return bytes;
    } catch {
      // Falls through to the refusal below.
    }
  }
  throw new EnvelopeError(
    'bad-public-key',
    `a public key of ${bytes.length} bytes is not a compressed (33) or uncompressed (65) secp256k1 point`,
  );
}

/** Seals `plaintext` (a 32-byte key) to `recipient`'s public key. */
export function seal(recipient: Uint8Array | Hex, plaintext: Uint8Array): Bytes {
  checkConfiguration();
  return toBytes(encrypt(parsePublicKey(recipient), plaintext));
}

/** Opens an envelope sealed to the public key of `privateKey`. */
export function open(privateKey: Uint8Array, envelope: Uint8Array | Hex): Bytes {
  checkConfiguration();
  const bytes = toBytes(envelope);
  if (bytes.length < ENVELOPE_OVERHEAD) {
    throw new EnvelopeError(
      'too-short',
      `envelope is ${bytes.length} bytes, shorter than the ${ENVELOPE_OVERHEAD} bytes every envelope has`,
    );
  }
  try {
    if (bytes[0] !== 0x04) throw new Error('not uncompressed');
    new PublicKey(bytes.subarray(0, EPHEMERAL_KEY_LEN));
  } catch (cause) {
    throw new EnvelopeError('bad-ephemeral-key', "envelope's ephemeral key is not an uncompressed secp256k1 point", {
      cause,
    });
  }
  try {
    return toBytes(decrypt(privateKey, bytes));
  } catch (cause) {
    throw new EnvelopeError('authentication-failed', 'envelope failed authentication: sealed to another key or tampered with', {
      cause,
    });
  }
}
