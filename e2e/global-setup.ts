// Starts, for the whole e2e run, a fresh anvil with the contracts deployed, the dev faucet, and
// the hub (as its own process, with its relay), and writes their addresses to the e2e chain config.
//
// Ordering: Playwright (1.65) starts `webServer` BEFORE globalSetup (plugin setup runs first).
// That is fine: the Vite plugin reads the chain config file when the page first requests
// virtual:chain-config (and reloads on change), which only happens once tests run.
import { join } from 'node:path';
import type { FullConfig } from '@playwright/test';
import { writeChainConfig } from '../chain/deploy.ts';
import { startFaucet } from '../chain/faucet.ts';
import { startLocalChain } from '../chain/local.ts';
import { rmSync } from 'node:fs';
import { freePort } from '../chain/anvil.ts';
import { startHubProcess, stopHub } from './hub-process.ts';
import { E2E_CHAIN_CONFIG, REPO_ROOT } from './paths.ts';

export default async function globalSetup(_config: FullConfig): Promise<() => Promise<void>> {
  const path = join(REPO_ROOT, E2E_CHAIN_CONFIG);
  const chain = await startLocalChain({ configPath: null });
  const faucet = await startFaucet({ rpcUrl: chain.config.rpcUrl, token: chain.config.token });
  const port = await freePort('127.0.0.1');
  const relayUrl = `ws://127.0.0.1:${port}/relay`;
  writeChainConfig({ ...chain.config, faucetUrl: faucet.url, relayUrl }, path);
  const dataDir = join(REPO_ROOT, '.local', 'e2e-hub-data');
  rmSync(dataDir, { recursive: true, force: true });
  const hub = await startHubProcess({ chainConfigPath: path, dataDir, port });
  console.log(`[e2e] anvil on ${chain.config.rpcUrl}, adjudicator ${chain.config.adjudicator}, faucet ${faucet.url}, hub ${hub.address} with relay ${relayUrl}`);
  return async () => {
    stopHub();
    await faucet.close();
    await chain.stop();
  };
}
