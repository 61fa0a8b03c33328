/**
 * Runs `fn` over `items` with at most `limit` calls in flight and resolves with the results in order. The first
 * rejection stops new calls, and is thrown once the calls already started have ended (so nothing runs on after
 * the caller has moved on, e.g. a file still being hashed or uploaded). A few at a time keep a keep-alive
 * agent's connections (or a disk) busy without flooding the other side. No imports: the client bundle has it.
 */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (!failed && next < items.length) {
      const i = next++;
      try {
        out[i] = await fn(items[i]!, i);
      } catch (e) {
        failed = true;
        throw e;
      }
    }
  };
  const settled = await Promise.allSettled(Array.from({ length: Math.min(limit, items.length) }, worker));
  const failure = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failure) throw failure.reason;
  return out;
}
