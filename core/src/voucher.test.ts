import { describe, expect, it } from 'vitest';
import { bytesToHex } from './hex.ts';
import { PrivateKey } from './signature.ts';
import { Rng } from './testing/arbitrary.ts';
import { ethersVoucherHash } from './testing/ethers-reference.ts';
import { checkNextVoucher, decodeVoucherAppData, encodeVoucherAppData, parseVoucher, signVoucher, verifyVoucher, voucherHash, voucherToJSON } from './voucher.ts';

const payer = PrivateKey.random();
const other = PrivateKey.random();
const channel = new Rng(1).bytes32();

describe('vouchers', () => {
  it('hash as VirtualPaymentApp does: keccak256(abi.encode(channelId, amount))', () => {
    expect(bytesToHex(voucherHash(channel, 123456789n))).toBe(ethersVoucherHash(channel, 123456789n));
  });

  it('verify when signed by the payer and not otherwise', () => {
    const v = signVoucher(channel, 10n, payer);
    expect(() => verifyVoucher(v, payer.address)).not.toThrow();
    expect(() => verifyVoucher(signVoucher(channel, 10n, other), payer.address)).toThrowError(expect.objectContaining({ field: 'voucher.signature' }));
    // a valid signature moved onto a larger amount no longer verifies
    expect(() => verifyVoucher({ ...v, amount: 11n }, payer.address)).toThrowError(expect.objectContaining({ code: 'invalid-voucher' }));
  });

  it('are cumulative: each must exceed the last, within the channel capacity, for this channel', () => {
    const expected = { channelId: channel, payer: payer.address, largestSoFar: 0n, capacity: 100n };
    let largest = 0n;
    for (const amount of [1n, 5n, 6n, 50n, 100n]) {
      const paid = checkNextVoucher(signVoucher(channel, amount, payer), { ...expected, largestSoFar: largest });
      expect(paid).toBe(amount - largest);
      largest = amount;
    }
    const at = (amount: bigint) => signVoucher(channel, amount, payer);
    expect(() => checkNextVoucher(at(101n), { ...expected, largestSoFar: 100n })).toThrow(/overdrawn/);
    expect(() => checkNextVoucher(at(100n), { ...expected, largestSoFar: 100n })).toThrow(/not larger/);
    expect(() => checkNextVoucher(at(40n), { ...expected, largestSoFar: 50n })).toThrow(/not larger/);
    expect(() => checkNextVoucher(signVoucher(new Rng(2).bytes32(), 60n, payer), { ...expected, largestSoFar: 50n })).toThrowError(
      expect.objectContaining({ field: 'voucher.channelId' }),
    );
    expect(() => checkNextVoucher(signVoucher(channel, 60n, other), { ...expected, largestSoFar: 50n })).toThrowError(
      expect.objectContaining({ field: 'voucher.signature' }),
    );
  });

  it('round-trip through JSON and through VirtualPaymentApp appData', () => {
    const v = signVoucher(channel, (1n << 200n) + 5n, payer);
    expect(parseVoucher(JSON.parse(JSON.stringify(voucherToJSON(v))))).toEqual(v);
    expect(decodeVoucherAppData(encodeVoucherAppData(v), channel)).toEqual(v);
    expect(() => decodeVoucherAppData('0x1234', channel)).toThrowError(expect.objectContaining({ field: 'appData', code: 'invalid-length' }));
  });
});
