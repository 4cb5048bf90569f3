import { toChecksumAddress } from '../../../core/src/index.ts';
import { ErrorCode, type MethodResult, type NotificationName, type NotificationParams } from '../../../sdk-client/src/schema.ts';
import type { Permissions } from '../store/permissions.ts';
import { RpcError, userRejected } from './rpc-error.ts';
import type { CallContext, Handlers } from './server.ts';

export interface ChainInfo {
  chainId: number;
  adjudicator: string;
  consensusApp: string;
  virtualPaymentApp: string;
  token: string;
}

export interface HandlerDeps {
  address: `0x${string}`;
  version: string;
  chain: ChainInfo | null;
  permissions: Permissions;
  /** Shows the connect dialog; resolves with the user's decision. */
  askToConnect: (request: { origin: string; address: string }) => Promise<boolean>;
  notify: <N extends NotificationName>(method: N, params: NotificationParams<N>) => void;
  /** Signs a relay's login challenge with the wallet key (relay-login domain only). */
  signRelayChallenge: (relayOrigin: string, challenge: `0x${string}`) => { v: 27 | 28; r: `0x${string}`; s: `0x${string}` };
  /** Hands a peer's protocol message to the engine. */
  receivePeerMessage: (from: `0x${string}`, message: string) => Promise<void>;
}

type Permission = MethodResult<'wallet_getPermissions'>[number];

const lower = (a: string) => a.toLowerCase() as `0x${string}`;

export function createHandlers(deps: HandlerDeps): Handlers {
  /** One dialog at a time per origin: concurrent connect calls share the user's answer. */
  const pending = new Map<string, Promise<boolean>>();

  async function connect(ctx: CallContext): Promise<void> {
    if (await deps.permissions.isGranted(ctx.origin)) return;
    let decision = pending.get(ctx.origin);
    if (!decision) {
      decision = (async () => {
        const approved = await deps.askToConnect({ origin: ctx.origin, address: toChecksumAddress(deps.address) });
        await deps.permissions.decide(ctx.origin, approved);
        if (approved) deps.notify('wallet_accountsChanged', [deps.address]);
        return approved;
      })().finally(() => pending.delete(ctx.origin));
      pending.set(ctx.origin, decision);
    }
    if (!(await decision)) throw userRejected('the connection request');
  }

  async function permissionsOf(origin: string): Promise<Permission[]> {
    const record = await deps.permissions.get(origin);
    if (!record?.granted) return [];
    return [{ invoker: origin, parentCapability: 'eth_accounts', caveats: [{ type: 'restrictReturnedAccounts', value: [deps.address] }], date: record.date }];
  }

  function chain(): ChainInfo {
    if (!deps.chain) throw new RpcError(ErrorCode.internalError, 'the wallet has no chain configured');
    return deps.chain;
  }

  return {
    eth_requestAccounts: async (_params, ctx) => {
      await connect(ctx);
      return [deps.address];
    },
    eth_accounts: async (_params, ctx) => ((await deps.permissions.isGranted(ctx.origin)) ? [deps.address] : []),
    eth_chainId: async () => `0x${chain().chainId.toString(16)}`,
    wallet_getPermissions: async (_params, ctx) => permissionsOf(ctx.origin),
    wallet_requestPermissions: async (_params, ctx) => {
      await connect(ctx);
      return permissionsOf(ctx.origin);
    },
    wallet_revokePermissions: async (_params, ctx) => {
      const wasGranted = await deps.permissions.isGranted(ctx.origin);
      await deps.permissions.revoke(ctx.origin);
      if (wasGranted) deps.notify('wallet_accountsChanged', []);
      return null;
    },
    wallet_getInfo: async () => {
      const c = chain();
      return {
        address: deps.address,
        version: deps.version,
        chainId: `0x${c.chainId.toString(16)}`,
        contracts: { adjudicator: lower(c.adjudicator), consensusApp: lower(c.consensusApp), virtualPaymentApp: lower(c.virtualPaymentApp), token: lower(c.token) },
      };
    },
    channel_list: async () => [],
    wallet_signRelayChallenge: async ([{ relayOrigin, challenge }]) => {
      let origin: string;
      try {
        origin = new URL(relayOrigin).origin;
      } catch {
        throw new RpcError(ErrorCode.invalidParams, 'invalid params: params[0].relayOrigin: expected a ws(s) or http(s) origin', { field: 'params[0].relayOrigin' });
      }
      if (origin !== relayOrigin || !/^(wss?|https?):$/.test(new URL(relayOrigin).protocol)) {
        throw new RpcError(ErrorCode.invalidParams, 'invalid params: params[0].relayOrigin: expected a ws(s) or http(s) origin', { field: 'params[0].relayOrigin' });
      }
      return { address: deps.address, signature: deps.signRelayChallenge(relayOrigin, challenge) };
    },
    channel_receiveMessage: async ([{ from, message }]) => {
      await deps.receivePeerMessage(lower(from), message);
      return null;
    },
  };
}
