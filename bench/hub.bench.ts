/**
 * The hub's capacity: virtual channels opened, paid through once and closed per second through
 * one hub engine by many headless client engines in Node. The hub runs in the main thread, its
 * clients in a worker thread (messages cross as strings), so the hub verifies every client
 * signature itself as it would in production. Baseline: the same work with the hub and its
 * clients in one thread, in the same process — faster than reality, because one process shares
 * one signature cache and the hub never recovers a client's signature there.
 *
 * The headline figure has the hub on its production store (FileStore: every commit on disk before
 * anything it covers is sent); the same run on a MemoryStore shows what durability costs.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { measureHubCapacity } from '../engine/src/testing/hub-capacity.ts';
import { measureHubCapacityThreaded } from '../engine/src/testing/hub-capacity-threaded.ts';
import { FileStore } from '../hub/src/store/file-store.ts';

const CLIENTS = 20;
const CHANNELS = 300;

export interface HubFigure {
  name: string;
  ours: number;
  baseline: number;
  target: string;
  met: boolean;
}

export async function runHubBench(): Promise<HubFigure[]> {
  const oneThread = await measureHubCapacity({ clients: CLIENTS, channels: CHANNELS });
  const inMemory = await measureHubCapacityThreaded({ clients: CLIENTS, channels: CHANNELS });
  const dir = await mkdtemp(join(tmpdir(), 'hub-bench-'));
  const hubStore = await FileStore.open(dir);
  const threaded = await measureHubCapacityThreaded({ clients: CLIENTS, channels: CHANNELS, hubStore }).finally(async () => {
    await hubStore.close();
    await rm(dir, { recursive: true, force: true });
  });
  const met = threaded.channelsPerSecond >= 100;
  console.log(`\nHub capacity: ${CHANNELS} virtual channels opened, paid once and closed through one hub by ${CLIENTS} headless clients (baseline: hub and clients in one thread)`);
  console.log(`  hub in its own thread on its durable FileStore, clients in a worker: ${threaded.channelsPerSecond.toFixed(0)} channels/s (hub busy ${((100 * threaded.hubBusyMs) / threaded.elapsedMs).toFixed(0)}% of the time; open p50 ${threaded.openMs.p50.toFixed(0)} ms) (target ≥ 100/s) ${met ? 'met' : 'NOT MET'}`);
  console.log(`  the same with the hub on a MemoryStore (no durability): ${inMemory.channelsPerSecond.toFixed(0)} channels/s (hub busy ${((100 * inMemory.hubBusyMs) / inMemory.elapsedMs).toFixed(0)}%)`);
  console.log(`  baseline, all in one thread: ${oneThread.channelsPerSecond.toFixed(0)} channels/s (${oneThread.hubChannelsPerSecond.toFixed(0)}/s of the hub's own busy time, flattered by the shared signature cache)`);
  return [{ name: 'hub virtual channels opened+closed/s', ours: threaded.channelsPerSecond, baseline: oneThread.channelsPerSecond, target: '≥ 100/s', met }];
}
