/**
 * Category keys, and wrapping keys under them with AES-256-GCM, as
 * `medvault_core::keys` wraps them (docs/keys.md):
 *
 * ```text
 * wrapped = 0x01 || nonce (12, random) || AES-256-GCM(category key, nonce, aad, key (32)) || tag (16)
 * aad     = label || patient (20) || category (1) || epoch (u32 BE)
 * ```
 *
 * The label tells the two uses apart: `"MedVault data key v1"` for a
 * record's data key under its category key (the record's `wrappedKey`), and
 * `"MedVault previous key v1"` for the previous epoch's category key under
 * the new one (a rotation's `sealedPreviousKey`). The patient, category and
 * epoch are those of the wrapping key, so a wrapped key cannot be moved to
 * another patient, category, epoch or use.
 */
import { type Address, getAddress, hexToBytes } from 'viem';

import { type Bytes, concatBytes, randomBytes, subtle, toBytes } from './bytes';
import { KEY_LEN, KeyError } from './keys';

/** The length of a wrapped key: version, nonce, key and tag. */
export const WRAPPED_KEY_LEN = 1 + 12 + KEY_LEN + 16;

const WRAP_VERSION = 1;
const DATA_KEY_LABEL = new TextEncoder().encode('MedVault data key v1');
const PREVIOUS_KEY_LABEL = new TextEncoder().encode('MedVault previous key v1');

/** Which category key: the patient's, for one category (0 to 63), in one epoch. */
export interface CategoryKeyId {
  readonly patient: Address;
  readonly category: number;
  readonly epoch: number;
}

/** A category key: the AES-256 key that wraps the data keys of one category in one epoch. */
export interface CategoryKey {
  readonly id: CategoryKeyId;
  readonly key: Bytes;
}

/** 32 fresh random bytes: a record's data key, or a new category key. */
export function generateKey(): Bytes {
  return randomBytes(KEY_LEN);
}

/** A fresh random category key for `id` (a new category, or a rotation). */
export function generateCategoryKey(id: CategoryKeyId): CategoryKey {
  return { id, key: generateKey() };
}

/** Whether two ids name the same key. */
export function sameCategoryKeyId(a: CategoryKeyId, b: CategoryKeyId): boolean {
  return getAddress(a.patient) === getAddress(b.patient) && a.category === b.category && a.epoch === b.epoch;
}

/** A text naming a key, for messages: `0xAa… category 3 epoch 2`. */
export function describeCategoryKeyId(id: CategoryKeyId): string {
  return `${getAddress(id.patient)} category ${id.category} epoch ${id.epoch}`;
}

/** `patient (20) || category (1) || epoch (u32 BE)`. */
function context(id: CategoryKeyId): Bytes {
  const bytes = new Uint8Array(25);
  bytes.set(hexToBytes(getAddress(id.patient)), 0);
  bytes[20] = id.category;
  new DataView(bytes.buffer).setUint32(21, id.epoch);
  return bytes;
}

async function aesKey(wrapping: CategoryKey, usage: KeyUsage): Promise<CryptoKey> {
  return subtle().importKey('raw', wrapping.key, 'AES-GCM', false, [usage]);
}

async function wrap(wrapping: CategoryKey, label: Uint8Array, key: Uint8Array, nonce?: Uint8Array): Promise<Bytes> {
  if (key.length !== KEY_LEN) throw new TypeError(`only ${KEY_LEN}-byte keys are wrapped`);
  const iv = nonce === undefined ? randomBytes(12) : toBytes(nonce);
  if (iv.length !== 12) throw new TypeError('a wrap nonce is 12 bytes');
  const sealed = await subtle().encrypt(
    { name: 'AES-GCM', iv, additionalData: concatBytes(label, context(wrapping.id)), tagLength: 128 },
    await aesKey(wrapping, 'encrypt'),
    toBytes(key),
  );
  return concatBytes(Uint8Array.of(WRAP_VERSION), iv, new Uint8Array(sealed));
}

async function unwrap(wrapping: CategoryKey, label: Uint8Array, wrapped: Uint8Array): Promise<Bytes> {
  if (wrapped.length !== WRAPPED_KEY_LEN || wrapped[0] !== WRAP_VERSION) {
    throw new KeyError(
      'wrapped-key-format',
      `a wrapped key must be ${WRAPPED_KEY_LEN} bytes starting with version 1, not ${wrapped.length} bytes`,
    );
  }
  const bytes = toBytes(wrapped);
  try {
    const opened = await subtle().decrypt(
      {
        name: 'AES-GCM',
        iv: bytes.subarray(1, 13),
        additionalData: concatBytes(label, context(wrapping.id)),
        tagLength: 128,
      },
      await aesKey(wrapping, 'decrypt'),
      bytes.subarray(13),
    );
    return new Uint8Array(opened);
  } catch (cause) {
    throw new KeyError(
      'unwrap',
      `the wrapped key does not open under the category key of ${describeCategoryKeyId(wrapping.id)}`,
      { cause },
    );
  }
}

/**
 * Wraps a record's data key under a category key: the record's `wrappedKey`
 * on chain. `nonce` (12 bytes) is for test vectors only; it is random otherwise.
 */
export function wrapDataKey(categoryKey: CategoryKey, dataKey: Uint8Array, nonce?: Uint8Array): Promise<Bytes> {
  return wrap(categoryKey, DATA_KEY_LABEL, dataKey, nonce);
}

/** Unwraps a record's data key wrapped under `categoryKey`. */
export function unwrapDataKey(categoryKey: CategoryKey, wrapped: Uint8Array): Promise<Bytes> {
  return unwrap(categoryKey, DATA_KEY_LABEL, wrapped);
}

/**
 * Seals the previous epoch's key under `categoryKey`: the `sealedPreviousKey`
 * of the rotation to its epoch. `nonce` is for test vectors only.
 */
export function sealPrevious(categoryKey: CategoryKey, previous: CategoryKey, nonce?: Uint8Array): Promise<Bytes> {
  return wrap(categoryKey, PREVIOUS_KEY_LABEL, previous.key, nonce);
}

/** Opens the previous epoch's key, sealed under `categoryKey` at the rotation to its epoch. */
export async function openPrevious(categoryKey: CategoryKey, sealed: Uint8Array): Promise<CategoryKey> {
  const { id } = categoryKey;
  if (id.epoch === 0) {
    throw new KeyError('unwrap', `the first epoch (${describeCategoryKeyId(id)}) has no previous key`);
  }
  const key = await unwrap(categoryKey, PREVIOUS_KEY_LABEL, sealed);
  return { id: { ...id, epoch: id.epoch - 1 }, key };
}
