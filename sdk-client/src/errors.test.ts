import { describe, expect, it } from 'vitest';
import { disconnectedError, fromRpcError, timeoutError, WalletRpcError } from './errors.ts';
import { ErrorCode } from './schema.ts';

describe('WalletRpcError', () => {
  it('is an Error with a code and optional data', () => {
    const error = new WalletRpcError(4001, 'User rejected the request');
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('WalletRpcError');
    expect(error.code).toBe(4001);
    expect(error.message).toBe('User rejected the request');
    expect('data' in error).toBe(false);
    expect(new WalletRpcError(-32602, 'bad', { field: 'params[0]' }).data).toEqual({ field: 'params[0]' });
  });

  it("keeps only the documented part of the wallet's error data", () => {
    expect(fromRpcError({ code: -32602, message: 'm', data: { field: 'params[0].x' } }).data).toEqual({ field: 'params[0].x' });
    expect(fromRpcError({ code: -32602, message: 'm', data: { field: 7 } as never }).data).toBeUndefined();
    expect(fromRpcError({ code: -32602, message: 'm', data: 'text' as never }).data).toBeUndefined();
    expect(fromRpcError({ code: 4100, message: 'Unauthorized' })).toMatchObject({ code: 4100, message: 'Unauthorized' });
  });

  it("has the sdk's own timeout and disconnected errors", () => {
    expect(timeoutError('wallet_getInfo', 10_000)).toMatchObject({ code: ErrorCode.timeout, message: 'wallet_getInfo timed out after 10000 ms' });
    expect(disconnectedError('gone')).toMatchObject({ code: ErrorCode.disconnected, message: 'gone' });
  });
});
