import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';

const ROOT = fileURLToPath(new URL('.', import.meta.url));
const VIRTUAL_ID = 'virtual:chain-config';
const RESOLVED_ID = `\0${VIRTUAL_ID}`;

/** The chain config file: env CHAIN_CONFIG (relative to the repo root) or .local/chain.json. */
function chainConfigPath(): string {
  return resolve(ROOT, process.env['CHAIN_CONFIG'] || '.local/chain.json');
}

const REQUIRED_FIELDS = {
  rpcUrl: 'string',
  chainId: 'number',
  adjudicator: 'string',
  consensusApp: 'string',
  virtualPaymentApp: 'string',
  token: 'string',
} as const;

function readChainConfigFile(file: string): Record<string, unknown> | null {
  if (!existsSync(file)) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`chain config ${file} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new Error(`chain config ${file} must be a JSON object`);
  }
  const obj = parsed as Record<string, unknown>;
  const config: Record<string, unknown> = {};
  for (const [key, type] of Object.entries(REQUIRED_FIELDS)) {
    if (typeof obj[key] !== type) throw new Error(`chain config ${file}: "${key}" must be a ${type}`);
    config[key] = obj[key];
  }
  // The dev services beside the chain, when running.
  for (const key of ['faucetUrl', 'relayUrl']) {
    if (obj[key] === undefined) continue;
    if (typeof obj[key] !== 'string') throw new Error(`chain config ${file}: "${key}" must be a string`);
    config[key] = obj[key];
  }
  return config;
}

/**
 * `virtual:chain-config`: the chain config (or null) for the wallet page. The file is read when the
 * module is loaded, not when the server starts, so a chain deployed after the dev server started
 * (Playwright starts webServer before globalSetup) is picked up; in dev, changes to the file
 * invalidate the module and reload the page — only when the page was served something else: the
 * watcher's event for a write can arrive after a page already loaded the new file (the e2e global
 * setup writes it just before the first test), and reloading that page would drop its calls.
 */
function chainConfigPlugin(): Plugin {
  const file = chainConfigPath();
  /** The module text last served; undefined before the first load. */
  let served: string | undefined;
  const source = (): string => `export default ${JSON.stringify(readChainConfigFile(file))};\n`;
  return {
    name: 'channel-wallet:chain-config',
    resolveId(id) {
      return id === VIRTUAL_ID ? RESOLVED_ID : undefined;
    },
    load(id) {
      if (id !== RESOLVED_ID) return undefined;
      served = source();
      return served;
    },
    configureServer(server) {
      server.watcher.add(file);
      const onFileEvent = (path: string): void => {
        if (resolve(path) !== file) return;
        let current: string | undefined;
        try {
          current = source();
        } catch {
          current = undefined; // half written or invalid: reload, and the load reports it
        }
        if (served !== undefined && current === served) return;
        const graph = server.environments.client.moduleGraph;
        const mod = graph.getModuleById(RESOLVED_ID);
        if (mod) graph.invalidateModule(mod);
        // No page is open: the next one loads the new file. (Vite keeps a reload sent to no page
        // and delivers it to the first page that connects, which reloaded the wallet mid-test.)
        if (server.ws.clients.size === 0) return;
        server.environments.client.hot.send({ type: 'full-reload' });
      };
      server.watcher.on('add', onFileEvent);
      server.watcher.on('change', onFileEvent);
      server.watcher.on('unlink', onFileEvent);
    },
  };
}

export default defineConfig({
  root: ROOT,
  // Each server gets its own dependency cache: servers sharing one (the wallet and the e2e dapps
  // start at once) overwrite each other's pre-bundles and answer "504 Outdated Optimize Dep".
  cacheDir: process.env['VITE_CACHE_DIR'] || 'node_modules/.vite/wallet',
  plugins: [chainConfigPlugin()],
  build: {
    outDir: 'dist',
    emptyOutDir: true, // the entry is index.html at the root
  },
  // Only the wallet page is an entry: don't let the dep scanner crawl other HTML in the repo.
  optimizeDeps: {
    entries: ['index.html'],
    // Pre-bundle exactly these dependencies at server start, and never discover more at run time:
    // a dependency discovered late (behind a dynamic import) makes Vite re-optimize and reload
    // the page, which on a fresh clone reloaded the wallet iframe in the middle of a test.
    noDiscovery: true,
    include: ['dexie', 'ethers', 'xstate', 'hash-wasm', '@noble/curves/secp256k1', '@noble/curves/abstract/weierstrass', '@noble/hashes/sha3'],
  },
  server: {
    host: '127.0.0.1',
    port: 5173,
    strictPort: false,
    // Test output and local state are not sources.
    watch: { ignored: ['**/test-results/**', '**/playwright-report/**', '**/dist/**'] },
  },
  preview: { host: '127.0.0.1', port: 4173 },
});
