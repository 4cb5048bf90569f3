/**
 * A small declarative schema language for the wallet's JSON-RPC surface: one definition gives
 * the wallet its validator and the sdk its TypeScript types (via `Infer`). No runtime
 * dependency. Objects are strict: unknown keys are rejected, so a typo in a param name is an
 * error naming it, not a silently ignored field.
 */

export type Schema =
  | { kind: 'string'; pattern?: RegExp; maxLength?: number; what?: string }
  | { kind: 'number'; integer?: boolean; min?: number; max?: number }
  | { kind: 'boolean' }
  | { kind: 'null' }
  | { kind: 'literal'; value: string | number | boolean }
  | { kind: 'array'; items: Schema; maxItems?: number }
  | { kind: 'tuple'; items: readonly Schema[] }
  | { kind: 'object'; properties: Readonly<Record<string, Schema>>; optional?: readonly string[] }
  | { kind: 'union'; options: readonly Schema[] };

type Simplify<T> = { [K in keyof T]: T[K] } & {};

type InferObject<P extends Readonly<Record<string, Schema>>, O extends readonly string[]> = [keyof P] extends [never] ? Record<string, never> : Simplify<
  { -readonly [K in Exclude<keyof P, O[number]>]: Infer<P[K]> } & { -readonly [K in Extract<keyof P, O[number]>]?: Infer<P[K]> }
>;

/** The TypeScript type a schema describes. */
export type Infer<S> = S extends { kind: 'string' }
  ? S extends { brand: infer B extends string }
    ? B
    : string
  : S extends { kind: 'number' }
    ? number
    : S extends { kind: 'boolean' }
      ? boolean
      : S extends { kind: 'null' }
        ? null
        : S extends { kind: 'literal'; value: infer V }
          ? V
          : S extends { kind: 'array'; items: infer I }
            ? Infer<I>[]
            : S extends { kind: 'tuple'; items: infer T extends readonly Schema[] }
              ? { -readonly [K in keyof T]: Infer<T[K]> }
              : S extends { kind: 'object'; properties: infer P extends Readonly<Record<string, Schema>> }
                ? InferObject<P, S extends { optional: infer O extends readonly string[] } ? O : []>
                : S extends { kind: 'union'; options: infer U extends readonly Schema[] }
                  ? Infer<U[number]>
                  : never;

// ---- Builders ------------------------------------------------------------------------------

const HEX = /^0x(?:[0-9a-fA-F]{2})*$/;
const ADDRESS = /^0x[0-9a-fA-F]{40}$/;
const BYTES32 = /^0x[0-9a-fA-F]{64}$/;
const QUANTITY = /^0x(?:0|[1-9a-f][0-9a-f]*)$/;

export type HexString = `0x${string}`;

export const s = {
  string: (opts: { pattern?: RegExp; maxLength?: number; what?: string } = {}) => ({ kind: 'string' as const, ...opts }),
  /** A 20-byte address as 0x-hex. */
  address: () => ({ kind: 'string' as const, pattern: ADDRESS, what: 'a 20-byte 0x-hex address', brand: '' as HexString }),
  /** A 32-byte value (channel id, hash) as 0x-hex. */
  bytes32: () => ({ kind: 'string' as const, pattern: BYTES32, what: 'a 32-byte 0x-hex value', brand: '' as HexString }),
  /** Arbitrary bytes as 0x-hex. */
  hex: (maxLength = 1 << 20) => ({ kind: 'string' as const, pattern: HEX, maxLength, what: '0x-prefixed hex bytes', brand: '' as HexString }),
  /** A non-negative integer as a canonical Ethereum JSON-RPC quantity: "0x0", "0x2a". */
  quantity: () => ({ kind: 'string' as const, pattern: QUANTITY, maxLength: 66, what: 'a hex quantity such as 0x0 or 0x2a', brand: '' as HexString }),
  number: (opts: { integer?: boolean; min?: number; max?: number } = {}) => ({ kind: 'number' as const, ...opts }),
  boolean: () => ({ kind: 'boolean' as const }),
  null: () => ({ kind: 'null' as const }),
  literal: <const V extends string | number | boolean>(value: V) => ({ kind: 'literal' as const, value }),
  array: <const I extends Schema>(items: I, maxItems = 10_000) => ({ kind: 'array' as const, items, maxItems }),
  tuple: <const T extends readonly Schema[]>(...items: T) => ({ kind: 'tuple' as const, items }),
  object: objectSchema,
  union: <const U extends readonly Schema[]>(...options: U) => ({ kind: 'union' as const, options }),
};

function objectSchema<const P extends Readonly<Record<string, Schema>>>(properties: P): { kind: 'object'; properties: P; optional: readonly [] };
function objectSchema<const P extends Readonly<Record<string, Schema>>, const O extends readonly (keyof P & string)[]>(
  properties: P,
  optional: O,
): { kind: 'object'; properties: P; optional: O };
function objectSchema(properties: Readonly<Record<string, Schema>>, optional: readonly string[] = []) {
  return { kind: 'object' as const, properties, optional };
}

// ---- Validation ----------------------------------------------------------------------------

export class SchemaError extends Error {
  override readonly name = 'SchemaError';
  constructor(
    /** Path of the offending field, e.g. `params[0].amount`. */
    readonly field: string,
    readonly reason: string,
  ) {
    super(`${field}: ${reason}`);
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : typeof value;
}

/**
 * Checks `value` against `schema`; returns it typed, or throws a SchemaError naming the first
 * offending field under `path`.
 */
export function validate<S extends Schema>(schema: S, value: unknown, path: string): Infer<S> {
  check(schema, value, path);
  return value as Infer<S>;
}

function check(schema: Schema, value: unknown, path: string): void {
  switch (schema.kind) {
    case 'string':
      if (typeof value !== 'string') throw new SchemaError(path, `expected ${schema.what ?? 'a string'}, got ${describe(value)}`);
      if (schema.maxLength !== undefined && value.length > schema.maxLength) throw new SchemaError(path, `longer than ${schema.maxLength} characters`);
      if (schema.pattern && !schema.pattern.test(value)) throw new SchemaError(path, `expected ${schema.what ?? `a string matching ${schema.pattern}`}`);
      return;
    case 'number':
      if (typeof value !== 'number' || !Number.isFinite(value)) throw new SchemaError(path, `expected a number, got ${describe(value)}`);
      if (schema.integer && !Number.isInteger(value)) throw new SchemaError(path, 'expected an integer');
      if (schema.min !== undefined && value < schema.min) throw new SchemaError(path, `must be at least ${schema.min}`);
      if (schema.max !== undefined && value > schema.max) throw new SchemaError(path, `must be at most ${schema.max}`);
      return;
    case 'boolean':
      if (typeof value !== 'boolean') throw new SchemaError(path, `expected a boolean, got ${describe(value)}`);
      return;
    case 'null':
      if (value !== null) throw new SchemaError(path, `expected null, got ${describe(value)}`);
      return;
    case 'literal':
      if (value !== schema.value) throw new SchemaError(path, `expected ${JSON.stringify(schema.value)}`);
      return;
    case 'array':
      if (!Array.isArray(value)) throw new SchemaError(path, `expected an array, got ${describe(value)}`);
      if (schema.maxItems !== undefined && value.length > schema.maxItems) throw new SchemaError(path, `more than ${schema.maxItems} items`);
      value.forEach((v, i) => check(schema.items, v, `${path}[${i}]`));
      return;
    case 'tuple':
      if (!Array.isArray(value)) throw new SchemaError(path, `expected an array, got ${describe(value)}`);
      if (value.length !== schema.items.length) throw new SchemaError(path, `expected ${schema.items.length} item(s), got ${value.length}`);
      schema.items.forEach((item, i) => check(item, value[i], `${path}[${i}]`));
      return;
    case 'object': {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new SchemaError(path, `expected an object, got ${describe(value)}`);
      const o = value as Record<string, unknown>;
      for (const key of Object.keys(o)) {
        if (!Object.hasOwn(schema.properties, key)) throw new SchemaError(`${path}.${key}`, 'unknown field');
      }
      for (const [key, sub] of Object.entries(schema.properties)) {
        if (o[key] === undefined) {
          if (schema.optional?.includes(key)) continue;
          throw new SchemaError(`${path}.${key}`, 'missing');
        }
        check(sub, o[key], `${path}.${key}`);
      }
      return;
    }
    case 'union': {
      let first: SchemaError | undefined;
      for (const option of schema.options) {
        try {
          check(option, value, path);
          return;
        } catch (e) {
          if (!(e instanceof SchemaError)) throw e;
          first ??= e;
        }
      }
      throw first ?? new SchemaError(path, 'matches no allowed form');
    }
  }
}
