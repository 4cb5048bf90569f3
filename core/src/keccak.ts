import { keccak_256 } from '@noble/hashes/sha3';
import { type IHasher, createKeccak } from 'hash-wasm';

/**
 * keccak-256. A WebAssembly implementation is about ten times faster than pure JS for the
 * ~860-byte encoded states we hash on every update. It compiles in the background: until it is
 * ready (and wherever WebAssembly is unavailable, e.g. under a strict CSP) the pure-JS one gives
 * the same bytes, so nothing waits on it at start-up.
 */
let wasm: IHasher | null = null;

/** Resolves when the WebAssembly hasher is in use (or known to be unavailable). */
export const keccakReady: Promise<void> = createKeccak(256).then(
  (hasher) => {
    wasm = hasher;
  },
  () => undefined,
);

export function keccak256(data: Uint8Array): Uint8Array {
  if (wasm !== null) {
    wasm.init();
    wasm.update(data);
    return wasm.digest('binary');
  }
  return keccak_256(data);
}

/** Which implementation is in use, for diagnostics and the benchmark. */
export function keccakImplementation(): 'wasm' | 'js' {
  return wasm !== null ? 'wasm' : 'js';
}
