import type { Bytes32 } from '../../../core/src/index.ts';
import type { Channel } from '../../../core/src/protocol/channel.ts';
import type { ObjectiveRecord, Store } from './types.ts';

/** A Store in memory (structured clones in and out, as a real store would give). For tests and tools. */
export class MemoryStore implements Store {
  readonly channels = new Map<Bytes32, Channel>();
  readonly objectives = new Map<string, ObjectiveRecord>();
  commits = 0;

  async getChannel(id: Bytes32) {
    const c = this.channels.get(id);
    return c && structuredClone(c);
  }
  async listChannels() {
    return [...this.channels.values()].map((c) => structuredClone(c));
  }
  async getObjective(id: string) {
    const o = this.objectives.get(id);
    return o && structuredClone(o);
  }
  async activeObjectives() {
    return [...this.objectives.values()].filter((o) => o.status === 'active').map((o) => structuredClone(o));
  }
  async commit(changes: { channel?: Channel; objective?: ObjectiveRecord }) {
    if (changes.channel) this.channels.set(changes.channel.id, structuredClone(changes.channel));
    if (changes.objective) this.objectives.set(changes.objective.id, structuredClone(changes.objective));
    this.commits++;
  }
}
