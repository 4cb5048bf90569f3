/**
 * The hub service against a real anvil with the real contracts: users' engines in Node (each with
 * its own MemoryStore, key and relay connection) open direct channels with the hub; the hub's
 * engine, logged into its own relay, joins or rejects each by its policy.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Address, PrivateKey, bytesToHex } from '../../../core/src/index.ts';
import { objectiveIds } from '../../../core/src/protocol/message.ts';
import { ANVIL_HUB_KEY_INDEX, ANVIL_KEYS, type Anvil, startAnvil } from '../../../chain/anvil.ts';
import { type ChainConfig, deployContracts } from '../../../chain/deploy.ts';
import { createEthersChainService, createJsonRpcProvider, signerFromPrivateKey } from '../../../engine/src/chain/index.ts';
import { Engine } from '../../../engine/src/engine.ts';
import { MemoryStore } from '../../../engine/src/store/memory-store.ts';
import { FileStore, StoreLockedError } from '../store/file-store.ts';
import { type Hub, type HubHealth, HubStartError, startHub } from './hub.ts';
import type { HubPolicy } from './policy.ts';
import { ETH, type TestUser, depositsInto, holdingsOf, recordingHubLog, startUser, until } from './testing/user.ts';

const LIMIT = 10n ** 16n;
const policy: HubPolicy = { users: 'all', maxDepositPerUser: { [ETH]: LIMIT }, challengeDuration: { min: 600, max: 86_400 } };
const HUB_KEY = PrivateKey.fromHex(ANVIL_KEYS[ANVIL_HUB_KEY_INDEX]);

let anvil: Anvil;
let chain: ChainConfig;
let hub: Hub;
let dataDir: string;
const hubLog = recordingHubLog(process.env['HUB_TEST_ECHO'] === '1');
const users: TestUser[] = [];

beforeAll(async () => {
  anvil = await startAnvil();
  chain = { rpcUrl: anvil.url, ...(await deployContracts(anvil.url)) };
  dataDir = mkdtempSync(join(tmpdir(), 'hub-data-'));
  hub = await startHub({ key: HUB_KEY, chain, dataDir, port: 0, policy, log: hubLog.log, chainPollIntervalMs: 100, resendIntervalMs: 200 });
});

afterAll(async () => {
  for (const u of users) u.close();
  await hub?.close();
  await anvil?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

async function user(index: number): Promise<TestUser> {
  const u = await startUser(ANVIL_KEYS[index]!, chain, hub.url);
  users.push(u);
  return u;
}

const consensusApp = () => chain.consensusApp.toLowerCase() as Address;
const statusAt = async (u: { engine: { getChannel(id: `0x${string}`): Promise<{ status: string } | undefined> } }, id: `0x${string}`) => (await u.engine.getChannel(id))?.status;

async function health(): Promise<HubHealth> {
  const res = await fetch(hub.healthUrl);
  expect(res.status).toBe(200);
  return (await res.json()) as HubHealth;
}

describe('the hub service on a real chain', () => {
  it('a user opens a direct channel with the hub: the hub joins per its policy, both deposit, it runs and closes', async () => {
    const alice = await user(1);
    const a = 2n * 10n ** 16n;
    const h = 5n * 10n ** 15n;
    const channelId = await alice.engine.createChannel({ counterparty: hub.address, asset: ETH, myAmount: a, theirAmount: h, challengeDuration: 600, appDefinition: consensusApp() });
    await until(async () => (await statusAt(alice, channelId)) === 'running' && (await statusAt(hub, channelId)) === 'running', 'both running');
    expect(hubLog.lines.find((l) => l.event === 'policy.joined')?.fields).toMatchObject({ channel: channelId, user: alice.key.address, hubAmount: h.toString() });

    // Both deposited, once each: Alice first (participant 0), then the hub.
    const deposits = await depositsInto(alice.provider, chain.adjudicator, channelId);
    expect(deposits.map((d) => [d.from, d.amount])).toEqual([
      [alice.key.address, a],
      [hub.address, h],
    ]);
    expect(await holdingsOf(alice.provider, chain.adjudicator, channelId)).toBe(a + h);

    // It runs: Alice pays the hub, the hub countersigns; then she closes and both are paid out.
    await alice.engine.updateBalances(channelId, [a - 1000n, h + 1000n]);
    expect((await hub.engine.getChannel(channelId))?.balances).toEqual([a - 1000n, h + 1000n]);
    const before = await alice.provider.getBalance(hub.address);
    await alice.engine.closeChannel(channelId);
    await until(async () => (await statusAt(alice, channelId)) === 'closed' && (await statusAt(hub, channelId)) === 'closed', 'both closed');
    // Alice sent the conclusion (and paid its gas); the hub only received.
    expect((await alice.provider.getBalance(hub.address)) - before).toBe(h + 1000n);
    // (A state re-sent while its answer was on the way is refused as "in the past": harmless.)
    expect(alice.rejections.filter((r) => !/in the past/.test(r))).toEqual([]);
  });

  it('a proposal above the hub’s limit is rejected with the reason, logged, and nothing is stored by the hub', async () => {
    const bob = await user(2);
    const seq = hub.store.stats.seq;
    const channelId = await bob.engine.createChannel({ counterparty: hub.address, asset: ETH, myAmount: 1000n, theirAmount: LIMIT + 1n, challengeDuration: 600, appDefinition: consensusApp() });
    await until(async () => (await statusAt(bob, channelId)) === 'rejected', 'Bob to see the rejection');
    const reason = `the hub's deposit of ${LIMIT + 1n} wei is above its limit of ${LIMIT} wei per user`;
    expect((await bob.store.getObjective(objectiveIds.directFunding(channelId)))?.error).toBe(`the counterparty rejected: ${reason}`);
    expect(hubLog.lines.filter((l) => l.event === 'policy.rejected').map((l) => l.fields)).toContainEqual({ channel: channelId, user: bob.key.address, stage: 'door', reason });
    // Nothing of it reached the hub's store: no channel, no objective, not one commit.
    await hub.engine.idle();
    expect(await hub.store.getChannel(channelId)).toBeUndefined();
    expect(await hub.store.getObjective(objectiveIds.directFunding(channelId))).toBeUndefined();
    expect(hub.store.stats.seq).toBe(seq);
    expect(await holdingsOf(bob.provider, chain.adjudicator, channelId)).toBe(0n);
  });

  it('two proposals from one user that fit the limit only one at a time: the hub joins one and rejects the other', async () => {
    const carol = await user(3);
    const each = 6n * 10n ** 15n; // two of these are above the 10^16 limit
    const ids = await Promise.all(
      [1n, 2n].map((nonce) =>
        carol.engine.createChannel({ counterparty: hub.address, asset: ETH, myAmount: 1000n, theirAmount: each, challengeDuration: 600, appDefinition: consensusApp(), channelNonce: 7000n + nonce }),
      ),
    );
    await until(async () => {
      const s = await Promise.all(ids.map((id) => statusAt(carol, id)));
      return s.includes('running') && s.includes('rejected');
    }, 'one running, one rejected');
    const statuses = await Promise.all(ids.map((id) => statusAt(carol, id)));
    const [joined, rejected] = statuses[0] === 'running' ? [ids[0]!, ids[1]!] : [ids[1]!, ids[0]!];
    await until(async () => (await statusAt(hub, joined)) === 'running', 'the hub to see the joined channel running');
    expect((await carol.store.getObjective(objectiveIds.directFunding(rejected)))?.error).toMatch(/already in its other channels with this user/);
    const reasons = hubLog.lines.filter((l) => l.event === 'policy.rejected' && ids.includes(l.fields.channel as `0x${string}`)).map((l) => String(l.fields.reason));
    expect(reasons).toEqual([`the hub's deposit of ${each} wei is above its limit of ${LIMIT} wei per user (with ${each} wei already in its other channels with this user)`]);
  });

  it('reports its health: address, chain, channels, store recovery; no secrets', async () => {
    const res = await fetch(hub.healthUrl);
    const text = await res.text();
    const h = JSON.parse(text) as HubHealth;
    expect(h).toMatchObject({
      status: 'ok',
      address: hub.address,
      chainId: 31337,
      chain: { rpc: 'ok' },
      engine: 'running',
      relay: { status: 'ok', hubConnection: 'open' },
      policy: { users: 'all', maxDepositPerUser: { ETH: LIMIT.toString() }, challengeDuration: { min: 600, max: 86_400 } },
    });
    expect(h.chain.blockNumber).toBeGreaterThan(0);
    expect(h.relay.addresses).toBeGreaterThanOrEqual(2); // the hub itself and its users
    expect(Object.values(h.channels.byStatus).reduce((t, n) => t + n, 0)).toBe(h.channels.total);
    expect(h.channels.byStatus).toMatchObject({ closed: 1, running: 1 });
    expect(h.store.recovery).toMatchObject({ snapshotSeq: 0, tornBytes: 0 });
    expect(h.store.seq).toBeGreaterThan(0);
    // No key, no RPC URL (it may carry an API key), no data directory.
    expect(text).not.toContain(bytesToHex(HUB_KEY.exportBytes()).slice(2));
    expect(text).not.toContain(anvil.url);
    expect(text).not.toContain(dataDir);
    expect((await health()).uptimeMs).toBeGreaterThan(0);
    // The relay's own /health is still there.
    expect(await (await fetch(hub.relayHealthUrl)).json()).toMatchObject({ status: 'ok' });
  });

  it('after a restart, decides the proposals it stored but had not answered', async () => {
    // A hub engine that stores a proposal and stops before answering it, as a crash would leave it.
    const key = PrivateKey.fromHex(ANVIL_KEYS[4]);
    const dave = PrivateKey.fromHex(ANVIL_KEYS[1]);
    const dir = mkdtempSync(join(tmpdir(), 'hub-data-'));
    try {
      const store = await FileStore.open(dir);
      const provider = createJsonRpcProvider(chain.rpcUrl, chain.chainId);
      const service = createEthersChainService({ provider, signer: signerFromPrivateKey(key, provider), addresses: { adjudicator: chain.adjudicator } });
      const bare = new Engine({ key, store, chain: service, sendMessage: () => undefined, resendIntervalMs: 0 });
      await bare.start();
      const outbox: string[] = [];
      const proposer = new Engine({ key: dave, store: new MemoryStore(), chain: service, sendMessage: (_to, text) => outbox.push(text), resendIntervalMs: 0 });
      const channelId = await proposer.createChannel({ counterparty: key.address, asset: ETH, myAmount: 1000n, theirAmount: 500n, challengeDuration: 600, appDefinition: consensusApp() });
      proposer.stop();
      for (const text of outbox) await bare.receiveMessage(dave.address, text);
      expect((await bare.getChannel(channelId))?.status).toBe('proposed');
      bare.stop();
      await bare.idle();
      await store.close();
      provider.destroy();

      // The hub starts on that directory and answers it by its policy.
      const log = recordingHubLog();
      const restarted = await startHub({ key, chain, dataDir: dir, policy, log: log.log, chainPollIntervalMs: 100 });
      try {
        await until(() => log.lines.some((l) => l.event === 'policy.joined'), 'the stored proposal to be joined');
        expect(log.lines.find((l) => l.event === 'policy.joined')?.fields).toMatchObject({ channel: channelId, user: dave.address, hubAmount: '500' });
        expect(await statusAt(restarted, channelId)).toBe('funding');
      } finally {
        await restarted.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a data directory in use, and one bound to another chain', async () => {
    await expect(startHub({ key: HUB_KEY, chain, dataDir, policy, log: () => undefined })).rejects.toBeInstanceOf(StoreLockedError);
    // The same directory, later, with a chain config whose adjudicator is another contract.
    const other = mkdtempSync(join(tmpdir(), 'hub-data-'));
    try {
      const first = await startHub({ key: HUB_KEY, chain, dataDir: other, policy, log: () => undefined });
      await first.close();
      await expect(startHub({ key: HUB_KEY, chain: { ...chain, adjudicator: chain.consensusApp }, dataDir: other, policy, log: () => undefined })).rejects.toThrowError(
        /belongs to another chain .* Use another data directory \(HUB_DATA_DIR\) for this chain/,
      );
      await expect(startHub({ key: HUB_KEY, chain: { ...chain, chainId: 5 }, dataDir: other, policy, log: () => undefined })).rejects.toThrowError(HubStartError);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });
});
