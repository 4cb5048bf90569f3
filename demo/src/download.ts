/**
 * A download in the browser: asks each seeder for its offer over the data link, opens one virtual
 * channel per seeder through the hub with the wallet, and runs the pure Leecher: pieces come in
 * over the link, payments go out as vouchers, the buffer ahead of the data. When every piece is
 * in and the file hash matches, the channels are closed (both ledgers credited, off chain).
 * With a price of 0 no channel is opened.
 */
import type { WalletClient } from '../../sdk-client/src/index.ts';
import { type Hex, Leecher, type LeecherAction, type Manifest } from './exchange.ts';
import type { DirectLink } from './direct.ts';
import type { DataLink, DemoMessage } from './link.ts';
import { webSha256 } from './web-sha256.ts';

export interface SeederView {
  peer: Hex;
  wallet: Hex | undefined;
  channelId: Hex | undefined;
  /** 'asking', 'opening channel', 'downloading', 'closing', 'closed', 'free', 'failed: …', … */
  status: string;
  pieces: number;
  paid: bigint;
  /** Paid for pieces not yet received. */
  ahead: bigint;
  /** How its pieces travel: a direct WebRTC channel, or the hub's relay. */
  path: 'direct' | 'relay' | 'connecting';
}

export interface DownloadOptions {
  /** The relay link, or one with direct channels (direct.ts): then each seeder is offered one first. */
  link: DataLink | DirectLink;
  wallet: WalletClient | null;
  hub: Hex;
  seeders: Hex[];
  buffer: number;
  /** How long to wait for a seeder's offer and channel check. Default 15 s. */
  answerTimeoutMs?: number;
  /**
   * A seeder that owes pieces and sends nothing for this long (with no payment of ours to it
   * pending) is taken for gone: its pieces go to the others. Default 15 s.
   */
  stallTimeoutMs?: number;
  onChange?: () => void;
  onError?: (message: string) => void;
}

export interface DownloadResult {
  file: Uint8Array;
  manifest: Manifest;
  pricePerByte: bigint;
  /** Paid to each seeder (by peer id), in wei. */
  paid: Record<string, bigint>;
  channels: Record<string, Hex>;
  /** From the first request to the last piece. */
  ms: number;
}

type Waiter = { resolve: (m: DemoMessage) => void; reject: (e: Error) => void; t: DemoMessage['t'] };

export class Download {
  readonly #o: DownloadOptions;
  readonly views = new Map<Hex, SeederView>();
  #leecher: Leecher | undefined;
  #waiters = new Map<Hex, Waiter>();
  #pays: Promise<unknown>[] = [];
  /** Per seeder: when we last heard from it, and our payments to it not yet taken by the wallet. */
  #heard = new Map<Hex, number>();
  #pending = new Map<Hex, number>();
  /** Seeders taken for gone during the data phase. */
  readonly gone = new Set<Hex>();
  #failed: ((e: Error) => void) | undefined;
  #finished: (() => void) | undefined;
  /** Vouchers sent (calls to pay). */
  vouchers = 0;
  startedAt = 0;
  finishedAt = 0;
  manifest: Manifest | undefined;
  pricePerByte = 0n;

  constructor(options: DownloadOptions) {
    if (options.seeders.length === 0) throw new Error('name at least one seeder');
    if (new Set(options.seeders).size !== options.seeders.length) throw new Error('a seeder is named twice');
    this.#o = options;
    for (const peer of options.seeders) this.views.set(peer, { peer, wallet: undefined, channelId: undefined, status: 'asking', pieces: 0, paid: 0n, ahead: 0n, path: 'relay' });
    options.link.onMessage((from, m) => this.#onMessage(from, m));
  }

  get bytesReceived(): number {
    return this.#leecher?.bytesReceived ?? 0;
  }
  get totalPaid(): bigint {
    return this.#leecher?.totalPaid ?? 0n;
  }

  async run(): Promise<DownloadResult> {
    const o = this.#o;
    const myWallet = o.wallet ? ((await o.wallet.accounts())[0]?.toLowerCase() as Hex | undefined) : ('0x0000000000000000000000000000000000000000' as Hex);
    if (!myWallet) throw new Error('connect the wallet first');
    // 1. Offers: every seeder must have the same file at the same price.
    const offers = await Promise.all(
      o.seeders.map(async (peer) => {
        const offer = (await this.#ask(peer, { t: 'hello', wallet: myWallet }, 'offer')) as Extract<DemoMessage, { t: 'offer' }>;
        this.#view(peer, { wallet: offer.wallet, status: 'offered' });
        return offer;
      }),
    );
    const first = offers[0]!;
    for (const [i, offer] of offers.entries()) {
      if (offer.manifest.fileHash !== first.manifest.fileHash || offer.manifest.pieceSize !== first.manifest.pieceSize) throw new Error(`seeder ${o.seeders[i]} offers another file (${offer.manifest.name}, ${offer.manifest.fileHash.slice(0, 10)}…) than ${o.seeders[0]}`);
      if (offer.pricePerByte !== first.pricePerByte) throw new Error(`seeder ${o.seeders[i]} asks ${offer.pricePerByte} wei per byte, ${o.seeders[0]} asks ${first.pricePerByte}: pick seeders with one price`);
    }
    const manifest = first.manifest;
    const price = BigInt(first.pricePerByte);
    this.manifest = manifest;
    this.pricePerByte = price;
    if (price > 0n && !o.wallet) throw new Error('this file is not free: connect the wallet');

    // 2. A direct channel per seeder where WebRTC gets through (while the virtual channels open);
    // the relay where it does not.
    const direct = 'connectDirect' in o.link ? o.link : undefined;
    const connected = Promise.all(
      o.seeders.map(async (peer) => {
        if (!direct) return;
        this.#view(peer, { path: 'connecting' });
        this.#view(peer, { path: (await direct.connectDirect(peer)) ? 'direct' : 'relay' });
      }),
    );

    // 3. A virtual channel per seeder, big enough for the whole file: no prompt, no transaction.
    const channels: Record<string, Hex> = {};
    if (price > 0n) {
      const amount = `0x${(BigInt(manifest.size) * price).toString(16)}` as Hex;
      const opened = await Promise.allSettled(
        offers.map(async (offer, i) => {
          const peer = o.seeders[i]!;
          this.#view(peer, { status: 'opening channel' });
          const v = await o.wallet!.createVirtualChannel({ payee: offer.wallet, hub: o.hub, amount });
          channels[peer] = v.channelId as Hex;
          this.#view(peer, { channelId: v.channelId as Hex, status: 'channel open' });
          await this.#ask(peer, { t: 'open', channelId: v.channelId as Hex }, 'ready');
        }),
      );
      const refused = opened.find((r) => r.status === 'rejected');
      if (refused) {
        // Nothing was paid: the channels that did open go back to the budget (in the background:
        // a seeder that did not answer may be gone, and its channel closes when it is back).
        for (const [peer, channelId] of Object.entries(channels)) void this.#close(peer as Hex, channelId, 'the unused channel');
        throw refused.reason;
      }
    }

    await connected;

    // 4. Pieces and payments.
    const leecher = new Leecher(manifest, { pricePerByte: price, buffer: o.buffer });
    this.#leecher = leecher;
    const done = new Promise<void>((resolve, reject) => {
      this.#finished = resolve;
      this.#failed = reject;
    });
    this.startedAt = performance.now();
    for (const peer of o.seeders) this.#heard.set(peer, this.startedAt);
    const stallMs = o.stallTimeoutMs ?? 15_000;
    const watchdog = setInterval(() => this.#dropStalled(stallMs), Math.min(1_000, stallMs / 4));
    for (const peer of o.seeders) {
      this.#view(peer, { status: price > 0n ? 'downloading' : 'free' });
      this.#perform(leecher.addSeeder(peer));
    }
    let file: Uint8Array | undefined;
    let failure: unknown;
    try {
      await done;
      this.finishedAt = performance.now();
      file = await leecher.assemble(webSha256);
    } catch (e) {
      failure = e;
    } finally {
      clearInterval(watchdog);
    }
    await this.#settled();

    // 5. Close the channels, also when the download failed (what was paid is the seeder's; the
    // rest of the channel goes back to the budget): the final state from the largest voucher, both
    // ledgers credited. A gone seeder's channel closes when its wallet is back; not waited for.
    const paid: Record<string, bigint> = {};
    await Promise.all(
      o.seeders.map(async (peer) => {
        paid[peer] = leecher.progress(peer)!.paid;
        if (!this.gone.has(peer)) o.link.send(peer, { t: 'bye' });
        if (!channels[peer]) return this.#view(peer, { status: this.gone.has(peer) ? this.views.get(peer)!.status : 'done' });
        this.#view(peer, { status: this.gone.has(peer) ? 'closing (when the seeder is back)' : 'closing' });
        const closed = this.#close(peer, channels[peer], 'the channel');
        if (!this.gone.has(peer)) await closed;
      }),
    );
    if (failure !== undefined) throw failure;
    return { file: file!, manifest, pricePerByte: price, paid, channels, ms: this.finishedAt - this.startedAt };
  }

  /** Closes `channelId` to `peer`; its row shows how that ends, and a failure is reported as closing `what`. */
  #close(peer: Hex, channelId: Hex, what: string): Promise<void> {
    return this.#o.wallet!.closeVirtualChannel({ channelId }).then(
      (v) => this.#view(peer, { status: v.status }),
      (e: Error) => {
        this.#view(peer, { status: `close failed: ${e.message}` });
        this.#o.onError?.(`closing ${what} to seeder ${peer} failed: ${e.message}`);
      },
    );
  }

  #activeSeeders(): number {
    return [...this.views.values()].filter((v) => !this.gone.has(v.peer) && !v.status.startsWith('failed')).length;
  }

  /** Seeders that owe pieces and have sent nothing for `stallMs` (while we owe them no payment) are dropped. */
  #dropStalled(stallMs: number): void {
    const leecher = this.#leecher;
    if (!leecher || leecher.done) return;
    const now = performance.now();
    for (const [peer, view] of this.views) {
      if (this.gone.has(peer) || view.status.startsWith('failed')) continue;
      const owed = leecher.progress(peer)?.inFlight ?? 0;
      if (owed === 0 || (this.#pending.get(peer) ?? 0) > 0 || now - (this.#heard.get(peer) ?? now) < stallMs) continue;
      this.gone.add(peer);
      const message = `seeder ${peer} sent nothing for ${stallMs / 1000} s with ${owed} piece(s) owed: taken for gone, its pieces go to the others`;
      this.#view(peer, { status: `gone: nothing for ${stallMs / 1000} s` });
      this.#o.onError?.(message);
      this.#perform(leecher.removeSeeder(peer));
      if (this.#activeSeeders() === 0) this.#failed?.(new Error('every seeder failed or stopped sending: are their pages still open?'));
    }
  }

  #view(peer: Hex, patch: Partial<SeederView>): void {
    Object.assign(this.views.get(peer)!, patch);
    this.#o.onChange?.();
  }

  #ask(peer: Hex, message: DemoMessage, answer: DemoMessage['t']): Promise<DemoMessage> {
    return new Promise<DemoMessage>((resolve, reject) => {
      const ms = this.#o.answerTimeoutMs ?? 15_000;
      const timer = setTimeout(() => {
        this.#waiters.delete(peer);
        this.#view(peer, { status: 'no answer' });
        reject(new Error(`seeder ${peer} did not answer within ${ms / 1000} s: is its page open and seeding?`));
      }, ms);
      this.#waiters.set(peer, {
        t: answer,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.#o.link.send(peer, message);
    });
  }

  #perform(actions: LeecherAction[]): void {
    const o = this.#o;
    for (const a of actions) {
      if (a.type === 'request') {
        o.link.send(a.seeder, { t: 'request', pieces: a.pieces });
        // Its silence counts from when it was asked (an idle seeder may be handed a gone one's pieces).
        this.#heard.set(a.seeder as Hex, performance.now());
      } else if (a.amount > 0n) {
        this.#pay(a.seeder as Hex, a.amount);
      }
    }
    if (this.#leecher) {
      for (const [peer] of this.views) {
        const p = this.#leecher.progress(peer);
        if (p) Object.assign(this.views.get(peer)!, { pieces: p.pieces, paid: p.paid, ahead: this.#leecher.paidAhead(peer) });
      }
    }
    o.onChange?.();
    if (this.#leecher?.done) this.#finished?.();
  }

  /**
   * Pays `amount` more to `seeder`: one voucher per piece, sent at once. The wallet takes many
   * calls on one channel in flight and keeps their order, so a piece falling due never waits for
   * the voucher before it.
   */
  #pay(seeder: Hex, amount: bigint): void {
    const channelId = this.views.get(seeder)!.channelId!;
    this.vouchers++;
    this.#pending.set(seeder, (this.#pending.get(seeder) ?? 0) + 1);
    const sent = this.#o.wallet!.pay({ channelId, amount: `0x${amount.toString(16)}` }).then(
      () => {
        this.#pending.set(seeder, this.#pending.get(seeder)! - 1);
        // The seeder may send only once it has been paid: its silence counts from here.
        this.#heard.set(seeder, performance.now());
      },
      (e: Error) => this.#failed?.(new Error(`paying seeder ${seeder} failed: ${e.message}`)),
    );
    this.#pays.push(sent);
  }

  /** Resolves once every voucher due has been paid. */
  async #settled(): Promise<void> {
    while (this.#pays.length > 0) await Promise.all(this.#pays.splice(0));
  }

  /** Hashes the piece with WebCrypto (off this thread), then hands it to the Leecher. */
  async #onPiece(from: Hex, index: number, data: Uint8Array): Promise<void> {
    const digest = await webSha256(data);
    if (!this.#leecher || this.#leecher.done) return;
    const verdict = this.#leecher.onPiece(from, index, data, digest);
    if (!verdict.ok) this.#o.onError?.(verdict.reason);
    this.#perform(verdict.actions);
  }

  #onMessage(from: Hex, m: DemoMessage): void {
    const view = this.views.get(from);
    if (!view) return; // not one of ours
    if (this.gone.has(from)) return; // dropped: what it sends now is not asked of it
    this.#heard.set(from, performance.now());
    const waiter = this.#waiters.get(from);
    if (m.t === 'error') {
      const error = new Error(`seeder ${from}: ${m.message}`);
      this.#o.onError?.(error.message);
      this.#view(from, { status: `failed: ${m.message}` });
      if (waiter) {
        this.#waiters.delete(from);
        waiter.reject(error);
      } else if (this.#leecher) {
        this.#perform(this.#leecher.removeSeeder(from));
        if (this.#activeSeeders() === 0) this.#failed?.(new Error('every seeder failed or stopped sending'));
      }
      return;
    }
    if (waiter && waiter.t === m.t) {
      this.#waiters.delete(from);
      waiter.resolve(m);
      return;
    }
    if (m.t === 'piece' && this.#leecher) {
      void this.#onPiece(from, m.index, m.data);
      return;
    }
    this.#o.onError?.(`seeder ${from}: unexpected "${m.t}" message`);
  }
}
