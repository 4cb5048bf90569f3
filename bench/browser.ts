/**
 * Browser benchmark plumbing: production builds of the wallet and the test dapp, served by
 * small static servers on two different sites (127.0.0.1 and localhost), and Debian Chromium
 * launched as the e2e tests launch it.
 */
import { createReadStream, existsSync, statSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, type BrowserContext, type Page, chromium } from '@playwright/test';
import type { BenchEnvironment } from './environment.ts';
import { build } from 'vite';
import { freePort } from '../chain/anvil.ts';
import { chromiumLaunchOptions } from '../e2e/chromium.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const OUT = join(ROOT, '.local', 'bench');

const MIME: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.wasm': 'application/wasm', '.json': 'application/json' };

export interface Served {
  url: string;
  close(): Promise<void>;
}

/** Serves `dir` on host:port, plus extra in-memory pages. */
export async function serveStatic(dir: string, host: string, extra: Record<string, string> = {}): Promise<Served> {
  const port = await freePort(host === 'localhost' ? '127.0.0.1' : host);
  const server: Server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    if (extra[path] !== undefined) {
      res.writeHead(200, { 'content-type': 'text/html' }).end(extra[path]);
      return;
    }
    const file = normalize(join(dir, path === '/' ? 'index.html' : path));
    if (!file.startsWith(dir) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': MIME[extname(file)] ?? 'application/octet-stream' });
    createReadStream(file).pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(port, host === 'localhost' ? '127.0.0.1' : host, resolve));
  return { url: `http://${host}:${port}`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

/** Production builds of the wallet page and the test dapp. */
export async function buildPages(): Promise<{ walletDir: string; dappDir: string }> {
  const walletDir = join(OUT, 'wallet');
  const dappDir = join(OUT, 'dapp');
  await build({ root: ROOT, logLevel: 'warn', build: { outDir: walletDir, emptyOutDir: true } });
  await build({ configFile: join(ROOT, 'e2e', 'dapp', 'vite.config.ts'), logLevel: 'warn', build: { outDir: dappDir, emptyOutDir: true } });
  return { walletDir, dappDir };
}

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({ ...chromiumLaunchOptions, headless: true });
}

/**
 * tsx compiles this file with esbuild's keepNames, which wraps named functions in `__name(…)`;
 * functions handed to page.evaluate carry those calls into the page, so define it there.
 */
export async function newBenchContext(browser: Browser): Promise<BrowserContext> {
  const context = await browser.newContext();
  await context.addInitScript({ content: 'globalThis.__name = (f) => f;' });
  return context;
}

export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

/** A user for the browser benchmarks: a fresh context on the test dapp, the wallet connected (approved) and on the hub's relay. */
export async function benchUser(env: BenchEnvironment): Promise<{ page: Page; address: string }> {
  const context = await newBenchContext(env.browser);
  const page = await context.newPage();
  await page.goto(env.dappPage);
  await page.evaluate(() => window.dapp.connect());
  const accounts = page.evaluate(() => window.dapp.client!.requestAccounts());
  await page.frameLocator('iframe').getByTestId('connect-approve').click();
  const [address] = await accounts;
  await page.evaluate(() => window.dapp.connectRelay());
  return { page, address: address! };
}
