/**
 * A seeder in the browser: offers one file over the data link, checks each leecher's virtual
 * channel with its wallet, and sends pieces as the wallet reports payments (payment_received),
 * never more than its buffer ahead. With a price of 0 it needs no wallet and no channel.
 */
import type { WalletClient } from '../../sdk-client/src/index.ts';
import { type Hex, type Manifest, SeederSession, pieceOf } from './exchange.ts';
import type { DataLink, DemoMessage } from './link.ts';

type VirtualChannel = Awaited<ReturnType<WalletClient['getVirtualChannel']>>;

export interface LeecherView {
  peer: Hex;
  wallet: Hex;
  channelId: Hex | undefined;
  /** The channel's status as the wallet reports it ('running', 'closed', …), or 'free'. */
  status: string;
  piecesSent: number;
  /** Wei paid on the channel, per the vouchers the wallet stored. */
  paid: bigint;
}

export interface SeederOptions {
  link: DataLink;
  /** The wallet (null when the file is free). */
  wallet: WalletClient | null;
  walletAddress: Hex;
  hub: Hex;
  file: Uint8Array;
  manifest: Manifest;
  pricePerByte: bigint;
  buffer: number;
  /** How long a channel a leecher names may still be funding at our wallet. Default 10 s. */
  fundingWaitMs?: number;
  onChange?: () => void;
  onError?: (message: string) => void;
}

interface Peer {
  view: LeecherView;
  session: SeederSession | undefined;
}

export class Seeder {
  readonly #o: SeederOptions;
  readonly #peers = new Map<Hex, Peer>();
  readonly #byChannel = new Map<Hex, Peer>();
  /** Payment totals by channel, also those heard of before the leecher said which channel is its. */
  readonly #paid = new Map<Hex, bigint>();
  readonly #unsubscribe: (() => void)[] = [];

  constructor(options: SeederOptions) {
    this.#o = options;
    options.link.onMessage((from, message) => {
      try {
        this.#onMessage(from, message);
      } catch (e) {
        this.#fail(from, (e as Error).message);
      }
    });
    if (options.wallet) {
      this.#unsubscribe.push(
        options.wallet.on('payment_received', (p) => this.#onPaid(p.channelId as Hex, BigInt(p.total))),
        options.wallet.on('virtual_updated', (v) => {
          const peer = this.#byChannel.get(v.channelId as Hex);
          if (peer) {
            peer.view.status = v.status;
            this.#onPaid(v.channelId as Hex, BigInt(v.paid));
            this.#changed();
          }
        }),
      );
    }
  }

  get leechers(): LeecherView[] {
    return [...this.#peers.values()].map((p) => ({ ...p.view }));
  }
  get earned(): bigint {
    let t = 0n;
    for (const p of this.#peers.values()) t += p.view.paid;
    return t;
  }

  stop(): void {
    for (const u of this.#unsubscribe) u();
  }

  #changed(): void {
    this.#o.onChange?.();
  }

  #fail(to: Hex, message: string): void {
    this.#o.onError?.(`leecher ${to.slice(0, 10)}…: ${message}`);
    this.#o.link.send(to, { t: 'error', message });
  }

  #onMessage(from: Hex, m: DemoMessage): void {
    const o = this.#o;
    switch (m.t) {
      case 'hello': {
        const free = o.pricePerByte === 0n;
        const peer: Peer = this.#peers.get(from) ?? { view: { peer: from, wallet: m.wallet, channelId: undefined, status: free ? 'free' : 'waiting for a channel', piecesSent: 0, paid: 0n }, session: undefined };
        peer.view.wallet = m.wallet;
        if (free) peer.session ??= new SeederSession(o.manifest, { pricePerByte: 0n, buffer: o.buffer });
        this.#peers.set(from, peer);
        o.link.send(from, { t: 'offer', wallet: o.walletAddress, manifest: o.manifest, pricePerByte: o.pricePerByte.toString(), buffer: o.buffer });
        this.#changed();
        return;
      }
      case 'open': {
        const peer = this.#peers.get(from);
        if (!peer) throw new Error('say hello first');
        if (!o.wallet) throw new Error('this file is free: no channel needed');
        void this.#checkChannel(from, peer, m.channelId);
        return;
      }
      case 'request': {
        const peer = this.#peers.get(from);
        if (!peer?.session) throw new Error('open a virtual channel to this seeder before asking for pieces');
        this.#send(from, peer, peer.session.onRequest(m.pieces).map((a) => a.piece));
        return;
      }
      case 'bye': {
        const peer = this.#peers.get(from);
        if (peer && !peer.view.channelId) peer.view.status = 'done';
        this.#changed();
        return;
      }
      case 'error':
        o.onError?.(`leecher ${from.slice(0, 10)}… says: ${m.message}`);
        return;
      default:
        throw new Error(`a seeder does not take "${m.t}" messages`);
    }
  }

  /** The leecher names its channel: the wallet must hold it as a running channel from that leecher to us. */
  async #checkChannel(from: Hex, peer: Peer, channelId: Hex): Promise<void> {
    const o = this.#o;
    try {
      const v = await this.#funded(channelId);
      const problem =
        v.payee.toLowerCase() !== o.walletAddress ? 'it does not pay this seeder' : v.payer.toLowerCase() !== peer.view.wallet ? 'its payer is not the wallet you said hello with' : v.hub.toLowerCase() !== o.hub ? 'it is not through this hub' : v.status !== 'running' ? `it is ${v.status}` : undefined;
      if (problem) throw new Error(`channel ${channelId}: ${problem}`);
      if (this.#byChannel.has(channelId) && this.#byChannel.get(channelId) !== peer) throw new Error(`channel ${channelId} belongs to another leecher`);
      peer.view.channelId = channelId;
      peer.view.status = v.status;
      peer.session ??= new SeederSession(o.manifest, { pricePerByte: o.pricePerByte, buffer: o.buffer });
      this.#byChannel.set(channelId, peer);
      o.link.send(from, { t: 'ready', channelId });
      // What was paid, also by payments heard of before the channel was accepted.
      const known = this.#paid.get(channelId) ?? 0n;
      const total = BigInt(v.paid) > known ? BigInt(v.paid) : known;
      this.#paid.set(channelId, total);
      peer.view.paid = total;
      this.#send(from, peer, peer.session.onPaid(total).map((a) => a.piece));
      this.#changed();
    } catch (e) {
      this.#fail(from, `the channel was not accepted: ${(e as Error).message}`);
    }
  }

  /**
   * The channel as our wallet holds it, once its funding has ended there. The leecher's wallet
   * may be done with the funding a moment before ours (each is done when it holds all three
   * postfund signatures, and ours may be the last to arrive), so 'funding' is waited out, for
   * `fundingWaitMs` at most.
   */
  async #funded(channelId: Hex): Promise<VirtualChannel> {
    const wallet = this.#o.wallet!;
    let settle: ((v: VirtualChannel) => void) | undefined;
    const updated = new Promise<VirtualChannel>((resolve) => (settle = resolve));
    const unsubscribe = wallet.on('virtual_updated', (v) => {
      if (v.channelId.toLowerCase() === channelId.toLowerCase() && v.status !== 'funding') settle!(v);
    });
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const v = await wallet.getVirtualChannel({ channelId });
      if (v.status !== 'funding') return v;
      const late = new Promise<VirtualChannel>((resolve) => (timer = setTimeout(() => resolve(v), this.#o.fundingWaitMs ?? 10_000)));
      return await Promise.race([updated, late]);
    } finally {
      clearTimeout(timer);
      unsubscribe();
    }
  }

  #onPaid(channelId: Hex, total: bigint): void {
    if (total <= (this.#paid.get(channelId) ?? 0n)) return;
    this.#paid.set(channelId, total);
    const peer = this.#byChannel.get(channelId);
    if (!peer?.session) return;
    peer.view.paid = total;
    this.#send(peer.view.peer, peer, peer.session.onPaid(total).map((a) => a.piece));
    this.#changed();
  }

  #send(to: Hex, peer: Peer, pieces: number[]): void {
    const o = this.#o;
    for (const index of pieces) o.link.send(to, { t: 'piece', index, data: pieceOf(o.file, o.manifest, index) });
    peer.view.piecesSent = peer.session!.piecesSent;
    if (pieces.length) this.#changed();
  }
}
