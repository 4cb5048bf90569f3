/**
 * Adjudicator events by polling `eth_getLogs`: one poller per chain service, shared by all its
 * watchers. Each watcher has a cursor (the next block it has not seen); a poll reads the head,
 * fetches the logs of the confirmed blocks past the lowest cursor (filtered by the adjudicator
 * address, the watched event topics and the union of the watched channel ids), delivers each
 * watcher the logs of its own channels past its own cursor, and moves the cursors. Block ranges
 * never overlap for a watcher, so each (txHash, logIndex) is delivered to it once.
 * RPC failures are reported and retried with backoff; nothing is thrown out of the timer.
 */
import { Interface, type Log, type Provider, type Result } from 'ethers';
import type { Address, AllocationType, AssetType, Bytes32, Exit, Hex } from '../../../core/src/index.ts';
import { ADJUDICATOR_ABI, WATCHED_EVENTS } from './abi.ts';
import type { ChainEvent, WatchOptions } from './types.ts';

export interface EventPollerOptions {
  provider: Provider;
  adjudicator: string;
  /** Deliver an event once its block has this many confirmations (1 = mined). */
  confirmations: number;
  pollIntervalMs: number;
  /** Default start of a new watcher: this many blocks before the confirmed head it first sees. */
  lookbackBlocks: number;
  /** Most blocks one `eth_getLogs` call spans (providers cap it). */
  maxBlockRange: number;
  /** Called with every failure of a poll (an RPC error, mapped by `classify`) or of a listener. */
  onError?: ((error: unknown) => void) | undefined;
  /** Called after each successful poll, with the head it read and the confirmed head it processed up to. */
  onPoll?: ((progress: { head: number; confirmedHead: number }) => void) | undefined;
  classify(e: unknown): unknown;
}

interface Watcher {
  channelIds: () => Iterable<Bytes32>;
  listener: (event: ChainEvent) => void;
  fromBlock: number | undefined;
  onError: ((error: unknown) => void) | undefined;
  /** The next block not yet delivered; set at the first poll that sees this watcher. */
  cursor: number | undefined;
}

/** Most channel ids in one getLogs topic filter. */
const MAX_TOPICS_PER_QUERY = 200;
const MAX_BACKOFF_MS = 5_000;

const iface = new Interface(ADJUDICATOR_ABI);
const EVENT_TOPICS: string[] = WATCHED_EVENTS.map((name) => iface.getEvent(name)!.topicHash);

const lower = <T extends Hex>(h: string): T => h.toLowerCase() as T;

function toExit(outcome: Result): Exit {
  return Array.from(outcome, (e: Result) => ({
    asset: lower<Address>(e['asset'] as string),
    assetMetadata: { assetType: Number(e['assetMetadata']['assetType']) as AssetType, metadata: lower<Hex>(e['assetMetadata']['metadata'] as string) },
    allocations: Array.from(e['allocations'] as Result, (a: Result) => ({
      destination: lower<Bytes32>(a['destination'] as string),
      amount: a['amount'] as bigint,
      allocationType: Number(a['allocationType']) as AllocationType,
      metadata: lower<Hex>(a['metadata'] as string),
    })),
  }));
}

/** Decodes one adjudicator log into a ChainEvent; undefined for events the service does not watch. */
export function decodeAdjudicatorLog(log: Pick<Log, 'topics' | 'data' | 'blockNumber' | 'transactionHash' | 'index'>): ChainEvent | undefined {
  const parsed = iface.parseLog({ topics: [...log.topics], data: log.data });
  if (!parsed) return undefined;
  const base = { channelId: lower<Bytes32>(log.topics[1]!), blockNumber: log.blockNumber, txHash: lower<Hex>(log.transactionHash), logIndex: log.index };
  const a = parsed.args;
  switch (parsed.name) {
    case 'Deposited':
      return { type: 'Deposited', ...base, asset: lower<Address>(a['asset'] as string), destinationHoldings: a['destinationHoldings'] as bigint };
    case 'AllocationUpdated':
      return {
        type: 'AllocationUpdated',
        ...base,
        assetIndex: Number(a['assetIndex']),
        initialHoldings: a['initialHoldings'] as bigint,
        finalHoldings: a['finalHoldings'] as bigint,
      };
    case 'Concluded':
      return { type: 'Concluded', ...base, finalizedAt: Number(a['finalizesAt']) };
    case 'ChallengeRegistered': {
      const vp = (a['candidate'] as Result)['variablePart'] as Result;
      const candidate = { turnNum: Number(vp['turnNum']), isFinal: vp['isFinal'] as boolean, appData: lower<Hex>(vp['appData'] as string), outcome: toExit(vp['outcome'] as Result) };
      return { type: 'ChallengeRegistered', ...base, finalizesAt: Number(a['finalizesAt']), candidateTurnNum: candidate.turnNum, candidate };
    }
    case 'ChallengeCleared':
      return { type: 'ChallengeCleared', ...base, newTurnNumRecord: Number(a['newTurnNumRecord']) };
    default:
      return undefined;
  }
}

export class EventPoller {
  readonly #opts: EventPollerOptions;
  readonly #watchers = new Set<Watcher>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #busy = false;
  #failures = 0;

  constructor(opts: EventPollerOptions) {
    this.#opts = opts;
  }

  watch(channelIds: () => Iterable<Bytes32>, listener: (event: ChainEvent) => void, opts: WatchOptions = {}): () => void {
    const w: Watcher = { channelIds, listener, fromBlock: opts.fromBlock, onError: opts.onError, cursor: undefined };
    this.#watchers.add(w);
    this.#schedule(0);
    return () => {
      this.#watchers.delete(w);
      if (this.#watchers.size === 0 && this.#timer !== undefined) {
        clearTimeout(this.#timer);
        this.#timer = undefined;
      }
    };
  }

  /** True while a watcher is subscribed (the poller runs). */
  get active(): boolean {
    return this.#watchers.size > 0;
  }

  #schedule(delayMs: number): void {
    if (this.#timer !== undefined || this.#busy || this.#watchers.size === 0) return;
    this.#timer = setTimeout(() => void this.#tick(), delayMs);
  }

  #report(e: unknown, watchers: Iterable<Watcher> = []): void {
    for (const f of [this.#opts.onError, ...[...watchers].map((w) => w.onError)]) {
      try {
        f?.(e);
      } catch {
        // an onError that throws must not stop the poller
      }
    }
  }

  async #tick(): Promise<void> {
    this.#timer = undefined;
    if (this.#watchers.size === 0) return;
    this.#busy = true;
    try {
      await this.#pollOnce();
      this.#failures = 0;
    } catch (e) {
      this.#failures++;
      this.#report(this.#opts.classify(e), this.#watchers);
    } finally {
      this.#busy = false;
    }
    const { pollIntervalMs } = this.#opts;
    const fresh = [...this.#watchers].some((w) => w.cursor === undefined);
    const delay = this.#failures > 0 ? Math.min(pollIntervalMs * 2 ** Math.min(this.#failures, 8), Math.max(MAX_BACKOFF_MS, pollIntervalMs)) : fresh ? 0 : pollIntervalMs;
    this.#schedule(delay);
  }

  async #pollOnce(): Promise<void> {
    const { provider, confirmations, lookbackBlocks, maxBlockRange } = this.#opts;
    const head = await provider.getBlockNumber();
    const confirmed = head - (confirmations - 1);
    for (const w of this.#watchers) w.cursor ??= w.fromBlock ?? Math.max(0, confirmed + 1 - lookbackBlocks);

    for (;;) {
      const due = [...this.#watchers].filter((w) => w.cursor! <= confirmed);
      if (due.length === 0) break;
      const fromBlock = Math.min(...due.map((w) => w.cursor!));
      const toBlock = Math.min(confirmed, fromBlock + maxBlockRange - 1);
      const inRange = due.filter((w) => w.cursor! <= toBlock);
      const idsOf = new Map<Watcher, Set<string>>();
      const union = new Set<string>();
      for (const w of inRange) {
        const ids = new Set<string>();
        for (const id of w.channelIds()) ids.add(id.toLowerCase());
        idsOf.set(w, ids);
        for (const id of ids) union.add(id);
      }
      const logs = union.size === 0 ? [] : await this.#getLogs(fromBlock, toBlock, [...union]);
      for (const w of inRange) {
        const ids = idsOf.get(w)!;
        const seen = new Set<string>();
        for (const log of logs) {
          if (!this.#watchers.has(w)) break;
          if (log.blockNumber < w.cursor! || !ids.has(log.topics[1]!.toLowerCase())) continue;
          const key = `${log.transactionHash}:${log.index}`;
          if (seen.has(key)) continue;
          seen.add(key);
          let event: ChainEvent | undefined;
          try {
            event = decodeAdjudicatorLog(log);
          } catch (e) {
            this.#report(e);
            continue;
          }
          if (!event) continue;
          try {
            w.listener(event);
          } catch (e) {
            this.#report(e);
          }
        }
        w.cursor = toBlock + 1;
      }
      if (toBlock >= confirmed) break;
    }
    try {
      this.#opts.onPoll?.({ head, confirmedHead: confirmed });
    } catch (e) {
      this.#report(e);
    }
  }

  async #getLogs(fromBlock: number, toBlock: number, channelIds: string[]): Promise<Log[]> {
    const all: Log[] = [];
    for (let i = 0; i < channelIds.length; i += MAX_TOPICS_PER_QUERY) {
      const logs = await this.#opts.provider.getLogs({
        address: this.#opts.adjudicator,
        fromBlock,
        toBlock,
        topics: [EVENT_TOPICS, channelIds.slice(i, i + MAX_TOPICS_PER_QUERY)],
      });
      all.push(...logs);
    }
    return all.sort((x, y) => x.blockNumber - y.blockNumber || x.index - y.index);
  }
}
