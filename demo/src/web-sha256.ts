import { bytesToHex } from '../../core/src/hex.ts';
import type { Hex } from './exchange.ts';

/**
 * sha256 with WebCrypto, 0x-hex. Native and off the page's thread: the demo hashes every piece
 * and the whole file with it (the exchange's own JS sha256 is ~30 MB/s on the page's thread).
 */
export async function webSha256(bytes: Uint8Array): Promise<Hex> {
  return bytesToHex(new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>)));
}
