/**
 * TEST ONLY: collects what a callback receives and lets a test await the first item matching a
 * predicate, with a bounded wait (no sleeps: it resolves the moment the item arrives).
 */
export class Collector<T> {
  readonly items: T[] = [];
  #waiters: { match: (item: T) => boolean; resolve: (item: T) => void }[] = [];

  /** Pass this as the callback. */
  readonly push = (item: T): void => {
    this.items.push(item);
    for (const w of [...this.#waiters]) {
      if (w.match(item)) {
        this.#waiters.splice(this.#waiters.indexOf(w), 1);
        w.resolve(item);
      }
    }
  };

  waitFor(match: (item: T) => boolean, what: string, timeoutMs = 15_000): Promise<T> {
    const found = this.items.find(match);
    if (found !== undefined) return Promise.resolve(found);
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const waiter = {
        match,
        resolve: (item: T) => {
          clearTimeout(timer);
          resolve(item);
        },
      };
      this.#waiters.push(waiter);
    });
  }
}
