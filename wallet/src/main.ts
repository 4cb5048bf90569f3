/**
 * Entry point of the wallet page (the root index.html). Embedded by a dapp through the sdk, it
 * runs the wallet for the one origin named in its URL. Opened directly, it shows a status page.
 */
import { peerOriginFromLocation } from './rpc/window-transport.ts';

const root = document.getElementById('app');
if (!root) throw new Error('index.html has no #app element');

if (window.parent === window) {
  const { renderStatusPage } = await import('./status-page.ts');
  renderStatusPage(root);
} else {
  const peerOrigin = peerOriginFromLocation(location.search);
  if (!peerOrigin) {
    root.textContent = 'This wallet must be opened by the Channel Wallet sdk, which names the embedding site.';
  } else {
    root.replaceChildren();
    const { startWallet } = await import('./app.ts');
    await startWallet(peerOrigin, root);
  }
}
