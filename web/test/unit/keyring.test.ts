import type { Address, Hex } from 'viem';
import { bytesToHex } from 'viem';
import { describe, expect, it } from 'vitest';

import {
  type CategoryKey,
  type CategoryKeyId,
  EncryptionKey,
  KeyError,
  generateCategoryKey,
  generateKey,
  randomBytes,
  seal,
  sealPrevious,
  wrapDataKey,
} from '../../src/crypto';
import { type KeySource, KeyRing, recordKeyFromGrant, sealKeyTo } from '../../src/protocol';

const PATIENT: Address = '0x00000000000000000000000000000000000000aa';

function participant(): KeyRing {
  for (;;) {
    try {
      return new KeyRing(new EncryptionKey(randomBytes(32)));
    } catch {
      // A random 32 bytes above the curve order (odds 2^-128): draw again.
    }
  }
}

function id(category: number, epoch: number): CategoryKeyId {
  return { patient: PATIENT, category, epoch };
}

/** A record of `kek`'s category: its data key and `wrappedKey`. */
async function record(kek: CategoryKey) {
  const dataKey = generateKey();
  return { dataKey, wrapped: await wrapDataKey(kek, dataKey) };
}

function keys(kek: CategoryKey, wrapped: Uint8Array) {
  return { ...kek.id, wrappedKey: wrapped };
}

describe('the key ring', { timeout: 120_000 }, () => {
  it('lets the patient and a grantee reach a record through the category key', async () => {
    const patient = participant();
    const doctor = participant();
    const kek = generateCategoryKey(id(3, 0));
    patient.addEnvelope(kek.id, sealKeyTo(kek.key, patient.owner.publicKey));
    doctor.addEnvelope(kek.id, sealKeyTo(kek.key, doctor.owner.publicKey));
    const { dataKey, wrapped } = await record(kek);
    for (const reader of [patient, doctor]) {
      expect(await reader.recordKey(keys(kek, wrapped))).toEqual(dataKey);
    }
    const stranger = participant();
    await expect(stranger.recordKey(keys(kek, wrapped))).rejects.toMatchObject({ kind: 'missing-category-key' });
    expect(() => stranger.addEnvelope(kek.id, sealKeyTo(kek.key, doctor.owner.publicKey))).toThrowError(
      expect.objectContaining({ kind: 'envelope' }),
    );
  });

  it("opens the history with today's key and shuts a revoked reader out of new epochs", async () => {
    const patient = participant();
    const doctor = participant();
    const revoked = participant();
    const keks = [0, 1, 2].map((epoch) => generateCategoryKey(id(5, epoch)));
    const records = await Promise.all(keks.map(record));
    revoked.addEnvelope(keks[0]!.id, sealKeyTo(keks[0]!.key, revoked.owner.publicKey));
    for (const epoch of [1, 2]) {
      const sealed = await sealPrevious(keks[epoch]!, keks[epoch - 1]!);
      for (const ring of [patient, doctor, revoked]) ring.addRotation(keks[epoch]!.id, sealed);
    }
    patient.insert(keks[2]!);
    doctor.addEnvelope(keks[2]!.id, sealKeyTo(keks[2]!.key, doctor.owner.publicKey));
    for (const [epoch, kek] of keks.entries()) {
      for (const reader of [patient, doctor]) {
        expect(await reader.recordKey(keys(kek, records[epoch]!.wrapped)), `epoch ${epoch}`).toEqual(records[epoch]!.dataKey);
      }
    }
    // The revoked reader keeps epoch 0 (the honest limit) but not later.
    expect(await revoked.recordKey(keys(keks[0]!, records[0]!.wrapped))).toEqual(records[0]!.dataKey);
    for (const epoch of [1, 2]) {
      await expect(revoked.recordKey(keys(keks[epoch]!, records[epoch]!.wrapped))).rejects.toMatchObject({
        kind: 'missing-category-key',
      });
    }
    // A missing link in the chain is named, not guessed around.
    const gap = participant();
    gap.insert(keks[2]!);
    gap.addRotation(keks[2]!.id, await sealPrevious(keks[2]!, keks[1]!));
    expect((await gap.categoryKey(id(5, 1))).key).toEqual(keks[1]!.key);
    await expect(gap.categoryKey(id(5, 0))).rejects.toMatchObject({ kind: 'missing-category-key' });
    await expect(gap.categoryKey(id(6, 0))).rejects.toBeInstanceOf(KeyError);
    expect(gap.newestEpoch(PATIENT, 5)).toBe(2);
    expect(gap.newestEpoch(PATIENT, 6)).toBeUndefined();
  });

  it("reads a device's record through its record envelope", async () => {
    const patient = participant();
    const dataKey = generateKey();
    const envelope = seal(patient.owner.publicKey, dataKey);
    const record = { ...id(9, 0), wrappedKey: new Uint8Array(0), envelopes: [envelope] };
    expect(await patient.recordKey(record)).toEqual(dataKey);
    await expect(patient.recordKey({ ...record, envelopes: [] })).rejects.toMatchObject({ kind: 'no-record-key' });
    // An envelope for someone else, and nothing else: named as such.
    const other = participant();
    await expect(other.recordKey(record)).rejects.toMatchObject({ kind: 'envelope' });
  });

  it('lets the emergency custodian re-seal the emergency key to staff', async () => {
    const custodian = participant();
    const responder = participant();
    const kek = generateCategoryKey(id(0, 0));
    const { dataKey, wrapped } = await record(kek);
    custodian.addEnvelope(kek.id, sealKeyTo(kek.key, custodian.owner.publicKey));
    const resealed = sealKeyTo((await custodian.categoryKey(kek.id)).key, responder.owner.publicKey);
    responder.addEnvelope(kek.id, resealed);
    expect(await responder.recordKey(keys(kek, wrapped))).toEqual(dataKey);
  });

  it('refuses an envelope of the wrong size', () => {
    const reader = participant();
    expect(() => reader.addEnvelope(id(1, 0), seal(reader.owner.publicKey, new Uint8Array(31)))).toThrowError(
      expect.objectContaining({ kind: 'envelope-contents' }),
    );
  });

  it('loads from a key source, skipping envelopes that are not its own', async () => {
    const doctor = participant();
    const keks = [0, 1].map((epoch) => generateCategoryKey(id(4, epoch)));
    const source: KeySource = {
      async categoryEnvelopes(patient, category) {
        expect(patient).toBe(PATIENT);
        expect(category).toBe(4);
        return [
          { category: 4, epoch: 1, sealedKey: bytesToHex(sealKeyTo(keks[1]!.key, doctor.owner.publicKey)) },
          { category: 4, epoch: 0, sealedKey: bytesToHex(sealKeyTo(keks[0]!.key, participant().owner.publicKey)) },
        ];
      },
      async rotations() {
        return [{ category: 4, epoch: 1, sealedPreviousKey: await sealPrevious(keks[1]!, keks[0]!) }];
      },
    };
    await doctor.load(source, PATIENT, 4);
    const { dataKey, wrapped } = await record(keks[0]!);
    expect(await doctor.recordKey(keys(keks[0]!, wrapped))).toEqual(dataKey);
  });

  it("finds the data key from the gateway's answer to GET /v1/records/{id}/keys", async () => {
    const doctor = participant();
    const keks = [0, 1].map((epoch) => generateCategoryKey(id(2, epoch)));
    const { dataKey, wrapped } = await record(keks[0]!);
    const hexOf = (bytes: Uint8Array): Hex => bytesToHex(bytes);
    // The JSON as serde writes `medvault_gateway::download::Grant`.
    const grant = JSON.parse(
      JSON.stringify({
        record_id: '0x7',
        patient: PATIENT,
        category: 2,
        cid: 'bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku',
        sha256: `0x${'11'.repeat(32)}`,
        wrapped_key: hexOf(wrapped),
        epoch: 0,
        record_envelopes: [],
        category_envelopes: [{ epoch: 1, sealed_key: hexOf(sealKeyTo(keks[1]!.key, doctor.owner.publicKey)) }],
        rotations: [{ epoch: 1, sealed_previous_key: hexOf(await sealPrevious(keks[1]!, keks[0]!)) }],
        basis: { kind: 'grant' },
      }),
    );
    expect(await recordKeyFromGrant(doctor.owner, grant)).toEqual(dataKey);
    await expect(recordKeyFromGrant(participant().owner, grant)).rejects.toMatchObject({ kind: 'missing-category-key' });
  });
});
