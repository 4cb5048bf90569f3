import { derivePublicKey, isSecp256k1Warm, secp256k1, warmUpSecp256k1 } from './secp256k1.ts';
import { fail } from './errors.ts';
import { type Address, type Bytes32, type Hex, bytesToHex, hexToBytes, parseBytes32, parseObject, writeHexInto } from './hex.ts';
import { keccak256 } from './keccak.ts';

/** An ECDSA signature as the contracts take it: `(uint8 v, bytes32 r, bytes32 s)`, v ∈ {27, 28}. */
export interface Signature {
  v: 27 | 28;
  r: Bytes32;
  s: Bytes32;
}

const N = secp256k1.CURVE.n;
const HALF_N = N >> 1n;

/** `"\x19Ethereum Signed Message:\n32"`: the EIP-191 prefix for a 32-byte message. */
const PREFIX = new TextEncoder().encode('\x19Ethereum Signed Message:\n32');

/** keccak256("\x19Ethereum Signed Message:\n32" ‖ hash): what the adjudicator's ecrecover checks. */
export function ethSignedMessageDigest(hash32: Uint8Array): Uint8Array {
  const buf = new Uint8Array(60);
  buf.set(PREFIX, 0);
  buf.set(hash32, 28);
  return keccak256(buf);
}

/**
 * A signing key held as bytes. It has no JSON form and no toString, so it cannot leak through
 * a serialised message or a log line by accident.
 */
export class PrivateKey {
  readonly #bytes: Uint8Array;
  readonly address: Address;
  private constructor(bytes: Uint8Array) {
    if (bytes.length !== 32 || !secp256k1.utils.isValidPrivateKey(bytes)) fail('invalid-length', 'privateKey', 'not a valid secp256k1 secret key');
    this.#bytes = bytes;
    this.address = publicKeyToAddress(derivePublicKey(bytes));
  }
  static fromBytes(bytes: Uint8Array): PrivateKey {
    return new PrivateKey(Uint8Array.from(bytes));
  }
  static fromHex(hex: string): PrivateKey {
    return new PrivateKey(hexToBytes(hex, 'privateKey'));
  }
  static random(): PrivateKey {
    return new PrivateKey(secp256k1.utils.randomPrivateKey());
  }
  /** The raw key, for the one place that must persist it (encrypted). */
  exportBytes(): Uint8Array {
    return Uint8Array.from(this.#bytes);
  }
  /** Signs a 32-byte hash with the EIP-191 prefix, as `signMessage(bytes32)` would. */
  signHash(hash32: Uint8Array): Signature {
    const digest = ethSignedMessageDigest(hash32);
    let signature: Signature;
    if (backend) {
      const { signature: rs, recid } = backend.sign(digest, this.#bytes);
      signature = { v: (27 + recid) as 27 | 28, r: bytesToHex(rs, 0, 32), s: bytesToHex(rs, 32, 64) };
    } else {
      if (!isSecp256k1Warm()) warmUpSecp256k1();
      const sig = secp256k1.sign(digest, this.#bytes, { lowS: true });
      signature = { v: (27 + sig.recovery) as 27 | 28, r: word(sig.r), s: word(sig.s) };
    }
    rememberSigner(hash32, signature, this.address);
    return signature;
  }
  toJSON(): never {
    throw new Error('a private key has no JSON form');
  }
  toString(): string {
    return `PrivateKey(${this.address})`;
  }
}

function word(n: bigint): Bytes32 {
  return `0x${n.toString(16).padStart(64, '0')}`;
}

export function publicKeyToAddress(uncompressed: Uint8Array): Address {
  // drop the 0x04 prefix; the address is the last 20 bytes of keccak(x ‖ y)
  return bytesToHex(keccak256(uncompressed.subarray(1)), 12, 32);
}

const sigScratch = new Uint8Array(65);

/**
 * A faster implementation of signing and recovery for runtimes that have one (the hub and
 * headless clients in Node use libsecp256k1: engine/src/node/native-secp256k1.ts). The core
 * stays pure: it only calls what it is given. Results are the same as ours (RFC 6979 nonces,
 * low s); anything the backend refuses is tried again here, so the meaning never changes.
 */
export interface Secp256k1Backend {
  /** Signs a 32-byte digest: the 64-byte compact signature r ‖ s (low s) and the recovery id. */
  sign(digest: Uint8Array, secret: Uint8Array): { signature: Uint8Array; recid: number };
  /** The uncompressed (65-byte) public key that made `signature64` over `digest`; throws if none. */
  recover(signature64: Uint8Array, recid: number, digest: Uint8Array): Uint8Array;
}

let backend: Secp256k1Backend | undefined;

/** Installs (or, with undefined, removes) the faster backend for this process or thread. */
export function useSecp256k1Backend(b: Secp256k1Backend | undefined): void {
  backend = b;
}

function nativeRecover(digest: Uint8Array): Address | undefined {
  if (!backend) return undefined;
  try {
    return publicKeyToAddress(backend.recover(sigScratch.subarray(1), sigScratch[0]!, digest));
  } catch {
    return undefined; // refused there: decided by our own code below
  }
}

/**
 * Recent recoveries, keyed by hash and signature. A signed state is checked where it is parsed,
 * merged and stored; recovery is the expensive part (elliptic-curve arithmetic), so each
 * (hash, signature) pair is recovered once. Bounded; oldest entries go first.
 */
const recovered = new Map<string, Address>();
const RECOVERED_MAX = 4096;

/**
 * Recovers the address that signed `hash32` with the EIP-191 prefix, the way the adjudicator's
 * `recoverSigner` does. Throws a CoreError on a malformed or unrecoverable signature.
 */
export function recoverSigner(hash32: Uint8Array, sig: Signature, field = 'signature'): Address {
  const cacheKey = typeof sig === 'object' && sig !== null ? `${bytesToHex(hash32)}${sig.r}${sig.s}${sig.v}` : '';
  const hit = cacheKey ? recovered.get(cacheKey) : undefined;
  if (hit !== undefined) return hit;
  const address = recoverUncached(hash32, sig, field);
  rememberSigner(hash32, sig, address);
  return address;
}

/** Our own signatures need no recovery: we know who made them. */
function rememberSigner(hash32: Uint8Array, sig: Signature, address: Address): void {
  if (recovered.size >= RECOVERED_MAX) recovered.delete(recovered.keys().next().value!);
  recovered.set(`${bytesToHex(hash32)}${sig.r}${sig.s}${sig.v}`, address);
}

function recoverUncached(hash32: Uint8Array, sig: Signature, field: string): Address {
  if (typeof sig !== 'object' || sig === null) fail('invalid-type', field, 'expected {v, r, s}');
  if (sig.v !== 27 && sig.v !== 28) fail('invalid-signature', `${field}.v`, 'v must be 27 or 28');
  if (typeof sig.r !== 'string' || sig.r.length !== 66) fail('invalid-length', `${field}.r`, 'expected 32 bytes');
  if (typeof sig.s !== 'string' || sig.s.length !== 66) fail('invalid-length', `${field}.s`, 'expected 32 bytes');
  sigScratch[0] = sig.v - 27;
  writeHexInto(sigScratch, 1, sig.r, () => `${field}.r`);
  writeHexInto(sigScratch, 33, sig.s, () => `${field}.s`);
  const digest = ethSignedMessageDigest(hash32);
  const fast = nativeRecover(digest);
  if (fast !== undefined) return fast;
  if (!isSecp256k1Warm()) warmUpSecp256k1();
  let point;
  try {
    point = secp256k1.Signature.fromCompact(sigScratch.subarray(1)).addRecoveryBit(sigScratch[0]!).recoverPublicKey(digest);
  } catch {
    fail('invalid-signature', field, 'signature does not recover to a public key');
  }
  const address = publicKeyToAddress(point.toRawBytes(false));
  recoveredPoints.set(address, point);
  if (recoveredPoints.size > KNOWN_POINTS_MAX) recoveredPoints.delete(recoveredPoints.keys().next().value!);
  return address;
}

// ---- Verifying a known signer -------------------------------------------------------------------

type Point = ReturnType<typeof secp256k1.ProjectivePoint.fromAffine>;

/**
 * Public keys of signers we have recovered before, each with its own precomputed table: checking
 * a new signature from a known counterparty is then two table multiplications (u1·G + u2·P)
 * instead of a full recovery (a square root and a long ladder). Bounded; oldest go first.
 */
const knownPoints = new Map<Address, Point>();
const KNOWN_POINTS_MAX = 64;
const recoveredPoints = new Map<string, Point>();

function rememberPoint(address: Address, point: Point): void {
  if (knownPoints.has(address)) return;
  if (knownPoints.size >= KNOWN_POINTS_MAX) knownPoints.delete(knownPoints.keys().next().value!);
  const p = secp256k1.ProjectivePoint.fromAffine(point.toAffine());
  (p as unknown as { _setWindowSize(w: number): void })._setWindowSize(8);
  knownPoints.set(address, p);
}

/**
 * Whether `expected` signed `hash32` (EIP-191), with the same meaning as
 * `recoverSigner(hash32, sig) === expected` — including the recovery bit `v`, which the
 * adjudicator's ecrecover depends on — but fast for a signer we have seen before.
 */
export function isSignatureBy(hash32: Uint8Array, sig: Signature, expected: Address, field = 'signature'): boolean {
  const cacheKey = `${bytesToHex(hash32)}${sig.r}${sig.s}${sig.v}`;
  const hit = recovered.get(cacheKey);
  if (hit !== undefined) return hit === expected;
  // With a native backend a recovery costs less than our table multiplication.
  if (backend) return recoverSigner(hash32, sig, field) === expected;
  const P = knownPoints.get(expected);
  if (!P || (sig.v !== 27 && sig.v !== 28) || typeof sig.r !== 'string' || typeof sig.s !== 'string' || sig.r.length !== 66 || sig.s.length !== 66) {
    const signer = recoverSigner(hash32, sig, field);
    const point = recoveredPoints.get(signer);
    if (signer === expected && point) rememberPoint(signer, point);
    return signer === expected;
  }
  const r = BigInt(sig.r);
  const s = BigInt(sig.s);
  if (r <= 0n || r >= N || s <= 0n || s >= N) return recoverSigner(hash32, sig, field) === expected;
  if (!isSecp256k1Warm()) warmUpSecp256k1();
  const h = BigInt(bytesToHex(ethSignedMessageDigest(hash32))) % N;
  const is = modInverse(s, N);
  const u1 = (h * is) % N;
  const u2 = (r * is) % N;
  const R = secp256k1.ProjectivePoint.BASE.multiply(u1 === 0n ? N : u1).add(P.multiply(u2)).toAffine();
  // The same point ecrecover reconstructs from (r, v): x ≡ r and y's parity given by v.
  const ok = R.x % N === r && R.x < N && Number(R.y & 1n) === sig.v - 27;
  if (ok) rememberSigner(hash32, sig, expected);
  return ok;
}

function modInverse(a: bigint, m: bigint): bigint {
  let [oldR, r] = [a % m, m];
  let [oldS, s] = [1n, 0n];
  while (r !== 0n) {
    const q = oldR / r;
    [oldR, r] = [r, oldR - q * r];
    [oldS, s] = [s, oldS - q * s];
  }
  return ((oldS % m) + m) % m;
}

/** True when `s` is in the lower half of the curve order (the form we produce). */
export function isLowS(sig: Signature): boolean {
  const s = BigInt(sig.s);
  return s > 0n && s <= HALF_N;
}

// ---- JSON form: the same {v, r, s} object --------------------------------------------------

export interface SignatureJSON {
  v: number;
  r: string;
  s: string;
}

export function signatureToJSON(sig: Signature): SignatureJSON {
  return { v: sig.v, r: sig.r, s: sig.s };
}

export function parseSignature(value: unknown, field = 'signature'): Signature {
  const o = parseObject(value, field);
  if (o.v !== 27 && o.v !== 28) fail('invalid-signature', `${field}.v`, 'v must be 27 or 28');
  return { v: o.v, r: parseBytes32(o.r, `${field}.r`), s: parseBytes32(o.s, `${field}.s`) };
}

/** 65-byte `r ‖ s ‖ v` form, as eth_sign and ethers print it. */
export function signatureToHex(sig: Signature): Hex {
  return `${sig.r}${sig.s.slice(2)}${sig.v.toString(16)}` as Hex;
}
