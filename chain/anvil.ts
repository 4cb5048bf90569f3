// Starts and stops a local anvil node (from the @foundry-rs/anvil npm package).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';

/**
 * Private keys of anvil's default accounts (mnemonic "test test test ... junk").
 * These are anvil's/hardhat's WELL-KNOWN DEV KEYS: public knowledge, for local chains only.
 * Never send real funds to their addresses on any public network.
 */
export const ANVIL_KEYS = [
  '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80', // 0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266
  '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d', // 0x70997970C51812dc3A010C7d01b50e0d17dc79C8
  '0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a', // 0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC
  '0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6', // 0x90F79bf6EB2c4f870365E785982E1f101E93b906
  '0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a', // 0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65
  // [5] is the hub's default key on the local chain (hub/src/service/config.ts): no test or tool
  // other than the hub uses it, so the hub's nonces are its own.
  '0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba', // 0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc
] as const;

/** Index in ANVIL_KEYS of the hub's default key on the local chain. */
export const ANVIL_HUB_KEY_INDEX = 5;

export const ANVIL_CHAIN_ID = 31337;

export type AnvilOptions = { port?: number; host?: string };
export type Anvil = {
  url: string;
  port: number;
  /** Resolves (with the exit code or signal) if anvil exits on its own; never settles after stop(). */
  exited: Promise<string>;
  stop(): Promise<void>;
};

const READY_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;
const OUTPUT_TAIL_CHARS = 4_000;

const require = createRequire(import.meta.url);

const PLATFORM_PACKAGES: Record<string, string | undefined> = {
  'linux-x64': '@foundry-rs/anvil-linux-amd64',
  'linux-arm64': '@foundry-rs/anvil-linux-arm64',
  'darwin-x64': '@foundry-rs/anvil-darwin-amd64',
  'darwin-arm64': '@foundry-rs/anvil-darwin-arm64',
  'win32-x64': '@foundry-rs/anvil-win32-amd64',
};

let binaryPath: string | undefined;

/**
 * Path of the native anvil binary. We depend on the platform package directly
 * (@foundry-rs/anvil-linux-amd64): the @foundry-rs/anvil wrapper lists every platform's package
 * as optional, and the registry these machines reach only carries the linux-x64 one, which
 * leaves a lock file that `npm ci` refuses. The wrapper is still found if someone installs it.
 */
export function anvilBinary(): string {
  if (binaryPath) return binaryPath;
  const pkg = PLATFORM_PACKAGES[`${process.platform}-${process.arch}`];
  if (!pkg) throw new Error(`anvil: no @foundry-rs binary package for ${process.platform}-${process.arch}`);
  const exe = process.platform === 'win32' ? 'anvil.exe' : 'anvil';
  const candidates: string[] = [];
  for (const from of [() => createRequire(require.resolve('@foundry-rs/anvil/package.json')), () => require]) {
    try {
      candidates.push(join(dirname(from().resolve(`${pkg}/package.json`)), 'bin', exe));
    } catch {
      // not resolvable from there; try the next location
    }
  }
  const found = candidates.find((p) => existsSync(p));
  if (!found) {
    throw new Error(`anvil: binary not found (looked for ${pkg}/bin/${exe}); run 'npm ci' to install ${pkg}`);
  }
  binaryPath = found;
  return found;
}

// One 'exit' listener for all running anvils (not one each: no MaxListeners warnings).
const running = new Set<ChildProcess>();
const killAllOnExit = (): void => {
  for (const child of running) child.kill('SIGKILL');
};
function trackChild(child: ChildProcess): void {
  if (running.size === 0) process.on('exit', killAllOnExit);
  running.add(child);
  child.once('exit', () => untrackChild(child));
}
function untrackChild(child: ChildProcess): void {
  if (!running.delete(child) || running.size > 0) return;
  process.off('exit', killAllOnExit);
}

/** Finds a free TCP port by binding port 0 and releasing it. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  return await new Promise<number>((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', (err) => reject(new Error(`cannot find a free port on ${host}: ${err.message}`, { cause: err })));
    server.listen(0, host, () => {
      const addr = server.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      server.close(() => (port ? resolve(port) : reject(new Error('could not allocate a free port'))));
    });
  });
}

class AnvilStartError extends Error {
  constructor(
    message: string,
    readonly exitedEarly: boolean,
  ) {
    super(message);
  }
}

/** Throws a clear error if `port` is already taken (anvil would exit, and the other process would answer). */
async function assertPortFree(host: string, port: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', (err: NodeJS.ErrnoException) => {
      reject(
        err.code === 'EADDRINUSE'
          ? new AnvilStartError(`anvil: port ${port} on ${host} is already in use (another chain running?)`, true)
          : new AnvilStartError(`anvil: cannot listen on ${host}:${port}: ${err.message}`, false),
      );
    });
    server.listen(port, host, () => server.close(() => resolve()));
  });
}

async function rpcChainId(url: string): Promise<string | undefined> {
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] }),
      signal: AbortSignal.timeout(1_000),
    });
    if (!res.ok) return undefined;
    const body = (await res.json()) as { result?: unknown };
    return typeof body.result === 'string' ? body.result : undefined;
  } catch {
    return undefined;
  }
}

function waitForExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

async function startOnce(host: string, port: number): Promise<Anvil> {
  await assertPortFree(host, port);
  const args = ['--host', host, '--port', String(port), '--chain-id', String(ANVIL_CHAIN_ID), '--quiet'];
  const child = spawn(anvilBinary(), args, { stdio: ['ignore', 'pipe', 'pipe'] });

  let output = '';
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString('utf8')).slice(-OUTPUT_TAIL_CHARS);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);

  let spawnError: Error | undefined;
  child.once('error', (err) => {
    spawnError = err;
    untrackChild(child);
  });

  // Never leave an orphaned anvil behind if this process exits without calling stop().
  trackChild(child);

  const exited = (): boolean => child.exitCode !== null || child.signalCode !== null || spawnError !== undefined;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (exited()) return;
      child.kill('SIGTERM');
      if (!(await waitForExit(child, STOP_TIMEOUT_MS))) {
        child.kill('SIGKILL');
        await waitForExit(child, STOP_TIMEOUT_MS);
      }
    })();
    return stopping;
  };

  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (exited()) {
      await stop();
      const why = spawnError ? spawnError.message : `exit code ${child.exitCode ?? child.signalCode}`;
      throw new AnvilStartError(`anvil exited before it was ready on ${url} (${why}). Output:\n${output.trim()}`, true);
    }
    const chainId = await rpcChainId(url);
    if (chainId !== undefined) {
      if (Number(chainId) !== ANVIL_CHAIN_ID) {
        await stop();
        throw new AnvilStartError(`something else answers on ${url}: chain id ${Number(chainId)}`, false);
      }
      if (exited()) continue; // another node answered on that port and ours died
      const exitedUnexpectedly = new Promise<string>((resolve) => {
        child.once('exit', (code, signal) => {
          if (!stopping) resolve(String(code ?? signal));
        });
      });
      return { url, port, exited: exitedUnexpectedly, stop };
    }
    if (Date.now() > deadline) {
      await stop();
      throw new AnvilStartError(
        `anvil did not answer eth_chainId on ${url} within ${READY_TIMEOUT_MS / 1000} s. Output:\n${output.trim()}`,
        false,
      );
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Spawns anvil (chain id 31337, quiet) on `host` (default 127.0.0.1) and `port` (default: a free
 * port), and resolves once it answers eth_chainId. `stop()` kills it and waits for it to exit.
 */
export async function startAnvil(opts: AnvilOptions = {}): Promise<Anvil> {
  const host = opts.host ?? '127.0.0.1';
  if (opts.port !== undefined) return await startOnce(host, opts.port);
  // A free port can be taken by someone else between probing and anvil binding it: retry then.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(host, await freePort(host));
    } catch (err) {
      if (!(err instanceof AnvilStartError && err.exitedEarly) || attempt >= 3) throw err;
    }
  }
}
