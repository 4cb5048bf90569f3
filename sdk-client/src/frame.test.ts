import { describe, expect, it, vi } from 'vitest';
import { FRAME_ATTRIBUTE, isFromWallet, mountWalletFrame } from './frame.ts';
import { ErrorCode } from './schema.ts';
import { fakeEnvironment, FakeFrameWindow } from './testing/fake-dom.ts';

const WALLET = 'http://127.0.0.1:5173';
const SRC = `${WALLET}/?origin=http%3A%2F%2Flocalhost%3A3000`;

function mount(container?: 'own') {
  const dom = fakeEnvironment();
  const received: unknown[] = [];
  const box = container ? dom.document.createElement('section') : undefined;
  if (box) dom.document.body?.appendChild(box);
  const connection = mountWalletFrame(
    { frameSrc: SRC, walletOrigin: WALLET, container: box as unknown as HTMLElement | undefined, onMessage: (data) => received.push(data) },
    dom.env,
  );
  const iframe = dom.document.frame();
  const overlay = dom.document.overlay();
  if (!iframe || !overlay) throw new Error('nothing mounted');
  return { ...dom, connection, received, iframe, overlay, box };
}

describe('isFromWallet', () => {
  const frame = new FakeFrameWindow() as unknown as Window;
  it('accepts only the frame window with the wallet origin', () => {
    expect(isFromWallet({ source: frame, origin: WALLET }, frame, WALLET)).toBe(true);
    expect(isFromWallet({ source: frame, origin: 'http://127.0.0.1:5174' }, frame, WALLET)).toBe(false);
    expect(isFromWallet({ source: frame, origin: 'http://localhost:5173' }, frame, WALLET)).toBe(false);
    expect(isFromWallet({ source: new FakeFrameWindow() as unknown as Window, origin: WALLET }, frame, WALLET)).toBe(false);
    expect(isFromWallet({ source: null, origin: WALLET }, frame, WALLET)).toBe(false);
    expect(isFromWallet({ source: null, origin: WALLET }, null, WALLET)).toBe(false);
  });
});

describe('mountWalletFrame', () => {
  it('mounts a hidden overlay holding the iframe in document.body', () => {
    const { document, iframe, overlay } = mount();
    expect(overlay.parent).toBe(document.body);
    expect(overlay.getAttribute(FRAME_ATTRIBUTE)).toBe('overlay');
    expect(overlay.getAttribute('data-visible')).toBe('false');
    expect(overlay.style.display).toBe('none');
    expect(overlay.style.position).toBe('fixed');
    expect(iframe.getAttribute(FRAME_ATTRIBUTE)).toBe('frame');
    expect(iframe.title).toBe('Channel Wallet');
    expect(iframe.src).toBe(SRC);
    expect(iframe.style).toMatchObject({ width: '400px', height: '560px' });
  });

  it('mounts inside the container when one is given', () => {
    const { overlay, box } = mount('own');
    expect(overlay.parent).toBe(box);
  });

  it('throws clearly when there is no body and no container', () => {
    const dom = fakeEnvironment();
    dom.document.body = null;
    expect(() => mountWalletFrame({ frameSrc: SRC, walletOrigin: WALLET, onMessage: () => {} }, dom.env)).toThrowError(/no document.body/);
  });

  it("passes on only messages from the frame's window and the wallet's origin", () => {
    const { window, iframe, received } = mount();
    const source = iframe.contentWindow;
    const message = { jsonrpc: '2.0', method: 'wallet_ready', params: { version: '1' } };
    window.dispatchMessage({ source, origin: WALLET, data: message });
    window.dispatchMessage({ source, origin: 'https://evil.example', data: { ...message, params: { version: 'wrong origin' } } });
    window.dispatchMessage({ source: new FakeFrameWindow(), origin: WALLET, data: { ...message, params: { version: 'wrong window' } } });
    window.dispatchMessage({ source: null, origin: WALLET, data: { ...message, params: { version: 'no window' } } });
    window.dispatchMessage({ source: window, origin: 'http://localhost:3000', data: { ...message, params: { version: 'the page itself' } } });
    expect(received).toEqual([message]);
  });

  it('posts plain objects to the frame with the wallet origin as target, never *', () => {
    const { connection, iframe } = mount();
    const request = { jsonrpc: '2.0' as const, id: 1, method: 'eth_accounts', params: [] };
    connection.post(request);
    expect(iframe.frameWindow.posted).toEqual([{ message: request, targetOrigin: WALLET }]);
  });

  it('shows the overlay as a centred dialog and hides it again', () => {
    const { connection, overlay, iframe } = mount();
    connection.setVisible(true);
    expect(overlay.style.display).toBe('flex');
    expect(overlay.getAttribute('data-visible')).toBe('true');
    expect(overlay.getAttribute('role')).toBe('dialog');
    expect(overlay.getAttribute('aria-modal')).toBe('true');
    expect(overlay.style).toMatchObject({ alignItems: 'center', justifyContent: 'center' });
    expect(iframe.focused).toBe(true);
    connection.setVisible(false);
    expect(overlay.style.display).toBe('none');
    expect(overlay.getAttribute('data-visible')).toBe('false');
    expect(overlay.getAttribute('role')).toBeNull();
    // Hidden, not removed: the wallet keeps running.
    expect(iframe.isConnected).toBe(true);
  });

  it('close removes the overlay and the listener; posting afterwards is a 4900', () => {
    const { connection, window, iframe, document, received } = mount();
    const source = iframe.contentWindow;
    expect(window.listeners.size).toBe(1);
    connection.close();
    connection.close();
    expect(document.frame()).toBeUndefined();
    expect(window.listeners.size).toBe(0);
    window.dispatchMessage({ source, origin: WALLET, data: { jsonrpc: '2.0', method: 'wallet_ready', params: { version: '1' } } });
    expect(received).toEqual([]);
    expect(() => connection.post({ jsonrpc: '2.0', id: 1, method: 'eth_accounts', params: [] })).toThrowError(
      expect.objectContaining({ code: ErrorCode.disconnected }),
    );
    connection.setVisible(true);
    expect(iframe.frameWindow.posted).toEqual([]);
  });

  it('is a 4900 to post when the page removed the iframe itself', () => {
    const { connection, overlay } = mount();
    overlay.remove();
    expect(() => connection.post({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] })).toThrowError(/eth_chainId: the wallet frame is gone/);
  });

  it('listens before the iframe is in the page, so an early wallet_ready is not missed', () => {
    const dom = fakeEnvironment();
    const add = vi.spyOn(dom.window, 'addEventListener');
    const append = vi.spyOn(dom.document.body!, 'appendChild');
    mountWalletFrame({ frameSrc: SRC, walletOrigin: WALLET, onMessage: () => {} }, dom.env);
    expect(add.mock.invocationCallOrder[0]).toBeLessThan(append.mock.invocationCallOrder[0]!);
  });
});
