import { JSONRPC_VERSION, type RequestId, type RpcErrorObject } from './schema.ts';

/** An inbound message that is well-formed JSON-RPC 2.0 from the wallet's side. */
export type Inbound =
  | { kind: 'result'; id: RequestId | null; result: unknown }
  | { kind: 'error'; id: RequestId | null; error: RpcErrorObject }
  | { kind: 'notification'; method: string; params: unknown };

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isId(value: unknown): value is RequestId | null {
  return value === null || typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value));
}

/**
 * Classifies a message posted by the wallet: a response (result or error) or a notification.
 * Anything else — not an object, wrong `jsonrpc`, both or neither of result/error, a malformed
 * error object, a request — gives null, and the caller ignores it.
 */
export function parseInbound(data: unknown): Inbound | null {
  if (!isObject(data) || data.jsonrpc !== JSONRPC_VERSION) return null;
  const hasId = Object.hasOwn(data, 'id');
  const hasMethod = Object.hasOwn(data, 'method');

  if (hasMethod) {
    if (hasId || typeof data.method !== 'string') return null;
    return { kind: 'notification', method: data.method, params: data.params };
  }

  if (!hasId || !isId(data.id)) return null;
  const hasResult = Object.hasOwn(data, 'result');
  const hasError = Object.hasOwn(data, 'error');
  if (hasResult === hasError) return null;
  if (hasResult) return { kind: 'result', id: data.id, result: data.result };

  const error = data.error;
  if (!isObject(error) || typeof error.code !== 'number' || !Number.isInteger(error.code) || typeof error.message !== 'string') return null;
  const rpcError: RpcErrorObject = { code: error.code, message: error.message };
  if (Object.hasOwn(error, 'data')) rpcError.data = error.data as RpcErrorObject['data'];
  return { kind: 'error', id: data.id, error: rpcError };
}
