import { describe, expect, it } from 'vitest';
import { CoreError } from '../errors.ts';
import { PrivateKey } from '../signature.ts';
import { runningLedger, signedBy, virtualPrefund } from '../testing/virtual-fixture.ts';
import { channelId } from '../state.ts';
import { signVoucher } from '../voucher.ts';
import type { LedgerProposal } from './ledger.ts';
import { type LedgerPayload, type ProtocolMessage, objectiveIds, parseLedgerPayload, parseMessage, serializeMessage } from './message.ts';

const [hub, alice, bob] = [PrivateKey.random(), PrivateKey.random(), PrivateKey.random()];
const from = hub.address;
const to = alice.address;
const ledgerId = channelId(runningLedger(hub, alice, 1n, [10n, 10n]).state);
const target = channelId(virtualPrefund(alice.address, hub.address, bob.address, 1n, 5n));
const sig = hub.signHash(new Uint8Array(32));

const add: LedgerProposal = {
  ledgerId,
  turnNum: 2,
  change: { type: 'add', guarantee: { target, left: `0x${'00'.repeat(12)}${alice.address.slice(2)}`, right: `0x${'00'.repeat(12)}${hub.address.slice(2)}`, leftAmount: 5n, rightAmount: 0n } },
  signature: sig,
};
const remove: LedgerProposal = { ledgerId, turnNum: 3, change: { type: 'remove', target, leftPayout: 3n, rightPayout: 2n }, signature: sig };
const ledger: LedgerPayload[] = [
  { type: 'ledgerProposal', proposal: add },
  { type: 'ledgerProposal', proposal: remove },
  { type: 'ledgerCountersignature', countersignature: { ledgerId, turnNum: 2, signature: sig } },
];

function refused(f: () => unknown): CoreError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(CoreError);
    return e as CoreError;
  }
  throw new Error('expected a CoreError');
}

/** The serialized message with its first ledger payload replaced by `mutate(copy)`. */
function withLedger(mutate: (p: Record<string, unknown>) => unknown): string {
  const json = JSON.parse(serializeMessage({ from, to, payloads: [], ledger }));
  json.ledger[0] = mutate(json.ledger[0]);
  return JSON.stringify(json);
}

describe('protocol messages', () => {
  it('round-trip V states under the virtual objective ids and ledger payloads beside them', () => {
    const v = virtualPrefund(alice.address, hub.address, bob.address, 1n, 5n);
    const m: ProtocolMessage = {
      from,
      to,
      payloads: [
        { type: 'state', objectiveId: objectiveIds.virtualFunding(channelId(v)), signedState: signedBy(v, hub) },
        { type: 'state', objectiveId: objectiveIds.virtualDefunding(channelId(v)), signedState: signedBy(v, hub) },
      ],
      ledger,
    };
    expect(parseMessage(serializeMessage(m), { from, to })).toEqual(m);
    // Without ledger payloads the wire form is unchanged.
    expect(serializeMessage({ from, to, payloads: [] })).not.toMatch(/ledger/);
    expect(parseMessage(serializeMessage({ from, to, payloads: [] }), { from, to })).toEqual({ from, to, payloads: [] });
  });

  it('refuses malformed ledger payloads, naming the field', () => {
    const cases: [(p: Record<string, unknown>) => unknown, string, string][] = [
      [() => 'nope', 'message.ledger[0]', 'invalid-type'],
      [(p) => ({ ...p, type: 'ledgerTeleport' }), 'message.ledger[0].type', 'invalid-type'],
      [(p) => ({ ...p, extra: 1 }), 'message.ledger[0].extra', 'invalid-type'],
      [(p) => ({ ...p, proposal: { ...(p.proposal as object), turnNum: 1 } }), 'message.ledger[0].proposal.turnNum', 'out-of-range'],
      [(p) => ({ ...p, proposal: { ...(p.proposal as object), turnNum: 2.5 } }), 'message.ledger[0].proposal.turnNum', 'invalid-type'],
      [(p) => ({ ...p, proposal: { ...(p.proposal as object), turnNum: 2 ** 48 } }), 'message.ledger[0].proposal.turnNum', 'out-of-range'],
      [(p) => ({ ...p, proposal: { ...(p.proposal as object), ledgerId: '0x1234' } }), 'message.ledger[0].proposal.ledgerId', 'invalid-length'],
      [(p) => ({ ...p, proposal: { ...(p.proposal as object), signature: { v: 29, r: sig.r, s: sig.s } } }), 'message.ledger[0].proposal.signature.v', 'invalid-signature'],
      [(p) => ({ ...p, proposal: { ...(p.proposal as object), change: { type: 'steal' } } }), 'message.ledger[0].proposal.change.type', 'invalid-type'],
      [
        (p) => {
          const q = structuredClone(p) as { proposal: { change: { guarantee: Record<string, unknown> } } };
          q.proposal.change.guarantee.leftAmount = '-0x5';
          return q;
        },
        'message.ledger[0].proposal.change.guarantee.leftAmount',
        'out-of-range',
      ],
      [
        (p) => {
          const q = structuredClone(p) as { proposal: { change: { guarantee: Record<string, unknown> } } };
          q.proposal.change.guarantee.rightAmount = '0x01';
          return q;
        },
        'message.ledger[0].proposal.change.guarantee.rightAmount',
        'invalid-hex',
      ],
      [
        (p) => {
          const q = structuredClone(p) as { proposal: { change: { guarantee: Record<string, unknown> } } };
          q.proposal.change.guarantee.target = 5;
          return q;
        },
        'message.ledger[0].proposal.change.guarantee.target',
        'invalid-type',
      ],
      [
        (p) => {
          const q = structuredClone(p) as { proposal: { change: { guarantee: Record<string, unknown> } } };
          q.proposal.change.guarantee.sneaky = '0x0';
          return q;
        },
        'message.ledger[0].proposal.change.guarantee.sneaky',
        'invalid-type',
      ],
    ];
    for (const [mutate, field, code] of cases) {
      expect(refused(() => parseMessage(withLedger(mutate), { from, to })), field).toMatchObject({ field, code });
    }
    // a removal with an overflowing payout; a countersignature with a missing signature
    const removal = JSON.parse(serializeMessage({ from, to, payloads: [], ledger }));
    removal.ledger[1].proposal.change.leftPayout = `0x1${'0'.repeat(64)}`;
    expect(refused(() => parseMessage(JSON.stringify(removal), { from, to }))).toMatchObject({ field: 'message.ledger[1].proposal.change.leftPayout', code: 'out-of-range' });
    const counter = JSON.parse(serializeMessage({ from, to, payloads: [], ledger }));
    delete counter.ledger[2].countersignature.signature;
    expect(refused(() => parseMessage(JSON.stringify(counter), { from, to }))).toMatchObject({ field: 'message.ledger[2].countersignature.signature', code: 'invalid-type' });
    // not an array; too many
    const notArray = JSON.parse(serializeMessage({ from, to, payloads: [] }));
    notArray.ledger = {};
    expect(refused(() => parseMessage(JSON.stringify(notArray), { from, to }))).toMatchObject({ field: 'message.ledger', code: 'invalid-type' });
    const many = JSON.parse(serializeMessage({ from, to, payloads: [], ledger }));
    many.ledger = Array.from({ length: 257 }, () => many.ledger[2]);
    expect(refused(() => parseMessage(JSON.stringify(many), { from, to }))).toMatchObject({ field: 'message.ledger', code: 'out-of-range' });
    expect(() => parseLedgerPayload(null)).toThrow(CoreError);
  });

  it('refuses an objective id it does not know', () => {
    const v = virtualPrefund(alice.address, hub.address, bob.address, 1n, 5n);
    const json = JSON.parse(serializeMessage({ from, to, payloads: [{ type: 'state', objectiveId: objectiveIds.virtualFunding(channelId(v)), signedState: signedBy(v, hub) }] }));
    json.payloads[0].objectiveId = `VirtualTeleport-${channelId(v)}`;
    expect(refused(() => parseMessage(JSON.stringify(json), { from, to }))).toMatchObject({ field: 'message.payloads[0].objectiveId' });
  });

  it('round-trips vouchers beside the payloads and refuses malformed ones, naming the field', () => {
    const vouchers = [signVoucher(target, 5n, alice), signVoucher(target, 2n ** 200n, alice)];
    const m: ProtocolMessage = { from, to, payloads: [], vouchers };
    expect(parseMessage(serializeMessage(m), { from, to })).toEqual(m);
    expect(serializeMessage({ from, to, payloads: [], vouchers: [] })).not.toMatch(/vouchers/);
    const mutated = (f: (v: Record<string, unknown>) => unknown) => {
      const json = JSON.parse(serializeMessage(m));
      json.vouchers[0] = f(json.vouchers[0]);
      return JSON.stringify(json);
    };
    const cases: [(v: Record<string, unknown>) => unknown, string, string][] = [
      [() => 7, 'message.vouchers[0]', 'invalid-type'],
      [(v) => ({ ...v, extra: 1 }), 'message.vouchers[0].extra', 'invalid-type'],
      [(v) => ({ ...v, amount: '-0x1' }), 'message.vouchers[0].amount', 'out-of-range'],
      [(v) => ({ ...v, channelId: '0x12' }), 'message.vouchers[0].channelId', 'invalid-length'],
      [(v) => ({ ...v, signature: { v: 30, r: sig.r, s: sig.s } }), 'message.vouchers[0].signature.v', 'invalid-signature'],
    ];
    for (const [mutate, field, code] of cases) expect(refused(() => parseMessage(mutated(mutate), { from, to })), field).toMatchObject({ field, code });
    const many = JSON.parse(serializeMessage(m));
    many.vouchers = Array.from({ length: 257 }, () => many.vouchers[0]);
    expect(refused(() => parseMessage(JSON.stringify(many), { from, to }))).toMatchObject({ field: 'message.vouchers', code: 'out-of-range' });
  });
});
