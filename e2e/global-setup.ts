// Starts, for the whole e2e run, a fresh anvil with the contracts deployed, the dev faucet, and
// the hub's message relay, and writes their addresses to the e2e chain config.
//
// Ordering: Playwright (1.65) starts `webServer` BEFORE globalSetup (plugin setup runs first).
// That is fine: the Vite plugin reads the chain config file when the page first requests
// virtual:chain-config (and reloads on change), which only happens once tests run.
import { join } from 'node:path';
import type { FullConfig } from '@playwright/test';
import { writeChainConfig } from '../chain/deploy.ts';
import { startFaucet } from '../chain/faucet.ts';
import { startLocalChain } from '../chain/local.ts';
import { startRelay } from '../hub/src/relay/index.ts';
import { E2E_CHAIN_CONFIG, REPO_ROOT } from './paths.ts';

export default async function globalSetup(_config: FullConfig): Promise<() => Promise<void>> {
  const path = join(REPO_ROOT, E2E_CHAIN_CONFIG);
  const chain = await startLocalChain({ configPath: null });
  const faucet = await startFaucet({ rpcUrl: chain.config.rpcUrl, token: chain.config.token });
  const relay = await startRelay({ port: 0 });
  writeChainConfig({ ...chain.config, faucetUrl: faucet.url, relayUrl: relay.url }, path);
  console.log(`[e2e] anvil on ${chain.config.rpcUrl}, adjudicator ${chain.config.adjudicator}, faucet ${faucet.url}, relay ${relay.url}`);
  return async () => {
    await relay.close();
    await faucet.close();
    await chain.stop();
  };
}
