import { describe, expect, it } from 'vitest';

import { type Part, cutParts } from '../../src/protocol/parts';

/** `n` bytes of a fixed pattern. */
function bytes(n: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 31 + 7) & 0xff);
}

/** A stream of `data` in chunks of the given sizes, cycled. */
function chunked(data: Uint8Array, sizes: number[]): ReadableStream<Uint8Array> {
  let at = 0;
  let i = 0;
  return new ReadableStream({
    pull(controller) {
      if (at >= data.length) return controller.close();
      const n = sizes[i++ % sizes.length] as number;
      controller.enqueue(data.slice(at, at + n));
      at += n;
    },
  });
}

async function cut(data: Uint8Array, partSize: number, sizes = [7]): Promise<Part[]> {
  const parts: Part[] = [];
  for await (const part of cutParts(chunked(data, sizes), partSize)) parts.push({ ...part, bytes: part.bytes.slice() });
  return parts;
}

const summary = (parts: Part[]) => parts.map((p) => [p.offset, p.bytes.length, p.last]);

describe('cutting a record into upload parts', () => {
  const size = 16;

  it('sends an empty record as one empty last part', async () => {
    expect(summary(await cut(bytes(0), size))).toEqual([[0, 0, true]]);
  });

  it('sends one byte as the last part', async () => {
    expect(summary(await cut(bytes(1), size))).toEqual([[0, 1, true]]);
  });

  it('ends a record of exactly one part with an empty last part', async () => {
    expect(summary(await cut(bytes(size), size))).toEqual([
      [0, size, false],
      [size, 0, true],
    ]);
  });

  it('sends a part and one byte', async () => {
    expect(summary(await cut(bytes(size + 1), size))).toEqual([
      [0, size, false],
      [size, 1, true],
    ]);
  });

  it('cuts many parts from chunks of any size, and they join into the record', async () => {
    const data = bytes(10 * size + 5);
    for (const sizes of [[1], [3, 50, 1], [size], [1000]]) {
      const parts = await cut(data, size, sizes);
      expect(parts.length).toBe(11);
      expect(parts.slice(0, -1).every((p, i) => p.bytes.length === size && p.offset === i * size && !p.last)).toBe(true);
      expect(summary(parts.slice(-1))).toEqual([[10 * size, 5, true]]);
      const joined = new Uint8Array(parts.reduce((n, p) => n + p.bytes.length, 0));
      for (const p of parts) joined.set(p.bytes, p.offset);
      expect(joined).toEqual(data);
    }
  });

  it('reads no further than the part asked for, and cancels the stream when the consumer stops', async () => {
    let pulled = 0;
    let cancelled = false;
    const stream = new ReadableStream<Uint8Array>(
      {
        pull(controller) {
          pulled += 4;
          controller.enqueue(bytes(4));
        },
        cancel() {
          cancelled = true;
        },
      },
      { highWaterMark: 0 },
    );
    const parts = cutParts(stream, size);
    const first = await parts.next();
    expect(first.value).toMatchObject({ offset: 0, last: false });
    // One part's worth was read, not the next.
    expect(pulled).toBe(size);
    await parts.return();
    expect(cancelled).toBe(true);
  });

  it('refuses a part size that is not a positive integer', async () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) await expect(cut(bytes(3), bad)).rejects.toThrow(RangeError);
  });
});
