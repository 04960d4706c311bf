import { type Address, type Hex, getAddress, keccak256, recoverTypedDataAddress, toFunctionSelector, toHex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { describe, expect, it } from 'vitest';

import {
  ACTION_NAMES,
  ACTION_TYPES,
  type Action,
  type ActionName,
  type Authorisation,
  ENVELOPE_TYPE,
  actionDigest,
  actionTypedData,
  bySigFunction,
  forwarderAbi,
  forwarderDomain,
  relayCalldata,
} from '../../src/protocol';
import { repoFile, vectorFile } from './vectors';

interface TypedVector {
  chain_id: number;
  forwarder: Address;
  signer: Address;
  nonce: string;
  deadline: number;
  signature: Hex;
  actions: {
    name: ActionName;
    typed_data: {
      types: Record<string, { name: string; type: string }[]>;
      primaryType: string;
      domain: { name: string; version: string; chainId: string | number; verifyingContract: Address };
      message: Record<string, unknown>;
    };
    digest: Hex;
    calldata: Hex;
  }[];
}

const t = vectorFile<{ typed: TypedVector }>('web.json').typed;
const domain = forwarderDomain(t.chain_id, t.forwarder);
const auth: Authorisation = { signer: t.signer, nonce: BigInt(t.nonce), deadline: BigInt(t.deadline) };

/** The action of a message as Rust serialises it: numbers as JSON numbers or `0x` strings. */
function actionOf(name: ActionName, message: Record<string, unknown>): Action {
  const fields: Record<string, unknown> = { type: name };
  for (const { name: field, type } of ACTION_TYPES[name]) {
    if (field === 'signer' || field === 'nonce' || field === 'deadline') continue;
    const value = message[field];
    if (type === 'uint8' || type === 'uint32' || type === 'uint40') fields[field] = Number(BigInt(value as string | number));
    else if (type === 'uint64' || type === 'uint256') fields[field] = BigInt(value as string | number);
    else fields[field] = value;
  }
  return fields as Action;
}

describe('EIP-712 actions', { timeout: 60_000 }, () => {
  it('cover every BySig function of the forwarder', () => {
    const abi = JSON.parse(repoFile('core/abi/MedVaultForwarder.json')) as { type: string; name?: string }[];
    const bySig = abi.filter((item) => item.type === 'function' && item.name?.endsWith('BySig')).map((item) => item.name);
    expect(ACTION_NAMES.map(bySigFunction).sort()).toEqual(bySig.sort());
    expect(t.actions.map((a) => a.name).sort()).toEqual([...ACTION_NAMES].sort());
    // The page's ABI has the forwarder's selectors.
    const selectors = (items: readonly unknown[]) =>
      items
        .filter((item): item is { type: 'function'; name: string } => (item as { type: string }).type === 'function')
        .map((item) => toFunctionSelector(item as never))
        .sort();
    const ours = selectors(forwarderAbi);
    expect(ours).toEqual(selectors(abi.filter((item) => item.name?.endsWith('BySig') || item.name === 'nonces')));
  });

  it("have Rust's types, digests and forwarder calldata, for every action", () => {
    for (const vector of t.actions) {
      const { name, typed_data: rust } = vector;
      const ours = actionTypedData(domain, actionOf(name, rust.message), auth);
      expect(rust.primaryType).toBe(name);
      expect(rust.types[name], name).toEqual(ACTION_TYPES[name]);
      const theirTypes = Object.keys(rust.types).filter((type) => type !== 'EIP712Domain');
      expect(theirTypes.sort()).toEqual(Object.keys(ours.types).sort());
      if (name === 'AddRecord') expect(rust.types.Envelope).toEqual(ENVELOPE_TYPE);
      expect(Number(BigInt(rust.domain.chainId))).toBe(t.chain_id);
      expect(getAddress(rust.domain.verifyingContract)).toBe(domain.verifyingContract);
      expect(actionDigest(domain, actionOf(name, rust.message), auth), name).toBe(vector.digest);
      expect(relayCalldata(actionOf(name, rust.message), auth, t.signature), name).toBe(vector.calldata);
    }
  });

  it('written by hand as the page writes them, sign to the digests Rust computes', async () => {
    const alice = t.signer;
    const bob: Address = '0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC';
    const written: Action[] = [
      { type: 'Grant', patient: alice, grantee: bob, readMask: 0b110n, writeMask: 0b100n, expiry: 2_000_000_000 },
      { type: 'Register', encryptionKey: '0x031a35ccde960122d0df94b3b42b00499f37878ec0d05f250413c57f14e00b93fc' },
      {
        type: 'AddRecord',
        patient: alice,
        category: 2,
        cid: `0x01551220${'aa'.repeat(32)}`,
        ciphertextHash: keccak256(toHex('ciphertext')),
        wrappedKey: '0x',
        epoch: 4,
        amends: 9n,
        envelopes: [
          { recipient: alice, sealedKey: toHex('one') },
          { recipient: bob, sealedKey: toHex('two') },
        ],
      },
      {
        type: 'RequestAccess',
        patient: alice,
        readMask: 2n ** 64n - 1n,
        writeMask: 1n << 63n,
        duration: 30 * 86_400,
        purposeHash: keccak256(toHex('treatment')),
      },
      { type: 'PublishCategoryKey', patient: alice, category: 0, epoch: 6, recipient: bob, sealedKey: `0x${'ee'.repeat(129)}` },
      { type: 'ApproveRequest', requestId: 77n },
      { type: 'Revoke', patient: alice, grantee: bob },
    ];
    const wallet = privateKeyToAccount(`0x${'07'.repeat(32)}`);
    for (const action of written) {
      const vector = t.actions.find((a) => a.name === action.type)!;
      expect(actionDigest(domain, action, auth), action.type).toBe(vector.digest);
      expect(relayCalldata(action, auth, t.signature)).toBe(vector.calldata);
      // A wallet signs the typed data; the signature recovers to it over the same digest.
      const mine = { ...auth, signer: wallet.address };
      const typed = actionTypedData(domain, action, mine);
      const signature = await wallet.signTypedData(typed);
      expect(await recoverTypedDataAddress({ ...typed, signature })).toBe(wallet.address);
    }
  });
});
