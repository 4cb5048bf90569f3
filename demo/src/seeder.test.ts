import { describe, expect, it } from 'vitest';
import type { WalletClient } from '../../sdk-client/src/index.ts';
import { type Hex, makeManifest, sampleFile } from './exchange.ts';
import type { DemoMessage } from './link.ts';
import { Seeder } from './seeder.ts';
import { Net, peer } from './testing.ts';

type VirtualChannel = Awaited<ReturnType<WalletClient['getVirtualChannel']>>;

const HUB = peer(0xbeef);
const SEEDER_WALLET = peer(0x5eed);
const LEECHER_WALLET = peer(0x1ec4);
const CHANNEL = `0x${'ab'.repeat(32)}` as Hex;

/**
 * The seeder's wallet as the page sees it: it holds one virtual channel, whose funding ends
 * there when the test says so (as when the last postfund signature reaches it).
 */
class SeederWallet {
  readonly channel: VirtualChannel;
  readonly #listeners = new Map<string, Set<(p: unknown) => void>>();

  constructor(status: string, payee: Hex = SEEDER_WALLET) {
    this.channel = { channelId: CHANNEL, payer: LEECHER_WALLET, payee, hub: HUB, amount: '0x100000', paid: '0x0', status };
  }

  on(name: string, listener: (p: unknown) => void): () => void {
    const set = this.#listeners.get(name) ?? new Set();
    set.add(listener);
    this.#listeners.set(name, set);
    return () => set.delete(listener);
  }

  /** While set, virtual_get waits for it (the answer reflects the channel as it was asked). */
  hold: Promise<void> | undefined;

  async getVirtualChannel(): Promise<VirtualChannel> {
    const answer = { ...this.channel };
    await this.hold;
    return answer;
  }

  fundingEnds(): void {
    this.channel.status = 'running';
    this.emit('virtual_updated', { ...this.channel });
  }

  emit(name: string, params: unknown): void {
    for (const l of this.#listeners.get(name) ?? []) l(params);
  }

  get listeners(): number {
    return [...this.#listeners.values()].reduce((n, s) => n + s.size, 0);
  }
}

/** A seeder on the in-memory relay, and a leecher's link that records what the seeder answers. */
function setup(wallet: SeederWallet, fundingWaitMs?: number) {
  const net = new Net();
  const file = sampleFile(8 * 1024, 1);
  const manifest = makeManifest('f.bin', file, 1024);
  const [seederId, leecherId] = [peer(1), peer(2)];
  const errors: string[] = [];
  new Seeder({ link: net.link(seederId), wallet: wallet as unknown as WalletClient, walletAddress: SEEDER_WALLET, hub: HUB, file, manifest, pricePerByte: 1n, buffer: 2, fundingWaitMs, onError: (m) => errors.push(m) });
  const leecher = net.link(leecherId);
  const inbox: DemoMessage[] = [];
  const waiting: ((m: DemoMessage) => void)[] = [];
  leecher.onMessage((_, m) => (waiting.length ? waiting.shift()!(m) : inbox.push(m)));
  const next = () => (inbox.length ? Promise.resolve(inbox.shift()!) : new Promise<DemoMessage>((resolve) => waiting.push(resolve)));
  const send = (m: DemoMessage) => leecher.send(seederId, m);
  return { send, next, errors };
}

describe('a seeder checking the channel a leecher names', () => {
  it('waits while the channel is still funding at its wallet, and is ready once the funding ends there', async () => {
    const wallet = new SeederWallet('funding');
    const { send, next, errors } = setup(wallet);
    send({ t: 'hello', wallet: LEECHER_WALLET });
    expect((await next()).t).toBe('offer');
    send({ t: 'open', channelId: CHANNEL });
    // The leecher's wallet was done first; ours gets the last postfund signature a moment later.
    await new Promise((resolve) => setTimeout(resolve, 20));
    wallet.fundingEnds();
    expect(await next()).toEqual({ t: 'ready', channelId: CHANNEL });
    expect(errors).toEqual([]);
    expect(wallet.listeners).toBe(2); // only its own: payment_received and virtual_updated
  });

  it('refuses a channel still funding after the wait, with the reason', async () => {
    const wallet = new SeederWallet('funding');
    const { send, next, errors } = setup(wallet, 30);
    send({ t: 'hello', wallet: LEECHER_WALLET });
    await next();
    send({ t: 'open', channelId: CHANNEL });
    expect(await next()).toEqual({ t: 'error', message: `the channel was not accepted: channel ${CHANNEL}: it is funding` });
    expect(errors).toHaveLength(1);
    expect(wallet.listeners).toBe(2);
  });

  it('counts a payment the wallet reported before it answered the check', async () => {
    const wallet = new SeederWallet('running');
    let answer!: () => void;
    wallet.hold = new Promise((resolve) => (answer = resolve));
    const { send, next } = setup(wallet);
    send({ t: 'hello', wallet: LEECHER_WALLET });
    await next();
    send({ t: 'open', channelId: CHANNEL });
    await new Promise((resolve) => setTimeout(resolve, 10));
    // One piece (1 KiB at 1 wei a byte) is paid while the check's answer is on its way.
    wallet.emit('payment_received', { channelId: CHANNEL, from: LEECHER_WALLET, amount: '0x400', total: '0x400' });
    answer();
    expect(await next()).toEqual({ t: 'ready', channelId: CHANNEL });
    send({ t: 'request', pieces: [0, 1, 2, 3, 4] });
    // The buffer (two pieces) beyond the one paid: three pieces.
    const sent = [(await next()) as Extract<DemoMessage, { t: 'piece' }>, (await next()) as Extract<DemoMessage, { t: 'piece' }>, (await next()) as Extract<DemoMessage, { t: 'piece' }>];
    expect(sent.map((m) => [m.t, m.index])).toEqual([['piece', 0], ['piece', 1], ['piece', 2]]);
    send({ t: 'hello', wallet: LEECHER_WALLET }); // anything: the next message is its answer, not a fourth piece
    expect((await next()).t).toBe('offer');
  });

  it('refuses at once a running channel that pays another wallet', async () => {
    const wallet = new SeederWallet('running', peer(0xbad));
    const { send, next } = setup(wallet, 60_000);
    send({ t: 'hello', wallet: LEECHER_WALLET });
    await next();
    send({ t: 'open', channelId: CHANNEL });
    expect(await next()).toEqual({ t: 'error', message: `the channel was not accepted: channel ${CHANNEL}: it does not pay this seeder` });
  });
});
