// Contract artifacts (ABI + creation bytecode) for the local chain.
//
// - The Nitro v2 contracts come precompiled with @statechannels/nitro-protocol.
// - TestToken.sol is compiled here with the solc npm package (0.8.17) and cached
//   under .local/build/, keyed by a sha256 of the source (plus compiler, OpenZeppelin
//   version and settings), so repeat runs skip the ~1-2 s compile.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { JsonFragment } from 'ethers';

export type Artifact = {
  contractName: string;
  abi: JsonFragment[];
  /** 0x-prefixed creation bytecode. */
  bytecode: string;
};

export type NitroArtifacts = {
  NitroAdjudicator: Artifact;
  ConsensusApp: Artifact;
  VirtualPaymentApp: Artifact;
};

const require = createRequire(import.meta.url);

/** The repository root (this file lives in <root>/chain/). */
export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));

const NITRO_CONTRACTS = ['NitroAdjudicator', 'ConsensusApp', 'VirtualPaymentApp'] as const;

function packageDir(name: string): string {
  return dirname(require.resolve(`${name}/package.json`));
}

function readArtifactFile(path: string, contractName: string): Artifact {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Error(`Cannot read the ${contractName} artifact at ${path}: ${(err as Error).message}`, { cause: err });
  }
  const obj = parsed as { abi?: unknown; bytecode?: unknown };
  if (!Array.isArray(obj.abi) || typeof obj.bytecode !== 'string' || !/^0x[0-9a-fA-F]+$/.test(obj.bytecode)) {
    throw new Error(`The ${contractName} artifact at ${path} has no abi array or no 0x bytecode`);
  }
  return { contractName, abi: obj.abi as JsonFragment[], bytecode: obj.bytecode };
}

let nitroCache: NitroArtifacts | undefined;

/** ABI and bytecode of NitroAdjudicator, ConsensusApp and VirtualPaymentApp from @statechannels/nitro-protocol. */
export function nitroArtifacts(): NitroArtifacts {
  if (nitroCache) return nitroCache;
  const root = join(packageDir('@statechannels/nitro-protocol'), 'dist', 'artifacts', 'contracts');
  const [adjudicator, consensus, virtualPayment] = NITRO_CONTRACTS.map((name) =>
    readArtifactFile(join(root, `${name}.sol`, `${name}.json`), name),
  );
  if (!adjudicator || !consensus || !virtualPayment) throw new Error('unreachable: missing Nitro artifact');
  nitroCache = { NitroAdjudicator: adjudicator, ConsensusApp: consensus, VirtualPaymentApp: virtualPayment };
  return nitroCache;
}

// --- TestToken: compiled with solc-js --------------------------------------------------

type SolcImportResult = { contents: string } | { error: string };
type Solc = {
  version(): string;
  compile(input: string, callbacks?: { import: (path: string) => SolcImportResult }): string;
};
type SolcError = { severity: 'error' | 'warning' | 'info'; formattedMessage?: string; message: string };
type SolcOutput = {
  errors?: SolcError[];
  contracts?: Record<string, Record<string, { abi: JsonFragment[]; evm: { bytecode: { object: string } } }>>;
};

export const TEST_TOKEN_SOURCE_PATH = join(REPO_ROOT, 'chain', 'contracts', 'TestToken.sol');
const TEST_TOKEN_UNIT = 'contracts/TestToken.sol';
const BUILD_DIR = join(REPO_ROOT, '.local', 'build');
const SOLC_SETTINGS = {
  optimizer: { enabled: true, runs: 200 },
  evmVersion: 'london',
  outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } },
} as const;

function packageVersion(name: string): string {
  const pkg = JSON.parse(readFileSync(join(packageDir(name), 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

/** Resolves `@openzeppelin/...` (and any other package import) from node_modules. */
function resolveImport(path: string): SolcImportResult {
  const match = /^(@[^/]+\/[^/]+|[^@/][^/]*)\/(.+)$/.exec(path);
  if (!match?.[1] || !match[2]) return { error: `Cannot resolve import "${path}"` };
  try {
    const file = join(packageDir(match[1]), match[2]);
    return { contents: readFileSync(file, 'utf8') };
  } catch (err) {
    return { error: `Cannot resolve import "${path}": ${(err as Error).message}` };
  }
}

let tokenCache: Artifact | undefined;

/**
 * ABI and bytecode of chain/contracts/TestToken.sol, compiled with solc 0.8.17.
 * Cached in memory and in .local/build/TestToken.<sha256>.json. Throws on compile errors.
 */
export function testTokenArtifact(): Artifact {
  if (tokenCache) return tokenCache;
  const source = readFileSync(TEST_TOKEN_SOURCE_PATH, 'utf8');
  const solcVersion = packageVersion('solc');
  const key = createHash('sha256')
    .update(source)
    .update(`\0solc@${solcVersion}\0oz@${packageVersion('@openzeppelin/contracts')}\0${JSON.stringify(SOLC_SETTINGS)}`)
    .digest('hex');
  const cachePath = join(BUILD_DIR, `TestToken.${key}.json`);
  if (existsSync(cachePath)) {
    tokenCache = readArtifactFile(cachePath, 'TestToken');
    return tokenCache;
  }

  const solc = require('solc') as Solc;
  const input = {
    language: 'Solidity',
    sources: { [TEST_TOKEN_UNIT]: { content: source } },
    settings: SOLC_SETTINGS,
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: resolveImport })) as SolcOutput;
  const errors = (output.errors ?? []).filter((e) => e.severity === 'error');
  if (errors.length > 0) {
    const details = errors.map((e) => e.formattedMessage ?? e.message).join('\n');
    throw new Error(`TestToken.sol failed to compile with solc ${solc.version()}:\n${details}`);
  }
  const compiled = output.contracts?.[TEST_TOKEN_UNIT]?.['TestToken'];
  if (!compiled?.evm.bytecode.object) {
    throw new Error(`solc ${solc.version()} produced no bytecode for TestToken`);
  }
  const artifact: Artifact = { contractName: 'TestToken', abi: compiled.abi, bytecode: `0x${compiled.evm.bytecode.object}` };

  // Write atomically: several processes (vitest workers, scripts) may compile at once.
  mkdirSync(BUILD_DIR, { recursive: true });
  const tmp = `${cachePath}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify({ ...artifact, compiler: solc.version() }, null, 2));
  renameSync(tmp, cachePath);
  tokenCache = artifact;
  return artifact;
}
