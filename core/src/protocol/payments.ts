import { fail } from '../errors.ts';
import type { Address, Bytes32 } from '../hex.ts';
import type { PrivateKey } from '../signature.ts';
import { type State, channelId } from '../state.ts';
import { type Voucher, signVoucher, verifyVoucher } from '../voucher.ts';
import { PAYEE, PAYER, capacityOf } from './virtual.ts';

/**
 * The voucher book of one virtual payment channel, as the payer or the payee keeps it. Vouchers
 * are cumulative: each names the total paid so far, so only the largest matters and a payee
 * that holds it can claim everything paid (in V's final state, or on chain as a redemption).
 * Plain data; these functions return new values.
 *
 * Rejections are CoreErrors, one (code, field) per kind:
 * - overdrawn (more than the payer put in): `insufficient-funds`, `voucher.amount` (`amount` when paying)
 * - not signed by the payer: `invalid-voucher`, `voucher.signature`
 * - replayed or smaller than the last: `invalid-voucher`, `voucher.amount`
 * - for another channel: `invalid-voucher`, `voucher.channelId`
 * - the channel is closed (defunding started): `unsupported-state`, `channelId`
 */
export interface VoucherBook {
  channelId: Bytes32;
  payer: Address;
  payee: Address;
  /** What the payer put into the channel: no voucher may exceed it. */
  capacity: bigint;
  /** The cumulative amount of the largest voucher (0 before any). */
  paid: bigint;
  largest?: Voucher;
  /** Set when the channel starts closing: no more vouchers either way. */
  closed: boolean;
}

/** A new, empty book for the virtual channel whose prefund or postfund state is `v`. */
export function newVoucherBook(v: State): VoucherBook {
  return { channelId: channelId(v), payer: v.participants[PAYER]!, payee: v.participants[PAYEE]!, capacity: capacityOf(v), paid: 0n, closed: false };
}

function requireOpen(book: VoucherBook): void {
  if (book.closed) fail('unsupported-state', 'channelId', `channel ${book.channelId} is closed: no more vouchers`);
}

/** The payer pays `amount` more: a voucher for the new cumulative total. */
export function pay(book: VoucherBook, amount: bigint, payer: PrivateKey): { book: VoucherBook; voucher: Voucher } {
  requireOpen(book);
  if (payer.address !== book.payer) fail('not-a-participant', 'payer', `${payer.address} is not the payer of ${book.channelId}`);
  if (typeof amount !== 'bigint' || amount <= 0n) fail('out-of-range', 'amount', 'a payment must be a positive amount');
  const total = book.paid + amount;
  if (total > book.capacity) fail('insufficient-funds', 'amount', `overdrawn: paying ${amount} more would make ${total}, over the channel's ${book.capacity}`);
  const voucher = signVoucher(book.channelId, total, payer);
  return { book: { ...book, paid: total, largest: voucher }, voucher };
}

/**
 * The payee takes a voucher: it must be for this channel, strictly larger than the last (a
 * replayed or smaller voucher is refused), within the channel, and signed by the payer.
 * Returns the new book and what this voucher adds.
 */
export function receiveVoucher(book: VoucherBook, voucher: Voucher): { book: VoucherBook; increment: bigint } {
  requireOpen(book);
  if (voucher.channelId !== book.channelId) fail('invalid-voucher', 'voucher.channelId', `voucher is for channel ${voucher.channelId}, not ${book.channelId}`);
  if (voucher.amount <= book.paid) fail('invalid-voucher', 'voucher.amount', `replayed or smaller: ${voucher.amount} is not more than the ${book.paid} already received`);
  if (voucher.amount > book.capacity) fail('insufficient-funds', 'voucher.amount', `overdrawn: ${voucher.amount} exceeds the channel's ${book.capacity}`);
  verifyVoucher(voucher, book.payer);
  return { book: { ...book, paid: voucher.amount, largest: voucher }, increment: voucher.amount - book.paid };
}

/** Closes the book (V's defunding starts): its largest voucher is what the final state pays. */
export function closeVoucherBook(book: VoucherBook): VoucherBook {
  return { ...book, closed: true };
}

/** Why a voucher of a batch is not taken although a larger one was: the same checks as receiveVoucher, no signature check needed. */
function coveredRefusal(book: VoucherBook, v: Voucher, paid: bigint): unknown {
  try {
    requireOpen(book);
    if (v.channelId !== book.channelId) fail('invalid-voucher', 'voucher.channelId', `voucher is for channel ${v.channelId}, not ${book.channelId}`);
    if (v.amount <= paid) fail('invalid-voucher', 'voucher.amount', `replayed or smaller: ${v.amount} is not more than the ${paid} already received`);
    fail('invalid-voucher', 'voucher.amount', `a repeat of voucher ${v.amount} in the same batch`);
  } catch (error) {
    return error;
  }
}

/**
 * The payee takes the vouchers that arrived together. Vouchers are cumulative, so the largest one
 * that checks out proves every smaller one: its signature is checked, and the smaller ones that
 * are for this channel and above what was already received are taken as covered by it, with no
 * signature check of their own — one check per batch instead of one per payment. If the largest
 * does not check out, each is taken or refused on its own, in order. Returns the new book, what
 * was taken (in ascending order, each with what it adds), and each refusal.
 */
export function receiveVouchers(book: VoucherBook, vouchers: Voucher[]): { book: VoucherBook; accepted: { voucher: Voucher; increment: bigint }[]; refused: { voucher: Voucher; error: unknown }[] } {
  const accepted: { voucher: Voucher; increment: bigint }[] = [];
  const refused: { voucher: Voucher; error: unknown }[] = [];
  let top: Voucher | undefined;
  for (const v of vouchers) if (v.channelId === book.channelId && (!top || v.amount > top.amount)) top = v;
  if (top && vouchers.length > 1) {
    try {
      const next = receiveVoucher(book, top);
      let paid = book.paid;
      for (const v of [...vouchers].sort((x, y) => (x.amount < y.amount ? -1 : x.amount > y.amount ? 1 : 0))) {
        if (v === top) continue;
        if (v.channelId === book.channelId && v.amount > paid && v.amount < top.amount) {
          accepted.push({ voucher: v, increment: v.amount - paid });
          paid = v.amount;
        } else {
          refused.push({ voucher: v, error: coveredRefusal(book, v, paid) });
        }
      }
      accepted.push({ voucher: top, increment: top.amount - paid });
      return { book: next.book, accepted, refused };
    } catch {
      // the largest does not check out: take each on its own below
    }
  }
  let current = book;
  for (const v of vouchers) {
    try {
      const next = receiveVoucher(current, v);
      current = next.book;
      accepted.push({ voucher: v, increment: next.increment });
    } catch (error) {
      refused.push({ voucher: v, error });
    }
  }
  return { book: current, accepted, refused };
}
