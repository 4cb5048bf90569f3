/**
 * The hub's entry: `npm run hub` (or `node --import tsx hub/src/index.ts`). For now it runs the
 * message relay. Environment: HUB_HOST (default 127.0.0.1), HUB_PORT (default 7100) and
 * HUB_PUBLIC_ORIGIN (the origin clients reach the relay at, e.g. wss://relay.example; default
 * ws://HUB_HOST:HUB_PORT — logins are signed for it, so set it behind a proxy or when binding 0.0.0.0).
 */
import { startRelay } from './relay/index.ts';

const host = process.env.HUB_HOST || '127.0.0.1';
const port = Number(process.env.HUB_PORT || 7100);
if (!Number.isInteger(port) || port < 0 || port > 65_535) {
  console.error(`HUB_PORT must be a port number, got ${JSON.stringify(process.env.HUB_PORT)}`);
  process.exit(1);
}

const relay = await startRelay({ host, port, publicOrigin: process.env.HUB_PUBLIC_ORIGIN || undefined });
console.log(`hub relay:  ${relay.url}  (logins are signed for ${relay.origin})`);
console.log(`hub health: ${relay.healthUrl}`);
if ((host === '0.0.0.0' || host === '::') && !process.env.HUB_PUBLIC_ORIGIN) {
  console.warn('HUB_HOST listens on every interface: set HUB_PUBLIC_ORIGIN to the origin clients use, or their logins will fail');
}

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) process.exit(1); // a second signal: do not wait
    stopping = true;
    console.log(`${signal}: closing the relay`);
    relay.close().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error('closing the relay failed', error);
        process.exit(1);
      },
    );
  });
}
