/**
 * The RPC boundary in real Chromium: the round trip of a call from the sdk in a dapp page to the
 * cross-site wallet iframe and back, and the wallet's cold start from iframe creation to ready.
 * Baselines, measured in the same browser and between the same two sites: a bare postMessage
 * echo iframe (the browser's floor for a round trip) and a blank iframe that posts when loaded
 * (the floor for a start).
 */
import type { Page } from '@playwright/test';
import { newBenchContext, percentile } from './browser.ts';
import type { BenchEnvironment } from './environment.ts';

export interface BrowserFigure {
  name: string;
  unit: 'ms';
  ours: number;
  baseline: number;
  target: string;
  met: boolean;
}

const ROUND_TRIPS = 2000;

async function echoRoundTrips(page: Page, walletOrigin: string, n: number): Promise<number[]> {
  return page.evaluate(
    async ({ walletOrigin, n }) => {
      const f = document.createElement('iframe');
      f.src = `${walletOrigin}/__echo.html`;
      f.style.display = 'none';
      document.body.append(f);
      await new Promise((r) => f.addEventListener('load', r));
      const target = f.contentWindow!;
      const times: number[] = [];
      let resolveOne: () => void = () => {};
      addEventListener('message', (e) => {
        if (e.source === target) resolveOne();
      });
      for (let i = 0; i < n; i++) {
        const t = performance.now();
        await new Promise<void>((r) => {
          resolveOne = r;
          target.postMessage({ jsonrpc: '2.0', id: i, method: 'eth_accounts', params: [] }, walletOrigin);
        });
        times.push(performance.now() - t);
      }
      f.remove();
      return times;
    },
    { walletOrigin, n },
  );
}

async function sdkRoundTrips(page: Page, n: number): Promise<number[]> {
  return page.evaluate(async (n) => {
    const c = window.dapp.client!;
    const times: number[] = [];
    for (let i = 0; i < n; i++) {
      const t = performance.now();
      await c.accounts();
      times.push(performance.now() - t);
    }
    return times;
  }, n);
}

async function walletStart(page: Page): Promise<number> {
  return page.evaluate(async () => {
    const t = performance.now();
    await window.dapp.connect();
    return performance.now() - t;
  });
}

async function blankStart(page: Page, walletOrigin: string): Promise<number> {
  return page.evaluate(async (walletOrigin) => {
    const t = performance.now();
    const f = document.createElement('iframe');
    f.style.display = 'none';
    const ready = new Promise<void>((resolve) =>
      addEventListener('message', (e) => {
        if (e.source === f.contentWindow && e.data?.method === 'echo_ready') resolve();
      }),
    );
    f.src = `${walletOrigin}/__echo.html?origin=${encodeURIComponent(location.origin)}`;
    document.body.append(f);
    await ready;
    return performance.now() - t;
  }, walletOrigin);
}

const median = (xs: number[]) => percentile(xs, 50);

export async function runRpcBench(env: BenchEnvironment): Promise<BrowserFigure[]> {
  const { browser } = env;
  const dappUrl = env.dappPage;
  // Cold start: a fresh browser context each time (empty cache and storage: the wallet
  // creates its key), then a reload in the same context (cached assets, key loaded).
  const firstRun: number[] = [];
  const reload: number[] = [];
  const blank: number[] = [];
  for (let i = 0; i < 7; i++) {
    const context = await newBenchContext(browser);
    const page = await context.newPage();
    await page.goto(dappUrl);
    blank.push(await blankStart(page, env.walletUrl));
    firstRun.push(await walletStart(page));
    await page.reload();
    reload.push(await walletStart(page));
    await context.close();
  }

  const context = await newBenchContext(browser);
  const page = await context.newPage();
  await page.goto(dappUrl);
  await walletStart(page);
  await sdkRoundTrips(page, 200); // warm up both sides
  await echoRoundTrips(page, env.walletUrl, 200);
  const ours = await sdkRoundTrips(page, ROUND_TRIPS);
  const floor = await echoRoundTrips(page, env.walletUrl, ROUND_TRIPS);
  await context.close();

  const figures: BrowserFigure[] = [
    { name: 'rpc round trip p50', unit: 'ms', ours: median(ours), baseline: median(floor), target: '≤ 1 ms', met: median(ours) <= 1 },
    { name: 'rpc round trip p99', unit: 'ms', ours: percentile(ours, 99), baseline: percentile(floor, 99), target: '(reported)', met: true },
    { name: 'cold start, first run', unit: 'ms', ours: median(firstRun), baseline: median(blank), target: '≤ 200 ms', met: median(firstRun) <= 200 },
    { name: 'cold start, reload', unit: 'ms', ours: median(reload), baseline: median(blank), target: '≤ 200 ms', met: median(reload) <= 200 },
  ];
  console.log('\nWallet RPC in Chromium (baseline: bare postMessage echo iframe / blank iframe on the same sites)');
  console.log(`${'measurement'.padEnd(26)}${'ours'.padStart(10)}${'baseline'.padStart(12)}${'ratio'.padStart(9)}  target`);
  for (const f of figures) {
    console.log(`${f.name.padEnd(26)}${`${f.ours.toFixed(2)} ms`.padStart(10)}${`${f.baseline.toFixed(2)} ms`.padStart(12)}${`${(f.ours / f.baseline).toFixed(2)}×`.padStart(9)}  ${f.target} ${f.met ? 'met' : 'NOT MET'}`);
  }
  return figures;
}
