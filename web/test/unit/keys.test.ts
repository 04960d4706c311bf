import { inspect } from 'node:util';

import { type Address, type Hex, bytesToHex, getAddress, hashTypedData } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { describe, expect, it } from 'vitest';

import {
  ENCRYPTION_KEY_PURPOSE,
  EncryptionKey,
  checkRegistered,
  deriveEncryptionKey,
  encryptionKeyMessage,
} from '../../src/crypto';
import { repoFile, vectorFile } from './vectors';

interface Derivation {
  chain_id: number;
  contract: Address;
  account: Address;
  wallet_secret: Hex;
  signing_hash: Hex;
  typed_data: { types: Record<string, unknown>; primaryType: string; message: { purpose: string; account: string } };
  signature: Hex;
  signature_high_s: Hex;
  secret: Hex;
  public_key: Hex;
}

const d = vectorFile<{ derivation: Derivation }>('web.json').derivation;
const wallet = privateKeyToAccount(d.wallet_secret);

describe('the encryption key', { timeout: 60_000 }, () => {
  it("is signed over the same typed data as Rust's", async () => {
    const message = encryptionKeyMessage(d.chain_id, d.contract, d.account);
    expect(message.message.purpose).toBe(ENCRYPTION_KEY_PURPOSE);
    expect(message.message.purpose).toBe(d.typed_data.message.purpose);
    expect(message.primaryType).toBe(d.typed_data.primaryType);
    expect(message.types.EncryptionKey).toEqual(d.typed_data.types.EncryptionKey);
    expect(hashTypedData(message)).toBe(d.signing_hash);
    // A wallet given this typed data signs what the Rust signer signs.
    expect(wallet.address).toBe(getAddress(d.account));
    expect(await wallet.signTypedData(message)).toBe(d.signature);
  });

  it('derives the key of the vector, and the one docs/keys.md lists', async () => {
    const key = await deriveEncryptionKey(d.signature, d.chain_id, d.contract, d.account);
    expect(bytesToHex(key.privateKey)).toBe(d.secret);
    expect(key.publicKeyHex).toBe(d.public_key);
    const doc = repoFile('docs/keys.md');
    expect(doc).toContain(d.public_key.slice(2));
    expect(doc).toContain(d.signature.slice(2));
    expect(doc).toContain(d.signing_hash);
    checkRegistered(key, d.public_key, d.account);
  });

  it('derives the same key from the high-s twin of the signature', async () => {
    expect(d.signature_high_s).not.toBe(d.signature);
    const key = await deriveEncryptionKey(d.signature_high_s, d.chain_id, d.contract, d.account);
    expect(key.publicKeyHex).toBe(d.public_key);
  });

  it("refuses another wallet's signature, or one over another deployment", async () => {
    const stranger = privateKeyToAccount(`0x${'42'.repeat(32)}`);
    const theirs = await stranger.signTypedData(encryptionKeyMessage(d.chain_id, d.contract, d.account));
    await expect(deriveEncryptionKey(theirs, d.chain_id, d.contract, d.account)).rejects.toMatchObject({
      kind: 'wrong-signer',
    });
    const otherChain = await wallet.signTypedData(encryptionKeyMessage(1, d.contract, d.account));
    await expect(deriveEncryptionKey(otherChain, d.chain_id, d.contract, d.account)).rejects.toMatchObject({
      kind: 'wrong-signer',
    });
    // Signed for chain 1, it derives chain 1's key, another one.
    const chainOne = await deriveEncryptionKey(otherChain, 1, d.contract, d.account);
    expect(chainOne.publicKeyHex).not.toBe(d.public_key);
    await expect(deriveEncryptionKey('0x1234', d.chain_id, d.contract, d.account)).rejects.toMatchObject({
      kind: 'wrong-signer',
    });
  });

  it('refuses a key other than the registered one', async () => {
    const key = await deriveEncryptionKey(d.signature, d.chain_id, d.contract, d.account);
    expect(() => checkRegistered(key, `0x02${'00'.repeat(32)}`, d.account)).toThrowError(
      expect.objectContaining({ kind: 'not-registered' }),
    );
  });

  it('shows only its public half when printed', async () => {
    const key = await deriveEncryptionKey(d.signature, d.chain_id, d.contract, d.account);
    const secret = d.secret.slice(2);
    for (const shown of [String(key), JSON.stringify(key), inspect(key), inspect({ nested: key }), `${key}`]) {
      expect(shown).toContain(d.public_key.slice(2));
      expect(shown).not.toContain(secret);
    }
    key.forget();
    expect(key.privateKey.every((byte) => byte === 0)).toBe(true);
    expect(() => new EncryptionKey(new Uint8Array(32))).toThrowError(expect.objectContaining({ kind: 'derivation' }));
  });
});
