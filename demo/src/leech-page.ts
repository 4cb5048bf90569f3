/** The leecher page: name seeders, download, watch the pieces and the payments go. */
import type { Hex } from './exchange.ts';
import { $, WalletPanel, formatBytes, formatEth, log, relayUrl, short, webSha256, onNextFrame } from './common.ts';
import { Download, type DownloadResult } from './download.ts';
import { withDirectChannels } from './direct.ts';
import { openDataLink } from './link.ts';

/**
 * `?direct=1` asks each seeder for a direct WebRTC data channel (signalled through the hub) and
 * sends pieces over it when it opens. Off by default: on one loaded machine it is several times
 * slower than the relay (see demo/README.md).
 */
const useDirect = new URLSearchParams(location.search).get('direct') === '1';

/** Re-renders once per frame however many changes arrive. */
const schedule = onNextFrame(() => render());

declare global {
  interface Window {
    leechDemo: {
      panel: WalletPanel;
      download: Download | null;
      /** Once finished: what was downloaded and paid (wei as decimal strings). */
      result: { name: string; size: number; sha256: Hex; pricePerByte: string; paid: Record<string, string>; channels: Record<string, Hex>; ms: number; vouchers: number; direct: number } | null;
      error: string | null;
    };
  }
}

const panel = new WalletPanel('send', () => render());
window.leechDemo = { panel, download: null, result: null, error: null };
const ADDRESS = /^0x[0-9a-fA-F]{40}$/;

const fromQuery = new URLSearchParams(location.search).get('seeders');
if (fromQuery) $<HTMLTextAreaElement>('seeders').value = fromQuery.split(',').join('\n');

function parseSeeders(): Hex[] {
  const ids = $<HTMLTextAreaElement>('seeders')
    .value.split(/[\s,]+/)
    .filter(Boolean);
  if (ids.length === 0) throw new Error('name at least one seeder id (shown on the seeder’s page)');
  for (const id of ids) if (!ADDRESS.test(id)) throw new Error(`"${id}" is not a seeder id: expected 0x followed by 40 hex digits`);
  return [...new Set(ids.map((id) => id.toLowerCase() as Hex))];
}

async function download(): Promise<void> {
  window.leechDemo.result = null;
  window.leechDemo.error = null;
  const seeders = parseSeeders();
  const buffer = Number($<HTMLInputElement>('buffer').value);
  if (!Number.isInteger(buffer) || buffer < 1 || buffer > 1024) throw new RangeError('pay ahead by 1 to 1024 pieces');
  const relay = await openDataLink(relayUrl);
  const direct = useDirect ? withDirectChannels(relay) : undefined;
  const link = direct ?? relay;
  link.onError((e) => log(e.message, 'error'));
  const d = new Download({ link, wallet: panel.client, hub: panel.hub ?? ('0x0000000000000000000000000000000000000000' as Hex), seeders, buffer, onChange: schedule, onError: (m) => log(m, 'error') });
  window.leechDemo.download = d;
  window.leechDemo.result = null;
  window.leechDemo.error = null;
  render();
  log(`asking ${seeders.length} seeder(s) for their offer…`);
  let r: DownloadResult;
  try {
    r = await d.run();
  } finally {
    link.close();
  }
  const sha256 = await webSha256(r.file);
  window.leechDemo.result = {
    name: r.manifest.name,
    size: r.file.length,
    sha256,
    pricePerByte: r.pricePerByte.toString(),
    paid: Object.fromEntries(Object.entries(r.paid).map(([k, v]) => [k, v.toString()])),
    channels: r.channels,
    ms: r.ms,
    vouchers: d.vouchers,
    direct: direct?.received.direct ?? 0,
  };
  const save = $<HTMLAnchorElement>('save');
  save.href = URL.createObjectURL(new Blob([r.file as Uint8Array<ArrayBuffer>]));
  save.download = r.manifest.name;
  save.hidden = false;
  $('result').innerHTML = '';
  $('result').append(Object.assign(document.createElement('span'), { className: 'ok', textContent: '✓ ' }), `${r.manifest.name}: ${formatBytes(r.file.length)}, sha256 ${sha256} matches the seeders' manifest; channels closed.`);
  log(`done in ${(r.ms / 1000).toFixed(2)} s; paid ${formatEth(d.totalPaid)}, channels closed`);
  render();
}

function render(): void {
  const d = window.leechDemo.download;
  $<HTMLButtonElement>('download').disabled = d !== null && window.leechDemo.result === null && window.leechDemo.error === null;
  if (!d) return;
  const m = d.manifest;
  const got = d.bytesReceived;
  $('progress').style.width = m ? `${(100 * got) / m.size}%` : '0';
  $('received').textContent = m ? `${formatBytes(got)} of ${formatBytes(m.size)}` : '—';
  const end = d.finishedAt || performance.now();
  $('throughput').textContent = d.startedAt && got ? `${(got / 1024 / 1024 / ((end - d.startedAt) / 1000)).toFixed(1)} MiB/s` : '—';
  $('paid').textContent = formatEth(d.totalPaid);
  $('price').textContent = m ? formatEth(BigInt(m.size) * d.pricePerByte) : '—';
  $('peers').replaceChildren(
    ...[...d.views.values()].map((v) => {
      const tr = document.createElement('tr');
      for (const text of [short(v.peer), v.path, short(v.wallet), short(v.channelId), v.status, String(v.pieces), formatEth(v.paid), formatEth(v.ahead)]) {
        const td = document.createElement('td');
        td.textContent = text;
        tr.append(td);
      }
      return tr;
    }),
  );
}

$('download').addEventListener('click', () => {
  void download().catch((e: Error) => {
    window.leechDemo.error = e.message;
    log(e.message, 'error');
    render();
  });
});
