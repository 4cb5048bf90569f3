import { Dexie, type EntityTable, type Table } from 'dexie';

/**
 * The wallet's IndexedDB store (Dexie). One database per storage partition: browsers partition
 * an iframe's storage by the top-level site, so each dapp site embedding the wallet gets its
 * own database, key and channels (see docs/architecture.md).
 *
 * Versions are declared in order and never edited once shipped; a change of schema is a new
 * version with an `upgrade` that migrates existing records. Dexie runs the upgrades a stored
 * database lacks, in order, in one versionchange transaction.
 */

/** The signing key, encrypted under a non-extractable WebCrypto AES-GCM key stored beside it. */
export interface VaultRecord {
  id: 'signing-key';
  /** The address of the key, so the wallet can say who it is before decrypting. */
  address: `0x${string}`;
  /** AES-GCM-256, non-extractable: it can decrypt here but its bytes can never be read. */
  wrappingKey: CryptoKey;
  iv: Uint8Array<ArrayBuffer>;
  ciphertext: Uint8Array<ArrayBuffer>;
  createdAt: number;
}

/** A site's connection decision, remembered per origin. */
export interface PermissionRecord {
  origin: string;
  granted: boolean;
  /** When the user decided, in ms since the epoch. */
  date: number;
}

export interface MetaRecord {
  key: string;
  value: unknown;
}

type Channel = import('../../../core/src/protocol/channel.ts').Channel;

/**
 * A channel as the engine keeps it (see core/src/protocol/channel.ts), keyed by its id. Since v3
 * its signed states live in `channelStates`, one row per turn, so a commit writes only the states
 * that changed (a running channel may hold dozens of updates in flight); `channel.states` here is
 * empty.
 */
export interface ChannelRecord {
  id: `0x${string}`;
  channel: Channel;
}

/** One signed state of a channel. */
export interface ChannelStateRow {
  channelId: `0x${string}`;
  turnNum: number;
  signedState: Channel['states'][number];
}

export type ObjectiveRecordRow = import('../../../engine/src/store/types.ts').ObjectiveRecord;

/** The latest voucher of a virtual payment channel (since v4), keyed by its channel id: the voucher itself. */
export type VoucherRow = import('../../../core/src/voucher.ts').Voucher;

export const DATABASE_NAME = 'channel-wallet';

export class WalletDatabase extends Dexie {
  vault!: EntityTable<VaultRecord, 'id'>;
  permissions!: EntityTable<PermissionRecord, 'origin'>;
  meta!: EntityTable<MetaRecord, 'key'>;
  channels!: EntityTable<ChannelRecord, 'id'>;
  channelStates!: Table<ChannelStateRow, [string, number]>;
  objectives!: EntityTable<ObjectiveRecordRow, 'id'>;
  vouchers!: EntityTable<VoucherRow, 'channelId'>;

  constructor(name = DATABASE_NAME, options?: ConstructorParameters<typeof Dexie>[1]) {
    super(name, options);
    // v1: the key vault, per-origin permissions, and metadata.
    this.version(1).stores({
      vault: 'id',
      permissions: 'origin',
      meta: 'key',
    });
    // v2: channels and their objectives (the engine's store). Existing data is kept; the
    // upgrade records when the store began keeping channels.
    this.version(2)
      .stores({
        channels: 'id',
        objectives: 'id, status, channelId',
      })
      .upgrade(async (tx) => {
        await tx.table('meta').put({ key: 'channels-since', value: Date.now() });
      });
    // v3: each signed state in its own row (see ChannelRecord); existing channels are split.
    this.version(3)
      .stores({ channelStates: '[channelId+turnNum], channelId' })
      .upgrade(async (tx) => {
        const records: ChannelRecord[] = await tx.table('channels').toArray();
        for (const record of records) {
          await tx.table('channelStates').bulkPut(record.channel.states.map((signedState) => ({ channelId: record.id, turnNum: signedState.state.turnNum, signedState })));
          await tx.table('channels').put({ ...record, channel: { ...record.channel, states: [] } });
        }
      });
    // v4: the latest voucher of each virtual payment channel (one row per channel, replaced as
    // payments are made or received). A new table: nothing to migrate.
    this.version(4).stores({ vouchers: 'channelId' });
  }
}

/** The schema version the code declares (the highest `version(n)`). */
export function declaredVersion(db: WalletDatabase): number {
  return db.verno;
}
