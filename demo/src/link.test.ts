import { describe, expect, it } from 'vitest';
import { type Hex, sampleFile } from './exchange.ts';
import { decodeBinaryFrame, encodePieceFrame, parseMessage } from './link.ts';

const PEER = '0x00112233445566778899aabbccddeeff00112233' as Hex;

/** What the hub's relay does to a binary frame: the recipient's address replaced by the sender's. */
function relayed(frame: Uint8Array, from: Hex): ArrayBuffer {
  const out = frame.slice();
  for (let i = 0; i < 20; i++) out[i] = parseInt(from.slice(2 + 2 * i, 4 + 2 * i), 16);
  return out.buffer;
}

describe('piece frames', () => {
  it('carry a piece byte for byte, headed by the peer it is for, and read back with the sender', () => {
    const data = sampleFile(256 * 1024, 7);
    const frame = encodePieceFrame(PEER, 70_000, data);
    expect(frame.length).toBe(20 + 5 + data.length);
    expect([...frame.subarray(0, 20)].map((b) => b.toString(16).padStart(2, '0')).join('')).toBe(PEER.slice(2));
    const sender = '0xffeeddccbbaa99887766554433221100ffeeddcc' as Hex;
    const { from, message } = decodeBinaryFrame(relayed(frame, sender));
    expect(from).toBe(sender);
    expect(message.t).toBe('piece');
    expect(message.index).toBe(70_000);
    expect(Buffer.compare(Buffer.from(message.data), Buffer.from(data))).toBe(0);
  });

  it('refuse what is not a piece frame, saying why', () => {
    expect(() => decodeBinaryFrame(new ArrayBuffer(24))).toThrow(/24 bytes, too short for a piece/);
    const frame = encodePieceFrame(PEER, 1, new Uint8Array(3));
    frame[20] = 9;
    expect(() => decodeBinaryFrame(frame.buffer)).toThrow(/unknown kind 9/);
    expect(() => encodePieceFrame('0xABC' as Hex, 1, new Uint8Array())).toThrow(/expected a lower-case address/);
    expect(() => encodePieceFrame(PEER, -1, new Uint8Array())).toThrow(RangeError);
  });
});

describe('text messages', () => {
  it('refuse a piece sent as text, and name the field that is wrong', () => {
    expect(() => parseMessage(JSON.stringify({ t: 'piece', index: 0, data: 'AAAA' }))).toThrow(/pieces travel in binary frames/);
    expect(() => parseMessage('{')).toThrow(/not JSON/);
    expect(() => parseMessage(JSON.stringify({ t: 'request', pieces: [1, -1] }))).toThrow(/request\.pieces/);
    expect(() => parseMessage(JSON.stringify({ t: 'open', channelId: '0x12' }))).toThrow(/open\.channelId/);
    expect(parseMessage(JSON.stringify({ t: 'request', pieces: [0, 1] }))).toEqual({ t: 'request', pieces: [0, 1] });
  });
});
