import { afterAll, describe, expect, it } from 'vitest';
import { createRequire } from 'node:module';
import { bytesToHex } from '../../../core/src/hex.ts';
import { secp256k1 } from '../../../core/src/secp256k1.ts';
import { PrivateKey, type Signature, ethSignedMessageDigest, isSignatureBy, publicKeyToAddress, recoverSigner } from '../../../core/src/signature.ts';
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
    const N = secp256k1.CURVE.n;
    const highS = N - BigInt(sig.s);
    const high: Signature = { v: sig.v === 27 ? 28 : 27, r: sig.r, s: `0x${highS.toString(16).padStart(64, '0')}` };
    // What ecrecover gives, computed with the curve directly (nothing cached): the same signer.
    const point = new secp256k1.Signature(BigInt(sig.r), highS).addRecoveryBit(high.v - 27).recoverPublicKey(ethSignedMessageDigest(m!));
    expect(publicKeyToAddress(point.toRawBytes(false))).toBe(k.address);
    expect(recoverSigner(m!, high)).toBe(k.address);
    expect(() => recoverSigner(m!, { v: 27, r: `0x${'00'.repeat(32)}`, s: sig.s })).toThrow();
  });
});
