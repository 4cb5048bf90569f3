// The development faucet: an HTTP endpoint that tops an address up with ETH and test tokens on a
// local anvil chain, so a fresh wallet can fund channels. DEV ONLY: it refuses any chain whose
// id is not anvil's (31337), and it answers any origin (CORS `*`) because it guards nothing of
// value: anvil's ETH and the test token are free to anyone who can reach the RPC anyway.
//
// This module is imported by the browser wallet for `fundFromFaucet`: it must not import Node
// modules at the top level (the server side loads `node:http` on demand in `startFaucet`).
import { Interface, JsonRpcProvider, getAddress } from 'ethers';

/** Anvil's chain id (as chain/anvil.ts starts it); not imported from there: that module is Node-only. */
const ANVIL_CHAIN_ID = 31337n;
/**
 * The account that sends the `mint` transactions: impersonated on anvil (`anvil_impersonateAccount`),
 * so the faucet holds no key and shares no nonce with the dev accounts.
 */
const MINTER = '0x00000000000000000000000000000000fa0ce7a1';
const MINTER_GAS_ETH = 10n ** 18n;
const MAX_BODY_BYTES = 4_096;
/** A variable, not a literal: browser bundlers then leave the server's Node import alone. */
const NODE_HTTP = 'node:http';
const RECEIPT_TIMEOUT_MS = 30_000;

const tokenIface = new Interface(['function mint(address to, uint256 amount)', 'function balanceOf(address account) view returns (uint256)']);

export interface FaucetOptions {
  rpcUrl: string;
  /** The TestToken address (it has a public `mint`). */
  token: string;
  host?: string;
  /** 0 = a free port. */
  port?: number;
  /** Each request tops the ETH balance up to at least this (wei). Default 10 ETH. */
  ethAmount?: bigint;
  /** Each request mints this many token base units. Default 1000 tokens (10^21). */
  tokenAmount?: bigint;
}

export interface Faucet {
  /** Base URL; the endpoint is `${url}/faucet`. */
  url: string;
  close(): Promise<void>;
}

export interface FaucetBalances {
  address: string;
  ethBalance: bigint;
  tokenBalance: bigint;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const hex = (n: bigint): string => `0x${n.toString(16)}`;

/** A 0x-prefixed 20-byte address; mixed case must carry a valid EIP-55 checksum. Returns it lower-cased. */
function parseAddressParam(value: unknown): string {
  if (typeof value !== 'string' || !/^0x[0-9a-fA-F]{40}$/.test(value)) {
    throw new HttpError(400, `"address" must be a 0x-prefixed 20-byte hex address, got ${JSON.stringify(value ?? null).slice(0, 80)}`);
  }
  const isMixedCase = value.slice(2) !== value.slice(2).toLowerCase() && value.slice(2) !== value.slice(2).toUpperCase();
  if (isMixedCase) {
    try {
      getAddress(value);
    } catch {
      throw new HttpError(400, `"address" ${value} has an invalid EIP-55 checksum (mistyped?)`);
    }
  }
  return value.toLowerCase();
}

/** Starts the faucet HTTP server: `POST /faucet` with `{ "address": "0x…" }`. */
export async function startFaucet(opts: FaucetOptions): Promise<Faucet> {
  const { createServer } = (await import(/* @vite-ignore */ NODE_HTTP)) as typeof import('node:http');
  const host = opts.host ?? '127.0.0.1';
  const ethAmount = opts.ethAmount ?? 10n ** 19n;
  const tokenAmount = opts.tokenAmount ?? 10n ** 21n;
  const token = getAddress(opts.token);
  // A fixed network (no start-up detection that retries forever) and no read cache; the real
  // chain id is asked with a raw eth_chainId on every request.
  const provider = new JsonRpcProvider(opts.rpcUrl, Number(ANVIL_CHAIN_ID), { staticNetwork: true, cacheTimeout: -1 });

  const rpc = async <T>(method: string, params: unknown[]): Promise<T> => {
    try {
      return (await provider.send(method, params)) as T;
    } catch (e) {
      const code = (e as { code?: unknown }).code;
      if (typeof code === 'string' && /^E[A-Z]+$|^(SERVER_ERROR|TIMEOUT|NETWORK_ERROR)$/.test(code)) {
        throw new HttpError(502, `The chain RPC at ${opts.rpcUrl} is unreachable (${(e as Error).message})`);
      }
      throw e;
    }
  };

  const waitForReceipt = async (hash: string): Promise<{ status: string }> => {
    const deadline = Date.now() + RECEIPT_TIMEOUT_MS;
    for (;;) {
      const receipt = await rpc<{ status: string } | null>('eth_getTransactionReceipt', [hash]);
      if (receipt) return receipt;
      if (Date.now() > deadline) throw new HttpError(504, `The mint transaction ${hash} was not mined within ${RECEIPT_TIMEOUT_MS / 1000} s`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  const tokenBalanceOf = async (address: string): Promise<bigint> => {
    const ret = await rpc<string>('eth_call', [{ to: token, data: tokenIface.encodeFunctionData('balanceOf', [address]) }, 'latest']);
    return tokenIface.decodeFunctionResult('balanceOf', ret)[0] as bigint;
  };

  const fund = async (address: string): Promise<{ address: string; ethBalance: string; tokenBalance: string }> => {
    const chainId = BigInt(await rpc<string>('eth_chainId', []));
    if (chainId !== ANVIL_CHAIN_ID) {
      throw new HttpError(403, `This faucet only funds accounts on a local anvil chain (chain id ${ANVIL_CHAIN_ID}); the chain at ${opts.rpcUrl} has chain id ${chainId}`);
    }
    if (BigInt(await rpc<string>('eth_getBalance', [address, 'latest'])) < ethAmount) {
      await rpc('anvil_setBalance', [address, hex(ethAmount)]);
    }
    if (tokenAmount > 0n) {
      if (BigInt(await rpc<string>('eth_getBalance', [MINTER, 'latest'])) < MINTER_GAS_ETH / 10n) await rpc('anvil_setBalance', [MINTER, hex(MINTER_GAS_ETH)]);
      await rpc('anvil_impersonateAccount', [MINTER]);
      const hash = await rpc<string>('eth_sendTransaction', [{ from: MINTER, to: token, data: tokenIface.encodeFunctionData('mint', [address, tokenAmount]) }]);
      const receipt = await waitForReceipt(hash);
      if (BigInt(receipt.status) !== 1n) throw new HttpError(502, `Minting test tokens failed (transaction ${hash} reverted): is ${token} the TestToken?`);
    }
    const [ethBalance, tokenBalance] = await Promise.all([rpc<string>('eth_getBalance', [address, 'latest']), tokenBalanceOf(address)]);
    return { address, ethBalance: hex(BigInt(ethBalance)), tokenBalance: hex(tokenBalance) };
  };

  const server = createServer((req, res) => {
    const reply = (status: number, body: unknown, extra: Record<string, string> = {}): void => {
      res.writeHead(status, {
        // Dev-only endpoint: any origin may call it (the wallet iframe runs on its own origin).
        'access-control-allow-origin': '*',
        'access-control-allow-methods': 'POST, OPTIONS',
        'access-control-allow-headers': 'content-type',
        'access-control-max-age': '600',
        ...(body === undefined ? {} : { 'content-type': 'application/json; charset=utf-8' }),
        ...extra,
      });
      res.end(body === undefined ? undefined : JSON.stringify(body));
    };
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'OPTIONS') {
      // Chrome's Private Network Access preflight, for a wallet page served from elsewhere.
      reply(204, undefined, req.headers['access-control-request-private-network'] === 'true' ? { 'access-control-allow-private-network': 'true' } : {});
      return;
    }
    if (path !== '/faucet') {
      reply(404, { error: `Not found: ${path}. The faucet is POST /faucet with { "address": "0x…" }` });
      return;
    }
    if (req.method !== 'POST') {
      reply(405, { error: 'Use POST /faucet with { "address": "0x…" }' }, { allow: 'POST, OPTIONS' });
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on('end', () => {
      void (async () => {
        try {
          if (tooLarge) throw new HttpError(413, `The body is limited to ${MAX_BODY_BYTES} bytes`);
          let body: unknown;
          try {
            body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch {
            throw new HttpError(400, 'The body must be JSON: { "address": "0x…" }');
          }
          if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new HttpError(400, 'The body must be a JSON object: { "address": "0x…" }');
          reply(200, await fund(parseAddressParam((body as Record<string, unknown>)['address'])));
        } catch (e) {
          if (e instanceof HttpError) reply(e.status, { error: e.message });
          else reply(500, { error: `Faucet failure: ${(e as Error).message}` });
        }
      })();
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;

  let closing: Promise<void> | undefined;
  return {
    url,
    close: () => {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        provider.destroy();
      });
      return closing;
    },
  };
}

/**
 * Asks the faucet to fund `address`; usable from the browser (fetch only). `faucetUrl` is the
 * faucet's base URL (or its `/faucet` endpoint). Resolves to the balances after the top-up.
 */
export async function fundFromFaucet(faucetUrl: string, address: string): Promise<FaucetBalances> {
  const base = faucetUrl.replace(/\/+$/, '');
  const endpoint = base.endsWith('/faucet') ? base : `${base}/faucet`;
  let res: Response;
  try {
    res = await fetch(endpoint, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ address }) });
  } catch (e) {
    throw new Error(`The faucet at ${endpoint} is unreachable (${(e as Error).message})`, { cause: e });
  }
  const body = (await res.json().catch(() => undefined)) as { error?: unknown; address?: unknown; ethBalance?: unknown; tokenBalance?: unknown } | undefined;
  if (!res.ok) throw new Error(`The faucet at ${endpoint} refused: ${typeof body?.error === 'string' ? body.error : `HTTP ${res.status}`}`);
  if (typeof body?.address !== 'string' || typeof body.ethBalance !== 'string' || typeof body.tokenBalance !== 'string') {
    throw new Error(`The faucet at ${endpoint} answered an unexpected body`);
  }
  return { address: body.address, ethBalance: BigInt(body.ethBalance), tokenBalance: BigInt(body.tokenBalance) };
}
