import type { PermissionRecord, WalletDatabase } from './db.ts';

/** Per-origin connection decisions. An origin may use permitted methods only while granted. */
export class Permissions {
  constructor(private readonly db: WalletDatabase) {}

  async get(origin: string): Promise<PermissionRecord | undefined> {
    return this.db.permissions.get(origin);
  }

  async isGranted(origin: string): Promise<boolean> {
    return (await this.get(origin))?.granted === true;
  }

  async decide(origin: string, granted: boolean, now = Date.now()): Promise<PermissionRecord> {
    const record = { origin, granted, date: now };
    await this.db.permissions.put(record);
    return record;
  }

  async revoke(origin: string): Promise<void> {
    await this.db.permissions.delete(origin);
  }
}
