/**
 * The data link between demo pages: the hub's message relay, under a login of its own.
 *
 * The wallet logs into the relay with its own key and receives every message sent to its
 * address, which it parses as protocol messages. The demo's file data must not land there, so
 * each page logs in with a throwaway "data key" of its own (never the wallet's key, and never
 * holding money): its address is the page's peer id. Pieces, requests and offers travel between
 * peer ids; vouchers travel between wallet addresses. The two never meet on one connection.
 */
import { type Bytes32, bytesToHex, hexToBytes } from '../../core/src/hex.ts';
import { signRelayLogin } from '../../core/src/relay-login.ts';
import { PrivateKey } from '../../core/src/signature.ts';
import { relayOriginOf } from '../../sdk-client/src/relay.ts';
import { type Hex, type Manifest, parseManifest } from './exchange.ts';

// ---------------------------------------------------------------------------------------------
// The demo's messages, between peer ids

export type DemoMessage =
  /** leecher → seeder: who is asking, by wallet address. */
  | { t: 'hello'; wallet: Hex }
  /** seeder → leecher: the file, its terms, and who to pay. */
  | { t: 'offer'; wallet: Hex; manifest: Manifest; pricePerByte: string; buffer: number }
  /** leecher → seeder: the virtual channel it will pay through. */
  | { t: 'open'; channelId: Hex }
  /** seeder → leecher: the channel checked out; ask away. */
  | { t: 'ready'; channelId: Hex }
  | { t: 'request'; pieces: number[] }
  /** seeder → leecher, in a binary frame (see encodePieceFrame). */
  | { t: 'piece'; index: number; data: Uint8Array }
  /** WebRTC signalling for a direct data channel (see direct.ts): an SDP offer or answer, or an ICE candidate. */
  | { t: 'signal'; description?: { type: 'offer' | 'answer'; sdp: string }; candidate?: { candidate: string; sdpMid: string | null; sdpMLineIndex: number | null } }
  /** leecher → seeder: done (the channel is being closed). */
  | { t: 'bye' }
  | { t: 'error'; message: string };

const ADDRESS = /^0x[0-9a-f]{40}$/;
const BYTES32 = /^0x[0-9a-f]{64}$/;
const QUANTITY = /^(0|[1-9][0-9]{0,77})$/;

function field<T>(ok: boolean, value: T, what: string): T {
  if (!ok) throw new TypeError(what);
  return value;
}

/** Parses one text message from a peer; throws a TypeError saying what is wrong. */
export function parseMessage(text: string): DemoMessage {
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new TypeError('message: not JSON');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new TypeError('message: expected an object with a "t"');
  switch (v.t) {
    case 'hello':
      return { t: 'hello', wallet: field(typeof v.wallet === 'string' && ADDRESS.test(v.wallet), v.wallet as Hex, 'hello.wallet: expected a lower-case address') };
    case 'offer':
      return {
        t: 'offer',
        wallet: field(typeof v.wallet === 'string' && ADDRESS.test(v.wallet), v.wallet as Hex, 'offer.wallet: expected a lower-case address'),
        manifest: parseManifest(v.manifest),
        pricePerByte: field(typeof v.pricePerByte === 'string' && QUANTITY.test(v.pricePerByte), v.pricePerByte as string, 'offer.pricePerByte: expected a decimal amount of wei'),
        buffer: field(Number.isInteger(v.buffer) && (v.buffer as number) >= 1 && (v.buffer as number) <= 1024, v.buffer as number, 'offer.buffer: expected 1 to 1024 pieces'),
      };
    case 'open':
    case 'ready':
      return { t: v.t, channelId: field(typeof v.channelId === 'string' && BYTES32.test(v.channelId), v.channelId as Hex, `${v.t}.channelId: expected 32 bytes of lower-case 0x hex`) };
    case 'request':
      return { t: 'request', pieces: field(Array.isArray(v.pieces) && v.pieces.length <= 1024 && v.pieces.every((i) => Number.isInteger(i) && i >= 0), v.pieces as number[], 'request.pieces: expected up to 1024 piece numbers') };
    case 'piece':
      throw new TypeError('piece: pieces travel in binary frames, not text');
    case 'signal': {
      const d = v.description as Record<string, unknown> | undefined;
      const c = v.candidate as Record<string, unknown> | undefined;
      if ((d === undefined) === (c === undefined)) throw new TypeError('signal: expected a description or a candidate');
      if (d !== undefined) {
        if (typeof d !== 'object' || d === null || (d.type !== 'offer' && d.type !== 'answer')) throw new TypeError('signal.description.type: expected "offer" or "answer"');
        if (typeof d.sdp !== 'string' || d.sdp.length > 64 * 1024) throw new TypeError('signal.description.sdp: expected a string of at most 64 KiB');
        return { t: 'signal', description: { type: d.type, sdp: d.sdp } };
      }
      if (typeof c !== 'object' || c === null || typeof c.candidate !== 'string' || c.candidate.length > 1024) throw new TypeError('signal.candidate.candidate: expected a string of at most 1 KiB');
      const sdpMid = c.sdpMid === undefined || c.sdpMid === null ? null : field(typeof c.sdpMid === 'string' && c.sdpMid.length <= 64, c.sdpMid as string, 'signal.candidate.sdpMid: expected a short string');
      const sdpMLineIndex = c.sdpMLineIndex === undefined || c.sdpMLineIndex === null ? null : field(Number.isInteger(c.sdpMLineIndex) && (c.sdpMLineIndex as number) >= 0 && (c.sdpMLineIndex as number) < 64, c.sdpMLineIndex as number, 'signal.candidate.sdpMLineIndex: expected a small index');
      return { t: 'signal', candidate: { candidate: c.candidate, sdpMid, sdpMLineIndex } };
    }
    case 'bye':
      return { t: 'bye' };
    case 'error':
      return { t: 'error', message: typeof v.message === 'string' ? v.message.slice(0, 500) : 'unknown error' };
    default:
      throw new TypeError(`message: unknown type ${JSON.stringify(String(v.t).slice(0, 32))}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Pieces travel in the relay's binary frames: no base64 (a third more bytes), no JSON to parse at
// either end or at the hub. The relay heads the frame with an address; the payload is
//   [1 byte: kind, 1 = piece][4 bytes: the piece's index, big-endian][the piece's bytes]

/** Bytes of the relay's address header. */
const ADDRESS_BYTES = 20;
const KIND_PIECE = 1;
const PIECE_HEADER = 1 + 4;

/** The binary frame that carries piece `index` to peer `to`. */
export function encodePieceFrame(to: Hex, index: number, data: Uint8Array): Uint8Array<ArrayBuffer> {
  if (!ADDRESS.test(to)) throw new TypeError(`piece for ${to}: expected a lower-case address`);
  if (!Number.isInteger(index) || index < 0 || index > 0xffffffff) throw new RangeError(`piece index ${index}: expected 0 to 2^32-1`);
  const frame = new Uint8Array(ADDRESS_BYTES + PIECE_HEADER + data.length);
  frame.set(hexToBytes(to));
  frame[ADDRESS_BYTES] = KIND_PIECE;
  new DataView(frame.buffer).setUint32(ADDRESS_BYTES + 1, index);
  frame.set(data, ADDRESS_BYTES + PIECE_HEADER);
  return frame;
}

/** Reads a binary frame from the relay: who sent it, and the piece. Throws a TypeError saying what is wrong. */
export function decodeBinaryFrame(frame: ArrayBuffer): { from: Hex; message: Extract<DemoMessage, { t: 'piece' }> } {
  if (frame.byteLength < ADDRESS_BYTES + PIECE_HEADER) throw new TypeError(`binary frame: ${frame.byteLength} bytes, too short for a piece`);
  const bytes = new Uint8Array(frame);
  const from = bytesToHex(bytes, 0, ADDRESS_BYTES);
  if (bytes[ADDRESS_BYTES] !== KIND_PIECE) throw new TypeError(`binary frame from ${from}: unknown kind ${bytes[ADDRESS_BYTES]}`);
  const index = new DataView(frame).getUint32(ADDRESS_BYTES + 1);
  return { from, message: { t: 'piece', index, data: bytes.subarray(ADDRESS_BYTES + PIECE_HEADER) } };
}

// ---------------------------------------------------------------------------------------------
// The link

export interface DataLink {
  /** This page's peer id: the data key's address. */
  readonly peerId: Hex;
  send(to: string, message: DemoMessage): void;
  /** Messages from peers, parsed; a malformed one is reported to `onError` and dropped. */
  onMessage(handler: (from: Hex, message: DemoMessage) => void): void;
  onError(handler: (error: Error) => void): void;
  close(): void;
}

/**
 * Opens the link: connects to the relay and logs in with `key` (default: a new random one).
 * Rejects with an Error if the relay cannot be reached or refuses the login in `timeoutMs`.
 */
export function openDataLink(relayUrl: string, key: PrivateKey = PrivateKey.random(), timeoutMs = 10_000): Promise<DataLink> {
  const origin = relayOriginOf(relayUrl);
  const peerId = key.address.toLowerCase() as Hex;
  const handlers: ((from: Hex, message: DemoMessage) => void)[] = [];
  const errorHandlers: ((error: Error) => void)[] = [(e) => console.warn(`[demo link] ${e.message}`)];
  const reportError = (e: Error) => errorHandlers.forEach((h) => h(e));
  const ws = new WebSocket(relayUrl);
  ws.binaryType = 'arraybuffer';
  let closing = false;
  return new Promise<DataLink>((resolve, reject) => {
    const timer = setTimeout(() => {
      ws.close();
      reject(new Error(`the hub's relay at ${relayUrl} did not accept the demo's login within ${timeoutMs} ms`));
    }, timeoutMs);
    const link: DataLink = {
      peerId,
      send: (to, message) => {
        if (ws.readyState !== WebSocket.OPEN) throw new Error('the link to the hub’s relay is closed');
        if (message.t === 'piece') ws.send(encodePieceFrame(to as Hex, message.index, message.data));
        else ws.send(JSON.stringify({ type: 'send', to, message: JSON.stringify(message) }));
      },
      onMessage: (h) => void handlers.push(h),
      onError: (h) => void errorHandlers.push(h),
      close: () => {
        closing = true;
        ws.close();
      },
    };
    ws.onerror = () => {
      clearTimeout(timer);
      reject(new Error(`could not reach the hub's relay at ${relayUrl}`));
    };
    ws.onclose = (event) => {
      clearTimeout(timer);
      reject(new Error(`the hub's relay closed the link (${event.code} ${event.reason})`));
      // A close we asked for (the download is done) is not an error.
      if (!closing) reportError(new Error(`the link to the hub’s relay closed (${event.code}${event.reason ? ` ${event.reason}` : ''})`));
    };
    ws.onmessage = (event) => {
      if (event.data instanceof ArrayBuffer) {
        let piece: ReturnType<typeof decodeBinaryFrame>;
        try {
          piece = decodeBinaryFrame(event.data);
        } catch (e) {
          reportError(e as Error);
          return;
        }
        for (const h of handlers) h(piece.from, piece.message);
        return;
      }
      let frame: { type?: string; challenge?: string; from?: string; message?: string; code?: string };
      try {
        frame = JSON.parse(String(event.data)) as typeof frame;
      } catch {
        reportError(new Error('the relay sent something that is not JSON'));
        return;
      }
      if (frame.type === 'challenge') {
        const signature = signRelayLogin(key, origin, frame.challenge as Bytes32);
        ws.send(JSON.stringify({ type: 'login', address: peerId, signature }));
      } else if (frame.type === 'welcome') {
        clearTimeout(timer);
        resolve(link);
      } else if (frame.type === 'message') {
        let message: DemoMessage;
        try {
          message = parseMessage(frame.message ?? '');
        } catch (e) {
          reportError(new Error(`from ${frame.from}: ${(e as Error).message}`));
          return;
        }
        for (const h of handlers) h(frame.from as Hex, message);
      } else if (frame.type === 'error') {
        reportError(new Error(`relay: ${frame.code}: ${frame.message}`));
      }
    };
  });
}
