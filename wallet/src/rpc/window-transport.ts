import type { RpcNotification, RpcResponse } from '../../../sdk-client/src/schema.ts';

/**
 * The postMessage boundary. The embedding page names its origin in the iframe URL
 * (`?origin=`); the wallet posts only to that origin, so if the claim is false the browser drops
 * every message, and accepts messages only from its parent window with that exact origin.
 * Messages from any other window or origin are ignored without a reply.
 */

/** The connected origin from the iframe URL, if it is a plain http(s) origin. */
export function peerOriginFromLocation(search: string): string | null {
  const claimed = new URLSearchParams(search).get('origin');
  if (!claimed) return null;
  try {
    const url = new URL(claimed);
    if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.origin !== claimed) return null;
    return url.origin;
  } catch {
    return null;
  }
}

export function parentTransport(peerOrigin: string): {
  post: (message: RpcResponse | RpcNotification) => void;
  listen: (onMessage: (data: unknown) => void) => () => void;
} {
  const parent = window.parent;
  return {
    post: (message) => parent.postMessage(message, peerOrigin),
    listen: (onMessage) => {
      const listener = (event: MessageEvent) => {
        if (event.source !== parent || event.origin !== peerOrigin) return;
        onMessage(event.data);
      };
      window.addEventListener('message', listener);
      return () => window.removeEventListener('message', listener);
    },
  };
}
