import { assign, setup } from 'xstate';
import { fingerprint, signChallenge } from '../adjudicator.ts';
import { fail } from '../errors.ts';
import { type Bytes32, bytesToHex } from '../hex.ts';
import { findGuarantee, removeGuarantee } from '../guarantee.ts';
import { AllocationType, type Exit, hashOutcome } from '../outcome.ts';
import { type Channel, POSTFUND_TURN, isSupported, latestSupported } from '../protocol/channel.ts';
import { PAYEE, virtualFinalState } from '../protocol/virtual.ts';
import type { PrivateKey, Signature } from '../signature.ts';
import { type SignedState, signState, unsigned } from '../signed-state.ts';
import { type FixedPart, type State, type VariablePart, hashState, variablePartOf } from '../state.ts';
import { type Voucher, decodeVoucherAppData } from '../voucher.ts';
import { type ChainFailure, type Effect, progressOf } from './effects.ts';

/**
 * The exit of a budget whose hub is gone: our ledger channel with the hub, and every virtual
 * payment channel V it guarantees, settled on the adjudicator without the hub.
 *
 * 1. **challenge** the ledger with its latest supported state (the one that holds V's
 *    guarantees) and each V: the payee with a VirtualPaymentApp redemption (turn 2, signed by
 *    us, carrying the payer's largest voucher we stored, proved from the postfund signed by all
 *    three), the payer (or the hub) with V's latest supported state (the postfund). A V whose
 *    payee registered a redemption over the payer's postfund finalizes with the redemption;
 * 2. wait until every challenge has **finalized** (chain time past `finalizesAt`);
 * 3. **reclaim** each V's guarantee from the ledger, one at a time: the adjudicator replaces the
 *    guarantee by V's final amounts (`removeGuarantee`), so the payee's side gets exactly what
 *    the voucher proves and the payer's side the rest;
 * 4. **transfer** all the ledger's assets by its outcome after the reclaims (`transferAllAssets`).
 *
 * The objective never trusts its own memory of what it submitted: the engine reads each
 * channel's on-chain status (`STATUS`) before any transaction it asks for and after it, and the
 * objective recognises what is registered by its fingerprint (a state and outcome it knows) — so
 * after a reload at any step it asks only for what the chain still lacks, and the engine, which
 * checks the same status before submitting, sends nothing twice.
 */

/** One channel the exit challenges: the ledger, or a V it guarantees. */
export interface ExitTarget {
  channelId: Bytes32;
  fixedPart: FixedPart;
  /** What we challenge with, and the states before it that support it (VirtualPaymentApp's redemption needs the postfund). */
  candidate: SignedState;
  proof: SignedState[];
  /** States that may be registered for this channel (ours and the ones we know others could use), to recognise a status by its fingerprint. */
  known: VariablePart[];
  /** The registered state, once recognised, and when it finalizes. */
  registered?: { state: VariablePart; finalizesAt: number };
  /** The last status read: turn, finalizesAt, fingerprint, and the chain's time then. */
  status?: ExitStatus;
}

export interface ExitStatus {
  turnNumRecord: number;
  finalizesAt: number;
  fingerprint: bigint;
  /** The time (unix seconds) of the block the status was read at. */
  now: number;
}

export interface VirtualTarget extends ExitTarget {
  role: 'payer' | 'hub' | 'payee';
  /** Set when its guarantee is reclaimed into the ledger. */
  reclaimed: boolean;
}

/** The adjudicator's `ReclaimArgs`, with the outcomes decoded. */
export interface ReclaimArgs {
  sourceChannelId: Bytes32;
  sourceStateHash: Bytes32;
  sourceOutcome: Exit;
  sourceAssetIndex: number;
  indexOfTargetInSource: number;
  targetStateHash: Bytes32;
  targetOutcome: Exit;
  targetAssetIndex: number;
}

/** A transaction of the exit, as the engine submits it (after checking the status says it is still needed). */
export type ExitTransaction =
  | { type: 'challenge'; channelId: Bytes32; candidate: SignedState; proof: SignedState[]; challengerSig: Signature }
  | ({
      type: 'reclaim';
      /** The V whose guarantee is reclaimed. */
      channelId: Bytes32;
    } & ReclaimArgs)
  | { type: 'transfer'; channelId: Bytes32; outcome: Exit; stateHash: Bytes32 };

export type ExitStage = 'challenging' | 'waiting' | 'reclaiming' | 'withdrawing' | 'withdrawn' | 'failed';

/** Where the exit stands, for the app and the user: the countdown runs to `finalizesAt` (the latest of the channels' registered challenges; 0 until all are registered). */
export interface ExitUpdate {
  ledgerId: Bytes32;
  stage: ExitStage;
  finalizesAt: number;
  channels: { channelId: Bytes32; registeredTurn?: number; finalizesAt: number; reclaimed?: boolean }[];
  detail?: string;
}

export interface VirtualExitContext {
  objectiveId: string;
  /** The ledger as it was when the exit started (the engine does not store it back: the exit never changes a channel). */
  channel: Channel;
  ledger: ExitTarget;
  virtuals: VirtualTarget[];
  /** The ledger's registered outcome after the reclaims done so far. */
  ledgerOutcome?: Exit;
  /** Transactions asked for and not yet answered by a status read (by key: `challenge:<id>`, `reclaim:<id>`, `transfer`). */
  pending: string[];
  lastError?: string;
  stage: ExitStage;
  outbox: Effect[];
  error?: string;
}

export type VirtualExitEvent =
  /** A channel's on-chain status (read before and after each transaction, and periodically). */
  | { type: 'STATUS'; channelId: Bytes32; turnNumRecord: number; finalizesAt: number; fingerprint: bigint; now: number }
  /** A ChallengeRegistered event: the state registered, which we may not know (a redemption with another voucher). */
  | { type: 'REGISTERED'; channelId: Bytes32; state: VariablePart; finalizesAt: number }
  /** A transaction was refused or failed: asked again at the next CHECK. */
  | { type: 'TX_FAILED'; key: string; error: string; failure?: ChainFailure }
  /** The ledger holds nothing any more: paid out. */
  | { type: 'WITHDRAWN' }
  /** After a reload: nothing is in flight any more; ask again for whatever is still needed (the engine checks the chain first). */
  | { type: 'CHECK' }
  | { type: 'EFFECTS_DONE' };

export interface VirtualExitInput {
  /** Our ledger channel with the hub. */
  ledger: Channel;
  /** Every V the ledger's latest supported state guarantees, with the largest voucher we stored (payer: the one we signed; payee: the one we received). */
  virtuals: { channel: Channel; voucher?: Voucher }[];
}

export const exitObjectiveId = (ledgerId: Bytes32) => `VirtualExit-${ledgerId}`;

const fingerprintOf = (fixedPart: FixedPart, id: Bytes32, vp: VariablePart): bigint =>
  fingerprint(hashState({ ...fixedPart, ...vp }, id), bytesToHex(hashOutcome(vp.outcome)));

const sameVariablePart = (f: FixedPart, id: Bytes32, a: VariablePart, b: VariablePart) => hashState({ ...f, ...a }, id) === hashState({ ...f, ...b }, id);

/** The guarantee targets of an outcome (its first asset: a ledger holds V's asset only). */
export function guaranteeTargets(outcome: Exit): Bytes32[] {
  return outcome.flatMap((e) => e.allocations.filter((a) => a.allocationType === AllocationType.guarantee).map((a) => a.destination));
}

/** The ledger's outcome once the guarantees of `reclaimed` are replaced by their Vs' registered amounts (the order does not matter). */
function outcomeAfter(base: Exit, reclaimed: VirtualTarget[]): Exit {
  return base.map((exit) => {
    let e = exit;
    for (const v of reclaimed) {
      if (!e.allocations.some((a) => a.destination === v.channelId && a.allocationType === AllocationType.guarantee)) continue;
      const [payer, payee] = v.registered!.state.outcome[0]!.allocations;
      e = removeGuarantee(e, v.channelId, payer!.amount, payee!.amount);
    }
    return e;
  });
}

/** What we challenge V with: the payee a redemption of the largest voucher (when it pays anything), the others V's latest supported state. */
function virtualCandidate(v: Channel, voucher: Voucher | undefined, key: PrivateKey): { candidate: SignedState; proof: SignedState[]; known: VariablePart[] } {
  const supported = v.states.filter((s) => isSupported(s) && s.state.turnNum <= POSTFUND_TURN);
  const base = supported[supported.length - 1];
  if (!base) fail('unsupported-state', 'virtual', `virtual channel ${v.id} has no supported state to challenge with`);
  // The largest voucher we hold: the one stored, or the one in a final state we signed.
  let best = voucher;
  for (const s of v.states) {
    if (s.state.turnNum === 2 && s.state.appData !== '0x') {
      const w = decodeVoucherAppData(s.state.appData, v.id);
      if (!best || w.amount > best.amount) best = w;
    }
  }
  const known: VariablePart[] = supported.map((s) => variablePartOf(s.state));
  const redemptionOf = (w: Voucher): State => ({ ...virtualFinalState(base.state, w), isFinal: false });
  if (best && best.amount > 0n && base.state.turnNum === POSTFUND_TURN) {
    const redemption = redemptionOf(best);
    // Anyone's redemption of our largest voucher, final or not, is a state we recognise when registered.
    known.push(variablePartOf(redemption), { ...variablePartOf(redemption), isFinal: true });
    if (v.myIndex === PAYEE) {
      const signed = unsigned(redemption);
      signed.signatures[PAYEE] = signState(redemption, key, v.id).signature;
      return { candidate: signed, proof: [base], known };
    }
  }
  return { candidate: base, proof: [], known };
}

const ROLES = ['payer', 'hub', 'payee'] as const;

/**
 * Throws (a CoreError) unless the exit can be planned: the ledger has a supported state, and
 * every V it guarantees is given with a supported state to challenge with. The engine calls it
 * before it starts the objective.
 */
export function requireExitable(input: VirtualExitInput): void {
  const ledgerState = latestSupported(input.ledger);
  if (!ledgerState) fail('unsupported-state', 'ledger', 'the ledger has no supported state to challenge with');
  for (const target of guaranteeTargets(ledgerState.state.outcome)) {
    const v = input.virtuals.find((x) => x.channel.id === target);
    if (!v) fail('unsupported-state', 'virtuals', `the ledger guarantees ${target}, which is not among the virtual channels given: it could not be reclaimed`);
    if (!v.channel.states.some((s) => isSupported(s) && s.state.turnNum <= POSTFUND_TURN)) fail('unsupported-state', 'virtuals', `virtual channel ${target} has no supported state to challenge with`);
  }
}

export function virtualExitMachine(key: PrivateKey) {
  const challengeTx = (t: ExitTarget): ExitTransaction => ({
    type: 'challenge',
    channelId: t.channelId,
    candidate: t.candidate,
    proof: t.proof,
    challengerSig: signChallenge(hashState(t.candidate.state, t.channelId), key),
  });

  const finalized = (t: ExitTarget) => t.registered !== undefined && t.status !== undefined && t.registered.finalizesAt > 0 && t.registered.finalizesAt <= t.status.now;

  /** Whether our challenge is still needed: nothing registered that finalizes, or something older than our candidate. */
  const needsChallenge = (t: ExitTarget) => {
    if (finalized(t)) return false;
    const s = t.status;
    if (!s) return t.registered === undefined;
    if (s.finalizesAt > 0 && s.finalizesAt <= s.now) return false; // finalized with a state we do not know: nothing to challenge
    const turn = t.candidate.state.turnNum;
    return s.finalizesAt === 0 ? s.turnNumRecord <= turn : s.turnNumRecord < turn;
  };

  /** The Vs whose guarantees the registered ledger outcome holds (the ones to reclaim). */
  const toReclaim = (ctx: VirtualExitContext) => {
    const targets = new Set(guaranteeTargets(ctx.ledger.registered?.state.outcome ?? []));
    return ctx.virtuals.filter((v) => targets.has(v.channelId));
  };

  const report = (ctx: VirtualExitContext, stage: ExitStage, detail?: string): Effect => {
    const all = [ctx.ledger, ...ctx.virtuals];
    const finalizesAt = all.every((t) => t.registered) ? Math.max(...all.map((t) => t.registered!.finalizesAt)) : 0;
    const update: ExitUpdate = {
      ledgerId: ctx.ledger.channelId,
      stage,
      finalizesAt,
      channels: all.map((t) => ({
        channelId: t.channelId,
        finalizesAt: t.registered?.finalizesAt ?? 0,
        ...(t.registered ? { registeredTurn: t.registered.state.turnNum } : {}),
        ...('reclaimed' in t ? { reclaimed: (t as VirtualTarget).reclaimed } : {}),
      })),
      ...(detail === undefined ? {} : { detail }),
    };
    return { kind: 'exitUpdated', objectiveId: ctx.objectiveId, channelId: ctx.ledger.channelId, update };
  };

  /** Learns from a status read: the registered state (by fingerprint), for the ledger the reclaims done. */
  const learn = (ctx: VirtualExitContext, s: ExitStatus & { channelId: Bytes32 }): Partial<VirtualExitContext> => {
    const status: ExitStatus = { turnNumRecord: s.turnNumRecord, finalizesAt: s.finalizesAt, fingerprint: s.fingerprint, now: s.now };
    const recognise = (t: ExitTarget): ExitTarget => {
      const next: ExitTarget = { ...t, status };
      if (s.finalizesAt === 0) return { ...next, registered: undefined };
      const match = t.known.find((vp) => fingerprintOf(t.fixedPart, t.channelId, vp) === s.fingerprint);
      if (match) return { ...next, registered: { state: match, finalizesAt: s.finalizesAt } };
      // Not a state we know: keep what an event told us if it is the same registration.
      return t.registered?.finalizesAt === s.finalizesAt ? next : { ...next, registered: undefined };
    };
    if (s.channelId === ctx.ledger.channelId) {
      const l = ctx.ledger;
      // After the transfer the adjudicator keeps the paid-out outcome's fingerprint (or clears the status): nothing to learn.
      if (ctx.stage === 'withdrawing') return { ledger: { ...l, status } };
      // Once reclaims begin the ledger's fingerprint follows its outcome: find which reclaims it shows.
      if (l.registered && s.finalizesAt === l.registered.finalizesAt && s.finalizesAt > 0) {
        const base = l.registered.state.outcome;
        const stateHash = hashState({ ...l.fixedPart, ...l.registered.state }, l.channelId);
        const candidates = toReclaim(ctx).filter((v) => v.registered);
        const subsets = candidates.length <= 10 ? 1 << candidates.length : 0;
        for (let mask = 0; mask < subsets; mask++) {
          const chosen = candidates.filter((_, i) => mask & (1 << i));
          const outcome = outcomeAfter(base, chosen);
          if (fingerprint(stateHash, bytesToHex(hashOutcome(outcome))) !== s.fingerprint) continue;
          const ids = new Set(chosen.map((v) => v.channelId));
          return {
            ledger: { ...l, status },
            ledgerOutcome: outcome,
            virtuals: ctx.virtuals.map((v) => (ids.has(v.channelId) && !v.reclaimed ? { ...v, reclaimed: true } : v)),
            pending: ctx.pending.filter((k) => !(k.startsWith('reclaim:') && ids.has(k.slice(8) as Bytes32))),
          };
        }
      }
      const ledger = recognise(l);
      return { ledger, ledgerOutcome: ledger.registered?.state.outcome };
    }
    return { virtuals: ctx.virtuals.map((v) => (v.channelId === s.channelId ? { ...(recognise(v) as VirtualTarget), reclaimed: v.reclaimed } : v)) };
  };

  /** Asks for every transaction the exit still needs and has not asked for; moves the stage on. */
  const advance = (ctx: VirtualExitContext): Partial<VirtualExitContext> => {
    if (ctx.stage === 'withdrawn' || ctx.stage === 'failed') return {};
    const pending = new Set(ctx.pending);
    const txs: ExitTransaction[] = [];
    const ask = (k: string, tx: () => ExitTransaction) => {
      if (pending.has(k)) return;
      pending.add(k);
      txs.push(tx());
    };
    const all: ExitTarget[] = [ctx.ledger, ...ctx.virtuals];
    // A challenge is needed until its channel finalizes (a newer one over a stale registration too);
    // never once the reclaims have begun (a paid-out ledger's status is cleared: it must not be challenged again).
    const settling = ctx.stage === 'reclaiming' || ctx.stage === 'withdrawing';
    if (!settling) for (const t of all) if (needsChallenge(t)) ask(`challenge:${t.channelId}`, () => challengeTx(t));
    let stage: ExitStage = settling ? ctx.stage : all.every((t) => t.registered) ? 'waiting' : 'challenging';
    let error: string | undefined;
    const reclaims = toReclaim(ctx);
    const ready = finalized(ctx.ledger) && reclaims.every((v) => v.reclaimed || finalized(v));
    if (ready && ctx.ledgerOutcome) {
      const unknown = guaranteeTargets(ctx.ledgerOutcome).filter((id) => !ctx.virtuals.some((v) => v.channelId === id));
      if (unknown.length > 0) {
        error = `the ledger's registered state guarantees ${unknown.join(', ')}, which this wallet does not hold: it cannot be reclaimed`;
      } else {
        const next = reclaims.find((v) => !v.reclaimed);
        if (next) {
          stage = 'reclaiming';
          // One reclaim at a time: each changes the ledger's outcome the next one names.
          if (![...pending].some((k) => k.startsWith('reclaim:'))) {
            const l = ctx.ledger;
            ask(`reclaim:${next.channelId}`, () => ({
              type: 'reclaim',
              channelId: next.channelId,
              sourceChannelId: l.channelId,
              sourceStateHash: hashState({ ...l.fixedPart, ...l.registered!.state }, l.channelId),
              sourceOutcome: ctx.ledgerOutcome!,
              sourceAssetIndex: 0,
              indexOfTargetInSource: findGuarantee(ctx.ledgerOutcome![0]!, next.channelId).index,
              targetStateHash: hashState({ ...next.fixedPart, ...next.registered!.state }, next.channelId),
              targetOutcome: next.registered!.state.outcome,
              targetAssetIndex: 0,
            }));
          }
        } else {
          stage = 'withdrawing';
          const l = ctx.ledger;
          ask('transfer', () => ({ type: 'transfer', channelId: l.channelId, outcome: ctx.ledgerOutcome!, stateHash: hashState({ ...l.fixedPart, ...l.registered!.state }, l.channelId) }));
        }
      }
    }
    const effects: Effect[] = txs.map((tx) => ({ kind: 'exitTransaction', objectiveId: ctx.objectiveId, tx }));
    if (error !== undefined) {
      const next = { ...ctx, stage: 'failed' as const };
      return { stage: 'failed', error, pending: [], outbox: [...ctx.outbox, report(next, 'failed', error), progressOf(next, 'failed', error)] };
    }
    const next = { ...ctx, stage, pending: [...pending] };
    const changed = stage !== ctx.stage || txs.length > 0;
    return { stage, pending: [...pending], outbox: changed ? [...ctx.outbox, ...effects, report(next, stage, ctx.lastError)] : ctx.outbox };
  };

  return setup({
    types: { context: {} as VirtualExitContext, events: {} as VirtualExitEvent, input: {} as VirtualExitInput },
    actions: {
      advance: assign(({ context }) => advance(context)),
      status: assign(({ context, event }) => {
        if (event.type !== 'STATUS') return {};
        const learned = { ...context, ...learn(context, event) };
        // Our challenge is answered once the status shows nothing left to challenge (else it is still in flight, or failed: TX_FAILED).
        const target = [learned.ledger, ...learned.virtuals].find((t) => t.channelId === event.channelId);
        const pending = target && !needsChallenge(target) ? learned.pending.filter((k) => k !== `challenge:${event.channelId}`) : learned.pending;
        return { ...learned, pending };
      }),
      registered: assign(({ context, event }) => {
        if (event.type !== 'REGISTERED') return {};
        const withKnown = (t: ExitTarget): ExitTarget =>
          t.known.some((vp) => sameVariablePart(t.fixedPart, t.channelId, vp, event.state)) ? t : { ...t, known: [...t.known, event.state] };
        if (event.channelId === context.ledger.channelId) return { ledger: { ...withKnown(context.ledger), registered: { state: event.state, finalizesAt: event.finalizesAt } }, ledgerOutcome: event.state.outcome };
        return {
          virtuals: context.virtuals.map((v) => (v.channelId === event.channelId ? { ...(withKnown(v) as VirtualTarget), registered: { state: event.state, finalizesAt: event.finalizesAt } } : v)),
        };
      }),
      txFailed: assign(({ context, event }) => {
        if (event.type !== 'TX_FAILED') return {};
        return { pending: context.pending.filter((k) => k !== event.key), lastError: event.error, outbox: [...context.outbox, report(context, context.stage, event.error)] };
      }),
      // After a reload nothing is in flight: ask again for all that is still needed (the engine checks the chain before each).
      check: assign({ pending: () => [] as string[] }),
      withdrawn: assign(({ context }) => {
        const next = { ...context, stage: 'withdrawn' as const };
        return { stage: 'withdrawn' as const, pending: [], outbox: [...context.outbox, report(next, 'withdrawn'), progressOf(next, 'concluded')] };
      }),
      clearOutbox: assign({ outbox: () => [] }),
    },
  }).createMachine({
    id: 'virtualExit',
    context: ({ input }) => {
      requireExitable(input);
      const ledgerState = latestSupported(input.ledger)!;
      const ledger: ExitTarget = {
        channelId: input.ledger.id,
        fixedPart: input.ledger.fixedPart,
        candidate: ledgerState,
        proof: [],
        known: input.ledger.states.filter(isSupported).map((s) => variablePartOf(s.state)),
      };
      const targets = guaranteeTargets(ledgerState.state.outcome);
      const virtuals: VirtualTarget[] = [];
      for (const target of targets) {
        const v = input.virtuals.find((x) => x.channel.id === target)!;
        const { candidate, proof, known } = virtualCandidate(v.channel, v.voucher, key);
        virtuals.push({ channelId: v.channel.id, fixedPart: v.channel.fixedPart, candidate, proof, known, role: ROLES[v.channel.myIndex]!, reclaimed: false });
      }
      return { objectiveId: exitObjectiveId(input.ledger.id), channel: input.ledger, ledger, virtuals, pending: [], stage: 'challenging', outbox: [] };
    },
    initial: 'exiting',
    on: { EFFECTS_DONE: { actions: 'clearOutbox' } },
    states: {
      exiting: {
        entry: 'advance',
        on: {
          STATUS: { actions: ['status', 'advance'] },
          REGISTERED: { actions: ['registered', 'advance'] },
          TX_FAILED: { actions: ['txFailed'] },
          CHECK: { actions: ['check', 'advance'] },
          WITHDRAWN: { target: 'done', actions: 'withdrawn' },
        },
        always: { guard: ({ context }) => context.stage === 'failed', target: 'failed' },
      },
      done: { tags: ['terminal'] },
      failed: { tags: ['terminal'] },
    },
  });
}
