/**
 * Fuzzing the relay's WebSocket frames: a relay on a free port, a logged-in sender A and receiver
 * B, and every few inputs a fresh connection whose login frame is fuzzed.
 *
 * Inputs from A: valid sends to B (with and without an id), the same with 1–3 JSON mutations,
 * logins after login, random JSON, damaged text, binary frames, messages over the size limit and
 * frames over the frame limit (the relay closes that connection with 1009; A logs in again).
 * Login inputs: the right signature, then mutated (bit flips, another address, another origin's
 * or another challenge's signature, a stranger's key, JSON mutations).
 *
 * Oracles, per input (after a barrier: a marked send A → B, which both see after everything
 * before it, as each socket is ordered):
 *  - every frame gets its one answer: a valid send with an id exactly one `sent` with that id and
 *    B gets the message; a valid send without an id delivers to B; any other frame exactly one
 *    `error` (with the send's id when it could be read), B getting nothing; an oversized frame
 *    closes A's connection with 1009 and nothing else changes;
 *  - a login gets `welcome` exactly when its signature recovers to its address for that
 *    connection's challenge and the relay's origin (core's `recoverRelayLogin`, the reference),
 *    else an error (and for a bad signature, close 4001);
 *  - the relay never crashes: it answers /health at the end, and A and B still exchange messages.
 */
import { WebSocket } from 'ws';
import { PrivateKey, bytesToHex, recoverRelayLogin, signRelayLogin } from '../../../core/src/index.ts';
import { type FuzzCounts, type Json, Rng, emptyCounts, flipHexBit, mutateJson, mutateText, randomJson, weighted } from '../../../core/src/testing/fuzz.ts';
import { MAX_FRAME_BYTES, MAX_MESSAGE_CHARS, type ServerFrame, binaryFrame, parseBinaryFrame, parseClientFrame } from './protocol.ts';
import { type Relay, startRelay } from './server.ts';

export interface RelayFuzzFailure {
  seed: number;
  input: number;
  what: string;
  text: string;
}

/** A WebSocket client that keeps every frame it gets, and its close code. */
type Frame = ServerFrame | { type: 'binary'; from: string; payload: string };

class Client {
  readonly frames: Frame[] = [];
  closed: number | undefined;
  private readonly waiters: { check: () => boolean; resolve: () => void }[] = [];
  readonly ws: WebSocket;
  readonly opened: Promise<void>;
  constructor(url: string) {
    this.ws = new WebSocket(url);
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
    });
    this.ws.on('error', () => {});
    this.ws.on('message', (data, isBinary) => {
      const binary = isBinary ? parseBinaryFrame(data as Buffer) : undefined;
      this.frames.push(binary ? { type: 'binary', from: binary.address, payload: binary.payload.toString('hex') } : (JSON.parse(String(data)) as ServerFrame));
      this.poke();
    });
    this.ws.on('close', (code) => {
      this.closed = code;
      this.poke();
    });
  }
  private poke() {
    for (const w of [...this.waiters]) if (w.check()) w.resolve();
  }
  /** Resolves once `check` holds (checked on every frame and on close), or rejects after `ms` (a watchdog, not a synchronisation). */
  until(check: () => boolean, what: string, ms = 10_000): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
      const w = {
        check,
        resolve: () => {
          clearTimeout(timer);
          this.waiters.splice(this.waiters.indexOf(w), 1);
          resolve();
        },
      };
      this.waiters.push(w);
    });
  }
  challenge(): `0x${string}` | undefined {
    const f = this.frames.find((x) => x.type === 'challenge');
    return f && (f.challenge as `0x${string}`);
  }
}

async function loggedIn(relay: Relay, key: PrivateKey): Promise<Client> {
  const c = new Client(relay.url);
  await c.until(() => c.challenge() !== undefined, 'a challenge');
  c.ws.send(JSON.stringify({ type: 'login', address: key.address, signature: signRelayLogin(key, relay.origin, c.challenge()!) }));
  await c.until(() => c.frames.some((f) => f.type === 'welcome'), 'welcome');
  return c;
}

export async function runRelayFuzz(opts: { seed: number; inputs: number }): Promise<{ seed: number; counts: FuzzCounts; failures: RelayFuzzFailure[] }> {
  const { seed } = opts;
  const r = new Rng(seed ^ 0x4e1a);
  const logged: string[] = [];
  const relay = await startRelay({ port: 0, log: (event) => void logged.push(event), maxFramesPerSecond: 1_000_000 });
  const aKey = PrivateKey.fromHex(bytesToHex(r.bytes(32)));
  const bKey = PrivateKey.fromHex(bytesToHex(r.bytes(32)));
  const stranger = PrivateKey.fromHex(bytesToHex(r.bytes(32)));
  const counts = emptyCounts();
  const failures: RelayFuzzFailure[] = [];
  let A = await loggedIn(relay, aKey);
  const B = await loggedIn(relay, bKey);
  const B_ADDR = bKey.address;
  let barriers = 0;
  const clip = (t: string) => (t.length > 1000 ? `${t.slice(0, 1000)}… (${t.length} chars)` : t);
  try {
    for (let i = 0; i < opts.inputs; i++) {
      counts.inputs++;
      const fail = (what: string, text: string) => failures.push({ seed, input: i, what, text: clip(text) });
      if (r.int(10) === 0) {
        // A login on a fresh connection.
        const c = new Client(relay.url);
        await c.until(() => c.challenge() !== undefined || c.closed !== undefined, 'a challenge');
        const challenge = c.challenge()!;
        const key = r.pick([aKey, bKey, stranger]);
        let frame: Json = { type: 'login', address: key.address, signature: signRelayLogin(key, relay.origin, challenge) as unknown as Json };
        const how = weighted(r, { valid: 2, mutate: 4, flip: 3, otherOrigin: 1, otherChallenge: 1, stranger: 1 });
        if (how === 'mutate') for (let k = 1 + r.int(3); k > 0; k--) frame = mutateJson(r, frame, [aKey.address, B_ADDR, 27, 28]).value;
        const f = frame as { address: string; signature: { r: string; s: string; v: number } };
        if (how === 'flip') f.signature = { ...f.signature, [r.pick(['r', 's'])]: flipHexBit(r, f.signature[r.pick(['r', 's'] as const)]) };
        if (how === 'otherOrigin') f.signature = signRelayLogin(key, 'ws://elsewhere.example', challenge) as never;
        if (how === 'otherChallenge') f.signature = signRelayLogin(key, relay.origin, bytesToHex(r.bytes(32)) as `0x${string}`) as never;
        if (how === 'stranger') f.signature = signRelayLogin(stranger, relay.origin, challenge) as never;
        const text = JSON.stringify(frame);
        let expectWelcome = false;
        try {
          const parsed = parseClientFrame(text);
          expectWelcome = parsed.type === 'login' && recoverRelayLogin(relay.origin, challenge, parsed.signature) === parsed.address;
        } catch {
          expectWelcome = false;
        }
        c.ws.send(text);
        try {
          await c.until(() => c.frames.some((x) => x.type === 'welcome' || x.type === 'error'), 'an answer to a login');
        } catch (e) {
          counts.unanswered++;
          fail(String(e), text);
        }
        const welcomed = c.frames.some((x) => x.type === 'welcome');
        if (welcomed !== expectWelcome) {
          counts.wrongStoreChanges++;
          fail(welcomed ? 'welcomed with a login that does not verify' : 'refused a valid login', text);
        }
        if (welcomed) counts.answered++;
        else counts.rejectedLogged++;
        c.ws.terminate();
        continue;
      }
      const id = r.int(4) ? `f${i}` : undefined;
      const base: { [k: string]: Json } = { type: 'send', to: B_ADDR, message: `m${i}:${r.hex(r.int(40))}`, ...(id ? { id } : {}) };
      const kind = weighted(r, { valid: 3, mutate: 10, garbage: 2, text: 2, binary: 1, binaryToB: 1, login: 1, bigMessage: 1, bigFrame: 1 });
      let text: string;
      let binary = false;
      let bulk: Buffer | undefined;
      switch (kind) {
        case 'valid':
          text = JSON.stringify(base);
          break;
        case 'mutate': {
          let v: Json = base;
          for (let k = 1 + r.int(3); k > 0; k--) v = mutateJson(r, v, [aKey.address, B_ADDR, stranger.address, 'send', 'login']).value;
          text = JSON.stringify(v);
          break;
        }
        case 'garbage':
          text = JSON.stringify(randomJson(r, 4));
          break;
        case 'text':
          text = mutateText(r, JSON.stringify(base));
          break;
        case 'binary':
          text = JSON.stringify(base);
          binary = true;
          break;
        case 'binaryToB':
          // Bulk data for B: delivered as is, headed by A's address, and not answered.
          bulk = binaryFrame(B_ADDR, r.bytes(r.int(3) === 0 ? 0 : 1 + r.int(4096)));
          text = bulk.toString('hex');
          binary = true;
          break;
        case 'login':
          text = JSON.stringify({ type: 'login', address: aKey.address, signature: signRelayLogin(aKey, relay.origin, bytesToHex(r.bytes(32)) as `0x${string}`) });
          break;
        case 'bigMessage':
          text = JSON.stringify({ ...base, message: 'x'.repeat(MAX_MESSAGE_CHARS + 1 + r.int(100)) });
          break;
        case 'bigFrame':
          text = JSON.stringify({ ...base, message: 'x'.repeat(MAX_FRAME_BYTES + r.int(100)) });
          break;
      }
      // What the relay owes this frame (the protocol module's parser is the reference for shape).
      let owed: 'sent' | 'deliver' | 'error' | 'close' = 'error';
      let message: string | undefined;
      let sendId: string | undefined;
      if (Buffer.byteLength(text) > MAX_FRAME_BYTES) owed = 'close';
      else if (!binary) {
        try {
          const f = parseClientFrame(text);
          if (f.type === 'send' && f.to === B_ADDR.toLowerCase()) {
            owed = f.id === undefined ? 'deliver' : 'sent';
            message = f.message;
            sendId = f.id;
          } else if (f.type === 'send') {
            owed = f.id === undefined ? 'deliver' : 'sent';
            sendId = f.id;
          }
        } catch {
          owed = 'error';
        }
      }
      const aFrames = A.frames.length;
      const bFrames = B.frames.length;
      const logsBefore = logged.length;
      if (bulk) owed = 'deliver';
      A.ws.send(bulk ?? (binary ? Buffer.from(text) : text), { binary });
      if (owed === 'close') {
        try {
          await A.until(() => A.closed !== undefined, 'the oversized frame to close the connection');
        } catch (e) {
          counts.unanswered++;
          fail(String(e), text);
        }
        if (A.closed !== 1009) fail(`closed with ${A.closed}, expected 1009`, text);
        counts.rejectedLogged++;
        A = await loggedIn(relay, aKey);
        continue;
      }
      const marker = `barrier-${++barriers}`;
      A.ws.send(JSON.stringify({ type: 'send', to: B_ADDR, message: marker, id: marker }));
      try {
        await A.until(() => A.frames.some((f) => f.type === 'sent' && f.id === marker), 'the barrier acknowledgement');
        await B.until(() => B.frames.some((f) => f.type === 'message' && f.message === marker), 'the barrier message');
      } catch (e) {
        counts.crashes++;
        fail(String(e), text);
        break;
      }
      // A may be its own recipient (a mutated `to`): messages to it are not answers.
      const answers = A.frames.slice(aFrames).filter((f) => !(f.type === 'sent' && f.id === marker) && f.type !== 'message');
      const atB = B.frames.slice(bFrames).filter((f) => !(f.type === 'message' && f.message === marker));
      const bad = (what: string) => {
        counts.wrongStoreChanges++;
        fail(`${what}; A got ${JSON.stringify(answers).slice(0, 300)}, B got ${atB.length}`, text);
      };
      if (owed === 'sent') {
        if (answers.length !== 1 || answers[0]!.type !== 'sent' || answers[0]!.id !== sendId) bad('a valid send with an id was not acknowledged once');
        else counts.answered++;
      } else if (owed === 'deliver') {
        if (answers.length !== 0) bad('a valid send without an id was answered');
        else counts.answered++; // delivered (or queued for another address)
      } else {
        if (answers.length !== 1 || answers[0]!.type !== 'error') bad('a bad frame did not get exactly one error');
        else if (logged.length > logsBefore) counts.rejectedLogged++;
        else counts.answered++;
      }
      if (bulk) {
        const got = atB[0];
        if (!(atB.length === 1 && got?.type === 'binary' && got.from === aKey.address.toLowerCase() && got.payload === parseBinaryFrame(bulk).payload.toString('hex'))) bad('B did not get the binary frame sent to it, headed by A');
        continue;
      }
      if (message !== undefined && !(atB.length === 1 && atB[0]!.type === 'message' && atB[0]!.message === message)) bad('B did not get the message sent to it');
      if (message === undefined && atB.length !== 0) bad('B got something no valid send addressed to it');
    }
    const health = await fetch(relay.healthUrl);
    if (health.status !== 200) {
      counts.crashes++;
      failures.push({ seed, input: -1, what: `health ${health.status} after the fuzz`, text: '' });
    }
  } finally {
    A.ws.terminate();
    B.ws.terminate();
    await relay.close();
  }
  return { seed, counts, failures };
}
