/**
 * The protocol between instances of this wallet that share one storage partition (tabs of one
 * dapp site): what a follower may ask the leader's engine, what the leader answers, and the
 * notifications it passes on. Messages travel on a BroadcastChannel of the wallet origin (so
 * only this wallet's own script in this partition can post them) by structured clone; every
 * inbound message is still checked here before anything runs, and nothing here ever carries the
 * key or a stored record: calls carry their arguments, answers the summaries the RPC handlers
 * already turn into wire forms, errors their class, code and message.
 */
import type { Address, Bytes32 } from '../../../core/src/index.ts';
import { CoreError } from '../../../core/src/index.ts';
import { ChainError } from '../../../engine/src/chain/errors.ts';
import { EngineError, type ChannelSummary } from '../../../engine/src/engine.ts';
import { type NotificationName, type NotificationParams, notifications } from '../../../sdk-client/src/schema.ts';
import { validate } from '../../../sdk-client/src/schema-types.ts';
import type { ChannelApi } from '../channels.ts';
import type { DisputeApi } from '../disputes.ts';
import type { ChallengeStage, ChallengeUpdate } from '../../../core/src/objectives/effects.ts';
import { RpcError } from '../rpc/rpc-error.ts';
import type { BudgetExitSummary, BudgetSummary, VirtualApi, VirtualSummary } from '../virtual.ts';
import { type Check, ProtocolError, address, args, array, bytes32, hex, int, none, object, oneOf, optional, str, uint } from './checks.ts';

export const PROTOCOL_VERSION = 1;

/** Peer messaging, which only the leader does (it holds the relay connection and the engine). */
export interface PeerApi {
  receiveMessage(from: Address, message: string): Promise<void>;
  useRelay(relayUrl: string): Promise<{ address: Address; relayOrigin: string }>;
}

/** Everything that needs the engine: the leader runs it, a follower forwards it. */
export interface EngineHost {
  channels: ChannelApi;
  virtual: VirtualApi;
  peers: PeerApi;
  disputes: DisputeApi;
}

type Fn = (...a: never[]) => Promise<unknown>;
/**
 * How one method crosses: its arguments and result, and whether running it twice is harmless.
 * A call the leader accepted but never answered (it closed) is re-sent to the next leader only
 * if it is idempotent; otherwise the caller hears that its outcome is unknown.
 */
export interface MethodSpec<F extends Fn> {
  args: Check<Parameters<F>>;
  result: Check<Awaited<ReturnType<F>>>;
  idempotent: boolean;
}
type Specs<T> = { [K in keyof T]-?: T[K] extends Fn ? MethodSpec<T[K]> : never };

const statuses: Record<ChannelSummary['status'], true> = { proposed: true, funding: true, running: true, closing: true, challenged: true, closed: true, rejected: true, failed: true };
const channelSummary = object<ChannelSummary>({
  channelId: bytes32,
  participants: array(address, 255),
  appDefinition: address,
  turnNum: int,
  status: oneOf(statuses),
  asset: address,
  balances: array(uint, 255),
  challengeDuration: int,
});
const budget = object<BudgetSummary>({ hub: address, ledgerId: bytes32, asset: address, send: uint, receive: uint, locked: uint, status: str(64) });
const budgetExit = object<BudgetExitSummary>({ hub: address, ledgerId: bytes32, stage: str(32), finalizesAt: int, detail: optional(str(4096)) });
const virtualChannel = object<VirtualSummary>({ channelId: bytes32, payer: address, payee: address, hub: address, amount: uint, paid: uint, status: str(64) });
const reason = str(1024);
const challengeStages: Record<ChallengeStage, true> = { challenging: true, registered: true, checkpointing: true, cleared: true, withdrawing: true, withdrawn: true, failed: true };
const challenge = object<ChallengeUpdate>({
  channelId: bytes32,
  stage: oneOf(challengeStages),
  challenger: oneOf({ us: true, counterparty: true }),
  turnNum: int,
  finalizesAt: int,
  detail: optional(str(4096)),
});

export const methods: { channels: Specs<ChannelApi>; virtual: Specs<VirtualApi>; peers: Specs<PeerApi>; disputes: Specs<DisputeApi> } = {
  channels: {
    list: { args: args([]), result: array(channelSummary, 100_000), idempotent: true },
    get: { args: args([bytes32]), result: optional(channelSummary), idempotent: true },
    create: {
      args: args([object({ counterparty: address, asset: address, amount: uint, counterpartyAmount: uint, challengeDuration: int })]),
      result: channelSummary,
      idempotent: false,
    },
    join: { args: args([bytes32]), result: channelSummary, idempotent: false },
    reject: { args: args([bytes32, reason]), result: none, idempotent: false },
    update: { args: args<[Bytes32, bigint[], `0x${string}`?]>([bytes32, array(uint, 255), optional(hex)], 2), result: channelSummary, idempotent: false },
    close: { args: args([bytes32]), result: channelSummary, idempotent: false },
  },
  virtual: {
    requestBudget: {
      args: args([object({ hub: address, asset: address, sendAmount: uint, receiveAmount: uint, challengeDuration: int })]),
      result: budget,
      idempotent: false,
    },
    getBudget: { args: args([address]), result: optional(budget), idempotent: true },
    closeBudget: { args: args([address]), result: budget, idempotent: false },
    // Asking again returns the exit under way.
    exitBudget: { args: args([address]), result: budgetExit, idempotent: true },
    getBudgetExit: { args: args([address]), result: optional(budgetExit), idempotent: true },
    create: { args: args([object({ payee: address, hub: address, amount: uint })]), result: virtualChannel, idempotent: false },
    pay: { args: args([bytes32, uint]), result: object({ total: uint }), idempotent: false },
    close: { args: args([bytes32]), result: virtualChannel, idempotent: false },
    get: { args: args([bytes32]), result: optional(virtualChannel), idempotent: true },
    list: { args: args([]), result: array(virtualChannel, 100_000), idempotent: true },
  },
  peers: {
    // A peer's message handled twice is merged or refused as stale by the engine.
    receiveMessage: { args: args([address, str(1 << 20)]), result: none, idempotent: true },
    useRelay: { args: args([str(2048)]), result: object({ address, relayOrigin: str(2048) }), idempotent: true },
  },
  disputes: {
    challenge: { args: args([bytes32]), result: challenge, idempotent: false },
    get: { args: args([bytes32]), result: optional(challenge), idempotent: true },
  },
};

export type Group = keyof typeof methods;
/** `channels.update`, `peers.useRelay`, … */
export type MethodPath = { [G in Group]: `${G}.${keyof (typeof methods)[G] & string}` }[Group];

export function specOf(path: string): MethodSpec<Fn> | undefined {
  const dot = path.indexOf('.');
  if (dot < 0) return undefined;
  const group = path.slice(0, dot);
  const name = path.slice(dot + 1);
  if (!Object.hasOwn(methods, group)) return undefined;
  const table = methods[group as Group] as unknown as Record<string, MethodSpec<Fn>>;
  return Object.hasOwn(table, name) ? table[name] : undefined;
}

/** Runs `path` on `host` (the leader's own engine). */
export function invoke(host: EngineHost, path: MethodPath, callArgs: unknown[]): Promise<unknown> {
  const [group, name] = path.split('.') as [Group, string];
  const target = host[group] as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
  return target[name]!.apply(target, callArgs);
}

// ---- Errors --------------------------------------------------------------------------------

/** An error as it crosses: enough for the follower's RPC handlers to answer exactly as the leader's would. */
export type WireError =
  | { kind: 'engine'; code: EngineError['code']; message: string }
  | { kind: 'chain'; code: ChainError['code']; message: string }
  | { kind: 'core'; code: CoreError['code']; field: string; message: string }
  | { kind: 'rpc'; code: number; message: string; field?: string }
  /** A malformed argument found by a parser (e.g. a relay URL): its message is about the argument. */
  | { kind: 'type'; message: string }
  /** Anything else: only its class name (the RPC server answers these with a generic -32603). */
  | { kind: 'other'; name: string };

const engineCodes: Record<EngineError['code'], true> = { 'unknown-channel': true, 'not-allowed': true, busy: true, invalid: true, rejected: true, failed: true };
const chainCodes: Record<ChainError['code'], true> = { 'insufficient-funds': true, reverted: true, unreachable: true, 'wrong-chain': true, 'rejected-by-user': true, timeout: true, dropped: true };
const message = str(4096);

export function errorToWire(e: unknown): WireError {
  if (e instanceof EngineError) return { kind: 'engine', code: e.code, message: e.message.slice(0, 4096) };
  if (e instanceof ChainError) return { kind: 'chain', code: e.code, message: e.message.slice(0, 4096) };
  if (e instanceof CoreError) return { kind: 'core', code: e.code, field: e.field.slice(0, 256), message: e.message.slice(0, 4096) };
  if (e instanceof RpcError) return e.data?.field === undefined ? { kind: 'rpc', code: e.code, message: e.message.slice(0, 4096) } : { kind: 'rpc', code: e.code, message: e.message.slice(0, 4096), field: e.data.field.slice(0, 256) };
  if (e instanceof TypeError) return { kind: 'type', message: e.message.slice(0, 4096) };
  return { kind: 'other', name: (e instanceof Error ? e.name : typeof e).slice(0, 64) };
}

const wireError: Check<WireError> = (value, path) => {
  const kind = (value as { kind?: unknown } | null)?.kind;
  switch (kind) {
    case 'engine':
      return object<Extract<WireError, { kind: 'engine' }>>({ kind: oneOf({ engine: true }), code: oneOf(engineCodes), message })(value, path);
    case 'chain':
      return object<Extract<WireError, { kind: 'chain' }>>({ kind: oneOf({ chain: true }), code: oneOf(chainCodes), message })(value, path);
    case 'core':
      return object<Extract<WireError, { kind: 'core' }>>({ kind: oneOf({ core: true }), code: str(64) as Check<CoreError['code']>, field: str(256), message })(value, path);
    case 'rpc':
      return object<Extract<WireError, { kind: 'rpc' }>>({ kind: oneOf({ rpc: true }), code: (v, p) => (typeof v === 'number' && Number.isInteger(v) ? v : (() => { throw new ProtocolError(p, 'expected an integer'); })()), message, field: optional(str(256)) })(value, path);
    case 'type':
      return object<Extract<WireError, { kind: 'type' }>>({ kind: oneOf({ type: true }), message })(value, path);
    case 'other':
      return object<Extract<WireError, { kind: 'other' }>>({ kind: oneOf({ other: true }), name: str(64) })(value, path);
    default:
      throw new ProtocolError(`${path}.kind`, 'expected engine, chain, core, rpc, type or other');
  }
};

/** The error the follower throws for a wire error: the same class and code the leader's call failed with. */
export function errorFromWire(w: WireError): Error {
  switch (w.kind) {
    case 'engine':
      return new EngineError(w.code, w.message);
    case 'chain':
      return new ChainError(w.code, w.message);
    case 'core':
      return new CoreError(w.code, w.field, w.message.startsWith(`${w.field}: `) ? w.message.slice(w.field.length + 2) : w.message);
    case 'rpc':
      return new RpcError(w.code, w.message, w.field === undefined ? undefined : { field: w.field });
    case 'type':
      return new TypeError(w.message);
    case 'other': {
      const e = new Error('the call failed in the wallet tab that runs the channels');
      e.name = w.name;
      return e;
    }
  }
}

// ---- Messages ------------------------------------------------------------------------------

/** Notifications of the leader's engine that every instance hands to its own dapp. */
export const FORWARDED_NOTIFICATIONS = ['channel_updated', 'channel_proposed', 'objective_progress', 'budget_updated', 'virtual_updated', 'payment_received', 'challenge_updated', 'budget_exit_updated', 'channel_outboundMessage'] as const satisfies readonly NotificationName[];
export type ForwardedNotification = (typeof FORWARDED_NOTIFICATIONS)[number];
export type EngineNotification = { [N in ForwardedNotification]: { method: N; params: NotificationParams<N> } }[ForwardedNotification];

export type InstanceMessage =
  /** A new instance asks who leads. */
  | { v: 1; kind: 'hello'; from: string }
  /** The leader says it leads (on taking the lock, and in answer to hello); `relayUrl`: the relay it is connected to, for the next leader. */
  | { v: 1; kind: 'leader'; from: string; relayUrl?: string }
  /** A follower asks the leader to run a method. */
  | { v: 1; kind: 'call'; from: string; to: string; id: number; method: MethodPath; args: unknown[] }
  /** The leader started running the call (sent before anything runs). */
  | { v: 1; kind: 'accepted'; from: string; to: string; id: number }
  | { v: 1; kind: 'result'; from: string; to: string; id: number; value: unknown }
  | { v: 1; kind: 'failure'; from: string; to: string; id: number; error: WireError }
  /** A notification of the leader's engine, for every instance's dapp. */
  | ({ v: 1; kind: 'notify'; from: string } & EngineNotification);

const instanceId = str(64);
const versionCheck: Check<1> = (value, path) => {
  if (value !== PROTOCOL_VERSION) throw new ProtocolError(path, `expected protocol version ${PROTOCOL_VERSION}`);
  return 1;
};
const requestId: Check<number> = int;
const anyValue: Check<unknown> = (value) => value;

/**
 * Checks an inbound message: the envelope strictly here; a call's arguments and a result by the
 * method's spec where it is handled (the receiver knows which method a result answers).
 */
export function parseMessage(data: unknown): InstanceMessage {
  const kind = (data as { kind?: unknown } | null)?.kind;
  const path = 'message';
  switch (kind) {
    case 'hello':
      return object<Extract<InstanceMessage, { kind: 'hello' }>>({ v: versionCheck, kind: oneOf({ hello: true }), from: instanceId })(data, path);
    case 'leader':
      return object<Extract<InstanceMessage, { kind: 'leader' }>>({ v: versionCheck, kind: oneOf({ leader: true }), from: instanceId, relayUrl: optional(str(2048)) })(data, path);
    case 'call': {
      const m = object<Extract<InstanceMessage, { kind: 'call' }>>({
        v: versionCheck,
        kind: oneOf({ call: true }),
        from: instanceId,
        to: instanceId,
        id: requestId,
        method: (value, p) => {
          if (typeof value !== 'string' || !specOf(value)) throw new ProtocolError(p, 'expected a method of the engine');
          return value as MethodPath;
        },
        args: (value, p) => array(anyValue, 8)(value, p),
      })(data, path);
      return { ...m, args: specOf(m.method)!.args(m.args, `${path}.args`) };
    }
    case 'accepted':
      return object<Extract<InstanceMessage, { kind: 'accepted' }>>({ v: versionCheck, kind: oneOf({ accepted: true }), from: instanceId, to: instanceId, id: requestId })(data, path);
    case 'result':
      return object<Extract<InstanceMessage, { kind: 'result' }>>({ v: versionCheck, kind: oneOf({ result: true }), from: instanceId, to: instanceId, id: requestId, value: anyValue })(data, path);
    case 'failure':
      return object<Extract<InstanceMessage, { kind: 'failure' }>>({ v: versionCheck, kind: oneOf({ failure: true }), from: instanceId, to: instanceId, id: requestId, error: wireError })(data, path);
    case 'notify': {
      const m = object<{ v: 1; kind: 'notify'; from: string; method: ForwardedNotification; params: unknown }>({
        v: versionCheck,
        kind: oneOf({ notify: true }),
        from: instanceId,
        method: oneOf(Object.fromEntries(FORWARDED_NOTIFICATIONS.map((n) => [n, true])) as Record<ForwardedNotification, true>),
        params: anyValue,
      })(data, path);
      // The params are exactly what the dapp will receive: checked against the RPC schema.
      try {
        validate(notifications[m.method], m.params, `${path}.params`);
      } catch (e) {
        throw new ProtocolError(`${path}.params`, e instanceof Error ? e.message : 'invalid');
      }
      return m as InstanceMessage;
    }
    default:
      throw new ProtocolError(`${path}.kind`, 'expected a message kind of this protocol');
  }
}
