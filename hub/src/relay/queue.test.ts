import { describe, expect, it } from 'vitest';
import { DEFAULT_QUEUE_LIMITS, OfflineQueue } from './queue.ts';

const A = '0x' + 'a'.repeat(40);
const B = '0x' + 'b'.repeat(40);
const FROM = '0x' + 'f'.repeat(40);

function clock() {
  let now = 1_000_000;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

describe('OfflineQueue', () => {
  it('has the documented defaults', () => {
    expect(DEFAULT_QUEUE_LIMITS).toMatchObject({ maxMessages: 1_000, maxBytes: 4 * 1024 * 1024, ttlMs: 600_000 });
  });

  it('keeps messages per address, in order, and take() empties the address', () => {
    const q = new OfflineQueue();
    q.enqueue(A, FROM, 'a1');
    q.enqueue(B, FROM, 'b1');
    q.enqueue(A, FROM, 'a2');
    expect(q.addresses).toBe(2);
    expect(q.take(A).map((m) => m.message)).toEqual(['a1', 'a2']);
    expect(q.take(A)).toEqual([]);
    expect(q.take(B).map((m) => [m.from, m.message])).toEqual([[FROM, 'b1']]);
    expect(q.addresses).toBe(0);
    expect(q.totalBytes).toBe(0);
  });

  it('drops the oldest past the message cap', () => {
    const q = new OfflineQueue({ maxMessages: 3 });
    const results = [1, 2, 3, 4, 5].map((i) => q.enqueue(A, FROM, `m${i}`));
    expect(results.map((r) => (r.queued ? r.dropped : -1))).toEqual([0, 0, 0, 1, 1]);
    expect(q.take(A).map((m) => m.message)).toEqual(['m3', 'm4', 'm5']);
  });

  it('drops the oldest past the byte cap (UTF-8 bytes)', () => {
    const q = new OfflineQueue({ maxBytes: 10 });
    q.enqueue(A, FROM, 'aaaa'); // 4
    q.enqueue(A, FROM, 'ééé'); // 6 bytes
    expect(q.totalBytes).toBe(10);
    expect(q.enqueue(A, FROM, 'x')).toEqual({ queued: true, dropped: 1 });
    expect(q.take(A).map((m) => m.message)).toEqual(['ééé', 'x']);
    expect(q.enqueue(A, FROM, 'y'.repeat(11))).toEqual({ queued: false, reason: 'too-large' });
  });

  it('expires messages after the TTL, on take and on sweep', () => {
    const c = clock();
    const q = new OfflineQueue({ ttlMs: 1_000 }, c.now);
    q.enqueue(A, FROM, 'old');
    q.enqueue(B, FROM, 'old-b');
    c.advance(600);
    q.enqueue(A, FROM, 'new');
    c.advance(400);
    expect(q.take(A).map((m) => m.message)).toEqual(['new']);
    expect(q.size(B)).toBe(1);
    expect(q.sweep()).toBe(1);
    expect(q.size(B)).toBe(0);
    expect(q.addresses).toBe(0);
    expect(q.totalBytes).toBe(0);
  });

  it('refuses new messages once the relay-wide cap is reached, until something expires', () => {
    const c = clock();
    const q = new OfflineQueue({ maxTotalBytes: 8, ttlMs: 1_000 }, c.now);
    expect(q.enqueue(A, FROM, 'aaaa').queued).toBe(true);
    expect(q.enqueue(B, FROM, 'bbbb').queued).toBe(true);
    expect(q.enqueue(B, FROM, 'c')).toEqual({ queued: false, reason: 'relay-full' });
    c.advance(1_000);
    expect(q.enqueue(B, FROM, 'c').queued).toBe(true);
    expect(q.take(B).map((m) => m.message)).toEqual(['c']);
  });

  it('stays correct across many shifts (compaction)', () => {
    const q = new OfflineQueue({ maxMessages: 10 });
    for (let i = 0; i < 1_000; i++) q.enqueue(A, FROM, `m${i}`);
    expect(q.size(A)).toBe(10);
    expect(q.take(A).map((m) => m.message)).toEqual(Array.from({ length: 10 }, (_, i) => `m${990 + i}`));
  });
});
