/**
 * The paid file exchange, pure: no DOM, no network, no wallet. A file is split into pieces, each
 * with its hash, plus the whole file's hash (the manifest). A leecher asks seeders for pieces and
 * pays for them through one virtual channel per seeder; a seeder sends pieces as it is paid.
 *
 * Payment runs a buffer ahead of the data, on both sides, in value (wei):
 *  - the leecher never has paid a seeder more than `buffer` pieces' worth for pieces it has not
 *    received with a good hash;
 *  - a seeder never has sent a leecher more than `buffer` pieces' worth beyond what it has been
 *    paid (counting each distinct piece once: sending the same piece again gives nothing new).
 * A piece whose hash is wrong is refused and asked for again from the same seeder; it was paid
 * for once and is not paid for again. When every piece has arrived, the leecher has paid each
 * seeder exactly the price of the bytes it delivered, so the payments add up to size × price.
 *
 * The classes return actions (`request`, `pay`, `send`) for the caller to perform; they never
 * wait on anything, so they can be driven by a simulated network in tests and by the relay and
 * the wallet in the browser.
 */
import { sha256 } from '@noble/hashes/sha256';
import { bytesToHex } from '../../core/src/hex.ts';

export type Hex = `0x${string}`;

export interface Manifest {
  name: string;
  size: number;
  pieceSize: number;
  /** sha256 of each piece, 0x-hex. */
  pieceHashes: Hex[];
  /** sha256 of the whole file, 0x-hex. */
  fileHash: Hex;
}

/** Terms a seeder offers: the price of one byte in wei, and how far it sends ahead of payment. */
export interface Terms {
  pricePerByte: bigint;
  /** Pieces (of `pieceSize`) the data may run ahead of payment, or payment ahead of the data. */
  buffer: number;
}

export const MAX_PIECE_SIZE = 512 * 1024;
export const MAX_PIECES = 1 << 16;

export const hashBytes = (bytes: Uint8Array): Hex => bytesToHex(sha256(bytes));

export function pieceCount(size: number, pieceSize: number): number {
  return Math.ceil(size / pieceSize);
}

/** Bytes in piece `index` (the last one may be short). */
export function pieceLength(m: Pick<Manifest, 'size' | 'pieceSize'>, index: number): number {
  return Math.min(m.pieceSize, m.size - index * m.pieceSize);
}

/** What piece `index` costs: its bytes × the price per byte. */
export function pieceCost(m: Pick<Manifest, 'size' | 'pieceSize'>, index: number, pricePerByte: bigint): bigint {
  return BigInt(pieceLength(m, index)) * pricePerByte;
}

export function bufferValue(m: Pick<Manifest, 'pieceSize'>, terms: Terms): bigint {
  return BigInt(terms.buffer) * BigInt(m.pieceSize) * terms.pricePerByte;
}

export function makeManifest(name: string, bytes: Uint8Array, pieceSize: number): Manifest {
  if (!Number.isInteger(pieceSize) || pieceSize < 1 || pieceSize > MAX_PIECE_SIZE) throw new RangeError(`pieceSize must be an integer from 1 to ${MAX_PIECE_SIZE}, got ${pieceSize}`);
  if (bytes.length === 0) throw new RangeError('the file is empty: there is nothing to share');
  const n = pieceCount(bytes.length, pieceSize);
  if (n > MAX_PIECES) throw new RangeError(`the file would have ${n} pieces; the limit is ${MAX_PIECES} (use larger pieces)`);
  const pieceHashes: Hex[] = [];
  for (let i = 0; i < n; i++) pieceHashes.push(hashBytes(bytes.subarray(i * pieceSize, (i + 1) * pieceSize)));
  return { name, size: bytes.length, pieceSize, pieceHashes, fileHash: hashBytes(bytes) };
}

export function pieceOf(bytes: Uint8Array, m: Manifest, index: number): Uint8Array {
  return bytes.subarray(index * m.pieceSize, index * m.pieceSize + pieceLength(m, index));
}

/** A sample file anyone can make again from its seed: the same bytes for every seeder. */
export function sampleFile(size: number, seed = 1): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i += 4) {
    // xorshift32
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
    if (i + 1 < size) out[i + 1] = (x >>> 8) & 0xff;
    if (i + 2 < size) out[i + 2] = (x >>> 16) & 0xff;
    if (i + 3 < size) out[i + 3] = x >>> 24;
  }
  return out;
}

const HEX32 = /^0x[0-9a-f]{64}$/;

/** Checks a manifest from a peer; throws a TypeError naming the field. */
export function parseManifest(value: unknown): Manifest {
  if (typeof value !== 'object' || value === null) throw new TypeError('manifest: expected an object');
  const v = value as Record<string, unknown>;
  if (typeof v.name !== 'string' || v.name.length > 256) throw new TypeError('manifest.name: expected a string of at most 256 characters');
  if (!Number.isInteger(v.pieceSize) || (v.pieceSize as number) < 1 || (v.pieceSize as number) > MAX_PIECE_SIZE) throw new TypeError(`manifest.pieceSize: expected an integer from 1 to ${MAX_PIECE_SIZE}`);
  if (!Number.isSafeInteger(v.size) || (v.size as number) < 1) throw new TypeError('manifest.size: expected a positive integer');
  const n = pieceCount(v.size as number, v.pieceSize as number);
  if (n > MAX_PIECES) throw new TypeError(`manifest.size: ${n} pieces; the limit is ${MAX_PIECES}`);
  if (!Array.isArray(v.pieceHashes) || v.pieceHashes.length !== n) throw new TypeError(`manifest.pieceHashes: expected ${n} hashes`);
  v.pieceHashes.forEach((h, i) => {
    if (typeof h !== 'string' || !HEX32.test(h)) throw new TypeError(`manifest.pieceHashes[${i}]: expected 32 bytes of lower-case 0x hex`);
  });
  if (typeof v.fileHash !== 'string' || !HEX32.test(v.fileHash)) throw new TypeError('manifest.fileHash: expected 32 bytes of lower-case 0x hex');
  return { name: v.name, size: v.size as number, pieceSize: v.pieceSize as number, pieceHashes: v.pieceHashes as Hex[], fileHash: v.fileHash as Hex };
}

export function checkTerms(terms: Terms): void {
  if (typeof terms.pricePerByte !== 'bigint' || terms.pricePerByte < 0n) throw new RangeError('pricePerByte must be a non-negative amount of wei');
  if (!Number.isInteger(terms.buffer) || terms.buffer < 1 || terms.buffer > 1024) throw new RangeError(`buffer must be a whole number of pieces from 1 to 1024, got ${terms.buffer}`);
}

// ---------------------------------------------------------------------------------------------
// The leecher

export type LeecherAction =
  /** Ask `seeder` for these pieces (again, for a piece whose copy was bad). */
  | { type: 'request'; seeder: string; pieces: number[] }
  /** Pay `seeder` this much more (one voucher) for `piece`. */
  | { type: 'pay'; seeder: string; piece: number; amount: bigint };

export interface SeederProgress {
  /** Paid so far, in wei. */
  paid: bigint;
  /** Value of the good pieces received, in wei. */
  received: bigint;
  /** Good pieces received. */
  pieces: number;
  /** Pieces asked for and not yet received. */
  inFlight: number;
  /** Bad copies refused. */
  refused: number;
}

interface SeederState {
  /** Pieces asked of this seeder and not yet received good, in the order asked. */
  asked: number[];
  /** Of those, the ones paid for. */
  paidFor: Set<number>;
  paid: bigint;
  paidAhead: bigint;
  received: bigint;
  pieces: number;
  refused: number;
  active: boolean;
}

export interface LeecherOptions extends Terms {
  /** Pieces kept asked for per seeder. Default 2 × buffer, so data flows while payments follow. */
  window?: number;
  /** Bad copies from one seeder after which it is dropped. Default 3. */
  maxRefused?: number;
}

export type PieceVerdict = { ok: true; actions: LeecherAction[] } | { ok: false; reason: string; actions: LeecherAction[] };

export class Leecher {
  readonly manifest: Manifest;
  readonly terms: Terms;
  readonly window: number;
  readonly maxRefused: number;
  #pieces: (Uint8Array | undefined)[];
  #have = 0;
  /** Pieces neither received nor asked of any seeder, lowest first. */
  #missing: number[];
  #assigned = new Map<number, string>();
  #seeders = new Map<string, SeederState>();

  constructor(manifest: Manifest, options: LeecherOptions) {
    checkTerms(options);
    this.manifest = manifest;
    this.terms = { pricePerByte: options.pricePerByte, buffer: options.buffer };
    this.window = options.window ?? 2 * options.buffer;
    if (!Number.isInteger(this.window) || this.window < 1) throw new RangeError(`window must be a whole number of pieces ≥ 1, got ${this.window}`);
    this.maxRefused = options.maxRefused ?? 3;
    this.#pieces = new Array<Uint8Array | undefined>(manifest.pieceHashes.length);
    this.#missing = manifest.pieceHashes.map((_, i) => i);
  }

  get done(): boolean {
    return this.#have === this.manifest.pieceHashes.length;
  }
  get piecesReceived(): number {
    return this.#have;
  }
  get bytesReceived(): number {
    let n = 0;
    for (const p of this.#pieces) if (p) n += p.length;
    return n;
  }
  /** What the whole file costs: size × price. */
  get totalPrice(): bigint {
    return BigInt(this.manifest.size) * this.terms.pricePerByte;
  }
  get totalPaid(): bigint {
    let t = 0n;
    for (const s of this.#seeders.values()) t += s.paid;
    return t;
  }

  progress(seeder: string): SeederProgress | undefined {
    const s = this.#seeders.get(seeder);
    return s && { paid: s.paid, received: s.received, pieces: s.pieces, inFlight: s.asked.length, refused: s.refused };
  }

  /** Paid to `seeder` for pieces not yet received good, in wei (never more than the buffer's worth). */
  paidAhead(seeder: string): bigint {
    return this.#seeders.get(seeder)?.paidAhead ?? 0n;
  }

  addSeeder(id: string): LeecherAction[] {
    if (this.#seeders.has(id)) throw new Error(`seeder ${id} was added already`);
    this.#seeders.set(id, { asked: [], paidFor: new Set(), paid: 0n, paidAhead: 0n, received: 0n, pieces: 0, refused: 0, active: true });
    return this.#fillAll();
  }

  /** The seeder is gone: its unreceived pieces go to the others (what was paid ahead is lost). */
  removeSeeder(id: string): LeecherAction[] {
    const s = this.#seeders.get(id);
    if (!s || !s.active) return [];
    s.active = false;
    for (const i of s.asked) {
      this.#assigned.delete(i);
      this.#missing.push(i);
    }
    this.#missing.sort((a, b) => a - b);
    s.asked = [];
    s.paidFor.clear();
    return this.#fillAll();
  }

  /**
   * A piece arrived from `seeder`. A bad copy is refused and asked for again, not paid again.
   * `digest` is the bytes' sha256 when the caller has it already (the browser hashes with
   * WebCrypto, off the page's thread); without it the piece is hashed here.
   */
  onPiece(seeder: string, index: number, bytes: Uint8Array, digest?: Hex): PieceVerdict {
    const s = this.#seeders.get(seeder);
    if (!s || !s.active) return { ok: false, reason: `piece ${index} from ${seeder}: not a seeder of this download`, actions: [] };
    if (!Number.isInteger(index) || this.#assigned.get(index) !== seeder) return { ok: false, reason: `piece ${index} from ${seeder}: not asked of this seeder`, actions: [] };
    if (bytes.length !== pieceLength(this.manifest, index) || (digest ?? hashBytes(bytes)) !== this.manifest.pieceHashes[index]) {
      s.refused++;
      if (s.refused >= this.maxRefused) return { ok: false, reason: `piece ${index} from ${seeder}: bad hash; ${s.refused} bad copies, seeder dropped`, actions: this.removeSeeder(seeder) };
      return { ok: false, reason: `piece ${index} from ${seeder}: bad hash, asked again`, actions: [{ type: 'request', seeder, pieces: [index] }] };
    }
    const actions: LeecherAction[] = [];
    this.#pieces[index] = bytes.slice();
    this.#have++;
    this.#assigned.delete(index);
    s.asked.splice(s.asked.indexOf(index), 1);
    const cost = pieceCost(this.manifest, index, this.terms.pricePerByte);
    if (s.paidFor.delete(index)) {
      s.paidAhead -= cost;
    } else {
      // Sent ahead of payment (within the seeder's buffer): pay for it now.
      s.paid += cost;
      actions.push({ type: 'pay', seeder, piece: index, amount: cost });
    }
    s.received += cost;
    s.pieces++;
    actions.push(...this.#fill(seeder, s));
    return { ok: true, actions };
  }

  /**
   * The whole file, once every piece is in, checked against the manifest's file hash: with
   * `digest` (the caller's sha256 of `file`), or hashed here. Throws when it does not match.
   */
  assemble(digest?: (file: Uint8Array) => Hex): Uint8Array;
  assemble(digest: (file: Uint8Array) => Promise<Hex>): Promise<Uint8Array>;
  assemble(digest: (file: Uint8Array) => Hex | Promise<Hex> = hashBytes): Uint8Array | Promise<Uint8Array> {
    if (!this.done) throw new Error(`${this.manifest.pieceHashes.length - this.#have} pieces are still missing`);
    const out = new Uint8Array(this.manifest.size);
    this.#pieces.forEach((p, i) => out.set(p!, i * this.manifest.pieceSize));
    const check = (hash: Hex): Uint8Array => {
      if (hash !== this.manifest.fileHash) throw new Error('the assembled file does not match the manifest’s file hash');
      return out;
    };
    const hash = digest(out);
    return typeof hash === 'string' ? check(hash) : hash.then(check);
  }

  #fillAll(): LeecherAction[] {
    const actions: LeecherAction[] = [];
    for (const [id, s] of this.#seeders) if (s.active) actions.push(...this.#fill(id, s));
    return actions;
  }

  /** Asks for pieces up to the window, then pays for asked pieces while within the buffer. */
  #fill(id: string, s: SeederState): LeecherAction[] {
    const actions: LeecherAction[] = [];
    const asked: number[] = [];
    while (s.asked.length < this.window && this.#missing.length > 0) {
      const i = this.#missing.shift()!;
      this.#assigned.set(i, id);
      s.asked.push(i);
      asked.push(i);
    }
    if (asked.length) actions.push({ type: 'request', seeder: id, pieces: asked });
    const limit = bufferValue(this.manifest, this.terms);
    for (const i of s.asked) {
      if (s.paidFor.has(i)) continue;
      const cost = pieceCost(this.manifest, i, this.terms.pricePerByte);
      if (s.paidAhead + cost > limit) break;
      s.paidFor.add(i);
      s.paidAhead += cost;
      s.paid += cost;
      actions.push({ type: 'pay', seeder: id, piece: i, amount: cost });
    }
    return actions;
  }
}

// ---------------------------------------------------------------------------------------------
// The seeder, one session per leecher

export type SeederAction = { type: 'send'; piece: number };

export interface SeederOptions extends Terms {
  /** Times one piece may be sent again (asked for again after a bad copy). Default 3. */
  maxResends?: number;
}

export class SeederSession {
  readonly manifest: Manifest;
  readonly terms: Terms;
  readonly maxResends: number;
  #queue: number[] = [];
  #queued = new Set<number>();
  #sent = new Map<number, number>();
  #sentValue = 0n;
  #paid = 0n;

  constructor(manifest: Manifest, options: SeederOptions) {
    checkTerms(options);
    this.manifest = manifest;
    this.terms = { pricePerByte: options.pricePerByte, buffer: options.buffer };
    this.maxResends = options.maxResends ?? 3;
  }

  /** Value of the distinct pieces sent, in wei. */
  get sentValue(): bigint {
    return this.#sentValue;
  }
  get paid(): bigint {
    return this.#paid;
  }
  get piecesSent(): number {
    return this.#sent.size;
  }
  get waiting(): number {
    return this.#queue.length;
  }

  /** The leecher asks for pieces. Throws a RangeError for an index that is not a piece. */
  onRequest(pieces: readonly number[]): SeederAction[] {
    const n = this.manifest.pieceHashes.length;
    for (const i of pieces) if (!Number.isInteger(i) || i < 0 || i >= n) throw new RangeError(`request: piece ${String(i)} is not a piece of this file (0 to ${n - 1})`);
    const resent: SeederAction[] = [];
    for (const i of pieces) {
      const times = this.#sent.get(i) ?? 0;
      if (times > 0) {
        // Sent before (the copy was bad, or lost): sending it again gives nothing new, so it
        // does not wait for payment, up to maxResends times.
        if (times <= this.maxResends) {
          this.#sent.set(i, times + 1);
          resent.push({ type: 'send', piece: i });
        }
      } else if (!this.#queued.has(i)) {
        this.#queued.add(i);
        this.#queue.push(i);
      }
    }
    return [...resent, ...this.#pump()];
  }

  /** The wallet stored a voucher: `total` is everything paid on this session's channel. */
  onPaid(total: bigint): SeederAction[] {
    if (total > this.#paid) this.#paid = total;
    return this.#pump();
  }

  #pump(): SeederAction[] {
    const actions: SeederAction[] = [];
    const limit = bufferValue(this.manifest, this.terms);
    while (this.#queue.length > 0) {
      const i = this.#queue[0]!;
      const cost = pieceCost(this.manifest, i, this.terms.pricePerByte);
      if (this.#sentValue + cost - this.#paid > limit) break;
      this.#sentValue += cost;
      this.#queue.shift();
      this.#queued.delete(i);
      this.#sent.set(i, 1);
      actions.push({ type: 'send', piece: i });
    }
    return actions;
  }
}
