import { sendLog } from '../logs/follow.js';
import type { LogStore } from '../logs/store.js';
import type { Build } from '../store/schema.js';
import type { Store } from '../store/store.js';

/**
 * What `git push -o wait` prints: each build's log as it is written (prefixed with the image name when the
 * push built several), then one result line per build: the image references and digest, or the failure and
 * where to read more. Writes are serialized, so lines of different builds never mix within a line.
 */
export async function streamBuilds(p: {
  logs: LogStore;
  store: Store;
  publicUrl: string;
  builds: Build[];
  write: (text: string) => Promise<void>;
  signal: AbortSignal;
}): Promise<void> {
  let chain = Promise.resolve();
  const write = (text: string) => (chain = chain.then(() => p.write(text)).catch(() => {}));
  const several = p.builds.length > 1;
  const ended = await Promise.all(
    p.builds.map((b) =>
      sendLog({
        logs: p.logs,
        store: p.store,
        id: b.id,
        after: 0,
        follow: true,
        signal: p.signal,
        send: (l) => write(several ? `[${b.image}] ${l.text}\n` : `${l.text}\n`),
      }),
    ),
  );
  await chain;
  if (p.signal.aborted) return;
  const summary: string[] = [''];
  for (const b of ended) {
    if (!b) continue;
    if (b.status === 'succeeded') {
      summary.push(`build #${b.id} ${b.image} succeeded:`, ...b.imageRefs.map((r) => `  ${r}@${b.digest}`));
    } else {
      summary.push(
        `build #${b.id} ${b.image} ${b.status.toUpperCase()}${b.reasonCode ? ` (${b.reasonCode})` : ''}: ${b.reason ?? ''}`,
        `  log: codehub-build logs ${b.id}   (${p.publicUrl}/builds/${b.id})`,
      );
    }
  }
  await write(summary.map((l) => l + '\n').join(''));
  await chain;
}
