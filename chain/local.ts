// A local development chain: anvil + the deployed contracts + the written chain config.
// Shared by scripts/chain.ts, scripts/start.ts and the e2e global setup.
import { startAnvil } from './anvil.ts';
import { DEFAULT_CHAIN_CONFIG_PATH, deployContracts, writeChainConfig, type ChainConfig } from './deploy.ts';

export type LocalChainOptions = {
  /** Port for anvil; a free port when omitted. */
  port?: number;
  host?: string;
  /** Where to write the chain config; `null` to skip writing. Default .local/chain.json. */
  configPath?: string | null;
};

export type LocalChain = {
  config: ChainConfig;
  configPath: string | null;
  /** Settles when anvil exits on its own (not through stop()), with its exit code or signal. */
  exited: Promise<string>;
  stop(): Promise<void>;
};

export async function startLocalChain(opts: LocalChainOptions = {}): Promise<LocalChain> {
  const anvil = await startAnvil({ ...(opts.port !== undefined && { port: opts.port }), host: opts.host ?? '127.0.0.1' });
  try {
    const addresses = await deployContracts(anvil.url);
    const config: ChainConfig = { rpcUrl: anvil.url, ...addresses };
    const configPath = opts.configPath === undefined ? DEFAULT_CHAIN_CONFIG_PATH : opts.configPath;
    if (configPath !== null) writeChainConfig(config, configPath);
    return { config, configPath, exited: anvil.exited, stop: anvil.stop };
  } catch (err) {
    await anvil.stop();
    throw err;
  }
}

/** The port for the dev chain: 8545, or env CHAIN_PORT. */
export function chainPortFromEnv(): number {
  const raw = process.env['CHAIN_PORT'];
  if (raw === undefined || raw === '') return 8545;
  const port = Number(raw);
  if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new Error(`CHAIN_PORT must be a TCP port, got "${raw}"`);
  return port;
}

/** Human-readable summary of a chain config, one item per line. */
export function describeChain(config: ChainConfig): string {
  return [
    `  RPC URL            ${config.rpcUrl}  (chain id ${config.chainId})`,
    `  NitroAdjudicator   ${config.adjudicator}`,
    `  ConsensusApp       ${config.consensusApp}`,
    `  VirtualPaymentApp  ${config.virtualPaymentApp}`,
    `  TestToken (CWT)    ${config.token}`,
  ].join('\n');
}

/**
 * Runs `cleanup` once on SIGINT/SIGTERM, then exits 0 (a clean stop, so npm prints no error).
 * A second signal exits at once with code 1.
 */
export function onShutdown(cleanup: () => Promise<void>): void {
  let shuttingDown = false;
  const handler = (signal: NodeJS.Signals): void => {
    if (shuttingDown) process.exit(1);
    shuttingDown = true;
    console.log(`\n${signal}: shutting down...`);
    cleanup().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(err);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}
