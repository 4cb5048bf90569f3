/**
 * The hub's configuration: from environment variables and/or a JSON file (HUB_CONFIG), checked
 * in full before anything starts. Every error is a `HubConfigError` naming the setting (the
 * environment variable, or the file and the key in it) and what a valid value looks like; a
 * secret is never echoed back. Precedence: environment, then file, then defaults. The reference
 * is hub/README.md.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { type Address, MAX_UINT256, MAX_UINT48, PrivateKey, ZERO_ADDRESS } from '../../../core/src/index.ts';
import { ANVIL_CHAIN_ID, ANVIL_HUB_KEY_INDEX, ANVIL_KEYS } from '../../../chain/anvil.ts';
import { type ChainConfig, DEFAULT_CHAIN_CONFIG_PATH, readChainConfig } from '../../../chain/deploy.ts';
import { relayOriginOf } from '../relay/index.ts';
import type { HubPolicy } from './policy.ts';

export const DEFAULT_HUB_PORT = 7100;
export const DEFAULT_HUB_HOST = '127.0.0.1';
export const DEFAULT_DATA_DIR = '.local/hub-data';
/** Challenge durations the hub accepts by default: 10 minutes to 7 days. */
export const DEFAULT_CHALLENGE_DURATION = { min: 600, max: 604_800 } as const;
/** The default per-user limits on the local chain: 1 ETH, and 1 000 of the test token (18 decimals). */
export const LOCAL_DEFAULT_MAX_DEPOSIT = { eth: 10n ** 18n, token: 1_000n * 10n ** 18n } as const;

export interface HubConfig {
  key: PrivateKey;
  /** Where the key came from (never the key): `HUB_PRIVATE_KEY`, or the anvil dev account. */
  keySource: string;
  chain: ChainConfig;
  /** The chain config file read, or undefined when the chain config was given directly. */
  chainConfigPath: string | undefined;
  host: string;
  port: number;
  publicOrigin: string | undefined;
  dataDir: string;
  policy: HubPolicy;
}

export class HubConfigError extends Error {
  override readonly name = 'HubConfigError';
  constructor(
    /** The setting at fault: an environment variable, or `<file>: <key path>`. */
    readonly setting: string,
    problem: string,
  ) {
    super(`${setting}: ${problem}`);
  }
}

export interface LoadHubConfigOptions {
  /** Default `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Relative paths in the environment are resolved against it. Default `process.cwd()`. */
  cwd?: string;
  /** The chain, when the caller already has it (npm start): CHAIN_CONFIG and `chainConfig` are then not read. */
  chain?: ChainConfig;
}

const FILE_KEYS = ['chainConfig', 'host', 'port', 'publicOrigin', 'dataDir', 'policy'] as const;
const POLICY_KEYS = ['users', 'maxDepositPerUser', 'challengeDuration'] as const;
const DURATION_KEYS = ['min', 'max'] as const;

const ADDRESS = /^0x[0-9a-fA-F]{40}$/;
const PRIVATE_KEY = /^0x[0-9a-fA-F]{64}$/;
const DIGITS = /^[0-9]+$/;

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function show(v: unknown): string {
  const s = typeof v === 'string' ? JSON.stringify(v) : (JSON.stringify(v) ?? String(v));
  return s.length > 80 ? `${s.slice(0, 80)}…` : s;
}

function strictKeys(o: Json, known: readonly string[], setting: (key: string) => string): void {
  for (const k of Object.keys(o)) {
    if (!known.includes(k)) {
      if (k === 'privateKey' || k === 'key') throw new HubConfigError(setting(k), 'the hub key is read only from the environment (HUB_PRIVATE_KEY), never from the config file');
      throw new HubConfigError(setting(k), `unknown setting (known: ${known.join(', ')})`);
    }
  }
}

/** Where a value came from, for error messages, and its raw value. */
interface Source {
  setting: string;
  value: unknown;
  /** For paths: the directory they are relative to. */
  base: string;
}

function parseAddressValue(v: unknown, setting: string): Address {
  if (typeof v !== 'string' || !ADDRESS.test(v.trim())) throw new HubConfigError(setting, `${show(v)} is not an address (0x followed by 40 hex digits)`);
  return v.trim().toLowerCase() as Address;
}

function parsePort(s: Source): number {
  const n = typeof s.value === 'string' && DIGITS.test(s.value.trim()) ? Number(s.value.trim()) : s.value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 65_535) throw new HubConfigError(s.setting, `must be a port number (0 to 65535; 0 picks a free one), got ${show(s.value)}`);
  return n;
}

function parseNonEmpty(s: Source, what: string): string {
  if (typeof s.value !== 'string' || s.value.trim() === '') throw new HubConfigError(s.setting, `must be ${what}, got ${show(s.value)}`);
  return s.value.trim();
}

function parseUsers(s: Source): HubPolicy['users'] {
  let list: unknown[];
  if (typeof s.value === 'string') {
    if (s.value.trim().toLowerCase() === 'all') return 'all';
    list = s.value.split(',').map((x) => x.trim()).filter((x) => x !== '');
  } else if (Array.isArray(s.value)) {
    list = s.value;
  } else {
    throw new HubConfigError(s.setting, `must be "all" or a list of addresses, got ${show(s.value)}`);
  }
  if (list.length === 0) throw new HubConfigError(s.setting, 'lists no address; use "all" to serve everyone');
  return [...new Set(list.map((a, i) => parseAddressValue(a, Array.isArray(s.value) ? `${s.setting}[${i}]` : s.setting)))];
}

function parseAmount(v: unknown, setting: string): bigint {
  const text = typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? String(v) : typeof v === 'string' ? v.trim() : undefined;
  if (text === undefined || !DIGITS.test(text)) throw new HubConfigError(setting, `must be a whole number of base units (wei for ETH) as decimal digits, got ${show(v)}`);
  const amount = BigInt(text);
  if (amount > MAX_UINT256) throw new HubConfigError(setting, 'is larger than a uint256');
  return amount;
}

/** Asset names: an address, `ETH` (the zero address) or `token` (the chain config's token). */
function parseAsset(name: string, setting: string, chain: ChainConfig): Address {
  const n = name.trim();
  if (n.toUpperCase() === 'ETH') return ZERO_ADDRESS;
  if (n.toLowerCase() === 'token') return chain.token.toLowerCase() as Address;
  if (!ADDRESS.test(n)) throw new HubConfigError(setting, `asset ${show(name)} is not an address, "ETH" or "token"`);
  return n.toLowerCase() as Address;
}

function parseMaxDeposit(s: Source, chain: ChainConfig): Record<Address, bigint> {
  const out: Record<Address, bigint> = {};
  const add = (assetName: string, amount: unknown, setting: string) => {
    const asset = parseAsset(assetName, setting, chain);
    if (out[asset] !== undefined) throw new HubConfigError(setting, `asset ${asset} is given twice`);
    out[asset] = parseAmount(amount, setting);
  };
  if (typeof s.value === 'string') {
    const entries = s.value.split(',').map((x) => x.trim()).filter((x) => x !== '');
    if (entries.length === 0) throw new HubConfigError(s.setting, 'lists no asset; expected e.g. "ETH=1000000000000000000,token=5000"');
    for (const entry of entries) {
      const eq = entry.indexOf('=');
      if (eq < 0) throw new HubConfigError(s.setting, `${show(entry)} is not asset=amount (e.g. ETH=1000000000000000000)`);
      add(entry.slice(0, eq), entry.slice(eq + 1), s.setting);
    }
  } else if (isObject(s.value)) {
    if (Object.keys(s.value).length === 0) throw new HubConfigError(s.setting, 'lists no asset; an empty limit table would serve nothing');
    for (const [asset, amount] of Object.entries(s.value)) add(asset, amount, `${s.setting}.${asset}`);
  } else {
    throw new HubConfigError(s.setting, `must be an object of asset → amount (or "asset=amount,…" in the environment), got ${show(s.value)}`);
  }
  return out;
}

function parseDuration(s: Source): number {
  const n = typeof s.value === 'string' && DIGITS.test(s.value.trim()) ? Number(s.value.trim()) : s.value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n <= 0 || n > MAX_UINT48) throw new HubConfigError(s.setting, `must be a whole number of seconds above 0, got ${show(s.value)}`);
  return n;
}

function readConfigFile(path: string): Json {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new HubConfigError('HUB_CONFIG', `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new HubConfigError(path, `not valid JSON (${(err as Error).message})`);
  }
  if (!isObject(json)) throw new HubConfigError(path, 'must be a JSON object');
  return json;
}

/** Reads, checks and resolves the hub's configuration. Throws a `HubConfigError` naming the setting. */
export function loadHubConfig(options: LoadHubConfigOptions = {}): HubConfig {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const fromEnv = (name: string): string | undefined => {
    const v = env[name];
    return v === undefined || v.trim() === '' ? undefined : v;
  };

  // The file, if any: strict keys, paths relative to it.
  const filePath = fromEnv('HUB_CONFIG') === undefined ? undefined : resolve(cwd, fromEnv('HUB_CONFIG')!.trim());
  const file = filePath === undefined ? {} : readConfigFile(filePath);
  const fileDir = filePath === undefined ? cwd : dirname(filePath);
  const inFile = (key: string) => `${filePath}: ${key}`;
  strictKeys(file, FILE_KEYS, inFile);
  const filePolicy = file.policy === undefined ? {} : file.policy;
  if (!isObject(filePolicy)) throw new HubConfigError(inFile('policy'), `must be an object, got ${show(filePolicy)}`);
  strictKeys(filePolicy, POLICY_KEYS, (k) => inFile(`policy.${k}`));
  const fileDuration = filePolicy.challengeDuration === undefined ? {} : filePolicy.challengeDuration;
  if (!isObject(fileDuration)) throw new HubConfigError(inFile('policy.challengeDuration'), `must be an object {min, max}, got ${show(fileDuration)}`);
  strictKeys(fileDuration, DURATION_KEYS, (k) => inFile(`policy.challengeDuration.${k}`));

  /** The environment variable if set, else the file's key if present, else undefined. */
  const pick = (envName: string, fileKey: string, fileValue: unknown): Source | undefined => {
    const e = fromEnv(envName);
    if (e !== undefined) return { setting: envName, value: e, base: cwd };
    if (fileValue !== undefined) return { setting: inFile(fileKey), value: fileValue, base: fileDir };
    return undefined;
  };

  // The chain.
  let chain: ChainConfig;
  let chainConfigPath: string | undefined;
  if (options.chain) {
    chain = options.chain;
  } else {
    const s = pick('CHAIN_CONFIG', 'chainConfig', file.chainConfig) ?? { setting: 'CHAIN_CONFIG', value: DEFAULT_CHAIN_CONFIG_PATH, base: cwd };
    chainConfigPath = resolve(s.base, parseNonEmpty(s, 'the path of a chain config (chain.json)'));
    try {
      chain = readChainConfig(chainConfigPath);
    } catch (err) {
      const hint = s.value === DEFAULT_CHAIN_CONFIG_PATH ? ' (start a local chain with `npm run chain`, or set CHAIN_CONFIG)' : '';
      throw new HubConfigError(s.setting, `${(err as Error).message}${hint}`);
    }
  }

  // The key: from the environment only; the anvil dev account is a default on the local chain only.
  let key: PrivateKey;
  let keySource: string;
  const keyHex = fromEnv('HUB_PRIVATE_KEY')?.trim();
  if (keyHex !== undefined) {
    if (!PRIVATE_KEY.test(keyHex)) throw new HubConfigError('HUB_PRIVATE_KEY', 'must be 0x followed by 64 hex digits (a secp256k1 private key)');
    try {
      key = PrivateKey.fromHex(keyHex.toLowerCase());
    } catch {
      throw new HubConfigError('HUB_PRIVATE_KEY', 'is not a valid secp256k1 private key');
    }
    keySource = 'HUB_PRIVATE_KEY';
  } else if (chain.chainId === ANVIL_CHAIN_ID) {
    key = PrivateKey.fromHex(ANVIL_KEYS[ANVIL_HUB_KEY_INDEX]);
    keySource = `anvil dev account ${ANVIL_HUB_KEY_INDEX} (local chain default)`;
  } else {
    throw new HubConfigError('HUB_PRIVATE_KEY', `is required on chain ${chain.chainId} (the anvil dev key is a default only on the local chain, ${ANVIL_CHAIN_ID})`);
  }

  // Listening.
  const hostSource = pick('HUB_HOST', 'host', file.host);
  const host = hostSource ? parseNonEmpty(hostSource, 'a host name or IP address to listen on') : DEFAULT_HUB_HOST;
  const portSource = pick('HUB_PORT', 'port', file.port);
  const port = portSource ? parsePort(portSource) : DEFAULT_HUB_PORT;
  const originSource = pick('HUB_PUBLIC_ORIGIN', 'publicOrigin', file.publicOrigin);
  let publicOrigin: string | undefined;
  if (originSource) {
    const value = parseNonEmpty(originSource, 'a ws: or wss: origin');
    try {
      publicOrigin = relayOriginOf(value);
    } catch (err) {
      throw new HubConfigError(originSource.setting, (err as Error).message);
    }
  }

  const dataSource = pick('HUB_DATA_DIR', 'dataDir', file.dataDir) ?? { setting: 'HUB_DATA_DIR', value: DEFAULT_DATA_DIR, base: cwd };
  const dataDir = resolve(dataSource.base, parseNonEmpty(dataSource, 'a directory path'));

  // Policy.
  const usersSource = pick('HUB_USERS', 'policy.users', filePolicy.users);
  const users = usersSource ? parseUsers(usersSource) : 'all';
  const depositSource = pick('HUB_MAX_DEPOSIT', 'policy.maxDepositPerUser', filePolicy.maxDepositPerUser);
  let maxDepositPerUser: Record<Address, bigint>;
  if (depositSource) {
    maxDepositPerUser = parseMaxDeposit(depositSource, chain);
  } else if (chain.chainId === ANVIL_CHAIN_ID) {
    maxDepositPerUser = { [ZERO_ADDRESS]: LOCAL_DEFAULT_MAX_DEPOSIT.eth, [chain.token.toLowerCase() as Address]: LOCAL_DEFAULT_MAX_DEPOSIT.token };
  } else {
    throw new HubConfigError('HUB_MAX_DEPOSIT', `is required on chain ${chain.chainId}: how much the hub may lock per user, per asset (e.g. "ETH=100000000000000000"); there is a default only on the local chain`);
  }
  const minSource = pick('HUB_CHALLENGE_DURATION_MIN', 'policy.challengeDuration.min', fileDuration.min);
  const maxSource = pick('HUB_CHALLENGE_DURATION_MAX', 'policy.challengeDuration.max', fileDuration.max);
  const min = minSource ? parseDuration(minSource) : DEFAULT_CHALLENGE_DURATION.min;
  const max = maxSource ? parseDuration(maxSource) : DEFAULT_CHALLENGE_DURATION.max;
  if (min > max) throw new HubConfigError(maxSource?.setting ?? minSource?.setting ?? 'HUB_CHALLENGE_DURATION_MAX', `the shortest challenge duration accepted (${min} s) is longer than the longest (${max} s)`);

  return {
    key,
    keySource,
    chain,
    chainConfigPath,
    host,
    port,
    publicOrigin,
    dataDir,
    policy: { users, maxDepositPerUser, challengeDuration: { min, max } },
  };
}

/** The policy in a form fit for logs and the health endpoint (no secrets; amounts as strings). */
export function describePolicy(policy: HubPolicy): { users: 'all' | number; maxDepositPerUser: Record<string, string>; challengeDuration: { min: number; max: number } } {
  return {
    users: policy.users === 'all' ? 'all' : policy.users.length,
    maxDepositPerUser: Object.fromEntries(Object.entries(policy.maxDepositPerUser).map(([asset, amount]) => [asset === ZERO_ADDRESS ? 'ETH' : asset, amount.toString()])),
    challengeDuration: { ...policy.challengeDuration },
  };
}
