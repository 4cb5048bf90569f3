/**
 * Lossless JSON for stored values: plain data as the engine stores it (channels, xstate persisted
 * snapshots), including what JSON alone would lose — bigints above all, and `undefined`,
 * non-finite numbers and -0, `Uint8Array`, `Date`, `Map` and `Set`.
 *
 * A value that JSON cannot carry becomes a one-key object whose key starts with `$`:
 *
 *   10n ** 18n        → {"$bigint":"1000000000000000000"}
 *   undefined         → {"$undefined":0}
 *   NaN, -0, Infinity → {"$number":"NaN"} / {"$number":"-0"} / {"$number":"Infinity"}
 *   Uint8Array        → {"$bytes":"0x…"}
 *   Date              → {"$date":1700000000000}
 *   Map, Set          → {"$map":[[k, v], …]} / {"$set":[v, …]}
 *
 * Keys of the data itself that start with `$` get one more `$` (`$x` is stored as `$$x`), so a
 * stored object can never be mistaken for a tag. Anything else — functions, symbols, class
 * instances (a `PrivateKey`, say), cycles — is refused with a `StoreValueError` naming where it
 * is, rather than stored as something else.
 */

export class StoreValueError extends Error {
  override readonly name = 'StoreValueError';
  constructor(
    /** Where in the value, e.g. `value.context.outbox[2].amount`. */
    readonly path: string,
    readonly problem: string,
  ) {
    super(`${path}: ${problem}`);
  }
}

/** JSON as `JSON.parse` returns it. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const MAX_DEPTH = 200;

/** `o[key] = v`, except that a key "__proto__" stays a plain own key rather than setting the prototype. */
function setKey(o: Record<string, unknown>, key: string, v: unknown): void {
  if (key === '__proto__') Object.defineProperty(o, key, { value: v, enumerable: true, writable: true, configurable: true });
  else o[key] = v;
}

/** Wraps an error thrown below `key` so that its path names the whole way down. */
function under(key: string | number, e: unknown): never {
  if (e instanceof StoreValueError) {
    const step = typeof key === 'number' ? `[${key}]` : /^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
    throw new StoreValueError(step + e.path, e.problem);
  }
  throw e;
}

function describe(v: object): string {
  const name = (v as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof name === 'string' && name ? `a ${name}` : 'an object with a custom prototype';
}

function encodeNumber(n: number): Json {
  if (Number.isFinite(n)) return Object.is(n, -0) ? { $number: '-0' } : n;
  return { $number: String(n) };
}

/** Turns a value into JSON-safe data (a fresh tree, sharing nothing with the input). */
export function toTagged(value: unknown, depth = 0): Json {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      return encodeNumber(value);
    case 'bigint':
      return { $bigint: value.toString() };
    case 'undefined':
      return { $undefined: 0 };
    case 'function':
      throw new StoreValueError('', 'a function cannot be stored');
    case 'symbol':
      throw new StoreValueError('', 'a symbol cannot be stored');
  }
  if (value === null) return null;
  if (depth > MAX_DEPTH) throw new StoreValueError('', `nested more than ${MAX_DEPTH} deep (or cyclic)`);
  const v = value as object;
  if (Array.isArray(v)) {
    const out: Json[] = new Array(v.length);
    for (let i = 0; i < v.length; i++) {
      try {
        out[i] = toTagged(v[i], depth + 1);
      } catch (e) {
        under(i, e);
      }
    }
    return out;
  }
  const proto = Object.getPrototypeOf(v);
  if (proto === Object.prototype || proto === null) {
    const out: { [key: string]: Json } = {};
    for (const key of Object.keys(v)) {
      try {
        setKey(out, key.charCodeAt(0) === 36 /* $ */ ? '$' + key : key, toTagged((v as Record<string, unknown>)[key], depth + 1));
      } catch (e) {
        under(key, e);
      }
    }
    return out;
  }
  if (v instanceof Uint8Array && proto === Uint8Array.prototype) return { $bytes: '0x' + Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex') };
  if (v instanceof Date && proto === Date.prototype) return { $date: encodeNumber(v.getTime()) };
  if (v instanceof Map && proto === Map.prototype) {
    const out: Json[] = [];
    let i = 0;
    for (const [k, x] of v) {
      try {
        out.push([toTagged(k, depth + 1), toTagged(x, depth + 1)]);
      } catch (e) {
        under(`<map entry ${i}>`, e);
      }
      i++;
    }
    return { $map: out };
  }
  if (v instanceof Set && proto === Set.prototype) {
    const out: Json[] = [];
    let i = 0;
    for (const x of v) {
      try {
        out.push(toTagged(x, depth + 1));
      } catch (e) {
        under(`<set entry ${i}>`, e);
      }
      i++;
    }
    return { $set: out };
  }
  throw new StoreValueError('', `${describe(v)} cannot be stored: only plain data (objects, arrays, strings, numbers, booleans, null, undefined, bigint, Uint8Array, Date, Map, Set)`);
}

function tagError(tag: string, why: string): StoreValueError {
  return new StoreValueError('', `malformed ${tag} tag: ${why}`);
}

function decodeNumber(j: Json): number {
  if (typeof j === 'number') return j;
  if (j === null || typeof j !== 'object' || Array.isArray(j)) throw tagError('$number', 'expected a number or a $number tag');
  const s = j.$number;
  if (s === 'NaN') return NaN;
  if (s === 'Infinity') return Infinity;
  if (s === '-Infinity') return -Infinity;
  if (s === '-0') return -0;
  throw tagError('$number', `unknown value ${JSON.stringify(s)}`);
}

function decodeTag(key: string, arg: Json, depth: number): unknown {
  switch (key) {
    case '$bigint':
      if (typeof arg !== 'string' || !/^-?(0|[1-9]\d*)$/.test(arg)) throw tagError(key, `expected a decimal integer string, got ${JSON.stringify(arg)}`);
      return BigInt(arg);
    case '$undefined':
      return undefined;
    case '$number':
      return decodeNumber({ $number: arg });
    case '$bytes':
      if (typeof arg !== 'string' || !/^0x([0-9a-f]{2})*$/.test(arg)) throw tagError(key, 'expected lower-case 0x hex of whole bytes');
      return new Uint8Array(Buffer.from(arg.slice(2), 'hex'));
    case '$date':
      return new Date(decodeNumber(arg));
    case '$map': {
      if (!Array.isArray(arg)) throw tagError(key, 'expected an array of [key, value] pairs');
      const m = new Map<unknown, unknown>();
      for (const pair of arg) {
        if (!Array.isArray(pair) || pair.length !== 2) throw tagError(key, 'expected an array of [key, value] pairs');
        m.set(fromTagged(pair[0]!, depth + 1), fromTagged(pair[1]!, depth + 1));
      }
      return m;
    }
    case '$set': {
      if (!Array.isArray(arg)) throw tagError(key, 'expected an array');
      const s = new Set<unknown>();
      for (const x of arg) s.add(fromTagged(x, depth + 1));
      return s;
    }
    default:
      throw new StoreValueError('', `unknown tag ${JSON.stringify(key)} (written by a newer version?)`);
  }
}

/** The inverse of `toTagged`: JSON-safe data back to the value (a fresh tree). */
export function fromTagged(j: Json, depth = 0): unknown {
  if (j === null || typeof j !== 'object') return j;
  if (depth > MAX_DEPTH + 1) throw new StoreValueError('', `nested more than ${MAX_DEPTH} deep`);
  if (Array.isArray(j)) {
    const out: unknown[] = new Array(j.length);
    for (let i = 0; i < j.length; i++) {
      try {
        out[i] = fromTagged(j[i]!, depth + 1);
      } catch (e) {
        under(i, e);
      }
    }
    return out;
  }
  const keys = Object.keys(j);
  if (keys.length === 1) {
    const k = keys[0]!;
    if (k.charCodeAt(0) === 36 && k.charCodeAt(1) !== 36) return decodeTag(k, j[k]!, depth);
  }
  const out: Record<string, unknown> = {};
  for (const key of keys) {
    if (key.charCodeAt(0) === 36 && key.charCodeAt(1) !== 36) throw new StoreValueError('', `tag ${JSON.stringify(key)} beside other keys`);
    const name = key.charCodeAt(0) === 36 ? key.slice(1) : key;
    try {
      setKey(out, name, fromTagged(j[key]!, depth + 1));
    } catch (e) {
      under(name, e);
    }
  }
  return out;
}

/** `value` as one line of JSON text (no newline inside: JSON.stringify escapes them). */
export function encodeValue(value: unknown): string {
  return JSON.stringify(toTagged(value));
}

export function decodeValue(text: string): unknown {
  return fromTagged(JSON.parse(text) as Json);
}
