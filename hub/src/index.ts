/**
 * The hub's entry: `npm run hub` (or `node --import tsx hub/src/index.ts`). Runs the hub service
 * (hub/src/service): its engine with the hub's key and durable store, and the message relay its
 * users and its own engine log into. Configuration from the environment and/or a JSON file
 * (HUB_CONFIG): see hub/README.md. On the local chain (`npm run chain`) nothing needs setting.
 */
import { HubConfigError, type HubConfig, describeHub, loadHubConfig, startHub } from './service/index.ts';

let config: HubConfig;
try {
  config = loadHubConfig();
} catch (error) {
  if (!(error instanceof HubConfigError)) throw error;
  console.error(`hub: configuration error: ${error.message}`);
  process.exit(2);
}

const hub = await startHub({
  key: config.key,
  chain: config.chain,
  dataDir: config.dataDir,
  host: config.host,
  port: config.port,
  ...(config.publicOrigin !== undefined && { publicOrigin: config.publicOrigin }),
  policy: config.policy,
}).catch((error: unknown) => {
  const chainFile = config.chainConfigPath === undefined ? '' : ` (chain config ${config.chainConfigPath})`;
  console.error(`hub: could not start${chainFile}: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});

console.log(['', 'Hub is running.', describeHub(hub, config), ''].join('\n'));
if ((config.host === '0.0.0.0' || config.host === '::') && config.publicOrigin === undefined) {
  console.warn('HUB_HOST listens on every interface: set HUB_PUBLIC_ORIGIN to the origin clients use, or their logins will fail');
}

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) process.exit(1); // a second signal: do not wait
    stopping = true;
    console.log(`${signal}: stopping the hub`);
    hub.close().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error('stopping the hub failed', error);
        process.exit(1);
      },
    );
  });
}
