// What the browser specs share: the screenshots folder, fixed-seed test
// files, and pages signed in with an injected wallet.
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, type Page, expect } from '@playwright/test';
import type { Hex } from 'viem';
import { type Stack, pageUrl } from './stack';
import { type TestWallet, injectWallet } from './wallet';

/** Where each view's screenshot goes. */
export const shots = join('test-results', 'screenshots');
mkdirSync(shots, { recursive: true });

/** A fixed-seed pseudo-random file of `n` bytes (xorshift), so that a failure reproduces. */
export function testBytes(n: number, seed = 0x2545f491): Buffer {
  const out = Buffer.alloc(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/** SHA-256, hex. */
export const sha = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/** Waits until the page's status line says `text`. */
export async function statusSays(page: Page, text: string | RegExp): Promise<void> {
  await expect(page.locator('#status')).toContainText(text, { timeout: 120_000 });
}

/** Connects the injected wallet and signs in. */
export async function signIn(page: Page): Promise<void> {
  await page.getByRole('button', { name: 'Connect wallet and sign in' }).click();
  await expect(page.locator('#status')).toContainText('Signed in as', { timeout: 30_000 });
}

/**
 * A new page signed in with `privateKey`'s wallet. `offline` cuts its live
 * stream from the start; `beforeLoad` runs once the wallet is injected and
 * before the page loads (to watch its requests).
 */
export async function signedIn(
  browser: Browser,
  s: Stack,
  privateKey: Hex,
  options: { offline?: boolean; beforeLoad?: (page: Page) => void } = {},
): Promise<{ page: Page; wallet: TestWallet }> {
  const context = await browser.newContext({ acceptDownloads: true });
  const page = await context.newPage();
  if (options.offline) await page.route(/\/v1\/stream/, (route) => route.abort());
  const wallet = await injectWallet(page, s, privateKey);
  options.beforeLoad?.(page);
  await page.goto(pageUrl());
  await signIn(page);
  return { page, wallet };
}

/** Refreshes the view until `selector` shows: another account's action reaches the indexer when it does. */
export async function refreshUntil(page: Page, selector: string): Promise<void> {
  await expect(async () => {
    await page.getByRole('button', { name: 'Refresh' }).click();
    await expect(page.locator(selector).first()).toBeVisible({ timeout: 3_000 });
  }).toPass({ timeout: 90_000 });
}
