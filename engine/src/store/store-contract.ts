/**
 * What every `Store` must do, as a vitest suite any implementation can run:
 *
 *   describeStoreContract('MemoryStore', () => ({ store: new MemoryStore() }));
 *
 * The example records it uses are in examples.ts.
 */
import { describe, expect, it } from 'vitest';
import type { Bytes32 } from '../../../core/src/index.ts';
import { exampleChannel, exampleObjective, exampleVoucher } from './examples.ts';
import type { ObjectiveStatus, Store } from './types.ts';

export { exampleChannel, exampleObjective, exampleVoucher } from './examples.ts';

export interface StoreFixture {
  store: Store;
  /** For a durable store: closes `store` and opens the same data again. */
  reopen?: () => Promise<Store>;
  /** Called after each test (close files, remove directories). */
  dispose?: () => Promise<void>;
}

/** The Store semantics the engine relies on. */
export function describeStoreContract(name: string, make: () => StoreFixture | Promise<StoreFixture>): void {
  describe(`Store contract: ${name}`, () => {
    async function withStore(test: (f: StoreFixture) => Promise<void>): Promise<void> {
      const f = await make();
      try {
        await test(f);
      } finally {
        await f.dispose?.();
      }
    }

    it('answers undefined and empty lists for what it does not hold', () =>
      withStore(async ({ store }) => {
        expect(await store.getChannel(`0x${'de'.repeat(32)}` as Bytes32)).toBeUndefined();
        expect(await store.getObjective('DirectFunding-unknown')).toBeUndefined();
        expect(await store.getVoucher(`0x${'de'.repeat(32)}` as Bytes32)).toBeUndefined();
        expect(await store.listChannels()).toEqual([]);
        expect(await store.activeObjectives()).toEqual([]);
      }));

    it('commits a channel and its objective together and gives them back intact, bigints as bigints', () =>
      withStore(async ({ store }) => {
        const channel = exampleChannel(1);
        const objective = exampleObjective(channel);
        await store.commit({ channel, objective });
        const c = await store.getChannel(channel.id);
        const o = await store.getObjective(objective.id);
        expect(c).toStrictEqual(channel);
        expect(o).toStrictEqual(objective);
        expect(typeof c!.fixedPart.channelNonce).toBe('bigint');
        expect(c!.states[0]!.state.outcome[0]!.allocations[1]!.amount).toBe(123_456_789_012_345_678_901_234_567n + 1000n);
        expect((o!.snapshot as { context: { expectedHeld: unknown } }).context.expectedHeld).toBe(10n ** 18n);
      }));

    it('commits a channel alone, an objective alone, and nothing at all', () =>
      withStore(async ({ store }) => {
        const a = exampleChannel(2);
        const b = exampleChannel(3);
        await store.commit({ channel: a });
        await store.commit({ objective: exampleObjective(b) });
        await store.commit({});
        expect(await store.getChannel(a.id)).toStrictEqual(a);
        expect(await store.getChannel(b.id)).toBeUndefined();
        expect(await store.getObjective(exampleObjective(b).id)).toStrictEqual(exampleObjective(b));
        expect(await store.getObjective(exampleObjective(a).id)).toBeUndefined();
      }));

    it('replaces a record with what is committed later', () =>
      withStore(async ({ store }) => {
        await store.commit({ channel: exampleChannel(4, 1), objective: exampleObjective(exampleChannel(4, 1)) });
        const later = exampleChannel(4, 5);
        const done = { ...exampleObjective(later), status: 'done' as const, updatedAt: 2 };
        await store.commit({ channel: later, objective: done });
        expect(await store.getChannel(later.id)).toStrictEqual(later);
        expect(await store.getObjective(done.id)).toStrictEqual(done);
        expect(await store.listChannels()).toHaveLength(1);
      }));

    it('lists every channel once', () =>
      withStore(async ({ store }) => {
        const channels = [5, 6, 7].map((n) => exampleChannel(n));
        for (const c of channels) await store.commit({ channel: c });
        await store.commit({ channel: exampleChannel(6, 3) });
        const listed = await store.listChannels();
        expect(listed.map((c) => c.id).sort()).toEqual(channels.map((c) => c.id).sort());
        expect(listed.find((c) => c.id === channels[1]!.id)).toStrictEqual(exampleChannel(6, 3));
      }));

    it('lists only active objectives, and drops one when it ends', () =>
      withStore(async ({ store }) => {
        const statuses: ObjectiveStatus[] = ['active', 'done', 'rejected', 'refused', 'failed', 'active'];
        const objectives = statuses.map((s, i) => exampleObjective(exampleChannel(10 + i), s, i));
        for (const o of objectives) await store.commit({ objective: o });
        const active = await store.activeObjectives();
        expect(active.map((o) => o.id).sort()).toEqual([objectives[0]!.id, objectives[5]!.id].sort());
        expect(active.find((o) => o.id === objectives[0]!.id)).toStrictEqual(objectives[0]);
        await store.commit({ objective: { ...objectives[0]!, status: 'done', error: undefined } });
        expect((await store.activeObjectives()).map((o) => o.id)).toEqual([objectives[5]!.id]);
        await store.commit({ objective: { ...objectives[1]!, status: 'active' } });
        expect((await store.activeObjectives()).map((o) => o.id).sort()).toEqual([objectives[1]!.id, objectives[5]!.id].sort());
      }));

    it('keeps its own copies: changing what was committed or read changes nothing stored', () =>
      withStore(async ({ store }) => {
        const channel = exampleChannel(20);
        const objective = exampleObjective(channel);
        await store.commit({ channel, objective });
        channel.states[0]!.state.outcome[0]!.allocations[0]!.amount = 0n;
        channel.states.pop();
        (objective.snapshot as { context: { outbox: unknown[] } }).context.outbox.length = 0;
        expect(await store.getChannel(channel.id)).toStrictEqual(exampleChannel(20));
        const read = (await store.getChannel(channel.id))!;
        read.states.length = 0;
        const active = await store.activeObjectives();
        active[0]!.status = 'failed';
        expect(await store.getChannel(channel.id)).toStrictEqual(exampleChannel(20));
        expect(await store.getObjective(objective.id)).toStrictEqual(exampleObjective(exampleChannel(20)));
      }));

    it('takes concurrent commits, and each is readable once it resolves', () =>
      withStore(async ({ store }) => {
        const n = 50;
        await Promise.all(
          Array.from({ length: n }, async (_, i) => {
            const c = exampleChannel(100 + i, i);
            await store.commit({ channel: c, objective: exampleObjective(c, 'active', i) });
            expect(await store.getChannel(c.id)).toStrictEqual(c);
          }),
        );
        expect(await store.listChannels()).toHaveLength(n);
        expect(await store.activeObjectives()).toHaveLength(n);
      }));

    it('keeps the latest voucher per channel, alone or in one commit with a channel and an objective', () =>
      withStore(async ({ store }) => {
        const first = exampleVoucher(1, 5n);
        await store.commit({ voucher: first });
        expect(await store.getVoucher(first.channelId)).toStrictEqual(first);
        const larger = exampleVoucher(1);
        const channel = exampleChannel(40);
        await store.commit({ channel, objective: exampleObjective(channel), voucher: larger });
        const read = await store.getVoucher(larger.channelId);
        expect(read).toStrictEqual(larger);
        expect(typeof read!.amount).toBe('bigint');
        expect(await store.getChannel(channel.id)).toStrictEqual(channel);
        // Another channel's voucher is its own record; changing what was committed or read changes nothing stored.
        const other = exampleVoucher(2);
        await store.commit({ voucher: other });
        other.amount = 0n;
        read!.signature.r = `0x${'00'.repeat(32)}`;
        expect(await store.getVoucher(exampleVoucher(2).channelId)).toStrictEqual(exampleVoucher(2));
        expect(await store.getVoucher(larger.channelId)).toStrictEqual(exampleVoucher(1));
      }));

    it('holds everything across a reopen (durable stores)', () =>
      withStore(async ({ store, reopen }) => {
        if (!reopen) return; // a memory store has nothing to reopen
        const channels = [30, 31].map((n) => exampleChannel(n));
        await store.commit({ channel: channels[0], objective: exampleObjective(channels[0]!) });
        await store.commit({ channel: channels[1], objective: exampleObjective(channels[1]!, 'done') });
        await store.commit({ voucher: exampleVoucher(3, 7n) });
        await store.commit({ voucher: exampleVoucher(3) });
        const again = await reopen();
        expect(await again.getVoucher(exampleVoucher(3).channelId)).toStrictEqual(exampleVoucher(3));
        expect(await again.getChannel(channels[0]!.id)).toStrictEqual(channels[0]);
        expect((await again.listChannels()).length).toBe(2);
        expect(await again.activeObjectives()).toStrictEqual([exampleObjective(channels[0]!)]);
        expect(await again.getObjective(exampleObjective(channels[1]!, 'done').id)).toStrictEqual(exampleObjective(channels[1]!, 'done'));
      }));
  });
}
