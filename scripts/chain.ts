// npm run chain: a local anvil chain with the Nitro contracts and the test token deployed.
// Listens on 127.0.0.1:8545 (override with CHAIN_PORT), writes .local/chain.json, runs until Ctrl-C.
import { join } from 'node:path';
import { REPO_ROOT } from '../chain/artifacts.ts';
import { DEFAULT_CHAIN_CONFIG_PATH } from '../chain/deploy.ts';
import { chainPortFromEnv, describeChain, onShutdown, startLocalChain } from '../chain/local.ts';

async function main(): Promise<void> {
  const chain = await startLocalChain({ port: chainPortFromEnv(), configPath: join(REPO_ROOT, DEFAULT_CHAIN_CONFIG_PATH) });
  onShutdown(chain.stop);
  console.log(`Local chain running; contracts deployed:\n${describeChain(chain.config)}`);
  console.log(`Chain config written to ${DEFAULT_CHAIN_CONFIG_PATH}. Press Ctrl-C to stop.`);
  void chain.exited.then((code) => {
    console.error(`anvil exited unexpectedly (${code}); stopping.`);
    process.exit(1);
  });
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
