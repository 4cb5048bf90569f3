import { describe, expect, it } from 'vitest';
import { Download } from './download.ts';
import { type Hex, makeManifest, sampleFile } from './exchange.ts';
import { Seeder } from './seeder.ts';
import { Net, peer } from './testing.ts';

const HUB = peer(0xbeef);

function freeSeeders(net: Net, ids: Hex[], file: Uint8Array) {
  const manifest = makeManifest('f.bin', file, 1024);
  for (const id of ids) new Seeder({ link: net.link(id), wallet: null, walletAddress: peer(0), hub: HUB, file, manifest, pricePerByte: 0n, buffer: 2 });
  return manifest;
}

describe('a download whose seeder goes silent', () => {
  it('takes the silent seeder for gone after the stall timeout and finishes from the others', async () => {
    const net = new Net();
    const file = sampleFile(40 * 1024, 3);
    const [a, b] = [peer(1), peer(2)];
    const manifest = freeSeeders(net, [a, b], file);
    net.muteAfter.set(a, 3); // a's page closes after three pieces
    const errors: string[] = [];
    const d = new Download({ link: net.link(peer(9)), wallet: null, hub: HUB, seeders: [a, b], buffer: 2, stallTimeoutMs: 200, onError: (m) => errors.push(m) });
    const result = await d.run();
    expect(Buffer.compare(Buffer.from(result.file), Buffer.from(file))).toBe(0);
    expect(result.manifest.fileHash).toBe(manifest.fileHash);
    expect([...d.gone]).toEqual([a]);
    expect(d.views.get(a)!.status).toBe('gone: nothing for 0.2 s');
    expect(d.views.get(a)!.pieces).toBe(3);
    expect(d.views.get(b)!.pieces).toBe(37);
    expect(errors.some((e) => e.includes(`seeder ${a} sent nothing`) && e.includes('taken for gone'))).toBe(true);
  });

  it('fails with a clear error when every seeder goes silent', async () => {
    const net = new Net();
    const [a, b] = [peer(1), peer(2)];
    freeSeeders(net, [a, b], sampleFile(40 * 1024, 3));
    net.muteAfter.set(a, 1);
    net.muteAfter.set(b, 1);
    const d = new Download({ link: net.link(peer(9)), wallet: null, hub: HUB, seeders: [a, b], buffer: 2, stallTimeoutMs: 200 });
    await expect(d.run()).rejects.toThrow(/every seeder failed or stopped sending/);
    expect(d.gone.size).toBe(2);
  });
});
