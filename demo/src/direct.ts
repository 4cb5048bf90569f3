/**
 * Direct data channels between demo pages: WebRTC, signalled through the hub's relay.
 *
 * `withDirectChannels(relay)` wraps the relay link. A leecher calls `connectDirect(seeder)`: the
 * offer, answer and ICE candidates travel as `signal` messages over the relay, whose `from` is
 * the sender's logged-in address, so the channel's DTLS fingerprint (in the SDP) binds it to that
 * peer and what arrives on it is from that peer. Once the channel is open, pieces sent to that
 * peer go over it, in chunks (Chromium takes at most 256 KiB per message); until then, or if it
 * closes, they go over the relay as before. Everything else (offers, requests, vouchers) stays on
 * the relay. Pieces received either way reach the same handlers.
 */
import type { Hex } from './exchange.ts';
import type { DataLink, DemoMessage } from './link.ts';

export type Signal = Extract<DemoMessage, { t: 'signal' }>;

/** The largest chunk of a piece in one data-channel message. */
export const CHUNK_BYTES = 64 * 1024;
const HEADER = 1 + 4 + 4 + 4;
const KIND_CHUNK = 1;
/**
 * The one-byte message each end sends when its end of the channel opens. The offerer's end can
 * open before the answerer's; the channel counts as open (connectDirect resolves) only when the
 * other end's message is in, so the seeder already sends on it when the first request comes.
 */
const KIND_OPEN = 2;
/** Largest piece the reassembly takes (the exchange's MAX_PIECE_SIZE). */
const MAX_PIECE = 512 * 1024;
/**
 * Pieces being reassembled per channel at most. A seeder sends a piece's chunks one after another
 * on an ordered channel, so one is under way at a time; this bounds what a peer can make us hold.
 */
const MAX_PARTIAL = 4;
/** Peers with a direct channel at most (each costs a connection). */
const MAX_PEERS = 32;
/** Above this many bytes queued in a channel, sending waits for it to drain. */
const HIGH_WATER = 4 * 1024 * 1024;

/** The chunks that carry piece `index`: [kind][u32 index][u32 offset][u32 total][bytes]. */
export function encodeChunks(index: number, data: Uint8Array): Uint8Array<ArrayBuffer>[] {
  const out: Uint8Array<ArrayBuffer>[] = [];
  for (let offset = 0; offset < data.length || (offset === 0 && out.length === 0); offset += CHUNK_BYTES) {
    const part = data.subarray(offset, offset + CHUNK_BYTES);
    const chunk = new Uint8Array(HEADER + part.length);
    const view = new DataView(chunk.buffer);
    chunk[0] = KIND_CHUNK;
    view.setUint32(1, index);
    view.setUint32(5, offset);
    view.setUint32(9, data.length);
    chunk.set(part, HEADER);
    out.push(chunk);
  }
  return out;
}

/**
 * Reassembles pieces from one channel's chunks (in order, as an ordered channel delivers them).
 * `push` returns the piece when its last chunk is in; throws a TypeError for a chunk that does not
 * fit (the channel is then closed).
 */
export class Reassembly {
  readonly #partial = new Map<number, { bytes: Uint8Array; have: number }>();

  push(message: ArrayBuffer): { index: number; data: Uint8Array } | undefined {
    if (message.byteLength < HEADER) throw new TypeError(`chunk: ${message.byteLength} bytes, too short`);
    const view = new DataView(message);
    if (view.getUint8(0) !== KIND_CHUNK) throw new TypeError(`chunk: unknown kind ${view.getUint8(0)}`);
    const index = view.getUint32(1);
    const offset = view.getUint32(5);
    const total = view.getUint32(9);
    const part = new Uint8Array(message, HEADER);
    if (total > MAX_PIECE) throw new TypeError(`chunk: a piece of ${total} bytes is over ${MAX_PIECE}`);
    let p = this.#partial.get(index);
    if (!p) {
      if (offset !== 0) throw new TypeError(`chunk: piece ${index} starts at ${offset}, not 0`);
      if (this.#partial.size >= MAX_PARTIAL) throw new TypeError(`chunk: more than ${MAX_PARTIAL} pieces under way`);
      p = { bytes: new Uint8Array(total), have: 0 };
      this.#partial.set(index, p);
    }
    if (total !== p.bytes.length || offset !== p.have || offset + part.length > total || (part.length === 0 && total > 0)) {
      this.#partial.delete(index);
      throw new TypeError(`chunk: piece ${index} at ${offset} (+${part.length}) of ${total} does not follow what came before`);
    }
    p.bytes.set(part, offset);
    p.have += part.length;
    if (p.have < total) return undefined;
    this.#partial.delete(index);
    return { index, data: p.bytes };
  }
}

export interface DirectLink extends DataLink {
  /** Starts a direct channel to `peer` (this side offers). Resolves true once it is open at both ends, false if it is not within `timeoutMs`. */
  connectDirect(peer: Hex, timeoutMs?: number): Promise<boolean>;
  /** Whether pieces to and from `peer` now travel directly. */
  isDirect(peer: Hex): boolean;
  /** Pieces received, by path. */
  readonly received: { direct: number; relay: number };
}

interface Peer {
  pc: RTCPeerConnection;
  channel: RTCDataChannel | undefined;
  queue: Uint8Array<ArrayBuffer>[];
  opened: Promise<boolean>;
  resolveOpened: (open: boolean) => void;
}

/**
 * Wraps the relay link with direct channels. `rtc` is the RTCPeerConnection constructor (absent,
 * as in Node, everything stays on the relay).
 */
export function withDirectChannels(relay: DataLink, rtc: typeof RTCPeerConnection | undefined = globalThis.RTCPeerConnection): DirectLink {
  const peers = new Map<Hex, Peer>();
  const handlers: ((from: Hex, message: DemoMessage) => void)[] = [];
  const errorHandlers: ((error: Error) => void)[] = [];
  const received = { direct: 0, relay: 0 };
  const reportError = (e: Error) => errorHandlers.forEach((h) => h(e));
  const deliver = (from: Hex, message: DemoMessage) => handlers.forEach((h) => h(from, message));

  function drop(peer: Hex): void {
    const p = peers.get(peer);
    if (!p) return;
    peers.delete(peer);
    p.resolveOpened(false);
    p.channel?.close();
    p.pc.close();
  }

  function pump(p: Peer): void {
    const ch = p.channel;
    if (!ch || ch.readyState !== 'open') return;
    while (p.queue.length > 0 && ch.bufferedAmount < HIGH_WATER) ch.send(p.queue.shift()!);
  }

  function useChannel(peer: Hex, p: Peer, channel: RTCDataChannel): void {
    p.channel = channel;
    channel.binaryType = 'arraybuffer';
    channel.bufferedAmountLowThreshold = HIGH_WATER / 2;
    channel.onbufferedamountlow = () => pump(p);
    const reassembly = new Reassembly();
    channel.onopen = () => channel.send(new Uint8Array([KIND_OPEN]));
    channel.onclose = () => {
      // Later pieces go over the relay. Chunks still queued for the channel are lost with it: the
      // leecher gets those pieces from another seeder once it takes this one for gone.
      if (peers.get(peer) === p) peers.delete(peer);
      p.resolveOpened(false);
      p.pc.close();
    };
    channel.onmessage = (event: MessageEvent) => {
      if (!(event.data instanceof ArrayBuffer)) return reportError(new Error(`direct channel from ${peer}: a text message; expected piece chunks`));
      if (event.data.byteLength === 1 && new Uint8Array(event.data)[0] === KIND_OPEN) return p.resolveOpened(true);
      let piece: { index: number; data: Uint8Array } | undefined;
      try {
        piece = reassembly.push(event.data);
      } catch (e) {
        reportError(new Error(`direct channel from ${peer}: ${(e as Error).message}; closed`));
        drop(peer);
        return;
      }
      if (piece) {
        received.direct++;
        deliver(peer, { t: 'piece', index: piece.index, data: piece.data });
      }
    };
  }

  function newPeer(peer: Hex): Peer {
    if (!rtc) throw new Error('this browser has no WebRTC');
    if (peers.size >= MAX_PEERS) throw new Error(`more than ${MAX_PEERS} direct channels`);
    const pc = new rtc();
    let resolveOpened!: (open: boolean) => void;
    const opened = new Promise<boolean>((resolve) => (resolveOpened = resolve));
    const p: Peer = { pc, channel: undefined, queue: [], opened, resolveOpened };
    pc.onicecandidate = (event) => {
      if (event.candidate && peers.get(peer) === p) relay.send(peer, { t: 'signal', candidate: event.candidate.toJSON() as Signal['candidate'] });
    };
    pc.onconnectionstatechange = () => {
      if (pc.connectionState === 'failed') drop(peer);
    };
    peers.set(peer, p);
    return p;
  }

  async function onSignal(from: Hex, s: Signal): Promise<void> {
    let p = peers.get(from);
    if (s.description?.type === 'offer') {
      // The other side offers (we are the seeder): a new connection replaces any old one.
      if (p) drop(from);
      p = newPeer(from);
      const mine = p;
      p.pc.ondatachannel = (event) => useChannel(from, mine, event.channel);
      await p.pc.setRemoteDescription(s.description);
      await p.pc.setLocalDescription(await p.pc.createAnswer());
      relay.send(from, { t: 'signal', description: { type: 'answer', sdp: p.pc.localDescription!.sdp } });
    } else if (s.description?.type === 'answer') {
      if (!p || p.pc.signalingState !== 'have-local-offer') throw new Error('an answer to no offer of ours');
      await p.pc.setRemoteDescription(s.description);
    } else if (s.candidate) {
      if (!p) throw new Error('a candidate for no connection of ours');
      await p.pc.addIceCandidate(s.candidate);
    }
  }

  relay.onMessage((from, message) => {
    if (message.t === 'signal') {
      onSignal(from, message).catch((e: unknown) => {
        reportError(new Error(`direct channel with ${from}: ${(e as Error).message}`));
        drop(from);
      });
      return;
    }
    if (message.t === 'piece') received.relay++;
    deliver(from, message);
  });

  return {
    peerId: relay.peerId,
    received,
    send(to, message) {
      const p = peers.get(to as Hex);
      if (message.t === 'piece' && p?.channel?.readyState === 'open') {
        p.queue.push(...encodeChunks(message.index, message.data));
        pump(p);
      } else {
        relay.send(to, message);
      }
    },
    onMessage: (h) => void handlers.push(h),
    onError(h) {
      errorHandlers.push(h);
      relay.onError(h);
    },
    close() {
      for (const peer of [...peers.keys()]) drop(peer);
      relay.close();
    },
    isDirect: (peer) => peers.get(peer)?.channel?.readyState === 'open',
    async connectDirect(peer, timeoutMs = 3_000) {
      if (!rtc) return false;
      let p: Peer;
      try {
        drop(peer);
        p = newPeer(peer);
        useChannel(peer, p, p.pc.createDataChannel('pieces', { ordered: true }));
        await p.pc.setLocalDescription(await p.pc.createOffer());
        relay.send(peer, { t: 'signal', description: { type: 'offer', sdp: p.pc.localDescription!.sdp } });
      } catch (e) {
        reportError(new Error(`direct channel with ${peer}: ${(e as Error).message}; pieces go over the relay`));
        drop(peer);
        return false;
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      const open = await Promise.race([p.opened, new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)))]);
      clearTimeout(timer);
      if (!open) drop(peer);
      return open;
    },
  };
}
