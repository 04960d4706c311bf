// The detection of what a patient's multi-signature actions left undone
// (keychain.ts `unfinishedSteps`), over facts as the indexer gives them.
import { type Address, getAddress } from 'viem';
import { describe, expect, it } from 'vitest';

import type { Item } from '../../src/indexer';
import {
  type EnvelopeFact,
  type GrantFact,
  type KeyFacts,
  describeStep,
  hasKey,
  keyFacts,
  readersOf,
  unfinishedSteps,
} from '../../src/keychain';

const PATIENT: Address = getAddress('0x00000000000000000000000000000000000000Aa');
const DOCTOR: Address = getAddress('0x000000000000000000000000000000000000d0C7');
const NURSE: Address = getAddress('0x0000000000000000000000000000000000000Bb1');
const GUARDIAN: Address = getAddress('0x0000000000000000000000000000000000000Cc2');
const CUSTODIAN: Address = getAddress('0x0000000000000000000000000000000000000Ee3');

const NOW = 1_900_000_000;
const LABS = 2;
const IMAGING = 3;
const VITALS = 1;

const mask = (...categories: number[]) => categories.reduce((m, c) => m | (1n << BigInt(c)), 0n);

function grant(grantee: Address, status: string, ...categories: number[]): GrantFact {
  return { grantee, status, readMask: mask(...categories), expiry: NOW + 86_400 };
}

function sealed(recipient: Address, category: number, epoch = 0): EnvelopeFact {
  return { recipient, category, epoch };
}

function facts(parts: Partial<KeyFacts>): KeyFacts {
  return { patient: PATIENT, now: NOW, grants: [], guardians: [], envelopes: [], rotations: [], ...parts };
}

describe('unfinishedSteps', () => {
  it('finds nothing when every live grantee holds the current keys', () => {
    const f = facts({
      grants: [grant(DOCTOR, 'live', LABS, IMAGING)],
      envelopes: [sealed(PATIENT, LABS), sealed(DOCTOR, LABS), sealed(PATIENT, IMAGING, 1), sealed(DOCTOR, IMAGING, 1)],
      rotations: [{ category: IMAGING, epoch: 1 }],
    });
    expect(unfinishedSteps(f)).toEqual([]);
  });

  it('finds nothing for a patient with no keys, or a grant of a category without a key', () => {
    expect(unfinishedSteps(facts({}))).toEqual([]);
    expect(unfinishedSteps(facts({ grants: [grant(DOCTOR, 'live', LABS)] }))).toEqual([]);
  });

  it('finds a live grantee without the current key (an approval whose key signature was declined)', () => {
    const f = facts({ grants: [grant(DOCTOR, 'live', LABS)], envelopes: [sealed(PATIENT, LABS)] });
    expect(unfinishedSteps(f)).toEqual([{ kind: 'share', category: LABS, epoch: 0, grantee: DOCTOR }]);
  });

  it('wants the current epoch, not an older one', () => {
    const f = facts({
      grants: [grant(DOCTOR, 'live', LABS)],
      envelopes: [sealed(PATIENT, LABS, 0), sealed(DOCTOR, LABS, 0), sealed(PATIENT, LABS, 1)],
      rotations: [{ category: LABS, epoch: 1 }],
    });
    expect(unfinishedSteps(f)).toEqual([{ kind: 'share', category: LABS, epoch: 1, grantee: DOCTOR }]);
  });

  it('finds a revoked grantee still holding the current key (a revocation whose rotation was declined)', () => {
    const f = facts({
      grants: [grant(DOCTOR, 'revoked', LABS), grant(NURSE, 'live', LABS)],
      envelopes: [sealed(PATIENT, LABS), sealed(DOCTOR, LABS), sealed(NURSE, LABS)],
    });
    expect(unfinishedSteps(f)).toEqual([{ kind: 'rotate', category: LABS, epoch: 0, holders: [{ address: DOCTOR, why: 'revoked' }] }]);
    expect(readersOf(f, LABS)).toEqual([NURSE]);
  });

  it('is done once the rotation sealed the new key to the patient and the remaining grantees', () => {
    const f = facts({
      grants: [grant(DOCTOR, 'revoked', LABS), grant(NURSE, 'live', LABS)],
      envelopes: [sealed(PATIENT, LABS), sealed(DOCTOR, LABS), sealed(NURSE, LABS), sealed(PATIENT, LABS, 1), sealed(NURSE, LABS, 1)],
      rotations: [{ category: LABS, epoch: 1 }],
    });
    expect(unfinishedSteps(f)).toEqual([]);
  });

  it('lists the shares a rotation stopped before, once the patient holds the new key', () => {
    const f = facts({
      grants: [grant(DOCTOR, 'revoked', LABS), grant(NURSE, 'live', LABS)],
      envelopes: [sealed(PATIENT, LABS), sealed(DOCTOR, LABS), sealed(NURSE, LABS), sealed(PATIENT, LABS, 1)],
      rotations: [{ category: LABS, epoch: 1 }],
    });
    expect(unfinishedSteps(f)).toEqual([{ kind: 'share', category: LABS, epoch: 1, grantee: NURSE }]);
  });

  it('finds an expired grantee holding the current key, by the indexer or by the clock', () => {
    const byIndexer = facts({ grants: [grant(DOCTOR, 'expired', LABS)], envelopes: [sealed(PATIENT, LABS), sealed(DOCTOR, LABS)] });
    expect(unfinishedSteps(byIndexer)).toEqual([{ kind: 'rotate', category: LABS, epoch: 0, holders: [{ address: DOCTOR, why: 'expired' }] }]);
    // A quiet chain: the indexer's head time lags, its status still says live.
    const byClock = facts({
      grants: [{ ...grant(DOCTOR, 'live', LABS), expiry: NOW - 1 }],
      envelopes: [sealed(PATIENT, LABS), sealed(DOCTOR, LABS)],
    });
    expect(unfinishedSteps(byClock)).toEqual([{ kind: 'rotate', category: LABS, epoch: 0, holders: [{ address: DOCTOR, why: 'expired' }] }]);
    // An expired grantee without the key is owed nothing.
    expect(unfinishedSteps(facts({ grants: [grant(DOCTOR, 'expired', LABS)], envelopes: [sealed(PATIENT, LABS)] }))).toEqual([]);
  });

  it('does not rotate for a revoked grantee who never got the key', () => {
    const f = facts({ grants: [grant(DOCTOR, 'revoked', LABS)], envelopes: [sealed(PATIENT, LABS)] });
    expect(unfinishedSteps(f)).toEqual([]);
  });

  it('finds a live grantee whose scope no longer covers a category they hold', () => {
    const f = facts({ grants: [grant(DOCTOR, 'live', IMAGING)], envelopes: [sealed(PATIENT, LABS), sealed(DOCTOR, LABS)] });
    expect(unfinishedSteps(f)).toEqual([{ kind: 'rotate', category: LABS, epoch: 0, holders: [{ address: DOCTOR, why: 'out-of-scope' }] }]);
  });

  it('finds a removed guardian or one without the read power, and leaves a read guardian and unknown holders alone', () => {
    const envelopes = [sealed(PATIENT, LABS), sealed(GUARDIAN, LABS), sealed(CUSTODIAN, LABS)];
    expect(unfinishedSteps(facts({ guardians: [{ guardian: GUARDIAN, powers: 3 }], envelopes }))).toEqual([]);
    expect(unfinishedSteps(facts({ guardians: [{ guardian: GUARDIAN, powers: 0 }], envelopes }))).toEqual([
      { kind: 'rotate', category: LABS, epoch: 0, holders: [{ address: GUARDIAN, why: 'guardian-removed' }] },
    ]);
    expect(unfinishedSteps(facts({ guardians: [{ guardian: GUARDIAN, powers: 1 }], envelopes }))[0]).toMatchObject({
      holders: [{ address: GUARDIAN, why: 'guardian-cannot-read' }],
    });
  });

  it('finds a rotation whose new key was never sealed to the patient, and nothing else of that category', () => {
    const f = facts({
      grants: [grant(DOCTOR, 'revoked', LABS), grant(NURSE, 'live', LABS)],
      envelopes: [sealed(PATIENT, LABS), sealed(DOCTOR, LABS), sealed(NURSE, LABS)],
      rotations: [{ category: LABS, epoch: 1 }],
    });
    expect(unfinishedSteps(f)).toEqual([{ kind: 'unsealed', category: LABS, epoch: 1 }]);
  });

  it('handles several categories at once, each on its own, in category order', () => {
    const f = facts({
      grants: [grant(DOCTOR, 'revoked', LABS, IMAGING), grant(NURSE, 'live', VITALS, LABS, IMAGING)],
      envelopes: [
        sealed(PATIENT, VITALS),
        sealed(PATIENT, LABS),
        sealed(DOCTOR, LABS),
        sealed(NURSE, LABS),
        sealed(PATIENT, IMAGING, 0),
        sealed(DOCTOR, IMAGING, 0),
        sealed(PATIENT, IMAGING, 1),
        sealed(NURSE, IMAGING, 1),
      ],
      rotations: [{ category: IMAGING, epoch: 1 }],
    });
    expect(unfinishedSteps(f)).toEqual([
      { kind: 'share', category: VITALS, epoch: 0, grantee: NURSE },
      { kind: 'rotate', category: LABS, epoch: 0, holders: [{ address: DOCTOR, why: 'revoked' }] },
    ]);
    expect(hasKey(f, VITALS)).toBe(true);
    expect(hasKey(f, 5)).toBe(false);
  });

  it('treats an all-categories grant as covering each category with a key', () => {
    const f = facts({ grants: [{ ...grant(DOCTOR, 'live'), readMask: 2n ** 64n - 1n }], envelopes: [sealed(PATIENT, LABS), sealed(PATIENT, IMAGING)] });
    expect(unfinishedSteps(f).map((s) => s.category)).toEqual([LABS, IMAGING]);
  });
});

describe('keyFacts', () => {
  const at = { blockNumber: 1, blockTime: NOW - 10 };
  const trail: Item[] = [
    { event: 'GuardianSet', data: { patient: PATIENT.toLowerCase(), guardian: GUARDIAN.toLowerCase(), powers: 3 }, at },
    { event: 'CategoryKeyPublished', data: { patient: PATIENT.toLowerCase(), recipient: PATIENT.toLowerCase(), category: LABS, epoch: 0 }, at },
    { event: 'CategoryKeyPublished', data: { patient: PATIENT.toLowerCase(), recipient: DOCTOR.toLowerCase(), category: LABS, epoch: 0 }, at },
    { event: 'AccessLogAnchored', data: { sequence: 4 }, at },
    { event: 'CategoryKeyRotated', data: { patient: PATIENT.toLowerCase(), category: LABS, epoch: 1 }, at },
    { event: 'GuardianRemoved', data: { patient: PATIENT.toLowerCase(), guardian: GUARDIAN.toLowerCase() }, at },
  ];
  const grants: Item[] = [{ patient: PATIENT.toLowerCase(), grantee: DOCTOR.toLowerCase(), status: 'revoked', readMask: '4', writeMask: '0', expiry: NOW + 5 }];

  it('reads the grants, envelopes, rotations and guardians of the indexer’s items', () => {
    const f = keyFacts(PATIENT, grants, trail, NOW);
    expect(f.grants).toEqual([{ grantee: DOCTOR, status: 'revoked', readMask: 4n, expiry: NOW + 5 }]);
    expect(f.envelopes).toEqual([sealed(PATIENT, LABS), sealed(DOCTOR, LABS)]);
    expect(f.rotations).toEqual([{ category: LABS, epoch: 1 }]);
    expect(f.guardians).toEqual([{ guardian: GUARDIAN, powers: 0 }]);
    expect(unfinishedSteps(f)).toEqual([{ kind: 'unsealed', category: LABS, epoch: 1 }]);
  });
});

describe('describeStep', () => {
  it('says each step in one sentence', () => {
    expect(describeStep({ kind: 'share', category: LABS, epoch: 0, grantee: DOCTOR })).toBe(
      `${DOCTOR} may read labs but has not been given its current key (epoch 0), so they cannot open those records yet.`,
    );
    expect(describeStep({ kind: 'rotate', category: LABS, epoch: 2, holders: [{ address: DOCTOR, why: 'revoked' }] }, () => 'Dr')).toBe(
      'Dr, whose access was revoked, still holds the current key of labs (epoch 2): labs needs a new key that they do not get.',
    );
    expect(describeStep({ kind: 'unsealed', category: IMAGING, epoch: 1 })).toContain('new key of imaging (epoch 1) was never sealed to you');
  });
});
