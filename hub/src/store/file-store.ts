/**
 * The hub's durable store: the engine's `Store` over a `RecordLog` (record-log.ts) in a directory
 * of its own — a journal synced before each commit resolves (group-committed), snapshots on
 * compaction, every record also in memory. No native code: plain files and `fdatasync`.
 *
 * Channels live in table `channel` (by channel id), objectives in table `objective` (by objective
 * id), and each virtual payment channel's latest voucher in table `voucher` (by channel id). Other
 * record kinds are new tables on the same `records` log: no format change, and a commit may span
 * tables.
 *
 * Reads and commits copy, as `MemoryStore` does: a caller can neither change a stored record
 * through a value it read nor through one it committed (a commit encodes the value at once; a
 * read decodes a fresh one).
 */
import type { Bytes32, Voucher } from '../../../core/src/index.ts';
import type { Channel } from '../../../core/src/protocol/channel.ts';
import type { ObjectiveRecord, Store, StoreChanges } from '../../../engine/src/store/types.ts';
import { type RecordLogOptions, type RecordOp, RecordLog } from './record-log.ts';

export { StoreCorruptError, StoreClosedError, type RecordOp, type RecoveryReport, type StoreLog } from './record-log.ts';
export { StoreValueError } from './codec.ts';
export { StoreLockedError } from './lock.ts';

export const CHANNEL_TABLE = 'channel';
export const OBJECTIVE_TABLE = 'objective';
export const VOUCHER_TABLE = 'voucher';

export type FileStoreOptions = Omit<RecordLogOptions, 'onApply'>;

export class FileStore implements Store {
  /** Ids of objectives whose status is `active`, kept as changes are applied. */
  private readonly active = new Set<string>();
  private records!: RecordLog;

  private constructor() {}

  /** Opens the store in `dir` (created if missing): takes its lock, then recovers from disk. */
  static async open(dir: string, options: FileStoreOptions = {}): Promise<FileStore> {
    const store = new FileStore();
    store.records = await RecordLog.open(dir, {
      ...options,
      onApply: (table, id, stored) => {
        if (table !== OBJECTIVE_TABLE) return;
        // `status` is a string, which the stored form keeps as it is.
        if ((stored as { status?: unknown } | undefined)?.status === 'active') store.active.add(id);
        else store.active.delete(id);
      },
    });
    return store;
  }

  /** The record layer, for record kinds beyond channels and objectives. */
  get log(): RecordLog {
    return this.records;
  }

  get recovery() {
    return this.records.recovery;
  }

  get stats() {
    return this.records.stats;
  }

  // Each read decodes a fresh copy from the stored form.

  async getChannel(id: Bytes32): Promise<Channel | undefined> {
    return this.records.get(CHANNEL_TABLE, id) as Channel | undefined;
  }

  async listChannels(): Promise<Channel[]> {
    return this.records.values(CHANNEL_TABLE) as Channel[];
  }

  async getObjective(id: string): Promise<ObjectiveRecord | undefined> {
    return this.records.get(OBJECTIVE_TABLE, id) as ObjectiveRecord | undefined;
  }

  async activeObjectives(): Promise<ObjectiveRecord[]> {
    return [...this.active].map((id) => this.records.get(OBJECTIVE_TABLE, id) as ObjectiveRecord);
  }

  async getVoucher(channelId: Bytes32): Promise<Voucher | undefined> {
    return this.records.get(VOUCHER_TABLE, channelId) as Voucher | undefined;
  }

  /** The channel, the objective and the voucher in one transaction; resolves once all are on disk. */
  commit(changes: StoreChanges): Promise<void> {
    const ops: RecordOp[] = [];
    if (changes.channel) {
      if (typeof changes.channel.id !== 'string') return Promise.reject(new TypeError('commit: the channel has no id'));
      ops.push({ table: CHANNEL_TABLE, id: changes.channel.id, value: changes.channel });
    }
    if (changes.objective) {
      if (typeof changes.objective.id !== 'string') return Promise.reject(new TypeError('commit: the objective has no id'));
      ops.push({ table: OBJECTIVE_TABLE, id: changes.objective.id, value: changes.objective });
    }
    if (changes.voucher) {
      if (typeof changes.voucher.channelId !== 'string') return Promise.reject(new TypeError('commit: the voucher has no channel id'));
      ops.push({ table: VOUCHER_TABLE, id: changes.voucher.channelId, value: changes.voucher });
    }
    return this.records.commit(ops);
  }

  /** Writes a snapshot now and drops the journals it covers. */
  compact(): Promise<void> {
    return this.records.compact();
  }

  /** Finishes queued commits, closes the files and releases the directory's lock. */
  close(): Promise<void> {
    return this.records.close();
  }
}
