import { statSync, unlinkSync } from 'node:fs';
import type { Logger } from '../log.js';
import type { Store } from '../store/store.js';
import type { LogStore } from './store.js';

export interface LogRetentionResult {
  /** Logs removed (or, in a dry run, that would be). */
  expired: number;
  bytes: number;
}

const BATCH = 500;

/**
 * Removes the log files of builds that finished more than `days` ago, except the newest build's of each
 * branch and image (the log someone looking at a branch wants, however old). The build records stay, with
 * the time their log went, so the log route answers 410 saying when. A dry run only counts.
 */
export function expireLogs(p: { store: Store; logs: LogStore; log: Logger; days: number; now?: Date; repo?: string; dryRun?: boolean }): LogRetentionResult {
  const now = p.now ?? new Date();
  const cutoff = new Date(now.getTime() - p.days * 86_400_000).toISOString();
  const result: LogRetentionResult = { expired: 0, bytes: 0 };
  let after: { finishedAt: string; id: number } | undefined;
  for (;;) {
    // A dry run changes nothing, so it pages on past what it counted; a real run's batch leaves the index as it goes.
    const batch = p.store.builds.expirableLogs(cutoff, BATCH, { repo: p.repo, after });
    for (const b of batch) {
      result.expired++;
      result.bytes += fileSize(p.logs.path(b.id));
      if (!p.dryRun) {
        try {
          unlinkSync(p.logs.path(b.id));
        } catch {
          /* never written, or gone already */
        }
      }
    }
    if (!p.dryRun)
      p.store.builds.markLogsExpired(
        batch.map((b) => b.id),
        now.toISOString(),
      );
    else after = batch[batch.length - 1];
    if (batch.length < BATCH) break;
  }
  if (result.expired && !p.dryRun) p.log.info('build logs expired', { count: result.expired, bytes: result.bytes, olderThanDays: p.days });
  return result;
}

function fileSize(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}
