import { describe, expect, expectTypeOf, it } from 'vitest';
import { type MethodParams, type MethodResult, methods, notifications } from './schema.ts';
import { SchemaError, s, validate } from './schema-types.ts';

describe('the RPC schema', () => {
  it('infers the sdk types from the method definitions', () => {
    expectTypeOf<MethodResult<'wallet_getInfo'>>().toEqualTypeOf<{
      address: `0x${string}`;
      version: string;
      chainId: `0x${string}`;
      contracts: { adjudicator: `0x${string}`; consensusApp: `0x${string}`; virtualPaymentApp: `0x${string}`; token: `0x${string}` };
    }>();
    expectTypeOf<MethodParams<'eth_requestAccounts'>>().toEqualTypeOf<[]>();
    expectTypeOf<MethodParams<'wallet_revokePermissions'>>().toEqualTypeOf<[{ eth_accounts: Record<string, never> }]>();
    expectTypeOf<MethodResult<'eth_accounts'>>().toEqualTypeOf<`0x${string}`[]>();
  });

  it('validates params, naming the offending field', () => {
    expect(validate(methods.wallet_revokePermissions.params, [{ eth_accounts: {} }], 'params')).toEqual([{ eth_accounts: {} }]);
    const bad = (v: unknown) => () => validate(methods.wallet_revokePermissions.params, v, 'params');
    expect(bad([])).toThrowError(new SchemaError('params', 'expected 1 item(s), got 0'));
    expect(bad([{ eth_accounts: {}, extra: 1 }])).toThrowError(expect.objectContaining({ field: 'params[0].extra' }));
    expect(bad([{}])).toThrowError(expect.objectContaining({ field: 'params[0].eth_accounts', reason: 'missing' }));
    expect(bad({})).toThrowError(expect.objectContaining({ field: 'params' }));
  });

  it('checks hex forms strictly', () => {
    const info = { address: '0x' + 'ab'.repeat(20), version: '1', chainId: '0x7a69', contracts: { adjudicator: '0x' + '01'.repeat(20), consensusApp: '0x' + '02'.repeat(20), virtualPaymentApp: '0x' + '03'.repeat(20), token: '0x' + '04'.repeat(20) } };
    expect(() => validate(methods.wallet_getInfo.result, info, 'result')).not.toThrow();
    expect(() => validate(methods.wallet_getInfo.result, { ...info, chainId: '0x07a69' }, 'result')).toThrowError(expect.objectContaining({ field: 'result.chainId' }));
    expect(() => validate(methods.wallet_getInfo.result, { ...info, address: '0x1234' }, 'result')).toThrowError(expect.objectContaining({ field: 'result.address' }));
    expect(() => validate(s.array(s.number(), 2), [1, 2, 3], 'x')).toThrowError(expect.objectContaining({ reason: 'more than 2 items' }));
    expect(() => validate(notifications.wallet_uiRequest, { visible: 'yes' }, 'params')).toThrowError(expect.objectContaining({ field: 'params.visible' }));
  });

  it('optional object fields may be absent but not wrong', () => {
    const o = s.object({ a: s.number(), b: s.string() }, ['b']);
    expectTypeOf(validate(o, { a: 1 }, 'x')).toEqualTypeOf<{ a: number; b?: string }>();
    expect(() => validate(o, { a: 1 }, 'x')).not.toThrow();
    expect(() => validate(o, { a: 1, b: 2 }, 'x')).toThrowError(expect.objectContaining({ field: 'x.b' }));
  });
});
