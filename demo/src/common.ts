/**
 * What both demo pages share: where the wallet and the hub are, the wallet panel (connect, the
 * budget with the hub, closing it), formatting, and `window.demo` for the e2e tests.
 */
import { type WalletClient, connect } from '../../sdk-client/src/index.ts';
import type { Hex } from './exchange.ts';

declare const __DEMO_WALLET_URL__: string;
declare const __DEMO_RELAY_URL__: string;
declare const __DEMO_SITES__: string[];

const query = new URLSearchParams(location.search);
/** `?wallet=` and `?relay=` override what `npm start` runs; links between the pages keep them. */
export const walletUrl = query.get('wallet') ?? __DEMO_WALLET_URL__;
export const relayUrl = query.get('relay') ?? __DEMO_RELAY_URL__;
export const sites: string[] = __DEMO_SITES__;
export const ZERO: Hex = '0x0000000000000000000000000000000000000000';

/** A page of the demo on `origin`, with the same wallet and relay, plus `params`. */
export function pageUrl(origin: string, page: string, params: Record<string, string> = {}): string {
  const url = new URL(page, origin);
  if (query.has('wallet')) url.searchParams.set('wallet', walletUrl);
  if (query.has('relay')) url.searchParams.set('relay', relayUrl);
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  return url.toString();
}

export const $ = <T extends HTMLElement = HTMLElement>(id: string) => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} is missing from the page`);
  return el as T;
};

export function formatEth(wei: bigint): string {
  const s = wei.toString().padStart(19, '0');
  const whole = s.slice(0, -18);
  const frac = s.slice(-18).replace(/0+$/, '');
  return `${whole}${frac ? `.${frac.slice(0, 8)}` : ''} ETH`;
}

/** "0.05" (ETH) → wei. Throws a RangeError that says what is wrong. */
export function parseEth(text: string): bigint {
  const t = text.trim();
  const m = /^(\d{1,9})(?:\.(\d{1,18}))?$/.exec(t);
  if (!m) throw new RangeError(`"${text}" is not an amount of ETH (e.g. 0.05)`);
  return BigInt(m[1]!) * 10n ** 18n + BigInt((m[2] ?? '').padEnd(18, '0'));
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(2)} MiB`;
}

export const short = (hex: string | undefined) => (hex ? `${hex.slice(0, 8)}…${hex.slice(-4)}` : '—');

/** Appends a line to the page's log; errors in red. */
export function log(message: string, kind: 'info' | 'error' = 'info'): void {
  const box = document.getElementById('log');
  if (!box) return;
  const line = document.createElement('div');
  line.className = kind;
  line.textContent = `${new Date().toLocaleTimeString()}  ${message}`;
  box.prepend(line);
  if (kind === 'error') console.warn(message);
}

/** The hub's address, from its health endpoint beside the relay. */
export async function fetchHub(relay: string): Promise<Hex> {
  const url = new URL('/hub/health', relay.replace(/^ws/, 'http'));
  let res: Response;
  try {
    res = await fetch(url);
  } catch {
    throw new Error(`the hub does not answer at ${url}: is \`npm start\` running?`);
  }
  const body = (await res.json()) as { address?: string };
  if (!res.ok || typeof body.address !== 'string') throw new Error(`the hub at ${url} answered ${res.status} without its address`);
  return body.address.toLowerCase() as Hex;
}

export interface Budget {
  status: string;
  send: bigint;
  receive: bigint;
  locked: bigint;
}

/**
 * The wallet panel: the wallet iframe (its dialogs appear over this page), a connect button, the
 * budget with the hub (approve, what is left, close and withdraw).
 */
export class WalletPanel {
  client: WalletClient | null = null;
  address: Hex | undefined;
  hub: Hex | undefined;
  budget: Budget | undefined;
  readonly #role: 'send' | 'receive';
  readonly #onChange: () => void;

  constructor(role: 'send' | 'receive', onChange: () => void = () => {}) {
    this.#role = role;
    this.#onChange = onChange;
    $('wallet-connect').addEventListener('click', () => void this.#guard(() => this.connect()));
    $('budget-request').addEventListener('click', () => void this.#guard(() => this.requestBudget(parseEth($<HTMLInputElement>('budget-amount').value))));
    $('budget-close').addEventListener('click', () => void this.#guard(() => this.closeBudget()));
    this.render();
  }

  async #guard(f: () => Promise<void>): Promise<void> {
    try {
      await f();
    } catch (e) {
      log((e as Error).message, 'error');
      this.render();
    }
  }

  /** Mounts the wallet (hidden until it needs the user), then the user approves this site. */
  async connect(): Promise<void> {
    $('wallet-status').textContent = 'connecting…';
    this.hub ??= await fetchHub(relayUrl);
    this.client ??= await connect({ walletUrl });
    this.client.on('budget_updated', (b) => {
      if (b.hub.toLowerCase() === this.hub) this.#setBudget(b);
    });
    const [address] = await this.client.requestAccounts();
    this.address = address!.toLowerCase() as Hex;
    await this.client.useRelay({ relayUrl });
    log(`wallet ${short(this.address)} connected, on the hub's relay`);
    try {
      this.#setBudget(await this.client.getBudget({ hub: this.hub }));
    } catch {
      // no budget with this hub yet
    }
    this.render();
  }

  async requestBudget(amount: bigint): Promise<void> {
    if (!this.client || !this.hub) throw new Error('connect the wallet first');
    if (amount <= 0n) throw new RangeError('the budget must be more than 0 ETH');
    $('budget-status').textContent = 'waiting for your approval in the wallet…';
    const b = await this.client.requestBudget({ hub: this.hub, asset: ZERO, sendAmount: this.#role === 'send' ? hex(amount) : '0x0', receiveAmount: this.#role === 'receive' ? hex(amount) : '0x0' });
    this.#setBudget(b);
    log(`budget approved and funded: ${formatEth(amount)} to ${this.#role === 'send' ? 'spend' : 'receive'}`);
  }

  async closeBudget(): Promise<void> {
    if (!this.client || !this.hub) throw new Error('connect the wallet first');
    $('budget-status').textContent = 'waiting for your approval in the wallet…';
    this.#setBudget(await this.client.closeBudget({ hub: this.hub }));
    log('budget closed: withdrawn to your wallet account on chain');
  }

  #setBudget(b: { status: string; send: string; receive: string; locked: string }): void {
    this.budget = { status: b.status, send: BigInt(b.send), receive: BigInt(b.receive), locked: BigInt(b.locked) };
    this.render();
    this.#onChange();
  }

  render(): void {
    $('wallet-status').textContent = this.address ? `connected: ${this.address}` : 'not connected';
    $<HTMLButtonElement>('wallet-connect').disabled = this.address !== undefined;
    const b = this.budget;
    const running = b?.status === 'running';
    $<HTMLButtonElement>('budget-request').disabled = !this.address || (b !== undefined && b.status !== 'closed');
    $<HTMLButtonElement>('budget-close').disabled = !running;
    $('budget-status').textContent = b ? b.status : this.address ? 'no budget yet' : '—';
    $('budget-left').textContent = b ? formatEth(b.send) : '—';
    $('budget-locked').textContent = b ? formatEth(b.locked) : '—';
    $('budget-receive').textContent = b ? formatEth(b.receive) : '—';
  }
}

/** `render` once on the next animation frame, however many times this is called before it. */
export function onNextFrame(render: () => void): () => void {
  let scheduled = false;
  return () => {
    if (scheduled) return;
    scheduled = true;
    requestAnimationFrame(() => {
      scheduled = false;
      render();
    });
  };
}

export const hex = (n: bigint) => `0x${n.toString(16)}` as Hex;

export { webSha256 } from './web-sha256.ts';
