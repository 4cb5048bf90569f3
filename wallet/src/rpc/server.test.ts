import { relayOriginOf } from '../../../sdk-client/src/relay.ts';
import 'fake-indexeddb/auto';
import { describe, expect, it } from 'vitest';
import { PrivateKey, recoverRelayLogin, signRelayLogin } from '../../../core/src/index.ts';
import { ErrorCode, type RpcNotification, type RpcResponse } from '../../../sdk-client/src/schema.ts';
import { silentLogger } from '../log.ts';
import { WalletDatabase } from '../store/db.ts';
import { Permissions } from '../store/permissions.ts';
import { createHandlers } from './handlers.ts';
import type { ChannelApi } from '../channels.ts';
import type { BudgetExitSummary, BudgetSummary, VirtualApi, VirtualSummary } from '../virtual.ts';
import type { ChannelSummary } from '../../../engine/src/engine.ts';
import { RpcServer } from './server.ts';
import { FUNDING_ACCOUNT_KEY, FundingAccount } from '../funding/funding-account.ts';
import { ProviderRequestError, TransactionBridge } from '../funding/transaction-bridge.ts';

const ORIGIN = 'http://localhost:5174';
let n = 0;

/** A wallet RPC endpoint over a fresh store, with the user's answers to dialogs scripted. */
function setup(answers: boolean[] = []) {
  const db = new WalletDatabase(`rpc-${++n}`);
  const permissions = new Permissions(db);
  const key = PrivateKey.random();
  const posted: (RpcResponse | RpcNotification)[] = [];
  const dialogs: { origin: string; address: string }[] = [];
  const calls: string[] = [];
  const funding = new FundingAccount(db);
  const bridge = new TransactionBridge((params) => server.notify('wallet_transactionRequest', params));
  const handlers = createHandlers({
    address: key.address,
    version: '9.9.9',
    chain: { chainId: 31337, adjudicator: '0x' + 'A1'.repeat(20), consensusApp: '0x' + '02'.repeat(20), virtualPaymentApp: '0x' + '03'.repeat(20), token: '0x' + '04'.repeat(20) },
    permissions,
    askToConnect: async (req) => {
      dialogs.push(req);
      return answers.shift() ?? false;
    },
    notify: (method, params) => server.notify(method, params),
    signRelayChallenge: (relayOrigin, challenge) => signRelayLogin(key, relayOrigin, challenge),
    receivePeerMessage: async () => undefined,
    useRelay: async (relayUrl) => ({ address: key.address, relayOrigin: relayOriginOf(relayUrl) }),
    channels: fakeChannels(key.address, calls),
    virtual: fakeVirtual(key.address, calls),
    askForBudget: async (req) => {
      dialogs.push({ origin: req.origin, address: req.deposit });
      return answers.shift() ?? false;
    },
    askToCloseBudget: async () => answers.shift() ?? false,
    askToExitBudget: async (req) => {
      dialogs.push({ origin: req.origin, address: req.hub });
      return answers.shift() ?? false;
    },
    askToFund: async (req) => {
      dialogs.push({ origin: req.origin, address: req.deposit });
      return answers.shift() ?? false;
    },
    askToClose: async () => answers.shift() ?? false,
    useFundingProvider: async (address, chainId) => {
      await funding.useEip1193(address, chainId);
      bridge.repeatPending();
    },
    answerTransactionRequest: (result) => bridge.answer(result),
  });
  const server: RpcServer = new RpcServer({ origin: ORIGIN, post: (m) => posted.push(m), handlers, isPermitted: (o) => permissions.isGranted(o), log: silentLogger });
  const call = async (message: unknown) => {
    const before = posted.length;
    await server.handle(message);
    return posted.slice(before);
  };
  const response = async (message: unknown) => {
    const out = (await call(message)).filter((m): m is RpcResponse => 'id' in m);
    expect(out).toHaveLength(1);
    return out[0]!;
  };
  return { db, key, posted, dialogs, call, response, calls, funding, bridge };
}

const PEER = '0x' + 'be'.repeat(20);
const KNOWN = '0x' + '11'.repeat(32);

const HUB = ('0x' + 'ab'.repeat(20)) as `0x${string}`;
const VIRTUAL = ('0x' + '33'.repeat(32)) as `0x${string}`;

/** Budgets and virtual channels, faked: one budget appears once requested. */
function fakeVirtual(me: `0x${string}`, calls: string[]): VirtualApi {
  let budget: BudgetSummary | undefined;
  let exit: BudgetExitSummary | undefined;
  const channel: VirtualSummary = { channelId: VIRTUAL, payer: me, payee: PEER as `0x${string}`, hub: HUB, amount: 100n, paid: 0n, status: 'running' };
  return {
    requestBudget: async (a) => {
      calls.push(`budget ${a.sendAmount}/${a.receiveAmount}`);
      budget = { hub: a.hub, ledgerId: KNOWN as `0x${string}`, asset: a.asset, send: a.sendAmount, receive: a.receiveAmount, locked: 0n, status: 'running' };
      return budget;
    },
    getBudget: async (hub) => (budget?.hub === hub ? budget : undefined),
    closeBudget: async () => {
      calls.push('close budget');
      return { ...budget!, status: 'closing' };
    },
    exitBudget: async (hub) => {
      calls.push('exit budget');
      exit = { hub, ledgerId: budget!.ledgerId, stage: 'challenging', finalizesAt: 0 };
      return exit;
    },
    getBudgetExit: async (hub) => (exit?.hub === hub ? exit : undefined),
    create: async (a) => {
      calls.push(`virtual ${a.amount}`);
      return { ...channel, amount: a.amount };
    },
    pay: async (_id, amount) => {
      calls.push(`pay ${amount}`);
      return { total: amount };
    },
    close: async () => channel,
    get: async (id) => (id === VIRTUAL ? channel : undefined),
    list: async () => [channel],
  };
}

/** The engine side, faked: the RPC layer is what these tests exercise. */
function fakeChannels(me: `0x${string}`, calls: string[]): ChannelApi {
  const summary = (status: ChannelSummary['status']): ChannelSummary => ({
    channelId: KNOWN as `0x${string}`,
    participants: [PEER as `0x${string}`, me],
    appDefinition: ('0x' + 'cc'.repeat(20)) as `0x${string}`,
    turnNum: 0,
    status,
    asset: '0x0000000000000000000000000000000000000000',
    balances: [5n, 3n],
    challengeDuration: 600,
  });
  return {
    list: async () => [summary('proposed')],
    get: async (id) => (id === KNOWN ? summary('proposed') : undefined),
    create: async (args) => {
      calls.push(`create ${args.amount}`);
      return summary('funding');
    },
    join: async (id) => {
      calls.push(`join ${id.slice(0, 6)}`);
      return summary('funding');
    },
    reject: async (id, reason) => {
      calls.push(`reject ${id.slice(0, 6)} ${reason}`);
    },
    update: async () => summary('running'),
    close: async () => summary('closing'),
  };
}

const req = (method: string, params?: unknown, id: number | string = 1) => ({ jsonrpc: '2.0', id, method, ...(params === undefined ? {} : { params }) });

describe('the wallet RPC endpoint', () => {
  it('answers malformed JSON-RPC with -32600 and unparsable text with -32700', async () => {
    const { response } = setup();
    for (const bad of [null, 42, [], { id: 1, method: 'eth_accounts' }, { jsonrpc: '1.0', id: 1, method: 'eth_accounts' }, { jsonrpc: '2.0', id: 1, method: 7 }, { jsonrpc: '2.0', id: 1, method: 'eth_accounts', extra: true }, { jsonrpc: '2.0', id: {}, method: 'eth_accounts' }]) {
      expect((await response(bad)) as unknown).toMatchObject({ error: { code: ErrorCode.invalidRequest } });
    }
    expect(await response('{not json')).toMatchObject({ id: null, error: { code: ErrorCode.parseError } });
    expect(await response(JSON.stringify(req('eth_chainId')))).toMatchObject({ id: 1, result: '0x7a69' });
  });

  it('answers an unknown method with -32601 and bad params with -32602 naming the field', async () => {
    const { response } = setup();
    expect(await response(req('eth_sendTransaction', []))).toMatchObject({ error: { code: ErrorCode.methodNotFound } });
    expect(await response(req('__proto__'))).toMatchObject({ error: { code: ErrorCode.methodNotFound } });
    expect(await response(req('wallet_revokePermissions', [{ eth_accountz: {} }]))).toMatchObject({
      error: { code: ErrorCode.invalidParams, data: { field: 'params[0].eth_accountz' } },
    });
    expect(await response(req('eth_accounts', ['extra']))).toMatchObject({ error: { code: ErrorCode.invalidParams, data: { field: 'params' } } });
  });

  it('refuses permitted methods to a site that has not connected, with 4100, and changes nothing', async () => {
    const { response, db, dialogs } = setup();
    expect(await response(req('wallet_getInfo'))).toMatchObject({ error: { code: ErrorCode.unauthorized } });
    expect(await response(req('channel_list'))).toMatchObject({ error: { code: ErrorCode.unauthorized } });
    expect(await response(req('eth_accounts'))).toMatchObject({ result: [] });
    expect(await db.permissions.count()).toBe(0);
    expect(dialogs).toHaveLength(0);
  });

  it('connects after the user approves, remembers it, and revokes it', async () => {
    const { response, call, key, dialogs } = setup([true]);
    const connected = await call(req('eth_requestAccounts', [], 'c1'));
    expect(connected).toContainEqual({ jsonrpc: '2.0', method: 'wallet_accountsChanged', params: [key.address] });
    expect(connected).toContainEqual({ jsonrpc: '2.0', id: 'c1', result: [key.address] });
    expect(dialogs).toEqual([{ origin: ORIGIN, address: expect.stringMatching(new RegExp(`^${key.address}$`, 'i')) }]);
    // remembered: no second dialog
    expect(await response(req('eth_requestAccounts', [], 2))).toMatchObject({ result: [key.address] });
    expect(dialogs).toHaveLength(1);
    expect(await response(req('wallet_getInfo'))).toMatchObject({ result: { address: key.address, version: '9.9.9', chainId: '0x7a69', contracts: { adjudicator: '0x' + 'a1'.repeat(20) } } });
    expect(await response(req('wallet_getPermissions'))).toMatchObject({ result: [{ invoker: ORIGIN, parentCapability: 'eth_accounts' }] });
    const revoked = await call(req('wallet_revokePermissions', [{ eth_accounts: {} }], 3));
    expect(revoked).toContainEqual({ jsonrpc: '2.0', method: 'wallet_accountsChanged', params: [] });
    expect(await response(req('wallet_getInfo'))).toMatchObject({ error: { code: ErrorCode.unauthorized } });
  });

  it('answers a rejected connection with 4001 and keeps refusing permitted calls', async () => {
    const { response } = setup([false]);
    expect(await response(req('eth_requestAccounts'))).toMatchObject({ error: { code: ErrorCode.userRejected } });
    expect(await response(req('wallet_getInfo'))).toMatchObject({ error: { code: ErrorCode.unauthorized } });
  });

  it('asks the user once when a site sends several connect calls at once', async () => {
    const { call, dialogs, key } = setup([true]);
    const results = await Promise.all([call(req('eth_requestAccounts', [], 1)), call(req('wallet_requestPermissions', [{ eth_accounts: {} }], 2))]);
    expect(dialogs).toHaveLength(1);
    expect(results.flat()).toContainEqual({ jsonrpc: '2.0', id: 1, result: [key.address] });
  });

  it('signs a relay login challenge for a connected site, and only a well-formed origin', async () => {
    const { response, key } = setup([true]);
    const challenge = `0x${'ab'.repeat(32)}` as const;
    expect(await response(req('wallet_signRelayChallenge', [{ relayOrigin: 'ws://127.0.0.1:7000', challenge }]))).toMatchObject({ error: { code: ErrorCode.unauthorized } });
    await response(req('eth_requestAccounts'));
    const ok = (await response(req('wallet_signRelayChallenge', [{ relayOrigin: 'ws://127.0.0.1:7000', challenge }]))) as { result: { address: string; signature: never } };
    expect(ok.result.address).toBe(key.address);
    expect(recoverRelayLogin('ws://127.0.0.1:7000', challenge, ok.result.signature)).toBe(key.address);
    expect(await response(req('wallet_signRelayChallenge', [{ relayOrigin: 'ws://127.0.0.1:7000/path', challenge }]))).toMatchObject({
      error: { code: ErrorCode.invalidParams, data: { field: 'params[0].relayOrigin' } },
    });
  });

  it('channel calls: the user approves a deposit first; rejections, unknown channels and bad params get clear errors', async () => {
    const { response, calls, dialogs } = setup([true, false, true, false]);
    await response(req('eth_requestAccounts')); // answer 1: connect
    const create = (p: unknown) => response(req('channel_create', [p]));
    // answer 2: the user rejects the deposit: 4001 and nothing created
    expect(await create({ counterparty: PEER, asset: '0x0000000000000000000000000000000000000000', amount: '0x5', counterpartyAmount: '0x3' })).toMatchObject({ error: { code: ErrorCode.userRejected } });
    expect(calls).toEqual([]);
    expect(dialogs.at(-1)).toEqual({ origin: ORIGIN, address: '0.000000000000000005 ETH' });
    // answer 3: approved
    expect(await create({ counterparty: PEER, asset: '0x0000000000000000000000000000000000000000', amount: '0x5', counterpartyAmount: '0x3' })).toMatchObject({ result: { status: 'funding', balances: ['0x5', '0x3'] } });
    expect(calls).toEqual(['create 5']);
    // bad params never reach the user or the engine
    expect(await create({ counterparty: PEER, asset: '0x0000000000000000000000000000000000000000', amount: '-0x5', counterpartyAmount: '0x3' })).toMatchObject({ error: { code: ErrorCode.invalidParams, data: { field: 'params[0].amount' } } });
    expect(await create({ counterparty: PEER, asset: '0x0000000000000000000000000000000000000000', amount: '0x5', counterpartyAmount: '0x3', challengeDuration: 5 })).toMatchObject({ error: { code: ErrorCode.invalidParams, data: { field: 'params[0].challengeDuration' } } });
    expect(await response(req('channel_get', [{ channelId: '0x' + '22'.repeat(32) }]))).toMatchObject({ error: { code: ErrorCode.unknownChannel } });
    // answer 4: the user rejects joining: the engine is told, the dapp gets 4001
    expect(await response(req('channel_join', [{ channelId: KNOWN }]))).toMatchObject({ error: { code: ErrorCode.userRejected } });
    expect(calls.at(-1)).toMatch(/^reject 0x1111 the user rejected/);
    expect(dialogs).toHaveLength(4);
  });

  it('budgets and virtual channels: the user approves the budget once; bad input gets clear errors and reaches nothing', async () => {
    const { response, calls, dialogs } = setup([true, false, true]);
    await response(req('eth_requestAccounts')); // answer 1: connect
    const ETH = '0x0000000000000000000000000000000000000000';
    const budget = (p: object) => response(req('budget_request', [{ hub: HUB, asset: ETH, sendAmount: '0x64', receiveAmount: '0x32', ...p }]));
    // no budget yet: a virtual channel is refused
    expect(await response(req('virtual_create', [{ payee: PEER, hub: HUB, amount: '0x1' }]))).toMatchObject({ error: { code: ErrorCode.unknownChannel } });
    expect(await response(req('budget_get', [{ hub: HUB }]))).toMatchObject({ error: { code: ErrorCode.unknownChannel } });
    // bad params never reach the user or the engine
    expect(await budget({ asset: '0x' + '04'.repeat(20) })).toMatchObject({ error: { code: ErrorCode.invalidParams, data: { field: 'params[0].asset' } } });
    expect(await budget({ sendAmount: '0x0', receiveAmount: '0x0' })).toMatchObject({ error: { code: ErrorCode.invalidParams, data: { field: 'params[0].sendAmount' } } });
    expect(await budget({ sendAmount: 'lots' })).toMatchObject({ error: { code: ErrorCode.invalidParams, data: { field: 'params[0].sendAmount' } } });
    expect(dialogs).toHaveLength(1);
    // answer 2: the user rejects; answer 3: approves
    expect(await budget({})).toMatchObject({ error: { code: ErrorCode.userRejected } });
    expect(calls).toEqual([]);
    expect(await budget({})).toMatchObject({ result: { hub: HUB, send: '0x64', receive: '0x32', locked: '0x0', status: 'running' } });
    expect(calls).toEqual(['budget 100/50']);
    // within the budget: no prompt; above it, or zero, or to ourselves: refused before the engine
    expect(await response(req('virtual_create', [{ payee: PEER, hub: HUB, amount: '0x65' }]))).toMatchObject({ error: { code: ErrorCode.invalidParams, data: { field: 'params[0].amount' } } });
    expect(await response(req('virtual_create', [{ payee: PEER, hub: HUB, amount: '0x0' }]))).toMatchObject({ error: { code: ErrorCode.invalidParams, data: { field: 'params[0].amount' } } });
    expect(await response(req('virtual_create', [{ payee: HUB, hub: PEER, amount: '0x1' }]))).toMatchObject({ error: { code: ErrorCode.unknownChannel } });
    expect(await response(req('virtual_create', [{ payee: PEER, hub: HUB, amount: '0x64' }]))).toMatchObject({ result: { channelId: VIRTUAL, amount: '0x64' } });
    expect(await response(req('virtual_pay', [{ channelId: VIRTUAL, amount: '0x0' }]))).toMatchObject({ error: { code: ErrorCode.invalidParams, data: { field: 'params[0].amount' } } });
    expect(await response(req('virtual_pay', [{ channelId: 'not-a-channel', amount: '0x1' }]))).toMatchObject({ error: { code: ErrorCode.invalidParams, data: { field: 'params[0].channelId' } } });
    expect(await response(req('virtual_pay', [{ channelId: VIRTUAL, amount: '0x5' }]))).toMatchObject({ result: { channelId: VIRTUAL, paid: '0x5' } });
    expect(await response(req('virtual_get', [{ channelId: '0x' + '44'.repeat(32) }]))).toMatchObject({ error: { code: ErrorCode.unknownChannel } });
    expect(calls).toEqual(['budget 100/50', 'virtual 100', 'pay 5']);
    expect(dialogs).toHaveLength(3);
  });

  it('budget_exit: the user approves an exit without the hub; asking again returns the exit under way; bad input reaches nothing', async () => {
    const { response, calls, dialogs } = setup([true, true, false, true]);
    await response(req('eth_requestAccounts')); // answer 1: connect
    const ETH = '0x0000000000000000000000000000000000000000';
    // no budget: -32010, and no dialog
    expect(await response(req('budget_exit', [{ hub: HUB }]))).toMatchObject({ error: { code: ErrorCode.unknownChannel } });
    expect(await response(req('budget_getExit', [{ hub: HUB }]))).toMatchObject({ error: { code: ErrorCode.unknownChannel } });
    expect(await response(req('budget_exit', [{ hub: 'not a hub' }]))).toMatchObject({ error: { code: ErrorCode.invalidParams, data: { field: 'params[0].hub' } } });
    expect(await response(req('budget_exit', [{ hub: HUB, extra: 1 }]))).toMatchObject({ error: { code: ErrorCode.invalidParams } });
    await response(req('budget_request', [{ hub: HUB, asset: ETH, sendAmount: '0x64', receiveAmount: '0x32' }])); // answer 2
    expect(await response(req('budget_getExit', [{ hub: HUB }]))).toMatchObject({ error: { code: ErrorCode.unknownChannel } });
    // answer 3: the user declines: 4001, the engine hears nothing
    expect(await response(req('budget_exit', [{ hub: HUB }]))).toMatchObject({ error: { code: ErrorCode.userRejected } });
    expect(calls).toEqual(['budget 100/50']);
    // answer 4: approves
    expect(await response(req('budget_exit', [{ hub: HUB }]))).toMatchObject({ result: { hub: HUB, ledgerId: KNOWN, stage: 'challenging', finalizesAt: 0 } });
    expect(calls).toEqual(['budget 100/50', 'exit budget']);
    // connect, budget, the declined exit, the approved one: each exit dialog names the hub
    expect(dialogs).toHaveLength(4);
    expect(dialogs.slice(2).map((d) => d.address.toLowerCase())).toEqual([HUB, HUB]);
    // asking again: the exit under way, no second dialog and no second start
    expect(await response(req('budget_exit', [{ hub: HUB }]))).toMatchObject({ result: { stage: 'challenging' } });
    expect(await response(req('budget_getExit', [{ hub: HUB }]))).toMatchObject({ result: { hub: HUB, stage: 'challenging' } });
    expect(calls).toEqual(['budget 100/50', 'exit budget']);
    expect(dialogs).toHaveLength(4);
  });

  it('wallet_useFundingProvider: needs a connected site, checks the chain, persists the choice and repeats waiting transaction requests', async () => {
    const { response, db, funding, bridge, posted } = setup([true]);
    const extension = `0x${'Ee'.repeat(20)}`;
    expect(await response(req('wallet_useFundingProvider', [{ address: extension, chainId: '0x7a69' }]))).toMatchObject({ error: { code: ErrorCode.unauthorized } });
    await response(req('eth_requestAccounts'));
    expect(await response(req('wallet_useFundingProvider', [{ address: extension, chainId: '0x1' }]))).toMatchObject({
      error: { code: ErrorCode.invalidParams, data: { field: 'params[0].chainId' }, message: expect.stringMatching(/on chain 1, but this wallet's channels are on chain 31337/) },
    });
    expect(await response(req('wallet_useFundingProvider', [{ address: 'not an address', chainId: '0x7a69' }]))).toMatchObject({ error: { code: ErrorCode.invalidParams, data: { field: 'params[0].address' } } });
    expect(funding.current).toEqual({ kind: 'own' });

    // A transaction request made before the page registered its provider is asked again on registration.
    const waiting = bridge.request({ to: `0x${'a1'.repeat(20)}`, data: '0x1234', value: '0x5', chainId: '0x7a69', from: `0x${'ee'.repeat(20)}` });
    const requests = () => posted.filter((m) => 'method' in m && m.method === 'wallet_transactionRequest');
    expect(requests()).toHaveLength(1);
    expect(await response(req('wallet_useFundingProvider', [{ address: extension, chainId: '0x7a69' }]))).toMatchObject({ result: null });
    expect(requests()).toHaveLength(2);
    expect(requests()[1]).toEqual(requests()[0]);
    expect(funding.current).toEqual({ kind: 'eip1193', address: `0x${'ee'.repeat(20)}`, chainId: 31337 });
    expect(await db.meta.get(FUNDING_ACCOUNT_KEY)).toEqual({ key: FUNDING_ACCOUNT_KEY, value: { kind: 'eip1193', address: `0x${'ee'.repeat(20)}`, chainId: 31337 } });
    // It survives a reload: a fresh FundingAccount over the same store reads it back.
    expect(await new FundingAccount(db).load()).toEqual({ kind: 'eip1193', address: `0x${'ee'.repeat(20)}`, chainId: 31337 });

    const { requestId } = (requests()[0] as { params: { requestId: string } }).params;
    expect(await response(req('wallet_transactionResult', [{ requestId, hash: `0x${'ab'.repeat(32)}` }]))).toMatchObject({ result: null });
    await expect(waiting).resolves.toBe(`0x${'ab'.repeat(32)}`);
  });

  it('wallet_transactionResult: exactly one of hash and error, for a waiting request; an error rejects the request with the provider code', async () => {
    const { response, bridge, posted } = setup([true]);
    await response(req('eth_requestAccounts'));
    const rejected = bridge.request({ to: `0x${'a1'.repeat(20)}`, data: '0x', value: '0x0', chainId: '0x7a69', from: `0x${'ee'.repeat(20)}` });
    const notification = posted.find((m) => 'method' in m && m.method === 'wallet_transactionRequest') as { params: { requestId: string; tx: unknown } };
    expect(notification.params.requestId).toMatch(/^[0-9a-f]{32}$/);
    expect(notification.params.tx).toEqual({ to: `0x${'a1'.repeat(20)}`, data: '0x', value: '0x0', chainId: '0x7a69', from: `0x${'ee'.repeat(20)}` });
    const { requestId } = notification.params;
    const hash = `0x${'cd'.repeat(32)}`;
    const error = { code: 4001, message: 'User rejected the request.' };
    expect(await response(req('wallet_transactionResult', [{ requestId }]))).toMatchObject({ error: { code: ErrorCode.invalidParams, data: { field: 'params[0]' } } });
    expect(await response(req('wallet_transactionResult', [{ requestId, hash, error }]))).toMatchObject({ error: { code: ErrorCode.invalidParams, data: { field: 'params[0]' } } });
    expect(await response(req('wallet_transactionResult', [{ requestId, error: { code: 4001, message: 'x'.repeat(513) } }]))).toMatchObject({
      error: { code: ErrorCode.invalidParams, data: { field: 'params[0].error.message' } },
    });
    expect(await response(req('wallet_transactionResult', [{ requestId, hash: '0x1234' }]))).toMatchObject({ error: { code: ErrorCode.invalidParams, data: { field: 'params[0].hash' } } });
    expect(await response(req('wallet_transactionResult', [{ requestId: 'unknown', hash }]))).toMatchObject({ error: { code: ErrorCode.invalidParams, data: { field: 'params[0].requestId' } } });
    expect(bridge.pendingCount).toBe(1);
    expect(await response(req('wallet_transactionResult', [{ requestId, error }]))).toMatchObject({ result: null });
    await expect(rejected).rejects.toEqual(new ProviderRequestError(4001, 'User rejected the request.'));
    // Answered: a second answer finds nothing waiting.
    expect(await response(req('wallet_transactionResult', [{ requestId, hash }]))).toMatchObject({ error: { code: ErrorCode.invalidParams, data: { field: 'params[0].requestId' } } });
  });
});
