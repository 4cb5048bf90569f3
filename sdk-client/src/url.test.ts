import { describe, expect, it } from 'vitest';
import { resolveWalletUrl } from './url.ts';

const HOST = 'http://localhost:3000';

describe('resolveWalletUrl', () => {
  it.each([
    ['http://127.0.0.1:5173', 'http://127.0.0.1:5173'],
    ['http://127.0.0.1:5173/', 'http://127.0.0.1:5173'],
    ['HTTP://127.0.0.1:5173/', 'http://127.0.0.1:5173'],
    ['https://Wallet.EXAMPLE.com/', 'https://wallet.example.com'],
    ['https://wallet.example.com:443/', 'https://wallet.example.com'],
    ['http://wallet.example.com:80/app/', 'http://wallet.example.com'],
    ['https://wallet.example.com:8443/a/b?x=1#top', 'https://wallet.example.com:8443'],
    ['  https://wallet.example.com  ', 'https://wallet.example.com'],
  ])('%s has origin %s', (walletUrl, origin) => {
    expect(resolveWalletUrl(walletUrl, HOST).walletOrigin).toBe(origin);
  });

  it('names the host origin in the frame src and keeps the path, other query params and fragment', () => {
    const { frameSrc } = resolveWalletUrl('https://Wallet.example.com:443/app/?theme=dark&x=1#top', 'https://dapp.example');
    const url = new URL(frameSrc);
    expect(url.origin).toBe('https://wallet.example.com');
    expect(url.pathname).toBe('/app/');
    expect(url.searchParams.get('origin')).toBe('https://dapp.example');
    expect(url.searchParams.get('theme')).toBe('dark');
    expect(url.searchParams.get('x')).toBe('1');
    expect(url.hash).toBe('#top');
  });

  it('replaces an origin param already in the wallet URL', () => {
    const { frameSrc } = resolveWalletUrl('http://127.0.0.1:5173/?origin=https%3A%2F%2Fevil.example', HOST);
    expect(new URL(frameSrc).searchParams.getAll('origin')).toEqual([HOST]);
  });

  it.each(['javascript:alert(1)', 'data:text/html,hi', 'file:///wallet/index.html', 'ftp://wallet.example/', 'ws://wallet.example/', 'blob:https://wallet.example/1'])(
    'rejects the non-http(s) URL %s',
    (walletUrl) => {
      expect(() => resolveWalletUrl(walletUrl, HOST)).toThrowError(/walletUrl must use http: or https:/);
    },
  );

  it.each(['', '   ', '/wallet/', 'wallet.example.com', 'http://'])('rejects %j, which is not an absolute URL', (walletUrl) => {
    expect(() => resolveWalletUrl(walletUrl, HOST)).toThrowError(TypeError);
  });

  it('rejects a URL with credentials, without echoing them', () => {
    expect(() => resolveWalletUrl('https://user:secret@wallet.example/', HOST)).toThrowError(/must not contain a user name or password/);
    try {
      resolveWalletUrl('https://user:secret@wallet.example/', HOST);
    } catch (error) {
      expect(String(error)).not.toContain('secret');
    }
  });

  it('rejects a walletUrl that is not a string (a JS caller)', () => {
    expect(() => resolveWalletUrl(undefined as unknown as string, HOST)).toThrowError(/walletUrl must be an absolute http\(s\) URL/);
  });

  it.each(['null', 'file://', '', 'https://dapp.example/path'])('rejects the host origin %j, which the wallet could not answer', (hostOrigin) => {
    expect(() => resolveWalletUrl('https://wallet.example/', hostOrigin)).toThrowError(/not an http\(s\) origin/);
  });
});
