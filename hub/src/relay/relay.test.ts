import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { PrivateKey, signRelayLogin, toChecksumAddress } from '../../../core/src/index.ts';
import { CloseCode, MAX_FRAME_BYTES, MAX_MESSAGE_CHARS } from './protocol.ts';
import { type Relay, type RelayHealth, startRelay } from './server.ts';
import { RawClient, recordingLog } from './testing.ts';

const SECRET = 'do-not-log-this-secret';

let relay: Relay;
const recorder = recordingLog();
const opened: RawClient[] = [];

async function login(key: PrivateKey): Promise<RawClient> {
  const client = await RawClient.login(relay.url, relay.origin, key);
  opened.push(client);
  return client;
}

async function connect(): Promise<{ client: RawClient; challenge: `0x${string}` }> {
  const result = await RawClient.connect(relay.url);
  opened.push(result.client);
  return result;
}

async function health(): Promise<RelayHealth> {
  const res = await fetch(relay.healthUrl);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe('application/json');
  return (await res.json()) as RelayHealth;
}

beforeAll(async () => {
  relay = await startRelay({ port: 0, log: recorder.log });
});

afterAll(async () => {
  await Promise.all(opened.map((c) => c.close()));
  await relay.close();
  // Nothing the relay logged carries a message body.
  expect(recorder.lines.length).toBeGreaterThan(0);
  for (const line of recorder.lines) expect(JSON.stringify(line)).not.toContain(SECRET);
});

describe('startRelay', () => {
  it('listens on a free port and names its URLs', () => {
    expect(relay.port).toBeGreaterThan(0);
    expect(relay.origin).toBe(`ws://127.0.0.1:${relay.port}`);
    expect(relay.url).toBe(`ws://127.0.0.1:${relay.port}/relay`);
    expect(relay.healthUrl).toBe(`http://127.0.0.1:${relay.port}/health`);
  });

  it('answers /health, and 404 elsewhere', async () => {
    const a = PrivateKey.random();
    const c1 = await login(a);
    const c2 = await login(a);
    const h = await health();
    expect(h).toMatchObject({ status: 'ok' });
    expect(h.connections).toBeGreaterThanOrEqual(2);
    expect(h.addresses).toBeGreaterThanOrEqual(1);
    expect(h.uptimeMs).toBeGreaterThanOrEqual(0);
    expect((await fetch(new URL('/nope', relay.healthUrl))).status).toBe(404);
    await Promise.all([c1.close(), c2.close()]);
  });

  it('refuses a publicOrigin that is not ws(s)', async () => {
    await expect(startRelay({ publicOrigin: 'http://relay.example', log: () => {} })).rejects.toThrowError(/ws: or wss:/);
  });

  it('signs logins for its configured public origin, normalised', async () => {
    const other = await startRelay({ publicOrigin: 'WSS://Relay.Example:443/relay', log: () => {} });
    try {
      expect(other.origin).toBe('wss://relay.example');
      expect(other.url).toBe('wss://relay.example/relay');
      const key = PrivateKey.random();
      const local = `ws://127.0.0.1:${other.port}/relay`;
      const client = await RawClient.login(local, 'wss://relay.example', key);
      await client.close();
    } finally {
      await other.close();
    }
  });
});

describe('login', () => {
  it('sends a fresh 32-byte challenge per connection', async () => {
    const [a, b] = await Promise.all([connect(), connect()]);
    expect(a.challenge).toMatch(/^0x[0-9a-f]{64}$/);
    expect(b.challenge).toMatch(/^0x[0-9a-f]{64}$/);
    expect(a.challenge).not.toBe(b.challenge);
  });

  it('welcomes a correct signature, with the address lower-cased', async () => {
    const key = PrivateKey.random();
    const { client, challenge } = await connect();
    client.send({ type: 'login', address: toChecksumAddress(key.address), signature: signRelayLogin(key, relay.origin, challenge) });
    expect(await client.next('welcome')).toEqual({ type: 'welcome', address: key.address });
    client.send({ type: 'login', address: key.address, signature: signRelayLogin(key, relay.origin, challenge) });
    expect(await client.next('error')).toMatchObject({ code: 'bad-request', message: 'already logged in' });
  });

  const refusals: [string, (key: PrivateKey, challenge: `0x${string}`, otherChallenge: `0x${string}`) => object][] = [
    ['a signature by another key', (key, challenge) => ({ address: key.address, signature: signRelayLogin(PrivateKey.random(), relay.origin, challenge) })],
    ['a signature for another relay origin', (key, challenge) => ({ address: key.address, signature: signRelayLogin(key, 'ws://evil.example:7100', challenge) })],
    ['a signature over another challenge', (key, _challenge, other) => ({ address: key.address, signature: signRelayLogin(key, relay.origin, other) })],
    [
      'a signature that recovers to no key',
      (key) => ({ address: key.address, signature: { v: 27, r: `0x${'0'.repeat(64)}`, s: `0x${'0'.repeat(63)}1` } }),
    ],
  ];
  for (const [name, login] of refusals) {
    it(`refuses ${name} and closes with 4001`, async () => {
      const key = PrivateKey.random();
      const [{ client, challenge }, other] = await Promise.all([connect(), connect()]);
      const wait = recorder.next('rejected', (f) => f.code === 'login-failed');
      client.send({ type: 'login', ...login(key, challenge, other.challenge) });
      const error = await client.next('error');
      expect(error.code).toBe('login-failed');
      expect(error.message).toMatch(/does not recover to login.address/);
      expect(await client.closeCode()).toBe(CloseCode.loginFailed);
      await wait;
      // The other connection is unaffected and can still log in.
      other.client.send({ type: 'login', address: key.address, signature: signRelayLogin(key, relay.origin, other.challenge) });
      await other.client.next('welcome');
    });
  }

  it('answers a malformed login with bad-request naming the field, and lets the client try again', async () => {
    const key = PrivateKey.random();
    const { client, challenge } = await connect();
    const sig = signRelayLogin(key, relay.origin, challenge);
    client.send({ type: 'login', address: 'bob', signature: sig });
    expect(await client.next('error')).toMatchObject({ code: 'bad-request', message: expect.stringMatching(/^login\.address:/) });
    client.send({ type: 'login', address: key.address, signature: { ...sig, v: 29 } });
    expect(await client.next('error')).toMatchObject({ code: 'bad-request', message: expect.stringMatching(/^login\.signature\.v:/) });
    client.send({ type: 'login', address: key.address, signature: { ...sig, r: '0x12' } });
    expect(await client.next('error')).toMatchObject({ code: 'bad-request', message: expect.stringMatching(/^login\.signature\.r:/) });
    client.send({ type: 'login', address: key.address });
    expect(await client.next('error')).toMatchObject({ code: 'bad-request', message: expect.stringMatching(/^login\.signature:/) });
    client.send({ type: 'login', address: key.address, signature: sig });
    await client.next('welcome');
  });

  it('closes a connection that does not log in in time with 4002', async () => {
    const quick = await startRelay({ loginTimeoutMs: 100, log: () => {} });
    try {
      const { client } = await RawClient.connect(quick.url);
      expect(await client.closeCode()).toBe(CloseCode.loginTimeout);
    } finally {
      await quick.close();
    }
  });
});

describe('messages', () => {
  it('delivers both ways between two wallets, with acknowledgements', async () => {
    const [ka, kb] = [PrivateKey.random(), PrivateKey.random()];
    const [a, b] = await Promise.all([login(ka), login(kb)]);

    expect(await a.sendMessage(kb.address, `hello b ${SECRET}`)).toEqual({ type: 'sent', id: 't1', delivered: 1, queued: false });
    expect(await b.next('message')).toEqual({ type: 'message', from: ka.address, message: `hello b ${SECRET}` });

    // Mixed-case (checksummed) recipients are accepted; without an id there is no acknowledgement.
    b.send({ type: 'send', to: toChecksumAddress(ka.address), message: '{"x":"hello a"}' });
    expect(await a.next('message')).toEqual({ type: 'message', from: kb.address, message: '{"x":"hello a"}' });
    await b.barrier(kb.address);
    expect(b.inbox).toEqual([]);
  });

  it('keeps the order of many messages', async () => {
    const [ka, kb] = [PrivateKey.random(), PrivateKey.random()];
    const [a, b] = await Promise.all([login(ka), login(kb)]);
    for (let i = 0; i < 200; i++) a.send({ type: 'send', to: kb.address, message: `m${i}` });
    const got = await b.messages(200);
    expect(got.map((m) => m.message)).toEqual(Array.from({ length: 200 }, (_, i) => `m${i}`));
  });

  it('delivers to every connection (tab) of the recipient', async () => {
    const [ka, kb] = [PrivateKey.random(), PrivateKey.random()];
    const [a, b1, b2] = await Promise.all([login(ka), login(kb), login(kb)]);
    expect(await a.sendMessage(kb.address, 'to both tabs')).toMatchObject({ delivered: 2, queued: false });
    expect((await b1.next('message')).message).toBe('to both tabs');
    expect((await b2.next('message')).message).toBe('to both tabs');

    // One tab closes: the other still gets messages.
    const gone = recorder.next('disconnected', (f) => f.address === kb.address);
    await b1.close();
    await gone;
    expect(await a.sendMessage(kb.address, 'to the one left')).toMatchObject({ delivered: 1 });
    expect((await b2.next('message')).message).toBe('to the one left');
  });

  it('queues messages for an address with no connection and delivers them in order on login', async () => {
    const [ka, kc] = [PrivateKey.random(), PrivateKey.random()];
    const a = await login(ka);
    for (let i = 0; i < 5; i++) expect(await a.sendMessage(kc.address, `queued ${i} ${SECRET}`)).toMatchObject({ delivered: 0, queued: true });

    const { client: c, challenge } = await connect();
    c.send({ type: 'login', address: kc.address, signature: signRelayLogin(kc, relay.origin, challenge) });
    await c.next('welcome');
    const got = await c.messages(5);
    expect(got.map((m) => m.message)).toEqual([0, 1, 2, 3, 4].map((i) => `queued ${i} ${SECRET}`));
    expect(got.every((m) => m.from === ka.address)).toBe(true);

    // Messages sent after the login are live, and come after the queued ones.
    expect(await a.sendMessage(kc.address, 'live')).toMatchObject({ delivered: 1, queued: false });
    expect((await c.next('message')).message).toBe('live');

    // The queue was emptied: a second tab gets nothing old.
    const c2 = await login(kc);
    await c2.barrier(kc.address);
    expect(c2.inbox).toEqual([]);
  });

  it('delivers to the sender itself when it sends to its own address', async () => {
    const key = PrivateKey.random();
    const a = await login(key);
    expect(await a.sendMessage(key.address, 'note to self')).toMatchObject({ delivered: 1 });
    expect((await a.next('message')).message).toBe('note to self');
  });
});

describe('binary frames', () => {
  it('pass bulk data to every connection of the address, headed by the sender, byte for byte', async () => {
    const [ka, kb] = [PrivateKey.random(), PrivateKey.random()];
    const a = await login(ka);
    const b1 = await login(kb);
    const b2 = await login(kb);
    const payload = new Uint8Array(256 * 1024).map((_, i) => (i * 31) & 0xff);
    a.sendBinary(kb.address.toLowerCase(), payload);
    for (const b of [b1, b2]) {
      const frame = await b.next('binary');
      expect(frame.from).toBe(ka.address.toLowerCase());
      expect(Buffer.compare(frame.payload, Buffer.from(payload))).toBe(0);
    }
    // An empty payload is a frame too.
    a.sendBinary(kb.address.toLowerCase(), new Uint8Array());
    expect((await b1.next('binary')).payload.length).toBe(0);
  });

  it('are never queued: with nobody connected as the address the sender hears not-connected', async () => {
    const [ka, kb] = [PrivateKey.random(), PrivateKey.random()];
    const a = await login(ka);
    a.sendBinary(kb.address.toLowerCase(), new Uint8Array([1, 2, 3]));
    expect(await a.next('error')).toMatchObject({ code: 'not-connected', message: expect.stringMatching(/no connection is logged in as that address/) });
    const b = await login(kb);
    await b.barrier(kb.address.toLowerCase());
    expect(b.inbox).toEqual([]);
  });

  it('are refused before login and when too short to name an address', async () => {
    const { client } = await connect();
    client.sendBinary(PrivateKey.random().address, new Uint8Array([1]));
    expect(await client.next('error')).toMatchObject({ code: 'not-logged-in' });
    const a = await login(PrivateKey.random());
    a.ws.send(Buffer.alloc(19), { binary: true });
    expect(await a.next('error')).toMatchObject({ code: 'bad-request', message: expect.stringMatching(/^binary frame: 19 bytes/) });
  });
});

describe('bad input', () => {
  it('refuses to send before login, then works after it', async () => {
    const key = PrivateKey.random();
    const { client, challenge } = await connect();
    client.send({ type: 'send', to: key.address, message: SECRET, id: 'early' });
    expect(await client.next('error')).toEqual({ type: 'error', code: 'not-logged-in', message: 'log in before sending', id: 'early' });
    client.send({ type: 'login', address: key.address, signature: signRelayLogin(key, relay.origin, challenge) });
    await client.next('welcome');
    // The refused message was not queued.
    await client.barrier(key.address);
    expect(client.inbox).toEqual([]);
  });

  it('answers each kind of bad frame with a named error and keeps serving', async () => {
    const [ka, kb] = [PrivateKey.random(), PrivateKey.random()];
    const [a, b] = await Promise.all([login(ka), login(kb)]);
    const cases: [unknown, string, RegExp][] = [
      ['{not json', 'bad-request', /^invalid JSON$/],
      ['[1,2]', 'bad-request', /expected a JSON object/],
      [{ message: 'x' }, 'bad-request', /unknown frame type missing/],
      [{ type: 'shout', to: kb.address }, 'bad-request', /unknown frame type "shout"/],
      [{ type: 'send', to: 'bob', message: SECRET, id: 'i1' }, 'bad-request', /^send\.to: expected an address/],
      [{ type: 'send', to: `${kb.address}00`, message: 'x' }, 'bad-request', /^send\.to:/],
      [{ type: 'send', to: kb.address.replace('0x', '0X'), message: 'x' }, 'bad-request', /^send\.to:/],
      [{ type: 'send', to: kb.address }, 'bad-request', /^send\.message: expected a string/],
      [{ type: 'send', to: kb.address, message: { x: 1 } }, 'bad-request', /^send\.message: expected a string/],
      [{ type: 'send', to: kb.address, message: 'x', id: 7 }, 'bad-request', /^send\.id:/],
      [{ type: 'send', to: kb.address, message: 'x', id: 'x'.repeat(129) }, 'bad-request', /^send\.id:/],
      [{ type: 'send', to: kb.address, message: 'y'.repeat(MAX_MESSAGE_CHARS + 1), id: 'big' }, 'too-large', /^send\.message: 1048577 characters; the limit is 1048576$/],
    ];
    for (const [frame, code, message] of cases) {
      a.send(frame);
      const error = await a.next('error');
      expect(error.code, JSON.stringify(frame).slice(0, 80)).toBe(code);
      expect(error.message).toMatch(message);
      expect(error.message).not.toContain(SECRET);
    }
    a.ws.send(Buffer.from('{"type":"send"}'), { binary: true });
    expect(await a.next('error')).toMatchObject({ code: 'bad-request', message: expect.stringMatching(/^binary frame: 15 bytes; it must start with the 20-byte address/) });
    // Errors for a send with a readable id carry it.
    a.send({ type: 'send', to: 'nobody', message: 'x', id: 'mine' });
    expect(await a.next('error')).toMatchObject({ code: 'bad-request', id: 'mine' });

    // A message at the limit is fine; nothing refused above reached b.
    expect(await a.sendMessage(kb.address, 'z'.repeat(MAX_MESSAGE_CHARS))).toMatchObject({ delivered: 1 });
    expect((await b.next('message')).message).toHaveLength(MAX_MESSAGE_CHARS);
    await b.barrier(kb.address);
    expect(b.inbox).toEqual([]);
    // Every rejection was logged.
    expect(recorder.lines.filter((l) => l.event === 'rejected' && l.fields.address === ka.address).length).toBeGreaterThanOrEqual(cases.length + 2);
  });

  it('closes a connection that sends a frame over the size limit with 1009, and keeps serving others', async () => {
    const [ka, kb, kc] = [PrivateKey.random(), PrivateKey.random(), PrivateKey.random()];
    const [a, b, c] = await Promise.all([login(ka), login(kb), login(kc)]);
    const logged = recorder.next('rejected', (f) => f.code === 'too-large' && f.address === ka.address);
    a.send(JSON.stringify({ type: 'send', to: kb.address, message: 'x'.repeat(MAX_FRAME_BYTES) }));
    expect(await a.closeCode()).toBe(CloseCode.messageTooBig);
    await logged;
    expect(await c.sendMessage(kb.address, 'still here')).toMatchObject({ delivered: 1 });
    expect((await b.next('message')).message).toBe('still here');
  });

  it('rate-limits a connection that floods, once per second', async () => {
    const limited = await startRelay({ maxFramesPerSecond: 5, log: () => {} });
    try {
      const key = PrivateKey.random();
      const a = await RawClient.login(limited.url, limited.origin, key);
      for (let i = 0; i < 10; i++) a.send({ type: 'send', to: key.address, message: `m${i}` });
      const error = await a.next('error');
      expect(error).toMatchObject({ code: 'rate-limited', message: expect.stringMatching(/more than 5 frames in a second/) });
      // The 5 allowed frames (login counts as one) came through; the rest were dropped.
      const got = await a.messages(4);
      expect(got.map((m) => m.message)).toEqual(['m0', 'm1', 'm2', 'm3']);
      await a.close();
    } finally {
      await limited.close();
    }
  });

  it('does not rate-limit an unthrottled address (the hub’s own engine), and still limits others', async () => {
    const hub = PrivateKey.random();
    const limited = await startRelay({ maxFramesPerSecond: 5, unthrottled: [toChecksumAddress(hub.address)], log: () => {} });
    try {
      const h = await RawClient.login(limited.url, limited.origin, hub);
      for (let i = 0; i < 20; i++) h.send({ type: 'send', to: hub.address, message: `m${i}` });
      const got = await h.messages(20);
      expect(got.map((m) => m.message)).toEqual(Array.from({ length: 20 }, (_, i) => `m${i}`));
      expect(h.inbox.some((f) => f.type === 'error')).toBe(false);
      // Before login nobody is exempt: the address is only known once its signature proved it.
      const other = await RawClient.login(limited.url, limited.origin, PrivateKey.random());
      for (let i = 0; i < 10; i++) other.send({ type: 'send', to: hub.address, message: `x${i}` });
      expect(await other.next('error')).toMatchObject({ code: 'rate-limited' });
      await Promise.all([h.close(), other.close()]);
    } finally {
      await limited.close();
    }
  });
});

describe('routes', () => {
  it('serves extra JSON routes beside /health, 503 when a handler throws, and refuses reserved paths', async () => {
    let n = 0;
    const other = await startRelay({
      log: () => {},
      routes: {
        '/hub/health': async () => ({ status: 'ok', n: ++n }),
        '/broken': () => {
          throw new Error('secret detail');
        },
      },
    });
    try {
      const base = other.healthUrl;
      const ok = await fetch(new URL('/hub/health?x=1', base));
      expect(ok.status).toBe(200);
      expect(ok.headers.get('content-type')).toBe('application/json');
      expect(await ok.json()).toEqual({ status: 'ok', n: 1 });
      const broken = await fetch(new URL('/broken', base));
      expect(broken.status).toBe(503);
      expect(await broken.text()).not.toContain('secret detail');
      expect((await fetch(new URL('/hub/health', base), { method: 'POST' })).status).toBe(405);
      expect((await fetch(base)).status).toBe(200);
      expect(other.health()).toMatchObject({ status: 'ok', connections: 0 });
    } finally {
      await other.close();
    }
    await expect(startRelay({ log: () => {}, routes: { '/health': () => ({}) } })).rejects.toThrowError(/routes/);
    await expect(startRelay({ log: () => {}, routes: { 'hub': () => ({}) } })).rejects.toThrowError(/routes/);
  });
});

describe('heartbeat', () => {
  it('drops a connection that stops answering pings, and keeps one that answers', async () => {
    const beating = await startRelay({ pingIntervalMs: 50, log: () => {} });
    try {
      const live = await RawClient.login(beating.url, beating.origin, PrivateKey.random());
      const pings = new Promise<void>((resolve) => {
        let n = 0;
        live.ws.on('ping', () => ++n === 3 && resolve());
      });
      const mute = new WebSocket(beating.url, { autoPong: false });
      mute.on('error', () => {});
      const muteClosed = new Promise<number>((resolve) => mute.on('close', (code) => resolve(code)));
      expect(await muteClosed).toBe(1006); // terminated, no close frame
      await pings;
      expect(live.ws.readyState).toBe(WebSocket.OPEN);
      await live.close();
    } finally {
      await beating.close();
    }
  });
});

describe('close', () => {
  it('closes connections with 1001 and is idempotent', async () => {
    const other = await startRelay({ log: () => {} });
    const a = await RawClient.login(other.url, other.origin, PrivateKey.random());
    const closing = other.close();
    expect(other.close()).toBe(closing);
    await closing;
    expect(await a.closeCode()).toBe(CloseCode.goingAway);
  });

  it('disconnect(address) closes that address’s connections with 4005', async () => {
    const key = PrivateKey.random();
    const [a1, a2] = await Promise.all([login(key), login(key)]);
    expect(relay.disconnect(toChecksumAddress(key.address))).toBe(2);
    expect(await a1.closeCode()).toBe(CloseCode.disconnected);
    expect(await a2.closeCode()).toBe(CloseCode.disconnected);
    expect(relay.disconnect(key.address)).toBe(0);
  });
});
