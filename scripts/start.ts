// npm start: local chain (anvil + contracts, as `npm run chain`), the dev faucet, the hub's
// message relay, and the wallet's Vite dev server. Zero configuration: chain on 127.0.0.1:8545
// (env CHAIN_PORT), relay on 127.0.0.1:7100 (env HUB_PORT), wallet on 127.0.0.1:5173.
import { join } from 'node:path';
import { createServer, type ViteDevServer } from 'vite';
import { REPO_ROOT } from '../chain/artifacts.ts';
import { DEFAULT_CHAIN_CONFIG_PATH, writeChainConfig } from '../chain/deploy.ts';
import { type Faucet, startFaucet } from '../chain/faucet.ts';
import { startRelay } from '../hub/src/relay/index.ts';
import { chainPortFromEnv, describeChain, onShutdown, startLocalChain, type LocalChain } from '../chain/local.ts';

const WALLET_HOST = '127.0.0.1';
const WALLET_PORT = 5173;

async function main(): Promise<void> {
  const configPath = join(REPO_ROOT, DEFAULT_CHAIN_CONFIG_PATH);
  let chain: LocalChain | undefined;
  let server: ViteDevServer | undefined;
  let faucet: Faucet | undefined;
  let relay: Awaited<ReturnType<typeof startRelay>> | undefined;
  const stopAll = async (): Promise<void> => {
    await server?.close();
    await relay?.close();
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
    const hubPort = Number(process.env['HUB_PORT'] || 7100);
    relay = await startRelay({ port: hubPort }).catch((err: unknown) => {
      throw new Error(`Could not start the relay on port ${hubPort}: ${err instanceof Error ? err.message : String(err)}\n(Set HUB_PORT to use another port.)`, { cause: err });
    });
    writeChainConfig({ ...chain.config, faucetUrl: faucet.url, relayUrl: relay.url }, configPath);

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
      `Hub relay:  ${relay!.url} (health ${relay!.healthUrl})`,
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
