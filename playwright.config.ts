import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { defineConfig } from '@playwright/test';
import { E2E_CHAIN_CONFIG, E2E_WALLET_PORT, E2E_WALLET_URL } from './e2e/paths.ts';

const CHROMIUM = '/usr/bin/chromium';

/**
 * Playwright 1.65's default `--disable-features=` list (playwright-core, chromiumSwitches.ts).
 * It includes ThirdPartyStoragePartitioning, and with that disabled IndexedDB in a cross-site
 * iframe (our wallet) fails with "The user denied permission to access the database". So we drop
 * Playwright's argument (ignoreDefaultArgs must match it exactly) and pass the same list back
 * without ThirdPartyStoragePartitioning. checkDisabledFeatures() fails loudly if an upgrade
 * changes the list, instead of silently losing this fix.
 */
const PLAYWRIGHT_DISABLED_FEATURES = [
  'AvoidUnnecessaryBeforeUnloadCheckSync',
  'DestroyProfileOnBrowserClose',
  'HttpsUpgrades',
  'HttpsFirstBalancedModeAutoEnable',
  'LensOverlay',
  'MediaRouter',
  'PaintHolding',
  'ThirdPartyStoragePartitioning',
  'AvoidCorsURLLoaderRestartOnRedirect',
  'TcpPortRandomizationWin',
  'OptimizationHints',
  'NetworkTimeServiceQuerying',
  'AimEnabled',
  'PreconnectToSearch',
  'msForceBrowserSignIn',
  'msEdgeUpdateLaunchServicesPreferredVersion',
];

function checkDisabledFeatures(): void {
  const require = createRequire(import.meta.url);
  const bundle = join(dirname(require.resolve('playwright-core/package.json')), 'lib', 'coreBundle.js');
  let source: string;
  try {
    source = readFileSync(bundle, 'utf8');
  } catch {
    throw new Error(`playwright.config.ts: cannot read ${bundle} to check Playwright's default --disable-features list`);
  }
  const block = /disabledFeatures = \[([\s\S]*?)\]\.filter\(Boolean\)/.exec(source)?.[1];
  const actual = block
    ?.replace(/\/\/.*$/gm, '')
    .match(/"[^"]*"/g)
    ?.map((s) => s.slice(1, -1));
  if (!actual || actual.join(',') !== PLAYWRIGHT_DISABLED_FEATURES.join(',')) {
    throw new Error(
      "playwright.config.ts: Playwright's default --disable-features list is not the one this config expects.\n" +
        `Found in ${bundle}: ${actual ? JSON.stringify(actual) : '(not found)'}\n` +
        'Update PLAYWRIGHT_DISABLED_FEATURES to that list (ThirdPartyStoragePartitioning stays removed from the args).',
    );
  }
}
checkDisabledFeatures();

const ourDisabledFeatures = PLAYWRIGHT_DISABLED_FEATURES.filter((f) => f !== 'ThirdPartyStoragePartitioning');

export default defineConfig({
  testDir: 'e2e',
  testMatch: '**/*.spec.ts',
  globalSetup: './e2e/global-setup.ts',
  workers: 1,
  fullyParallel: false,
  forbidOnly: true,
  retries: 0,
  timeout: 30_000,
  expect: { timeout: 10_000 },
  outputDir: 'test-results',
  reporter: [['list'], ['json', { outputFile: '.local/e2e-results.json' }]],
  use: {
    baseURL: E2E_WALLET_URL,
    browserName: 'chromium',
    headless: true,
    trace: 'retain-on-failure',
    launchOptions: {
      executablePath: CHROMIUM,
      ignoreDefaultArgs: [`--disable-features=${PLAYWRIGHT_DISABLED_FEATURES.join(',')}`],
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        `--disable-features=${ourDisabledFeatures.join(',')}`,
      ],
    },
  },
  // Started before globalSetup (see e2e/global-setup.ts); the page reads the chain config lazily.
  webServer: {
    command: `node node_modules/vite/bin/vite.js --host 127.0.0.1 --port ${E2E_WALLET_PORT} --strictPort`,
    url: E2E_WALLET_URL,
    reuseExistingServer: false,
    timeout: 60_000,
    env: { CHAIN_CONFIG: E2E_CHAIN_CONFIG },
    stdout: 'ignore',
    stderr: 'pipe',
  },
});
