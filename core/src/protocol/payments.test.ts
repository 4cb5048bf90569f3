import { describe, expect, it } from 'vitest';
import { CoreError } from '../errors.ts';
import { PrivateKey } from '../signature.ts';
import { channelId } from '../state.ts';
import { virtualPrefund } from '../testing/virtual-fixture.ts';
import { signVoucher } from '../voucher.ts';
import { closeVoucherBook, newVoucherBook, pay, receiveVoucher, receiveVouchers } from './payments.ts';

const [payer, hub, payee, mallory] = [PrivateKey.random(), PrivateKey.random(), PrivateKey.random(), PrivateKey.random()];
const v = virtualPrefund(payer.address, hub.address, payee.address, 3n, 100n);
const id = channelId(v);

function refused(f: () => unknown): CoreError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(CoreError);
    return e as CoreError;
  }
  throw new Error('expected a CoreError');
}

describe('the voucher book', () => {
  it('the payer pays cumulatively; the payee takes each voucher and learns what it adds', () => {
    let out = newVoucherBook(v);
    let inn = newVoucherBook(v);
    for (const [amount, total] of [
      [10n, 10n],
      [1n, 11n],
      [89n, 100n],
    ] as const) {
      const paid = pay(out, amount, payer);
      expect(paid.voucher).toMatchObject({ channelId: id, amount: total });
      out = paid.book;
      const got = receiveVoucher(inn, paid.voucher);
      expect(got.increment).toBe(amount);
      inn = got.book;
    }
    expect(inn).toEqual(out);
    expect(structuredClone(inn)).toEqual(inn);
    expect(inn.largest?.amount).toBe(100n);
  });

  it('overdrawn: the payer cannot pay past the channel, and the payee refuses a voucher that does', () => {
    const out = pay(newVoucherBook(v), 60n, payer).book;
    expect(refused(() => pay(out, 41n, payer))).toMatchObject({ code: 'insufficient-funds', field: 'amount' });
    expect(refused(() => receiveVoucher(newVoucherBook(v), signVoucher(id, 101n, payer)))).toMatchObject({ code: 'insufficient-funds', field: 'voucher.amount' });
  });

  it('not signed by the payer', () => {
    for (const signer of [payee, hub, mallory]) {
      expect(refused(() => receiveVoucher(newVoucherBook(v), signVoucher(id, 5n, signer)))).toMatchObject({ code: 'invalid-voucher', field: 'voucher.signature' });
    }
    const good = signVoucher(id, 5n, payer);
    expect(refused(() => receiveVoucher(newVoucherBook(v), { ...good, amount: 6n }))).toMatchObject({ code: 'invalid-voucher', field: 'voucher.signature' });
    expect(refused(() => pay(newVoucherBook(v), 5n, mallory))).toMatchObject({ code: 'not-a-participant', field: 'payer' });
  });

  it('replayed or smaller', () => {
    const first = signVoucher(id, 20n, payer);
    const book = receiveVoucher(newVoucherBook(v), first).book;
    expect(refused(() => receiveVoucher(book, first))).toMatchObject({ code: 'invalid-voucher', field: 'voucher.amount' });
    expect(refused(() => receiveVoucher(book, signVoucher(id, 19n, payer)))).toMatchObject({ code: 'invalid-voucher', field: 'voucher.amount' });
    expect(refused(() => receiveVoucher(book, signVoucher(id, 19n, payer))).message).toMatch(/replayed or smaller/);
    expect(receiveVoucher(book, signVoucher(id, 21n, payer)).increment).toBe(1n);
  });

  it('for another channel', () => {
    const other = channelId({ ...v, channelNonce: 4n });
    expect(refused(() => receiveVoucher(newVoucherBook(v), signVoucher(other, 5n, payer)))).toMatchObject({ code: 'invalid-voucher', field: 'voucher.channelId' });
  });

  it('closed: once defunding starts, no more vouchers either way', () => {
    const out = closeVoucherBook(pay(newVoucherBook(v), 5n, payer).book);
    expect(refused(() => pay(out, 1n, payer))).toMatchObject({ code: 'unsupported-state', field: 'channelId' });
    const inn = closeVoucherBook(newVoucherBook(v));
    expect(refused(() => receiveVoucher(inn, signVoucher(id, 6n, payer)))).toMatchObject({ code: 'unsupported-state', field: 'channelId' });
  });

  it('a payment must be positive', () => {
    expect(refused(() => pay(newVoucherBook(v), 0n, payer))).toMatchObject({ code: 'out-of-range', field: 'amount' });
    expect(refused(() => pay(newVoucherBook(v), -3n, payer))).toMatchObject({ code: 'out-of-range', field: 'amount' });
  });
});

describe('vouchers arriving together', () => {
  const three = () => {
    let out = newVoucherBook(v);
    const sent = [];
    for (const amount of [5n, 7n, 11n]) {
      const paid = pay(out, amount, payer);
      out = paid.book;
      sent.push(paid.voucher);
    }
    return sent;
  };

  it('the largest is checked and covers the smaller ones; each payment is reported with what it adds', () => {
    const taken = receiveVouchers(newVoucherBook(v), three());
    expect(taken.accepted.map((a) => [a.voucher.amount, a.increment])).toEqual([
      [5n, 5n],
      [12n, 7n],
      [23n, 11n],
    ]);
    expect(taken.refused).toEqual([]);
    expect(taken.book.paid).toBe(23n);
  });

  it('a forged largest is refused and the others are taken on their own; replays are refused', () => {
    const [a, b] = three();
    const forged = signVoucher(id, 90n, mallory);
    const taken = receiveVouchers(newVoucherBook(v), [a!, b!, forged]);
    expect(taken.accepted.map((x) => x.voucher.amount)).toEqual([5n, 12n]);
    expect(taken.refused).toHaveLength(1);
    expect((taken.refused[0]!.error as CoreError).field).toBe('voucher.signature');
    const again = receiveVouchers(taken.book, [a!, b!]);
    expect(again.accepted).toEqual([]);
    expect(again.refused.map((r) => (r.error as CoreError).field)).toEqual(['voucher.amount', 'voucher.amount']);
    expect(again.book).toEqual(taken.book);
  });
});
