import { afterEach, beforeEach, describe, expect, expectTypeOf, it, vi } from 'vitest';
import { type ClientSettings, createClient, resolveTimeouts } from './client.ts';
import { WalletRpcError } from './errors.ts';
import { ErrorCode, type MethodResult } from './schema.ts';
import { ADDRESS, type FakeWallet, fakeWallet, WALLET_INFO } from './testing/fake-wallet.ts';
import type { WalletClient } from './types.ts';

const SETTINGS: ClientSettings = { walletOrigin: 'http://127.0.0.1:5173', timeoutMs: 10_000, interactiveTimeoutMs: 300_000, readyTimeoutMs: 15_000 };

function setup(settings: Partial<ClientSettings> = {}): { wallet: FakeWallet; client: WalletClient } {
  const wallet = fakeWallet();
  const client = createClient(wallet.open, { ...SETTINGS, ...settings });
  return { wallet, client };
}

/** Settles `promise` into a value the test can inspect synchronously after flushing microtasks. */
function track<T>(promise: Promise<T>) {
  const state: { status: 'pending' | 'resolved' | 'rejected'; value?: T; error?: unknown } = { status: 'pending' };
  promise.then(
    (value) => Object.assign(state, { status: 'resolved', value }),
    (error: unknown) => Object.assign(state, { status: 'rejected', error }),
  );
  return state;
}

/** Marks a promise the test does not await as handled (it is rejected when the client is destroyed). */
function quiet<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => {});
  return promise;
}

async function flush(): Promise<void> {
  await Promise.resolve();
  await Promise.resolve();
}

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe('readiness', () => {
  it('resolves ready with the wallet_ready params, emits wallet_ready, and reports the state', async () => {
    const { wallet, client } = setup();
    const seen: unknown[] = [];
    client.on('wallet_ready', (params) => {
      expectTypeOf(params).toEqualTypeOf<{ version: string }>();
      seen.push(params);
    });
    expect(client.state).toBe('connecting');
    expect(client.walletOrigin).toBe('http://127.0.0.1:5173');
    wallet.ready('1.2.3');
    await expect(client.ready).resolves.toEqual({ version: '1.2.3' });
    expect(client.state).toBe('ready');
    expect(seen).toEqual([{ version: '1.2.3' }]);
  });

  it('ignores a malformed wallet_ready and stays connecting', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    const { wallet, client } = setup();
    const ready = track(client.ready);
    wallet.notify('wallet_ready', { version: 1 });
    wallet.notify('wallet_ready', {});
    await flush();
    expect(ready.status).toBe('pending');
    expect(client.state).toBe('connecting');
  });

  it('gives up with 4900 when the wallet is not ready within readyTimeoutMs, and rejects queued calls', async () => {
    const { wallet, client } = setup({ readyTimeoutMs: 2_000 });
    const ready = track(client.ready);
    const call = track(client.accounts());
    await vi.advanceTimersByTimeAsync(1_999);
    expect(ready.status).toBe('pending');
    await vi.advanceTimersByTimeAsync(1);
    expect(ready.status).toBe('rejected');
    expect(ready.error).toBeInstanceOf(WalletRpcError);
    expect(ready.error).toMatchObject({ code: ErrorCode.disconnected, message: 'The wallet at http://127.0.0.1:5173 did not become ready within 2000 ms' });
    expect(call.error).toMatchObject({ code: ErrorCode.disconnected, message: 'eth_accounts: the wallet at http://127.0.0.1:5173 did not become ready within 2000 ms' });
    expect(client.state).toBe('closed');
    expect(wallet.closed).toBe(true);
    // A late wallet_ready changes nothing.
    wallet.ready();
    expect(client.state).toBe('closed');
    expect(wallet.sent).toEqual([]);
  });

  it('does not leave an unhandled rejection when nobody awaits ready', async () => {
    const unhandled = vi.fn();
    process.on('unhandledRejection', unhandled);
    try {
      setup({ readyTimeoutMs: 10 });
      await vi.advanceTimersByTimeAsync(10);
      // One real macrotask turn: Node reports unhandled rejections once the microtasks drain.
      vi.useRealTimers();
      await new Promise((resolve) => setImmediate(resolve));
      expect(unhandled).not.toHaveBeenCalled();
    } finally {
      process.off('unhandledRejection', unhandled);
    }
  });
});

describe('queueing before ready', () => {
  it('sends calls made before ready in order once the wallet is ready, and resolves them', async () => {
    const { wallet, client } = setup();
    const chainId = track(client.chainId());
    const accounts = track(client.request({ method: 'eth_accounts' }));
    const info = track(client.getInfo());
    await flush();
    expect(wallet.sent).toEqual([]);

    wallet.ready();
    expect(wallet.sent.map((r) => r.method)).toEqual(['eth_chainId', 'eth_accounts', 'wallet_getInfo']);
    expect(wallet.sent).toEqual([
      { jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] },
      { jsonrpc: '2.0', id: 2, method: 'eth_accounts', params: [] },
      { jsonrpc: '2.0', id: 3, method: 'wallet_getInfo', params: [] },
    ]);

    // Answered out of order; each call gets its own answer.
    wallet.respond(3, WALLET_INFO);
    wallet.respond(1, '0x7a69');
    wallet.respond(2, [ADDRESS]);
    await flush();
    expect(chainId).toEqual({ status: 'resolved', value: '0x7a69' });
    expect(accounts).toEqual({ status: 'resolved', value: [ADDRESS] });
    expect(info).toEqual({ status: 'resolved', value: WALLET_INFO });
  });

  it('sends at once after ready', async () => {
    const { wallet, client } = setup();
    wallet.ready();
    const accounts = client.accounts();
    expect(wallet.last()).toEqual({ jsonrpc: '2.0', id: 1, method: 'eth_accounts', params: [] });
    wallet.respond(1, []);
    await expect(accounts).resolves.toEqual([]);
  });

  it('starts a queued call’s timeout when it is sent, not when it is made', async () => {
    const { wallet, client } = setup({ timeoutMs: 1_000, readyTimeoutMs: 15_000 });
    const call = track(client.accounts());
    await vi.advanceTimersByTimeAsync(5_000);
    expect(call.status).toBe('pending');
    wallet.ready();
    await vi.advanceTimersByTimeAsync(999);
    expect(call.status).toBe('pending');
    await vi.advanceTimersByTimeAsync(1);
    expect(call.error).toMatchObject({ code: ErrorCode.timeout });
  });
});

describe('requests and responses', () => {
  it('sends the params given, and the convenience methods send theirs', async () => {
    const { wallet, client } = setup();
    wallet.ready();
    void quiet(client.request({ method: 'wallet_revokePermissions', params: [{ eth_accounts: {} }] }));
    void quiet(client.requestPermissions());
    void quiet(client.revokePermissions());
    void quiet(client.requestAccounts());
    void quiet(client.getPermissions());
    void quiet(client.listChannels());
    expect(wallet.sent.map(({ method, params }) => ({ method, params }))).toEqual([
      { method: 'wallet_revokePermissions', params: [{ eth_accounts: {} }] },
      { method: 'wallet_requestPermissions', params: [{ eth_accounts: {} }] },
      { method: 'wallet_revokePermissions', params: [{ eth_accounts: {} }] },
      { method: 'eth_requestAccounts', params: [] },
      { method: 'wallet_getPermissions', params: [] },
      { method: 'channel_list', params: [] },
    ]);
    client.destroy();
  });

  it('types request from the schema', () => {
    const { client } = setup();
    expectTypeOf(quiet(client.request({ method: 'wallet_getInfo' }))).toEqualTypeOf<Promise<MethodResult<'wallet_getInfo'>>>();
    expectTypeOf(quiet(client.request({ method: 'eth_accounts' }))).resolves.toEqualTypeOf<`0x${string}`[]>();
    expectTypeOf(quiet(client.getInfo())).resolves.toHaveProperty('contracts');
    // It can be handed to code that expects an EIP-1193 style provider.
    const provider: { request(args: { method: string; params?: unknown }): Promise<unknown> } = client;
    expectTypeOf(provider).not.toBeAny();
    // @ts-expect-error not a method of the schema
    void quiet(client.request({ method: 'eth_sendTransaction' }));
    // @ts-expect-error the params have the wrong shape
    void quiet(client.request({ method: 'wallet_revokePermissions', params: [{ eth_account: {} }] }));
    client.destroy();
  });

  it('matches responses by id and ignores unknown ids, string forms of ids and id null', async () => {
    const { wallet, client } = setup();
    wallet.ready();
    const a = track(client.chainId());
    const b = track(client.chainId());
    wallet.respond(99, '0x1');
    wallet.respond('1', '0x1');
    wallet.respond(null, '0x1');
    wallet.fail(null, ErrorCode.invalidRequest, 'Invalid request');
    await flush();
    expect([a.status, b.status]).toEqual(['pending', 'pending']);
    wallet.respond(2, '0x2');
    wallet.respond(1, '0x1');
    // A second answer to the same id is ignored.
    wallet.respond(1, '0x3');
    await flush();
    expect(a.value).toBe('0x1');
    expect(b.value).toBe('0x2');
  });

  it("rejects with the wallet's error, code and data.field", async () => {
    const { wallet, client } = setup();
    wallet.ready();
    const rejected = client.requestAccounts();
    wallet.fail(1, ErrorCode.userRejected, 'User rejected the request');
    await expect(rejected).rejects.toMatchObject({ name: 'WalletRpcError', code: 4001, message: 'User rejected the request' });
    const invalid = client.request({ method: 'wallet_revokePermissions', params: [{ eth_accounts: {} }] });
    wallet.fail(2, ErrorCode.invalidParams, 'params[0].eth_accounts: missing', { field: 'params[0].eth_accounts' });
    const error = await invalid.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WalletRpcError);
    expect(error).toMatchObject({ code: -32602, data: { field: 'params[0].eth_accounts' } });
  });

  it('passes the wallet’s -32601 through for a method the schema does not have (a JS caller)', async () => {
    const { wallet, client } = setup();
    wallet.ready();
    const call = (client.request as (args: { method: string }) => Promise<unknown>)({ method: 'eth_sign' });
    expect(wallet.last()).toEqual({ jsonrpc: '2.0', id: 1, method: 'eth_sign', params: [] });
    wallet.fail(1, ErrorCode.methodNotFound, 'Method not found: eth_sign');
    await expect(call).rejects.toMatchObject({ code: -32601, message: 'Method not found: eth_sign' });
  });

  it('rejects a call without a method string at once', async () => {
    const { wallet, client } = setup();
    wallet.ready();
    const loose = client.request as (args: unknown) => Promise<unknown>;
    await expect(loose({ method: 42 })).rejects.toMatchObject({ code: ErrorCode.invalidRequest });
    await expect(loose(undefined)).rejects.toMatchObject({ code: ErrorCode.invalidRequest });
    expect(wallet.sent).toEqual([]);
  });

  it('rejects when the message cannot be posted', async () => {
    const { wallet, client } = setup();
    wallet.ready();
    wallet.breakPost(new DOMException('could not be cloned', 'DataCloneError'));
    await expect(client.chainId()).rejects.toMatchObject({ code: ErrorCode.invalidParams, message: 'eth_chainId: the params could not be sent (DataCloneError)' });
    wallet.breakPost(new WalletRpcError(ErrorCode.disconnected, 'eth_chainId: the wallet frame is gone'));
    await expect(client.chainId()).rejects.toMatchObject({ code: ErrorCode.disconnected });
    wallet.breakPost(undefined);
    // Nothing left pending: a later answer to those ids is ignored, and the next call works.
    const next = client.chainId();
    wallet.respond(3, '0x1');
    await expect(next).resolves.toBe('0x1');
  });
});

describe('result validation', () => {
  it.each([
    ['wallet_getInfo', { ...WALLET_INFO, address: '0x1234' }, 'result.address'],
    ['wallet_getInfo', { ...WALLET_INFO, extra: true }, 'result.extra'],
    ['eth_chainId', '0x07a69', 'result'],
    ['eth_chainId', 31337, 'result'],
    ['eth_accounts', [ADDRESS, ADDRESS], 'result'],
    ['wallet_revokePermissions', true, 'result'],
    ['channel_list', [{ channelId: '0x12' }], 'result[0].channelId'],
  ] as const)('rejects a malformed %s result with -32603 naming the field', async (method, result, field) => {
    const { wallet, client } = setup();
    wallet.ready();
    const call = (client.request as (args: { method: string }) => Promise<unknown>)({ method });
    wallet.respond(1, result);
    const error = await call.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WalletRpcError);
    expect(error).toMatchObject({ code: ErrorCode.internalError, data: { field } });
    expect((error as Error).message).toMatch(new RegExp(`^${method} returned a malformed result`));
  });

  it('passes a well-formed result through', async () => {
    const { wallet, client } = setup();
    wallet.ready();
    const revoke = client.revokePermissions();
    wallet.respond(1, null);
    await expect(revoke).resolves.toBeNull();
    const permissions = client.getPermissions();
    const permission = { invoker: 'https://dapp.example', parentCapability: 'eth_accounts', caveats: [{ type: 'restrictReturnedAccounts', value: [ADDRESS] }], date: 1 };
    wallet.respond(2, [permission]);
    await expect(permissions).resolves.toEqual([permission]);
  });
});

describe('timeouts', () => {
  it('times a non-interactive call out after timeoutMs with -32001', async () => {
    const { wallet, client } = setup();
    wallet.ready();
    const info = track(client.getInfo());
    await vi.advanceTimersByTimeAsync(9_999);
    expect(info.status).toBe('pending');
    await vi.advanceTimersByTimeAsync(1);
    expect(info.error).toBeInstanceOf(WalletRpcError);
    expect(info.error).toMatchObject({ code: ErrorCode.timeout, message: 'wallet_getInfo timed out after 10000 ms' });
    // The late answer is ignored.
    wallet.respond(1, WALLET_INFO);
    await flush();
    expect(info.status).toBe('rejected');
  });

  it('gives interactive calls interactiveTimeoutMs', async () => {
    const { wallet, client } = setup();
    wallet.ready();
    const connect = track(client.requestAccounts());
    const permissions = track(client.requestPermissions());
    await vi.advanceTimersByTimeAsync(299_999);
    expect([connect.status, permissions.status]).toEqual(['pending', 'pending']);
    await vi.advanceTimersByTimeAsync(1);
    expect(connect.error).toMatchObject({ code: ErrorCode.timeout, message: 'eth_requestAccounts timed out after 300000 ms' });
    expect(permissions.error).toMatchObject({ code: ErrorCode.timeout, message: 'wallet_requestPermissions timed out after 300000 ms' });
  });

  it('uses the configured timeouts, and a per-call timeoutMs over either', async () => {
    const { wallet, client } = setup({ timeoutMs: 50, interactiveTimeoutMs: 500 });
    wallet.ready();
    const quick = track(client.accounts());
    const slow = track(client.requestAccounts());
    const custom = track(client.getInfo({ timeoutMs: 200 }));
    const customInteractive = track(client.request({ method: 'eth_requestAccounts' }, { timeoutMs: 20 }));
    await vi.advanceTimersByTimeAsync(20);
    expect(customInteractive.error).toMatchObject({ message: 'eth_requestAccounts timed out after 20 ms' });
    await vi.advanceTimersByTimeAsync(30);
    expect(quick.error).toMatchObject({ code: ErrorCode.timeout });
    await vi.advanceTimersByTimeAsync(150);
    expect(custom.error).toMatchObject({ message: 'wallet_getInfo timed out after 200 ms' });
    expect(slow.status).toBe('pending');
    await vi.advanceTimersByTimeAsync(300);
    expect(slow.error).toMatchObject({ message: 'eth_requestAccounts timed out after 500 ms' });
  });

  it('clears the timer when the answer comes', async () => {
    const { wallet, client } = setup();
    wallet.ready();
    const call = client.chainId();
    wallet.respond(1, '0x1');
    await expect(call).resolves.toBe('0x1');
    expect(vi.getTimerCount()).toBe(0);
  });

  it('rejects a bad per-call timeout, and resolveTimeouts fills defaults and rejects bad ones', async () => {
    const { wallet, client } = setup();
    wallet.ready();
    await expect(client.chainId({ timeoutMs: 0 })).rejects.toThrowError(TypeError);
    await expect(client.chainId({ timeoutMs: Number.NaN })).rejects.toThrowError(/timeoutMs must be a number/);
    expect(resolveTimeouts({})).toEqual({ timeoutMs: 10_000, interactiveTimeoutMs: 300_000, readyTimeoutMs: 15_000 });
    expect(resolveTimeouts({ timeoutMs: 5 })).toMatchObject({ timeoutMs: 5 });
    expect(() => resolveTimeouts({ readyTimeoutMs: -1 })).toThrowError(/readyTimeoutMs/);
    expect(() => resolveTimeouts({ interactiveTimeoutMs: Infinity })).toThrowError(/interactiveTimeoutMs/);
    expect(() => resolveTimeouts({ timeoutMs: '100' as unknown as number })).toThrowError(/timeoutMs/);
  });
});

describe('notifications', () => {
  it('dispatches typed params to listeners; the returned function unsubscribes', async () => {
    const { wallet, client } = setup();
    wallet.ready();
    const accounts: `0x${string}`[][] = [];
    const stop = client.on('wallet_accountsChanged', (params) => {
      expectTypeOf(params).toEqualTypeOf<`0x${string}`[]>();
      accounts.push(params);
    });
    wallet.notify('wallet_accountsChanged', [ADDRESS]);
    wallet.notify('wallet_accountsChanged', []);
    stop();
    wallet.notify('wallet_accountsChanged', [ADDRESS]);
    expect(accounts).toEqual([[ADDRESS], []]);
  });

  it('off removes a listener', () => {
    const { wallet, client } = setup();
    const listener = vi.fn();
    client.on('wallet_uiRequest', listener);
    client.off('wallet_uiRequest', listener);
    wallet.notify('wallet_uiRequest', { visible: true });
    expect(listener).not.toHaveBeenCalled();
  });

  it('drops notifications with invalid params, warning once without their contents', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const { wallet, client } = setup();
    wallet.ready();
    const accounts = vi.fn();
    const ui = vi.fn();
    client.on('wallet_accountsChanged', accounts);
    client.on('wallet_uiRequest', ui);
    const secret = `0x${'5e'.repeat(32)}`;
    wallet.notify('wallet_accountsChanged', [secret]);
    wallet.notify('wallet_accountsChanged', [ADDRESS, ADDRESS]);
    wallet.notify('wallet_uiRequest', { visible: 'yes' });
    wallet.notify('wallet_uiRequest', { visible: true, secret });
    wallet.deliver({ jsonrpc: '2.0', method: 'wallet_uiRequest' });
    expect(accounts).not.toHaveBeenCalled();
    expect(ui).not.toHaveBeenCalled();
    expect(wallet.visibility).toEqual([]);
    expect(warn).toHaveBeenCalledOnce();
    expect(JSON.stringify(warn.mock.calls)).not.toContain('5e5e');
  });

  it('ignores notifications the schema does not have, and malformed messages', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const { wallet, client } = setup();
    wallet.ready();
    const listener = vi.fn();
    client.on('wallet_accountsChanged', listener);
    wallet.notify('wallet_somethingNew', { x: 1 });
    wallet.notify('toString', {});
    wallet.deliver('{"jsonrpc":"2.0","method":"wallet_accountsChanged","params":[]}');
    wallet.deliver({ jsonrpc: '1.0', method: 'wallet_accountsChanged', params: [] });
    wallet.deliver({ method: 'wallet_accountsChanged', params: [] });
    expect(listener).not.toHaveBeenCalled();
    expect(warn).not.toHaveBeenCalled();
  });

  it('shows and hides the wallet on wallet_uiRequest, and emits it', () => {
    const { wallet, client } = setup();
    wallet.ready();
    const seen: boolean[] = [];
    client.on('wallet_uiRequest', ({ visible }) => seen.push(visible));
    wallet.notify('wallet_uiRequest', { visible: true });
    wallet.notify('wallet_uiRequest', { visible: false });
    expect(wallet.visibility).toEqual([true, false]);
    expect(seen).toEqual([true, false]);
  });

  it('rejects listening to an event the schema does not have', () => {
    const { client } = setup();
    // @ts-expect-error not a wallet notification
    expect(() => client.on('accountsChanged', () => {})).toThrowError(TypeError);
  });
});

describe('destroy', () => {
  it('rejects pending and queued calls with 4900, closes the connection, and is idempotent', async () => {
    const { wallet, client } = setup();
    const beforeReady = track(client.getInfo());
    wallet.ready();
    const pending = track(client.requestAccounts());
    const listener = vi.fn();
    client.on('wallet_accountsChanged', listener);
    client.destroy();
    client.destroy();
    await flush();
    expect(beforeReady.error).toMatchObject({ code: ErrorCode.disconnected, message: 'wallet_getInfo: the wallet client was destroyed' });
    expect(pending.error).toBeInstanceOf(WalletRpcError);
    expect(pending.error).toMatchObject({ code: ErrorCode.disconnected, message: 'eth_requestAccounts: the wallet client was destroyed' });
    expect(wallet.closed).toBe(true);
    expect(client.state).toBe('closed');
    expect(vi.getTimerCount()).toBe(0);
    // Late messages are ignored; new calls reject at once.
    wallet.respond(1, WALLET_INFO);
    wallet.notify('wallet_accountsChanged', [ADDRESS]);
    expect(listener).not.toHaveBeenCalled();
    await expect(client.chainId()).rejects.toMatchObject({ code: ErrorCode.disconnected, message: 'eth_chainId: the wallet client is closed (destroyed, or the wallet was not ready in time)' });
    expect(wallet.sent).toHaveLength(2);
  });

  it('rejects queued calls and ready when destroyed before ready', async () => {
    const { wallet, client } = setup();
    const queued = track(client.accounts());
    client.destroy();
    await expect(client.ready).rejects.toMatchObject({ code: ErrorCode.disconnected });
    expect(queued.error).toMatchObject({ code: ErrorCode.disconnected });
    wallet.ready();
    expect(wallet.sent).toEqual([]);
    expect(vi.getTimerCount()).toBe(0);
  });
});
