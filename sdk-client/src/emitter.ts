import { notifications, type NotificationName, type NotificationParams } from './schema.ts';
import type { NotificationListener } from './types.ts';

type AnyListener = (params: unknown) => void;

/** Typed listeners for the wallet's notifications. */
export class NotificationEmitter {
  readonly #listeners = new Map<NotificationName, Set<AnyListener>>();

  on<N extends NotificationName>(name: N, listener: NotificationListener<N>): () => void {
    if (!Object.hasOwn(notifications, name)) {
      throw new TypeError(`Unknown wallet event ${JSON.stringify(String(name))}; the events are ${Object.keys(notifications).join(', ')}`);
    }
    if (typeof listener !== 'function') throw new TypeError('The listener must be a function');
    let set = this.#listeners.get(name);
    if (!set) this.#listeners.set(name, (set = new Set()));
    set.add(listener as AnyListener);
    return () => this.off(name, listener);
  }

  off<N extends NotificationName>(name: N, listener: NotificationListener<N>): void {
    this.#listeners.get(name)?.delete(listener as AnyListener);
  }

  /** Calls each listener in the order added; one that throws is reported and does not stop the rest. */
  emit<N extends NotificationName>(name: N, params: NotificationParams<N>): void {
    const set = this.#listeners.get(name);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        listener(params);
      } catch (error) {
        console.error(`[channel-wallet] a ${name} listener threw`, error);
      }
    }
  }

  clear(): void {
    this.#listeners.clear();
  }
}
