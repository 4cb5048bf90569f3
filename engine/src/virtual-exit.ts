import { type Bytes32, bytesToHex, fingerprint, hashOutcome } from '../../core/src/index.ts';
import type { ExitTransaction, VirtualExitContext, VirtualExitEvent } from '../../core/src/objectives/virtual-exit.ts';
import { ChainError } from './chain/errors.ts';
import type { ChainService, OnChainStatus } from './chain/types.ts';

/**
 * Performs the transactions of the budget exit (core/src/objectives/virtual-exit.ts) for the
 * engine. Before any transaction it reads the channel's on-chain status and submits only when
 * the chain still lacks what it does — a challenge not yet registered (or older than ours), a
 * reclaim whose source outcome is still the registered one, a transfer of a ledger that still
 * holds funds by the registered outcome — so one asked again after a reload sends nothing twice.
 * One transaction per objective and key is in flight at a time in this process. After each, and
 * on every poll, it reports the statuses (and the ledger's payout) back as events.
 */
export class ExitRunner {
  private readonly inFlight = new Set<string>();

  constructor(
    private readonly chain: ChainService,
    /** Delivers an event to the objective (through the engine's queue). */
    private readonly deliver: (objectiveId: string, event: VirtualExitEvent) => Promise<void>,
    private readonly context: (objectiveId: string) => VirtualExitContext | undefined,
    private readonly log: (event: string, fields: Record<string, string | number | boolean | undefined>) => void,
  ) {}

  static keyOf(tx: ExitTransaction): string {
    return tx.type === 'transfer' ? 'transfer' : `${tx.type}:${tx.channelId}`;
  }

  /** Whether the transaction is still needed, by the status of the channel it acts on. */
  static needed(tx: ExitTransaction, s: OnChainStatus, held: bigint | undefined): boolean {
    const finalized = s.finalizesAt > 0 && s.finalizesAt <= s.blockTimestamp;
    if (tx.type === 'challenge') {
      if (finalized) return false;
      const turn = tx.candidate.state.turnNum;
      return s.finalizesAt === 0 ? s.turnNumRecord <= turn : s.turnNumRecord < turn;
    }
    if (tx.type === 'reclaim') return finalized && s.fingerprint === fingerprint(tx.sourceStateHash, bytesToHex(hashOutcome(tx.sourceOutcome)));
    return finalized && s.fingerprint === fingerprint(tx.stateHash, bytesToHex(hashOutcome(tx.outcome))) && (held ?? 0n) > 0n;
  }

  /** Submits `tx` if the chain still needs it, then reports what the chain shows. */
  async perform(objectiveId: string, tx: ExitTransaction): Promise<void> {
    const key = ExitRunner.keyOf(tx);
    const flight = `${objectiveId}|${key}`;
    if (this.inFlight.has(flight)) return;
    this.inFlight.add(flight);
    try {
      const on = tx.type === 'reclaim' ? tx.sourceChannelId : tx.channelId;
      const status = await this.chain.statusOf(on);
      const held = tx.type === 'transfer' ? await this.heldBy(tx.channelId, tx.outcome.map((e) => e.asset)) : undefined;
      if (!ExitRunner.needed(tx, status, held)) {
        this.log('exit.skipped', { objective: objectiveId, tx: key, reason: 'already on chain' });
      } else {
        if (tx.type === 'challenge') {
          await this.chain.challenge({ candidate: tx.candidate, proof: tx.proof, challengerSig: tx.challengerSig });
        } else if (tx.type === 'reclaim') {
          if (!this.chain.reclaim) throw new ChainError('reverted', 'this chain service cannot reclaim a guarantee');
          const { type: _type, channelId: _v, ...args } = tx;
          await this.chain.reclaim(args);
        } else {
          await this.chain.transferAllAssets({ channelId: tx.channelId, outcome: tx.outcome, stateHash: tx.stateHash });
        }
        this.log('exit.submitted', { objective: objectiveId, tx: key });
      }
    } catch (err) {
      const error = err instanceof Error ? err.message : String(err);
      this.log('exit.tx-failed', { objective: objectiveId, tx: key, reason: error.slice(0, 200) });
      this.inFlight.delete(flight);
      await this.deliver(objectiveId, { type: 'TX_FAILED', key, error });
      return;
    }
    this.inFlight.delete(flight);
    await this.poll(objectiveId);
  }

  /** Reads every channel of the exit and reports it; the ledger paid out ends the exit. */
  async poll(objectiveId: string): Promise<void> {
    const ctx = this.context(objectiveId);
    if (!ctx) return;
    try {
      for (const t of [ctx.ledger, ...ctx.virtuals]) {
        const s = await this.chain.statusOf(t.channelId);
        // A challenge registered that the exit cannot place (a redemption of a voucher smaller than
        // ours, registered before we watched): learn its state from the channel's logs.
        if (s.finalizesAt > 0 && !t.registered && this.chain.registeredChallenge) {
          const r = await this.chain.registeredChallenge(t.channelId);
          if (r) await this.deliver(objectiveId, { type: 'REGISTERED', channelId: t.channelId, state: r.candidate, finalizesAt: r.finalizesAt });
        }
        await this.deliver(objectiveId, { type: 'STATUS', channelId: t.channelId, turnNumRecord: s.turnNumRecord, finalizesAt: s.finalizesAt, fingerprint: s.fingerprint, now: s.blockTimestamp });
      }
      const after = this.context(objectiveId);
      if (after?.stage === 'withdrawing') {
        const held = await this.heldBy(after.ledger.channelId, after.ledger.candidate.state.outcome.map((e) => e.asset));
        if (held === 0n) await this.deliver(objectiveId, { type: 'WITHDRAWN' });
      }
    } catch (err) {
      this.log('exit.poll-failed', { objective: objectiveId, reason: (err instanceof Error ? err.message : String(err)).slice(0, 200) });
    }
  }

  private async heldBy(channelId: Bytes32, assets: `0x${string}`[]): Promise<bigint> {
    let total = 0n;
    for (const a of new Set(assets)) total += await this.chain.getHoldings(a, channelId);
    return total;
  }
}
