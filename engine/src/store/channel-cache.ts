import type { Bytes32, Voucher } from '../../../core/src/index.ts';
import type { Channel } from '../../../core/src/protocol/channel.ts';
import type { ObjectiveRecord, Store, StoreChanges } from './types.ts';

/**
 * The engine's view of its store: every channel read once and then kept in memory, written
 * through on each commit. The engine is the only writer of its store (one engine per wallet or
 * hub), so the copy is never stale, and the hot path — a channel update — reads nothing.
 */
export class ChannelCache implements Store {
  private readonly channels = new Map<Bytes32, Channel>();
  private loadedAll = false;
  /** Channels dropped from memory (finished ones the engine no longer needs at hand): read from the store when asked for. */
  private readonly evicted = new Set<Bytes32>();

  constructor(private readonly store: Store) {}

  async getChannel(id: Bytes32): Promise<Channel | undefined> {
    const hit = this.channels.get(id);
    if (hit) return hit;
    if (this.evicted.has(id)) return this.store.getChannel(id);
    if (this.loadedAll) return undefined;
    const c = await this.store.getChannel(id);
    if (c) this.channels.set(id, c);
    return c;
  }

  /** Every channel except evicted ones (see `evictedIds`). */
  async listChannels(): Promise<Channel[]> {
    if (!this.loadedAll) {
      for (const c of await this.store.listChannels()) if (!this.channels.has(c.id) && !this.evicted.has(c.id)) this.channels.set(c.id, c);
      this.loadedAll = true;
    }
    return [...this.channels.values()];
  }

  /** The channels dropped from memory (each still readable with `getChannel`). */
  evictedIds(): Bytes32[] {
    return [...this.evicted];
  }

  /** The channels held in memory (no store read): every channel not evicted, once `listChannels` has run. */
  cachedChannels(): IterableIterator<Channel> {
    return this.channels.values();
  }

  /** Drops a channel from memory; later reads of it go to the store. */
  evict(id: Bytes32): void {
    if (this.channels.delete(id)) this.evicted.add(id);
  }

  getObjective(id: string): Promise<ObjectiveRecord | undefined> {
    return this.store.getObjective(id);
  }

  activeObjectives(): Promise<ObjectiveRecord[]> {
    return this.store.activeObjectives();
  }

  /** Vouchers are not cached here: the engine keeps each running channel's voucher book in memory. */
  getVoucher(channelId: Bytes32): Promise<Voucher | undefined> {
    return this.store.getVoucher(channelId);
  }

  /** The cached channel without a read (undefined when not read yet). */
  cached(id: Bytes32): Channel | undefined {
    return this.channels.get(id);
  }

  /**
   * The copy here is written at once, before the store has the commit: the engine reads its own
   * writes while the store catches up (it performs nothing a commit covers until it is durable).
   */
  commit(changes: StoreChanges): Promise<void> {
    if (changes.channel) {
      this.channels.set(changes.channel.id, changes.channel);
      this.evicted.delete(changes.channel.id);
    }
    return this.store.commit(changes);
  }
}
