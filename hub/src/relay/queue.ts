/**
 * Messages for addresses that have no connection, held in memory until the address logs in.
 * Per address: at most `maxMessages` and `maxBytes` (UTF-8 bytes of the messages), the oldest
 * dropped first; each message expires `ttlMs` after it was queued. Across all addresses:
 * at most `maxTotalBytes`, past which new messages are refused rather than queued.
 */

export interface QueuedMessage {
  from: string;
  message: string;
  bytes: number;
  /** When it was queued (clock ms). */
  at: number;
}

export interface QueueLimits {
  maxMessages: number;
  maxBytes: number;
  ttlMs: number;
  maxTotalBytes: number;
}

export const DEFAULT_QUEUE_LIMITS: QueueLimits = {
  maxMessages: 1_000,
  maxBytes: 4 * 1024 * 1024,
  ttlMs: 10 * 60 * 1000,
  maxTotalBytes: 256 * 1024 * 1024,
};

interface AddressQueue {
  items: QueuedMessage[];
  /** Index of the first live item (items before it were taken off the front). */
  head: number;
  bytes: number;
}

export type EnqueueResult = { queued: true; dropped: number } | { queued: false; reason: 'relay-full' | 'too-large' };

export class OfflineQueue {
  readonly #queues = new Map<string, AddressQueue>();
  readonly #limits: QueueLimits;
  readonly #now: () => number;
  #totalBytes = 0;

  constructor(limits: Partial<QueueLimits> = {}, now: () => number = Date.now) {
    this.#limits = { ...DEFAULT_QUEUE_LIMITS, ...limits };
    this.#now = now;
  }

  /** Addresses with at least one message waiting. */
  get addresses(): number {
    return this.#queues.size;
  }

  get totalBytes(): number {
    return this.#totalBytes;
  }

  /** How many messages wait for `to` (expired ones included until the next sweep or take). */
  size(to: string): number {
    const q = this.#queues.get(to);
    return q ? q.items.length - q.head : 0;
  }

  enqueue(to: string, from: string, message: string): EnqueueResult {
    const bytes = Buffer.byteLength(message, 'utf8');
    if (bytes > this.#limits.maxBytes) return { queued: false, reason: 'too-large' };
    if (this.#totalBytes + bytes > this.#limits.maxTotalBytes) {
      this.sweep();
      if (this.#totalBytes + bytes > this.#limits.maxTotalBytes) return { queued: false, reason: 'relay-full' };
    }
    let q = this.#queues.get(to);
    if (!q) this.#queues.set(to, (q = { items: [], head: 0, bytes: 0 }));
    q.items.push({ from, message, bytes, at: this.#now() });
    q.bytes += bytes;
    this.#totalBytes += bytes;
    let dropped = 0;
    while (q.items.length - q.head > this.#limits.maxMessages || q.bytes > this.#limits.maxBytes) {
      this.#shift(q);
      dropped++;
    }
    this.#compact(to, q);
    return { queued: true, dropped };
  }

  /** Removes and returns the live messages for `to`, oldest first. */
  take(to: string): QueuedMessage[] {
    const q = this.#queues.get(to);
    if (!q) return [];
    this.#queues.delete(to);
    this.#totalBytes -= q.bytes;
    const cutoff = this.#now() - this.#limits.ttlMs;
    return q.items.slice(q.head).filter((m) => m.at > cutoff);
  }

  /** Drops expired messages everywhere; returns how many. */
  sweep(): number {
    const cutoff = this.#now() - this.#limits.ttlMs;
    let dropped = 0;
    for (const [to, q] of this.#queues) {
      // Messages are queued in time order, so the expired ones are at the front.
      while (q.head < q.items.length && q.items[q.head]!.at <= cutoff) {
        this.#shift(q);
        dropped++;
      }
      this.#compact(to, q);
    }
    return dropped;
  }

  clear(): void {
    this.#queues.clear();
    this.#totalBytes = 0;
  }

  #shift(q: AddressQueue): void {
    const item = q.items[q.head]!;
    q.items[q.head] = undefined as unknown as QueuedMessage; // let the string be collected
    q.head++;
    q.bytes -= item.bytes;
    this.#totalBytes -= item.bytes;
  }

  #compact(to: string, q: AddressQueue): void {
    if (q.head === q.items.length) {
      this.#queues.delete(to);
    } else if (q.head > 64 && q.head * 2 > q.items.length) {
      q.items = q.items.slice(q.head);
      q.head = 0;
    }
  }
}
