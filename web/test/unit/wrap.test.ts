import { type Address, type Hex, bytesToHex, hexToBytes } from 'viem';
import { describe, expect, it } from 'vitest';

import {
  type CategoryKey,
  WRAPPED_KEY_LEN,
  generateCategoryKey,
  generateKey,
  openPrevious,
  sealPrevious,
  unwrapDataKey,
  wrapDataKey,
} from '../../src/crypto';
import { vectorFile } from './vectors';

interface WrapVector {
  patient: Address;
  category: number;
  epoch: number;
  category_key: Hex;
  data_key: Hex;
  wrapped_data_key: Hex;
  previous_key: Hex;
  sealed_previous_key: Hex;
}

const w = vectorFile<{ wrap: WrapVector }>('web.json').wrap;
const kek: CategoryKey = {
  id: { patient: w.patient, category: w.category, epoch: w.epoch },
  key: new Uint8Array(hexToBytes(w.category_key)),
};
/** The nonce of a wrapped key: bytes 1 to 12. */
const nonceOf = (wrapped: Hex) => hexToBytes(wrapped).subarray(1, 13);

describe('wrapped keys', { timeout: 60_000 }, () => {
  it('wrap a data key byte for byte as Rust does, and unwrap it', async () => {
    const wrapped = await wrapDataKey(kek, hexToBytes(w.data_key), nonceOf(w.wrapped_data_key));
    expect(bytesToHex(wrapped)).toBe(w.wrapped_data_key);
    expect(wrapped.length).toBe(WRAPPED_KEY_LEN);
    expect(bytesToHex(await unwrapDataKey(kek, hexToBytes(w.wrapped_data_key)))).toBe(w.data_key);
  });

  it('seal the previous key byte for byte as Rust does, and open it', async () => {
    const previous: CategoryKey = { id: { ...kek.id, epoch: w.epoch - 1 }, key: new Uint8Array(hexToBytes(w.previous_key)) };
    const sealed = await sealPrevious(kek, previous, nonceOf(w.sealed_previous_key));
    expect(bytesToHex(sealed)).toBe(w.sealed_previous_key);
    const opened = await openPrevious(kek, hexToBytes(w.sealed_previous_key));
    expect(opened.id).toEqual(previous.id);
    expect(bytesToHex(opened.key)).toBe(w.previous_key);
  });

  it('open under no other key, place or use', async () => {
    const wrapped = hexToBytes(w.wrapped_data_key);
    const moved = [
      { ...kek, key: generateKey() },
      { ...kek, id: { ...kek.id, epoch: kek.id.epoch + 1 } },
      { ...kek, id: { ...kek.id, category: kek.id.category + 1 } },
      { ...kek, id: { ...kek.id, patient: '0x00000000000000000000000000000000000000aa' as Address } },
    ];
    for (const other of moved) {
      await expect(unwrapDataKey(other, wrapped)).rejects.toMatchObject({ kind: 'unwrap' });
    }
    // A wrapped data key is not a sealed previous key, nor the other way round.
    await expect(openPrevious(kek, wrapped)).rejects.toMatchObject({ kind: 'unwrap' });
    await expect(unwrapDataKey(kek, hexToBytes(w.sealed_previous_key))).rejects.toMatchObject({ kind: 'unwrap' });
    for (let i = 0; i < wrapped.length; i++) {
      const flipped = wrapped.slice();
      flipped[i]! ^= 0x01;
      await expect(unwrapDataKey(kek, flipped), `byte ${i}`).rejects.toThrow();
    }
    await expect(unwrapDataKey(kek, wrapped.subarray(0, 60))).rejects.toMatchObject({ kind: 'wrapped-key-format' });
  });

  it('draw a fresh nonce each time, and the first epoch has no previous key', async () => {
    const fresh = generateCategoryKey({ ...kek.id, epoch: 0 });
    const dataKey = generateKey();
    const a = await wrapDataKey(fresh, dataKey);
    const b = await wrapDataKey(fresh, dataKey);
    expect(bytesToHex(a)).not.toBe(bytesToHex(b));
    expect(await unwrapDataKey(fresh, b)).toEqual(dataKey);
    await expect(openPrevious(fresh, await sealPrevious(fresh, fresh))).rejects.toMatchObject({ kind: 'unwrap' });
  });
});
