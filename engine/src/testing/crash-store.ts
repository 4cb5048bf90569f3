/**
 * A store that can crash: it wraps a party's real durable store (the wallet's DexieStore, the
 * hub's FileStore, a MemoryStore kept across engines), counts and labels every commit, and at a
 * chosen commit "crashes": from then on no commit reaches the real store and none is
 * acknowledged, so the engine above it can perform no effect gated on them. Two crash modes:
 *
 *   - `durable`: the chosen commit reaches the real store and is durable, but the engine never
 *     hears so — the worst case: the state is stored, the message or transaction it gates is not
 *     sent;
 *   - `lost`: the chosen commit never reaches the real store (nor does anything after it).
 *
 * The engine is not mocked: it runs unchanged over this store. What the test does at the crash is
 * what a reload does: drop the engine and start a new one over the same real store.
 */
import { LEDGER_APP_DATA } from '../ledger-manager.ts';
import type { ObjectiveRecord, Store, StoreChanges } from '../store/types.ts';

export type CrashMode = 'durable' | 'lost';

/** Where to crash: the `occurrence`-th commit (1-based) labelled `label` (see `commitLabel`). */
export interface CrashPoint {
  label: string;
  occurrence: number;
  mode: CrashMode;
}

/**
 * What a commit is, as a step of the protocol: `<objective type>:<state>` for an objective's step
 * with the kinds of effects it gates (`DirectFunding:funding[deposit]`); `ledger:…` for a ledger
 * state the ledger manager commits, `update:…` for a direct channel's update, `channel:…` for
 * another channel-only commit — each `:proposed` (not yet signed by all) or `:supported`; and
 * `payment` for a voucher alone.
 */
export function commitLabel(changes: StoreChanges): string {
  if (changes.objective) return objectiveLabel(changes.objective);
  if (changes.channel) {
    const last = changes.channel.states[changes.channel.states.length - 1];
    const kind = last?.state.appData === LEDGER_APP_DATA ? 'ledger' : changes.channel.fixedPart.participants.length === 2 ? 'update' : 'channel';
    return `${kind}:${last?.signatures.every((s) => s !== null) ? 'supported' : 'proposed'}`;
  }
  if (changes.voucher) return 'payment';
  return 'empty';
}

function objectiveLabel(o: ObjectiveRecord): string {
  const snapshot = o.snapshot as { value?: unknown; context?: { outbox?: { kind: string }[] } };
  const value = typeof snapshot.value === 'string' ? snapshot.value : JSON.stringify(snapshot.value);
  // The effects the step gates (a deposit, a conclusion, messages) tell its commits apart.
  const effects = [...new Set((snapshot.context?.outbox ?? []).map((e) => e.kind))].sort();
  return `${o.type}:${value}${effects.length ? `[${effects.join(',')}]` : ''}`;
}

export class CrashPointStore implements Store {
  /** Labels of the commits made through this store (and the stores before it, when `history` is shared). */
  readonly history: string[];
  private crashed = false;
  private readonly inFlight = new Set<Promise<unknown>>();
  private point: CrashPoint | undefined;

  /**
   * `onCrash` runs (in a later microtask) once the crash point is reached: the test then drops
   * the engine and starts a new one. `history` is shared by the stores a party uses across
   * restarts, so occurrences count over the whole scenario.
   */
  constructor(
    private readonly inner: Store,
    opts: { point?: CrashPoint; history?: string[]; onCrash?: (label: string) => void } = {},
  ) {
    this.history = opts.history ?? [];
    this.point = opts.point;
    this.onCrash = opts.onCrash;
  }

  private readonly onCrash: ((label: string) => void) | undefined;

  /** Whether the crash point was reached. */
  get hasCrashed(): boolean {
    return this.crashed;
  }

  getChannel(...a: Parameters<Store['getChannel']>) {
    return this.inner.getChannel(...a);
  }
  listChannels() {
    return this.inner.listChannels();
  }
  getObjective(...a: Parameters<Store['getObjective']>) {
    return this.inner.getObjective(...a);
  }
  activeObjectives() {
    return this.inner.activeObjectives();
  }
  getVoucher(...a: Parameters<Store['getVoucher']>) {
    return this.inner.getVoucher(...a);
  }

  commit(changes: StoreChanges): Promise<void> {
    if (this.crashed) return new Promise(() => {}); // never durable, never acknowledged
    const label = commitLabel(changes);
    this.history.push(label);
    const p = this.point;
    const hit = p !== undefined && p.label === label && this.history.filter((l) => l === label).length === p.occurrence;
    if (!hit) return this.track(this.inner.commit(changes));
    this.crashed = true;
    this.point = undefined;
    const crash = () => queueMicrotask(() => this.onCrash?.(label));
    if (p.mode === 'lost') {
      crash();
    } else {
      // Durable, but the acknowledgement is lost with the process.
      void this.track(this.inner.commit(changes)).then(crash, crash);
    }
    return new Promise(() => {});
  }

  /** Resolves once every commit handed to the real store has settled (it then holds what a crash left). */
  async settled(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.inFlight.add(p);
    const done = () => this.inFlight.delete(p);
    p.then(done, done);
    return p;
  }
}
