// The keys the signed-in account holds, as the CLI's keychain gathers them
// (cli/src/keychain.rs): the encryption key derived from a wallet signature;
// the category keys sealed to the account (indexer envelopes), walked back
// through rotations; the patient's own key management (make, share, rotate).
// The cryptography is ./crypto's; this module only finds and publishes keys.

import { type Address, type Hex, bytesToHex, getAddress } from 'viem';
import type { App } from './app';
import { medVaultAbi } from './chain';
import {
  type CategoryKey,
  type CategoryKeyId,
  type EncryptionKey,
  KeyError,
  deriveEncryptionKey,
  encryptionKeyMessage,
  generateCategoryKey,
  parsePublicKey,
  sealPrevious,
} from './crypto';
import { UserError } from './errors';
import type { Relayed, RecordKeys } from './gateway';
import { type Item, num, text } from './indexer';
import { KeyRing, type KeySource, type RecordGrant, recordKeyFromGrant, sealKeyTo } from './protocol';

/** The indexer as the key ring's source: envelopes sealed to `recipient`, and rotations. */
function indexerSource(app: App, recipient: Address): KeySource {
  return {
    async categoryEnvelopes(patient, category) {
      const query: Record<string, string> = { patient: patient.toLowerCase() };
      if (category !== undefined) query.category = String(category);
      const items = await app.indexer.list(`/v1/recipients/${recipient.toLowerCase()}/envelopes`, query);
      return items
        .filter((item) => item.category !== null && item.category !== undefined && text(item, 'sealedKey'))
        .map((item) => ({ category: num(item, 'category'), epoch: num(item, 'epoch'), sealedKey: text(item, 'sealedKey') as Hex }));
    },
    async rotations(patient, category) {
      const query: Record<string, string> = category === undefined ? {} : { category: String(category) };
      const items = await app.indexer.list(`/v1/patients/${patient.toLowerCase()}/rotations`, query);
      return items.map((item) => ({ category: num(item, 'category'), epoch: num(item, 'epoch'), sealedPreviousKey: text(item, 'sealedPreviousKey') as Hex }));
    },
  };
}

/** The key of `id` from `ring`, or null when no key held opens it. */
async function held(ring: KeyRing, id: CategoryKeyId): Promise<CategoryKey | null> {
  try {
    return await ring.categoryKey(id);
  } catch (error) {
    if (error instanceof KeyError) return null;
    throw error;
  }
}

/** The account's keys for a session; forgotten on sign-out. */
export class Keys {
  private encryption: EncryptionKey | null = null;

  constructor(private readonly app: App) {}

  /** The account's encryption key: one wallet signature, once per session. */
  async encryptionKey(): Promise<EncryptionKey> {
    if (this.encryption) return this.encryption;
    const { config, wallet, account } = this.app;
    const typed = encryptionKeyMessage(config.chainId, config.contract, account);
    const signature = await wallet.walletClient.signTypedData({ account, ...typed });
    this.encryption = await deriveEncryptionKey(signature, config.chainId, config.contract, account);
    return this.encryption;
  }

  /** Overwrites the encryption key's secret. */
  forget(): void {
    this.encryption?.forget();
    this.encryption = null;
  }

  /** The account's ring for `patient`'s categories, from the indexer. */
  async ring(patient: Address): Promise<KeyRing> {
    const ring = new KeyRing(await this.encryptionKey());
    return ring.load(indexerSource(this.app, this.app.account), patient);
  }

  /** The record's data key from what the gateway gave the reader. */
  async recordKey(keys: RecordKeys): Promise<Uint8Array> {
    const owner = await this.encryptionKey();
    try {
      return await recordKeyFromGrant(owner, keys as unknown as RecordGrant);
    } catch (error) {
      if (error instanceof KeyError) {
        throw new UserError(`No key for record ${keys.record_id} is sealed to you (${error.message}).`);
      }
      throw error;
    }
  }

  /** The on-chain epoch of a patient's category. */
  epoch(patient: Address, category: number): Promise<number> {
    return this.app.wallet.publicClient.readContract({
      address: this.app.config.contract,
      abi: medVaultAbi,
      functionName: 'categoryEpoch',
      args: [patient, category],
    });
  }

  /**
   * The current key of `patient`'s `category` as the patient holds it; made
   * and sealed to the patient when the category has none yet.
   */
  async currentKey(patient: Address, category: number): Promise<{ key: CategoryKey; made?: Relayed }> {
    const epoch = await this.epoch(patient, category);
    const id = { patient, category, epoch };
    const existing = await held(await this.ring(patient), id);
    if (existing) return { key: existing };
    if (epoch > 0) {
      throw new UserError(`No key for category ${category} epoch ${epoch} is sealed to you: rotate the category to make a new one.`);
    }
    const key = generateCategoryKey(id);
    const made = await this.publish(key, this.app.account);
    return { key, made };
  }

  /** Seals `key` to `recipient`'s registered encryption key and publishes it. */
  async publish(key: CategoryKey, recipient: Address): Promise<Relayed> {
    const { app } = this;
    let publicKey: Uint8Array;
    if (getAddress(recipient) === app.account) {
      publicKey = (await this.encryptionKey()).publicKey;
    } else {
      const registered = await app.wallet.publicClient.readContract({
        address: app.config.contract,
        abi: medVaultAbi,
        functionName: 'encryptionKey',
        args: [recipient],
      });
      if (!registered || registered === '0x') throw new UserError(`${recipient} has no encryption key on chain, so nothing can be sealed to them.`);
      publicKey = parsePublicKey(registered);
    }
    const sealed = bytesToHex(sealKeyTo(key.key, publicKey));
    return app.actor.publishCategoryKey(key.id.patient, key.id.category, key.id.epoch, recipient, sealed);
  }

  /** Seals the current key of each category to `grantee` (making missing ones). */
  async share(patient: Address, grantee: Address, categories: number[]): Promise<void> {
    for (const category of categories) {
      const { key } = await this.currentKey(patient, category);
      await this.publish(key, grantee);
    }
  }

  /**
   * Moves a category to a new epoch: a new key, the previous one sealed
   * under it, the new key sealed to the patient and to every grantee that
   * still has access.
   */
  async rotate(patient: Address, category: number, grantees: Address[]): Promise<CategoryKey> {
    const { app } = this;
    const { key: previous } = await this.currentKey(patient, category);
    const next = generateCategoryKey({ patient, category, epoch: previous.id.epoch + 1 });
    const sealed = bytesToHex(await sealPrevious(next, previous));
    await app.actor.rotateCategoryKey(patient, category, sealed);
    await this.publish(next, app.account);
    for (const grantee of grantees) {
      if (getAddress(grantee) === app.account) continue;
      const access = await app.wallet.publicClient.readContract({
        address: app.config.contract,
        abi: medVaultAbi,
        functionName: 'hasAccess',
        args: [patient, grantee, category],
      });
      if (access) await this.publish(next, grantee);
    }
    return next;
  }

  /** The categories that hold a key the account can open (for revoke's rotation). */
  async holds(patient: Address, category: number): Promise<boolean> {
    const epoch = await this.epoch(patient, category);
    return (await held(await this.ring(patient), { patient, category, epoch })) !== null;
  }
}

/** Live grantees of a patient's category grants. */
export function liveGrantees(grants: Item[]): Address[] {
  return grants.filter((g) => text(g, 'status') === 'live').map((g) => getAddress(text(g, 'grantee')));
}
