/**
 * The hub's policy: which requests to take part in it accepts. Pure functions over plain data (no
 * I/O, no clock), so each rule is unit-tested on its own and the service only gathers the facts.
 *
 * One check per kind of request:
 *   - `checkDirectChannel`: a user proposes a direct channel with the hub (a ledger channel:
 *     ConsensusApp, one asset, funded by deposits). The hub joins it or rejects it with the reason.
 *   - Virtual channels (a guarantee for V in the hub's two ledgers, issue 5 part 2) get their own
 *     `checkVirtualChannel(policy, request, context)` here, with the limits they need (the most the
 *     hub guarantees per channel, the ledgers' free balance); `HubPolicy` grows a section for it.
 */
import { type Address, type Exit, type Hex, type State, AllocationType, ZERO_ADDRESS, addressToDestination } from '../../../core/src/index.ts';
import type { ChannelSummary } from '../../../engine/src/engine.ts';

export interface HubPolicy {
  /** Who the hub serves: everyone, or these addresses (lower-case). */
  users: 'all' | readonly Address[];
  /**
   * Per asset (lower-case address; the zero address is ETH): the most the hub locks with one user,
   * counted as its balance in all its open channels with that user plus its deposit into the new
   * one. An asset not listed is not served.
   */
  maxDepositPerUser: Readonly<Record<Address, bigint>>;
  /** The challenge durations (seconds) the hub accepts, inclusive. */
  challengeDuration: { min: number; max: number };
}

/** A channel proposal as the hub judges it: the fixed part and the proposed (prefund) state. */
export interface DirectChannelProposal {
  participants: readonly Address[];
  appDefinition: Address;
  challengeDuration: number;
  turnNum: number;
  isFinal: boolean;
  outcome: Exit;
  /** Not checked yet: a ledger channel's prefund carries the engine's ledger marker here. */
  appData: Hex;
}

/** What the hub knows, beside the proposal, when it decides. */
export interface DirectChannelContext {
  /** The hub's own address. */
  hub: Address;
  /** The ConsensusApp of the hub's chain (lower-case). */
  consensusApp: Address;
  /** Per asset, the hub's balance in its other open channels with this user (see `lockedWithUser`). */
  lockedWithUser: Readonly<Record<Address, bigint>>;
}

export type PolicyDecision = { accept: true; user: Address; asset: Address; hubAmount: bigint } | { accept: false; reason: string };

const refuse = (reason: string): PolicyDecision => ({ accept: false, reason });

/** Amounts in messages: wei for ETH, base units otherwise. */
function describeAmount(amount: bigint, asset: Address): string {
  return asset === ZERO_ADDRESS ? `${amount} wei` : `${amount} base units of token ${asset}`;
}

export function proposalFromState(state: State): DirectChannelProposal {
  return {
    participants: state.participants,
    appDefinition: state.appDefinition,
    challengeDuration: state.challengeDuration,
    turnNum: state.turnNum,
    isFinal: state.isFinal,
    outcome: state.outcome,
    appData: state.appData,
  };
}

export function isServed(policy: HubPolicy, user: Address): boolean {
  return policy.users === 'all' || policy.users.includes(user.toLowerCase() as Address);
}

/**
 * Decides on a direct channel a user proposed to the hub. Accepts only a two-party ConsensusApp
 * channel with a served user, at its prefund, in one served asset, whose every allocation is a
 * plain payment to a participant, with a challenge duration in range, where the hub's deposit
 * keeps what it locks with the user within the limit. The reason names what failed, for the user.
 */
export function checkDirectChannel(policy: HubPolicy, p: DirectChannelProposal, ctx: DirectChannelContext): PolicyDecision {
  const hub = ctx.hub.toLowerCase() as Address;
  const participants = p.participants.map((a) => a.toLowerCase() as Address);
  const hubIndex = participants.indexOf(hub);
  if (hubIndex < 0) return refuse(`the hub ${hub} is not a participant`);
  if (participants.length !== 2) return refuse(`the hub joins channels of two participants, not ${participants.length}`);
  const user = participants[1 - hubIndex]!;
  if (user === hub) return refuse('the hub does not open channels with itself');
  if (!isServed(policy, user)) return refuse(`this hub does not serve ${user}`);
  if (p.turnNum !== 0 || p.isFinal) return refuse('a channel proposal is its prefund state (turn 0, not final)');
  if (p.appDefinition.toLowerCase() !== ctx.consensusApp.toLowerCase()) {
    return refuse(`the hub joins ConsensusApp channels (${ctx.consensusApp.toLowerCase()}), not app ${p.appDefinition.toLowerCase()}`);
  }
  const { min, max } = policy.challengeDuration;
  if (p.challengeDuration < min || p.challengeDuration > max) {
    return refuse(`challenge duration ${p.challengeDuration} s is outside what the hub accepts (${min} to ${max} s)`);
  }
  if (p.outcome.length !== 1) return refuse(`the hub joins single-asset channels, not ${p.outcome.length} assets`);
  const exit = p.outcome[0]!;
  const asset = exit.asset.toLowerCase() as Address;
  if (exit.assetMetadata.assetType !== 0 || exit.assetMetadata.metadata !== '0x') return refuse(`asset ${asset} has metadata the hub does not accept`);
  const destinations = participants.map(addressToDestination);
  for (const [i, a] of exit.allocations.entries()) {
    if (a.allocationType !== AllocationType.simple || a.metadata !== '0x' || !destinations.includes(a.destination.toLowerCase() as Address)) {
      return refuse(`allocation ${i} is not a plain payment to a participant`);
    }
  }
  const limit = policy.maxDepositPerUser[asset];
  if (limit === undefined) return refuse(`the hub does not serve asset ${asset}`);
  const hubAmount = exit.allocations.filter((a) => a.destination.toLowerCase() === destinations[hubIndex]).reduce((t, a) => t + a.amount, 0n);
  const locked = ctx.lockedWithUser[asset] ?? 0n;
  if (locked + hubAmount > limit) {
    const elsewhere = locked > 0n ? ` (with ${describeAmount(locked, asset)} already in its other channels with this user)` : '';
    return refuse(`the hub's deposit of ${describeAmount(hubAmount, asset)} is above its limit of ${describeAmount(limit, asset)} per user${elsewhere}`);
  }
  return { accept: true, user, asset, hubAmount };
}

/**
 * Channel statuses in which the hub's balance counts against its per-user limit: everything it
 * has agreed to and not yet been paid out of. A failed channel counts until it is closed (a close
 * pays back what was deposited). A proposal not yet joined does not count.
 */
const LOCKING: ReadonlySet<ChannelSummary['status']> = new Set(['funding', 'running', 'closing', 'failed']);

/** Per asset, the hub's balance in its open channels with `user` (optionally leaving one out). */
export function lockedWithUser(channels: readonly ChannelSummary[], hub: Address, user: Address, except?: string): Record<Address, bigint> {
  const locked: Record<Address, bigint> = {};
  const h = hub.toLowerCase();
  const u = user.toLowerCase();
  for (const c of channels) {
    if (c.channelId === except || !LOCKING.has(c.status)) continue;
    const participants = c.participants.map((a) => a.toLowerCase());
    const hubIndex = participants.indexOf(h);
    if (hubIndex < 0 || !participants.includes(u)) continue;
    const asset = c.asset.toLowerCase() as Address;
    locked[asset] = (locked[asset] ?? 0n) + (c.balances[hubIndex] ?? 0n);
  }
  return locked;
}

/**
 * A virtual channel proposed through the hub (engine `approveVirtualChannel`, role 'hub'): both
 * users served, and each ledger able to fund its guarantee — on the payer's ledger the payer
 * locks the amount, on the payee's ledger the hub does.
 */
export function checkVirtualChannel(
  policy: HubPolicy,
  p: { payer: Address; payee: Address; amount: bigint; challengeDuration: number; left?: { send: bigint; receive: bigint; status: string }; right?: { send: bigint; receive: bigint; status: string } },
): true | { reject: string } {
  for (const [who, address] of [['payer', p.payer], ['payee', p.payee]] as const) if (!isServed(policy, address)) return { reject: `the hub does not serve the ${who} ${address}` };
  if (p.challengeDuration < policy.challengeDuration.min || p.challengeDuration > policy.challengeDuration.max) {
    return { reject: `challenge duration ${p.challengeDuration} s is outside ${policy.challengeDuration.min}–${policy.challengeDuration.max} s` };
  }
  if (!p.left || p.left.status !== 'running') return { reject: `the payer ${p.payer} has no running budget with the hub` };
  if (!p.right || p.right.status !== 'running') return { reject: `the payee ${p.payee} has no running budget with the hub` };
  if (p.left.receive < p.amount) return { reject: `the payer's budget has ${p.left.receive} left, less than ${p.amount}` };
  if (p.right.send < p.amount) return { reject: `the hub can lock ${p.right.send} toward the payee, less than ${p.amount}` };
  return true;
}
