import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

/**
 * The demo dapp (paid file sharing), served on other sites than the wallet: `npm start` serves
 * it on localhost and 127.0.0.2; e2e and the bench on their own ports. Env (all optional):
 * DEMO_WALLET_URL, DEMO_RELAY_URL (the defaults are what `npm start` runs), DEMO_SITES (the
 * demo's origins, comma-separated, for the links between its pages).
 */
const root = fileURLToPath(new URL('.', import.meta.url));
export default defineConfig({
  root,
  cacheDir: fileURLToPath(new URL(`../node_modules/.vite/${process.env['DEMO_CACHE_NAME'] || 'demo'}`, import.meta.url)),
  logLevel: 'warn',
  clearScreen: false,
  define: {
    __DEMO_WALLET_URL__: JSON.stringify(process.env['DEMO_WALLET_URL'] || 'http://127.0.0.1:5173/'),
    __DEMO_RELAY_URL__: JSON.stringify(process.env['DEMO_RELAY_URL'] || 'ws://127.0.0.1:7100/relay'),
    __DEMO_SITES__: JSON.stringify((process.env['DEMO_SITES'] || '').split(',').filter(Boolean)),
  },
  build: {
    target: 'es2022',
    rollupOptions: { input: { index: `${root}index.html`, seed: `${root}seed.html`, leech: `${root}leech.html` } },
  },
  // Everything it needs is pre-bundled at start; nothing is discovered later, so the dev server
  // never reloads a page in the middle of a download.
  optimizeDeps: { noDiscovery: true, include: ['@noble/hashes/sha256', '@noble/hashes/sha3', '@noble/curves/secp256k1', '@noble/curves/abstract/weierstrass', 'hash-wasm'] },
});
