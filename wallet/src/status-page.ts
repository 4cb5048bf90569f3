// The wallet's page when opened directly (not embedded): the version and the chain it is configured for.
// Plain DOM only: data is always written with textContent, never parsed as HTML.
import { JsonRpcProvider } from 'ethers';
import chainConfig from 'virtual:chain-config';
import { version } from '../../package.json';

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: { text?: string; testId?: string; className?: string } = {},
  ...children: Node[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (props.text !== undefined) node.textContent = props.text;
  if (props.testId !== undefined) node.dataset['testid'] = props.testId;
  if (props.className !== undefined) node.className = props.className;
  node.append(...children);
  return node;
}

function row(list: HTMLDListElement, label: string, value: string, testId: string): HTMLElement {
  const dd = el('dd', { text: value, testId });
  list.append(el('dt', { text: label }), dd);
  return dd;
}

/** Reads the chain id live from the RPC node. */
async function liveChainId(rpcUrl: string): Promise<bigint> {
  const provider = new JsonRpcProvider(rpcUrl, undefined, { staticNetwork: true });
  try {
    // getNetwork() asks the node for eth_chainId and rejects if it cannot be reached.
    return (await provider.getNetwork()).chainId;
  } finally {
    provider.destroy();
  }
}

export function renderStatusPage(root: HTMLElement): void {
  const header = el(
    'header',
    {},
    el('h1', { text: 'Channel Wallet' }),
    el('p', { className: 'muted' }, document.createTextNode('Version '), el('span', { text: version, testId: 'wallet-version' })),
  );
  const chainSection = el('section', {}, el('h2', { text: 'Chain' }));
  root.replaceChildren(header, chainSection);

  const config = chainConfig;
  if (config === null) {
    chainSection.append(el('p', { text: 'no chain configured', testId: 'chain-status', className: 'muted' }));
    return;
  }

  const list = el('dl');
  chainSection.append(list);
  row(list, 'RPC URL', config.rpcUrl, 'rpc-url');
  const chainIdCell = row(list, 'Chain id', 'connecting…', 'chain-id');
  row(list, 'NitroAdjudicator', config.adjudicator, 'adjudicator-address');
  row(list, 'ConsensusApp', config.consensusApp, 'consensus-app-address');
  row(list, 'VirtualPaymentApp', config.virtualPaymentApp, 'virtual-payment-app-address');
  row(list, 'Test token (CWT)', config.token, 'token-address');
  const status = el('p', { testId: 'chain-status', className: 'muted' });
  chainSection.append(status);

  const expected = config.chainId;
  liveChainId(config.rpcUrl).then(
    (chainId) => {
      chainIdCell.textContent = chainId.toString();
      if (chainId === BigInt(expected)) {
        status.textContent = 'connected';
      } else {
        status.textContent = `chain id mismatch: configured ${expected}, node reports ${chainId}`;
        status.className = 'error';
      }
    },
    (err: unknown) => {
      chainIdCell.textContent = 'unreachable';
      status.textContent = `cannot reach ${config.rpcUrl}: ${err instanceof Error ? err.message : String(err)}`;
      status.className = 'error';
    },
  );
}
