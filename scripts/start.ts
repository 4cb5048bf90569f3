// npm start: local chain (anvil + contracts, as `npm run chain`) + the wallet's Vite dev server.
// Zero configuration: chain on 127.0.0.1:8545 (env CHAIN_PORT), wallet on 127.0.0.1:5173.
import { join } from 'node:path';
import { createServer, type ViteDevServer } from 'vite';
import { REPO_ROOT } from '../chain/artifacts.ts';
import { DEFAULT_CHAIN_CONFIG_PATH } from '../chain/deploy.ts';
import { chainPortFromEnv, describeChain, onShutdown, startLocalChain, type LocalChain } from '../chain/local.ts';

const WALLET_HOST = '127.0.0.1';
const WALLET_PORT = 5173;

async function main(): Promise<void> {
  const configPath = join(REPO_ROOT, DEFAULT_CHAIN_CONFIG_PATH);
  let chain: LocalChain | undefined;
  let server: ViteDevServer | undefined;
  const stopAll = async (): Promise<void> => {
    await server?.close();
    await chain?.stop();
  };
  onShutdown(stopAll);

  try {
    const port = chainPortFromEnv();
    chain = await startLocalChain({ port, configPath }).catch((err: unknown) => {
      throw new Error(`Could not start the local chain: ${err instanceof Error ? err.message : String(err)}\n(Set CHAIN_PORT to use another port than ${port}.)`, { cause: err });
    });

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
