// Shared by playwright.config.ts, the global setup and the specs.
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
/** Chain config written by the e2e global setup and served to the wallet page (env CHAIN_CONFIG). */
export const E2E_CHAIN_CONFIG = '.local/e2e-chain.json';
/** Port of the wallet's Vite dev server during e2e runs (not 5173, so `npm start` can keep running). */
export const E2E_WALLET_PORT = Number(process.env['E2E_WALLET_PORT'] || 5183);
export const E2E_WALLET_URL = `http://127.0.0.1:${E2E_WALLET_PORT}`;
