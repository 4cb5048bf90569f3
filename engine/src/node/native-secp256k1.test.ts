import { afterAll, describe, expect, it } from 'vitest';
import { createRequire } from 'node:module';
import { bytesToHex } from '../../../core/src/hex.ts';
import { PrivateKey, type Signature, ethSignedMessageDigest, isSignatureBy, recoverSigner } from '../../../core/src/signature.ts';
import { installNativeSecp256k1, uninstallNativeSecp256k1 } from './native-secp256k1.ts';

afterAll(() => uninstallNativeSecp256k1());

function hashes(n: number): Uint8Array[] {
  return Array.from({ length: n }, (_, i) => {
    const h = new Uint8Array(32);
    h[0] = i;
    h[31] = 255 - i;
    crypto.getRandomValues(h.subarray(4, 28));
    return h;
  });
}

describe('libsecp256k1 as the signing backend', () => {
  it('signs exactly as our JavaScript does, and recovers and checks the same signers', () => {
    const keys = Array.from({ length: 5 }, () => PrivateKey.random());
    const msgs = hashes(20);
    uninstallNativeSecp256k1();
    const ours = keys.flatMap((k) => msgs.map((m) => k.signHash(m)));
    expect(installNativeSecp256k1()).toBe(true);
    const native = keys.flatMap((k) => msgs.map((m) => k.signHash(m)));
    expect(native).toEqual(ours);
    // Signatures made outside PrivateKey, so nothing has them cached: recovered and checked natively.
    const lib = createRequire(import.meta.url)('secp256k1/bindings') as { ecdsaSign(m: Uint8Array, k: Uint8Array): { signature: Uint8Array; recid: number } };
    const other = hashes(10);
    for (const k of keys) {
      for (const m of other) {
        const raw = lib.ecdsaSign(ethSignedMessageDigest(m), k.exportBytes());
        const copy: Signature = { v: (27 + raw.recid) as 27 | 28, r: bytesToHex(raw.signature, 0, 32), s: bytesToHex(raw.signature, 32, 64) };
        expect(recoverSigner(m, copy)).toBe(k.address);
        expect(isSignatureBy(m, copy, k.address)).toBe(true);
        expect(isSignatureBy(m, copy, keys[(keys.indexOf(k) + 1) % keys.length]!.address)).toBe(false);
      }
    }
  });

  it('leaves what the addon refuses to our own code: a high-s signature still recovers as ecrecover would; garbage is refused', () => {
    expect(installNativeSecp256k1()).toBe(true);
    const k = PrivateKey.random();
    const [m] = hashes(1);
    const sig = k.signHash(m!);
    const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
    const high: Signature = { v: sig.v === 27 ? 28 : 27, r: sig.r, s: `0x${(N - BigInt(sig.s)).toString(16).padStart(64, '0')}` };
    uninstallNativeSecp256k1();
    const expected = recoverSigner(m!, { ...high });
    installNativeSecp256k1();
    expect(recoverSigner(m!, { ...high, r: high.r })).toBe(expected);
    expect(() => recoverSigner(m!, { v: 27, r: `0x${'00'.repeat(32)}`, s: sig.s })).toThrow();
  });
});
