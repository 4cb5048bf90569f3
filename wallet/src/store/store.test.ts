import 'fake-indexeddb/auto';
import { describe, expect, it } from 'vitest';
import { loadOrCreateSigningKey } from '../keys/vault.ts';
import { WalletDatabase } from './db.ts';
import { Permissions } from './permissions.ts';

let n = 0;
const freshDb = () => new WalletDatabase(`test-${++n}`);

describe('the key vault', () => {
  it('creates a key on first run and loads the same one afterwards', async () => {
    const db = freshDb();
    const first = await loadOrCreateSigningKey(db);
    expect(first.created).toBe(true);
    db.close();
    const reopened = new WalletDatabase(db.name);
    const again = await loadOrCreateSigningKey(reopened);
    expect(again.created).toBe(false);
    expect(again.key.address).toBe(first.key.address);
  });

  it('stores the key only encrypted, under a non-extractable key', async () => {
    const db = freshDb();
    const { key } = await loadOrCreateSigningKey(db);
    const record = (await db.vault.get('signing-key'))!;
    const secret = key.exportBytes();
    const stored = JSON.stringify({ ...record, wrappingKey: null, iv: Array.from(record.iv), ciphertext: Array.from(record.ciphertext) });
    expect(stored).not.toContain(Buffer.from(secret).toString('hex'));
    expect(Buffer.from(record.ciphertext).includes(Buffer.from(secret))).toBe(false);
    expect(record.wrappingKey.extractable).toBe(false);
    await expect(crypto.subtle.exportKey('raw', record.wrappingKey)).rejects.toThrow();
  });

  it('refuses a record whose ciphertext was tampered with', async () => {
    const db = freshDb();
    await loadOrCreateSigningKey(db);
    const record = (await db.vault.get('signing-key'))!;
    record.ciphertext[0]! ^= 1;
    await db.vault.put(record);
    await expect(loadOrCreateSigningKey(db)).rejects.toThrow();
  });

  it('two starts racing on an empty store end with one key', async () => {
    const db = freshDb();
    const [a, b] = await Promise.all([loadOrCreateSigningKey(db), loadOrCreateSigningKey(new WalletDatabase(db.name))]);
    expect(a.key.address).toBe(b.key.address);
    expect(await db.vault.count()).toBe(1);
  });
});

describe('permissions', () => {
  it('remembers decisions per origin and can revoke them', async () => {
    const p = new Permissions(freshDb());
    expect(await p.isGranted('http://localhost:5174')).toBe(false);
    await p.decide('http://localhost:5174', true, 1000);
    await p.decide('http://127.0.0.2:5175', false, 2000);
    expect(await p.isGranted('http://localhost:5174')).toBe(true);
    expect(await p.isGranted('http://127.0.0.2:5175')).toBe(false);
    expect(await p.get('http://localhost:5174')).toEqual({ origin: 'http://localhost:5174', granted: true, date: 1000 });
    await p.revoke('http://localhost:5174');
    expect(await p.isGranted('http://localhost:5174')).toBe(false);
  });
});

import { Dexie } from 'dexie';
import { DexieStore } from './dexie-store.ts';
import { newChannel } from '../../../core/src/protocol/channel.ts';
import { AllocationType, PrivateKey as Key } from '../../../core/src/index.ts';
import { describeStoreContract, exampleVoucher } from '../../../engine/src/store/store-contract.ts';

describe('schema migrations', () => {
  it('upgrades a version-1 database to the current one, keeping its key and permissions', async () => {
    const name = `migrate-${++n}`;
    // The database as version 1 of the wallet created it.
    const v1 = new Dexie(name);
    v1.version(1).stores({ vault: 'id', permissions: 'origin', meta: 'key' });
    await v1.table('permissions').put({ origin: 'http://localhost:5174', granted: true, date: 1 });
    v1.close();
    const current = new WalletDatabase(name);
    await current.open();
    expect(current.verno).toBe(4);
    expect(await new Permissions(current).isGranted('http://localhost:5174')).toBe(true);
    expect(await current.channels.count()).toBe(0);
    expect((await current.meta.get('channels-since'))?.value).toEqual(expect.any(Number));
  });
});

describe('schema migrations (channels)', () => {
  it('upgrades a version-2 database by moving each signed state into a row of its own', async () => {
    const name = `migrate-${++n}`;
    const v2 = new Dexie(name);
    v2.version(1).stores({ vault: 'id', permissions: 'origin', meta: 'key' });
    v2.version(2).stores({ channels: 'id', objectives: 'id, status, channelId' });
    const channel = sampleChannel();
    const withStates = { ...channel, states: [channel.states[0]!, { ...channel.states[0]!, state: { ...channel.states[0]!.state, turnNum: 1 } }] };
    await v2.table('channels').put({ id: channel.id, channel: withStates });
    v2.close();
    const current = new WalletDatabase(name);
    await current.open();
    expect(await current.channelStates.count()).toBe(2);
    expect(await new DexieStore(current).getChannel(channel.id)).toEqual(withStates);
  });
});

describe('schema migrations (vouchers)', () => {
  it('upgrades a version-3 database with an empty voucher table, keeping its channels, objectives and permissions', async () => {
    const name = `migrate-${++n}`;
    const v3 = new Dexie(name);
    v3.version(1).stores({ vault: 'id', permissions: 'origin', meta: 'key' });
    v3.version(2).stores({ channels: 'id', objectives: 'id, status, channelId' });
    v3.version(3).stores({ channelStates: '[channelId+turnNum], channelId' });
    const channel = sampleChannel();
    await v3.table('channels').put({ id: channel.id, channel: { ...channel, states: [] } });
    await v3.table('channelStates').put({ channelId: channel.id, turnNum: 0, signedState: channel.states[0] });
    await v3.table('objectives').put({ id: `DirectFunding-${channel.id}`, type: 'DirectFunding', channelId: channel.id, status: 'active', snapshot: { context: { held: 5n } }, updatedAt: 1 });
    await v3.table('permissions').put({ origin: 'http://localhost:5174', granted: true, date: 1 });
    v3.close();
    const current = new WalletDatabase(name);
    await current.open();
    expect(current.verno).toBe(4);
    expect(await current.vouchers.count()).toBe(0);
    const store = new DexieStore(current);
    expect(await store.getChannel(channel.id)).toEqual(channel);
    expect((await store.activeObjectives()).map((o) => o.id)).toEqual([`DirectFunding-${channel.id}`]);
    expect(await new Permissions(current).isGranted('http://localhost:5174')).toBe(true);
    // The new table takes vouchers at once.
    const voucher = exampleVoucher(1);
    await store.commit({ voucher });
    expect(await new DexieStore(new WalletDatabase(name)).getVoucher(voucher.channelId)).toEqual(voucher);
  });
});

describeStoreContract('DexieStore', () => ({ store: new DexieStore(freshDb()) }));

function sampleChannel() {
  const a = Key.random();
  const b = Key.random();
  return newChannel(
    {
      participants: [a.address, b.address],
      channelNonce: 1n,
      appDefinition: '0x00000000000000000000000000000000000000cc',
      challengeDuration: 60,
      outcome: [{ asset: '0x0000000000000000000000000000000000000000', assetMetadata: { assetType: 0, metadata: '0x' }, allocations: [{ destination: `0x${'00'.repeat(12)}${a.address.slice(2)}`, amount: 10n ** 30n, allocationType: AllocationType.simple, metadata: '0x' }] }],
      appData: '0x',
      turnNum: 0,
      isFinal: false,
    },
    a.address,
  );
}

describe('the engine store over Dexie', () => {
  it('keeps each state in its own row, deletes the ones a channel dropped, and a fresh store reads the same', async () => {
    const db = freshDb();
    const store = new DexieStore(db);
    const c0 = sampleChannel();
    const at = (turnNum: number) => ({ ...c0.states[0]!, state: { ...c0.states[0]!.state, turnNum } });
    const s1 = at(1);
    const c1 = { ...c0, states: [c0.states[0]!, s1] };
    await store.commit({ channel: c1 });
    const c2 = { ...c0, states: [s1, at(2), at(3)] };
    await store.commit({ channel: c2 });
    expect((await db.channelStates.toArray()).map((r) => r.turnNum)).toEqual([1, 2, 3]);
    expect(await new DexieStore(db).getChannel(c0.id)).toEqual(c2);
    expect(await new DexieStore(db).listChannels()).toEqual([c2]);
  });


  it('commits a channel and its objective together and reads them back, bigints intact', async () => {
    const db = freshDb();
    const store = new DexieStore(db);
    const a = Key.random();
    const b = Key.random();
    const channel = newChannel(
      {
        participants: [a.address, b.address],
        channelNonce: 1n,
        appDefinition: '0x00000000000000000000000000000000000000cc',
        challengeDuration: 60,
        outcome: [{ asset: '0x0000000000000000000000000000000000000000', assetMetadata: { assetType: 0, metadata: '0x' }, allocations: [{ destination: `0x${'00'.repeat(12)}${a.address.slice(2)}`, amount: 10n ** 30n, allocationType: AllocationType.simple, metadata: '0x' }] }],
        appData: '0x',
        turnNum: 0,
        isFinal: false,
      },
      a.address,
    );
    await store.commit({ channel, objective: { id: 'DirectFunding-x', type: 'DirectFunding', channelId: channel.id, status: 'active', snapshot: { context: { holdings: { x: 5n } } }, updatedAt: 1 } });
    expect(await store.getChannel(channel.id)).toEqual(channel);
    expect((await store.activeObjectives()).map((o) => o.id)).toEqual(['DirectFunding-x']);
    await store.commit({ objective: { id: 'DirectFunding-x', type: 'DirectFunding', channelId: channel.id, status: 'done', snapshot: {}, updatedAt: 2 } });
    expect(await store.activeObjectives()).toEqual([]);
  });
});
