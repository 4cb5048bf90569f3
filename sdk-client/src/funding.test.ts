/**
 * The funding-provider bridge in the sdk: registering a browser extension (a fake EIP-1193
 * provider) with the wallet (a fake wallet endpoint), and answering the wallet's transaction
 * requests through it, one at a time, in order.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type ClientSettings, createClient, fundingRegistered } from './client.ts';
import { WalletRpcError } from './errors.ts';
import { providerErrorOf } from './funding.ts';
import { ErrorCode, type NotificationParams, type RpcRequest } from './schema.ts';
import { ADDRESS, type FakeWallet, fakeWallet } from './testing/fake-wallet.ts';
import type { Eip1193Like, WalletClient } from './types.ts';

const SETTINGS: ClientSettings = { walletOrigin: 'http://127.0.0.1:5173', timeoutMs: 10_000, interactiveTimeoutMs: 300_000, readyTimeoutMs: 15_000 };
const EXTENSION = '0x90F79bf6EB2c4f870365E785982E1f101E93b906';
const ADJUDICATOR = `0x${'a1'.repeat(20)}` as const;

type Call = { method: string; params?: unknown };
type Handler = (params: unknown) => unknown;

/** A stand-in extension: answers the methods it is given (a throw is its EIP-1193 error) and records every call. */
function fakeProvider(handlers: Record<string, Handler> = {}): Eip1193Like & { calls: Call[] } {
  const calls: Call[] = [];
  const all: Record<string, Handler> = {
    eth_requestAccounts: () => [EXTENSION.toLowerCase()],
    eth_chainId: () => '0x7a69',
    eth_sendTransaction: () => `0x${'ab'.repeat(32)}`,
    ...handlers,
  };
  return {
    calls,
    request: async ({ method, params }) => {
      calls.push(params === undefined ? { method } : { method, params });
      const handler = all[method];
      if (!handler) throw Object.assign(new Error(`${method} is not supported`), { code: 4200 });
      return handler(params);
    },
  };
}

function txRequest(requestId: string, value: `0x${string}` = '0x5'): NotificationParams<'wallet_transactionRequest'> {
  return { requestId, tx: { to: ADJUDICATOR, data: '0x1234', value, chainId: '0x7a69', from: EXTENSION.toLowerCase() as `0x${string}` } };
}

const clients: WalletClient[] = [];
afterEach(() => {
  for (const c of clients.splice(0)) c.destroy();
  vi.restoreAllMocks();
});

function setup(settings: Partial<ClientSettings> = {}): { wallet: FakeWallet; client: WalletClient } {
  const wallet = fakeWallet();
  const client = createClient(wallet.open, { ...SETTINGS, ...settings });
  clients.push(client);
  return { wallet, client };
}

/** Lets promise chains (and the bridge's queue) run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setTimeout(resolve, 0));
}

/** Answers every request to `method` not answered yet with `result`; returns them. */
function answer(wallet: FakeWallet, answered: Set<number>, method: string, result: unknown): RpcRequest[] {
  const requests = wallet.sent.filter((r) => r.method === method && !answered.has(r.id as number));
  for (const r of requests) {
    answered.add(r.id as number);
    wallet.respond(r.id, result);
  }
  return requests;
}

const answeredBy = new WeakMap<FakeWallet, Set<number>>();

/** Plays the wallet: answers null to every funding call not answered yet, and returns those calls. */
async function autoAnswer(wallet: FakeWallet): Promise<RpcRequest[]> {
  let answered = answeredBy.get(wallet);
  if (!answered) answeredBy.set(wallet, (answered = new Set()));
  const seen: RpcRequest[] = [];
  for (let i = 0; i < 5; i++) {
    await settle();
    seen.push(...answer(wallet, answered, 'wallet_useFundingProvider', null), ...answer(wallet, answered, 'wallet_transactionResult', null));
  }
  return seen;
}

describe('useFundingProvider', () => {
  it("asks the provider for its account and chain, tells the wallet, and resolves with the account", async () => {
    const { wallet, client } = setup();
    wallet.ready();
    const provider = fakeProvider({ eth_chainId: () => 31337 });
    const registering = client.useFundingProvider(provider);
    await settle();
    expect(provider.calls.map((c) => c.method)).toEqual(['eth_requestAccounts', 'eth_chainId']);
    expect(wallet.last()).toEqual({ jsonrpc: '2.0', id: 1, method: 'wallet_useFundingProvider', params: [{ address: EXTENSION.toLowerCase(), chainId: '0x7a69' }] });
    expect(client.fundingProvider).toBe(provider);
    wallet.respond(1, null);
    await expect(registering).resolves.toEqual({ address: EXTENSION.toLowerCase(), chainId: '0x7a69' });
  });

  it("rejects with the provider's error when its user refuses, and tells the wallet nothing", async () => {
    const { wallet, client } = setup();
    wallet.ready();
    const provider = fakeProvider({
      eth_requestAccounts: () => {
        throw Object.assign(new Error('User rejected the request.'), { code: 4001 });
      },
    });
    const e = await client.useFundingProvider(provider).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(WalletRpcError);
    expect(e).toMatchObject({ code: 4001, message: 'The funding provider refused eth_requestAccounts: User rejected the request.' });
    expect(wallet.sent).toEqual([]);
    expect(client.fundingProvider).toBeUndefined();
  });

  it('rejects with the wallet’s error (another chain) and keeps the provider it had', async () => {
    const { wallet, client } = setup();
    wallet.ready();
    const first = fakeProvider();
    const registering = client.useFundingProvider(first);
    await settle();
    wallet.respond(1, null);
    await registering;
    const second = fakeProvider({ eth_chainId: () => '0x1' });
    const again = client.useFundingProvider(second).catch((err: unknown) => err);
    await settle();
    wallet.fail(2, ErrorCode.invalidParams, 'invalid params: params[0].chainId: the funding provider is on chain 1', { field: 'params[0].chainId' });
    expect(await again).toMatchObject({ code: ErrorCode.invalidParams, data: { field: 'params[0].chainId' } });
    expect(client.fundingProvider).toBe(first);
  });

  it('refuses something that is not a provider', async () => {
    const { wallet, client } = setup();
    wallet.ready();
    await expect(client.useFundingProvider({} as Eip1193Like)).rejects.toThrow(TypeError);
  });
});

describe('transaction requests', () => {
  it('sends each through the provider, one at a time in order, and answers with the hash', async () => {
    const { wallet, client } = setup();
    wallet.ready();
    const releases: (() => void)[] = [];
    let n = 0;
    const provider = fakeProvider({
      eth_sendTransaction: () =>
        new Promise((resolve) => {
          const hash = `0x${String(++n).repeat(64)}`;
          releases.push(() => resolve(hash));
        }),
    });
    const registering = client.useFundingProvider(provider);
    await autoAnswer(wallet);
    await registering;
    provider.calls.length = 0;

    wallet.notify('wallet_transactionRequest', txRequest('r1', '0x5'));
    wallet.notify('wallet_transactionRequest', txRequest('r2', '0x6'));
    await settle();
    // The second waits for the first.
    expect(provider.calls.filter((c) => c.method === 'eth_sendTransaction')).toEqual([
      { method: 'eth_sendTransaction', params: [{ from: EXTENSION.toLowerCase(), to: ADJUDICATOR, data: '0x1234', value: '0x5', chainId: '0x7a69' }] },
    ]);
    releases[0]!();
    const first = await autoAnswer(wallet);
    expect(first.map((r) => r.params)).toEqual([[{ requestId: 'r1', hash: `0x${'1'.repeat(64)}` }]]);
    expect(provider.calls.filter((c) => c.method === 'eth_sendTransaction').map((c) => (c.params as [{ value: string }])[0].value)).toEqual(['0x5', '0x6']);
    releases[1]!();
    const second = await autoAnswer(wallet);
    expect(second.map((r) => r.params)).toEqual([[{ requestId: 'r2', hash: `0x${'2'.repeat(64)}` }]]);
  });

  it("answers with the provider's error: 4001 when its user rejects", async () => {
    const { wallet, client } = setup();
    wallet.ready();
    const provider = fakeProvider({
      eth_sendTransaction: () => {
        throw Object.assign(new Error('User rejected the request.'), { code: 4001 });
      },
    });
    const registering = client.useFundingProvider(provider);
    await autoAnswer(wallet);
    await registering;
    wallet.notify('wallet_transactionRequest', txRequest('r1'));
    const results = await autoAnswer(wallet);
    expect(results.map((r) => r.params)).toEqual([[{ requestId: 'r1', error: { code: 4001, message: 'User rejected the request.' } }]]);
  });

  it('answers 4901 without sending when the provider is on another chain', async () => {
    const { wallet, client } = setup();
    wallet.ready();
    let chainId = '0x7a69';
    const provider = fakeProvider({ eth_chainId: () => chainId });
    const registering = client.useFundingProvider(provider);
    await autoAnswer(wallet);
    await registering;
    chainId = '0x1';
    wallet.notify('wallet_transactionRequest', txRequest('r1'));
    const results = await autoAnswer(wallet);
    expect(results.map((r) => r.params)).toEqual([
      [{ requestId: 'r1', error: { code: 4901, message: 'The browser wallet is on chain 1, but the transaction is for chain 31337. Switch it to chain 31337.' } }],
    ]);
    expect(provider.calls.some((c) => c.method === 'eth_sendTransaction')).toBe(false);
  });

  it('asks the provider for its accounts first, and answers 4100 without sending when the funding account is not among them', async () => {
    const { wallet, client } = setup();
    wallet.ready();
    let accounts = [EXTENSION.toLowerCase()];
    const provider = fakeProvider({ eth_requestAccounts: () => accounts });
    const registering = client.useFundingProvider(provider);
    await autoAnswer(wallet);
    await registering;
    provider.calls.length = 0;
    wallet.notify('wallet_transactionRequest', txRequest('r1'));
    await autoAnswer(wallet);
    expect(provider.calls.map((c) => c.method)).toEqual(['eth_requestAccounts', 'eth_chainId', 'eth_sendTransaction']);
    accounts = [`0x${'cc'.repeat(20)}`];
    wallet.notify('wallet_transactionRequest', txRequest('r2'));
    const results = await autoAnswer(wallet);
    expect(results.map((r) => (r.params as [{ error?: { code: number } }])[0].error?.code)).toEqual([4100]);
    expect(provider.calls.filter((c) => c.method === 'eth_sendTransaction')).toHaveLength(1);
  });

  it('leaves requests alone without a provider; a repeated request is answered again, never sent twice', async () => {
    const { wallet, client } = setup();
    wallet.ready();
    wallet.notify('wallet_transactionRequest', txRequest('r1'));
    expect(await autoAnswer(wallet)).toEqual([]);

    const provider = fakeProvider();
    const registering = client.useFundingProvider(provider);
    await autoAnswer(wallet);
    await registering;
    // The wallet repeats what is still waiting once a provider is registered.
    wallet.notify('wallet_transactionRequest', txRequest('r1'));
    expect((await autoAnswer(wallet)).map((r) => r.params)).toEqual([[{ requestId: 'r1', hash: `0x${'ab'.repeat(32)}` }]]);
    wallet.notify('wallet_transactionRequest', txRequest('r1'));
    expect((await autoAnswer(wallet)).map((r) => r.params)).toEqual([[{ requestId: 'r1', hash: `0x${'ab'.repeat(32)}` }]]);
    expect(provider.calls.filter((c) => c.method === 'eth_sendTransaction')).toHaveLength(1);
  });

  it('answers -32603 when the provider returns no hash, and ignores malformed requests', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    const { wallet, client } = setup();
    wallet.ready();
    const provider = fakeProvider({ eth_sendTransaction: () => 'not a hash' });
    const registering = client.useFundingProvider(provider);
    await autoAnswer(wallet);
    await registering;
    wallet.notify('wallet_transactionRequest', { requestId: 'x', tx: { to: 'nope' } });
    wallet.notify('wallet_transactionRequest', txRequest('r1'));
    expect((await autoAnswer(wallet)).map((r) => r.params)).toEqual([[{ requestId: 'r1', error: { code: ErrorCode.internalError, message: 'The browser wallet returned no transaction hash' } }]]);
  });

  it('maps what providers throw to a code and a message', () => {
    expect(providerErrorOf(Object.assign(new Error('no'), { code: 4100 }))).toEqual({ code: 4100, message: 'no' });
    expect(providerErrorOf({ code: 'ACTION_REJECTED', message: 'user rejected action' })).toEqual({ code: 4001, message: 'user rejected action' });
    expect(providerErrorOf('boom')).toEqual({ code: ErrorCode.internalError, message: 'boom' });
    expect(providerErrorOf(undefined)).toEqual({ code: ErrorCode.internalError, message: 'the funding provider failed' });
    expect(providerErrorOf({ code: 1, message: 'x'.repeat(600) }).message).toHaveLength(512);
  });
});

describe('the fundingProvider option', () => {
  it('re-registers on ready when the site is connected already (a reload)', async () => {
    const provider = fakeProvider();
    const { wallet, client } = setup({ fundingProvider: provider });
    expect(client.fundingProvider).toBe(provider);
    wallet.ready();
    const registered = fundingRegistered(client);
    expect(wallet.last()).toMatchObject({ method: 'eth_accounts' });
    wallet.respond(wallet.last().id, [ADDRESS]);
    await autoAnswer(wallet);
    await expect(registered).resolves.toBeUndefined();
    expect(wallet.sent.map((r) => r.method)).toEqual(['eth_accounts', 'wallet_useFundingProvider']);
  });

  it('does nothing on ready for a site not connected yet; requestAccounts resolves only once the provider is registered', async () => {
    const provider = fakeProvider();
    const { wallet, client } = setup({ fundingProvider: provider });
    wallet.ready();
    wallet.respond(wallet.last().id, []);
    await expect(fundingRegistered(client)).resolves.toBeUndefined();
    expect(provider.calls).toEqual([]);

    let done = false;
    const accounts = client.requestAccounts().then((a) => {
      done = true;
      return a;
    });
    await settle();
    wallet.respond(wallet.last().id, [ADDRESS]);
    await settle();
    expect(wallet.last()).toMatchObject({ method: 'wallet_useFundingProvider' });
    expect(done).toBe(false);
    wallet.respond(wallet.last().id, null);
    await expect(accounts).resolves.toEqual([ADDRESS]);
  });

  it('makes requestAccounts reject with the registration’s error, and fundingRegistered with a failure on ready', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    const provider = fakeProvider({ eth_chainId: () => '0x1' });
    const { wallet, client } = setup({ fundingProvider: provider });
    wallet.ready();
    wallet.respond(wallet.last().id, [ADDRESS]);
    await settle();
    wallet.fail(wallet.last().id, ErrorCode.invalidParams, 'invalid params: params[0].chainId: wrong chain', { field: 'params[0].chainId' });
    await expect(fundingRegistered(client)).rejects.toMatchObject({ code: ErrorCode.invalidParams });

    const accounts = client.requestAccounts();
    await settle();
    wallet.respond(wallet.last().id, [ADDRESS]);
    await settle();
    wallet.fail(wallet.last().id, ErrorCode.invalidParams, 'invalid params: params[0].chainId: wrong chain', { field: 'params[0].chainId' });
    await expect(accounts).rejects.toMatchObject({ code: ErrorCode.invalidParams, data: { field: 'params[0].chainId' } });
  });

  it('answers transaction requests that arrive before the registration finishes', async () => {
    const provider = fakeProvider();
    const { wallet } = setup({ fundingProvider: provider });
    wallet.ready();
    wallet.notify('wallet_transactionRequest', txRequest('early'));
    const results = await autoAnswer(wallet);
    expect(results.map((r) => r.params)).toContainEqual([{ requestId: 'early', hash: `0x${'ab'.repeat(32)}` }]);
  });
});
