/**
 * A participant's encryption key, derived from one wallet signature exactly
 * as `medvault_core::keys` derives it (docs/keys.md), so that the browser and
 * the CLI find the same key for the same wallet.
 *
 * The wallet signs one fixed EIP-712 message ({@link encryptionKeyMessage}):
 * domain `{ name: "MedVault", version: "1", chainId, verifyingContract:
 * <MedVault> }`, type `EncryptionKey(string purpose,address account)`. Then
 *
 * ```text
 * ikm    = r (32) || s (32, normalised to the lower half of the curve order)
 * salt   = "MedVault encryption key v1"
 * info   = chain id (u64 BE) || MedVault address (20) || account (20) || counter (u8, from 0)
 * secret = HKDF-SHA256(salt, ikm, info, 32 bytes), the first that is a valid secp256k1 scalar
 * ```
 *
 * The signature is the secret: it is used here and dropped, never sent,
 * logged or stored. {@link EncryptionKey} prints only its public half.
 */
import { PrivateKey } from 'eciesjs';
import {
  type Address,
  type Hex,
  bytesToHex,
  getAddress,
  hexToBigInt,
  hexToBytes,
  isAddressEqual,
  parseSignature,
  recoverTypedDataAddress,
} from 'viem';

import { type Bytes, concatBytes, equalBytes, subtle, toBytes } from './bytes';

/** The `purpose` the wallet shows: what signing does, and when not to. */
export const ENCRYPTION_KEY_PURPOSE =
  'Derive my MedVault encryption key. Sign this only in a MedVault app: anyone who holds ' +
  'this signature can read the records shared with you.';

/** The length of a symmetric key (data keys, category keys). */
export const KEY_LEN = 32;

const SALT = new TextEncoder().encode('MedVault encryption key v1');

/** The order of secp256k1's group. */
const CURVE_ORDER = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

/** Why a key could not be derived, wrapped, unwrapped or found. */
export type KeyErrorKind =
  /** The signature is not the account's over the encryption-key message. */
  | 'wrong-signer'
  /** The derived key is not the one registered on chain. */
  | 'not-registered'
  /** HKDF gave no valid scalar in 256 tries (odds 2^-32768). */
  | 'derivation'
  /** A wrapped key has the wrong length or version. */
  | 'wrapped-key-format'
  /** A wrapped key does not open under the category key it names. */
  | 'unwrap'
  /** An envelope sealed to this participant does not open. */
  | 'envelope'
  /** An envelope opened but does not hold a 32-byte key. */
  | 'envelope-contents'
  /** No key held reaches the category key. */
  | 'missing-category-key'
  /** The record has neither a wrapped key nor an envelope for this participant. */
  | 'no-record-key';

/** A failure of the key hierarchy; `kind` says which, for the page to put in words. */
export class KeyError extends Error {
  override readonly name = 'KeyError';

  constructor(
    readonly kind: KeyErrorKind,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** The typed data a wallet signs to derive its encryption key (`eth_signTypedData_v4`). */
export interface EncryptionKeyMessage {
  readonly domain: {
    readonly name: 'MedVault';
    readonly version: '1';
    readonly chainId: number;
    readonly verifyingContract: Address;
  };
  readonly types: {
    readonly EncryptionKey: readonly [
      { readonly name: 'purpose'; readonly type: 'string' },
      { readonly name: 'account'; readonly type: 'address' },
    ];
  };
  readonly primaryType: 'EncryptionKey';
  readonly message: { readonly purpose: string; readonly account: Address };
}

/**
 * The message `account` signs to derive its encryption key for the MedVault
 * contract `contract` (not its forwarder) on chain `chainId`: pass it to
 * viem's `signTypedData` as it is.
 */
export function encryptionKeyMessage(
  chainId: number | bigint,
  contract: Address,
  account: Address,
): EncryptionKeyMessage {
  return {
    domain: {
      name: 'MedVault',
      version: '1',
      chainId: Number(chainId),
      verifyingContract: getAddress(contract),
    },
    types: {
      EncryptionKey: [
        { name: 'purpose', type: 'string' },
        { name: 'account', type: 'address' },
      ],
    },
    primaryType: 'EncryptionKey',
    message: { purpose: ENCRYPTION_KEY_PURPOSE, account: getAddress(account) },
  };
}

const INSPECT = Symbol.for('nodejs.util.inspect.custom');

/**
 * A participant's secp256k1 encryption key: opens the envelopes sealed to
 * them. Its string, JSON and console forms show the public key only.
 */
export class EncryptionKey {
  /** The 33-byte compressed public key, the form registered on chain. */
  readonly publicKey: Bytes;
  readonly #secret: Bytes;

  /** The key with this 32-byte secret scalar; throws if it is not a valid one. */
  constructor(privateKey: Uint8Array) {
    this.#secret = toBytes(privateKey);
    if (!isScalar(this.#secret)) {
      throw new KeyError('derivation', 'an encryption key must be a secp256k1 scalar');
    }
    this.publicKey = new Uint8Array(new PrivateKey(this.#secret).publicKey.toBytes(true));
  }

  /** The secret scalar, for opening envelopes. */
  get privateKey(): Bytes {
    return this.#secret;
  }

  /** The public key as `0x` hex. */
  get publicKeyHex(): Hex {
    return bytesToHex(this.publicKey);
  }

  /** Overwrites the secret (when the session ends); the key is unusable after. */
  forget(): void {
    this.#secret.fill(0);
  }

  toString(): string {
    return `EncryptionKey(${this.publicKeyHex})`;
  }

  toJSON(): { publicKey: Hex } {
    return { publicKey: this.publicKeyHex };
  }

  [INSPECT](): string {
    return this.toString();
  }
}

function isScalar(bytes: Uint8Array): boolean {
  if (bytes.length !== 32) return false;
  const k = hexToBigInt(bytesToHex(bytes));
  return k > 0n && k < CURVE_ORDER;
}

/**
 * Derives `account`'s encryption key from its signature over
 * {@link encryptionKeyMessage}`(chainId, contract, account)`, checking first
 * that the signature is theirs over that message.
 */
export async function deriveEncryptionKey(
  signature: Hex,
  chainId: number | bigint,
  contract: Address,
  account: Address,
): Promise<EncryptionKey> {
  const typed = encryptionKeyMessage(chainId, contract, account);
  let signer: Address;
  try {
    signer = await recoverTypedDataAddress({ ...typed, signature });
  } catch (cause) {
    throw wrongSigner(account, cause);
  }
  if (!isAddressEqual(signer, account)) throw wrongSigner(account);

  // A wallet may return either of the two valid `s`; both give one key.
  const { r, s } = parseSignature(signature);
  let sValue = hexToBigInt(s);
  if (sValue > CURVE_ORDER / 2n) sValue = CURVE_ORDER - sValue;
  const ikm = concatBytes(hexToBytes(r, { size: 32 }), hexToBytes(`0x${sValue.toString(16).padStart(64, '0')}`));
  const hkdf = await subtle().importKey('raw', ikm, 'HKDF', false, ['deriveBits']);
  ikm.fill(0);

  const info = new Uint8Array(8 + 20 + 20 + 1);
  new DataView(info.buffer).setBigUint64(0, BigInt(chainId));
  info.set(hexToBytes(getAddress(contract)), 8);
  info.set(hexToBytes(getAddress(account)), 28);
  // An output that is zero or not below the curve order (odds 2^-128)
  // moves on to the next counter.
  for (let counter = 0; counter <= 0xff; counter++) {
    info[48] = counter;
    const okm = new Uint8Array(
      await subtle().deriveBits({ name: 'HKDF', hash: 'SHA-256', salt: SALT, info }, hkdf, 256),
    );
    if (isScalar(okm)) {
      const key = new EncryptionKey(okm);
      okm.fill(0);
      return key;
    }
  }
  throw new KeyError('derivation', 'the signature derived no valid secp256k1 key');
}

/**
 * Checks a derived key against the one `account` registered on chain, so a
 * wallet that does not sign deterministically (RFC 6979) is caught before
 * anything is sealed to a key nobody can derive again.
 */
export function checkRegistered(key: EncryptionKey, registered: Uint8Array | Hex, account: Address): void {
  if (!equalBytes(key.publicKey, toBytes(registered))) {
    throw new KeyError(
      'not-registered',
      `the key derived from ${account}'s signature is not the one registered on chain; ` +
        'the wallet may not sign deterministically (RFC 6979)',
    );
  }
}

function wrongSigner(account: Address, cause?: unknown): KeyError {
  return new KeyError(
    'wrong-signer',
    `the signature is not ${account}'s over the MedVault encryption-key message`,
    cause === undefined ? undefined : { cause },
  );
}
