import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PrivateKey, ZERO_ADDRESS } from '../../../core/src/index.ts';
import { ANVIL_HUB_KEY_INDEX, ANVIL_KEYS } from '../../../chain/anvil.ts';
import { type ChainConfig, writeChainConfig } from '../../../chain/deploy.ts';
import { DEFAULT_CHALLENGE_DURATION, HubConfigError, describePolicy, loadHubConfig } from './config.ts';

const dir = mkdtempSync(join(tmpdir(), 'hub-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const localChain: ChainConfig = {
  rpcUrl: 'http://127.0.0.1:8545',
  chainId: 31337,
  adjudicator: '0x5FbDB2315678afecb367f032d93F642f64180aa3',
  consensusApp: '0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512',
  virtualPaymentApp: '0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0',
  token: '0xCf7Ed3AccA5a467e9e704C703E8D87F634fB0Fc9',
};
const TOKEN = localChain.token.toLowerCase();
writeChainConfig(localChain, join(dir, '.local/chain.json'));
writeChainConfig({ ...localChain, chainId: 1 }, join(dir, 'mainnet.json'));

const KEY = '0x' + '11'.repeat(32);

function load(env: Record<string, string | undefined> = {}) {
  return loadHubConfig({ env, cwd: dir });
}

/** The HubConfigError thrown by loading with `env`. */
function errorOf(env: Record<string, string | undefined>): HubConfigError {
  try {
    load(env);
  } catch (error) {
    expect(error).toBeInstanceOf(HubConfigError);
    return error as HubConfigError;
  }
  throw new Error('expected a HubConfigError');
}

let files = 0;
function file(content: unknown): string {
  const path = join(dir, `hub-${++files}.json`);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

describe('loadHubConfig: defaults and sources', () => {
  it('needs nothing on the local chain: the anvil hub key, port 7100, .local paths, serve everyone, local limits', () => {
    const c = load();
    expect(c.key.address).toBe(PrivateKey.fromHex(ANVIL_KEYS[ANVIL_HUB_KEY_INDEX]).address);
    expect(c.keySource).toMatch(/anvil dev account 5/);
    expect(c.chain.chainId).toBe(31337);
    expect(c.chainConfigPath).toBe(join(dir, '.local/chain.json'));
    expect(c).toMatchObject({ host: '127.0.0.1', port: 7100, publicOrigin: undefined, dataDir: join(dir, '.local/hub-data') });
    expect(c.policy).toEqual({
      users: 'all',
      maxDepositPerUser: { [ZERO_ADDRESS]: 10n ** 18n, [TOKEN]: 1000n * 10n ** 18n },
      challengeDuration: { ...DEFAULT_CHALLENGE_DURATION },
    });
    expect(describePolicy(c.policy)).toEqual({ users: 'all', maxDepositPerUser: { ETH: '1000000000000000000', [TOKEN]: '1000000000000000000000' }, challengeDuration: { min: 600, max: 604_800 } });
  });

  it('takes every setting from the environment', () => {
    const c = load({
      HUB_PRIVATE_KEY: KEY,
      CHAIN_CONFIG: 'mainnet.json',
      HUB_HOST: '0.0.0.0',
      HUB_PORT: '0',
      HUB_PUBLIC_ORIGIN: 'WSS://Hub.Example',
      HUB_DATA_DIR: '/var/lib/hub',
      HUB_USERS: ` 0x${'AB'.repeat(20)}, 0x${'cd'.repeat(20)} `,
      HUB_MAX_DEPOSIT: `ETH=5, 0x${'EE'.repeat(20)}=7`,
      HUB_CHALLENGE_DURATION_MIN: '60',
      HUB_CHALLENGE_DURATION_MAX: '3600',
    });
    expect(c.key.address).toBe(PrivateKey.fromHex(KEY).address);
    expect(c.keySource).toBe('HUB_PRIVATE_KEY');
    expect(c.chain.chainId).toBe(1);
    expect(c).toMatchObject({ host: '0.0.0.0', port: 0, publicOrigin: 'wss://hub.example', dataDir: '/var/lib/hub' });
    expect(c.policy).toEqual({
      users: [`0x${'ab'.repeat(20)}`, `0x${'cd'.repeat(20)}`],
      maxDepositPerUser: { [ZERO_ADDRESS]: 5n, [`0x${'ee'.repeat(20)}`]: 7n },
      challengeDuration: { min: 60, max: 3600 },
    });
  });

  it('reads a JSON file (paths relative to it), and the environment wins over it', () => {
    const sub = join(dir, 'etc');
    writeChainConfig(localChain, join(sub, 'chain.json'));
    const path = join(sub, 'hub.json');
    writeFileSync(
      path,
      JSON.stringify({
        chainConfig: 'chain.json',
        port: 7200,
        dataDir: 'data',
        policy: { users: [`0x${'ab'.repeat(20)}`], maxDepositPerUser: { ETH: '100', token: 20 }, challengeDuration: { min: 700 } },
      }),
    );
    const c = load({ HUB_CONFIG: path });
    expect(c.chainConfigPath).toBe(join(sub, 'chain.json'));
    expect(c).toMatchObject({ port: 7200, dataDir: join(sub, 'data') });
    expect(c.policy).toEqual({ users: [`0x${'ab'.repeat(20)}`], maxDepositPerUser: { [ZERO_ADDRESS]: 100n, [TOKEN]: 20n }, challengeDuration: { min: 700, max: 604_800 } });
    const over = load({ HUB_CONFIG: path, HUB_PORT: '7300', HUB_USERS: 'all', HUB_DATA_DIR: 'here' });
    expect(over).toMatchObject({ port: 7300, dataDir: join(dir, 'here') });
    expect(over.policy.users).toBe('all');
  });

  it('takes the chain config as given, without reading CHAIN_CONFIG', () => {
    const c = loadHubConfig({ env: { CHAIN_CONFIG: 'nowhere.json' }, cwd: dir, chain: { ...localChain, faucetUrl: 'http://127.0.0.1:1' } });
    expect(c.chainConfigPath).toBeUndefined();
    expect(c.chain.faucetUrl).toBe('http://127.0.0.1:1');
  });
});

describe('loadHubConfig: errors name the setting', () => {
  const cases: [string, Record<string, string>, RegExp][] = [
    ['a port that is not a number', { HUB_PORT: 'abc' }, /^HUB_PORT: must be a port number \(0 to 65535; 0 picks a free one\), got "abc"$/],
    ['a port out of range', { HUB_PORT: '70000' }, /^HUB_PORT: must be a port number/],
    ['a key of the wrong length', { HUB_PRIVATE_KEY: '0x1234' }, /^HUB_PRIVATE_KEY: must be 0x followed by 64 hex digits/],
    ['a key outside the curve order', { HUB_PRIVATE_KEY: '0x' + '00'.repeat(32) }, /^HUB_PRIVATE_KEY: is not a valid secp256k1 private key$/],
    ['a missing chain config', { CHAIN_CONFIG: 'missing.json' }, /^CHAIN_CONFIG: Cannot read chain config .*missing\.json/],
    ['no key off the local chain', { CHAIN_CONFIG: 'mainnet.json' }, /^HUB_PRIVATE_KEY: is required on chain 1 \(the anvil dev key is a default only on the local chain, 31337\)$/],
    ['no limits off the local chain', { CHAIN_CONFIG: 'mainnet.json', HUB_PRIVATE_KEY: KEY }, /^HUB_MAX_DEPOSIT: is required on chain 1/],
    ['a user that is not an address', { HUB_USERS: '0x12' }, /^HUB_USERS: "0x12" is not an address \(0x followed by 40 hex digits\)$/],
    ['an empty user list', { HUB_USERS: ' , ' }, /^HUB_USERS: lists no address; use "all" to serve everyone$/],
    ['a limit without an amount', { HUB_MAX_DEPOSIT: 'ETH' }, /^HUB_MAX_DEPOSIT: "ETH" is not asset=amount/],
    ['a fractional limit', { HUB_MAX_DEPOSIT: 'ETH=1.5' }, /^HUB_MAX_DEPOSIT: must be a whole number of base units \(wei for ETH\) as decimal digits, got "1.5"$/],
    ['an unknown asset name', { HUB_MAX_DEPOSIT: 'DAI=5' }, /^HUB_MAX_DEPOSIT: asset "DAI" is not an address, "ETH" or "token"$/],
    ['an asset given twice', { HUB_MAX_DEPOSIT: `ETH=1,${ZERO_ADDRESS}=2` }, /^HUB_MAX_DEPOSIT: asset 0x0{40} is given twice$/],
    ['a limit above uint256', { HUB_MAX_DEPOSIT: `ETH=${2n ** 256n}` }, /^HUB_MAX_DEPOSIT: is larger than a uint256$/],
    ['a zero challenge duration', { HUB_CHALLENGE_DURATION_MIN: '0' }, /^HUB_CHALLENGE_DURATION_MIN: must be a whole number of seconds above 0, got "0"$/],
    ['a minimum above the maximum', { HUB_CHALLENGE_DURATION_MIN: '7200', HUB_CHALLENGE_DURATION_MAX: '3600' }, /^HUB_CHALLENGE_DURATION_MAX: the shortest challenge duration accepted \(7200 s\) is longer than the longest \(3600 s\)$/],
    ['a public origin that is not ws', { HUB_PUBLIC_ORIGIN: 'http://hub.example' }, /^HUB_PUBLIC_ORIGIN: publicOrigin must be a ws: or wss: origin, got http:$/],
    ['a missing config file', { HUB_CONFIG: 'nope.json' }, /^HUB_CONFIG: cannot read .*nope\.json: ENOENT$/],
  ];
  for (const [name, env, message] of cases) {
    it(`refuses ${name}`, () => {
      const error = errorOf(env);
      expect(error.message).toMatch(message);
      expect(error.setting).toBe(error.message.split(': ')[0]);
    });
  }

  it('never echoes a key it refuses', () => {
    const secret = '0x' + 'fe'.repeat(31);
    expect(errorOf({ HUB_PRIVATE_KEY: secret }).message).not.toContain('fe'.repeat(31));
    const outOfRange = '0x' + 'ff'.repeat(32);
    expect(errorOf({ HUB_PRIVATE_KEY: outOfRange }).message).not.toContain('ff'.repeat(32));
  });

  const fileCases: [string, unknown, (path: string) => string][] = [
    ['not JSON', '{"port":', (p) => `${p}: not valid JSON`],
    ['not an object', '[1]', (p) => `${p}: must be a JSON object`],
    ['an unknown key', { prot: 1 }, (p) => `${p}: prot: unknown setting (known: chainConfig, host, port, publicOrigin, dataDir, policy)`],
    ['a key in the file', { privateKey: KEY }, (p) => `${p}: privateKey: the hub key is read only from the environment (HUB_PRIVATE_KEY), never from the config file`],
    ['an unknown policy key', { policy: { user: 'all' } }, (p) => `${p}: policy.user: unknown setting (known: users, maxDepositPerUser, challengeDuration)`],
    ['a bad port', { port: 1.5 }, (p) => `${p}: port: must be a port number (0 to 65535; 0 picks a free one), got 1.5`],
    ['a bad user', { policy: { users: ['0xzz'] } }, (p) => `${p}: policy.users[0]: "0xzz" is not an address (0x followed by 40 hex digits)`],
    ['a limit in scientific notation', { policy: { maxDepositPerUser: { ETH: '1e18' } } }, (p) => `${p}: policy.maxDepositPerUser.ETH: must be a whole number of base units (wei for ETH) as decimal digits, got "1e18"`],
    ['an empty limit table', { policy: { maxDepositPerUser: {} } }, (p) => `${p}: policy.maxDepositPerUser: lists no asset; an empty limit table would serve nothing`],
    ['an unknown duration key', { policy: { challengeDuration: { average: 5 } } }, (p) => `${p}: policy.challengeDuration.average: unknown setting (known: min, max)`],
    ['a bad duration', { policy: { challengeDuration: { max: -1 } } }, (p) => `${p}: policy.challengeDuration.max: must be a whole number of seconds above 0, got -1`],
  ];
  for (const [name, content, message] of fileCases) {
    it(`refuses a config file with ${name}`, () => {
      const path = file(content);
      const error = errorOf({ HUB_CONFIG: path });
      expect(error.message.startsWith(message(path))).toBe(true);
    });
  }
});
