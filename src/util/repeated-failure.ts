import type { Fields, Logger } from '../log.js';
import { isNoSpace } from './disk.js';

/**
 * What a log line says of an error: a full disk as its cause and the fix, without a stack (it is the same
 * every time and says nothing of where to look); anything else as the error itself, stack and all.
 */
export function failureFields(e: unknown): Fields {
  const err = e as { code?: unknown; message?: unknown };
  if (isNoSpace(e)) {
    return {
      cause: 'the data dir is full',
      fix: "free space on the data dir's file system (CODEHUB_DATA_DIR)",
      err: { code: err?.code, message: String(err?.message ?? e) },
    };
  }
  return { err: e };
}

/**
 * Logs a failure that repeats while its cause lasts (the claim loop, every second while the disk is full):
 * once with its cause, then at most every `everyMs` with how often it failed since, and once when it works
 * again, so a full disk is a few lines in the log rather than a stack trace a second.
 */
export class RepeatedFailure {
  private since: number | null = null;
  private lastLogged = 0;
  private failures = 0;

  constructor(
    private log: Logger,
    private msg: string,
    private everyMs = 60_000,
  ) {}

  failed(e: unknown, fields: Fields = {}, now = Date.now()): void {
    this.failures++;
    if (this.since !== null && now - this.lastLogged < this.everyMs) return;
    const first = this.since === null;
    this.since ??= now;
    this.lastLogged = now;
    this.log.warn(first ? this.msg : `${this.msg} (still failing)`, {
      ...fields,
      ...failureFields(e),
      ...(first ? {} : { failures: this.failures, seconds: Math.round((now - this.since) / 1000) }),
    });
  }

  succeeded(fields: Fields = {}, now = Date.now()): void {
    if (this.since === null) return;
    this.log.info(`${this.msg}: works again`, { ...fields, failures: this.failures, seconds: Math.round((now - this.since) / 1000) });
    this.since = null;
    this.failures = 0;
  }

  get failing(): boolean {
    return this.since !== null;
  }
}
