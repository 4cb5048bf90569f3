import { ErrorCode, type RpcErrorObject } from '../../../sdk-client/src/schema.ts';

/** An error a handler throws to answer a call with a specific JSON-RPC error. */
export class RpcError extends Error {
  override readonly name = 'RpcError';
  constructor(
    readonly code: number,
    message: string,
    readonly data?: { field?: string },
  ) {
    super(message);
  }
  toObject(): RpcErrorObject {
    return this.data ? { code: this.code, message: this.message, data: this.data } : { code: this.code, message: this.message };
  }
}

export const userRejected = (what: string) => new RpcError(ErrorCode.userRejected, `The user rejected ${what}.`);
export const unauthorized = (method: string) =>
  new RpcError(ErrorCode.unauthorized, `${method} needs permission: this site is not connected to the wallet. Call eth_requestAccounts first.`);
