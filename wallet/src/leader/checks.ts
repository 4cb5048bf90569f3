/**
 * Checks for values that cross between wallet instances (tabs of one site) on the wallet
 * origin's BroadcastChannel. Those arrive by structured clone, so unlike the JSON-RPC schema
 * (sdk-client/src/schema.ts) they carry bigints. A check returns the value typed or throws a
 * ProtocolError naming the field; objects are strict. `object` takes one check per key of the
 * type it checks, so a field added to a summary type fails to compile here until it is checked.
 */
import type { Address, Bytes32 } from '../../../core/src/index.ts';

export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  constructor(
    readonly field: string,
    reason: string,
  ) {
    super(`${field}: ${reason}`);
  }
}

/**
 * `pick` (used by the sender on its own values) drops fields an object check does not know
 * instead of refusing them, so a runtime object with more than its type says crosses as its type.
 */
export type Check<T> = (value: unknown, path: string, mode?: 'strict' | 'pick') => T;

const ADDRESS = /^0x[0-9a-f]{40}$/;
const BYTES32 = /^0x[0-9a-f]{64}$/;
const HEX = /^0x(?:[0-9a-fA-F]{2})*$/;

export const str =
  (maxLength = 1 << 20): Check<string> =>
  (value, path) => {
    if (typeof value !== 'string') throw new ProtocolError(path, 'expected a string');
    if (value.length > maxLength) throw new ProtocolError(path, `longer than ${maxLength} characters`);
    return value;
  };

function pattern<T extends string>(re: RegExp, what: string, maxLength = 1 << 20): Check<T> {
  return (value, path) => {
    if (typeof value !== 'string' || value.length > maxLength || !re.test(value)) throw new ProtocolError(path, `expected ${what}`);
    return value as T;
  };
}

/** Lower-case, as the engine keeps them. */
export const address: Check<Address> = pattern<Address>(ADDRESS, 'a lower-case 20-byte address');
export const bytes32: Check<Bytes32> = pattern<Bytes32>(BYTES32, 'a lower-case 32-byte value');
export const hex: Check<`0x${string}`> = pattern<`0x${string}`>(HEX, '0x-hex bytes');

export const uint: Check<bigint> = (value, path) => {
  if (typeof value !== 'bigint' || value < 0n || value >= 1n << 256n) throw new ProtocolError(path, 'expected a uint256 bigint');
  return value;
};

export const int: Check<number> = (value, path) => {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw new ProtocolError(path, 'expected a non-negative integer');
  return value;
};

export const bool: Check<boolean> = (value, path) => {
  if (typeof value !== 'boolean') throw new ProtocolError(path, 'expected a boolean');
  return value;
};

export const none: Check<undefined> = (value, path) => {
  if (value !== undefined) throw new ProtocolError(path, 'expected nothing');
  return undefined;
};

/** One of the keys of `options` (a record, so a member added to the union T must be listed). */
export function oneOf<T extends string>(options: Record<T, true>): Check<T> {
  const names = Object.keys(options);
  return (value, path) => {
    if (typeof value !== 'string' || !names.includes(value)) throw new ProtocolError(path, `expected one of ${names.join(', ')}`);
    return value as T;
  };
}

export function optional<T>(check: Check<T>): Check<T | undefined> {
  return (value, path, mode) => (value === undefined ? undefined : check(value, path, mode));
}

export function array<T>(item: Check<T>, maxItems: number): Check<T[]> {
  return (value, path, mode) => {
    if (!Array.isArray(value)) throw new ProtocolError(path, 'expected an array');
    if (value.length > maxItems) throw new ProtocolError(path, `more than ${maxItems} items`);
    return value.map((v, i) => item(v, `${path}[${i}]`, mode));
  };
}

/** A positional argument list; trailing arguments from `required` on may be absent (or undefined). */
export function args<T extends unknown[]>(items: { [K in keyof T]-?: Check<T[K]> }, required: number = items.length): Check<T> {
  return (value, path, mode) => {
    if (!Array.isArray(value)) throw new ProtocolError(path, 'expected an argument list');
    if (value.length < required || value.length > items.length) throw new ProtocolError(path, `expected ${required === items.length ? required : `${required} to ${items.length}`} arguments`);
    return (items as Check<unknown>[]).map((c, i) => (i >= value.length ? undefined : c(value[i], `${path}[${i}]`, mode))).slice(0, value.length) as T;
  };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/** A strict object: every key of T checked, none other allowed; keys whose check accepts undefined may be absent. */
export function object<T extends object>(fields: { [K in keyof T]-?: Check<T[K]> }): Check<T> {
  const keys = Object.keys(fields) as (keyof T & string)[];
  return (value, path, mode = 'strict') => {
    if (!isPlainObject(value)) throw new ProtocolError(path, 'expected an object');
    if (mode === 'strict') {
      for (const key of Object.keys(value)) {
        if (!Object.hasOwn(fields, key)) throw new ProtocolError(`${path}.${key.slice(0, 32)}`, 'unknown field');
      }
    }
    const out = {} as T;
    for (const key of keys) {
      const checked = (fields[key] as Check<unknown>)(value[key], `${path}.${key}`, mode);
      if (checked !== undefined) (out as Record<string, unknown>)[key] = checked;
    }
    return out;
  };
}
