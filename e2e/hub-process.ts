/**
 * The hub as the e2e runs it: a real `hub/src/index.ts` process on its own durable store, so a
 * test can SIGKILL it and start it again on the same store and port. Its pid and settings are
 * kept in `.local/e2e-hub.json` for the specs (which run in other processes than the setup).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './paths.ts';

export const E2E_HUB_STATE = join(REPO_ROOT, '.local', 'e2e-hub.json');
/** The hub's output, appended across restarts. */
export const E2E_HUB_LOG = join(REPO_ROOT, '.local', 'e2e-hub.log');

export interface HubProcessSettings {
  chainConfigPath: string;
  dataDir: string;
  port: number;
}

interface HubState extends HubProcessSettings {
  pid: number;
  url: string;
  address: string;
}

async function healthy(port: number, deadline: number): Promise<{ address: string }> {
  for (;;) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/hub/health`);
      if (res.ok) {
        const health = (await res.json()) as { status: string; address: string; engine: string; relay: { hubConnection: string } };
        if (health.engine === 'running' && health.relay.hubConnection === 'open') return { address: health.address };
      }
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`the hub on port ${port} did not become healthy`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Starts the hub process and waits until it answers healthy; records it for the specs. */
export async function startHubProcess(settings: HubProcessSettings): Promise<HubState & { child: ChildProcess }> {
  const log = openSync(E2E_HUB_LOG, 'a');
  const child = spawn(process.execPath, ['--import', 'tsx', 'hub/src/index.ts'], {
    cwd: REPO_ROOT,
    env: { ...process.env, CHAIN_CONFIG: settings.chainConfigPath, HUB_DATA_DIR: settings.dataDir, HUB_PORT: String(settings.port), HUB_MAX_DEPOSIT: 'ETH=10000000000000000000', HUB_CHALLENGE_DURATION_MIN: '60' },
    stdio: ['ignore', log, log],
  });
  closeSync(log);
  const exited = new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`the hub exited (${code}) while starting; see ${E2E_HUB_LOG}`))));
  const { address } = await Promise.race([healthy(settings.port, Date.now() + 60_000), exited]);
  child.removeAllListeners('exit');
  child.unref();
  const state: HubState = { ...settings, pid: child.pid!, url: `ws://127.0.0.1:${settings.port}/relay`, address: address.toLowerCase() };
  writeFileSync(E2E_HUB_STATE, JSON.stringify(state, null, 2));
  return { ...state, child };
}

export function hubState(): HubState {
  return JSON.parse(readFileSync(E2E_HUB_STATE, 'utf8')) as HubState;
}

/** SIGKILLs the running hub and starts it again on the same store and port (for a spec). */
export async function restartHub(): Promise<void> {
  const state = hubState();
  try {
    process.kill(state.pid, 'SIGKILL');
  } catch {
    // already gone
  }
  for (let i = 0; i < 100; i++) {
    try {
      process.kill(state.pid, 0);
      await new Promise((r) => setTimeout(r, 50));
    } catch {
      break;
    }
  }
  await startHubProcess(state);
}

/** Stops whichever hub process is recorded (the global teardown). */
export function stopHub(): void {
  try {
    process.kill(hubState().pid, 'SIGTERM');
  } catch {
    // already gone
  }
}
