/**
 * TEST ONLY: a TCP proxy in front of a node's RPC port (node:net), to cut the connection for
 * real: while it is down, every open connection is destroyed and every new one is reset as soon
 * as it is accepted, exactly what a client sees when its RPC endpoint goes away. A cut can be
 * armed to fire on the request that carries a given text (a JSON-RPC method name), either before
 * the request reaches the node (the node never does it) or after the node answered (the node did
 * it; the client never hears). Bytes pass through unchanged otherwise.
 */
import { type AddressInfo, type Server, type Socket, connect, createServer } from 'node:net';

export interface TcpProxy {
  /** `http://127.0.0.1:<port>`: the RPC URL to give the client. */
  readonly url: string;
  readonly down: boolean;
  /** Takes the endpoint away: open connections are destroyed, new ones reset. */
  cut(): void;
  /** Brings the endpoint back. */
  restore(): void;
  /**
   * Cuts once, at the first request whose bytes contain `text`: `before` it reaches the node, or
   * `after` the node has answered it (the answer is thrown away). Resolves when it has cut.
   */
  cutOn(text: string, when: 'before' | 'after'): Promise<void>;
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host?: string; port: number }): Promise<TcpProxy> {
  const host = target.host ?? '127.0.0.1';
  const sockets = new Set<Socket>();
  let down = false;
  let armed: { text: string; when: 'before' | 'after'; fired: () => void } | undefined;

  const track = (s: Socket): void => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
    s.on('error', () => undefined);
  };
  const cut = (): void => {
    down = true;
    for (const s of [...sockets]) s.destroy();
  };

  const server: Server = createServer((client) => {
    track(client);
    if (down) {
      client.resetAndDestroy();
      return;
    }
    const upstream = connect({ host, port: target.port });
    track(upstream);
    /** Set when this connection carried the request a cut was armed to follow. */
    let dropAnswer: (() => void) | undefined;
    client.on('data', (chunk: Buffer) => {
      if (down) return cut();
      const trigger = armed;
      if (trigger && chunk.toString('latin1').includes(trigger.text)) {
        armed = undefined;
        if (trigger.when === 'before') {
          cut();
          return trigger.fired();
        }
        dropAnswer = trigger.fired;
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (dropAnswer) {
        const fired = dropAnswer;
        dropAnswer = undefined;
        cut();
        return fired();
      }
      if (!down) client.write(chunk);
    });
    client.once('close', () => upstream.destroy());
    upstream.once('close', () => client.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    get down() {
      return down;
    },
    cut,
    restore: () => {
      down = false;
    },
    cutOn: (text, when) => new Promise<void>((fired) => (armed = { text, when, fired })),
    close: async () => {
      armed = undefined;
      cut();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
