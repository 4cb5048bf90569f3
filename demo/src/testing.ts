/** Test helpers for the demo: pages joined by an in-memory relay. */
import type { Hex } from './exchange.ts';
import type { DataLink, DemoMessage } from './link.ts';

export const peer = (n: number) => `0x${n.toString(16).padStart(40, '0')}` as Hex;

/** Pages joined by an in-memory relay: each message is delivered on a later task, like the hub's. */
export class Net {
  readonly #inboxes = new Map<Hex, (from: Hex, m: DemoMessage) => void>();
  /** Peers whose messages stop reaching anyone once they have sent this many pieces. */
  readonly muteAfter = new Map<Hex, number>();
  readonly #piecesSent = new Map<Hex, number>();

  link(peerId: Hex): DataLink {
    const handlers: ((from: Hex, m: DemoMessage) => void)[] = [];
    this.#inboxes.set(peerId, (from, m) => handlers.forEach((h) => h(from, m)));
    return {
      peerId,
      send: (to, message) => {
        if (message.t === 'piece') this.#piecesSent.set(peerId, (this.#piecesSent.get(peerId) ?? 0) + 1);
        if ((this.#piecesSent.get(peerId) ?? 0) > (this.muteAfter.get(peerId) ?? Infinity)) return;
        setTimeout(() => this.#inboxes.get(to as Hex)?.(peerId, message));
      },
      onMessage: (h) => void handlers.push(h),
      onError: () => {},
      close: () => {},
    };
  }
}

