/**
 * Generators for fuzzing inbound inputs (peer messages, JSON-RPC requests, relay frames): random
 * and hostile JSON, and mutations of real captured messages. Everything is drawn from a seeded
 * `Rng`, so a failure reproduces from the seed the run prints.
 *
 * Mutations work on the parsed JSON tree of a message: one node is picked at random (any depth)
 * and deleted, retyped, replaced by a hostile value, bit-flipped (hex), nudged (numbers), or its
 * container gets an extra field / a duplicated or dropped element. Text-level mutations (cut,
 * splice, flip a character) cover what no JSON tree can express.
 */
import { Rng } from './arbitrary.ts';

export { Rng };

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** A seed from the environment or the clock, as a uint32 (printed by every fuzz run). */
export function fuzzSeed(fromEnv: string | undefined): number {
  const n = fromEnv === undefined || fromEnv === '' ? Date.now() : Number(fromEnv);
  if (!Number.isFinite(n)) throw new Error(`seed must be a number, got ${fromEnv}`);
  return n >>> 0 || 1;
}

/** `[0, 1)` from the generator. */
export function unit(r: Rng): number {
  return r.next() / 2 ** 32;
}

/** Picks a key by weight: `{ a: 3, b: 1 }` gives `a` three times as often as `b`. */
export function weighted<K extends string>(r: Rng, weights: Record<K, number>): K {
  const entries = Object.entries(weights) as [K, number][];
  const total = entries.reduce((t, [, w]) => t + w, 0);
  let x = unit(r) * total;
  for (const [k, w] of entries) {
    x -= w;
    if (x < 0) return k;
  }
  return entries[entries.length - 1]![0];
}

const TWO_256 = 2n ** 256n;

/** Numbers and number-like strings at and past every boundary a parser checks. */
export function hostileNumber(r: Rng): Json {
  return r.pick<Json>([
    -1,
    -0,
    0,
    1,
    0.5,
    2 ** 31,
    2 ** 32,
    2 ** 48,
    2 ** 53,
    2 ** 53 + 2,
    Number.MAX_SAFE_INTEGER,
    Number.MAX_VALUE,
    -Number.MAX_VALUE,
    1e21,
    '0x',
    '0x0',
    '0x00',
    '0x01',
    '-0x1',
    '0X1',
    '0xG',
    ' 0x1',
    `0x${(TWO_256 - 1n).toString(16)}`,
    `0x${TWO_256.toString(16)}`,
    `0x${(TWO_256 * 16n + 5n).toString(16)}`,
    '1',
    '-1',
    '1e3',
    'NaN',
    'Infinity',
    r.int(2) ? `0x${r.hex(1 + r.int(40)).slice(2).replace(/^0+/, '') || '0'}` : `0x${r.hex(r.int(40)).slice(2)}`,
  ]);
}

/** Strings that stress parsers: empty, huge, odd unicode, hex of the wrong length or case. */
export function hostileString(r: Rng, maxHuge: number): Json {
  const choice = r.int(12);
  switch (choice) {
    case 0:
      return '';
    case 1:
      return 'x'.repeat(Math.min(maxHuge, 1 + r.int(maxHuge)));
    case 2:
      return '\u0000\uffff\ud800';
    case 3:
      return '__proto__';
    case 4:
      return 'constructor';
    case 5:
      return r.hex(r.pick([0, 1, 19, 20, 21, 31, 32, 33, 64, 65]));
    case 6:
      return r.hex(20).toUpperCase();
    case 7:
      return `0x${'z'.repeat(40)}`;
    case 8:
      return r.bytes32();
    case 9:
      return r.address();
    case 10:
      return String(r.next());
    default:
      return 'DirectFunding-0x' + '0'.repeat(64);
  }
}

/** A random JSON value of bounded size. */
export function randomJson(r: Rng, depth = 3): Json {
  const k = r.int(depth <= 0 ? 5 : 7);
  switch (k) {
    case 0:
      return null;
    case 1:
      return r.int(2) === 1;
    case 2:
      return hostileNumber(r);
    case 3:
      return hostileString(r, 64);
    case 4:
      return r.int(1000);
    case 5:
      return Array.from({ length: r.int(4) }, () => randomJson(r, depth - 1));
    default: {
      const o: { [k: string]: Json } = {};
      for (let i = r.int(4); i > 0; i--) o[r.pick(['type', 'v', 'from', 'to', 'payloads', 'id', 'x', 'state', 'amount'])] = randomJson(r, depth - 1);
      return o;
    }
  }
}

/** A value that is expensive or dangerous to handle: multi-megabyte strings, deep nesting, wide arrays. */
export function hugeJsonText(r: Rng, maxBytes: number): string {
  const n = Math.max(16, Math.min(maxBytes, 1 + r.int(maxBytes)));
  switch (r.int(5)) {
    case 0:
      return `"${'a'.repeat(n)}"`;
    case 1:
      return '['.repeat(n) + ']'.repeat(n);
    case 2:
      return '{"a":'.repeat(Math.floor(n / 5)) + '1' + '}'.repeat(Math.floor(n / 5));
    case 3:
      return `[${'0,'.repeat(Math.floor(n / 2))}0]`;
    default:
      return '['.repeat(n); // deep and unterminated
  }
}

/** Every path to a node in the tree (objects by key, arrays by index), the root included. */
function paths(value: Json, prefix: (string | number)[] = [], out: (string | number)[][] = [], budget = { n: 4000 }): (string | number)[][] {
  out.push(prefix);
  if (--budget.n <= 0) return out;
  if (Array.isArray(value)) value.forEach((v, i) => paths(v, [...prefix, i], out, budget));
  else if (value !== null && typeof value === 'object') for (const [k, v] of Object.entries(value)) paths(v, [...prefix, k], out, budget);
  return out;
}

function getAt(root: Json, path: (string | number)[]): Json {
  let v: Json = root;
  for (const p of path) v = (v as Record<string | number, Json>)[p]!;
  return v;
}

/** Flips one bit of a hex string's payload (keeping its length and `0x`). */
export function flipHexBit(r: Rng, hex: string): string {
  if (!/^0x[0-9a-fA-F]+$/.test(hex)) return hex + '0';
  const i = 2 + r.int(hex.length - 2);
  const nibble = parseInt(hex[i]!, 16) ^ (1 << r.int(4));
  return hex.slice(0, i) + nibble.toString(16) + hex.slice(i + 1);
}

/** What a mutation did, for the report of a failing case. */
export interface Mutation {
  path: string;
  op: string;
}

/**
 * One mutation of a JSON tree (returns a new tree; the input is not changed). `extra` gives
 * values that are meaningful in this protocol (other parties' addresses, other channel ids) so
 * that mutations also produce well-formed messages that are wrong in what they say.
 */
export function mutateJson(r: Rng, root: Json, extra: Json[] = []): { value: Json; mutation: Mutation } {
  const tree = structuredClone(root);
  const all = paths(tree);
  const path = all[r.int(all.length)]!;
  const node = getAt(tree, path);
  const ops = ['replace-random', 'replace-hostile', 'replace-extra', 'delete', 'add-field', 'retype'];
  if (typeof node === 'string' && /^0x[0-9a-fA-F]+$/.test(node)) ops.push('flip-bit', 'flip-bit', 'flip-bit', 'resize-hex', 'upper-case');
  if (typeof node === 'number') ops.push('nudge', 'nudge', 'nudge');
  if (typeof node === 'boolean') ops.push('negate', 'negate');
  if (Array.isArray(node)) ops.push('dup-element', 'drop-element', 'swap-elements', 'empty', 'wrap');
  const op = r.pick(ops);
  let next: Json | undefined = node;
  switch (op) {
    case 'replace-random':
      next = randomJson(r);
      break;
    case 'replace-hostile':
      next = r.int(2) ? hostileNumber(r) : hostileString(r, 1 << 16);
      break;
    case 'replace-extra':
      next = extra.length ? structuredClone(r.pick(extra)) : null;
      break;
    case 'delete':
      next = undefined;
      break;
    case 'add-field':
      if (node !== null && typeof node === 'object' && !Array.isArray(node)) {
        next = { ...node, [r.pick(['extra', 'v', 'type', '__proto__', 'signature', 'turnNum'])]: randomJson(r, 1) };
      } else next = [node];
      break;
    case 'retype':
      next = typeof node === 'string' ? Number(node) || [node] : typeof node === 'number' ? String(node) : node === null ? {} : typeof node === 'object' ? JSON.stringify(node) : String(node);
      break;
    case 'flip-bit':
      next = flipHexBit(r, node as string);
      break;
    case 'resize-hex':
      next = r.int(2) ? (node as string).slice(0, -2 * (1 + r.int(2))) : `${node as string}${r.hex(1 + r.int(2)).slice(2)}`;
      break;
    case 'upper-case':
      next = `0x${(node as string).slice(2).toUpperCase()}`;
      break;
    case 'nudge':
      next = r.pick([(node as number) + 1, (node as number) - 1, (node as number) + 1024, (node as number) + 1025, -(node as number), (node as number) * 2 ** 20, 0, 2 ** 48]);
      break;
    case 'negate':
      next = !(node as boolean);
      break;
    case 'dup-element': {
      const a = node as Json[];
      next = a.length ? [...a, structuredClone(a[r.int(a.length)]!)] : [null];
      break;
    }
    case 'drop-element': {
      const a = [...(node as Json[])];
      a.splice(r.int(Math.max(1, a.length)), 1);
      next = a;
      break;
    }
    case 'swap-elements': {
      const a = [...(node as Json[])];
      if (a.length > 1) {
        const i = r.int(a.length);
        const j = r.int(a.length);
        [a[i], a[j]] = [a[j]!, a[i]!];
      }
      next = a;
      break;
    }
    case 'empty':
      next = [];
      break;
    case 'wrap':
      next = [node];
      break;
  }
  if (path.length === 0) return { value: next === undefined ? null : next, mutation: { path: '$', op } };
  const parent = getAt(tree, path.slice(0, -1)) as Record<string | number, Json> | Json[];
  const last = path[path.length - 1]!;
  if (next === undefined) {
    if (Array.isArray(parent)) parent.splice(last as number, 1);
    else delete parent[last];
  } else (parent as Record<string | number, Json>)[last] = next;
  return { value: tree, mutation: { path: '$.' + path.join('.'), op } };
}

/** Text-level damage: a cut, a spliced character, a flipped character, duplication. */
export function mutateText(r: Rng, text: string): string {
  if (text.length === 0) return '{';
  const i = r.int(text.length);
  switch (r.int(5)) {
    case 0:
      return text.slice(0, i);
    case 1:
      return text.slice(0, i) + r.pick(['"', '{', '}', ',', '\\', '\u0000', ']', 'e', '9']) + text.slice(i);
    case 2:
      return text.slice(0, i) + String.fromCharCode(text.charCodeAt(i) ^ (1 << r.int(7))) + text.slice(i + 1);
    case 3:
      return text + text;
    default:
      return text.slice(i) + text.slice(0, i);
  }
}

/** Deterministic JSON of anything the stores hold (Maps as sorted entries, bigints tagged), for deep comparison. */
export function canonical(value: unknown): string {
  return JSON.stringify(value, (_, v: unknown) => {
    if (typeof v === 'bigint') return `${v}n`;
    if (v instanceof Map) return [...v.entries()].sort(([a], [b]) => (String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0));
    if (v instanceof Uint8Array) return Array.from(v);
    return v;
  });
}

/** Counts every fuzz run reports. */
export interface FuzzCounts {
  inputs: number;
  /** Got a response (RPC) or a message back (peers). */
  answered: number;
  /** Refused with a logged reason. */
  rejectedLogged: number;
  /** Accepted and changed stored state within what a valid input may do. */
  accepted: number;
  /** Neither answered nor logged, and nothing stored changed (e.g. a state already held). */
  harmless: number;
  crashes: number;
  wrongStoreChanges: number;
  /** Inputs left with no answer where one is owed (RPC requests with an id). */
  unanswered: number;
}

export function emptyCounts(): FuzzCounts {
  return { inputs: 0, answered: 0, rejectedLogged: 0, accepted: 0, harmless: 0, crashes: 0, wrongStoreChanges: 0, unanswered: 0 };
}

export function addCounts(a: FuzzCounts, b: FuzzCounts): FuzzCounts {
  const out = emptyCounts();
  for (const k of Object.keys(out) as (keyof FuzzCounts)[]) out[k] = a[k] + b[k];
  return out;
}

export function formatCounts(c: FuzzCounts): string {
  return `${c.inputs} inputs, ${c.answered} answered, ${c.rejectedLogged} rejected-logged, ${c.accepted} accepted, ${c.harmless} harmless, ${c.crashes} crashes, ${c.wrongStoreChanges} wrong store changes, ${c.unanswered} unanswered`;
}
