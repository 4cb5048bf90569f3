import { weierstrass } from '@noble/curves/abstract/weierstrass';
import { secp256k1 as shared } from '@noble/curves/secp256k1';

/**
 * Our own instance of secp256k1: the same parameters and code as the copy ethers uses (one
 * @noble/curves in the bundle), but its own point class, so it can keep a larger precomputed
 * table for the generator G. Every signature and every recovery multiplies by G; a 10-bit window
 * makes that ~15% cheaper for ~3 MB and ~75 ms of one-off work, done on first use or earlier by
 * `warmUpSecp256k1()` when the host has idle time.
 */
export const secp256k1 = weierstrass(shared.CURVE);

let warm = false;

export function warmUpSecp256k1(): void {
  if (warm) return;
  secp256k1.utils.precompute(10);
  warm = true;
}

export function isSecp256k1Warm(): boolean {
  return warm;
}

/**
 * A copy of G without a precomputed table. Deriving a public key is a one-off per key (at
 * creation and when the wallet loads), so it should not pay for building the generator's
 * table first: that would put ~30 ms on the wallet's start. Still constant-time.
 */
const G_PLAIN = secp256k1.ProjectivePoint.fromAffine(secp256k1.ProjectivePoint.BASE.toAffine());

/** The uncompressed public key (65 bytes) of a secret key given as bytes. */
export function derivePublicKey(secret: Uint8Array): Uint8Array {
  if (warm) return secp256k1.getPublicKey(secret, false);
  return G_PLAIN.multiply(secp256k1.utils.normPrivateKeyToScalar(secret)).toRawBytes(false);
}
