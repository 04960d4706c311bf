/**
 * What one participant holds, and the paths from it to a record's data key:
 * a port of `medvault_core::keys::KeyRing` (docs/keys.md lists the paths).
 *
 * - **record envelope:** the data key sealed to the reader
 *   (`RecordKeyPublished`), written by writers without the category key.
 * - **category key:** the key of (patient, category, epoch) sealed to the
 *   reader (`CategoryKeyPublished`) unwraps the record's `wrappedKey`.
 * - **history:** a key of a later epoch opens the one before it
 *   (`CategoryKeyRotated`), and so on back.
 *
 * The page fills a ring from a {@link KeySource} (the indexer's envelopes and
 * rotations, or the gateway's answer to `GET /v1/records/{id}/keys`), as the
 * CLI's `keychain::ring` and `doctor::fetch` do.
 */
import { type Address, type Hex, getAddress } from 'viem';

import { type Bytes, toBytes } from '../crypto/bytes';
import { EnvelopeError, open, seal } from '../crypto/envelope';
import { type EncryptionKey, KEY_LEN, KeyError } from '../crypto/keys';
import {
  type CategoryKey,
  type CategoryKeyId,
  describeCategoryKeyId,
  openPrevious,
  unwrapDataKey,
} from '../crypto/wrap';

/** Where a record's data key is, as the chain tells it. */
export interface RecordKeys {
  /** The record's patient. */
  readonly patient: Address;
  /** Its category. */
  readonly category: number;
  /** The epoch its key is wrapped under. */
  readonly epoch: number;
  /** Its `wrappedKey` (empty when it has none). */
  readonly wrappedKey: Uint8Array | Hex;
  /** Record-level envelopes sealed to the reader (`RecordKeyPublished`), if any. */
  readonly envelopes?: readonly (Uint8Array | Hex)[];
}

/** A category key sealed to the reader: a `CategoryKeyPublished` event addressed to them. */
export interface CategoryEnvelope {
  readonly category: number;
  readonly epoch: number;
  readonly sealedKey: Uint8Array | Hex;
}

/** A rotation to `epoch`: the key of `epoch - 1` sealed under the key of `epoch` (`CategoryKeyRotated`). */
export interface Rotation {
  readonly category: number;
  readonly epoch: number;
  readonly sealedPreviousKey: Uint8Array | Hex;
}

/**
 * What the page can ask about one patient's keys: the category keys sealed
 * to the reader and the rotations, for one category or (without it) all.
 * The page implements it with indexer queries
 * (`/v1/recipients/{me}/envelopes?patient=`, `/v1/patients/{patient}/rotations`).
 */
export interface KeySource {
  categoryEnvelopes(patient: Address, category?: number): Promise<readonly CategoryEnvelope[]>;
  rotations(patient: Address, category?: number): Promise<readonly Rotation[]>;
}

function idKey(id: CategoryKeyId): string {
  return `${getAddress(id.patient)}/${id.category}/${id.epoch}`;
}

/** Seals a 32-byte key (a category key or a data key) to a recipient's public key. */
export function sealKeyTo(key: Uint8Array, recipient: Uint8Array | Hex): Bytes {
  return seal(recipient, key);
}

/** Opens a 32-byte key sealed to `owner`. */
export function openKey(owner: EncryptionKey, sealed: Uint8Array | Hex): Bytes {
  let opened: Bytes;
  try {
    opened = open(owner.privateKey, sealed);
  } catch (cause) {
    if (cause instanceof EnvelopeError) {
      throw new KeyError('envelope', 'a key envelope does not open with this encryption key', { cause });
    }
    throw cause;
  }
  if (opened.length !== KEY_LEN) {
    throw new KeyError('envelope-contents', `a key envelope holds ${opened.length} bytes, not a 32-byte key`);
  }
  return opened;
}

/** The category keys one participant holds and the rotations they have seen. */
export class KeyRing {
  readonly #keys = new Map<string, CategoryKey>();
  readonly #rotations = new Map<string, Bytes>();

  /** An empty ring for the participant with this encryption key. */
  constructor(readonly owner: EncryptionKey) {}

  /** Adds a category key this participant made (a patient's new key). */
  insert(key: CategoryKey): void {
    this.#keys.set(idKey(key.id), key);
  }

  /** Opens and adds a category key sealed to this participant. */
  addEnvelope(id: CategoryKeyId, sealed: Uint8Array | Hex): void {
    this.insert({ id, key: openKey(this.owner, sealed) });
  }

  /** Records a rotation to `id`: the previous epoch's key sealed under the key of `id`. */
  addRotation(id: CategoryKeyId, sealedPreviousKey: Uint8Array | Hex): void {
    this.#rotations.set(idKey(id), toBytes(sealedPreviousKey));
  }

  /**
   * Adds what a {@link KeySource} has for `patient` (one category, or all):
   * envelopes that do not open for this participant are skipped, as the
   * CLI skips them (the key is looked for elsewhere).
   */
  async load(source: KeySource, patient: Address, category?: number): Promise<this> {
    const [envelopes, rotations] = await Promise.all([
      source.categoryEnvelopes(patient, category),
      source.rotations(patient, category),
    ]);
    for (const envelope of envelopes) {
      try {
        this.addEnvelope({ patient, category: envelope.category, epoch: envelope.epoch }, envelope.sealedKey);
      } catch (error) {
        if (!(error instanceof KeyError)) throw error;
      }
    }
    for (const rotation of rotations) {
      this.addRotation({ patient, category: rotation.category, epoch: rotation.epoch }, rotation.sealedPreviousKey);
    }
    return this;
  }

  /** The newest epoch of a category this ring holds the key of, if any. */
  newestEpoch(patient: Address, category: number): number | undefined {
    let newest: number | undefined;
    for (const key of this.#keys.values()) {
      if (getAddress(key.id.patient) === getAddress(patient) && key.id.category === category) {
        if (newest === undefined || key.id.epoch > newest) newest = key.id.epoch;
      }
    }
    return newest;
  }

  /**
   * The category key of `id`: held, or opened back from the nearest later
   * epoch held through the rotations in between.
   */
  async categoryKey(id: CategoryKeyId): Promise<CategoryKey> {
    let held: CategoryKey | undefined;
    for (const key of this.#keys.values()) {
      const k = key.id;
      if (getAddress(k.patient) !== getAddress(id.patient) || k.category !== id.category || k.epoch < id.epoch) continue;
      if (held === undefined || k.epoch < held.id.epoch) held = key;
    }
    const missing = () =>
      new KeyError('missing-category-key', `no key held opens the category key of ${describeCategoryKeyId(id)}`);
    if (held === undefined) throw missing();
    let key = held;
    while (key.id.epoch > id.epoch) {
      const sealed = this.#rotations.get(idKey(key.id));
      if (sealed === undefined) throw missing();
      key = await openPrevious(key, sealed);
    }
    return key;
  }

  /**
   * The data key of a record: from a record-level envelope sealed to this
   * participant if one opens, else by unwrapping its `wrappedKey` with the
   * category key of its epoch.
   */
  async recordKey(record: RecordKeys): Promise<Bytes> {
    let envelopeError: unknown;
    for (const sealed of record.envelopes ?? []) {
      try {
        return openKey(this.owner, sealed);
      } catch (error) {
        envelopeError = error;
      }
    }
    const wrapped = toBytes(record.wrappedKey);
    if (wrapped.length === 0) {
      if (envelopeError !== undefined) throw envelopeError;
      throw new KeyError('no-record-key', 'the record has no wrapped key and no envelope for this participant');
    }
    const key = await this.categoryKey({ patient: record.patient, category: record.category, epoch: record.epoch });
    return unwrapDataKey(key, wrapped);
  }
}

/**
 * The gateway's answer to `GET /v1/records/{id}/keys` (`medvault_gateway::
 * download::Grant`): the record's header and what the caller's ring needs.
 */
export interface RecordGrant {
  readonly record_id: Hex | string;
  readonly patient: Address;
  readonly category: number;
  readonly cid: string;
  readonly sha256: Hex;
  readonly wrapped_key: Hex;
  readonly epoch: number;
  readonly record_envelopes: readonly Hex[];
  readonly category_envelopes: readonly { readonly epoch: number; readonly sealed_key: Hex }[];
  readonly rotations: readonly { readonly epoch: number; readonly sealed_previous_key: Hex }[];
  readonly basis: { readonly kind: string; readonly case_id?: Hex | string };
}

/**
 * The data key of the record the gateway described in `grant`, found as
 * `medvault doctor fetch` finds it: a record envelope that opens, else the
 * category key of its epoch, reached through the rotations if need be.
 */
export async function recordKeyFromGrant(owner: EncryptionKey, grant: RecordGrant): Promise<Bytes> {
  const ring = new KeyRing(owner);
  const { patient, category } = grant;
  for (const envelope of grant.category_envelopes) {
    try {
      ring.addEnvelope({ patient, category, epoch: envelope.epoch }, envelope.sealed_key);
    } catch (error) {
      if (!(error instanceof KeyError)) throw error;
    }
  }
  for (const rotation of grant.rotations) {
    ring.addRotation({ patient, category, epoch: rotation.epoch }, rotation.sealed_previous_key);
  }
  return ring.recordKey({
    patient,
    category,
    epoch: grant.epoch,
    wrappedKey: grant.wrapped_key,
    envelopes: grant.record_envelopes,
  });
}
