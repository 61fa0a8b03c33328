import { statfsSync } from 'node:fs';
import { formatBytes } from '../units.js';

/** The data dir's file system now: `low` under the threshold (pushes refused, health degraded), `full` at none. */
export interface DiskReading {
  freeBytes: number;
  totalBytes: number;
  /** The threshold (CODEHUB_MIN_FREE); 0: not checked. */
  minFreeBytes: number;
  level: 'ok' | 'low' | 'full';
}

/** Below this a file system is full for practical purposes: SQLite and git need a few pages for any write. */
const FULL_BYTES = 64 * 1024;

/**
 * Free space of the file system holding `path`, as statfs reports it to this (unprivileged or root) user:
 * `bavail`, not `bfree`, since root's reserve is not what the server can count on. Read at most every
 * `maxAgeMs`, as every push and health check asks.
 */
export class DiskSpace {
  private last: { at: number; reading: DiskReading } | null = null;

  constructor(
    private path: string,
    readonly minFreeBytes: number,
    private maxAgeMs = 1000,
  ) {}

  read(now = Date.now()): DiskReading {
    if (this.last && now - this.last.at < this.maxAgeMs) return this.last.reading;
    const s = statfsSync(this.path);
    const freeBytes = Number(s.bavail) * Number(s.bsize);
    const level = freeBytes < FULL_BYTES ? 'full' : this.minFreeBytes > 0 && freeBytes < this.minFreeBytes ? 'low' : 'ok';
    const reading: DiskReading = { freeBytes, totalBytes: Number(s.blocks) * Number(s.bsize), minFreeBytes: this.minFreeBytes, level };
    this.last = { at: now, reading };
    return reading;
  }

  /** Forgets the last reading: the next `read` looks again (after a write failed for lack of space, say). */
  invalidate(): void {
    this.last = null;
  }
}

/** One line for people: `12 MiB free of 1 GiB (the server keeps 256 MiB free: CODEHUB_MIN_FREE)`. */
export function describeDisk(r: DiskReading): string {
  return `${formatBytes(r.freeBytes)} free of ${formatBytes(r.totalBytes)}${r.minFreeBytes ? ` (the server keeps ${formatBytes(r.minFreeBytes)} free: CODEHUB_MIN_FREE)` : ''}`;
}

/** Whether an error is a file system out of space (ENOSPC, EDQUOT) or SQLite's word for it. */
export function isNoSpace(e: unknown): boolean {
  const err = e as { code?: unknown; message?: unknown } | null;
  if (!err) return false;
  if (err.code === 'ENOSPC' || err.code === 'EDQUOT' || err.code === 'SQLITE_FULL') return true;
  return typeof err.message === 'string' && /ENOSPC|No space left on device|database or disk is full/i.test(err.message);
}
