/**
 * Crash safety (issue 6, item 3) of a virtual channel: the payer, the payee and the hub are each
 * crashed at every step of every objective — ledger funding, virtual funding, payments, virtual
 * defunding, ledger closing — and it still completes, balances exact to the wei, no transaction
 * twice, no acknowledged state or payment lost. The wallets run on their DexieStore (here over
 * fake-indexeddb), the hub on its FileStore. See crash-safety.test.ts and testing/crash-runner.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Bytes32, channelId as channelIdOf } from '../../core/src/index.ts';
import { type Crash, CrashFixture, ETH, type RunResult, lower, randomNonce } from './testing/crash-runner.ts';
import type { CrashParty } from './testing/crash-world.ts';

let fx: CrashFixture;
beforeAll(async () => {
  fx = await CrashFixture.start();
});
afterAll(async () => {
  await fx?.stop();
});

const DEPOSIT = 10n ** 16n;
const PAYMENTS = [1000n, 2500n, 7n];

/**
 * The payer and the payee each fund a ledger with the hub (deposits by user and hub), the payer
 * opens a virtual channel to the payee through the hub and pays three times, the payee closes it,
 * and each user closes its ledger on chain.
 */
async function virtualScenario(crash?: Crash): Promise<RunResult> {
  const w = fx.newWorld(crash);
  const payer = await w.party('payer', fx.walletStore());
  const payee = await w.party('payee', fx.walletStore());
  const hub = await w.party('hub', fx.hubStore(), (self) => ({
    onChannelProposed: (s) => void self.engine.joinChannel(s.channelId, true).catch(() => undefined),
    approveVirtualChannel: () => true,
  }));
  await fx.fund(payer, payee, hub);
  const startBlock = (await fx.rpc.getBlockNumber()) + 1;
  const before = await Promise.all([payer, payee, hub].map((p) => fx.chainFacts(p)));
  await w.start();
  const H = hub.address;
  const consensusApp = lower(fx.addresses.consensusApp);

  const ledgerOf = async (user: CrashParty) => {
    const nonce = randomNonce();
    const id = channelIdOf({ participants: [H, user.address], channelNonce: nonce, appDefinition: consensusApp, challengeDuration: 60 });
    const status = async (p: CrashParty) => (await p.engine.getChannel(id))?.status;
    await w.achieve(`${user.name} proposes a ledger`, async () => (await user.store.getChannel(id)) !== undefined, {
      by: user,
      call: (e) => e.createLedgerChannel({ hub: H, asset: ETH, myAmount: DEPOSIT, hubAmount: DEPOSIT, challengeDuration: 60, channelNonce: nonce }),
    });
    await w.achieve(`the hub joins ${user.name}'s ledger`, async () => ![undefined, 'proposed'].includes(await status(hub)), { by: hub, call: (e) => e.joinChannel(id, true) });
    await w.achieve(`${user.name}'s ledger running`, async () => (await user.engine.getBudget(H))?.status === 'running' && (await hub.engine.getBudget(user.address))?.status === 'running');
    return id;
  };
  const [left, right] = await Promise.all([ledgerOf(payer), ledgerOf(payee)]);

  const amount = 10n ** 15n;
  const vNonce = randomNonce();
  const v = channelIdOf({ participants: [payer.address, H, payee.address], channelNonce: vNonce, appDefinition: lower(fx.addresses.virtualPaymentApp), challengeDuration: 60 });
  const vStatus = async (p: CrashParty) => (await p.engine.getVirtualChannel(v))?.status;
  await w.achieve('the virtual channel running at all three', async () => (await vStatus(payer)) === 'running' && (await vStatus(hub)) === 'running' && (await vStatus(payee)) === 'running', {
    by: payer,
    call: (e) => e.createVirtualChannel({ payee: payee.address, hub: H, amount, channelNonce: vNonce, challengeDuration: 60 }),
  });
  let total = 0n;
  for (const [i, x] of PAYMENTS.entries()) {
    const after = (total += x);
    await w.achieve(`payment ${i + 1}`, async () => ((await payer.store.getVoucher(v))?.amount ?? 0n) >= after, {
      by: payer,
      call: (e) => e.pay(v, x),
      resolved: (r) => w.ackedPaid.set(v, (r as { total: bigint }).total),
    });
  }
  await w.achieve('the payee holds every payment', async () => (await payee.store.getVoucher(v))?.amount === total);
  await w.achieve('the virtual channel closed at all three', async () => (await vStatus(payer)) === 'closed' && (await vStatus(hub)) === 'closed' && (await vStatus(payee)) === 'closed', {
    by: payee,
    call: (e) => e.closeVirtualChannel(v),
  });
  await Promise.all(
    [
      [payer, left],
      [payee, right],
    ].map(([user, ledger]) =>
      w.achieve(`${(user as CrashParty).name}'s ledger closed`, async () => (await (user as CrashParty).engine.getChannel(ledger as Bytes32))?.status === 'closed' && (await hub.engine.getChannel(ledger as Bytes32))?.status === 'closed', {
        by: user as CrashParty,
        call: (e) => e.closeLedgerChannel(ledger as Bytes32),
      }),
    ),
  );
  await w.stop();

  expect(w.violations, w.violations.join('; ')).toEqual([]);
  expect(payee.reported.get(v)).toBe(total);
  expect(await Promise.all([left, right].map((id) => fx.channelFacts(id)))).toEqual([
    { deposited: 2, concluded: 1, held: 0n },
    { deposited: 2, concluded: 1, held: 0n },
  ]);
  const after = await Promise.all([payer, payee, hub].map((p) => fx.chainFacts(p)));
  expect(after.map((x, i) => x.nonce - before[i]!.nonce), 'transactions: each user deposits and concludes; the hub deposits twice').toEqual([2, 2, 2]);
  const gas = await fx.gasSpent([payer, payee, hub], startBlock);
  const net = after.map((x, i) => x.balance - before[i]!.balance + gas[i]!);
  expect(net).toEqual([-total, total, 0n]);
  return { histories: { payer: [...payer.history], payee: [...payee.history], hub: [...hub.history] }, ...(w.crashed && { crashed: w.crashed }), restarts: payer.restarts + payee.restarts + hub.restarts };
}

describe('crash safety: a reload or a hub restart at every step of every objective of a virtual channel', () => {
  it('ledgers with the hub, a virtual channel, payments, close and withdraw complete exactly whoever crashes wherever', async () => {
    await fx.crashEverywhere('virtual channel', virtualScenario);
  }, 600_000);
});
