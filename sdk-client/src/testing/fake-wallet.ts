/**
 * A stand-in for the wallet on the other side of the connection: it records what the client
 * posts and lets a test answer, notify and misbehave. The wallet is not under test here.
 */
import type { OpenConnection } from '../client.ts';
import type { RpcRequest } from '../schema.ts';

export const ADDRESS = `0x${'ab'.repeat(20)}` as const;

export const WALLET_INFO = {
  address: ADDRESS,
  version: '0.1.0',
  chainId: '0x7a69',
  contracts: {
    adjudicator: `0x${'01'.repeat(20)}`,
    consensusApp: `0x${'02'.repeat(20)}`,
    virtualPaymentApp: `0x${'03'.repeat(20)}`,
    token: `0x${'04'.repeat(20)}`,
  },
} as const;

export interface FakeWallet {
  open: OpenConnection;
  /** Every request the client posted, in order (structured-cloned, as postMessage would). */
  sent: RpcRequest[];
  /** Every setVisible call. */
  visibility: boolean[];
  readonly closed: boolean;
  /** Delivers a raw message as if it came from the wallet frame. */
  deliver(data: unknown): void;
  ready(version?: string): void;
  notify(method: string, params: unknown): void;
  respond(id: unknown, result: unknown): void;
  fail(id: unknown, code: number, message: string, data?: unknown): void;
  /** The last request posted. */
  last(): RpcRequest;
  /** Makes the next posts throw this error. */
  breakPost(error: Error | undefined): void;
}

export function fakeWallet(): FakeWallet {
  let onMessage: ((data: unknown) => void) | undefined;
  let closed = false;
  let postError: Error | undefined;
  const sent: RpcRequest[] = [];
  const visibility: boolean[] = [];
  const deliver = (data: unknown) => {
    if (!onMessage) throw new Error('the client has not opened the connection');
    onMessage(structuredClone(data));
  };
  return {
    open: (handler) => {
      onMessage = handler;
      return {
        post: (message) => {
          if (postError) throw postError;
          sent.push(structuredClone(message));
        },
        setVisible: (visible) => void visibility.push(visible),
        close: () => {
          closed = true;
        },
      };
    },
    sent,
    visibility,
    get closed() {
      return closed;
    },
    deliver,
    ready: (version = '0.1.0') => deliver({ jsonrpc: '2.0', method: 'wallet_ready', params: { version } }),
    notify: (method, params) => deliver({ jsonrpc: '2.0', method, params }),
    respond: (id, result) => deliver({ jsonrpc: '2.0', id, result }),
    fail: (id, code, message, data) => deliver({ jsonrpc: '2.0', id, error: data === undefined ? { code, message } : { code, message, data } }),
    last: () => {
      const request = sent.at(-1);
      if (!request) throw new Error('nothing was sent');
      return request;
    },
    breakPost: (error) => {
      postError = error;
    },
  };
}
