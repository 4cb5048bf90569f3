import { fail } from '../errors.ts';
import { type Address, type Bytes32, MAX_UINT48, parseAddress, parseArray, parseBytes32, parseObject, parseSafeUint, parseUint, quantityToHex } from '../hex.ts';
import { type SignatureJSON, parseSignature, signatureToJSON } from '../signature.ts';
import { type SignedState, type SignedStateJSON, parseSignedState, signedStateToJSON } from '../signed-state.ts';
import { type Voucher, type VoucherJSON, voucherToJSON } from '../voucher.ts';
import type { Countersignature, LedgerChange, LedgerProposal } from './ledger.ts';

/**
 * Messages between wallets (carried by any transport: the hub's relay, a dapp's own channel).
 * A message is a list of payloads for objectives: signed states to merge, or a rejection.
 * Everything in it is re-checked on arrival; the transport is not trusted.
 */
export type Payload =
  | { type: 'state'; objectiveId: string; signedState: SignedState }
  | { type: 'reject'; objectiveId: string; channelId: Bytes32; reason: string };

/**
 * Ledger updates between a ledger's leader and follower (protocol/ledger.ts). They belong to the
 * ledger, not to an objective: the engine's ledger manager takes them, and tells the objectives
 * waiting on the ledger when its supported state changes. Carried beside the objective payloads.
 */
export type LedgerPayload = { type: 'ledgerProposal'; proposal: LedgerProposal } | { type: 'ledgerCountersignature'; countersignature: Countersignature };

export interface ProtocolMessage {
  from: Address;
  to: Address;
  payloads: Payload[];
  /** Ledger proposals and countersignatures, if any. */
  ledger?: LedgerPayload[];
  /**
   * Vouchers of virtual payment channels, if any: from the payer, payments (cumulative, in the
   * order paid); from the payee, the largest it has stored, as its acknowledgement. They belong to
   * a channel, not an objective; the receiver checks the sender's role in that channel.
   */
  vouchers?: Voucher[];
}

export const MAX_MESSAGE_BYTES = 1 << 20;
export const MAX_PAYLOADS = 256;

type PayloadJSON =
  | { type: 'state'; objectiveId: string; signedState: SignedStateJSON }
  | { type: 'reject'; objectiveId: string; channelId: string; reason: string };

type LedgerChangeJSON =
  | { type: 'add'; guarantee: { target: string; left: string; right: string; leftAmount: string; rightAmount: string } }
  | { type: 'remove'; target: string; leftPayout: string; rightPayout: string };

type LedgerPayloadJSON =
  | { type: 'ledgerProposal'; proposal: { ledgerId: string; turnNum: number; change: LedgerChangeJSON; signature: SignatureJSON } }
  | { type: 'ledgerCountersignature'; countersignature: { ledgerId: string; turnNum: number; signature: SignatureJSON } };

function ledgerChangeToJSON(c: LedgerChange): LedgerChangeJSON {
  if (c.type === 'add') {
    const g = c.guarantee;
    return { type: 'add', guarantee: { target: g.target, left: g.left, right: g.right, leftAmount: quantityToHex(g.leftAmount), rightAmount: quantityToHex(g.rightAmount) } };
  }
  return { type: 'remove', target: c.target, leftPayout: quantityToHex(c.leftPayout), rightPayout: quantityToHex(c.rightPayout) };
}

export function ledgerPayloadToJSON(p: LedgerPayload): LedgerPayloadJSON {
  if (p.type === 'ledgerProposal') {
    const { ledgerId, turnNum, change, signature } = p.proposal;
    return { type: 'ledgerProposal', proposal: { ledgerId, turnNum, change: ledgerChangeToJSON(change), signature: signatureToJSON(signature) } };
  }
  const { ledgerId, turnNum, signature } = p.countersignature;
  return { type: 'ledgerCountersignature', countersignature: { ledgerId, turnNum, signature: signatureToJSON(signature) } };
}

export function serializeMessage(m: ProtocolMessage): string {
  const payloads: PayloadJSON[] = m.payloads.map((p) =>
    p.type === 'state' ? { type: 'state', objectiveId: p.objectiveId, signedState: signedStateToJSON(p.signedState) } : p,
  );
  const out: { v: 1; from: Address; to: Address; payloads: PayloadJSON[]; ledger?: LedgerPayloadJSON[]; vouchers?: VoucherJSON[] } = { v: 1, from: m.from, to: m.to, payloads };
  if (m.ledger && m.ledger.length > 0) out.ledger = m.ledger.map(ledgerPayloadToJSON);
  if (m.vouchers && m.vouchers.length > 0) out.vouchers = m.vouchers.map(voucherToJSON);
  return JSON.stringify(out);
}

/** Parses one voucher of a message strictly (unknown fields refused). Its signature is checked against the payer when it is applied. */
export function parseMessageVoucher(value: unknown, field = 'voucher'): Voucher {
  const o = parseStrictObject(value, field, ['channelId', 'amount', 'signature']);
  return {
    channelId: parseBytes32(o.channelId, `${field}.channelId`),
    amount: parseUint(o.amount, `${field}.amount`),
    signature: parseSignature(o.signature, `${field}.signature`),
  };
}

/** Strict objects: a field we do not know is an error, not ignored. */
function parseStrictObject(value: unknown, field: string, keys: readonly string[]): Record<string, unknown> {
  const o = parseObject(value, field);
  for (const k of Object.keys(o)) if (!keys.includes(k)) fail('invalid-type', `${field}.${k}`, 'unknown field');
  return o;
}

/** A ledger proposal is never for the prefund or postfund: the first update of a running ledger is turn 2. */
const FIRST_LEDGER_UPDATE_TURN = 2;

function parseLedgerTurn(v: unknown, field: string): number {
  const turnNum = parseSafeUint(v, field, MAX_UINT48);
  if (turnNum < FIRST_LEDGER_UPDATE_TURN) fail('out-of-range', field, `a ledger update is turn ${FIRST_LEDGER_UPDATE_TURN} or later`);
  return turnNum;
}

function parseLedgerChange(value: unknown, field: string): LedgerChange {
  const o = parseObject(value, field);
  if (o.type === 'add') {
    const c = parseStrictObject(value, field, ['type', 'guarantee']);
    const g = parseStrictObject(c.guarantee, `${field}.guarantee`, ['target', 'left', 'right', 'leftAmount', 'rightAmount']);
    return {
      type: 'add',
      guarantee: {
        target: parseBytes32(g.target, `${field}.guarantee.target`),
        left: parseBytes32(g.left, `${field}.guarantee.left`),
        right: parseBytes32(g.right, `${field}.guarantee.right`),
        leftAmount: parseUint(g.leftAmount, `${field}.guarantee.leftAmount`),
        rightAmount: parseUint(g.rightAmount, `${field}.guarantee.rightAmount`),
      },
    };
  }
  if (o.type === 'remove') {
    const c = parseStrictObject(value, field, ['type', 'target', 'leftPayout', 'rightPayout']);
    return {
      type: 'remove',
      target: parseBytes32(c.target, `${field}.target`),
      leftPayout: parseUint(c.leftPayout, `${field}.leftPayout`),
      rightPayout: parseUint(c.rightPayout, `${field}.rightPayout`),
    };
  }
  fail('invalid-type', `${field}.type`, 'a ledger change is "add" or "remove"');
}

/** Parses one ledger payload. Only its shape is checked here; the leader's signature is checked by the follower as it applies the change. */
export function parseLedgerPayload(value: unknown, field = 'ledgerPayload'): LedgerPayload {
  const o = parseObject(value, field);
  if (o.type === 'ledgerProposal') {
    parseStrictObject(value, field, ['type', 'proposal']);
    const p = parseStrictObject(o.proposal, `${field}.proposal`, ['ledgerId', 'turnNum', 'change', 'signature']);
    return {
      type: 'ledgerProposal',
      proposal: {
        ledgerId: parseBytes32(p.ledgerId, `${field}.proposal.ledgerId`),
        turnNum: parseLedgerTurn(p.turnNum, `${field}.proposal.turnNum`),
        change: parseLedgerChange(p.change, `${field}.proposal.change`),
        signature: parseSignature(p.signature, `${field}.proposal.signature`),
      },
    };
  }
  if (o.type === 'ledgerCountersignature') {
    parseStrictObject(value, field, ['type', 'countersignature']);
    const c = parseStrictObject(o.countersignature, `${field}.countersignature`, ['ledgerId', 'turnNum', 'signature']);
    return {
      type: 'ledgerCountersignature',
      countersignature: {
        ledgerId: parseBytes32(c.ledgerId, `${field}.countersignature.ledgerId`),
        turnNum: parseLedgerTurn(c.turnNum, `${field}.countersignature.turnNum`),
        signature: parseSignature(c.signature, `${field}.countersignature.signature`),
      },
    };
  }
  fail('invalid-type', `${field}.type`, 'unknown ledger payload type');
}

const OBJECTIVE_ID = /^(DirectFunding|DirectDefunding|Update|VirtualFund|VirtualDefund)-0x[0-9a-f]{64}(-[0-9]{1,15})?$/;

function parseObjectiveId(v: unknown, field: string): string {
  if (typeof v !== 'string' || !OBJECTIVE_ID.test(v)) fail('invalid-type', field, 'not an objective id');
  return v;
}

/**
 * Parses and checks a message received from `from` (as the transport authenticated it) for
 * `me`. Signatures inside signed states are verified here; the protocol rules are checked when
 * each payload is applied to its channel.
 */
export function parseMessage(text: string, expected: { from: Address; to: Address }): ProtocolMessage {
  if (typeof text !== 'string') fail('invalid-type', 'message', 'expected JSON text');
  if (text.length > MAX_MESSAGE_BYTES) fail('out-of-range', 'message', `larger than ${MAX_MESSAGE_BYTES} characters`);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    fail('invalid-type', 'message', 'not valid JSON');
  }
  const o = parseObject(raw, 'message');
  if (o.v !== 1) fail('invalid-type', 'message.v', 'unsupported message version');
  const from = parseAddress(o.from, 'message.from');
  const to = parseAddress(o.to, 'message.to');
  if (from !== expected.from) fail('invalid-signature', 'message.from', `claims to be from ${from} but came from ${expected.from}`);
  if (to !== expected.to) fail('not-a-participant', 'message.to', `is for ${to}, not this wallet`);
  const list = parseArray(o.payloads, 'message.payloads');
  if (list.length > MAX_PAYLOADS) fail('out-of-range', 'message.payloads', `more than ${MAX_PAYLOADS} payloads`);
  const payloads = list.map((p, i): Payload => {
    const f = `message.payloads[${i}]`;
    const po = parseObject(p, f);
    const objectiveId = parseObjectiveId(po.objectiveId, `${f}.objectiveId`);
    if (po.type === 'state') return { type: 'state', objectiveId, signedState: parseSignedState(po.signedState, `${f}.signedState`) };
    if (po.type === 'reject') {
      const reason = typeof po.reason === 'string' ? po.reason.slice(0, 200) : 'rejected';
      return { type: 'reject', objectiveId, channelId: parseBytes32(po.channelId, `${f}.channelId`), reason };
    }
    fail('invalid-type', `${f}.type`, 'unknown payload type');
  });
  const message: ProtocolMessage = { from, to, payloads };
  if (o.ledger !== undefined) {
    const ledgerList = parseArray(o.ledger, 'message.ledger');
    if (ledgerList.length > MAX_PAYLOADS) fail('out-of-range', 'message.ledger', `more than ${MAX_PAYLOADS} ledger payloads`);
    message.ledger = ledgerList.map((p, i) => parseLedgerPayload(p, `message.ledger[${i}]`));
  }
  if (o.vouchers !== undefined) {
    const voucherList = parseArray(o.vouchers, 'message.vouchers');
    if (voucherList.length > MAX_PAYLOADS) fail('out-of-range', 'message.vouchers', `more than ${MAX_PAYLOADS} vouchers`);
    message.vouchers = voucherList.map((v, i) => parseMessageVoucher(v, `message.vouchers[${i}]`));
  }
  return message;
}

export const objectiveIds = {
  directFunding: (channelId: Bytes32) => `DirectFunding-${channelId}`,
  directDefunding: (channelId: Bytes32) => `DirectDefunding-${channelId}`,
  update: (channelId: Bytes32, turnNum: number) => `Update-${channelId}-${turnNum}`,
  virtualFunding: (channelId: Bytes32) => `VirtualFund-${channelId}`,
  virtualDefunding: (channelId: Bytes32) => `VirtualDefund-${channelId}`,
  /** A dispute on the adjudicator (objectives/challenge.ts): no messages travel under it. */
  challenge: (channelId: Bytes32) => `Challenge-${channelId}`,
};
