/**
 * Payments through a virtual channel between two wallets in Chromium, via the hub: both users
 * approve budgets (ledger channels funded on anvil), the payer opens virtual channels to the
 * payee (timed: the open), then streams payments. A payment counts once the payee's wallet has
 * verified and stored its voucher and told its page (payment_received). Latency is from the
 * payer's call to the payee page's notification, on one clock (performance.timeOrigin + now).
 * Baseline: the sdk → wallet round trip in the payer's page.
 */
import type { Page } from '@playwright/test';
import { benchUser, percentile } from './browser.ts';
import type { BenchEnvironment } from './environment.ts';
import type { BrowserFigure } from './rpc.bench.ts';

const PAYMENTS = 5_000;
const SEQUENTIAL = 500;
/**
 * Calls the payer's dapp keeps in flight when streaming: a shallow and a deep pipeline. A
 * downloader paying per piece keeps as many in flight as its payment buffer allows; the deeper
 * window lets the wallets sign, store and send larger batches.
 */
const WINDOWS = [64, 256] as const;
const OPENS = 10;

async function approveBudget(page: Page, hub: string, send: bigint, receive: bigint): Promise<void> {
  const budget = page.evaluate(
    ({ hub, send, receive }) => window.dapp.client!.requestBudget({ hub: hub as `0x${string}`, asset: '0x0000000000000000000000000000000000000000', sendAmount: send as `0x${string}`, receiveAmount: receive as `0x${string}` }),
    { hub, send: `0x${send.toString(16)}`, receive: `0x${receive.toString(16)}` },
  );
  await page.frameLocator('iframe').getByTestId('budget-approve').click();
  await budget;
}

export async function runPaymentsBench(env: BenchEnvironment): Promise<BrowserFigure[]> {
  const alice = await benchUser(env);
  const bob = await benchUser(env);
  const E18 = 10n ** 18n;
  await approveBudget(alice.page, env.hubAddress, 5n * E18, 0n);
  await approveBudget(bob.page, env.hubAddress, 0n, 5n * E18);

  // Opening: OPENS virtual channels one after another, each timed from call to funded.
  const opens = await alice.page.evaluate(
    async ({ payee, hub, n }) => {
      const times: number[] = [];
      const ids: string[] = [];
      for (let i = 0; i < n; i++) {
        const t = performance.now();
        const v = await window.dapp.client!.createVirtualChannel({ payee: payee as `0x${string}`, hub: hub as `0x${string}`, amount: '0x6f05b59d3b20000' }); // 0.5 ETH
        times.push(performance.now() - t);
        ids.push(v.channelId);
      }
      return { times, ids };
    },
    { payee: bob.address, hub: env.hubAddress, n: OPENS },
  );
  const channelId = opens.ids[0]!;

  // The payee's page records when each payment was reported, on the shared clock.
  await bob.page.evaluate((id) => {
    const w = window as unknown as { __reported: number[] };
    w.__reported = [];
    window.dapp.client!.on('payment_received', (p) => {
      if (p.channelId === id) w.__reported.push(performance.timeOrigin + performance.now());
    });
  }, channelId);
  const reportedSoFar = () => bob.page.evaluate(() => (window as unknown as { __reported: number[] }).__reported.splice(0));

  /** `n` payments of 1000 wei with `inFlight` calls outstanding; when each was sent and reported. */
  const stream = async (n: number, inFlight: number) => {
    const sent = await alice.page.evaluate(
      async ({ id, n, inFlight }) => {
        const at: number[] = [];
        let next = 0;
        const worker = async () => {
          while (next < n) {
            next++;
            at.push(performance.timeOrigin + performance.now());
            await window.dapp.client!.pay({ channelId: id as `0x${string}`, amount: '0x3e8' });
          }
        };
        await Promise.all(Array.from({ length: inFlight }, worker));
        return at;
      },
      { id: channelId, n, inFlight },
    );
    await bob.page.waitForFunction((n) => (window as unknown as { __reported: number[] }).__reported.length >= n, n, { timeout: 120_000 });
    const reported = await reportedSoFar();
    // Payments are cumulative and reported in order: the i-th report is the i-th payment.
    return { sent, reported, latencies: reported.map((t, i) => t - sent[i]!) };
  };

  // One at a time: the latency of a payment.
  const single = await stream(SEQUENTIAL, 1);
  // Pipelined: throughput, at each window.
  const pipelined: { window: number; perSecond: number; loaded50: number }[] = [];
  for (const window of WINDOWS) {
    const piped = await stream(PAYMENTS, window);
    pipelined.push({ window, perSecond: (PAYMENTS * 1000) / (piped.reported.at(-1)! - piped.sent[0]!), loaded50: percentile(piped.latencies, 50) });
  }
  const total = BigInt(SEQUENTIAL + PAYMENTS * WINDOWS.length) * 1000n;
  const paid = await bob.page.evaluate((id) => window.dapp.client!.getVirtualChannel({ channelId: id as `0x${string}` }).then((v) => v.paid), channelId);
  if (BigInt(paid) !== total) throw new Error(`the payee holds ${BigInt(paid)} wei of vouchers, not ${total}`);
  const best = pipelined.reduce((a, b) => (b.perSecond > a.perSecond ? b : a));
  const perSecond = best.perSecond;
  const latencies = single.latencies;

  const floor = await alice.page.evaluate(async () => {
    const times: number[] = [];
    for (let i = 0; i < 300; i++) {
      const t = performance.now();
      await window.dapp.client!.accounts();
      times.push(performance.now() - t);
    }
    return times;
  });
  const rtt = percentile(floor, 50);
  const p50 = percentile(latencies, 50);
  const p99 = percentile(latencies, 99);
  const open50 = percentile(opens.times, 50);
  console.log(`\nPayments payer → payee through a virtual channel via the hub; each voucher stored by the payee before it is reported (baseline: sdk→wallet round trip)`);
  for (const p of pipelined) {
    console.log(`  pipelined (${PAYMENTS} payments, ${p.window} in flight): ${p.perSecond.toFixed(0)} payments/s (target ≥ 2,000) ${p.perSecond >= 2000 ? 'met' : 'NOT MET'}; latency under load p50 ${p.loaded50.toFixed(1)} ms`);
  }
  console.log(`  one at a time (${SEQUENTIAL} payments): latency call → payee report p50 ${p50.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms (target p50 ≤ 2 ms) ${p50 <= 2 ? 'met' : 'NOT MET'}; sdk↔wallet floor p50 ${rtt.toFixed(2)} ms`);
  console.log(`  virtual channel open (call → funded, ${OPENS} one after another): p50 ${open50.toFixed(1)} ms, max ${Math.max(...opens.times).toFixed(1)} ms (target ≤ 100 ms) ${open50 <= 100 ? 'met' : 'NOT MET'}`);
  return [
    { name: `payments/s (pipelined, ${best.window} in flight)`, unit: 'ms', ours: perSecond, baseline: 0, target: '≥ 2,000/s', met: perSecond >= 2000 },
    { name: 'payment latency p50 (one at a time)', unit: 'ms', ours: p50, baseline: rtt, target: '≤ 2 ms', met: p50 <= 2 },
    { name: 'virtual channel open p50', unit: 'ms', ours: open50, baseline: rtt, target: '≤ 100 ms', met: open50 <= 100 },
  ];
}
