// Shared by playwright.config.ts, the global setup and the specs.
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
/** Chain config written by the e2e global setup and served to the wallet page (env CHAIN_CONFIG). */
export const E2E_CHAIN_CONFIG = '.local/e2e-chain.json';
/** Port of the wallet's Vite dev server during e2e runs (not 5173, so `npm start` can keep running). */
export const E2E_WALLET_PORT = Number(process.env['E2E_WALLET_PORT'] || 5183);
export const E2E_WALLET_URL = `http://127.0.0.1:${E2E_WALLET_PORT}`;
/**
 * The test dapp, on two sites other than the wallet's (127.0.0.1): `localhost` and `127.0.0.2`.
 * Sites differ by registrable domain or IP, so each dapp gets its own storage partition for
 * the embedded wallet, as two real dapp domains would. Both are secure contexts (loopback),
 * which WebCrypto needs.
 */
export const E2E_DAPP_A_PORT = Number(process.env['E2E_DAPP_A_PORT'] || 5184);
export const E2E_DAPP_B_PORT = Number(process.env['E2E_DAPP_B_PORT'] || 5185);
export const E2E_DAPP_A_URL = `http://localhost:${E2E_DAPP_A_PORT}`;
export const E2E_DAPP_B_URL = `http://127.0.0.2:${E2E_DAPP_B_PORT}`;
/** The demo dapp (paid file sharing), on the same two other sites as the test dapp, other ports. */
export const E2E_DEMO_A_PORT = Number(process.env['E2E_DEMO_A_PORT'] || 5186);
export const E2E_DEMO_B_PORT = Number(process.env['E2E_DEMO_B_PORT'] || 5187);
export const E2E_DEMO_A_URL = `http://localhost:${E2E_DEMO_A_PORT}`;
export const E2E_DEMO_B_URL = `http://127.0.0.2:${E2E_DEMO_B_PORT}`;
