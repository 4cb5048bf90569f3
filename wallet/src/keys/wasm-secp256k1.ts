/**
 * libsecp256k1 compiled to WebAssembly (the binary the `tiny-secp256k1` package ships) as the
 * core's signing and recovery backend in the browser. Signing is ~2.5× and recovery ~7× faster
 * than our JavaScript curve in V8, and the wallet signs every state and voucher it sends and
 * checks every one it receives.
 *
 * We drive the binary ourselves rather than import the package's JavaScript: its loader
 * instantiates the binary with a top-level await on import, which would put the fetch and
 * compile on the wallet's cold start. Here the wallet boots on the JavaScript curve, and the
 * backend is swapped in when the binary is ready (`useSecp256k1Backend`); the results are the
 * same either way (RFC 6979 nonces, low s), so nothing depends on when that happens.
 *
 * The binary's interface: fixed input/output areas in its memory (exported as globals holding
 * their offsets), and functions that read and write them. Secrets are wiped from those areas
 * after every call.
 */
import type { Secp256k1Backend } from '../../../core/src/signature.ts';

interface Exports {
  memory: WebAssembly.Memory;
  PRIVATE_INPUT: WebAssembly.Global;
  PUBLIC_KEY_INPUT: WebAssembly.Global;
  HASH_INPUT: WebAssembly.Global;
  SIGNATURE_INPUT: WebAssembly.Global;
  initializeContext(): void;
  signRecoverable(withExtraData: number): number;
  recover(outputLength: number, recid: number): number;
}

const ERRORS = ['private key', 'point', 'tweak', 'hash', 'signature', 'extra data', 'parity', 'recovery id'];

/**
 * Where the binary is: a file of the `tiny-secp256k1` package (its exports map hides it from
 * module resolution, so it is addressed by path; Vite serves it in development and emits it as
 * an asset in the build).
 */
export const WASM_SECP256K1_URL = new URL('../../../node_modules/tiny-secp256k1/lib/secp256k1.wasm', import.meta.url);

/** What the binary imports: randomness for its context blinding, and its error reporting. */
export function wasmSecp256k1Imports(): WebAssembly.Imports {
  return {
    './rand.js': {
      generateInt32: () => crypto.getRandomValues(new Int32Array(1))[0]!,
    },
    './validate_error.js': {
      throwError: (code: number) => {
        throw new TypeError(`libsecp256k1 refused the ${ERRORS[code] ?? `input (${code})`}`);
      },
    },
  };
}

/** The backend over an instantiated binary. */
export function wasmSecp256k1Backend(instance: WebAssembly.Instance): Secp256k1Backend {
  const wasm = instance.exports as unknown as Exports;
  wasm.initializeContext();
  const memory = new Uint8Array(wasm.memory.buffer);
  const area = (g: WebAssembly.Global, size: number) => memory.subarray(g.value as number, (g.value as number) + size);
  const secret = area(wasm.PRIVATE_INPUT, 32);
  const publicKey = area(wasm.PUBLIC_KEY_INPUT, 65);
  const hash = area(wasm.HASH_INPUT, 32);
  const signature = area(wasm.SIGNATURE_INPUT, 64);
  return {
    sign(digest, key) {
      try {
        hash.set(digest);
        secret.set(key);
        const recid = wasm.signRecoverable(0);
        return { signature: signature.slice(), recid };
      } finally {
        secret.fill(0);
        hash.fill(0);
        signature.fill(0);
      }
    },
    recover(signature64, recid, digest) {
      try {
        hash.set(digest);
        signature.set(signature64);
        if (wasm.recover(65, recid) !== 1) throw new Error('signature does not recover to a public key');
        return publicKey.slice();
      } finally {
        hash.fill(0);
        signature.fill(0);
        publicKey.fill(0);
      }
    },
  };
}

/** Compiles and instantiates the binary from its bytes (tests, Node). */
export async function instantiateWasmSecp256k1(bytes: BufferSource): Promise<Secp256k1Backend> {
  const { instance } = await WebAssembly.instantiate(bytes, wasmSecp256k1Imports());
  return wasmSecp256k1Backend(instance);
}

/** Fetches, compiles (streaming, off the main thread where the browser can) and instantiates it. */
export async function loadWasmSecp256k1(url: URL | string = WASM_SECP256K1_URL): Promise<Secp256k1Backend> {
  const { instance } = await WebAssembly.instantiateStreaming(fetch(url), wasmSecp256k1Imports());
  return wasmSecp256k1Backend(instance);
}
