/**
 * Everything the browser benchmarks need, started once: anvil with the contracts, the dev
 * faucet, the hub's relay, production builds of the wallet and the test dapp served on two
 * different sites, and Chromium.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser } from '@playwright/test';
import { writeChainConfig } from '../chain/deploy.ts';
import { startFaucet } from '../chain/faucet.ts';
import { startLocalChain } from '../chain/local.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { PrivateKey } from '../core/src/index.ts';
import { ANVIL_HUB_KEY_INDEX, ANVIL_KEYS } from '../chain/anvil.ts';
import { startHub } from '../hub/src/service/index.ts';
import { buildPages, launchChromium, serveStatic } from './browser.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

export const ECHO_PAGE = `<!doctype html><script>
  addEventListener('message', (e) => { if (e.source === parent) parent.postMessage(e.data, e.origin); });
  const o = new URLSearchParams(location.search).get('origin');
  if (o) parent.postMessage({ jsonrpc: '2.0', method: 'echo_ready', params: {} }, o);
</script>`;

export interface BenchEnvironment {
  browser: Browser;
  walletUrl: string;
  dappUrl: string;
  relayUrl: string;
  rpcUrl: string;
  /** The hub's address (its relay is relayUrl). */
  hubAddress: string;
  /** The dapp page URL pointed at the wallet and the relay. */
  dappPage: string;
  close(): Promise<void>;
}

export async function startBenchEnvironment(): Promise<BenchEnvironment> {
  const chain = await startLocalChain({ configPath: null });
  const faucet = await startFaucet({ rpcUrl: chain.config.rpcUrl, token: chain.config.token });
  // The hub, with its relay, on a durable store in a temporary directory.
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-hub-'));
  const hub = await startHub({
    key: PrivateKey.fromHex(ANVIL_KEYS[ANVIL_HUB_KEY_INDEX]!),
    chain: { ...chain.config, faucetUrl: faucet.url },
    dataDir,
    policy: { users: 'all', maxDepositPerUser: { '0x0000000000000000000000000000000000000000': 10n ** 20n }, challengeDuration: { min: 60, max: 604_800 } },
    log: () => undefined,
  });
  const relay = { url: hub.url, close: async () => { await hub.close(); rmSync(dataDir, { recursive: true, force: true }); } };
  const configPath = join(ROOT, '.local', 'bench-chain.json');
  writeChainConfig({ ...chain.config, faucetUrl: faucet.url, relayUrl: relay.url }, configPath);
  process.env['CHAIN_CONFIG'] = configPath;
  const { walletDir, dappDir } = await buildPages();
  const wallet = await serveStatic(walletDir, '127.0.0.1', { '/__echo.html': ECHO_PAGE });
  const dapp = await serveStatic(dappDir, 'localhost');
  const browser = await launchChromium();
  return {
    browser,
    walletUrl: wallet.url,
    dappUrl: dapp.url,
    relayUrl: relay.url,
    rpcUrl: chain.config.rpcUrl,
    hubAddress: hub.address,
    dappPage: `${dapp.url}/?wallet=${encodeURIComponent(wallet.url + '/')}&relay=${encodeURIComponent(relay.url)}`,
    close: async () => {
      await browser.close();
      await wallet.close();
      await dapp.close();
      await relay.close();
      await faucet.close();
      await chain.stop();
    },
  };
}
