import type { Bytes32 } from '../../../core/src/index.ts';
import type { Channel } from '../../../core/src/protocol/channel.ts';
import type { ObjectiveRecord, Store } from '../../../engine/src/store/types.ts';
import type { WalletDatabase } from './db.ts';

/** The engine's store over the wallet's Dexie database: a channel and its objective commit in one transaction. */
export class DexieStore implements Store {
  constructor(private readonly db: WalletDatabase) {}

  async getChannel(id: Bytes32): Promise<Channel | undefined> {
    return (await this.db.channels.get(id))?.channel;
  }

  async listChannels(): Promise<Channel[]> {
    return (await this.db.channels.toArray()).map((r) => r.channel);
  }

  async getObjective(id: string): Promise<ObjectiveRecord | undefined> {
    return this.db.objectives.get(id);
  }

  async activeObjectives(): Promise<ObjectiveRecord[]> {
    return this.db.objectives.where('status').equals('active').toArray();
  }

  async commit(changes: { channel?: Channel; objective?: ObjectiveRecord }): Promise<void> {
    await this.db.transaction('rw', this.db.channels, this.db.objectives, async () => {
      if (changes.channel) await this.db.channels.put({ id: changes.channel.id, channel: changes.channel });
      if (changes.objective) await this.db.objectives.put(changes.objective);
    });
  }
}
