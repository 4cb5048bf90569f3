import type { Bytes32, Voucher } from '../../../core/src/index.ts';
import type { Channel } from '../../../core/src/protocol/channel.ts';

export type ObjectiveType = 'DirectFunding' | 'Update' | 'DirectDefunding' | 'VirtualFund' | 'VirtualDefund' | 'Challenge' | 'VirtualExit';
export type ObjectiveStatus = 'active' | 'done' | 'rejected' | 'refused' | 'failed';

/** An objective as stored: its xstate snapshot (which holds its own copy of the channel). */
export interface ObjectiveRecord {
  id: string;
  type: ObjectiveType;
  channelId: Bytes32;
  status: ObjectiveStatus;
  /** `actor.getPersistedSnapshot()`: plain data (bigints included; structured-clone safe). */
  snapshot: unknown;
  error?: string;
  updatedAt: number;
}

/** What one `commit` writes, atomically: any of a channel, an objective and a voucher. */
export interface StoreChanges {
  channel?: Channel;
  objective?: ObjectiveRecord;
  /**
   * The latest voucher of a virtual payment channel (by `voucher.channelId`), replacing the one
   * stored: the payer's before it is sent, the payee's before the payment is reported. Vouchers
   * are cumulative, so only the largest is kept; the engine never commits a smaller one.
   */
  voucher?: Voucher;
}

/**
 * The engine's store boundary. `commit` writes a channel, an objective and a voucher together,
 * atomically: the engine commits before it performs any effect of a step, so what is stored
 * always covers what has been sent or submitted (or reported).
 */
export interface Store {
  getChannel(id: Bytes32): Promise<Channel | undefined>;
  listChannels(): Promise<Channel[]>;
  getObjective(id: string): Promise<ObjectiveRecord | undefined>;
  activeObjectives(): Promise<ObjectiveRecord[]>;
  /** The latest voucher committed for a virtual payment channel. */
  getVoucher(channelId: Bytes32): Promise<Voucher | undefined>;
  commit(changes: StoreChanges): Promise<void>;
}
