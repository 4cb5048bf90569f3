import type { Bytes32 } from '../../../core/src/index.ts';
import type { Channel } from '../../../core/src/protocol/channel.ts';

export type ObjectiveType = 'DirectFunding' | 'Update' | 'DirectDefunding';
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

/**
 * The engine's store boundary. `commit` writes a channel and an objective together, atomically:
 * the engine commits before it performs any effect of a step, so what is stored always covers
 * what has been sent or submitted.
 */
export interface Store {
  getChannel(id: Bytes32): Promise<Channel | undefined>;
  listChannels(): Promise<Channel[]>;
  getObjective(id: string): Promise<ObjectiveRecord | undefined>;
  activeObjectives(): Promise<ObjectiveRecord[]>;
  commit(changes: { channel?: Channel; objective?: ObjectiveRecord }): Promise<void>;
}
