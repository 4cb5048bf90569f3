/**
 * Channel updates between two wallets in Chromium: two users on two browser contexts, their
 * wallets connected through the hub's relay, a funded direct channel on anvil. Each update is
 * proposed and signed by one wallet, countersigned by the other, and stored by both before the
 * proposer's call resolves. Baseline: the sdk → wallet round trip in the same page, one of the
 * several hops each update makes.
 */
import type { Page } from '@playwright/test';
import { benchUser, percentile } from './browser.ts';
import type { BenchEnvironment } from './environment.ts';
import type { BrowserFigure } from './rpc.bench.ts';

const UPDATES = 300;
const PIPELINED = 3000;
const WINDOW = 64;

export async function runUpdatesBench(env: BenchEnvironment): Promise<BrowserFigure[]> {
  const alice = await benchUser(env);
  const bob = await benchUser(env);
  const created = alice.page.evaluate(
    (b) => window.dapp.client!.createChannel({ counterparty: b as `0x${string}`, asset: '0x0000000000000000000000000000000000000000', amount: '0xde0b6b3a7640000', counterpartyAmount: '0x0' }),
    bob.address,
  );
  await alice.page.frameLocator('iframe').getByTestId('fund-approve').click();
  const { channelId } = await created;
  await bob.page.waitForFunction(() => window.dapp.notifications.some((n) => n.method === 'channel_proposed'));
  const joined = bob.page.evaluate((id) => window.dapp.client!.joinChannel({ channelId: id as `0x${string}` }), channelId);
  await bob.page.frameLocator('iframe').getByTestId('fund-approve').click();
  await joined;
  const status = (page: Page) => page.evaluate((id) => window.dapp.client!.getChannel({ channelId: id as `0x${string}` }).then((c) => c.status), channelId);
  for (const deadline = Date.now() + 60_000; (await status(alice.page)) !== 'running' || (await status(bob.page)) !== 'running'; ) {
    if (Date.now() > deadline) throw new Error('the benchmark channel did not start running');
    await new Promise((r) => setTimeout(r, 100));
  }

  const run = (n: number, offset: number) =>
    alice.page.evaluate(
      async ({ id, n, offset }) => {
        const total = 10n ** 18n;
        const times: number[] = [];
        const start = performance.now();
        for (let i = 1; i <= n; i++) {
          const paid = BigInt(offset + i);
          const t = performance.now();
          await window.dapp.client!.updateChannel({ channelId: id as `0x${string}`, balances: [`0x${(total - paid).toString(16)}`, `0x${paid.toString(16)}`] });
          times.push(performance.now() - t);
        }
        return { times, elapsed: performance.now() - start };
      },
      { id: channelId, n, offset },
    );
  await run(30, 0); // warm up
  const { times, elapsed } = await run(UPDATES, 30);
  const sequentialPerSecond = (UPDATES * 1000) / elapsed;
  const p50 = percentile(times, 50);
  const p99 = percentile(times, 99);

  // Pipelined: the dapp keeps WINDOW calls in flight; the wallets sign each on its own turn and
  // commit and send what queued up together.
  const pipelined = await alice.page.evaluate(
    async ({ id, n, offset, inFlight }) => {
      const total = 10n ** 18n;
      const times: number[] = [];
      let next = 1;
      const start = performance.now();
      const worker = async () => {
        while (next <= n) {
          const paid = BigInt(offset + next++);
          const t = performance.now();
          await window.dapp.client!.updateChannel({ channelId: id as `0x${string}`, balances: [`0x${(total - paid).toString(16)}`, `0x${paid.toString(16)}`] });
          times.push(performance.now() - t);
        }
      };
      await Promise.all(Array.from({ length: inFlight }, worker));
      return { times, elapsed: performance.now() - start };
    },
    { id: channelId, n: PIPELINED, offset: 30 + UPDATES, inFlight: WINDOW },
  );
  const perSecond = (PIPELINED * 1000) / pipelined.elapsed;
  const loadedP50 = percentile(pipelined.times, 50);
  const loadedP99 = percentile(pipelined.times, 99);
  const finalBob = await bob.page.evaluate((id) => window.dapp.client!.getChannel({ channelId: id as `0x${string}` }).then((c) => c.balances[1]), channelId);
  if (BigInt(finalBob!) < BigInt(30 + UPDATES)) throw new Error(`Bob's wallet holds ${finalBob}, fewer updates than were made`);

  // Baseline: the sdk → wallet → sdk round trip in the same page (the first of the several hops
  // every update makes: page → wallet → relay → other page → other wallet and back).
  const relayRtt = await alice.page.evaluate(async () => {
    const c = window.dapp.client!;
    const times: number[] = [];
    for (let i = 0; i < 300; i++) {
      const t = performance.now();
      await c.accounts();
      times.push(performance.now() - t);
    }
    return times;
  });
  const floor = percentile(relayRtt, 50);

  const figures: BrowserFigure[] = [
    { name: 'channel updates/s (pipelined)', unit: 'ms', ours: perSecond, baseline: 0, target: '≥ 500/s', met: perSecond >= 500 },
    { name: 'update latency p50 (one at a time)', unit: 'ms', ours: p50, baseline: floor, target: '≤ 5 ms', met: p50 <= 5 },
    { name: 'update latency p99 (one at a time)', unit: 'ms', ours: p99, baseline: floor, target: '(reported)', met: true },
  ];
  console.log(`\nChannel updates between two wallets in Chromium via the relay; each signed, countersigned and stored by both before the call resolves (baseline: sdk→wallet round trip)`);
  console.log(`  pipelined (${PIPELINED} updates, ${WINDOW} calls in flight): ${perSecond.toFixed(0)} updates/s (target ≥ 500) ${perSecond >= 500 ? 'met' : 'NOT MET'}; latency under load p50 ${loadedP50.toFixed(2)} ms, p99 ${loadedP99.toFixed(2)} ms`);
  console.log(`  one at a time (${UPDATES} updates): ${sequentialPerSecond.toFixed(0)} updates/s; latency p50 ${p50.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms (target p50 ≤ 5 ms) ${p50 <= 5 ? 'met' : 'NOT MET'}; sdk↔wallet floor p50 ${floor.toFixed(2)} ms (${(p50 / floor).toFixed(1)}×)`);
  return figures;
}
