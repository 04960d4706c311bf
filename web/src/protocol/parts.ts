/**
 * A record cut into the parts of a gateway upload session.
 *
 * Browsers stream a request body only over HTTP/2 and the gateway speaks
 * HTTP/1.1, so the page sends a record it encrypts as a series of requests
 * (`PUT /v1/upload-sessions/{id}?offset=N[&last=true]`), one part each,
 * while it encrypts the next: the gateway pipes them all into one Kubo add.
 * {@link cutParts} cuts the encrypted stream; it holds one part at a time
 * and reads no further until the consumer asks for the next part, so a
 * consumer that sends each part before asking for the next keeps at most
 * one part in memory and holds the encryption back to the network's pace.
 */

/** The part size the page sends, unless the gateway takes less. */
export const PART_SIZE = 4 * 1024 * 1024;

/** A part of a record. */
export interface Part {
  /** Its bytes (empty for a last part that only ends the record). */
  readonly bytes: Uint8Array;
  /** Where it starts in the record. */
  readonly offset: number;
  /** Whether it ends the record. */
  readonly last: boolean;
}

/**
 * Cuts `stream` into parts of exactly `partSize` bytes, then one last part
 * with the rest: empty when the stream's length is a multiple of
 * `partSize` (an empty stream is one empty last part). A consumer that
 * stops early cancels the stream.
 */
export async function* cutParts(stream: ReadableStream<Uint8Array>, partSize: number): AsyncGenerator<Part, void, undefined> {
  if (!Number.isSafeInteger(partSize) || partSize <= 0) throw new RangeError(`a part size must be a positive integer, not ${partSize}`);
  const reader = stream.getReader();
  let part = new Uint8Array(partSize);
  let filled = 0;
  let offset = 0;
  let ended = false;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      for (let at = 0; at < value.length; ) {
        const n = Math.min(partSize - filled, value.length - at);
        part.set(value.subarray(at, at + n), filled);
        filled += n;
        at += n;
        if (filled === partSize) {
          yield { bytes: part, offset, last: false };
          offset += partSize;
          // A fresh buffer: the consumer may still hold the one it was given.
          part = new Uint8Array(partSize);
          filled = 0;
        }
      }
    }
    ended = true;
    yield { bytes: part.subarray(0, filled), offset, last: true };
  } finally {
    if (!ended) await reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
}
