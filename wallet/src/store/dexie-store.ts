import type { Bytes32, Voucher } from '../../../core/src/index.ts';
import type { Channel } from '../../../core/src/protocol/channel.ts';
import type { SignedState } from '../../../core/src/signed-state.ts';
import type { ObjectiveRecord, Store, StoreChanges } from '../../../engine/src/store/types.ts';
import type { ChannelRecord, ChannelStateRow, WalletDatabase } from './db.ts';

/**
 * The engine's store over the wallet's Dexie database: a channel and its objective commit in one
 * transaction. A channel's signed states are rows of their own; a commit writes the states that
 * are new since this store last wrote or read the channel (the core never mutates a signed state,
 * so an unchanged state is the same object) and deletes the turns the channel no longer holds.
 * A virtual channel's latest voucher is one row of `vouchers`, replaced in place.
 */
export class DexieStore implements Store {
  /** The states of each channel as last written or read, by turn. */
  private readonly written = new Map<Bytes32, Map<number, SignedState>>();

  constructor(private readonly db: WalletDatabase) {}

  private assemble(record: ChannelRecord, rows: ChannelStateRow[]): Channel {
    const states = rows.map((r) => r.signedState).sort((a, b) => a.state.turnNum - b.state.turnNum);
    this.written.set(record.id, new Map(states.map((s) => [s.state.turnNum, s])));
    return { ...record.channel, states };
  }

  async getChannel(id: Bytes32): Promise<Channel | undefined> {
    return this.db.transaction('r', this.db.channels, this.db.channelStates, async () => {
      const record = await this.db.channels.get(id);
      return record && this.assemble(record, await this.db.channelStates.where('channelId').equals(id).toArray());
    });
  }

  async listChannels(): Promise<Channel[]> {
    return this.db.transaction('r', this.db.channels, this.db.channelStates, async () => {
      const [records, rows] = await Promise.all([this.db.channels.toArray(), this.db.channelStates.toArray()]);
      return records.map((r) => this.assemble(r, rows.filter((row) => row.channelId === r.id)));
    });
  }

  async getObjective(id: string): Promise<ObjectiveRecord | undefined> {
    return this.db.objectives.get(id);
  }

  async activeObjectives(): Promise<ObjectiveRecord[]> {
    return this.db.objectives.where('status').equals('active').toArray();
  }

  async getVoucher(channelId: Bytes32): Promise<Voucher | undefined> {
    return this.db.vouchers.get(channelId);
  }

  async commit(changes: StoreChanges): Promise<void> {
    const { channel, objective, voucher } = changes;
    let known: Map<number, SignedState> | undefined;
    let put: ChannelStateRow[] = [];
    let gone: [string, number][] = [];
    if (channel) {
      known = this.written.get(channel.id);
      if (!known) known = await this.storedStates(channel.id);
      const now = new Set(channel.states.map((s) => s.state.turnNum));
      put = channel.states.filter((s) => known!.get(s.state.turnNum) !== s).map((signedState) => ({ channelId: channel.id, turnNum: signedState.state.turnNum, signedState }));
      gone = [...known.keys()].filter((t) => !now.has(t)).map((t) => [channel.id, t]);
    }
    const isNew = channel !== undefined && !(await this.hasHeader(channel.id));
    if (!isNew && !objective) {
      // The hot paths (a channel update, a payment): one IndexedDB transaction on the states and
      // the voucher alone, without Dexie's transaction machinery, which costs more than the write.
      if (!this.db.isOpen()) await this.db.open();
      await this.writeRows(put, gone, voucher);
    } else {
      await this.db.transaction('rw', [this.db.channels, this.db.channelStates, this.db.objectives, this.db.vouchers], async () => {
        if (channel && isNew) await this.db.channels.put({ id: channel.id, channel: { ...channel, states: [] } });
        if (put.length) await this.db.channelStates.bulkPut(put);
        if (gone.length) await this.db.channelStates.bulkDelete(gone);
        if (objective) await this.db.objectives.put(objective);
        if (voucher) await this.db.vouchers.put(voucher);
      });
    }
    if (channel) {
      this.headers.add(channel.id);
      this.written.set(channel.id, new Map(channel.states.map((s) => [s.state.turnNum, s])));
    }
  }

  private writeRows(put: ChannelStateRow[], gone: [string, number][], voucher: Voucher | undefined): Promise<void> {
    if (!put.length && !gone.length && !voucher) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const stores = [...(put.length || gone.length ? ['channelStates'] : []), ...(voucher ? ['vouchers'] : [])];
      const tx = this.db.backendDB().transaction(stores, 'readwrite');
      if (put.length || gone.length) {
        const table = tx.objectStore('channelStates');
        for (const row of put) table.put(row);
        for (const key of gone) table.delete(key);
      }
      if (voucher) tx.objectStore('vouchers').put(voucher);
      tx.oncomplete = () => resolve();
      tx.onerror = () => reject(tx.error ?? new Error('the channel store transaction failed'));
      tx.onabort = () => reject(tx.error ?? new Error('the channel store transaction was aborted'));
    });
  }

  private readonly headers = new Set<Bytes32>();

  private async hasHeader(id: Bytes32): Promise<boolean> {
    if (this.headers.has(id)) return true;
    const exists = (await this.db.channels.where('id').equals(id).count()) > 0;
    if (exists) this.headers.add(id);
    return exists;
  }

  private async storedStates(id: Bytes32): Promise<Map<number, SignedState>> {
    const rows = await this.db.channelStates.where('channelId').equals(id).toArray();
    return new Map(rows.map((r) => [r.turnNum, r.signedState]));
  }
}
