import {
  ErrorCode,
  JSONRPC_VERSION,
  MAX_MESSAGE_CHARS,
  type MethodName,
  type MethodParams,
  type MethodResult,
  type NotificationName,
  type NotificationParams,
  type RequestId,
  type RpcNotification,
  type RpcResponse,
  methods,
} from '../../../sdk-client/src/schema.ts';
import { SchemaError, validate } from '../../../sdk-client/src/schema-types.ts';
import type { Logger } from '../log.ts';
import { RpcError, unauthorized } from './rpc-error.ts';

export interface CallContext {
  /** The origin that sent the call: the one connected origin. */
  origin: string;
}

export type Handlers = { [M in MethodName]: (params: MethodParams<M>, ctx: CallContext) => Promise<MethodResult<M>> };

export interface RpcServerOptions {
  /** The only origin the server talks to. */
  origin: string;
  /** Posts a message to that origin (never to '*'). */
  post: (message: RpcResponse | RpcNotification) => void;
  handlers: Handlers;
  isPermitted: (origin: string) => Promise<boolean>;
  log: Logger;
}

function isMethodName(name: string): name is MethodName {
  return Object.hasOwn(methods, name);
}

/**
 * The wallet's JSON-RPC 2.0 endpoint. Every inbound message is checked against the schema
 * before anything runs: malformed requests get -32600, unknown methods -32601, bad params -32602
 * naming the field, calls needing permission from an origin without it 4100. A handler's
 * failure is answered with its RpcError, or a generic -32603 that reveals no internals.
 */
export class RpcServer {
  constructor(private readonly opts: RpcServerOptions) {}

  notify<N extends NotificationName>(method: N, params: NotificationParams<N>): void {
    this.opts.post({ jsonrpc: JSONRPC_VERSION, method, params });
  }

  /** Handles one inbound message (already known to come from the connected origin). */
  async handle(data: unknown): Promise<void> {
    const response = await this.respond(data);
    if (response) this.opts.post(response);
  }

  private async respond(data: unknown): Promise<RpcResponse | undefined> {
    let message = data;
    if (typeof message === 'string') {
      if (message.length > MAX_MESSAGE_CHARS) return this.fail(null, new RpcError(ErrorCode.invalidRequest, `message larger than ${MAX_MESSAGE_CHARS} characters`));
      try {
        message = JSON.parse(message);
      } catch {
        return this.fail(null, new RpcError(ErrorCode.parseError, 'message is not valid JSON'));
      }
    }
    if (typeof message !== 'object' || message === null || Array.isArray(message)) {
      return this.fail(null, new RpcError(ErrorCode.invalidRequest, 'expected a JSON-RPC 2.0 request object'));
    }
    const m = message as Record<string, unknown>;
    const id = typeof m.id === 'string' || (typeof m.id === 'number' && Number.isFinite(m.id)) ? (m.id as RequestId) : null;
    if (m.jsonrpc !== JSONRPC_VERSION) return this.fail(id, new RpcError(ErrorCode.invalidRequest, 'jsonrpc must be "2.0"', { field: 'jsonrpc' }));
    if (typeof m.method !== 'string') return this.fail(id, new RpcError(ErrorCode.invalidRequest, 'method must be a string', { field: 'method' }));
    if (id === null) {
      // A notification from the dapp: JSON-RPC says no response. We take none, so just note it.
      this.opts.log.warn('rpc.ignored', { reason: m.id === undefined ? 'notification' : 'invalid id', method: m.method.slice(0, 64) });
      if (m.id !== undefined) return this.fail(null, new RpcError(ErrorCode.invalidRequest, 'id must be a string or a number', { field: 'id' }));
      return undefined;
    }
    if (typeof m.id === 'string' && m.id.length > 128) return this.fail(null, new RpcError(ErrorCode.invalidRequest, 'id longer than 128 characters', { field: 'id' }));
    for (const key of Object.keys(m)) {
      if (!['jsonrpc', 'id', 'method', 'params'].includes(key)) return this.fail(id, new RpcError(ErrorCode.invalidRequest, `unknown member "${key.slice(0, 32)}"`, { field: key.slice(0, 32) }));
    }
    const method = m.method;
    if (!isMethodName(method)) return this.fail(id, new RpcError(ErrorCode.methodNotFound, `the method "${method.slice(0, 64)}" does not exist`));

    const def = methods[method];
    let params: unknown = m.params ?? (def.params.kind === 'tuple' ? [] : {});
    try {
      params = validate(def.params, params, 'params');
    } catch (e) {
      if (!(e instanceof SchemaError)) throw e;
      return this.fail(id, new RpcError(ErrorCode.invalidParams, `invalid params: ${e.message}`, { field: e.field }));
    }

    const ctx: CallContext = { origin: this.opts.origin };
    try {
      if (def.access === 'permitted' && !(await this.opts.isPermitted(ctx.origin))) throw unauthorized(method);
      const handler = this.opts.handlers[method] as (p: unknown, c: CallContext) => Promise<unknown>;
      const result = await handler(params, ctx);
      return { jsonrpc: JSONRPC_VERSION, id, result };
    } catch (e) {
      if (e instanceof RpcError) return this.fail(id, e, method);
      this.opts.log.warn('rpc.internal-error', { method, error: e instanceof Error ? e.name : 'unknown' });
      return this.fail(id, new RpcError(ErrorCode.internalError, `${method} failed inside the wallet; nothing was changed`), method);
    }
  }

  private fail(id: RequestId | null, error: RpcError, method?: string): RpcResponse {
    this.opts.log.info('rpc.error', { method, code: error.code, field: error.data?.field });
    return { jsonrpc: JSONRPC_VERSION, id, error: error.toObject() };
  }
}
