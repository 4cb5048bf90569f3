/**
 * Where the wallet lives: the origin its messages must come from, and the iframe src, which
 * names the host page's origin so the wallet knows whom to answer.
 */
export interface WalletLocation {
  /** `new URL(walletUrl).origin`: lower-case scheme and host, default port dropped, no path. */
  walletOrigin: string;
  /** `walletUrl` with the query parameter `origin` set to the host page's origin. */
  frameSrc: string;
}

function isHttp(url: URL): boolean {
  return url.protocol === 'http:' || url.protocol === 'https:';
}

/**
 * Normalises `walletUrl` and builds the iframe src. Throws a TypeError with a clear message for a
 * URL that is not absolute http(s), carries credentials, or for a host origin the wallet could
 * not post to (an opaque `null` origin, a file: page).
 */
export function resolveWalletUrl(walletUrl: string, hostOrigin: string): WalletLocation {
  if (typeof walletUrl !== 'string' || walletUrl.trim() === '') {
    throw new TypeError('walletUrl must be an absolute http(s) URL, such as https://wallet.example/');
  }
  let url: URL;
  try {
    url = new URL(walletUrl.trim());
  } catch {
    throw new TypeError('walletUrl is not an absolute URL; expected an http(s) URL such as https://wallet.example/');
  }
  if (!isHttp(url)) {
    throw new TypeError(`walletUrl must use http: or https:, not ${url.protocol}`);
  }
  if (url.username !== '' || url.password !== '') {
    throw new TypeError('walletUrl must not contain a user name or password');
  }

  let host: URL | undefined;
  try {
    host = new URL(hostOrigin);
  } catch {
    host = undefined;
  }
  if (!host || !isHttp(host) || host.origin !== hostOrigin) {
    throw new TypeError(
      `The host page's origin (${String(hostOrigin)}) is not an http(s) origin, so the wallet cannot answer it; serve the page over http(s)`,
    );
  }

  url.searchParams.set('origin', host.origin);
  return { walletOrigin: url.origin, frameSrc: url.href };
}
