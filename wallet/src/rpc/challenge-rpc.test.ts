/**
 * `channel_challenge` and `channel_getChallenge` at the wallet's RPC endpoint: the user is asked
 * (the dialog names what they get and the challenge period), bad input gets the JSON-RPC error
 * and never reaches the engine, and a challenge refused by the engine or the chain comes back as
 * -32011 / -32012. The engine side is a scripted stand-in: the RPC layer is what is tested here.
 */
import 'fake-indexeddb/auto';
import { describe, expect, it } from 'vitest';
import { type Bytes32, PrivateKey } from '../../../core/src/index.ts';
import type { ChallengeUpdate } from '../../../core/src/objectives/effects.ts';
import { ErrorCode, type RpcNotification, type RpcResponse } from '../../../sdk-client/src/schema.ts';
import { ChainError } from '../../../engine/src/chain/errors.ts';
import { EngineError, type ChannelSummary } from '../../../engine/src/engine.ts';
import type { ChannelApi } from '../channels.ts';
import type { DisputeApi } from '../disputes.ts';
import { silentLogger } from '../log.ts';
import { WalletDatabase } from '../store/db.ts';
import { Permissions } from '../store/permissions.ts';
import type { VirtualApi } from '../virtual.ts';
import { createHandlers } from './handlers.ts';
import { RpcServer } from './server.ts';

const ORIGIN = 'http://localhost:5174';
const RUNNING = `0x${'11'.repeat(32)}` as Bytes32;
const PROPOSED = `0x${'22'.repeat(32)}` as Bytes32;
const PEER = `0x${'be'.repeat(20)}` as `0x${string}`;
let n = 0;

function setup(opts: { approve: boolean; existing?: ChallengeUpdate; fail?: Error }) {
  const key = PrivateKey.random();
  const db = new WalletDatabase(`challenge-rpc-${++n}`);
  const permissions = new Permissions(db);
  const asked: { payout: string; challengeDuration: string }[] = [];
  const challenged: Bytes32[] = [];
  const summary = (channelId: Bytes32, status: ChannelSummary['status']): ChannelSummary => ({
    channelId,
    participants: [key.address, PEER],
    appDefinition: `0x${'cc'.repeat(20)}`,
    turnNum: 5,
    status,
    asset: '0x0000000000000000000000000000000000000000',
    balances: [7n * 10n ** 17n, 3n * 10n ** 17n],
    challengeDuration: 3600,
  });
  const channels = { get: async (id: Bytes32) => (id === RUNNING ? summary(id, 'running') : id === PROPOSED ? summary(id, 'proposed') : undefined) } as unknown as ChannelApi;
  const disputes: DisputeApi = {
    challenge: async (id) => {
      challenged.push(id);
      if (opts.fail) throw opts.fail;
      return { channelId: id, stage: 'registered', challenger: 'us', turnNum: 5, finalizesAt: 1_700_003_600 };
    },
    get: async (id) => (id === RUNNING ? opts.existing : undefined),
  };
  const handlers = createHandlers({
    address: key.address,
    version: '9.9.9',
    chain: null,
    permissions,
    askToConnect: async () => true,
    notify: (method, params) => server.notify(method, params),
    signRelayChallenge: () => {
      throw new Error('unused');
    },
    receivePeerMessage: async () => undefined,
    useRelay: async () => {
      throw new Error('unused');
    },
    channels,
    virtual: {} as VirtualApi,
    askForBudget: async () => false,
    askToCloseBudget: async () => false,
    askToFund: async () => false,
    askToClose: async () => false,
    useFundingProvider: async () => undefined,
    answerTransactionRequest: () => false,
    disputes,
    askToChallenge: async (req) => {
      asked.push(req);
      return opts.approve;
    },
  });
  const posted: (RpcResponse | RpcNotification)[] = [];
  const server: RpcServer = new RpcServer({ origin: ORIGIN, post: (m) => posted.push(m), handlers, isPermitted: (o) => permissions.isGranted(o), log: silentLogger });
  let id = 0;
  const call = async (method: string, params: unknown): Promise<RpcResponse> => {
    const before = posted.length;
    await server.handle({ jsonrpc: '2.0', id: ++id, method, params });
    return posted.slice(before).find((m): m is RpcResponse => 'id' in m)!;
  };
  return { call, asked, challenged, connect: () => call('eth_requestAccounts', []) };
}

describe('channel_challenge over RPC', () => {
  it('asks the user (their payout and the challenge period), then returns the registered challenge with finalizesAt', async () => {
    const w = setup({ approve: true });
    await w.connect();
    expect(await w.call('channel_challenge', [{ channelId: RUNNING }])).toMatchObject({ result: { channelId: RUNNING, stage: 'registered', challenger: 'us', turnNum: 5, finalizesAt: 1_700_003_600 } });
    expect(w.asked).toEqual([expect.objectContaining({ payout: '0.7 ETH', counterpartyPayout: '0.3 ETH', challengeDuration: '1 hour' })]);
    expect(w.challenged).toEqual([RUNNING]);
  });

  it('the user declines: 4001, nothing challenged', async () => {
    const w = setup({ approve: false });
    await w.connect();
    expect(await w.call('channel_challenge', [{ channelId: RUNNING }])).toMatchObject({ error: { code: ErrorCode.userRejected } });
    expect(w.challenged).toEqual([]);
  });

  it('bad input never reaches the engine: unknown channel -32010, not running or already challenged -32011, malformed id -32602', async () => {
    const w = setup({ approve: true, existing: { channelId: RUNNING, stage: 'registered', challenger: 'counterparty', turnNum: 4, finalizesAt: 1_700_000_000 } });
    await w.connect();
    expect(await w.call('channel_challenge', [{ channelId: `0x${'99'.repeat(32)}` }])).toMatchObject({ error: { code: ErrorCode.unknownChannel } });
    expect(await w.call('channel_challenge', [{ channelId: PROPOSED }])).toMatchObject({ error: { code: ErrorCode.invalidChannelState, message: expect.stringMatching(/proposed/) } });
    expect(await w.call('channel_challenge', [{ channelId: RUNNING }])).toMatchObject({ error: { code: ErrorCode.invalidChannelState, message: expect.stringMatching(/already challenged/) } });
    expect(await w.call('channel_challenge', [{ channelId: '0x1234' }])).toMatchObject({ error: { code: ErrorCode.invalidParams } });
    expect(w.asked).toEqual([]);
    expect(w.challenged).toEqual([]);
  });

  it('refusals by the engine and the chain come back as -32011 and -32012', async () => {
    const engine = setup({ approve: true, fail: new EngineError('not-allowed', 'a challenge is already registered on channel x') });
    await engine.connect();
    expect(await engine.call('channel_challenge', [{ channelId: RUNNING }])).toMatchObject({ error: { code: ErrorCode.invalidChannelState, message: expect.stringMatching(/already registered/) } });
    const chain = setup({ approve: true, fail: new ChainError('insufficient-funds', 'The funding account has 0 ETH') });
    await chain.connect();
    expect(await chain.call('channel_challenge', [{ channelId: RUNNING }])).toMatchObject({ error: { code: ErrorCode.chainError } });
  });

  it('channel_getChallenge: the latest challenge, or -32010 if there never was one', async () => {
    const existing: ChallengeUpdate = { channelId: RUNNING, stage: 'cleared', challenger: 'counterparty', turnNum: 4, finalizesAt: 0 };
    const w = setup({ approve: true, existing });
    await w.connect();
    expect(await w.call('channel_getChallenge', [{ channelId: RUNNING }])).toMatchObject({ result: existing });
    expect(await w.call('channel_getChallenge', [{ channelId: PROPOSED }])).toMatchObject({ error: { code: ErrorCode.unknownChannel } });
  });
});
