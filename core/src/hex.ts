import { CoreError, fail } from './errors.ts';
import { keccak256 } from './keccak.ts';

/** A 0x-prefixed hex string. Canonical forms in this core are lower case. */
export type Hex = `0x${string}`;
/** A 20-byte account address, lower-case hex. */
export type Address = Hex;
/** A 32-byte value (channel id, destination, hash), lower-case hex. */
export type Bytes32 = Hex;

export const ZERO_ADDRESS: Address = '0x0000000000000000000000000000000000000000';
export const MAX_UINT256 = (1n << 256n) - 1n;
export const MAX_UINT48 = 2 ** 48 - 1;

const NIBBLE = new Int8Array(128).fill(-1);
for (let i = 0; i < 10; i++) NIBBLE[48 + i] = i;
for (let i = 0; i < 6; i++) {
  NIBBLE[97 + i] = 10 + i;
  NIBBLE[65 + i] = 10 + i;
}
const BYTE_HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

export function isHexString(value: unknown): value is Hex {
  if (typeof value !== 'string' || value.length < 2 || value.charCodeAt(0) !== 48 || (value.charCodeAt(1) | 32) !== 120) return false;
  for (let i = 2; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c > 127 || NIBBLE[c] === -1) return false;
  }
  return true;
}

/**
 * Writes the bytes of `hex` (0x-prefixed, even length) into `out` at `pos`.
 * Returns the number of bytes written. Throws a CoreError naming `field` on bad hex.
 */
export function writeHexInto(out: Uint8Array, pos: number, hex: string, field: () => string): number {
  if (typeof hex !== 'string' || hex.charCodeAt(0) !== 48 || (hex.charCodeAt(1) | 32) !== 120) {
    fail('invalid-hex', field(), 'expected a 0x-prefixed hex string');
  }
  const len = hex.length - 2;
  if (len & 1) fail('invalid-hex', field(), 'hex string has an odd number of digits');
  const n = len >> 1;
  for (let i = 0, j = 2; i < n; i++, j += 2) {
    const hi = NIBBLE[hex.charCodeAt(j)] ?? -1;
    const lo = NIBBLE[hex.charCodeAt(j + 1)] ?? -1;
    if (hi < 0 || lo < 0) fail('invalid-hex', field(), `non-hex character at position ${j}`);
    out[pos + i] = (hi << 4) | lo;
  }
  return n;
}

export function hexToBytes(hex: string, field = 'value'): Uint8Array {
  if (typeof hex !== 'string') fail('invalid-type', field, 'expected a hex string');
  const out = new Uint8Array(Math.max(0, (hex.length - 2) >> 1));
  writeHexInto(out, 0, hex, () => field);
  return out;
}

export function bytesToHex(bytes: Uint8Array, start = 0, end = bytes.length): Hex {
  let s = '0x';
  for (let i = start; i < end; i++) s += BYTE_HEX[bytes[i]!];
  return s as Hex;
}

/** Number of bytes a hex string encodes, after checking that it is well formed. */
export function hexByteLength(hex: string, field: () => string): number {
  if (!isHexString(hex)) fail('invalid-hex', field(), 'expected a 0x-prefixed hex string');
  if (hex.length & 1) fail('invalid-hex', field(), 'hex string has an odd number of digits');
  return (hex.length - 2) >> 1;
}

// ---- Parsers for untrusted input (JSON, RPC params, peer messages) -------------------------

/** Parses arbitrary-length bytes as canonical lower-case hex. */
export function parseHexBytes(value: unknown, field: string): Hex {
  if (typeof value !== 'string') fail('invalid-type', field, 'expected a hex string');
  hexByteLength(value, () => field);
  return value.toLowerCase() as Hex;
}

function parseFixedHex(value: unknown, field: string, bytes: number, what: string): Hex {
  if (typeof value !== 'string') fail('invalid-type', field, `expected ${what} as a hex string`);
  const n = hexByteLength(value, () => field);
  if (n !== bytes) fail('invalid-length', field, `expected ${bytes} bytes, got ${n}`);
  return value.toLowerCase() as Hex;
}

export function parseBytes32(value: unknown, field: string): Bytes32 {
  return parseFixedHex(value, field, 32, 'a 32-byte value');
}

/** Parses an address; mixed-case input must carry a valid EIP-55 checksum. */
export function parseAddress(value: unknown, field: string): Address {
  const lower = parseFixedHex(value, field, 20, 'an address');
  const body = (value as string).slice(2);
  if (body !== body.toLowerCase() && body !== body.toUpperCase() && toChecksumAddress(lower) !== value) {
    fail('invalid-checksum', field, 'mixed-case address with a wrong EIP-55 checksum');
  }
  return lower;
}

/** EIP-55 checksummed form of an address, for display. */
export function toChecksumAddress(address: Address): string {
  const lower = address.toLowerCase().slice(2);
  const hash = keccak256(new TextEncoder().encode(lower));
  let out = '0x';
  for (let i = 0; i < 40; i++) {
    const nibble = (hash[i >> 1]! >> (i & 1 ? 0 : 4)) & 0xf;
    out += nibble >= 8 ? lower[i]!.toUpperCase() : lower[i]!;
  }
  return out;
}

const QUANTITY = /^0x(0|[1-9a-f][0-9a-f]*)$/;

/** Canonical JSON form of an amount: an Ethereum JSON-RPC quantity (`0x0`, `0x1bc16d674ec80000`). */
export function quantityToHex(value: bigint): Hex {
  return `0x${value.toString(16)}`;
}

/**
 * Parses an unsigned integer of at most `bits` bits from its JSON form (a canonical hex quantity),
 * or from a bigint. Rejects negatives, overflow, leading zeros and upper case, so the JSON form
 * round-trips exactly.
 */
export function parseUint(value: unknown, field: string, bits = 256): bigint {
  let n: bigint;
  if (typeof value === 'bigint') {
    n = value;
  } else if (typeof value === 'string') {
    if (value.startsWith('-')) fail('out-of-range', field, 'amount must not be negative');
    if (!QUANTITY.test(value)) fail('invalid-hex', field, 'expected a canonical hex quantity such as 0x0 or 0x2a');
    n = BigInt(value);
  } else {
    fail('invalid-type', field, 'expected a hex quantity string');
  }
  if (n < 0n) fail('out-of-range', field, 'amount must not be negative');
  if (n >> BigInt(bits) !== 0n) fail('out-of-range', field, `amount does not fit in uint${bits}`);
  return n;
}

/** Parses a small unsigned integer carried as a JSON number (turn numbers, durations). */
export function parseSafeUint(value: unknown, field: string, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) fail('invalid-type', field, 'expected an integer');
  if (value < 0 || value > max) fail('out-of-range', field, `must be between 0 and ${max}`);
  return value;
}

export function parseBoolean(value: unknown, field: string): boolean {
  if (typeof value !== 'boolean') fail('invalid-type', field, 'expected a boolean');
  return value;
}

export function parseArray(value: unknown, field: string): unknown[] {
  if (!Array.isArray(value)) fail('invalid-type', field, 'expected an array');
  return value;
}

export function parseObject(value: unknown, field: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail('invalid-type', field, 'expected an object');
  return value as Record<string, unknown>;
}

export function isCoreError(e: unknown): e is CoreError {
  return e instanceof CoreError;
}
