// The running stack the global setup started, and the `medvault` binary, for
// the tests: stack.json, demo keys, the CLI run with --json.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import type { Hex } from 'viem';

/** What stack.json holds. */
export interface Stack {
  rpc_url: string;
  chain_id: number;
  contract: Hex;
  forwarder: Hex;
  gateway_url: string;
  indexer_url: string;
  identities: Record<string, { address: Hex; private_key: Hex }>;
}

/** Anvil's account 9: funded, unused by the demo seeding, so a patient the page registers afresh. */
export const NEWCOMER_KEY: Hex = '0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6';

/** The stack of this run. */
export function stack(): Stack {
  const path = process.env.MEDVAULT_TEST_STACK;
  if (!path) throw new Error('no stack: run through playwright test (the global setup starts one)');
  return JSON.parse(readFileSync(path, 'utf8')) as Stack;
}

/** The page's address: the gateway's origin (or MEDVAULT_TEST_PAGE_URL). */
export function pageUrl(): string {
  return process.env.MEDVAULT_TEST_PAGE_URL ?? stack().gateway_url;
}

/** A demo identity's key. */
export function key(role: string): Hex {
  const identity = stack().identities[role];
  if (!identity) throw new Error(`no ${role} in stack.json`);
  return identity.private_key;
}

/** Runs `medvault --stack stack.json --json ...args` and parses its JSON. */
export async function cli(args: string[], env: Record<string, string> = {}): Promise<Record<string, unknown>> {
  const bin = process.env.MEDVAULT_TEST_BIN as string;
  const stackPath = process.env.MEDVAULT_TEST_STACK as string;
  const { stdout } = await promisify(execFile)(bin, ['--stack', stackPath, '--json', ...args], {
    env: { ...process.env, ...env },
    maxBuffer: 16 << 20,
    timeout: 120_000,
  });
  return JSON.parse(stdout) as Record<string, unknown>;
}
