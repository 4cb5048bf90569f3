import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { type Address, PrivateKey } from '../../core/src/index.ts';
import { type Relay, startRelay } from '../../hub/src/relay/index.ts';
import type { RelaySocketConstructor } from '../../sdk-client/src/relay.ts';
import { silentLogger } from './log.ts';
import { PeerMessaging } from './peers.ts';

let relay: Relay;
beforeAll(async () => {
  relay = await startRelay({ port: 0, log: () => undefined });
});
afterAll(async () => {
  await relay.close();
});

function wallet() {
  const key = PrivateKey.random();
  const toPage: { to: Address; message: string }[] = [];
  const received: { from: Address; message: string }[] = [];
  let arrived: (() => void) | undefined;
  const peers = new PeerMessaging({
    key,
    toPage: (to, message) => void toPage.push({ to, message }),
    receive: async (from, message) => {
      received.push({ from, message });
      arrived?.();
    },
    log: silentLogger,
    WebSocketImpl: WebSocket as unknown as RelaySocketConstructor,
  });
  const next = () => new Promise<void>((resolve) => (arrived = resolve));
  return { key, peers, toPage, received, next };
}

describe('peer messaging', () => {
  it('goes through the page until the wallet holds its own relay connection, then only through the relay', async () => {
    const alice = wallet();
    const bob = wallet();
    alice.peers.send(bob.key.address, 'via the page');
    expect(alice.toPage).toEqual([{ to: bob.key.address, message: 'via the page' }]);

    expect(await alice.peers.useRelay(relay.url)).toEqual({ address: alice.key.address, relayOrigin: new URL(relay.url).origin });
    await bob.peers.useRelay(relay.url);
    const atBob = bob.next();
    alice.peers.send(bob.key.address, 'hello bob');
    await atBob;
    expect(bob.received).toEqual([{ from: alice.key.address, message: 'hello bob' }]);
    const atAlice = alice.next();
    bob.peers.send(alice.key.address, 'hello alice');
    await atAlice;
    expect(alice.received).toEqual([{ from: bob.key.address, message: 'hello alice' }]);
    expect(alice.toPage).toHaveLength(1);
    expect(bob.toPage).toEqual([]);
    alice.peers.close();
    bob.peers.close();
  });

  it('refuses a relay URL that is not ws(s), and keeps using the page', async () => {
    const alice = wallet();
    await expect(alice.peers.useRelay('https://example.org/relay')).rejects.toThrow(TypeError);
    alice.peers.send(alice.key.address, 'still the page');
    expect(alice.toPage).toHaveLength(1);
  });
});
