import { type Address, type Hex, hexToBytes } from 'viem';
import { describe, expect, it } from 'vitest';

import {
  type GatewayUpload,
  type ToSign,
  addRecordAction,
  checkToSign,
  cidBytes,
  cidText,
  forwarderDomain,
  uploadQuery,
} from '../../src/protocol';
import { vectorFile } from './vectors';

describe("the gateway's upload", { timeout: 60_000 }, () => {
  it('reads and writes CIDs as Kubo prints them', () => {
    // The CID of the CLI's transfer tests.
    const text = 'bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku';
    const bytes = cidBytes(text);
    expect(bytes.startsWith('0x01551220')).toBe(true);
    expect(hexToBytes(bytes).length).toBe(36);
    expect(cidText(hexToBytes(bytes))).toBe(text);
    expect(cidBytes(bytes)).toBe(bytes);
    for (const bad of ['not a cid', 'b', '0x', 'Qm1234']) expect(() => cidBytes(bad)).toThrow();
  });

  it('asks with the query the CLI sends', () => {
    const query = uploadQuery({
      patient: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
      category: 2,
      deadline: 1_900_000_000n,
      epoch: 1,
      wrappedKey: '0x01aa',
      envelopes: [{ recipient: '0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC', sealedKey: '0xbb' }],
    });
    expect([...query.keys()]).toEqual(['patient', 'category', 'deadline', 'epoch', 'wrappedKey', 'envelopes']);
    expect(query.get('patient')).toBe('0x70997970c51812dc3a010c7d01b50e0d17dc79c8');
    expect(JSON.parse(query.get('envelopes')!)).toEqual([['0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC', '0xbb']]);
    expect(uploadQuery({ patient: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8', category: 0, deadline: 5 }).toString()).toBe(
      'patient=0x70997970c51812dc3a010c7d01b50e0d17dc79c8&category=0&deadline=5',
    );
  });

  it("signs only the record it uploaded: Rust's AddRecord digest, checked before signing", () => {
    const t = vectorFile<{
      typed: { chain_id: number; forwarder: Address; signer: Address; nonce: string; deadline: number; actions: { name: string; digest: Hex; typed_data: { message: Record<string, unknown> } }[] };
    }>('web.json').typed;
    const vector = t.actions.find((a) => a.name === 'AddRecord')!;
    const m = vector.typed_data.message as unknown as {
      patient: Address;
      category: number;
      cid: Hex;
      ciphertextHash: Hex;
      wrappedKey: Hex;
      epoch: number;
      amends: string;
      envelopes: { recipient: Address; sealedKey: Hex }[];
    };
    const upload: GatewayUpload = {
      id: 'ab12',
      author: t.signer,
      patient: m.patient,
      category: Number(m.category),
      epoch: Number(m.epoch),
      wrapped_key: m.wrappedKey,
      amends: m.amends,
      envelopes: m.envelopes.map((e) => [e.recipient, e.sealedKey] as const),
      cid: cidText(hexToBytes(m.cid)),
      sha256: m.ciphertextHash,
      size: 1234,
    };
    const toSign: ToSign = { upload, nonce: `0x${BigInt(t.nonce).toString(16)}`, typed_data: {}, signing_hash: vector.digest };
    const domain = forwarderDomain(t.chain_id, t.forwarder);
    const deadline = BigInt(t.deadline);
    const { action, nonce } = checkToSign(toSign, domain, t.signer, deadline, upload.sha256);
    expect(nonce).toBe(BigInt(t.nonce));
    expect(action).toEqual(addRecordAction(upload));
    expect(() => checkToSign(toSign, domain, t.signer, deadline, `0x${'00'.repeat(32)}`)).toThrowError(
      expect.objectContaining({ kind: 'hash-mismatch' }),
    );
    const otherCategory = { ...toSign, upload: { ...upload, category: upload.category + 1 } };
    expect(() => checkToSign(otherCategory, domain, t.signer, deadline)).toThrowError(
      expect.objectContaining({ kind: 'digest-mismatch' }),
    );
    expect(() => checkToSign(toSign, domain, t.signer, deadline + 1n)).toThrowError(
      expect.objectContaining({ kind: 'digest-mismatch' }),
    );
  });
});
