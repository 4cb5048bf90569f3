import { fail } from './errors.ts';
import { hexByteLength, writeHexInto } from './hex.ts';

/**
 * A minimal ABI encoder for the few fixed shapes Nitro hashes and signs. The generic ethers
 * AbiCoder walks a type tree and allocates per value; here each shape has a hand-written
 * layout that computes its size once and writes words straight into one buffer.
 */

/** Size in bytes of the ABI tail for a dynamic `bytes` value: length word + padded data. */
export function bytesTailSize(hex: string, field: () => string): number {
  const n = hexByteLength(hex, field);
  return 32 + ((n + 31) & ~31);
}

/** Writes a `bytes` tail (length word + data, zero padded) at `pos`; returns bytes written. */
export function writeBytesTail(out: Uint8Array, pos: number, hex: string, field: () => string): number {
  const n = writeHexInto(out, pos + 32, hex, field);
  writeSmallUint(out, pos, n);
  return 32 + ((n + 31) & ~31);
}

/** Writes a non-negative safe integer as a 32-byte big-endian word. */
export function writeSmallUint(out: Uint8Array, pos: number, n: number): void {
  let v = n;
  for (let i = pos + 31; v > 0; i--) {
    out[i] = v % 256;
    v = Math.floor(v / 256);
  }
}

/** Writes a uint256 as a 32-byte big-endian word. */
export function writeUint256(out: Uint8Array, pos: number, value: bigint, field: () => string): void {
  if (typeof value !== 'bigint') fail('invalid-type', field(), 'expected a bigint amount');
  if (value < 0n) fail('out-of-range', field(), 'amount must not be negative');
  if (value < 0x20000000000000n) {
    writeSmallUint(out, pos, Number(value));
    return;
  }
  const hex = value.toString(16);
  if (hex.length > 64) fail('out-of-range', field(), 'amount does not fit in uint256');
  // left-pad to an even number of digits and write right-aligned in the word
  const even = hex.length & 1 ? '0' + hex : hex;
  writeHexInto(out, pos + 32 - (even.length >> 1), '0x' + even, field);
}

/** Writes exactly `bytes` bytes of hex right-aligned in a word (addresses) or as a full word (bytes32). */
export function writeFixedHex(out: Uint8Array, pos: number, hex: string, bytes: 20 | 32, field: () => string): void {
  if (typeof hex !== 'string' || hex.length !== 2 + bytes * 2) {
    if (typeof hex !== 'string') fail('invalid-type', field(), 'expected a hex string');
    if (hexByteLength(hex, field) !== bytes) fail('invalid-length', field(), `expected ${bytes} bytes, got ${(hex.length - 2) >> 1}`);
  }
  writeHexInto(out, pos + 32 - bytes, hex, field);
}
