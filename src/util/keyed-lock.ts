/**
 * Runs functions one at a time per key, in call order, and different keys side by side: e.g. each owner's blob
 * store (uploads) or each repo's fetches from its upstream (forges). A function that fails does not stop the
 * ones queued after it. Keys with nothing queued hold no memory.
 */
export class KeyedLock {
  private tails = new Map<string, Promise<void>>();

  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const settled = next.then(
      () => {},
      () => {},
    );
    this.tails.set(key, settled);
    void settled.then(() => {
      if (this.tails.get(key) === settled) this.tails.delete(key);
    });
    return next;
  }
}
