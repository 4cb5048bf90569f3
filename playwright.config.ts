import { defineConfig } from '@playwright/test';
import { chromiumLaunchOptions } from './e2e/chromium.ts';
import { E2E_CHAIN_CONFIG, E2E_DAPP_A_PORT, E2E_DAPP_A_URL, E2E_DAPP_B_PORT, E2E_DAPP_B_URL, E2E_DEMO_A_PORT, E2E_DEMO_A_URL, E2E_DEMO_B_PORT, E2E_DEMO_B_URL, E2E_WALLET_PORT, E2E_WALLET_URL } from './e2e/paths.ts';

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
    launchOptions: chromiumLaunchOptions,
  },
  // Started before globalSetup (see e2e/global-setup.ts); the page reads the chain config lazily.
  webServer: [
    {
      command: `node node_modules/vite/bin/vite.js --host 127.0.0.1 --port ${E2E_WALLET_PORT} --strictPort`,
      url: E2E_WALLET_URL,
      reuseExistingServer: false,
      timeout: 60_000,
      env: { CHAIN_CONFIG: E2E_CHAIN_CONFIG, VITE_CACHE_DIR: 'node_modules/.vite/wallet-e2e' },
      stdout: 'ignore',
      stderr: 'pipe',
    },
    // The test dapp on two other sites: localhost (bound on 127.0.0.1) and 127.0.0.2.
    ...[
      { host: '127.0.0.1', port: E2E_DAPP_A_PORT, url: E2E_DAPP_A_URL },
      { host: '127.0.0.2', port: E2E_DAPP_B_PORT, url: E2E_DAPP_B_URL },
    ].map(({ host, port, url }) => ({
      command: `node node_modules/vite/bin/vite.js --config e2e/dapp/vite.config.ts --host ${host} --port ${port} --strictPort`,
      url,
      env: { DAPP_CACHE_NAME: `dapp-${port}` },
      reuseExistingServer: false,
      timeout: 60_000,
      stdout: 'ignore' as const,
      stderr: 'pipe' as const,
    })),
    // The demo dapp (paid file sharing) on the same two sites, other ports.
    ...[
      { host: '127.0.0.1', port: E2E_DEMO_A_PORT, url: E2E_DEMO_A_URL },
      { host: '127.0.0.2', port: E2E_DEMO_B_PORT, url: E2E_DEMO_B_URL },
    ].map(({ host, port, url }) => ({
      command: `node node_modules/vite/bin/vite.js --config demo/vite.config.ts --host ${host} --port ${port} --strictPort`,
      url,
      env: { DEMO_CACHE_NAME: `demo-${port}`, DEMO_SITES: `${E2E_DEMO_A_URL},${E2E_DEMO_B_URL}` },
      reuseExistingServer: false,
      timeout: 60_000,
      stdout: 'ignore' as const,
      stderr: 'pipe' as const,
    })),
  ],
});
