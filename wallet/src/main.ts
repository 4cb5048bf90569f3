/**
 * Entry point of the wallet page (the root index.html). Embedded by a dapp through the sdk, it
 * runs the wallet for the one origin named in its URL. Opened directly, it shows a status page.
 * The wallet is imported statically so the browser fetches it in one wave with this module;
 * only the status page (which pulls in ethers) loads on demand.
 */
import { startWallet } from './app.ts';
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
    await startWallet(peerOrigin, root);
  }
}
