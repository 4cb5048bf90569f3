import { keccak_256 } from '@noble/hashes/sha3';
import { createKeccak, type IHasher } from 'hash-wasm';

/**
 * keccak-256. A WebAssembly implementation is about ten times faster than pure JS for
 * the ~860-byte encoded states we hash on every update; where WebAssembly is unavailable
 * (a strict CSP, say) the pure-JS one gives the same bytes.
 */
let wasm: IHasher | null = null;
try {
  wasm = await createKeccak(256);
} catch {
  wasm = null;
}

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
