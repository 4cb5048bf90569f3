import type { PermissionRecord, WalletDatabase } from './db.ts';

/**
 * Per-origin connection decisions. An origin may use permitted methods only while granted.
 * Every RPC call asks, so decisions are kept in memory after the first read; a change made by
 * another instance of this wallet (another tab of the same site) is announced on a
 * BroadcastChannel and drops the copy.
 */
export class Permissions {
  private readonly known = new Map<string, PermissionRecord | undefined>();
  private readonly changes: BroadcastChannel | undefined;

  constructor(private readonly db: WalletDatabase) {
    this.changes = typeof BroadcastChannel === 'function' ? new BroadcastChannel('channel-wallet-permissions') : undefined;
    this.changes?.addEventListener('message', () => this.known.clear());
  }

  async get(origin: string): Promise<PermissionRecord | undefined> {
    if (this.known.has(origin)) return this.known.get(origin);
    const record = await this.db.permissions.get(origin);
    this.known.set(origin, record);
    return record;
  }

  async isGranted(origin: string): Promise<boolean> {
    return (await this.get(origin))?.granted === true;
  }

  async decide(origin: string, granted: boolean, now = Date.now()): Promise<PermissionRecord> {
    const record = { origin, granted, date: now };
    await this.db.permissions.put(record);
    this.known.set(origin, record);
    this.changes?.postMessage(origin);
    return record;
  }

  async revoke(origin: string): Promise<void> {
    await this.db.permissions.delete(origin);
    this.known.set(origin, undefined);
    this.changes?.postMessage(origin);
  }
}
