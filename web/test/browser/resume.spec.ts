// Nothing left half-done: a patient approves a doctor's request but declines
// the key's signature, and revokes but declines the rotation; each time the
// page says what landed and what did not, and after a reload its
// "Unfinished steps" card, read from the chain alone, finishes the job. The
// doctor's open page follows the revocation without a reload. A patient of
// its own (a fixed key no other spec uses), so the other specs' state does
// not matter. Screenshots go to test-results/screenshots/.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from '@playwright/test';
import { type Hex, createPublicClient, getAddress, http, keccak256, parseAbi, toBytes } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { key, stack } from './stack';
import { refreshUntil, sha, shots, signIn, signedIn, statusSays, testBytes } from './helpers';

/** This spec's patient: a fresh key, registered by the page (relayed actions need no ETH). */
const PATIENT_KEY: Hex = keccak256(toBytes('medvault web resume.spec patient'));

const LABS = 2;

// The second test signs in as the patient the first registers.
test.describe.configure({ mode: 'serial' });

test('an approval and a revocation stopped halfway are finished after a reload; the doctor’s page follows live', async ({ browser }, info) => {
  const s = stack();
  const patientAddress = privateKeyToAccount(PATIENT_KEY).address;
  const doctorAddress = getAddress(s.identities.doctor?.address as string);
  const chain = createPublicClient({ transport: http(s.rpc_url) });
  const epoch = () =>
    chain.readContract({
      address: s.contract,
      abi: parseAbi(['function categoryEpoch(address patient, uint8 category) view returns (uint32)']),
      functionName: 'categoryEpoch',
      args: [patientAddress, LABS],
    });
  mkdirSync(info.outputDir, { recursive: true });
  const file = testBytes(48 * 1024 + 5, 0x51ed);
  const filePath = join(info.outputDir, 'labs.bin');
  writeFileSync(filePath, file);

  // The patient registers and adds a lab report (which makes the labs key).
  const { page: patient, wallet } = await signedIn(browser, s, PATIENT_KEY);
  await patient.getByRole('button', { name: 'Register as a patient' }).click();
  await statusSays(patient, 'Registered');
  await patient.getByLabel(/^File/).setInputFiles(filePath);
  await patient.getByLabel('Category').first().selectOption(String(LABS));
  await patient.getByRole('button', { name: 'Encrypt and upload' }).click();
  await statusSays(patient, /Uploaded record \d+/);
  const uploaded = /Uploaded record (\d+)/.exec((await patient.locator('#status').textContent()) ?? '')?.[1] as string;
  await expect(patient.locator('#unfinished')).toBeHidden();

  // The doctor asks for the labs.
  const { page: doctor } = await signedIn(browser, s, key('doctor'));
  await doctor.getByLabel('Patient address').fill(patientAddress);
  await doctor.locator('#request-form').getByLabel('labs').check();
  await doctor.getByRole('button', { name: 'Request access' }).click();
  await statusSays(doctor, 'Requested labs');

  // The patient approves, then declines sealing the key: the page says what landed.
  await refreshUntil(patient, '#requests button[data-action="approve"]');
  wallet.declineNext(1, 1);
  await patient.locator('#requests button[data-action="approve"]').first().click();
  await statusSays(patient, /Approved request \d+, but the keys were not all sealed/);
  await expect(patient.locator('#status')).toContainText('You declined a signature in your wallet.');
  await expect(patient.locator('#status')).toHaveAttribute('role', 'alert');
  await patient.screenshot({ path: join(shots, '15-resume-approve-declined.png'), fullPage: true });

  // After a reload, the page finds the missing key from the chain and finishes.
  await patient.reload();
  await signIn(patient);
  const card = patient.locator('#unfinished');
  await expect(card).toBeVisible();
  await expect(card.locator('li')).toHaveCount(1);
  await expect(card.locator('li[data-step="share"]')).toContainText(`${doctorAddress} may read labs but has not been given its current key (epoch 0)`);
  await patient.screenshot({ path: join(shots, '16-resume-unfinished-share.png'), fullPage: true });
  await card.getByRole('button', { name: 'Finish' }).click();
  await statusSays(patient, 'Finished');
  await expect(card).toBeHidden();

  // The doctor's page took the approval live; the record opens with the same bytes.
  const patientCard = doctor.locator(`#patients li[data-patient="${patientAddress}"]`);
  await expect(patientCard).toBeVisible({ timeout: 60_000 });
  await patientCard.getByRole('button', { name: 'Show records' }).click();
  await doctor.locator(`#patient-records button[data-action="open"][data-record="${uploaded}"]`).click();
  await statusSays(doctor, `Record ${uploaded} decrypted here`);
  const viewer = doctor.locator(`.viewer[data-record="${uploaded}"]`);
  const [download] = await Promise.all([doctor.waitForEvent('download'), viewer.getByTestId('save').click()]);
  expect(sha(readFileSync(await download.path()))).toBe(sha(file));

  // The patient revokes and declines the rotation.
  expect(await epoch()).toBe(0);
  wallet.declineNext(1, 1);
  await patient.locator(`#grants li[data-grantee="${doctorAddress}"] button[data-action="revoke"]`).click();
  await statusSays(patient, `Revoked ${doctorAddress}, but the keys they held were not all replaced`);
  await expect(patient.locator('#status')).toContainText('You declined a signature in your wallet.');
  expect(await epoch()).toBe(0);

  // The doctor's open page drops the patient and the records without a reload.
  await expect(doctor.locator(`#patient-records tr[data-record="${uploaded}"]`)).toHaveCount(0, { timeout: 60_000 });
  await expect(doctor.locator('#patient-records')).toContainText('has ended');
  await expect(patientCard).toHaveCount(0);
  await doctor.screenshot({ path: join(shots, '17-resume-doctor-after-revoke.png'), fullPage: true });

  // After a reload, the page finds the revoked doctor holding the labs key and rotates it.
  await patient.reload();
  await signIn(patient);
  await expect(card).toBeVisible();
  await expect(card.locator('li[data-step="rotate"]')).toContainText(`${doctorAddress}, whose access was revoked, still holds the current key of labs (epoch 0)`);
  await patient.screenshot({ path: join(shots, '18-resume-unfinished-rotate.png'), fullPage: true });
  await card.getByRole('button', { name: 'Finish' }).click();
  await statusSays(patient, 'Finished');
  await expect(card).toBeHidden();
  expect(await epoch()).toBe(1);
  const rotated = await fetch(new URL(`/v1/patients/${patientAddress.toLowerCase()}/rotations?category=${LABS}`, s.indexer_url));
  expect(rotated.status).toBe(200);
  expect(((await rotated.json()) as { items: { epoch: number }[] }).items.map((r) => r.epoch)).toEqual([1]);

  // The patient still reads the record written under the old key, through the rotation.
  await patient.locator(`#records button[data-action="open"][data-record="${uploaded}"]`).click();
  await statusSays(patient, `Record ${uploaded} decrypted here`);
});

test('a relay that gets no answer is sent again with the same Idempotency-Key and lands once', async ({ browser }) => {
  const s = stack();
  const guardian = getAddress(s.identities.guardian?.address as string);
  const { page: patient } = await signedIn(browser, s, PATIENT_KEY);
  await expect(patient.getByRole('button', { name: 'Add guardian' })).toBeVisible();

  // The first relay reaches the gateway, which sends the transaction, but its answer is lost.
  const sent: { key: string | undefined; calldata: Hex }[] = [];
  let replayed: string | null = null;
  await patient.route('**/v1/relay', async (route) => {
    const request = route.request();
    sent.push({ key: request.headers()['idempotency-key'], calldata: (request.postDataJSON() as { calldata: Hex }).calldata });
    const response = await route.fetch();
    if (sent.length === 1) return route.abort('connectionreset');
    replayed = response.headers()['idempotent-replayed'] ?? null;
    return route.fulfill({ response });
  });
  await patient.getByLabel('Guardian address').fill(guardian);
  await patient.getByRole('button', { name: 'Add guardian' }).click();
  await statusSays(patient, `${guardian} is your guardian.`);

  expect(sent).toHaveLength(2);
  expect(sent[1]).toEqual(sent[0]);
  expect(sent[0]?.key).toBe(keccak256(sent[0]?.calldata as Hex));
  expect(replayed).toBe('true');
});
