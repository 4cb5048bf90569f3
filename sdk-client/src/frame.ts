import type { WalletConnection } from './client.ts';
import { disconnectedError } from './errors.ts';
import type { RpcRequest } from './schema.ts';

/** The attribute marking the sdk's elements: `overlay` on the backdrop, `frame` on the iframe. */
export const FRAME_ATTRIBUTE = 'data-channel-wallet';
export const FRAME_TITLE = 'Channel Wallet';

/** The globals the frame needs; passed in so tests can give fakes. */
export interface FrameEnvironment {
  document: Document;
  window: Window;
}

export interface MountOptions {
  /** The iframe src: the wallet URL with `?origin=` (see url.ts). */
  frameSrc: string;
  walletOrigin: string;
  /** The overlay's parent; `document.body` when omitted. */
  container?: HTMLElement | undefined;
  /** Called with `event.data` of each message from the wallet frame's window and origin. */
  onMessage: (data: unknown) => void;
}

/** A message is the wallet's only if it comes from the frame's own window and the wallet's origin. */
export function isFromWallet(event: Pick<MessageEvent, 'source' | 'origin'>, frameWindow: Window | null, walletOrigin: string): boolean {
  return frameWindow !== null && event.source === frameWindow && event.origin === walletOrigin;
}

const OVERLAY_STYLE = {
  position: 'fixed',
  top: '0',
  right: '0',
  bottom: '0',
  left: '0',
  zIndex: '2147483647',
  display: 'none',
  alignItems: 'center',
  justifyContent: 'center',
  background: 'rgba(0, 0, 0, 0.45)',
} satisfies Partial<CSSStyleDeclaration>;

const FRAME_STYLE = {
  width: '400px',
  height: '560px',
  maxWidth: 'calc(100vw - 32px)',
  maxHeight: 'calc(100vh - 32px)',
  border: '0',
  borderRadius: '12px',
  background: '#fff',
  boxShadow: '0 12px 40px rgba(0, 0, 0, 0.35)',
} satisfies Partial<CSSStyleDeclaration>;

/**
 * Mounts the wallet: a hidden full-page overlay holding the iframe, and a `message` listener
 * that passes on only the wallet's messages. The overlay is shown as a centred dialog when the
 * wallet asks (`wallet_uiRequest`) and hidden with `display: none` otherwise; the iframe keeps
 * running either way.
 */
export function mountWalletFrame(options: MountOptions, env: FrameEnvironment = { document: globalThis.document, window: globalThis.window }): WalletConnection {
  const { document: doc, window: win } = env;
  const parent = options.container ?? doc?.body;
  if (!parent) {
    throw new TypeError('There is no document.body to mount the wallet in yet; call this after the page has loaded, or pass a container');
  }

  const overlay = doc.createElement('div');
  overlay.setAttribute(FRAME_ATTRIBUTE, 'overlay');
  overlay.setAttribute('data-visible', 'false');
  Object.assign(overlay.style, OVERLAY_STYLE);

  const iframe = doc.createElement('iframe');
  iframe.setAttribute(FRAME_ATTRIBUTE, 'frame');
  iframe.title = FRAME_TITLE;
  Object.assign(iframe.style, FRAME_STYLE);
  overlay.appendChild(iframe);

  const listener = (event: MessageEvent) => {
    if (isFromWallet(event, iframe.contentWindow, options.walletOrigin)) options.onMessage(event.data);
  };
  // Listen before the frame loads, so its wallet_ready cannot be missed.
  win.addEventListener('message', listener);

  iframe.src = options.frameSrc;
  parent.appendChild(overlay);

  let closed = false;
  return {
    post(message: RpcRequest) {
      const target = closed ? null : iframe.contentWindow;
      if (!target) throw disconnectedError(`${message.method}: the wallet frame is gone`);
      target.postMessage(message, options.walletOrigin);
    },
    setVisible(visible: boolean) {
      if (closed) return;
      overlay.style.display = visible ? 'flex' : 'none';
      overlay.setAttribute('data-visible', String(visible));
      if (visible) {
        overlay.setAttribute('role', 'dialog');
        overlay.setAttribute('aria-modal', 'true');
        overlay.setAttribute('aria-label', FRAME_TITLE);
        iframe.focus();
      } else {
        overlay.removeAttribute('role');
        overlay.removeAttribute('aria-modal');
        overlay.removeAttribute('aria-label');
      }
    },
    close() {
      if (closed) return;
      closed = true;
      win.removeEventListener('message', listener);
      overlay.remove();
    },
  };
}
