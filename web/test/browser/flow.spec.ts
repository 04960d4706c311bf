// The whole story in the browser: a new patient registers, uploads, and
// approves a doctor's request; the doctor opens the record and gets the same
// bytes; the CLI reads what the page wrote and the page reads what the CLI
// wrote; the patient revokes and the doctor's next open fails in words.
// Screenshots of each view go to test-results/screenshots/.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Page, expect, test } from '@playwright/test';
import { privateKeyToAccount } from 'viem/accounts';
import { NEWCOMER_KEY, cli, key, pageUrl, stack } from './stack';
import { refreshUntil, sha, shots, signIn, signedIn, statusSays, testBytes } from './helpers';
import { injectWallet } from './wallet';

async function savedBytes(page: Page, recordId: string): Promise<Buffer> {
  const viewer = page.locator(`.viewer[data-record="${recordId}"]`);
  await expect(viewer).toBeVisible();
  const [download] = await Promise.all([page.waitForEvent('download'), viewer.getByTestId('save').click()]);
  const path = await download.path();
  return readFileSync(path);
}

test.describe.configure({ mode: 'serial' });

test('a patient and a doctor, from registration to revocation, with the CLI both ways', async ({ browser }, info) => {
  const s = stack();
  const patientAddress = privateKeyToAccount(NEWCOMER_KEY).address;
  const file = testBytes(300 * 1024 + 17);
  const filePath = join(info.outputDir, 'lab-report.bin');
  mkdirSync(info.outputDir, { recursive: true });
  writeFileSync(filePath, file);

  // The patient registers.
  const { page: patient } = await signedIn(browser, s, NEWCOMER_KEY);
  await expect(patient.getByRole('button', { name: 'Register as a patient' })).toBeVisible();
  await patient.screenshot({ path: join(shots, '01-patient-register.png'), fullPage: true });
  await patient.getByRole('button', { name: 'Register as a patient' }).click();
  await statusSays(patient, 'Registered');

  // ... and uploads a lab report, encrypted in the page.
  await patient.getByLabel(/^File/).setInputFiles(filePath);
  await patient.getByLabel('Category').first().selectOption('2');
  await patient.getByRole('button', { name: 'Encrypt and upload' }).click();
  await statusSays(patient, /Uploaded record \d+/);
  const uploaded = /Uploaded record (\d+)/.exec((await patient.locator('#status').textContent()) ?? '')?.[1] as string;
  await expect(patient.locator(`#records tr[data-record="${uploaded}"]`)).toBeVisible();
  await patient.locator(`#records button[data-action="verify"][data-record="${uploaded}"]`).click();
  await statusSays(patient, `Record ${uploaded} verified`);
  await patient.screenshot({ path: join(shots, '02-patient-records.png'), fullPage: true });

  // A doctor asks for the patient's labs.
  const { page: doctor } = await signedIn(browser, s, key('doctor'));
  await doctor.getByLabel('Patient address').fill(patientAddress);
  await doctor.locator('#request-form').getByLabel('labs').check();
  await doctor.getByRole('button', { name: 'Request access' }).click();
  await statusSays(doctor, 'Requested labs');
  await doctor.screenshot({ path: join(shots, '03-doctor-request.png'), fullPage: true });

  // The patient approves: the grant, and the labs key sealed to the doctor.
  await refreshUntil(patient, '#requests button[data-action="approve"]');
  const approve = patient.locator('#requests button[data-action="approve"]').first();
  await patient.screenshot({ path: join(shots, '04-patient-requests.png'), fullPage: true });
  await approve.click();
  await statusSays(patient, 'Approved request');
  await expect(patient.locator(`#grants li[data-status="live"]`)).toHaveCount(1);
  await patient.screenshot({ path: join(shots, '05-patient-grants.png'), fullPage: true });

  // The doctor sees the change arrive live, opens the record: the same bytes.
  await expect(doctor.locator('#alert-feed li[data-event="RequestApproved"]')).toBeVisible({ timeout: 60_000 });
  await refreshUntil(doctor, '#patients button[data-action="records"]');
  await doctor.locator(`#patients button[data-action="records"]`).first().click();
  await doctor.locator(`#patient-records button[data-action="open"][data-record="${uploaded}"]`).click();
  await statusSays(doctor, `Record ${uploaded} decrypted here`);
  const opened = await savedBytes(doctor, uploaded);
  expect(sha(opened)).toBe(sha(file));
  await doctor.screenshot({ path: join(shots, '06-doctor-record.png'), fullPage: true });

  // The CLI reads what the page wrote.
  const fetched = join(info.outputDir, 'fetched-by-cli.bin');
  await cli(['--as', 'doctor', 'doctor', 'fetch', uploaded, '-o', fetched]);
  expect(sha(readFileSync(fetched))).toBe(sha(file));

  // The page reads what the CLI wrote (the same patient, through the CLI).
  const cliFile = testBytes(70 * 1024 + 3, 7);
  const cliPath = join(info.outputDir, 'from-cli.bin');
  writeFileSync(cliPath, cliFile);
  const report = await cli(['patient', 'upload', cliPath, '--category', 'labs'], { MEDVAULT_PRIVATE_KEY: NEWCOMER_KEY });
  const cliRecord = BigInt(String(report.record)).toString();
  await refreshUntil(patient, `#records button[data-action="open"][data-record="${cliRecord}"]`);
  await patient.locator(`#records button[data-action="open"][data-record="${cliRecord}"]`).click();
  await statusSays(patient, `Record ${cliRecord} decrypted here`);
  expect(sha(await savedBytes(patient, cliRecord))).toBe(sha(cliFile));

  // A second doctor's page whose live stream is cut: it still lists the
  // record after the revocation (the first page drops it live), so its next
  // open meets the gateway's refusal.
  const { page: stale } = await signedIn(browser, s, key('doctor'), { offline: true });
  await stale.locator(`#patients li[data-patient="${patientAddress}"] button[data-action="records"]`).click();
  await expect(stale.locator(`#patient-records button[data-action="open"][data-record="${uploaded}"]`)).toBeVisible();

  // The patient revokes; the labs key rotates.
  await patient.locator('#grants button[data-action="revoke"]').first().click();
  await statusSays(patient, 'Revoked');
  await patient.locator('#audit').scrollIntoViewIfNeeded();
  await patient.screenshot({ path: join(shots, '07-patient-audit.png'), fullPage: true });

  // The doctor's live page no longer lists the record; the stale page's next open fails, in words.
  await expect(doctor.locator(`#patient-records tr[data-record="${uploaded}"]`)).toHaveCount(0);
  await stale.locator(`#patient-records button[data-action="open"][data-record="${uploaded}"]`).click();
  await statusSays(stale, `You no longer have access to record ${uploaded}`);
  await expect(stale.locator('#status')).toHaveAttribute('role', 'alert');
  await stale.screenshot({ path: join(shots, '08-doctor-revoked.png'), fullPage: true });
});

test('the organisation and governance views', async ({ browser }) => {
  const s = stack();
  const { page: hospital } = await signedIn(browser, s, key('hospital'));
  await expect(hospital.locator('#staff li')).toHaveCount(2);
  await hospital.screenshot({ path: join(shots, '09-organisation-staff.png'), fullPage: true });
  const { page: governance } = await signedIn(browser, s, key('governance'));
  await expect(governance.locator('#organisations li')).toHaveCount(1);
  await expect(governance.getByRole('button', { name: 'Suspend' })).toBeVisible();
  await governance.screenshot({ path: join(shots, '10-governance-organisations.png'), fullPage: true });
});

test('errors in words: wrong chain, declined signature, indexer, gateway or node down; keyboard and phone width', async ({ browser }) => {
  const s = stack();
  const context = await browser.newContext();
  const page = await context.newPage();
  const wallet = await injectWallet(page, s, key('patient'), { chainId: 1 });
  await page.goto(pageUrl());
  await page.getByRole('button', { name: 'Connect wallet and sign in' }).click();
  await statusSays(page, `Your wallet is on chain 1 but MedVault runs on chain ${s.chain_id}`);
  await page.screenshot({ path: join(shots, '11-wrong-chain.png'), fullPage: true });
  await page.getByRole('button', { name: `Switch to chain ${s.chain_id}` }).click();
  await statusSays(page, 'Switched');
  wallet.options.decline = true;
  await page.getByRole('button', { name: 'Connect wallet and sign in' }).click();
  await statusSays(page, 'You declined the request in your wallet, so nothing was sent.');
  await page.screenshot({ path: join(shots, '12-declined.png'), fullPage: true });
  wallet.options.decline = false;
  await signIn(page);
  // The indexer, the gateway, the chain: each down in turn, each said in words.
  await page.route('**/idx/**', (route) => route.abort());
  await page.route(`${new URL(s.indexer_url).origin}/**`, (route) => route.abort());
  await page.getByRole('button', { name: 'Refresh' }).click();
  await expect(page.locator('#content')).toContainText('The MedVault indexer does not answer');
  await page.unrouteAll();
  await page.route('**/v1/relay', (route) => route.abort());
  await page.getByRole('button', { name: 'Refresh' }).click();
  await page.getByLabel('Guardian address').fill(s.identities.guardian?.address as string);
  await page.getByRole('button', { name: 'Add guardian' }).click();
  await statusSays(page, 'The MedVault gateway does not answer');
  await page.unrouteAll();
  wallet.options.nodeDown = true;
  await page.getByRole('button', { name: 'Refresh' }).click();
  await expect(page.locator('#content')).toContainText('cannot reach the blockchain node');
  await page.screenshot({ path: join(shots, '13-node-down.png'), fullPage: true });
  wallet.options.nodeDown = false;
  await page.getByRole('button', { name: 'Refresh' }).click();
  await expect(page.locator('#upload-section')).toBeVisible();

  // Keyboard: the tabs are buttons reachable with Tab and worked with Enter.
  await page.locator('nav button').first().focus();
  await page.keyboard.press('Enter');
  await expect(page.locator('nav button').first()).toHaveAttribute('aria-pressed', 'true');
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: join(shots, '14-patient-phone.png'), fullPage: true });
});
