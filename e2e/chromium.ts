// Debian Chromium as Playwright should launch it here, shared by playwright.config.ts and the
// browser benchmarks.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export const CHROMIUM = '/usr/bin/chromium';

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

/** Launch options for Debian's Chromium, with third-party storage partitioning left on. */
export const chromiumLaunchOptions = {
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
};
