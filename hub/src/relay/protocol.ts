/**
 * The relay's wire protocol: JSON text frames, one object each, told apart by `type`.
 *
 *   server → client  { type: 'challenge', challenge }                 on connect
 *   client → server  { type: 'login', address, signature: {v, r, s} }
 *   server → client  { type: 'welcome', address }                     then any queued messages
 *   client → server  { type: 'send', to, message, id? }
 *   server → client  { type: 'sent', id, delivered, queued }          when the send had an id
 *   server → client  { type: 'message', from, message }
 *   server → client  { type: 'error', code, message, id? }
 *
 * And binary frames, for bulk data between two connected clients (a dapp's own traffic, such as
 * the demo's file pieces, which would cost a third more as base64 and a JSON parse at each end):
 *
 *   client → server  [20 bytes: the address it is for][payload]
 *   server → client  [20 bytes: the address it is from][payload]
 *
 * A binary frame is delivered only to connections logged in as its address at that moment: it is
 * never queued, and when none is connected the sender gets a `not-connected` error. The wallet
 * never sends binary frames and ignores any it receives.
 *
 * This module only parses and checks frames; it does no I/O.
 */
import type { Signature } from '../../../core/src/index.ts';

/** The largest `message` a `send` may carry, in UTF-16 code units: the wallet schema's limit for `channel_outboundMessage`. */
export const MAX_MESSAGE_CHARS = 1 << 20;

/**
 * The largest frame the server reads, in bytes. JSON can spend up to 6 bytes on one code unit
 * (`\u001f`), so this is what a `send` of any schema-valid message can take, with room for the
 * envelope. A larger frame is refused by `ws` itself, which closes the socket with 1009.
 */
export const MAX_FRAME_BYTES = 6 * MAX_MESSAGE_CHARS + 64 * 1024;

/** The longest `id` a `send` may carry. */
export const MAX_ID_CHARS = 128;

export type ErrorCode = 'bad-request' | 'not-logged-in' | 'not-connected' | 'too-large' | 'login-failed' | 'rate-limited';

/** Bytes of the address that heads a binary frame. */
export const ADDRESS_BYTES = 20;

/** WebSocket close codes the relay uses (4000–4999 is the private range). */
export const CloseCode = {
  /** The relay is shutting down. */
  goingAway: 1001,
  /** A frame larger than MAX_FRAME_BYTES (sent by `ws`). */
  messageTooBig: 1009,
  /** The login signature did not recover to the claimed address. */
  loginFailed: 4001,
  /** No login within the login timeout. */
  loginTimeout: 4002,
  /** The connection stopped answering pings. */
  unresponsive: 4003,
  /** The peer read too slowly: too much was waiting to be written to it. */
  slowConsumer: 4004,
  /** Closed by the relay's operator (`Relay.disconnect`). */
  disconnected: 4005,
} as const;

export type ServerFrame =
  | { type: 'challenge'; challenge: string }
  | { type: 'welcome'; address: string }
  | { type: 'sent'; id: string; delivered: number; queued: boolean }
  | { type: 'message'; from: string; message: string }
  | { type: 'error'; code: ErrorCode; message: string; id?: string };

export type ClientFrame =
  | { type: 'login'; address: string; signature: Signature }
  | { type: 'send'; to: string; message: string; id: string | undefined };

/** A frame the server refuses: the error to answer with, and the send's id when one could be read. */
export class FrameError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly id?: string,
  ) {
    super(message);
  }
}

const ADDRESS = /^0x[0-9a-fA-F]{40}$/;
const BYTES32 = /^0x[0-9a-fA-F]{64}$/;

/** A strict address check: `0x` and 40 hex digits, returned lower-case. */
export function parseAddress(value: unknown, field: string): string {
  if (typeof value !== 'string' || !ADDRESS.test(value)) {
    throw new FrameError('bad-request', `${field}: expected an address (0x followed by 40 hex digits)`);
  }
  return value.toLowerCase();
}

function parseSignature(value: unknown, field: string): Signature {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new FrameError('bad-request', `${field}: expected an object {v, r, s}`);
  }
  const { v, r, s } = value as Record<string, unknown>;
  if (v !== 27 && v !== 28) throw new FrameError('bad-request', `${field}.v: expected 27 or 28`);
  if (typeof r !== 'string' || !BYTES32.test(r)) throw new FrameError('bad-request', `${field}.r: expected 32 bytes of 0x hex`);
  if (typeof s !== 'string' || !BYTES32.test(s)) throw new FrameError('bad-request', `${field}.s: expected 32 bytes of 0x hex`);
  return { v, r: r.toLowerCase() as Signature['r'], s: s.toLowerCase() as Signature['s'] };
}

/**
 * Parses one text frame from a client. Throws a FrameError naming the problem; never echoes the
 * message contents.
 */
export function parseClientFrame(text: string): ClientFrame {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new FrameError('bad-request', 'invalid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new FrameError('bad-request', 'expected a JSON object with a "type"');
  }
  const frame = value as Record<string, unknown>;
  switch (frame.type) {
    case 'login':
      return { type: 'login', address: parseAddress(frame.address, 'login.address'), signature: parseSignature(frame.signature, 'login.signature') };
    case 'send': {
      let id: string | undefined;
      if (frame.id !== undefined) {
        if (typeof frame.id !== 'string' || frame.id.length === 0 || frame.id.length > MAX_ID_CHARS) {
          throw new FrameError('bad-request', `send.id: expected a string of 1 to ${MAX_ID_CHARS} characters`);
        }
        id = frame.id;
      }
      let to: string;
      try {
        to = parseAddress(frame.to, 'send.to');
      } catch (error) {
        throw new FrameError('bad-request', (error as Error).message, id);
      }
      if (typeof frame.message !== 'string') throw new FrameError('bad-request', 'send.message: expected a string', id);
      if (frame.message.length > MAX_MESSAGE_CHARS) {
        throw new FrameError('too-large', `send.message: ${frame.message.length} characters; the limit is ${MAX_MESSAGE_CHARS}`, id);
      }
      return { type: 'send', to, message: frame.message, id };
    }
    default: {
      const type = typeof frame.type === 'string' ? JSON.stringify(frame.type.slice(0, 32)) : 'missing';
      throw new FrameError('bad-request', `unknown frame type ${type}; expected "login" or "send"`);
    }
  }
}

/**
 * Splits a binary frame into the address at its head (the recipient's in a frame from a client,
 * the sender's in one from the relay) and its payload. Throws a FrameError when the frame is too
 * short to hold an address.
 */
export function parseBinaryFrame(data: Buffer): { address: string; payload: Buffer } {
  if (data.length < ADDRESS_BYTES) throw new FrameError('bad-request', `binary frame: ${data.length} bytes; it must start with the ${ADDRESS_BYTES}-byte address it is for`);
  return { address: `0x${data.subarray(0, ADDRESS_BYTES).toString('hex')}`, payload: data.subarray(ADDRESS_BYTES) };
}

/** A binary frame: `address`'s 20 bytes, then `payload`. */
export function binaryFrame(address: string, payload: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from(address.slice(2), 'hex'), payload]);
}
