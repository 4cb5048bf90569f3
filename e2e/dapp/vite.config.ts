import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

/** The e2e test dapp, served on other sites than the wallet (localhost and 127.0.0.2). */
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  // One dependency cache per dapp server (they start at once with the wallet's).
  cacheDir: fileURLToPath(new URL(`../../node_modules/.vite/${process.env['DAPP_CACHE_NAME'] || 'dapp'}`, import.meta.url)),
  logLevel: 'warn',
  clearScreen: false,
  build: { target: 'es2022' },
  // Its one dependency (ethers, for the injected test provider) is pre-bundled at start; nothing
  // is discovered later, so the dev server never reloads the page mid-test.
  optimizeDeps: { noDiscovery: true, include: ['ethers'] },
});
