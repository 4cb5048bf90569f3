import type { Hex } from './exchange.ts';

/**
 * sha256 with WebCrypto, 0x-hex. Native and off the page's thread: the demo hashes every piece
 * and the whole file with it (the exchange's own JS sha256 is ~30 MB/s on the page's thread).
 */
export async function webSha256(bytes: Uint8Array): Promise<Hex> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
  let hex = '0x';
  for (const b of digest) hex += b.toString(16).padStart(2, '0');
  return hex as Hex;
}
