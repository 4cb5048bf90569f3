// Starts a fresh anvil chain with the contracts deployed, for the whole e2e run.
//
// Ordering: Playwright (1.65) starts `webServer` BEFORE globalSetup (plugin setup runs first).
// That is fine: the Vite plugin reads the chain config file when the page first requests
// virtual:chain-config (and reloads on change), which only happens once tests run.
import { join } from 'node:path';
import type { FullConfig } from '@playwright/test';
import { startLocalChain } from '../chain/local.ts';
import { E2E_CHAIN_CONFIG, REPO_ROOT } from './paths.ts';

export default async function globalSetup(_config: FullConfig): Promise<() => Promise<void>> {
  const chain = await startLocalChain({ configPath: join(REPO_ROOT, E2E_CHAIN_CONFIG) });
  console.log(`[e2e] anvil on ${chain.config.rpcUrl}, adjudicator ${chain.config.adjudicator}`);
  return async () => {
    await chain.stop();
  };
}
