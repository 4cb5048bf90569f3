import { describe, expect, it } from 'vitest';
import { CHUNK_BYTES, Reassembly, encodeChunks, withDirectChannels } from './direct.ts';
import { type Hex, sampleFile } from './exchange.ts';
import { type DataLink, type DemoMessage, parseMessage } from './link.ts';

const buf = (u: Uint8Array) => u.buffer.slice(u.byteOffset, u.byteOffset + u.byteLength) as ArrayBuffer;

describe('piece chunks on a direct channel', () => {
  it('carry a piece in chunks of at most 64 KiB and reassemble it byte for byte, pieces interleaved', () => {
    const a = sampleFile(256 * 1024 + 5, 1);
    const b = sampleFile(1000, 2);
    const chunksA = encodeChunks(7, a);
    expect(chunksA).toHaveLength(5);
    expect(Math.max(...chunksA.map((c) => c.length))).toBe(13 + CHUNK_BYTES);
    const r = new Reassembly();
    const out: { index: number; data: Uint8Array }[] = [];
    const [first, ...rest] = chunksA;
    for (const c of [first!, ...encodeChunks(9, b), ...rest, ...encodeChunks(3, new Uint8Array())]) {
      const piece = r.push(buf(c));
      if (piece) out.push(piece);
    }
    expect(out.map((p) => p.index)).toEqual([9, 7, 3]);
    expect(Buffer.compare(Buffer.from(out[1]!.data), Buffer.from(a))).toBe(0);
    expect(Buffer.compare(Buffer.from(out[0]!.data), Buffer.from(b))).toBe(0);
    expect(out[2]!.data.length).toBe(0);
  });

  it('refuses chunks that do not fit, saying why', () => {
    const chunks = encodeChunks(1, sampleFile(3 * CHUNK_BYTES, 3));
    expect(() => new Reassembly().push(buf(chunks[1]!))).toThrow(/piece 1 starts at 65536, not 0/);
    const r = new Reassembly();
    r.push(buf(chunks[0]!));
    expect(() => r.push(buf(chunks[2]!))).toThrow(/does not follow what came before/);
    expect(() => new Reassembly().push(new ArrayBuffer(5))).toThrow(/too short/);
    const big = encodeChunks(1, new Uint8Array(10));
    new DataView(big[0]!.buffer).setUint32(9, 600 * 1024);
    expect(() => new Reassembly().push(buf(big[0]!))).toThrow(/over 524288/);
    // A peer cannot make us hold more than four pieces under way.
    const many = new Reassembly();
    for (let i = 0; i < 4; i++) many.push(buf(encodeChunks(i, sampleFile(2 * CHUNK_BYTES, i + 1))[0]!));
    expect(() => many.push(buf(encodeChunks(4, sampleFile(2 * CHUNK_BYTES, 9))[0]!))).toThrow(/more than 4 pieces under way/);
    const odd = encodeChunks(1, new Uint8Array(10));
    odd[0]![0] = 9;
    expect(() => new Reassembly().push(buf(odd[0]!))).toThrow(/unknown kind 9/);
  });
});

describe('signal messages', () => {
  it('take an offer, an answer or a candidate, and refuse anything else by name', () => {
    expect(parseMessage(JSON.stringify({ t: 'signal', description: { type: 'offer', sdp: 'v=0' } }))).toEqual({ t: 'signal', description: { type: 'offer', sdp: 'v=0' } });
    expect(parseMessage(JSON.stringify({ t: 'signal', candidate: { candidate: 'candidate:1 1 udp 1 x.local 1 typ host', sdpMid: '0', sdpMLineIndex: 0 } }))).toMatchObject({ candidate: { sdpMid: '0', sdpMLineIndex: 0 } });
    expect(() => parseMessage(JSON.stringify({ t: 'signal' }))).toThrow(/expected a description or a candidate/);
    expect(() => parseMessage(JSON.stringify({ t: 'signal', description: { type: 'pranswer', sdp: '' } }))).toThrow(/signal.description.type/);
    expect(() => parseMessage(JSON.stringify({ t: 'signal', description: { type: 'offer', sdp: 'x'.repeat(65 * 1024) } }))).toThrow(/signal.description.sdp/);
    expect(() => parseMessage(JSON.stringify({ t: 'signal', candidate: { candidate: 7 } }))).toThrow(/signal.candidate.candidate/);
    expect(() => parseMessage(JSON.stringify({ t: 'signal', candidate: { candidate: 'c', sdpMLineIndex: -1 } }))).toThrow(/sdpMLineIndex/);
  });
});

describe('withDirectChannels without WebRTC (as in Node)', () => {
  it('leaves everything on the relay and counts the pieces that came that way', async () => {
    const sent: [string, DemoMessage][] = [];
    let deliver: (from: Hex, m: DemoMessage) => void = () => {};
    const relay: DataLink = { peerId: '0x01' as Hex, send: (to, m) => void sent.push([to, m]), onMessage: (h) => void (deliver = h), onError: () => {}, close: () => {} };
    const link = withDirectChannels(relay, undefined);
    const got: DemoMessage[] = [];
    link.onMessage((_, m) => got.push(m));
    expect(await link.connectDirect('0x02' as Hex)).toBe(false);
    link.send('0x02', { t: 'piece', index: 1, data: new Uint8Array([1]) });
    expect(sent.map(([, m]) => m.t)).toEqual(['piece']);
    deliver('0x02' as Hex, { t: 'piece', index: 4, data: new Uint8Array([4]) });
    deliver('0x02' as Hex, { t: 'bye' });
    expect(got.map((m) => m.t)).toEqual(['piece', 'bye']);
    expect(link.received).toEqual({ direct: 0, relay: 1 });
    expect(link.isDirect('0x02' as Hex)).toBe(false);
  });
});
