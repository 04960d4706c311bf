// Reading the vectors the Rust side writes or checks: docs/record-format.md's
// ```vector blocks and the JSON files of core/tests/vectors.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The repository's root, two levels above web/test/unit. */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** A file of the repository, as text. */
export function repoFile(path: string): string {
  return readFileSync(ROOT + path, 'utf8');
}

/**
 * A JSON file of core/tests/vectors. Integers past 2^53 (a u64 mask of all
 * categories) are read as strings, which JSON.parse would round.
 */
export function vectorFile<T>(name: string): T {
  const text = repoFile(`core/tests/vectors/${name}`).replace(/(:\s*)(\d{16,})(?=\s*[,}\n])/g, '$1"$2"');
  return JSON.parse(text) as T;
}

/** The ```vector blocks of docs/record-format.md, parsed as core's test and core/tests/node/record-format.mjs parse them. */
export function recordFormatVectors(): Record<string, string>[] {
  const doc = repoFile('docs/record-format.md');
  return doc
    .split('```vector\n')
    .slice(1)
    .map((block) => {
      const body = block.split('```')[0] ?? '';
      const fields: Record<string, string> = {};
      for (const line of body.split('\n')) {
        const space = line.indexOf(' ');
        if (space < 0) continue;
        fields[line.slice(0, space)] = line.slice(space).trim();
      }
      return fields;
    });
}

/** Bytes of hex without `0x`, or `-` for none. */
export function unhex(text: string): Uint8Array {
  if (text === '-') return new Uint8Array(0);
  return Uint8Array.from(Buffer.from(text.replace(/^0x/, ''), 'hex'));
}

/** Hex without `0x`. */
export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

/** The plaintext of the documented vectors: byte i is (7 i + 3) mod 256. */
export function pattern(length: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (7 * i + 3) & 0xff);
}
