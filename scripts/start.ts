// npm start: local chain (anvil + contracts, as `npm run chain`), the dev faucet, the hub (its
// engine and its message relay), and the wallet's Vite dev server. Zero configuration: chain on
// 127.0.0.1:8545 (env CHAIN_PORT), hub relay on 127.0.0.1:7100 (env HUB_PORT; the other hub
// settings as in hub/README.md), wallet on 127.0.0.1:5173, and the demo dapp (paid file sharing) on
// two other sites, localhost:5174 and 127.0.0.2:5175 (each site gets a wallet of its own).
import { rmSync } from 'node:fs';
import { createServer as createNetServer } from 'node:net';
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
/** The demo on two sites other than the wallet's: a seeder on one, a leecher on the other. */
const DEMO_SITES = [
  { host: '127.0.0.1', name: 'localhost', port: 5174 },
  { host: '127.0.0.2', name: '127.0.0.2', port: 5175 },
] as const;

/** Serves the demo on each site it can bind; a host this machine lacks (127.0.0.2 on macOS) is skipped with a hint. */
async function startDemo(walletUrl: string, relayUrl: string): Promise<{ servers: ViteDevServer[]; urls: string[]; notes: string[] }> {
  const notes: string[] = [];
  // First which hosts this machine can listen on, so each page links only to sites that exist.
  const usable: (typeof DEMO_SITES)[number][] = [];
  for (const site of DEMO_SITES) {
    const probe = createNetServer();
    const error = await new Promise<Error | undefined>((resolve) => {
      probe.once('error', resolve);
      probe.listen(site.port, site.host, () => probe.close(() => resolve(undefined)));
    });
    if (error) notes.push(`  (not serving the demo on http://${site.name}:${site.port}: ${error.message}; open the leecher in a private window instead)`);
    else usable.push(site);
  }
  const urls = usable.map((s) => `http://${s.name}:${s.port}`);
  process.env['DEMO_WALLET_URL'] = walletUrl;
  process.env['DEMO_RELAY_URL'] = relayUrl;
  process.env['DEMO_SITES'] = urls.join(',');
  const servers: ViteDevServer[] = [];
  for (const site of usable) {
    process.env['DEMO_CACHE_NAME'] = `demo-${site.port}`;
    const demo = await createServer({ configFile: join(REPO_ROOT, 'demo', 'vite.config.ts'), server: { host: site.host, port: site.port, strictPort: true } });
    servers.push(demo);
    await demo.listen();
  }
  return { servers, urls, notes };
}

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
  let demo: { servers: ViteDevServer[]; urls: string[]; notes: string[] } | undefined;
  let faucet: Faucet | undefined;
  let hubConfig: HubConfig | undefined;
  let hub: Hub | undefined;
  const stopAll = async (): Promise<void> => {
    for (const s of demo?.servers ?? []) await s.close();
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
    demo = await startDemo(`http://${WALLET_HOST}:${WALLET_PORT}/`, hub.url);
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
      'Demo — paid file sharing (README: "Try the demo"):',
      ...(demo!.urls[0] ? [`  Seeder   ${demo!.urls[0]}/seed.html`] : []),
      ...(demo!.urls[1] ? [`  Leecher  ${demo!.urls[1]}/leech.html`] : demo!.urls[0] ? [`  Leecher  ${demo!.urls[0]}/leech.html  (in a private window)`] : []),
      ...demo!.notes,
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
