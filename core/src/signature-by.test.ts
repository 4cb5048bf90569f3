import { Wallet, hashMessage } from 'ethers';
import { describe, expect, it } from 'vitest';
import { type Signature, isSignatureBy, recoverSigner } from './signature.ts';
import { Rng } from './testing/arbitrary.ts';

/** Signatures made elsewhere (ethers), so none is already known to our caches. */
function remoteSigner() {
  const w = Wallet.createRandom();
  return {
    address: w.address.toLowerCase() as `0x${string}`,
    sign: (hash: Uint8Array): Signature => {
      const s = w.signingKey.sign(hashMessage(hash));
      return { v: s.v as 27 | 28, r: s.r as `0x${string}`, s: s.s as `0x${string}` };
    },
  };
}

describe('isSignatureBy (fast check of a known signer)', () => {
  it('agrees with recovery: the signer, someone else, a flipped v, a hash nobody signed', () => {
    const alice = remoteSigner();
    const bob = remoteSigner();
    const r = new Rng(31);
    for (let i = 0; i < 40; i++) {
      const hash = r.bytes(32);
      const sig = alice.sign(hash);
      const flipped = { ...sig, v: (sig.v === 27 ? 28 : 27) as 27 | 28 };
      const unsigned = r.bytes(32);
      // Check the fast path before any recovery of this signature could be cached.
      expect(isSignatureBy(unsigned, sig, alice.address)).toBe(false);
      expect(isSignatureBy(hash, flipped, alice.address)).toBe(false);
      expect(isSignatureBy(hash, sig, bob.address)).toBe(false);
      expect(isSignatureBy(hash, sig, alice.address)).toBe(true);
      expect(recoverSigner(hash, sig)).toBe(alice.address);
      expect(recoverSigner(hash, flipped)).not.toBe(alice.address);
    }
  });

  it('treats a malformed signature as recovery does: an error', () => {
    const alice = remoteSigner();
    const hash = new Rng(32).bytes(32);
    expect(isSignatureBy(hash, alice.sign(hash), alice.address)).toBe(true);
    expect(() => isSignatureBy(hash, { v: 27, r: `0x${'ff'.repeat(32)}`, s: `0x${'01'.repeat(32)}` }, alice.address)).toThrow();
  });
});
