import type { Logger } from '../log.js';
import { failureFields } from '../util/repeated-failure.js';

export interface EndWriteOptions {
  /** First wait before the write is made again; doubling, at most 30 s. */
  baseMs: number;
  /** Aborted when the runner stops: the write is given up then. */
  halt: AbortSignal;
  /** Runs once, when the write first fails. */
  onFirstFailure?: (() => Promise<void>) | undefined;
}

/**
 * Makes a write (a build's end) until it succeeds, with back-off from `baseMs` to 30 s, logged once when it first
 * fails (`onFirstFailure` then runs) and once when it lands. Gives up only when the runner stops: the build
 * then stays running in the store, and the next start queues it again. Returns whether it was written.
 */
export async function writeEnd(write: () => void, log: Logger, opts: EndWriteOptions): Promise<boolean> {
  for (let failures = 0, delay = opts.baseMs; ; delay = Math.min(delay * 2, 30_000)) {
    try {
      write();
      if (failures) log.info("the build's end is recorded after all", { failures });
      return true;
    } catch (e) {
      if (failures++ === 0) {
        log.warn("recording the build's end failed; retrying until it can be written", failureFields(e));
        await opts.onFirstFailure?.();
      }
      if (opts.halt.aborted) {
        log.warn("the server stops before the build's end could be recorded: it stays running, and the next start queues it again", failureFields(e));
        return false;
      }
      await pause(delay, opts.halt);
    }
  }
}

/** Waits `ms`, or less if `halt` is aborted meanwhile. */
function pause(ms: number, halt: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(t);
      halt.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    halt.addEventListener('abort', done, { once: true });
  });
}
