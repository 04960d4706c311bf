// A record of several parts: the page encrypts a 9 MiB file and sends it
// through a gateway upload session in 4 MiB parts, one request each, as it
// encrypts; the page and the CLI read back the same bytes.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from '@playwright/test';
import { cli, key, pageUrl, stack } from './stack';
import { sha, signIn, statusSays, testBytes } from './helpers';
import { injectWallet } from './wallet';

const MIB = 1024 * 1024;

test('a 9 MiB record goes up in parts as it is encrypted, and comes back whole', async ({ browser }, info) => {
  const s = stack();
  const file = testBytes(9 * MIB + 123, 0x9e3779b9);
  mkdirSync(info.outputDir, { recursive: true });
  const filePath = join(info.outputDir, 'scan.bin');
  writeFileSync(filePath, file);

  const context = await browser.newContext({ acceptDownloads: true });
  const page = await context.newPage();
  await injectWallet(page, s, key('patient'));
  // Every upload request the page makes.
  const parts: { offset: number; last: boolean; bytes: number }[] = [];
  const whole: string[] = [];
  page.on('request', (request) => {
    const url = new URL(request.url());
    if (request.method() === 'PUT' && url.pathname.startsWith('/v1/upload-sessions/')) {
      parts.push({ offset: Number(url.searchParams.get('offset')), last: url.searchParams.get('last') === 'true', bytes: request.postDataBuffer()?.length ?? 0 });
    }
    if (request.method() === 'POST' && url.pathname === '/v1/records') whole.push(request.url());
  });
  await page.goto(pageUrl());
  await signIn(page);

  await page.getByLabel(/^File/).setInputFiles(filePath);
  await page.getByLabel('Category').first().selectOption('2');
  await page.getByRole('button', { name: 'Encrypt and upload' }).click();
  await statusSays(page, /Uploaded record \d+/);
  const uploaded = /Uploaded record (\d+)/.exec((await page.locator('#status').textContent()) ?? '')?.[1] as string;

  // Three parts of at most 4 MiB, back to back, the last one marked; never
  // the whole record in one request.
  expect(whole).toEqual([]);
  expect(parts.map((p) => [p.offset, p.last])).toEqual([
    [0, false],
    [4 * MIB, false],
    [8 * MIB, true],
  ]);
  expect(parts.every((p) => p.bytes <= 4 * MIB)).toBe(true);
  expect(parts.reduce((n, p) => n + p.bytes, 0)).toBeGreaterThan(file.length);

  // The page opens it again: the same bytes.
  await expect(page.locator(`#records tr[data-record="${uploaded}"]`)).toBeVisible();
  await page.locator(`#records button[data-action="open"][data-record="${uploaded}"]`).click();
  await statusSays(page, `Record ${uploaded} decrypted here`);
  const viewer = page.locator(`.viewer[data-record="${uploaded}"]`);
  const [download] = await Promise.all([page.waitForEvent('download'), viewer.getByTestId('save').click()]);
  expect(sha(readFileSync(await download.path()))).toBe(sha(file));

  // The CLI reads what the page wrote.
  const fetched = join(info.outputDir, 'fetched-by-cli.bin');
  await cli(['--as', 'patient', 'doctor', 'fetch', uploaded, '-o', fetched]);
  expect(sha(readFileSync(fetched))).toBe(sha(file));
  await context.close();
});
