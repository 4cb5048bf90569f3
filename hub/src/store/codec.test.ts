import { describe, expect, it } from 'vitest';
import { StoreValueError, decodeValue, encodeValue } from './codec.ts';

const roundTrip = (v: unknown) => decodeValue(encodeValue(v));

describe('the store codec', () => {
  it('gives back bigints as bigints, whatever their size or sign', () => {
    const v = { a: 0n, b: -1n, c: 2n ** 256n - 1n, d: [1n, { e: -(10n ** 30n) }] };
    const back = roundTrip(v) as typeof v;
    expect(back).toStrictEqual(v);
    expect(typeof back.c).toBe('bigint');
    expect(encodeValue(42n)).toBe('{"$bigint":"42"}');
  });

  it('keeps what plain JSON loses: undefined, NaN, infinities, -0, bytes, dates, maps and sets', () => {
    const v = {
      u: undefined,
      arr: [undefined, null, 1],
      nan: NaN,
      inf: Infinity,
      ninf: -Infinity,
      negZero: -0,
      bytes: new Uint8Array([0, 1, 254, 255]),
      date: new Date(1_700_000_000_123),
      badDate: new Date(NaN),
      map: new Map<unknown, unknown>([['k', 1n], [2, { x: undefined }]]),
      set: new Set([1, 'two', 3n]),
    };
    const back = roundTrip(v) as typeof v;
    expect(back).toStrictEqual(v);
    expect('u' in back).toBe(true);
    expect(Object.is(back.negZero, -0)).toBe(true);
    expect(back.bytes).toBeInstanceOf(Uint8Array);
  });

  it('never mistakes stored data for a tag: keys starting with $ are escaped', () => {
    const v = { $bigint: '5', $: 1, $$x: { $undefined: 0 }, plain: { $number: 'NaN' }, ['__proto__']: { polluted: true } };
    const back = roundTrip(v) as Record<string, unknown>;
    expect(back).toStrictEqual(v);
    expect(Object.keys(back)).toContain('__proto__');
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('gives a fresh tree that shares nothing with the input', () => {
    const inner = { n: 1n };
    const v = { a: inner, b: inner };
    const back = roundTrip(v) as typeof v;
    expect(back.a).not.toBe(inner);
    back.a.n = 2n;
    expect(inner.n).toBe(1n);
  });

  it('refuses what it cannot give back exactly, naming where it is', () => {
    class PrivateKeyLike {
      secret = 1;
    }
    expect(() => encodeValue({ a: [{ b: new PrivateKeyLike() }] })).toThrow(StoreValueError);
    expect(() => encodeValue({ a: [{ b: new PrivateKeyLike() }] })).toThrow(/^\.a\[0\]\.b: a PrivateKeyLike cannot be stored/);
    expect(() => encodeValue({ f: () => 1 })).toThrow(/^\.f: a function cannot be stored/);
    expect(() => encodeValue({ s: Symbol('x') })).toThrow(/\.s: a symbol cannot be stored/);
    expect(() => encodeValue({ 'odd key': new Uint16Array(2) })).toThrow(/\["odd key"\]: a Uint16Array cannot be stored/);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => encodeValue(cyclic)).toThrow(/cyclic/);
  });

  it('refuses malformed tags when reading', () => {
    expect(() => decodeValue('{"$bigint":"1.5"}')).toThrow(/malformed \$bigint tag/);
    expect(() => decodeValue('{"a":{"$weird":1}}')).toThrow(/^\.a: unknown tag "\$weird"/);
    expect(() => decodeValue('{"$bigint":"1","b":2}')).toThrow(/beside other keys/);
  });
});
