// Browser tests: Debian's Chromium (never a downloaded one), headless and
// kept off the network, against a `medvault dev` stack that the global
// setup starts in a temporary folder and stops at the end.
import { defineConfig } from '@playwright/test';

const chromium = process.env.CHROMIUM ?? '/usr/bin/chromium';

export default defineConfig({
  testDir: 'test/browser',
  testMatch: '*.spec.ts',
  globalSetup: './test/browser/global-setup.ts',
  outputDir: 'test-results/playwright',
  // One stack, shared: the tests run one after the other.
  workers: 1,
  fullyParallel: false,
  timeout: 240_000,
  expect: { timeout: 60_000 },
  reporter: [['list']],
  use: {
    browserName: 'chromium',
    headless: true,
    viewport: { width: 1100, height: 900 },
    acceptDownloads: true,
    actionTimeout: 60_000,
    launchOptions: {
      executablePath: chromium,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-default-apps',
        '--disable-sync',
        '--no-first-run',
        '--disable-domain-reliability',
        '--metrics-recording-only=false',
        '--disable-breakpad',
        '--disable-client-side-phishing-detection',
        '--disable-features=OptimizationHints,MediaRouter,Translate,AutofillServerCommunication,CertificateTransparencyComponentUpdater',
        '--no-default-browser-check',
        '--no-pings',
        '--dns-prefetch-disable',
        // Only loopback is ever reached: anything else fails at once.
        '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1',
      ],
    },
  },
});
