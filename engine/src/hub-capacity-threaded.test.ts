/**
 * The hub capacity measurement with the hub engine in this thread and its clients in a worker
 * thread, messages crossing by postMessage: every channel opened, paid once and closed, every
 * ledger exact afterwards.
 */
import { describe, expect, it } from 'vitest';
import { measureHubCapacityThreaded } from './testing/hub-capacity-threaded.ts';

describe('hub capacity, clients in a worker thread', () => {
  it('opens, pays through and closes every channel through a hub in its own thread, every ledger exact afterwards', async () => {
    const r = await measureHubCapacityThreaded({ clients: 4, channels: 20 });
    expect(r.channels).toBe(20);
    expect(r.workers).toBe(1);
    expect(r.channelsPerSecond).toBeGreaterThan(0);
    expect(r.hubBusyMs).toBeGreaterThan(0);
    expect(r.hubBusyMs).toBeLessThan(r.elapsedMs);
    expect(r.openMs.p50).toBeGreaterThan(0);
    console.log(`hub capacity, threaded (4 clients, 20 channels): ${r.channelsPerSecond.toFixed(0)} channels/s; hub busy ${r.hubBusyMs.toFixed(0)} of ${r.elapsedMs.toFixed(0)} ms; open p50 ${r.openMs.p50.toFixed(1)} ms`);
  });
});
