import type { Bytes32 } from '../../../core/src/index.ts';
import type { Channel } from '../../../core/src/protocol/channel.ts';
import type { ObjectiveRecord, Store } from './types.ts';

/**
 * The engine's view of its store: every channel read once and then kept in memory, written
 * through on each commit. The engine is the only writer of its store (one engine per wallet or
 * hub), so the copy is never stale, and the hot path — a channel update — reads nothing.
 */
export class ChannelCache implements Store {
  private readonly channels = new Map<Bytes32, Channel>();
  private loadedAll = false;

  constructor(private readonly store: Store) {}

  async getChannel(id: Bytes32): Promise<Channel | undefined> {
    const hit = this.channels.get(id);
    if (hit || this.loadedAll) return hit;
    const c = await this.store.getChannel(id);
    if (c) this.channels.set(id, c);
    return c;
  }

  async listChannels(): Promise<Channel[]> {
    if (!this.loadedAll) {
      for (const c of await this.store.listChannels()) if (!this.channels.has(c.id)) this.channels.set(c.id, c);
      this.loadedAll = true;
    }
    return [...this.channels.values()];
  }

  getObjective(id: string): Promise<ObjectiveRecord | undefined> {
    return this.store.getObjective(id);
  }

  activeObjectives(): Promise<ObjectiveRecord[]> {
    return this.store.activeObjectives();
  }

  async commit(changes: { channel?: Channel; objective?: ObjectiveRecord }): Promise<void> {
    await this.store.commit(changes);
    if (changes.channel) this.channels.set(changes.channel.id, changes.channel);
  }
}
