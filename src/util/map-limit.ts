/**
 * Runs `fn` over `items` with at most `limit` calls in flight and resolves with the results in order; the
 * first rejection rejects the whole (calls already started still run to their end). For registry requests:
 * a few at a time keep a keep-alive agent's connections busy without flooding the registry.
 */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
