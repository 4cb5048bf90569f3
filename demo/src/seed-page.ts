/** The seeder page: pick or generate a file, set a price and a buffer, seed. */
import { type Hex, type Manifest, makeManifest, sampleFile } from './exchange.ts';
import { $, WalletPanel, formatBytes, formatEth, log, pageUrl, relayUrl, short, sites, webSha256, onNextFrame } from './common.ts';
import { withDirectChannels } from './direct.ts';
import { openDataLink } from './link.ts';
import { Seeder } from './seeder.ts';

/** Re-renders once per frame however many changes arrive. */
const schedule = onNextFrame(() => render());

export const SAMPLE_SIZE = 10 * 1024 * 1024;

declare global {
  interface Window {
    seedDemo: {
      panel: WalletPanel;
      seeder: Seeder | null;
      file: { name: string; size: number; sha256: Hex } | null;
      /** The last payment_received total per channel, as the wallet reported it (decimal wei). */
      received: Record<string, string>;
    };
  }
}

let file: Uint8Array | null = null;
let manifest: Manifest | null = null;

const panel = new WalletPanel('receive', () => render());
window.seedDemo = { panel, seeder: null, file: null, received: {} };

async function useFile(name: string, bytes: Uint8Array): Promise<void> {
  if (window.seedDemo.seeder) throw new Error('already seeding: reload the page to offer another file');
  $('file-info').textContent = `hashing ${name}…`;
  const pieceSize = Number($<HTMLSelectElement>('piece-size').value);
  manifest = makeManifest(name, bytes, pieceSize);
  file = bytes;
  window.seedDemo.file = { name, size: bytes.length, sha256: await webSha256(bytes) };
  $('file-info').textContent = `${name} — ${formatBytes(bytes.length)} in ${manifest.pieceHashes.length} pieces of ${formatBytes(pieceSize)}; sha256 ${manifest.fileHash}`;
  render();
}

function priceHint(): void {
  try {
    const p = BigInt($<HTMLInputElement>('price').value.trim());
    $('price-hint').textContent = `= ${formatEth(p * 1024n * 1024n)} per MiB`;
  } catch {
    $('price-hint').textContent = 'a whole number of wei';
  }
}

async function start(): Promise<void> {
  if (!file || !manifest) throw new Error('pick a file, or use the sample file, first');
  const priceText = $<HTMLInputElement>('price').value.trim();
  if (!/^\d{1,30}$/.test(priceText)) throw new RangeError(`price "${priceText}" is not a whole number of wei per byte`);
  const pricePerByte = BigInt(priceText);
  if (manifest.pieceSize !== Number($<HTMLSelectElement>('piece-size').value)) await useFile(manifest.name, file);
  const buffer = Number($<HTMLInputElement>('buffer').value);
  if (!Number.isInteger(buffer) || buffer < 1 || buffer > 1024) throw new RangeError('the buffer must be 1 to 1024 pieces');
  const paid = pricePerByte > 0n;
  if (paid && (!panel.client || !panel.address || !panel.hub)) throw new Error('connect the wallet first (or set the price to 0 to share for free)');
  if (paid && panel.budget?.status !== 'running') throw new Error('approve a budget with the hub first: it lets the hub pay you through virtual channels');
  const link = withDirectChannels(await openDataLink(relayUrl));
  link.onError((e) => log(e.message, 'error'));
  if (panel.client) panel.client.on('payment_received', (p) => (window.seedDemo.received[p.channelId] = BigInt(p.total).toString()));
  window.seedDemo.seeder = new Seeder({
    link,
    wallet: paid ? panel.client : null,
    walletAddress: panel.address ?? ('0x0000000000000000000000000000000000000000' as Hex),
    hub: panel.hub ?? ('0x0000000000000000000000000000000000000000' as Hex),
    file,
    manifest,
    pricePerByte,
    buffer,
    onChange: () => schedule(),
    onError: (m) => log(m, 'error'),
  });
  $('peer-id').textContent = link.peerId;
  const share = $('share');
  share.textContent = 'Give a leecher your seeder id, or open the leecher page on another site: ';
  const others = sites.filter((s) => s !== location.origin);
  for (const site of others.length ? others : [location.origin]) {
    const a = document.createElement('a');
    a.href = pageUrl(site, '/leech.html', { seeders: link.peerId });
    a.target = '_blank';
    a.textContent = a.href.split('?')[0]!;
    share.append(a, ' ');
  }
  if (!others.length) share.append('(in a private window, so it gets a wallet of its own)');
  log(`seeding ${manifest.name} at ${pricePerByte} wei per byte, buffer ${buffer} pieces`);
  render();
}

function render(): void {
  const seeder = window.seedDemo.seeder;
  $<HTMLButtonElement>('seed-start').disabled = !file || seeder !== null;
  $<HTMLButtonElement>('sample').disabled = seeder !== null;
  if (!seeder) return;
  $('earned').textContent = formatEth(seeder.earned);
  const rows = seeder.leechers;
  $('sent').textContent = String(rows.reduce((n, r) => n + r.piecesSent, 0));
  $('leechers').replaceChildren(
    ...rows.map((r) => {
      const tr = document.createElement('tr');
      for (const text of [short(r.peer), short(r.wallet), short(r.channelId), r.status, String(r.piecesSent), formatEth(r.paid)]) {
        const td = document.createElement('td');
        td.textContent = text;
        tr.append(td);
      }
      return tr;
    }),
  );
}

const guard = (f: () => Promise<void>) => () =>
  void f().catch((e: Error) => {
    log(e.message, 'error');
    render();
  });

$('sample').addEventListener('click', guard(() => useFile('sample-10MiB.bin', sampleFile(SAMPLE_SIZE, 1))));
$('file-input').addEventListener(
  'change',
  guard(async () => {
    const f = $<HTMLInputElement>('file-input').files?.[0];
    if (f) await useFile(f.name, new Uint8Array(await f.arrayBuffer()));
  }),
);
$('price').addEventListener('input', priceHint);
$('seed-start').addEventListener('click', guard(start));
priceHint();
render();
