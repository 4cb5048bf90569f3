import { fail } from '../errors.ts';
import { type Address, type Bytes32, parseAddress, parseArray, parseBytes32, parseObject } from '../hex.ts';
import { type SignedState, type SignedStateJSON, parseSignedState, signedStateToJSON } from '../signed-state.ts';

/**
 * Messages between wallets (carried by any transport: the hub's relay, a dapp's own channel).
 * A message is a list of payloads for objectives: signed states to merge, or a rejection.
 * Everything in it is re-checked on arrival; the transport is not trusted.
 */
export type Payload =
  | { type: 'state'; objectiveId: string; signedState: SignedState }
  | { type: 'reject'; objectiveId: string; channelId: Bytes32; reason: string };

export interface ProtocolMessage {
  from: Address;
  to: Address;
  payloads: Payload[];
}

export const MAX_MESSAGE_BYTES = 1 << 20;
export const MAX_PAYLOADS = 256;

type PayloadJSON =
  | { type: 'state'; objectiveId: string; signedState: SignedStateJSON }
  | { type: 'reject'; objectiveId: string; channelId: string; reason: string };

export function serializeMessage(m: ProtocolMessage): string {
  const payloads: PayloadJSON[] = m.payloads.map((p) =>
    p.type === 'state' ? { type: 'state', objectiveId: p.objectiveId, signedState: signedStateToJSON(p.signedState) } : p,
  );
  return JSON.stringify({ v: 1, from: m.from, to: m.to, payloads });
}

const OBJECTIVE_ID = /^(DirectFunding|DirectDefunding|Update)-0x[0-9a-f]{64}(-[0-9]{1,15})?$/;

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
  return { from, to, payloads };
}

export const objectiveIds = {
  directFunding: (channelId: Bytes32) => `DirectFunding-${channelId}`,
  directDefunding: (channelId: Bytes32) => `DirectDefunding-${channelId}`,
  update: (channelId: Bytes32, turnNum: number) => `Update-${channelId}-${turnNum}`,
};
