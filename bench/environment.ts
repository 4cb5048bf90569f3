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
import { startRelay } from '../hub/src/relay/index.ts';
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
  /** The dapp page URL pointed at the wallet and the relay. */
  dappPage: string;
  close(): Promise<void>;
}

export async function startBenchEnvironment(): Promise<BenchEnvironment> {
  const chain = await startLocalChain({ configPath: null });
  const faucet = await startFaucet({ rpcUrl: chain.config.rpcUrl, token: chain.config.token });
  const relay = await startRelay({ port: 0, log: () => undefined });
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
