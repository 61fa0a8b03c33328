import type { Build } from '../store/schema.js';
import { TERMINAL_STATUSES } from '../store/schema.js';
import type { Store } from '../store/store.js';
import type { LogLine, LogStore } from './store.js';

/**
 * Sends a build's log lines after number `after`, in order and each once, and, with `follow`, keeps sending
 * new ones until the build has ended (a retried build's next attempt continues the same log). Resolves with
 * the build as it ended, or as it was when `signal` aborted (the reader went away) or `follow` was off.
 */
export async function sendLog(p: {
  logs: LogStore;
  store: Store;
  id: number;
  after: number;
  follow: boolean;
  signal: AbortSignal;
  send: (l: LogLine) => Promise<void>;
}): Promise<Build | undefined> {
  const { logs, store, id } = p;
  let last = p.after;
  const sendNew = async (l: LogLine) => {
    if (l.n <= last) return;
    last = l.n;
    await p.send(l);
  };
  if (!p.follow) {
    await logs.each(id, last, sendNew);
    return store.builds.byId(id);
  }
  // Subscribe before reading the file: lines are in the file before they are announced, so together the
  // two cover everything, and line numbers drop what both deliver.
  const queue: LogLine[] = [];
  let wake: (() => void) | null = null;
  const poke = () => wake?.();
  const unsubscribe = logs.subscribe(
    id,
    (l) => {
      queue.push(l);
      poke();
    },
    poke,
  );
  p.signal.addEventListener('abort', poke, { once: true });
  try {
    await logs.each(id, last, sendNew);
    for (;;) {
      while (queue.length) await sendNew(queue.shift()!);
      const b = store.builds.byId(id);
      if (!b || p.signal.aborted) return b;
      if (TERMINAL_STATUSES.includes(b.status) && !logs.isOpen(id)) {
        await logs.each(id, last, sendNew); // anything appended after the last announcement we saw
        return b;
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 1000); // a safety net; lines and ends wake us at once
        wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      wake = null;
    }
  } finally {
    unsubscribe();
  }
}
