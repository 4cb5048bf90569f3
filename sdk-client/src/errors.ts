import { ErrorCode, type RpcErrorObject } from './schema.ts';

/**
 * The one error type the sdk rejects calls with: the wallet's JSON-RPC error (code, message and,
 * for invalid params, `data.field`), or the sdk's own `timeout` (-32001) and `disconnected`
 * (4900). Codes are listed in `ErrorCode`.
 */
export class WalletRpcError extends Error {
  override readonly name = 'WalletRpcError';
  readonly code: number;
  // `declare`: absent, not undefined, when there is no data (class fields are defined on ES2022).
  declare readonly data?: { field?: string };

  constructor(code: number, message: string, data?: { field?: string }) {
    super(message);
    this.code = code;
    if (data !== undefined) this.data = data;
  }
}

/**
 * A WalletRpcError from the wallet's error object. Only the documented part of `data` (a string
 * `field`) is kept.
 */
export function fromRpcError(error: RpcErrorObject): WalletRpcError {
  const field: unknown = (error.data as { field?: unknown } | null | undefined)?.field;
  return new WalletRpcError(error.code, error.message, typeof field === 'string' ? { field } : undefined);
}

export function timeoutError(method: string, ms: number): WalletRpcError {
  return new WalletRpcError(ErrorCode.timeout, `${method} timed out after ${ms} ms`);
}

export function disconnectedError(message: string): WalletRpcError {
  return new WalletRpcError(ErrorCode.disconnected, message);
}
