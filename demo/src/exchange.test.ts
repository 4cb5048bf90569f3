import { describe, expect, it } from 'vitest';
import { Leecher, type LeecherAction, type Manifest, SeederSession, bufferValue, hashBytes, makeManifest, parseManifest, pieceCost, pieceOf, sampleFile } from './exchange.ts';

/** A small seeded PRNG so each simulated run is reproducible. */
function rng(seed: number) {
  let x = seed >>> 0 || 1;
  return (n: number) => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x % n;
  };
}

type Event = { kind: 'request'; seeder: string; pieces: number[] } | { kind: 'pay'; seeder: string; amount: bigint } | { kind: 'piece'; seeder: string; index: number; bytes: Uint8Array };

interface SimOptions {
  seeders: string[];
  buffer: number;
  seederBuffer?: number;
  price: bigint;
  seed: number;
  /** Seeders that send a corrupt copy the first time they send these pieces. */
  corrupt?: Record<string, Set<number>>;
}

/**
 * Runs a whole download over a simulated network that delivers messages (requests, payments,
 * pieces) in a random order, checking both sides' buffer invariants after every delivery.
 */
function simulate(file: Uint8Array, manifest: Manifest, o: SimOptions) {
  const next = rng(o.seed);
  const leecher = new Leecher(manifest, { pricePerByte: o.price, buffer: o.buffer });
  const sessions = new Map(o.seeders.map((id) => [id, new SeederSession(manifest, { pricePerByte: o.price, buffer: o.seederBuffer ?? o.buffer })]));
  const paidBySeeder = new Map(o.seeders.map((id) => [id, 0n]));
  const payCountByPiece = new Map<number, number>();
  const corruptLeft = new Map(Object.entries(o.corrupt ?? {}).map(([k, v]) => [k, new Set(v)]));
  const inFlight: Event[] = [];
  const refusals: string[] = [];
  const leecherLimit = bufferValue(manifest, { pricePerByte: o.price, buffer: o.buffer });
  const seederLimit = bufferValue(manifest, { pricePerByte: o.price, buffer: o.seederBuffer ?? o.buffer });

  const perform = (actions: LeecherAction[]) => {
    for (const a of actions) {
      if (a.type === 'request') inFlight.push({ kind: 'request', seeder: a.seeder, pieces: a.pieces });
      else {
        expect(a.amount).toBe(pieceCost(manifest, a.piece, o.price));
        payCountByPiece.set(a.piece, (payCountByPiece.get(a.piece) ?? 0) + 1);
        paidBySeeder.set(a.seeder, paidBySeeder.get(a.seeder)! + a.amount);
        inFlight.push({ kind: 'pay', seeder: a.seeder, amount: a.amount });
      }
    }
  };
  const send = (seeder: string, pieces: number[]) => {
    for (const index of pieces) {
      const bytes = pieceOf(file, manifest, index).slice();
      if (corruptLeft.get(seeder)?.delete(index)) bytes[0] = bytes[0]! ^ 0xff;
      inFlight.push({ kind: 'piece', seeder, index, bytes });
    }
  };
  const check = () => {
    for (const id of o.seeders) {
      // The leecher never pays more than the buffer for data it has not received.
      expect(leecher.paidAhead(id)).toBeLessThanOrEqual(leecherLimit);
      const p = leecher.progress(id)!;
      expect(p.paid - p.received).toBeLessThanOrEqual(leecherLimit);
      // The seeder never sends more than the buffer ahead of what it has been paid.
      const s = sessions.get(id)!;
      expect(s.sentValue - s.paid).toBeLessThanOrEqual(seederLimit);
    }
  };

  for (const id of o.seeders) perform(leecher.addSeeder(id));
  let steps = 0;
  while (inFlight.length > 0) {
    if (++steps > 1_000_000) throw new Error('no progress');
    // Deliver a random message, keeping each kind in order per seeder as a relay would
    // (payments arrive by another path than data, so the two interleave arbitrarily).
    const pick = inFlight[next(inFlight.length)]!;
    const first = inFlight.find((e) => e.kind === pick.kind && e.seeder === pick.seeder)!;
    inFlight.splice(inFlight.indexOf(first), 1);
    const session = sessions.get(first.seeder)!;
    if (first.kind === 'request') send(first.seeder, session.onRequest(first.pieces).map((a) => a.piece));
    else if (first.kind === 'pay') {
      const total = session.paid + first.amount;
      send(first.seeder, session.onPaid(total).map((a) => a.piece));
    } else {
      const verdict = leecher.onPiece(first.seeder, first.index, first.bytes);
      if (!verdict.ok) refusals.push(verdict.reason);
      perform(verdict.actions);
    }
    check();
  }
  return { leecher, sessions, paidBySeeder, payCountByPiece, refusals };
}

describe('the exchange', () => {
  const pieceSize = 1024;
  const file = sampleFile(100 * pieceSize + 123, 7);
  const manifest = makeManifest('sample.bin', file, pieceSize);
  const price = 1_000_000_007n;

  it('makes a manifest: a hash per piece and the whole file’s hash, the last piece short', () => {
    expect(manifest.pieceHashes).toHaveLength(101);
    expect(manifest.fileHash).toBe(hashBytes(file));
    expect(pieceOf(file, manifest, 100)).toHaveLength(123);
    expect(parseManifest(JSON.parse(JSON.stringify(manifest)))).toEqual(manifest);
    expect(sampleFile(1000, 3)).toEqual(sampleFile(1000, 3));
    expect(sampleFile(1000, 3)).not.toEqual(sampleFile(1000, 4));
  });

  for (const [buffer, seederBuffer, seeders, seed] of [
    [1, 1, 1, 1],
    [4, 4, 2, 2],
    [8, 2, 2, 3],
    [2, 8, 3, 4],
    [16, 16, 2, 5],
  ] as const) {
    it(`downloads from ${seeders} seeder(s) (buffer ${buffer}, seeder's ${seederBuffer}) within both buffers; totals = size × price exactly`, () => {
      const ids = Array.from({ length: seeders }, (_, i) => `seeder-${i}`);
      const { leecher, sessions, paidBySeeder, payCountByPiece } = simulate(file, manifest, { seeders: ids, buffer, seederBuffer, price, seed });
      expect(leecher.done).toBe(true);
      expect(hashBytes(leecher.assemble())).toBe(manifest.fileHash);
      const total = [...paidBySeeder.values()].reduce((a, b) => a + b, 0n);
      expect(total).toBe(BigInt(file.length) * price);
      expect(leecher.totalPaid).toBe(total);
      for (const id of ids) {
        // Each seeder was paid exactly for the bytes it delivered, and holds that much.
        expect(paidBySeeder.get(id)).toBe(leecher.progress(id)!.received);
        expect(sessions.get(id)!.paid).toBe(paidBySeeder.get(id));
        expect(sessions.get(id)!.sentValue).toBe(paidBySeeder.get(id));
      }
      expect([...payCountByPiece.values()].every((n) => n === 1)).toBe(true);
      expect(payCountByPiece.size).toBe(manifest.pieceHashes.length);
      if (seeders > 1) for (const id of ids) expect(leecher.progress(id)!.pieces).toBeGreaterThan(0);
    });
  }

  it('refuses a piece with a bad hash, asks for it again, and does not pay for it twice', () => {
    const { leecher, paidBySeeder, payCountByPiece, refusals } = simulate(file, manifest, {
      seeders: ['a', 'b'],
      buffer: 4,
      price,
      seed: 9,
      corrupt: { a: new Set([0, 3]), b: new Set([8]) },
    });
    expect(refusals.filter((r) => r.includes('bad hash, asked again'))).toHaveLength(3);
    expect(leecher.progress('a')!.refused + leecher.progress('b')!.refused).toBe(3);
    expect(hashBytes(leecher.assemble())).toBe(manifest.fileHash);
    expect([...payCountByPiece.values()].every((n) => n === 1)).toBe(true);
    expect(paidBySeeder.get('a')! + paidBySeeder.get('b')!).toBe(BigInt(file.length) * price);
  });

  it('drops a seeder that keeps sending bad copies and gets the rest from the others', () => {
    const always = new Set(manifest.pieceHashes.map((_, i) => i));
    // Seeder "bad" corrupts every piece the first time: three refusals and it is dropped.
    const { leecher, refusals } = simulate(file, manifest, { seeders: ['bad', 'good'], buffer: 2, price, seed: 11, corrupt: { bad: always } });
    expect(refusals.some((r) => r.includes('seeder dropped'))).toBe(true);
    expect(hashBytes(leecher.assemble())).toBe(manifest.fileHash);
    // What "bad" was paid ahead is lost, and never more than its buffer.
    expect(leecher.progress('bad')!.paid - leecher.progress('bad')!.received).toBeLessThanOrEqual(bufferValue(manifest, { pricePerByte: price, buffer: 2 }));
  });

  it('a seeder that is never paid sends exactly its buffer and stops', () => {
    const s = new SeederSession(manifest, { pricePerByte: price, buffer: 3 });
    expect(s.onRequest([0, 1, 2, 3, 4, 5])).toEqual([0, 1, 2].map((piece) => ({ type: 'send', piece })));
    expect(s.onPaid(pieceCost(manifest, 0, price))).toEqual([{ type: 'send', piece: 3 }]);
    // A voucher total that goes down changes nothing.
    expect(s.onPaid(0n)).toEqual([]);
    // Sending a piece again (after a bad copy) costs nothing more, up to maxResends.
    expect(s.onRequest([1])).toEqual([{ type: 'send', piece: 1 }]);
    expect(s.sentValue).toBe(4n * pieceCost(manifest, 0, price));
  });

  it('a leecher whose seeder never sends pays exactly its buffer ahead and stops', () => {
    const l = new Leecher(manifest, { pricePerByte: price, buffer: 3 });
    const actions = l.addSeeder('s');
    expect(actions[0]).toEqual({ type: 'request', seeder: 's', pieces: [0, 1, 2, 3, 4, 5] });
    expect(actions.filter((a) => a.type === 'pay').map((a) => (a as { piece: number }).piece)).toEqual([0, 1, 2]);
    expect(l.paidAhead('s')).toBe(3n * pieceCost(manifest, 0, price));
  });

  it('free downloads (price 0) need no payment and are not held back', () => {
    const { leecher, paidBySeeder } = simulate(file, manifest, { seeders: ['a'], buffer: 1, price: 0n, seed: 3 });
    expect(hashBytes(leecher.assemble())).toBe(manifest.fileHash);
    expect(paidBySeeder.get('a')).toBe(0n);
  });

  it('refuses bad input with clear errors', () => {
    expect(() => makeManifest('x', new Uint8Array(0), 1024)).toThrow(/empty/);
    expect(() => makeManifest('x', file, 0)).toThrow(/pieceSize/);
    expect(() => new Leecher(manifest, { pricePerByte: price, buffer: 0 })).toThrow(/buffer must be a whole number of pieces/);
    expect(() => new SeederSession(manifest, { pricePerByte: -1n, buffer: 1 })).toThrow(/pricePerByte/);
    const s = new SeederSession(manifest, { pricePerByte: price, buffer: 1 });
    expect(() => s.onRequest([101])).toThrow(/piece 101 is not a piece of this file \(0 to 100\)/);
    expect(() => s.onRequest([1.5])).toThrow(/not a piece/);
    expect(() => parseManifest({ ...manifest, pieceHashes: manifest.pieceHashes.slice(1) })).toThrow(/manifest.pieceHashes: expected 101 hashes/);
    expect(() => parseManifest({ ...manifest, fileHash: 'nope' })).toThrow(/manifest.fileHash/);
    const l = new Leecher(manifest, { pricePerByte: price, buffer: 1 });
    l.addSeeder('s');
    expect(l.onPiece('s', 99, pieceOf(file, manifest, 99))).toMatchObject({ ok: false, reason: expect.stringMatching(/not asked of this seeder/) });
    expect(l.onPiece('t', 0, pieceOf(file, manifest, 0))).toMatchObject({ ok: false, reason: expect.stringMatching(/not a seeder/) });
    expect(() => l.assemble()).toThrow(/101 pieces are still missing/);
  });

  it('takes the caller’s digests (WebCrypto in the browser) for pieces and the whole file', async () => {
    const small = sampleFile(3 * 1024, 5);
    const m = makeManifest('small', small, 1024);
    const l = new Leecher(m, { pricePerByte: 1n, buffer: 3 });
    l.addSeeder('s');
    // A digest that does not match the manifest refuses the piece, whatever its bytes.
    expect(l.onPiece('s', 0, pieceOf(small, m, 0), m.pieceHashes[1])).toMatchObject({ ok: false, reason: expect.stringMatching(/bad hash, asked again/) });
    for (let i = 0; i < 3; i++) expect(l.onPiece('s', i, pieceOf(small, m, i), m.pieceHashes[i])).toMatchObject({ ok: true });
    await expect(l.assemble(async () => m.pieceHashes[0]!)).rejects.toThrow(/does not match the manifest’s file hash/);
    expect(hashBytes(await l.assemble(async (bytes) => hashBytes(bytes)))).toBe(m.fileHash);
  });
});
