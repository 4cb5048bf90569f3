import { writeFixedHex, writeSmallUint, writeUint256 } from './abi.ts';
import { fail } from './errors.ts';
import { type Address, type Bytes32, type Hex, bytesToHex, hexToBytes, parseBytes32, parseObject, parseUint, quantityToHex } from './hex.ts';
import { keccak256 } from './keccak.ts';
import { type PrivateKey, type Signature, type SignatureJSON, isSignatureBy, parseSignature, recoverSigner, signatureToJSON } from './signature.ts';

/**
 * A voucher: the payer's signed promise that the payee may take `amount` (cumulative, in wei)
 * from a virtual payment channel. Each payment is a new voucher with a larger amount.
 */
export interface Voucher {
  channelId: Bytes32;
  amount: bigint;
  signature: Signature;
}

/** keccak256(abi.encode(bytes32 channelId, uint256 amount)), as VirtualPaymentApp hashes it. */
export function voucherHash(channelId: Bytes32, amount: bigint): Uint8Array {
  const buf = new Uint8Array(64);
  writeFixedHex(buf, 0, channelId, 32, () => 'channelId');
  writeUint256(buf, 32, amount, () => 'amount');
  return keccak256(buf);
}

export function signVoucher(channelId: Bytes32, amount: bigint, payer: PrivateKey): Voucher {
  return { channelId, amount, signature: payer.signHash(voucherHash(channelId, amount)) };
}

/** The address that signed the voucher. */
export function voucherSigner(v: Voucher): Address {
  return recoverSigner(voucherHash(v.channelId, v.amount), v.signature, 'voucher.signature');
}

/** Throws unless `payer` signed this voucher. */
export function verifyVoucher(v: Voucher, payer: Address): void {
  if (isSignatureBy(voucherHash(v.channelId, v.amount), v.signature, payer, 'voucher.signature')) return;
  fail('invalid-voucher', 'voucher.signature', `signed by ${voucherSigner(v)}, not the payer ${payer}`);
}

/**
 * Checks a voucher received for a channel against what we already hold: it must be for this
 * channel, signed by the payer, strictly larger than the largest voucher so far (a replayed or
 * smaller one is refused), and within what the payer deposited into the channel.
 * Returns the increment it pays.
 */
export function checkNextVoucher(
  v: Voucher,
  expected: { channelId: Bytes32; payer: Address; largestSoFar: bigint; capacity: bigint },
): bigint {
  if (v.channelId !== expected.channelId) fail('invalid-voucher', 'voucher.channelId', `voucher is for channel ${v.channelId}, not ${expected.channelId}`);
  if (v.amount > expected.capacity) fail('invalid-voucher', 'voucher.amount', `overdrawn: ${v.amount} exceeds the channel's ${expected.capacity}`);
  if (v.amount <= expected.largestSoFar) fail('invalid-voucher', 'voucher.amount', `not larger than the ${expected.largestSoFar} already received`);
  verifyVoucher(v, expected.payer);
  return v.amount - expected.largestSoFar;
}

/** VirtualPaymentApp's appData: abi.encode((uint256 amount, (uint8 v, bytes32 r, bytes32 s))). */
export function encodeVoucherAppData(v: Voucher): Hex {
  const buf = new Uint8Array(128);
  writeUint256(buf, 0, v.amount, () => 'voucher.amount');
  writeSmallUint(buf, 32, v.signature.v);
  writeFixedHex(buf, 64, v.signature.r, 32, () => 'voucher.signature.r');
  writeFixedHex(buf, 96, v.signature.s, 32, () => 'voucher.signature.s');
  return bytesToHex(buf);
}

export function decodeVoucherAppData(appData: Hex, channelId: Bytes32): Voucher {
  const b = hexToBytes(appData, 'appData');
  if (b.length !== 128) fail('invalid-length', 'appData', `expected a 128-byte voucher, got ${b.length} bytes`);
  for (let i = 32; i < 63; i++) if (b[i] !== 0) fail('invalid-voucher', 'appData', 'v is not a uint8');
  const v = b[63]!;
  if (v !== 27 && v !== 28) fail('invalid-signature', 'appData', 'voucher signature v must be 27 or 28');
  return { channelId, amount: BigInt(bytesToHex(b, 0, 32)), signature: { v, r: bytesToHex(b, 64, 96), s: bytesToHex(b, 96, 128) } };
}

export interface VoucherJSON {
  channelId: string;
  amount: string;
  signature: SignatureJSON;
}

export function voucherToJSON(v: Voucher): VoucherJSON {
  return { channelId: v.channelId, amount: quantityToHex(v.amount), signature: signatureToJSON(v.signature) };
}

export function parseVoucher(value: unknown, field = 'voucher'): Voucher {
  const o = parseObject(value, field);
  return {
    channelId: parseBytes32(o.channelId, `${field}.channelId`),
    amount: parseUint(o.amount, `${field}.amount`),
    signature: parseSignature(o.signature, `${field}.signature`),
  };
}
