import { describe, expect, it } from 'vitest';
import { parseInbound } from './wire.ts';

describe('parseInbound', () => {
  it('reads results, errors and notifications', () => {
    expect(parseInbound({ jsonrpc: '2.0', id: 1, result: null })).toEqual({ kind: 'result', id: 1, result: null });
    expect(parseInbound({ jsonrpc: '2.0', id: 'a', result: [1] })).toEqual({ kind: 'result', id: 'a', result: [1] });
    expect(parseInbound({ jsonrpc: '2.0', id: 2, error: { code: 4001, message: 'User rejected' } })).toEqual({
      kind: 'error',
      id: 2,
      error: { code: 4001, message: 'User rejected' },
    });
    expect(parseInbound({ jsonrpc: '2.0', id: null, error: { code: -32600, message: 'x', data: { field: 'params' } } })).toEqual({
      kind: 'error',
      id: null,
      error: { code: -32600, message: 'x', data: { field: 'params' } },
    });
    expect(parseInbound({ jsonrpc: '2.0', method: 'wallet_ready', params: { version: '1' } })).toEqual({
      kind: 'notification',
      method: 'wallet_ready',
      params: { version: '1' },
    });
  });

  it.each([
    ['a string', '{"jsonrpc":"2.0","id":1,"result":null}'],
    ['null', null],
    ['an array', [{ jsonrpc: '2.0', id: 1, result: null }]],
    ['no jsonrpc', { id: 1, result: null }],
    ['jsonrpc 1.0', { jsonrpc: '1.0', id: 1, result: null }],
    ['no id', { jsonrpc: '2.0', result: null }],
    ['an object id', { jsonrpc: '2.0', id: {}, result: null }],
    ['a NaN id', { jsonrpc: '2.0', id: NaN, result: null }],
    ['both result and error', { jsonrpc: '2.0', id: 1, result: 1, error: { code: 1, message: 'x' } }],
    ['neither result nor error', { jsonrpc: '2.0', id: 1 }],
    ['an error without a code', { jsonrpc: '2.0', id: 1, error: { message: 'x' } }],
    ['a non-integer code', { jsonrpc: '2.0', id: 1, error: { code: 1.5, message: 'x' } }],
    ['an error without a message', { jsonrpc: '2.0', id: 1, error: { code: 1 } }],
    ['an error that is a string', { jsonrpc: '2.0', id: 1, error: 'boom' }],
    ['a request (id and method)', { jsonrpc: '2.0', id: 1, method: 'eth_accounts', params: [] }],
    ['a non-string method', { jsonrpc: '2.0', method: 42, params: {} }],
  ])('ignores %s', (_, data) => {
    expect(parseInbound(data)).toBeNull();
  });

  it('does not take fields from the prototype', () => {
    const inherited = Object.create({ jsonrpc: '2.0', id: 1, result: 'x' }) as object;
    expect(parseInbound(inherited)).toBeNull();
  });
});
