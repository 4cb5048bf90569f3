import type { Bytes32, Voucher } from '../../../core/src/index.ts';
import type { Channel } from '../../../core/src/protocol/channel.ts';
import type { ObjectiveRecord, Store, StoreChanges } from './types.ts';

/** A Store in memory (structured clones in and out, as a real store would give). For tests and tools. */
export class MemoryStore implements Store {
  readonly channels = new Map<Bytes32, Channel>();
  readonly objectives = new Map<string, ObjectiveRecord>();
  readonly vouchers = new Map<Bytes32, Voucher>();
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
  async getVoucher(channelId: Bytes32) {
    const v = this.vouchers.get(channelId);
    return v && structuredClone(v);
  }
  async commit(changes: StoreChanges) {
    if (changes.channel) this.channels.set(changes.channel.id, structuredClone(changes.channel));
    if (changes.objective) this.objectives.set(changes.objective.id, structuredClone(changes.objective));
    if (changes.voucher) this.vouchers.set(changes.voucher.channelId, structuredClone(changes.voucher));
    this.commits++;
  }
}
