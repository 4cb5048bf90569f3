/**
 * Crash safety: the hub runs as its own process (`node --import tsx hub/src/index.ts`, as
 * `npm run hub` does) and is killed with SIGKILL in the middle of funding — its deposit sent but
 * not yet mined — then started again on the same data directory. Anvil mines only when the test
 * says so, which is how the test holds the hub's deposit in the mempool at the moment of the kill.
 *
 *   - mined while the hub is down: the restarted hub finds the deposit on chain and completes;
 *   - still pending when the hub is back: the restarted hub plans the deposit again, and whatever
 *     it sends carries the old expectedHeld, so at most one deposit lands.
 *
 * Either way funding completes and the chain shows exactly one deposit by the hub.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Address, PrivateKey } from '../../../core/src/index.ts';
import { ANVIL_HUB_KEY_INDEX, ANVIL_KEYS, type Anvil, freePort, startAnvil } from '../../../chain/anvil.ts';
import { REPO_ROOT } from '../../../chain/artifacts.ts';
import { type ChainConfig, deployContracts, writeChainConfig } from '../../../chain/deploy.ts';
import { createJsonRpcProvider } from '../../../engine/src/chain/index.ts';
import type { HubHealth } from './hub.ts';
import { ETH, type TestUser, depositsInto, holdingsOf, startUser, until } from './testing/user.ts';

const HUB = PrivateKey.fromHex(ANVIL_KEYS[ANVIL_HUB_KEY_INDEX]).address;
let anvil: Anvil;
let chain: ChainConfig;
let dir: string;
let rpc: ReturnType<typeof createJsonRpcProvider>;
const running: { child: ChildProcess; output: string[] }[] = [];
const users: TestUser[] = [];

beforeAll(async () => {
  anvil = await startAnvil();
  chain = { rpcUrl: anvil.url, ...(await deployContracts(anvil.url)) };
  dir = mkdtempSync(join(tmpdir(), 'hub-crash-'));
  writeChainConfig(chain, join(dir, 'chain.json'));
  rpc = createJsonRpcProvider(anvil.url, chain.chainId);
});

afterEach(async () => {
  for (const u of users.splice(0)) u.close();
  for (const p of running.splice(0)) await kill(p.child, 'SIGTERM');
  await rpc.send('evm_setAutomine', [true]);
});

afterAll(async () => {
  rpc?.destroy();
  await anvil?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function kill(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  await exited;
}

/** Starts `npm run hub`'s entry as a child process and waits until its engine runs. */
async function startHubProcess(port: number, dataDir: string): Promise<{ child: ChildProcess; output: string[] }> {
  const env: Record<string, string | undefined> = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('HUB_')) delete env[k];
  Object.assign(env, { CHAIN_CONFIG: join(dir, 'chain.json'), HUB_PORT: String(port), HUB_DATA_DIR: dataDir, HUB_MAX_DEPOSIT: 'ETH=100000000000000000' });
  const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'hub/src/index.ts')], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const p = { child, output: [] as string[] };
  running.push(p);
  child.stdout!.on('data', (d: Buffer) => p.output.push(d.toString('utf8')));
  child.stderr!.on('data', (d: Buffer) => p.output.push(d.toString('utf8')));
  await until(async () => {
    if (child.exitCode !== null) throw new Error(`the hub exited (${child.exitCode}):\n${p.output.join('')}`);
    const h = await fetch(`http://127.0.0.1:${port}/hub/health`).then((r) => (r.ok ? (r.json() as Promise<HubHealth>) : undefined), () => undefined);
    return h?.engine === 'running';
  }, 'the hub process to start');
  return p;
}

const nonce = (address: Address, tag: 'latest' | 'pending') => rpc.send('eth_getTransactionCount', [address, tag]).then(Number);
const hasPending = async (address: Address) => (await nonce(address, 'pending')) > (await nonce(address, 'latest'));
const mine = () => rpc.send('evm_mine', []);

async function crashMidFunding(userIndex: number, mineBeforeRestart: boolean): Promise<void> {
  const port = await freePort();
  const dataDir = join(dir, `data-${userIndex}`);
  let hub = await startHubProcess(port, dataDir);
  const user = await startUser(ANVIL_KEYS[userIndex]!, chain, `ws://127.0.0.1:${port}/relay`);
  users.push(user);
  const a = 3n * 10n ** 16n;
  const h = 2n * 10n ** 16n;

  // From here on nothing is mined unless the test mines it.
  await rpc.send('evm_setAutomine', [false]);
  const channelId = await user.engine.createChannel({ counterparty: HUB, asset: ETH, myAmount: a, theirAmount: h, challengeDuration: 600, appDefinition: chain.consensusApp.toLowerCase() as Address });
  // The user deposits first (participant 0): mine it.
  await until(() => hasPending(user.key.address), "the user's deposit to be sent");
  await mine();
  // The hub sees it and sends its own deposit: kill the hub while that is in the mempool.
  await until(() => hasPending(HUB), "the hub's deposit to be sent");
  await kill(hub.child, 'SIGKILL');
  expect(hub.child.signalCode).toBe('SIGKILL');
  expect(await holdingsOf(user.provider, chain.adjudicator, channelId)).toBe(a);

  if (mineBeforeRestart) await mine();
  hub = await startHubProcess(port, dataDir);
  if (!mineBeforeRestart) {
    // Give the restarted hub time to plan (and possibly send) its deposit again before mining.
    await new Promise((r) => setTimeout(r, 1_500));
  }
  await rpc.send('evm_setAutomine', [true]);
  await mine();

  await until(async () => (await user.engine.getChannel(channelId))?.status === 'running', 'funding to complete (the user holds the hub’s postfund signature)', 45_000);
  let health: HubHealth | undefined;
  await until(async () => {
    health = (await (await fetch(`http://127.0.0.1:${port}/hub/health`)).json()) as HubHealth;
    return health.channels.byStatus.running === 1;
  }, 'the hub to see the channel running (it holds the user’s postfund signature)');
  expect(health!.channels).toEqual({ total: 1, byStatus: { running: 1 } });
  // The restarted hub recovered what it had committed before the kill.
  expect(health!.store.recovery.seq).toBeGreaterThan(0);

  const deposits = await depositsInto(user.provider, chain.adjudicator, channelId);
  expect(deposits.filter((d) => d.from === HUB).map((d) => d.amount)).toEqual([h]);
  expect(deposits.map((d) => d.from)).toEqual([user.key.address, HUB]);
  expect(await holdingsOf(user.provider, chain.adjudicator, channelId)).toBe(a + h);
  expect(hub.output.join('')).toMatch(/objective\.resumed/);
  if (process.env['HUB_TEST_ECHO'] === '1') console.log(hub.output.join(''));
}

describe('the hub process killed in the middle of funding', () => {
  it('restarts on its data directory and completes funding with one deposit (deposit mined while it was down)', async () => {
    await crashMidFunding(1, true);
  }, 120_000);

  it('restarts on its data directory and completes funding with one deposit (deposit still pending when it is back)', async () => {
    await crashMidFunding(2, false);
  }, 120_000);
});
