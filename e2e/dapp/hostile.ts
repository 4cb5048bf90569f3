/**
 * A hostile frame: it finds the wallet iframe beside it and posts forged JSON-RPC to it, and
 * forged wallet notifications to the dapp. The test checks that neither side acts on them.
 */
declare global {
  interface Window {
    forge: (walletOrigin: string) => number;
  }
}

window.forge = (walletOrigin: string) => {
  let sent = 0;
  const top = window.parent;
  for (let i = 0; i < top.frames.length; i++) {
    const frame = top.frames[i]!;
    if (frame === window) continue;
    for (const method of ['eth_requestAccounts', 'wallet_revokePermissions', 'wallet_getInfo']) {
      const params = method === 'wallet_revokePermissions' ? [{ eth_accounts: {} }] : [];
      // Targeted at the wallet's origin (so the browser delivers it), and at '*' too.
      frame.postMessage({ jsonrpc: '2.0', id: `forged-${sent}`, method, params }, walletOrigin);
      frame.postMessage({ jsonrpc: '2.0', id: `forged-star-${sent}`, method, params }, '*');
      sent += 2;
    }
  }
  // Pretend to be the wallet towards the dapp.
  top.postMessage({ jsonrpc: '2.0', method: 'wallet_uiRequest', params: { visible: true } }, '*');
  top.postMessage({ jsonrpc: '2.0', method: 'wallet_accountsChanged', params: ['0x' + '66'.repeat(20)] }, '*');
  return sent;
};
export {};
