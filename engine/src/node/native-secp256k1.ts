/**
 * libsecp256k1 (the `secp256k1` package's native addon, prebuilt for linux-x64) as the core's
 * signing and recovery backend, for Node only — the hub and headless clients. The browser wallet
 * never loads this file. Signing and recovery are several times faster there than in JavaScript,
 * and the hub signs and checks every state of every channel it serves.
 */
import { createRequire } from 'node:module';
import { useSecp256k1Backend } from '../../../core/src/signature.ts';

interface Lib {
  ecdsaSign(message: Uint8Array, secret: Uint8Array): { signature: Uint8Array; recid: number };
  ecdsaRecover(signature: Uint8Array, recid: number, message: Uint8Array, compressed: boolean): Uint8Array;
}

/**
 * Installs libsecp256k1 for this process or thread; returns false (and changes nothing) where the
 * native addon cannot be loaded, so the JavaScript implementation stays in use.
 */
export function installNativeSecp256k1(): boolean {
  let lib: Lib;
  try {
    // `secp256k1/bindings` is the addon only; the package's main entry would fall back to a slower
    // JavaScript curve instead of failing.
    lib = createRequire(import.meta.url)('secp256k1/bindings') as Lib;
  } catch {
    return false;
  }
  useSecp256k1Backend({
    sign: (digest, secret) => lib.ecdsaSign(digest, secret),
    recover: (signature64, recid, digest) => lib.ecdsaRecover(signature64, recid, digest, false),
  });
  return true;
}

/** Back to the JavaScript implementation (tests). */
export function uninstallNativeSecp256k1(): void {
  useSecp256k1Backend(undefined);
}
