/**
 * TEST ONLY: a minimal EIP-1193 provider backed by a local anvil, behaving the way a browser
 * extension does: it owns one account, answers `eth_requestAccounts` / `eth_accounts` with it,
 * signs `eth_sendTransaction` itself (filling nonce, fees and gas like an extension would) and
 * sends it raw, and forwards every other method to the RPC. JSON-RPC errors come back as
 * EIP-1193 errors (`{ code, message, data }`), so reverts and user rejections look exactly as
 * they do from a real extension. `wallet_switchEthereumChain` to another chain makes it report
 * that chain (as if the user had switched networks) without reaching it: what a dapp or wallet
 * must notice. No Node APIs: it also runs in the browser e2e.
 */
import { Wallet, getAddress } from 'ethers';

export interface Eip1193RequestArguments {
  method: string;
  params?: readonly unknown[] | object;
}

/** The error shape EIP-1193 prescribes. */
export class ProviderRpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly data?: unknown,
  ) {
    super(message);
  }
}

export interface InjectedProviderOptions {
  /**
   * The user's decision on each transaction (default: approve). Returning false answers
   * 4001 "User rejected the request", as an extension does when the user clicks Reject.
   */
  approveTransaction?: (tx: Record<string, unknown>) => boolean | Promise<boolean>;
  /** The user's decision on connecting (`eth_requestAccounts`); default approve. */
  approveConnection?: () => boolean | Promise<boolean>;
}

export interface InjectedAnvilProvider {
  request(args: Eip1193RequestArguments): Promise<unknown>;
  /** The account the "extension" holds (checksummed). */
  readonly address: string;
  /** EIP-1193 events: only `chainChanged` is emitted (on `wallet_switchEthereumChain`). */
  on(event: string, listener: (...args: unknown[]) => void): InjectedAnvilProvider;
  removeListener(event: string, listener: (...args: unknown[]) => void): InjectedAnvilProvider;
}

const toHex = (n: bigint): string => `0x${n.toString(16)}`;
const big = (v: unknown): bigint | undefined => (typeof v === 'string' || typeof v === 'number' || typeof v === 'bigint' ? BigInt(v) : undefined);

export function createInjectedAnvilProvider(rpcUrl: string, privateKey: string, opts: InjectedProviderOptions = {}): InjectedAnvilProvider {
  // The key stays in this closure: the returned object exposes only the address.
  const wallet = new Wallet(privateKey);
  const address = wallet.address;
  let connected = false;
  let nextId = 1;
  /** The chain the user "switched" the extension to, when not anvil's. */
  let switchedTo: string | undefined;
  const listeners = new Map<string, Set<(...args: unknown[]) => void>>();

  const rpc = async (method: string, params: readonly unknown[] | object = []): Promise<unknown> => {
    let res: Response;
    try {
      res = await fetch(rpcUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: nextId++, method, params }),
      });
    } catch (e) {
      // What extensions answer when their node is down: an internal JSON-RPC error.
      throw new ProviderRpcError(-32603, `Failed to reach the RPC at ${rpcUrl}: ${(e as Error).message}`);
    }
    if (!res.ok) throw new ProviderRpcError(-32603, `The RPC at ${rpcUrl} answered HTTP ${res.status}`);
    const body = (await res.json()) as { result?: unknown; error?: { code: number; message: string; data?: unknown } };
    if (body.error) throw new ProviderRpcError(body.error.code, body.error.message, body.error.data);
    return body.result;
  };

  const sendTransaction = async (params: unknown): Promise<string> => {
    const tx = (Array.isArray(params) ? params[0] : undefined) as Record<string, unknown> | undefined;
    if (!tx || typeof tx !== 'object') throw new ProviderRpcError(-32602, 'eth_sendTransaction expects [transaction]');
    if (typeof tx['from'] === 'string' && tx['from'].toLowerCase() !== address.toLowerCase()) {
      throw new ProviderRpcError(4100, `The requested account ${tx['from']} has not been authorized by the user`);
    }
    if (opts.approveTransaction && !(await opts.approveTransaction(tx))) throw new ProviderRpcError(4001, 'User rejected the request.');
    const call = { from: address, to: tx['to'], data: tx['data'] ?? tx['input'], value: tx['value'] ?? '0x0' };
    const [chainId, nonce, gas, latest, priority] = await Promise.all([
      rpc('eth_chainId'),
      rpc('eth_getTransactionCount', [address, 'pending']),
      tx['gas'] ?? rpc('eth_estimateGas', [call]),
      rpc('eth_getBlockByNumber', ['latest', false]) as Promise<{ baseFeePerGas?: string } | null>,
      tx['maxPriorityFeePerGas'] ?? rpc('eth_maxPriorityFeePerGas').catch(() => toHex(10n ** 9n)),
    ]);
    const maxPriorityFeePerGas = big(priority)!;
    const maxFeePerGas = big(tx['maxFeePerGas']) ?? 2n * (big(latest?.baseFeePerGas) ?? 0n) + maxPriorityFeePerGas;
    const signed = await wallet.signTransaction({
      type: 2,
      chainId: big(chainId)!,
      nonce: Number(big(nonce)),
      to: typeof call.to === 'string' ? getAddress(call.to) : null,
      data: typeof call.data === 'string' ? call.data : '0x',
      value: big(call.value) ?? 0n,
      gasLimit: big(gas)!,
      maxFeePerGas,
      maxPriorityFeePerGas,
    });
    return (await rpc('eth_sendRawTransaction', [signed])) as string;
  };

  const provider: InjectedAnvilProvider = {
    address,
    async request({ method, params }) {
      switch (method) {
        case 'eth_requestAccounts':
          if (!connected && opts.approveConnection && !(await opts.approveConnection())) throw new ProviderRpcError(4001, 'User rejected the request.');
          connected = true;
          return [address.toLowerCase()];
        case 'eth_accounts':
          return connected ? [address.toLowerCase()] : [];
        case 'eth_chainId':
          return switchedTo ?? (await rpc(method, params));
        case 'wallet_switchEthereumChain': {
          const requested = (Array.isArray(params) ? (params[0] as { chainId?: unknown } | undefined)?.chainId : undefined) as string | undefined;
          if (typeof requested !== 'string') throw new ProviderRpcError(-32602, 'wallet_switchEthereumChain expects [{ chainId }]');
          const actual = (await rpc('eth_chainId')) as string;
          const next = BigInt(requested) === BigInt(actual) ? undefined : toHex(BigInt(requested));
          if (next !== switchedTo) {
            switchedTo = next;
            for (const l of listeners.get('chainChanged') ?? []) l(next ?? actual);
          }
          return null;
        }
        case 'eth_sendTransaction':
          if (!connected) throw new ProviderRpcError(4100, 'The requested account has not been authorized by the user');
          if (switchedTo !== undefined) throw new ProviderRpcError(4901, `The provider is not connected to chain ${switchedTo}`);
          return await sendTransaction(params);
        case 'eth_sign':
        case 'personal_sign':
        case 'eth_signTypedData_v4':
        case 'eth_signTransaction':
          throw new ProviderRpcError(4200, `${method} is not supported by this test provider`);
        default:
          return await rpc(method, params);
      }
    },
    on(event, listener) {
      if (!listeners.has(event)) listeners.set(event, new Set());
      listeners.get(event)!.add(listener);
      return provider;
    },
    removeListener(event, listener) {
      listeners.get(event)?.delete(listener);
      return provider;
    },
  };
  return provider;
}
