/**
 * The whole sdk over the fake DOM: what a dapp does, with a stand-in wallet answering from
 * inside the fake iframe. The real browser path is covered by the Playwright e2e tests.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { connect, createWalletClient, ErrorCode, WalletRpcError } from './index.ts';
import { type FakeElement, fakeEnvironment } from './testing/fake-dom.ts';
import { ADDRESS, WALLET_INFO } from './testing/fake-wallet.ts';

const HOST = 'http://localhost:3000';
const WALLET = 'http://127.0.0.1:5173';
let dom: ReturnType<typeof fakeEnvironment>;

beforeEach(() => {
  vi.useFakeTimers();
  dom = fakeEnvironment();
  vi.stubGlobal('document', dom.document);
  vi.stubGlobal('window', dom.window);
  vi.stubGlobal('location', { origin: HOST, href: `${HOST}/` });
});

afterEach(() => {
  vi.unstubAllGlobals();
  vi.useRealTimers();
});

function frame(): FakeElement {
  const iframe = dom.document.frame();
  if (!iframe) throw new Error('no iframe');
  return iframe;
}

/** Posts from the wallet frame to the page, as the wallet would. */
function fromWallet(data: unknown, origin = WALLET): void {
  dom.window.dispatchMessage({ source: frame().contentWindow, origin, data });
}

describe('connect', () => {
  it('mounts the iframe with ?origin= and resolves once the wallet is ready', async () => {
    const pending = connect({ walletUrl: 'HTTP://127.0.0.1:5173/?lang=en' });
    const src = new URL(frame().src);
    expect(src.origin).toBe(WALLET);
    expect(src.searchParams.get('origin')).toBe(HOST);
    expect(src.searchParams.get('lang')).toBe('en');

    fromWallet({ jsonrpc: '2.0', method: 'wallet_ready', params: { version: '0.1.0' } });
    const client = await pending;
    expect(client.state).toBe('ready');
    expect(client.walletOrigin).toBe(WALLET);

    const info = client.getInfo();
    expect(frame().frameWindow.posted).toEqual([{ message: { jsonrpc: '2.0', id: 1, method: 'wallet_getInfo', params: [] }, targetOrigin: WALLET }]);
    fromWallet({ jsonrpc: '2.0', id: 1, result: WALLET_INFO });
    await expect(info).resolves.toEqual(WALLET_INFO);

    client.destroy();
    expect(dom.document.frame()).toBeUndefined();
    expect(dom.window.listeners.size).toBe(0);
  });

  it('rejects with 4900 and removes the iframe when the wallet is not ready in time', async () => {
    const pending = connect({ walletUrl: `${WALLET}/`, readyTimeoutMs: 3_000 });
    const outcome = pending.catch((e: unknown) => e);
    expect(dom.document.frame()).toBeDefined();
    await vi.advanceTimersByTimeAsync(3_000);
    const error = await outcome;
    expect(error).toBeInstanceOf(WalletRpcError);
    expect(error).toMatchObject({ code: ErrorCode.disconnected, message: `The wallet at ${WALLET} did not become ready within 3000 ms` });
    expect(dom.document.frame()).toBeUndefined();
    expect(dom.window.listeners.size).toBe(0);
  });

  it('defaults to a 15 s ready timeout', async () => {
    const outcome = connect({ walletUrl: WALLET }).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(14_999);
    expect(dom.document.frame()).toBeDefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(await outcome).toMatchObject({ message: `The wallet at ${WALLET} did not become ready within 15000 ms` });
  });

  it('rejects bad options without mounting anything', async () => {
    await expect(connect({ walletUrl: 'javascript:alert(1)' })).rejects.toThrowError(/walletUrl must use http: or https:/);
    await expect(connect({ walletUrl: WALLET, timeoutMs: -5 })).rejects.toThrowError(/timeoutMs/);
    expect(dom.document.frame()).toBeUndefined();
  });

  it('with a fundingProvider on a connected site: resolves once it is registered again, rejects (removing the iframe) if that fails', async () => {
    const extension = `0x${'ee'.repeat(20)}`;
    const provider = { request: async ({ method }: { method: string }) => (method === 'eth_chainId' ? '0x7a69' : [extension]) };
    const reply = async (result: (method: string) => unknown) => {
      for (let i = 0; i < 2; i++) {
        await vi.advanceTimersByTimeAsync(0);
        const { message } = frame().frameWindow.posted.at(-1)! as { message: { id: number; method: string } };
        const answer = result(message.method);
        fromWallet(answer instanceof Error ? { jsonrpc: '2.0', id: message.id, error: { code: ErrorCode.invalidParams, message: answer.message } } : { jsonrpc: '2.0', id: message.id, result: answer });
      }
    };
    const pending = connect({ walletUrl: WALLET, fundingProvider: provider });
    fromWallet({ jsonrpc: '2.0', method: 'wallet_ready', params: { version: '0.1.0' } });
    await reply((method) => (method === 'eth_accounts' ? [ADDRESS] : null));
    const client = await pending;
    expect(frame().frameWindow.posted.map((p) => (p.message as { method: string }).method)).toEqual(['eth_accounts', 'wallet_useFundingProvider']);
    expect(client.fundingProvider).toBe(provider);
    client.destroy();

    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const failing = connect({ walletUrl: WALLET, fundingProvider: provider }).catch((e: unknown) => e);
    fromWallet({ jsonrpc: '2.0', method: 'wallet_ready', params: { version: '0.1.0' } });
    await reply((method) => (method === 'eth_accounts' ? [ADDRESS] : new Error('invalid params: params[0].chainId: another chain')));
    expect(await failing).toMatchObject({ code: ErrorCode.invalidParams });
    expect(dom.document.frame()).toBeUndefined();
    warn.mockRestore();
    await expect(connect({ walletUrl: WALLET, fundingProvider: {} as never })).rejects.toThrowError(/fundingProvider must be an EIP-1193 provider/);
  });

  it('refuses to run on a page whose origin the wallet could not answer', async () => {
    vi.stubGlobal('location', { origin: 'null', href: 'file:///dapp.html' });
    await expect(connect({ walletUrl: WALLET })).rejects.toThrowError(/not an http\(s\) origin/);
  });
});

describe('createWalletClient', () => {
  it('returns at once, queues calls until ready, and shows the overlay on request', async () => {
    const container = dom.document.createElement('div');
    dom.document.body!.appendChild(container);
    const client = createWalletClient({ walletUrl: WALLET, container: container as unknown as HTMLElement });
    expect(dom.document.overlay()?.parent).toBe(container);
    const accounts = client.requestAccounts();
    const chainId = client.chainId();
    expect(frame().frameWindow.posted).toEqual([]);

    // Messages from elsewhere are ignored: a wrong origin, another window.
    fromWallet({ jsonrpc: '2.0', method: 'wallet_ready', params: { version: 'x' } }, 'https://evil.example');
    dom.window.dispatchMessage({ source: dom.window, origin: HOST, data: { jsonrpc: '2.0', method: 'wallet_ready', params: { version: 'x' } } });
    expect(client.state).toBe('connecting');

    fromWallet({ jsonrpc: '2.0', method: 'wallet_ready', params: { version: '0.1.0' } });
    await expect(client.ready).resolves.toEqual({ version: '0.1.0' });
    expect(frame().frameWindow.posted.map((p) => p.message)).toEqual([
      { jsonrpc: '2.0', id: 1, method: 'eth_requestAccounts', params: [] },
      { jsonrpc: '2.0', id: 2, method: 'eth_chainId', params: [] },
    ]);

    const overlay = dom.document.overlay()!;
    fromWallet({ jsonrpc: '2.0', method: 'wallet_uiRequest', params: { visible: true } });
    expect(overlay.style.display).toBe('flex');
    const changed = vi.fn();
    client.on('wallet_accountsChanged', changed);
    fromWallet({ jsonrpc: '2.0', method: 'wallet_accountsChanged', params: [ADDRESS] });
    fromWallet({ jsonrpc: '2.0', id: 1, result: [ADDRESS] });
    fromWallet({ jsonrpc: '2.0', method: 'wallet_uiRequest', params: { visible: false } });
    fromWallet({ jsonrpc: '2.0', id: 2, result: '0x7a69' });
    await expect(accounts).resolves.toEqual([ADDRESS]);
    await expect(chainId).resolves.toBe('0x7a69');
    expect(changed).toHaveBeenCalledWith([ADDRESS]);
    expect(overlay.style.display).toBe('none');
    expect(frame().isConnected).toBe(true);

    const pending = client.getInfo();
    client.destroy();
    await expect(pending).rejects.toMatchObject({ code: ErrorCode.disconnected });
    expect(dom.document.frame()).toBeUndefined();
  });

  it('throws at once for a bad walletUrl', () => {
    expect(() => createWalletClient({ walletUrl: 'ftp://wallet.example/' })).toThrowError(TypeError);
  });
});
