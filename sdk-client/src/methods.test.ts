import { describe, expect, expectTypeOf, it } from 'vitest';
import { defaultParams, isInteractive, isKnownMethod, methodAliases } from './methods.ts';
import { type MethodName, type MethodResult, methods } from './schema.ts';
import type { WalletMethods } from './types.ts';

type Alias<M extends MethodName> = (typeof methodAliases)[M];

describe('the method table', () => {
  it('gives every schema method a distinct camelCase convenience method', () => {
    expect(Object.keys(methodAliases).sort()).toEqual(Object.keys(methods).sort());
    const aliases = Object.values(methodAliases);
    expect(new Set(aliases).size).toBe(aliases.length);
    for (const alias of aliases) expect(alias).toMatch(/^[a-z][a-zA-Z]*$/);
  });

  it("types each convenience method's result as its schema method's", () => {
    expectTypeOf<ReturnType<WalletMethods[Alias<'eth_requestAccounts'>]>>().toEqualTypeOf<Promise<MethodResult<'eth_requestAccounts'>>>();
    expectTypeOf<ReturnType<WalletMethods[Alias<'eth_accounts'>]>>().toEqualTypeOf<Promise<MethodResult<'eth_accounts'>>>();
    expectTypeOf<ReturnType<WalletMethods[Alias<'eth_chainId'>]>>().toEqualTypeOf<Promise<MethodResult<'eth_chainId'>>>();
    expectTypeOf<ReturnType<WalletMethods[Alias<'wallet_getPermissions'>]>>().toEqualTypeOf<Promise<MethodResult<'wallet_getPermissions'>>>();
    expectTypeOf<ReturnType<WalletMethods[Alias<'wallet_requestPermissions'>]>>().toEqualTypeOf<Promise<MethodResult<'wallet_requestPermissions'>>>();
    expectTypeOf<ReturnType<WalletMethods[Alias<'wallet_revokePermissions'>]>>().toEqualTypeOf<Promise<MethodResult<'wallet_revokePermissions'>>>();
    expectTypeOf<ReturnType<WalletMethods[Alias<'wallet_getInfo'>]>>().toEqualTypeOf<Promise<MethodResult<'wallet_getInfo'>>>();
    expectTypeOf<ReturnType<WalletMethods[Alias<'channel_list'>]>>().toEqualTypeOf<Promise<MethodResult<'channel_list'>>>();
  });

  it('knows which methods exist, which are interactive, and what no params means', () => {
    expect(isKnownMethod('wallet_getInfo')).toBe(true);
    expect(isKnownMethod('eth_sendTransaction')).toBe(false);
    expect(isKnownMethod('toString')).toBe(false);
    expect(isKnownMethod('__proto__')).toBe(false);
    expect(isInteractive('eth_requestAccounts')).toBe(true);
    expect(isInteractive('wallet_requestPermissions')).toBe(true);
    expect(isInteractive('wallet_getInfo')).toBe(false);
    expect(isInteractive('constructor')).toBe(false);
    expect(defaultParams('eth_accounts')).toEqual([]);
    expect(defaultParams('no_such_method')).toEqual([]);
  });
});
