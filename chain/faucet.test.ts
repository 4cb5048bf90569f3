/**
 * The dev faucet against a real anvil with the test token deployed: a fresh address gets ETH and
 * tokens; bad requests are refused with a clear 4xx; a chain that is not anvil's is refused.
 */
import { spawn } from 'node:child_process';
import { Contract, JsonRpcProvider, Wallet } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ANVIL_KEYS, type Anvil, anvilBinary, freePort, startAnvil } from './anvil.ts';
import { testTokenArtifact } from './artifacts.ts';
import { type ContractAddresses, deployContracts } from './deploy.ts';
import { type Faucet, fundFromFaucet, startFaucet } from './faucet.ts';

let anvil: Anvil;
let addresses: ContractAddresses;
let provider: JsonRpcProvider;
let faucet: Faucet;

beforeAll(async () => {
  anvil = await startAnvil();
  addresses = await deployContracts(anvil.url);
  provider = new JsonRpcProvider(anvil.url, 31337, { staticNetwork: true, cacheTimeout: -1 });
  faucet = await startFaucet({ rpcUrl: anvil.url, token: addresses.token });
});
afterAll(async () => {
  await faucet?.close();
  provider?.destroy();
  await anvil?.stop();
});

const tokenBalance = (who: string): Promise<bigint> => new Contract(addresses.token, testTokenArtifact().abi, provider).getFunction('balanceOf')(who) as Promise<bigint>;

async function post(body: string, path = '/faucet'): Promise<{ status: number; json: { error?: string } }> {
  const res = await fetch(`${faucet.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  return { status: res.status, json: (await res.json()) as { error?: string } };
}

describe('the dev faucet', () => {
  it('funds a fresh address with 10 ETH and 1000 test tokens; a second call tops ETH up and mints again', async () => {
    const fresh = Wallet.createRandom().address;
    const first = await fundFromFaucet(faucet.url, fresh);
    expect(first).toEqual({ address: fresh.toLowerCase(), ethBalance: 10n ** 19n, tokenBalance: 10n ** 21n });
    expect(await provider.getBalance(fresh)).toBe(10n ** 19n);
    expect(await tokenBalance(fresh)).toBe(10n ** 21n);

    const second = await fundFromFaucet(`${faucet.url}/faucet`, fresh.toLowerCase());
    expect(second).toEqual({ address: fresh.toLowerCase(), ethBalance: 10n ** 19n, tokenBalance: 2n * 10n ** 21n });
  });

  it('never lowers a balance above the top-up amount', async () => {
    const rich = new Wallet(ANVIL_KEYS[2]).address;
    const before = await provider.getBalance(rich);
    expect(before).toBeGreaterThan(10n ** 19n);
    const funded = await fundFromFaucet(faucet.url, rich);
    expect(funded.ethBalance).toBe(before);
  });

  it('answers CORS preflights from any origin', async () => {
    const res = await fetch(`${faucet.url}/faucet`, {
      method: 'OPTIONS',
      headers: { origin: 'http://localhost:5173', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(res.headers.get('access-control-allow-methods')).toContain('POST');
    expect(res.headers.get('access-control-allow-headers')).toContain('content-type');
  });

  it('refuses a bad address with 400 and a clear message', async () => {
    for (const body of [JSON.stringify({ address: '0x1234' }), JSON.stringify({ address: 42 }), JSON.stringify({}), JSON.stringify({ address: `0x${'g'.repeat(40)}` })]) {
      const { status, json } = await post(body);
      expect(status, body).toBe(400);
      expect(json.error).toMatch(/^"address" must be a 0x-prefixed 20-byte hex address, got /);
    }
    // A mixed-case address with a wrong checksum (one letter's case flipped) is a typo.
    const good = new Wallet(ANVIL_KEYS[3]).address;
    const i = good.search(/[a-f]/);
    const flipped = good.slice(0, i) + good[i]!.toUpperCase() + good.slice(i + 1);
    const bad = await post(JSON.stringify({ address: flipped }));
    expect(bad.status).toBe(400);
    expect(bad.json.error).toMatch(/invalid EIP-55 checksum/);
    expect(await post('not json')).toMatchObject({ status: 400, json: { error: 'The body must be JSON: { "address": "0x…" }' } });
    await expect(fundFromFaucet(faucet.url, '0x1234')).rejects.toThrow(/^The faucet at .* refused: "address" must be a 0x-prefixed 20-byte hex address/);
  });

  it('404 for another path, 405 for another method', async () => {
    expect((await post(JSON.stringify({ address: ANVIL_KEYS[0] }), '/other')).status).toBe(404);
    const res = await fetch(`${faucet.url}/faucet`);
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('POST, OPTIONS');
  });

  it('refuses to fund on a chain whose id is not 31337', async () => {
    const port = await freePort();
    const other = spawn(anvilBinary(), ['--host', '127.0.0.1', '--port', String(port), '--chain-id', '1337', '--quiet'], { stdio: 'ignore' });
    const rpcUrl = `http://127.0.0.1:${port}`;
    const otherFaucet = await startFaucet({ rpcUrl, token: addresses.token });
    try {
      // Bounded wait for the second anvil to answer.
      const deadline = Date.now() + 10_000;
      for (;;) {
        const ok = await fetch(rpcUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}' }).then(
          (r) => r.ok,
          () => false,
        );
        if (ok) break;
        if (Date.now() > deadline) throw new Error('the chain-1337 anvil did not start');
        await new Promise((r) => setTimeout(r, 50));
      }
      const fresh = Wallet.createRandom().address;
      const res = await fetch(`${otherFaucet.url}/faucet`, { method: 'POST', body: JSON.stringify({ address: fresh }) });
      expect(res.status).toBe(403);
      expect(((await res.json()) as { error: string }).error).toBe(
        `This faucet only funds accounts on a local anvil chain (chain id 31337); the chain at ${rpcUrl} has chain id 1337`,
      );
    } finally {
      await otherFaucet.close();
      const exited = other.exitCode !== null || other.signalCode !== null ? Promise.resolve() : new Promise((r) => other.once('exit', r));
      other.kill('SIGTERM');
      await exited;
    }
  });

  it('an unreachable RPC is a 502 naming it', async () => {
    const rpcUrl = `http://127.0.0.1:${await freePort()}`;
    const dead = await startFaucet({ rpcUrl, token: addresses.token });
    try {
      await expect(fundFromFaucet(dead.url, Wallet.createRandom().address)).rejects.toThrow(`refused: The chain RPC at ${rpcUrl} is unreachable`);
    } finally {
      await dead.close();
    }
  });
});
