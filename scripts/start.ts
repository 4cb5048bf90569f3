// npm start: local chain (anvil + contracts, as `npm run chain`), the dev faucet, the hub (its
// engine and its message relay), and the wallet's Vite dev server. Zero configuration: chain on
// 127.0.0.1:8545 (env CHAIN_PORT), hub relay on 127.0.0.1:7100 (env HUB_PORT; the other hub
// settings as in hub/README.md), wallet on 127.0.0.1:5173.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { createServer, type ViteDevServer } from 'vite';
import { REPO_ROOT } from '../chain/artifacts.ts';
import { DEFAULT_CHAIN_CONFIG_PATH, writeChainConfig } from '../chain/deploy.ts';
import { type Faucet, startFaucet } from '../chain/faucet.ts';
import { FileStore, StoreLockedError } from '../hub/src/store/file-store.ts';
import { DEFAULT_DATA_DIR, type Hub, type HubConfig, describeHub, loadHubConfig, startHub } from '../hub/src/service/index.ts';
import { chainPortFromEnv, describeChain, onShutdown, startLocalChain, type LocalChain } from '../chain/local.ts';

const WALLET_HOST = '127.0.0.1';
const WALLET_PORT = 5173;

/** Empties the hub's dev data directory, unless a running hub holds it (its lock says so). */
async function clearDevHubData(dir: string): Promise<void> {
  try {
    await (await FileStore.open(dir)).close();
  } catch (err) {
    if (err instanceof StoreLockedError) throw new Error(`Another hub is using ${dir}: stop it first, or set HUB_DATA_DIR.`, { cause: err });
    // Anything else (a damaged store, say) is about to be deleted anyway.
  }
  rmSync(dir, { recursive: true, force: true });
}

async function main(): Promise<void> {
  const configPath = join(REPO_ROOT, DEFAULT_CHAIN_CONFIG_PATH);
  let chain: LocalChain | undefined;
  let server: ViteDevServer | undefined;
  let faucet: Faucet | undefined;
  let hubConfig: HubConfig | undefined;
  let hub: Hub | undefined;
  const stopAll = async (): Promise<void> => {
    await server?.close();
    await hub?.close();
    await faucet?.close();
    await chain?.stop();
  };
  onShutdown(stopAll);

  try {
    const port = chainPortFromEnv();
    chain = await startLocalChain({ port, configPath }).catch((err: unknown) => {
      throw new Error(`Could not start the local chain: ${err instanceof Error ? err.message : String(err)}\n(Set CHAIN_PORT to use another port than ${port}.)`, { cause: err });
    });

    faucet = await startFaucet({ rpcUrl: chain.config.rpcUrl, token: chain.config.token });
    // The hub: its engine (key, store, policy) and the relay the wallets log into. The chain is new,
    // so the hub's dev data directory starts empty too (a data directory is bound to its chain).
    hubConfig = loadHubConfig({ chain: { ...chain.config, faucetUrl: faucet.url }, cwd: REPO_ROOT });
    if (hubConfig.dataDir === join(REPO_ROOT, DEFAULT_DATA_DIR)) await clearDevHubData(hubConfig.dataDir);
    const config = hubConfig;
    hub = await startHub({
      key: config.key,
      chain: config.chain,
      dataDir: config.dataDir,
      host: config.host,
      port: config.port,
      ...(config.publicOrigin !== undefined && { publicOrigin: config.publicOrigin }),
      policy: config.policy,
    }).catch((err: unknown) => {
      const message = err instanceof Error ? err.message : String(err);
      throw new Error(`Could not start the hub: ${message}${/EADDRINUSE/.test(message) ? `\n(Set HUB_PORT to use another port than ${config.port}.)` : ''}`, { cause: err });
    });
    writeChainConfig({ ...chain.config, faucetUrl: faucet.url, relayUrl: hub.url }, configPath);

    // The wallet page reads the chain config through virtual:chain-config (see vite.config.ts).
    process.env['CHAIN_CONFIG'] = configPath;
    server = await createServer({
      configFile: join(REPO_ROOT, 'vite.config.ts'),
      root: REPO_ROOT,
      server: { host: WALLET_HOST, port: WALLET_PORT },
    });
    await server.listen();
  } catch (err) {
    await stopAll();
    throw err;
  }

  const walletUrl = server.resolvedUrls?.local[0] ?? `http://${WALLET_HOST}:${WALLET_PORT}/`;
  console.log(
    [
      '',
      'Channel Wallet dev environment is running.',
      '',
      'Chain (anvil), contracts deployed:',
      describeChain(chain.config),
      `  Config file        ${configPath}`,
      '',
      `Dev faucet: ${faucet!.url}/faucet (POST {"address": "0x…"}; the wallet tops itself up before a deposit)`,
      'Hub (joins the channels users open with it, per its policy):',
      describeHub(hub!, hubConfig!),
      '',
      `Wallet: ${walletUrl}`,
      '',
      'Press Ctrl-C to stop.',
    ].join('\n'),
  );

  void chain.exited.then(async (code) => {
    console.error(`anvil exited unexpectedly (${code}); stopping.`);
    await server?.close();
    process.exit(1);
  });
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
