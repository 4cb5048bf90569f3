/**
 * Virtual channels without a chain: ledgers set up as funded directly in the stores, engines in
 * this process. The hub capacity measurement (what `npm run bench` reports), and what a hub needs
 * over a long life: finished channels leave memory, proposals waiting for a decision survive a
 * reload, and a payer that reloads re-sends what the payee may have missed.
 */
import { describe, expect, it } from 'vitest';
import { type Address, type Bytes32, PrivateKey } from '../../core/src/index.ts';
import { objectiveIds, serializeMessage } from '../../core/src/protocol/message.ts';
import type { EngineDeps } from './engine.ts';
import { MemoryStore } from './store/memory-store.ts';
import { InProcessNetwork, fundedLedger, measureHubCapacity } from './testing/hub-capacity.ts';
import { until } from './testing/until.ts';

const DEPOSIT = 10n ** 18n;

/** A hub and two users with funded ledgers, over an in-process network. */
async function trio(extra: { hub?: Partial<EngineDeps>; payer?: Partial<EngineDeps>; payee?: Partial<EngineDeps> } = {}) {
  const network = new InProcessNetwork();
  const [hubKey, payerKey, payeeKey] = [PrivateKey.random(), PrivateKey.random(), PrivateKey.random()];
  const stores = { hub: new MemoryStore(), payer: new MemoryStore(), payee: new MemoryStore() };
  for (const [n, user, store] of [
    [1n, payerKey, stores.payer],
    [2n, payeeKey, stores.payee],
  ] as const) {
    const l = fundedLedger(hubKey, user, [DEPOSIT, DEPOSIT], { nonce: n });
    await stores.hub.commit({ channel: l.hub });
    await store.commit({ channel: l.user });
  }
  const received: bigint[] = [];
  const rejections: string[] = [];
  const log: EngineDeps['log'] = (event, fields) => {
    if (event === 'peer.rejected') rejections.push(String(fields?.reason));
  };
  const make = {
    hub: () => network.engine(hubKey, stores.hub, { approveVirtualChannel: () => true, log, ...extra.hub }),
    payer: () => network.engine(payerKey, stores.payer, { log, ...extra.payer }),
    payee: () => network.engine(payeeKey, stores.payee, { onPaymentReceived: (p) => received.push(p.total), log, ...extra.payee }),
  };
  const engines = { hub: make.hub(), payer: make.payer(), payee: make.payee() };
  for (const e of Object.values(engines)) await e.start();
  return {
    network,
    engines,
    stores,
    received,
    rejections,
    hub: hubKey.address as Address,
    payee: payeeKey.address as Address,
    payer: payerKey.address as Address,
    async restart(who: 'hub' | 'payer' | 'payee', deps?: Partial<EngineDeps>) {
      engines[who].stop();
      await engines[who].idle();
      if (deps) extra[who] = { ...extra[who], ...deps };
      engines[who] = make[who]();
      await engines[who].start();
    },
  };
}

/** A MemoryStore whose commits can be held back (as a slow disk would). */
class HeldStore extends MemoryStore {
  held: (() => void)[] | undefined;
  override async commit(changes: Parameters<MemoryStore['commit']>[0]): Promise<void> {
    await super.commit(changes);
    const held = this.held;
    if (held) await new Promise<void>((resolve) => held.push(resolve));
  }
  release(): void {
    const held = this.held ?? [];
    this.held = undefined;
    for (const r of held) r();
  }
}

describe('virtual channels without a chain', () => {
  it('measures one hub opening, paying through and closing channels for many clients, every ledger exact afterwards', async () => {
    const r = await measureHubCapacity({ clients: 6, channels: 36 });
    expect(r.channels).toBe(36);
    expect(r.channelsPerSecond).toBeGreaterThan(0);
    expect(r.hubChannelsPerSecond).toBeGreaterThan(r.channelsPerSecond);
    expect(r.openMs.p50).toBeGreaterThan(0);
    console.log(`hub capacity (6 clients, 36 channels, one thread): ${r.channelsPerSecond.toFixed(0)} channels/s; the hub alone ${r.hubChannelsPerSecond.toFixed(0)}/s; open p50 ${r.openMs.p50.toFixed(1)} ms`);
  });

  it('keeps only recent finished channels in memory; older ones are still reported, from the store, also after a reload', async () => {
    const t = await trio({ hub: { keepFinishedVirtuals: 2 }, payer: { keepFinishedVirtuals: 2 }, payee: { keepFinishedVirtuals: 2 } });
    const ids: Bytes32[] = [];
    for (let i = 1; i <= 5; i++) {
      const id = await t.engines.payer.createVirtualChannel({ payee: t.payee, hub: t.hub, amount: 1000n });
      await t.engines.payer.pay(id, BigInt(i));
      await until(() => t.received.at(-1) === BigInt(i), 'the payment');
      await t.engines.payee.closeVirtualChannel(id);
      ids.push(id);
    }
    for (const e of Object.values(t.engines)) await until(async () => (await e.listVirtualChannels()).filter((v) => v.status === 'closed').length === 5, 'five closed everywhere');
    expect(await t.engines.payee.getVirtualChannel(ids[0]!)).toMatchObject({ status: 'closed', paid: 1n, amount: 1000n, payer: t.payer });
    expect(await t.engines.hub.getVirtualChannel(ids[0]!)).toMatchObject({ status: 'closed', paid: 1n });
    expect((await t.engines.hub.listChannels()).map((c) => c.participants.length)).toEqual([2, 2]);
    await t.restart('payee');
    expect((await t.engines.payee.listVirtualChannels()).map((v) => v.paid).sort()).toEqual([1n, 2n, 3n, 4n, 5n]);
    expect(await t.engines.payee.getBudget(t.hub)).toMatchObject({ send: DEPOSIT + 15n, locked: 0n });
    // A late copy of an old channel's final state changes nothing and is not taken for anything new.
    const old = t.stores.payer.channels.get(ids[0]!)!;
    const before = JSON.stringify([...t.stores.payee.channels, ...t.stores.payee.objectives], (_, v) => (typeof v === 'bigint' ? v.toString() : v));
    await t.engines.payee.receiveMessage(t.payer, serializeMessage({ from: t.payer, to: t.payee, payloads: [{ type: 'state', objectiveId: objectiveIds.virtualDefunding(ids[0]!), signedState: old.states.at(-1)! }] }));
    await t.engines.payee.idle();
    expect(JSON.stringify([...t.stores.payee.channels, ...t.stores.payee.objectives], (_, v) => (typeof v === 'bigint' ? v.toString() : v))).toBe(before);
    expect(t.rejections).toEqual([]);
    // And new channels open as before.
    const id = await t.engines.payer.createVirtualChannel({ payee: t.payee, hub: t.hub, amount: 10n });
    expect((await t.engines.payee.getVirtualChannel(id))?.status).toBe('running');
  });

  it('a proposal waiting for the hub’s decision survives the hub’s reload and is decided again', async () => {
    let asked = 0;
    const t = await trio({ hub: { approveVirtualChannel: () => (asked++, new Promise(() => undefined)) } });
    const opening = t.engines.payer.createVirtualChannel({ payee: t.payee, hub: t.hub, amount: 500n });
    await until(() => asked === 1, 'the hub to ask its policy');
    await t.restart('hub', { approveVirtualChannel: () => true });
    // The payer re-sends nothing by itself here (no resend timer): the hub's decision alone completes it.
    const id = await opening;
    expect((await t.engines.hub.getVirtualChannel(id))?.status).toBe('running');
  });

  it('a payer that reloads sends its latest voucher again, so the payee misses nothing', async () => {
    const t = await trio({ payer: { resendIntervalMs: 20 }, payee: { resendIntervalMs: 20 } });
    const id = await t.engines.payer.createVirtualChannel({ payee: t.payee, hub: t.hub, amount: 1000n });
    // Vouchers to the payee are lost for a while, then the payer reloads.
    t.network.filter = (_from, to, text) => !(to === t.payee && text.includes('"vouchers"'));
    for (let i = 0; i < 10; i++) await t.engines.payer.pay(id, 3n);
    await t.restart('payer');
    t.network.filter = undefined;
    await until(() => t.received.at(-1) === 30n, 'the payee to get the latest voucher');
    expect(t.stores.payee.vouchers.get(id)?.amount).toBe(30n);
    // The payee acknowledges; the payer stops re-sending.
    await new Promise((r) => setTimeout(r, 100));
    const sent = t.network.delivered;
    await new Promise((r) => setTimeout(r, 100));
    expect(t.network.delivered).toBe(sent);
  });

  it('nothing leaves an engine before the commit covering it is durable: a voucher is sent, and a payment reported, only then', async () => {
    const network = new InProcessNetwork();
    const [hubKey, payerKey, payeeKey] = [PrivateKey.random(), PrivateKey.random(), PrivateKey.random()];
    const hubStore = new MemoryStore();
    const payerStore = new HeldStore();
    const payeeStore = new HeldStore();
    for (const [n, key, store] of [
      [1n, payerKey, payerStore],
      [2n, payeeKey, payeeStore],
    ] as const) {
      const l = fundedLedger(hubKey, key, [DEPOSIT, DEPOSIT], { nonce: n });
      await hubStore.commit({ channel: l.hub });
      await store.commit({ channel: l.user });
    }
    const reported: bigint[] = [];
    const hub = network.engine(hubKey, hubStore, { approveVirtualChannel: () => true });
    const payer = network.engine(payerKey, payerStore);
    const payee = network.engine(payeeKey, payeeStore, { onPaymentReceived: (p) => reported.push(p.total) });
    for (const e of [hub, payer, payee]) await e.start();
    const id = await payer.createVirtualChannel({ payee: payeeKey.address, hub: hubKey.address, amount: 100n });
    await until(async () => (await payee.getVirtualChannel(id))?.status === 'running', 'running at the payee');
    const sent: string[] = [];
    network.filter = (from, _to, text) => {
      if (from === payerKey.address && text.includes('"vouchers"')) sent.push(text);
      return true;
    };
    // The payer's disk is slow: the voucher is signed and stored, but not sent until the store says it is durable.
    payerStore.held = [];
    let paid = false;
    const paying = payer.pay(id, 7n).then((r) => ((paid = true), r));
    await until(() => payerStore.held!.length > 0, 'the voucher commit');
    await new Promise((r) => setTimeout(r, 30));
    expect(sent).toHaveLength(0);
    expect(paid).toBe(false);
    payerStore.release();
    expect((await paying).total).toBe(7n);
    expect(sent).toHaveLength(1);
    await until(() => reported.length === 1, 'the first report');
    // Now the payee's disk is slow: the payment is reported only once its voucher is durable.
    payeeStore.held = [];
    await payer.pay(id, 3n);
    await until(() => payeeStore.held!.length > 0, 'the payee to store the voucher');
    await new Promise((r) => setTimeout(r, 30));
    expect(reported).toEqual([7n]);
    payeeStore.release();
    await until(() => reported.length === 2, 'the report');
    expect(reported).toEqual([7n, 10n]);
    for (const e of [hub, payer, payee]) e.stop();
  });
});
