// The keys the signed-in account holds, as the CLI's keychain gathers them
// (cli/src/keychain.rs): the encryption key derived from a wallet signature;
// the category keys sealed to the account (indexer envelopes), walked back
// through rotations; the patient's own key management (make, share, rotate).
// The cryptography is ./crypto's; this module only finds and publishes keys.
//
// Sharing and rotating take several signatures, any of which a person may
// decline (or a tab close, or a service fail) after the first has landed.
// What is left undone is read back from the chain alone: `unfinishedSteps`
// compares who may read each category now with who holds its current key,
// and `Keys.finish` signs what is missing. Approving, granting and revoking
// run the same two functions after their first signature, so finishing later
// is the normal path resumed.

import { type Address, type Hex, bytesToHex, getAddress, hexToBytes, isAddressEqual } from 'viem';
import type { App } from './app';
import { categoryName, medVaultAbi } from './chain';
import {
  type CategoryKey,
  type CategoryKeyId,
  type EncryptionKey,
  KeyError,
  deriveEncryptionKey,
  encryptionKeyMessage,
  generateCategoryKey,
  openPrevious,
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
  /**
   * Keys of rotations signed in this session, until they are sealed to the
   * account: a rotation whose sealing failed after it landed is finished
   * with them (nobody else holds them).
   */
  private readonly unsealed = new Map<string, CategoryKey>();

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

  /** Overwrites the encryption key's secret and drops the keys held for finishing. */
  forget(): void {
    this.encryption?.forget();
    this.encryption = null;
    this.unsealed.clear();
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

  /**
   * What the indexer tells of `patient`'s category keys and of who may hold
   * them: the grants, and from the patient's trail the category envelopes,
   * the rotations and the guardians.
   */
  async facts(patient: Address): Promise<KeyFacts> {
    const me = patient.toLowerCase();
    const [grants, trail] = await Promise.all([
      this.app.indexer.list(`/v1/patients/${me}/grants`),
      this.app.indexer.list(`/v1/patients/${me}/audit`, {}, TRAIL_MAX_ITEMS),
    ]);
    return keyFacts(patient, grants, trail, Math.floor(Date.now() / 1000));
  }

  /**
   * Seals the current key of each of `categories` to `grantee`, as `medvault
   * patient grant` and `approve` do: a category without a key gets one
   * (sealed to the patient first, so that later uploads are readable too),
   * then every key the grantee may read and lacks is sealed to them. A
   * category whose current key someone no longer entitled still holds is
   * rotated instead, which seals the new key to the grantee too.
   */
  async share(patient: Address, grantee: Address, categories: number[], onStep: (step: UnfinishedStep) => void = () => {}): Promise<void> {
    let facts = await this.facts(patient);
    const keyless = categories.filter((category) => !hasKey(facts, category));
    for (const category of keyless) await this.currentKey(patient, category);
    if (keyless.length) {
      await this.app.caughtUp();
      facts = await this.facts(patient);
    }
    const steps = unfinishedSteps(facts).filter((step) =>
      step.kind === 'share' ? isAddressEqual(step.grantee, grantee) : step.kind === 'rotate' && categories.includes(step.category),
    );
    await this.finish(facts, steps, onStep);
  }

  /** Rotates every category whose current key someone no longer entitled holds (after a revocation). */
  async rotateStale(patient: Address, onStep: (step: UnfinishedStep) => void = () => {}): Promise<void> {
    const facts = await this.facts(patient);
    await this.finish(
      facts,
      unfinishedSteps(facts).filter((step) => step.kind === 'rotate'),
      onStep,
    );
  }

  /**
   * Signs what `steps` (from {@link unfinishedSteps} over `facts`) say is
   * missing: rotations first (each seals the new key to every grantee who
   * may read it), then the current keys grantees lack.
   */
  async finish(facts: KeyFacts, steps: UnfinishedStep[], onStep: (step: UnfinishedStep) => void = () => {}): Promise<void> {
    const { patient } = facts;
    const order = { unsealed: 0, rotate: 1, share: 2 } as const;
    for (const step of [...steps].sort((a, b) => order[a.kind] - order[b.kind])) {
      onStep(step);
      switch (step.kind) {
        case 'unsealed':
          await this.sealUnsealed(patient, step.category, step.epoch);
          break;
        case 'rotate':
          await this.rotate(patient, step.category, readersOf(facts, step.category));
          break;
        case 'share': {
          const key = await held(await this.ring(patient), { patient, category: step.category, epoch: step.epoch });
          if (!key) throw new UserError(`The key of ${categoryName(step.category)} epoch ${step.epoch} is not sealed to you, so it cannot be shared.`);
          await this.publish(key, step.grantee);
          break;
        }
      }
    }
  }

  /**
   * Moves a category to a new epoch: a new key, the previous one sealed
   * under it, the new key sealed to the patient and to every grantee that
   * still has access. The rotation and the patient's copy of the new key
   * are signed together before either is sent, so a declined signature
   * leaves the category as it was rather than with a key nobody holds.
   */
  async rotate(patient: Address, category: number, grantees: Address[]): Promise<CategoryKey> {
    const { app } = this;
    const { key: previous } = await this.currentKey(patient, category);
    const next = generateCategoryKey({ patient, category, epoch: previous.id.epoch + 1 });
    const sealedPreviousKey = bytesToHex(await sealPrevious(next, previous));
    const mine = bytesToHex(sealKeyTo(next.key, (await this.encryptionKey()).publicKey));
    const signed = await app.actor.signAll([
      { type: 'RotateCategoryKey', patient, category, sealedPreviousKey },
      { type: 'PublishCategoryKey', patient, category, epoch: next.id.epoch, recipient: app.account, sealedKey: mine },
    ]);
    this.unsealed.set(keyName(next.id), next);
    await app.actor.sendAll(signed);
    this.unsealed.delete(keyName(next.id));
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

  /**
   * Seals to the account the key of a rotation this session made but did
   * not seal, once the rotation on chain proves it is that key (the
   * previous key sealed under it opens).
   */
  private async sealUnsealed(patient: Address, category: number, epoch: number): Promise<void> {
    const key = this.unsealed.get(keyName({ patient, category, epoch }));
    const rotations = await this.app.indexer.list(`/v1/patients/${patient.toLowerCase()}/rotations`, { category: String(category) });
    const rotation = rotations.find((r) => num(r, 'epoch') === epoch);
    let proven = false;
    if (key && rotation) {
      try {
        await openPrevious(key, hexToBytes(text(rotation, 'sealedPreviousKey') as Hex));
        proven = true;
      } catch (error) {
        if (!(error instanceof KeyError)) throw error;
      }
    }
    if (!proven || !key) {
      throw new UserError(
        `The key of ${categoryName(category)} epoch ${epoch} was made in a session that ended before it was sealed to you, so this page cannot recover it; records of ${categoryName(category)} cannot be added until a key of a new epoch is.`,
      );
    }
    await this.publish(key, this.app.account);
    this.unsealed.delete(keyName(key.id));
  }
}

/** The most trail events read to find the envelopes: the trail also lists every access-log anchor. */
const TRAIL_MAX_ITEMS = 100_000;

function keyName(id: CategoryKeyId): string {
  return `${getAddress(id.patient)}/${id.category}/${id.epoch}`;
}

/** A category grant as the indexer lists it (its newest row per grantee). */
export interface GrantFact {
  grantee: Address;
  /** `live`, `expired` or `revoked`, as the indexer reckons it at its head's time. */
  status: string;
  readMask: bigint;
  /** Unix seconds. */
  expiry: number;
}

/** A guardian's newest powers (0 once removed). */
export interface GuardianFact {
  guardian: Address;
  powers: number;
}

/** A category key sealed to `recipient` (a `CategoryKeyPublished` event). */
export interface EnvelopeFact {
  recipient: Address;
  category: number;
  epoch: number;
}

/** A rotation of `category` to `epoch` (a `CategoryKeyRotated` event). */
export interface RotationFact {
  category: number;
  epoch: number;
}

/** What {@link unfinishedSteps} reads: one patient's grants, guardians, envelopes and rotations. */
export interface KeyFacts {
  patient: Address;
  /** Unix seconds: a grant past its expiry is expired whatever the indexer's head says. */
  now: number;
  grants: GrantFact[];
  guardians: GuardianFact[];
  envelopes: EnvelopeFact[];
  rotations: RotationFact[];
}

/** Why a holder of a category's current key should no longer hold it. */
export type StaleReason = 'revoked' | 'expired' | 'out-of-scope' | 'guardian-removed' | 'guardian-cannot-read';

/** A step left undone, found by {@link unfinishedSteps}. */
export type UnfinishedStep =
  /** A live grantee may read `category` but lacks its current key. */
  | { kind: 'share'; category: number; epoch: number; grantee: Address }
  /** Someone no longer entitled holds the current key of `category`: it needs a new epoch. */
  | { kind: 'rotate'; category: number; epoch: number; holders: { address: Address; why: StaleReason }[] }
  /** The current key of `category` (after a rotation) was never sealed to the patient. */
  | { kind: 'unsealed'; category: number; epoch: number };

/**
 * Gathers {@link KeyFacts} from the indexer's items: `/v1/patients/{p}/grants`
 * and `/v1/patients/{p}/audit` (its `CategoryKeyPublished`,
 * `CategoryKeyRotated`, `GuardianSet` and `GuardianRemoved` events, in chain
 * order).
 */
export function keyFacts(patient: Address, grants: Item[], trail: Item[], now: number): KeyFacts {
  const guardians = new Map<string, GuardianFact>();
  const envelopes: EnvelopeFact[] = [];
  const rotations: RotationFact[] = [];
  for (const event of trail) {
    const data = (event.data ?? {}) as Item;
    switch (text(event, 'event')) {
      case 'CategoryKeyPublished':
        if (!isAddressEqual(getAddress(text(data, 'patient')), patient)) break;
        envelopes.push({ recipient: getAddress(text(data, 'recipient')), category: num(data, 'category'), epoch: num(data, 'epoch') });
        break;
      case 'CategoryKeyRotated':
        rotations.push({ category: num(data, 'category'), epoch: num(data, 'epoch') });
        break;
      case 'GuardianSet':
      case 'GuardianRemoved': {
        const guardian = getAddress(text(data, 'guardian'));
        guardians.set(guardian, { guardian, powers: text(event, 'event') === 'GuardianSet' ? num(data, 'powers') : 0 });
        break;
      }
    }
  }
  return {
    patient: getAddress(patient),
    now,
    grants: grants.map((g) => ({
      grantee: getAddress(text(g, 'grantee')),
      status: text(g, 'status'),
      readMask: BigInt(text(g, 'readMask') || '0'),
      expiry: num(g, 'expiry'),
    })),
    guardians: [...guardians.values()],
    envelopes,
    rotations,
  };
}

/** A category's current epoch: its newest rotation's, else 0. */
function epochOf(facts: KeyFacts, category: number): number {
  return facts.rotations.reduce((epoch, r) => (r.category === category ? Math.max(epoch, r.epoch) : epoch), 0);
}

/** Whether a category has a key: rotated, or its first key published. */
export function hasKey(facts: KeyFacts, category: number): boolean {
  return epochOf(facts, category) > 0 || facts.envelopes.some((e) => e.category === category);
}

/** How a grant stands: the indexer's status, and expired once its expiry has passed. */
function standing(grant: GrantFact, now: number): 'live' | 'expired' | 'revoked' {
  if (grant.status === 'revoked') return 'revoked';
  if (grant.status === 'expired' || grant.expiry <= now) return 'expired';
  return 'live';
}

function reads(grant: GrantFact, category: number): boolean {
  return ((grant.readMask >> BigInt(category)) & 1n) === 1n;
}

/** The live grantees who may read `category`. */
export function readersOf(facts: KeyFacts, category: number): Address[] {
  return facts.grants.filter((g) => standing(g, facts.now) === 'live' && reads(g, category)).map((g) => g.grantee);
}

/**
 * Why `holder` should no longer hold `category`'s key, or null when they may
 * (the patient, a live grantee of the category, a guardian with the read
 * power) or when the facts do not say who they are (the emergency
 * custodian, staff of a break-glass case: not judged here).
 */
function staleness(facts: KeyFacts, holder: Address, category: number): StaleReason | null {
  if (isAddressEqual(holder, facts.patient)) return null;
  const grant = facts.grants.find((g) => isAddressEqual(g.grantee, holder));
  const guardian = facts.guardians.find((g) => isAddressEqual(g.guardian, holder));
  if (guardian && guardian.powers & 2) return null;
  if (grant) {
    const state = standing(grant, facts.now);
    if (state === 'live') return reads(grant, category) ? null : 'out-of-scope';
    return state;
  }
  if (guardian) return guardian.powers === 0 ? 'guardian-removed' : 'guardian-cannot-read';
  return null;
}

/**
 * The steps a patient's multi-signature actions left undone, from the
 * chain's facts alone, per category that has a key (in category order):
 *
 * - `unsealed`: the current epoch's key is not sealed to the patient (a
 *   rotation stopped after it landed); nothing else of the category can be
 *   done until it is;
 * - `rotate`: someone no longer entitled (a revoked or expired grantee, a
 *   grantee whose scope dropped the category, a removed guardian) holds the
 *   current epoch's key;
 * - `share`: a live grantee who may read the category lacks its current
 *   epoch's key (not listed for a category that needs a rotation: the
 *   rotation seals the new key to every live grantee).
 *
 * Empty when everything is consistent.
 */
export function unfinishedSteps(facts: KeyFacts): UnfinishedStep[] {
  const steps: UnfinishedStep[] = [];
  const categories = [...new Set([...facts.envelopes.map((e) => e.category), ...facts.rotations.map((r) => r.category)])].sort((a, b) => a - b);
  for (const category of categories) {
    const epoch = epochOf(facts, category);
    const holders = facts.envelopes.filter((e) => e.category === category && e.epoch === epoch).map((e) => e.recipient);
    const holds = (who: Address) => holders.some((h) => isAddressEqual(h, who));
    if (!holds(facts.patient)) {
      steps.push({ kind: 'unsealed', category, epoch });
      continue;
    }
    const stale: { address: Address; why: StaleReason }[] = [];
    for (const holder of holders) {
      const why = staleness(facts, holder, category);
      if (why && !stale.some((s) => isAddressEqual(s.address, holder))) stale.push({ address: holder, why });
    }
    if (stale.length) {
      steps.push({ kind: 'rotate', category, epoch, holders: stale });
      continue;
    }
    for (const grantee of readersOf(facts, category)) {
      if (!holds(grantee)) steps.push({ kind: 'share', category, epoch, grantee });
    }
  }
  return steps;
}

/** The words a holder's staleness reads as. */
const STALE_WORDS: Record<StaleReason, string> = {
  revoked: 'whose access was revoked',
  expired: 'whose access expired',
  'out-of-scope': 'whose grant no longer covers it',
  'guardian-removed': 'a removed guardian',
  'guardian-cannot-read': 'a guardian without the read power',
};

/** One sentence for a step, as the "Unfinished steps" card shows it (`name` shortens an address). */
export function describeStep(step: UnfinishedStep, name: (address: Address) => string = (a) => a): string {
  const category = categoryName(step.category);
  switch (step.kind) {
    case 'share':
      return `${name(step.grantee)} may read ${category} but has not been given its current key (epoch ${step.epoch}), so they cannot open those records yet.`;
    case 'rotate': {
      const who = step.holders.map((h) => `${name(h.address)}, ${STALE_WORDS[h.why]},`).join(' and ');
      return `${who} still ${step.holders.length === 1 ? 'holds' : 'hold'} the current key of ${category} (epoch ${step.epoch}): ${category} needs a new key that they do not get.`;
    }
    case 'unsealed':
      return `The new key of ${category} (epoch ${step.epoch}) was never sealed to you, so records of ${category} cannot be added or shared until it is.`;
  }
}
