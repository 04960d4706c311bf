// Signing a page in, as the specs share it.
import { type Page, expect } from '@playwright/test';

/**
 * Connects the injected wallet and signs in. The gateway limits sign-ins
 * per address, and every spec signs in from the one loopback address: a
 * `medvault dev` built before its own looser limits keeps the gateway's
 * (0.5 a second, 10 in a burst), which a run of the specs uses up. The page
 * then says so, and the test waits and tries again, as a person would.
 */
export async function signIn(page: Page): Promise<void> {
  const status = page.locator('#status');
  await expect(async () => {
    await page.getByRole('button', { name: 'Connect wallet and sign in' }).click();
    await expect(status).toContainText(/Signed in as|Too many requests/, { timeout: 30_000 });
    if ((await status.textContent())?.includes('Too many requests')) {
      await page.waitForTimeout(4_000);
      throw new Error('sign-in rate limited');
    }
  }).toPass({ timeout: 120_000 });
  await expect(status).toContainText('Signed in as');
}
