import { existsSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DiskSpace } from './disk.js';

/**
 * A file of zeros the server keeps in the data dir and gives back when the disk is full at start: SQLite
 * cannot even open its database for reading then (WAL mode needs its `-shm` file, which a clean stop removes),
 * so without it a full disk would keep the server from starting, and reads would be gone when most needed.
 */
export const RESERVE_BYTES = 1024 * 1024;

export function reserveFile(dataDir: string): string {
  return join(dataDir, 'reserve');
}

/** Gives the reserve back to the file system; true if there was one. */
export function releaseReserve(dataDir: string): boolean {
  const file = reserveFile(dataDir);
  if (!existsSync(file)) return false;
  rmSync(file, { force: true });
  return true;
}

/**
 * Makes the reserve if it is missing and the disk has room to spare for it (twice its size above the
 * server's own threshold), so a full disk never eats the space a start needs. Never throws: a reserve not
 * made now is made at the next chance.
 */
export function keepReserve(dataDir: string, disk: DiskSpace): 'made' | 'kept' | 'no room' | 'failed' {
  const file = reserveFile(dataDir);
  if (existsSync(file)) return 'kept';
  try {
    disk.invalidate();
    const r = disk.read();
    if (r.freeBytes < r.minFreeBytes + 2 * RESERVE_BYTES) return 'no room';
    // Written, not sized with truncate: a sparse file would hold no space at all. Renamed into place whole,
    // so a reserve found at start always gives back all of it.
    writeFileSync(file + '.tmp', Buffer.alloc(RESERVE_BYTES));
    renameSync(file + '.tmp', file);
    return 'made';
  } catch {
    rmSync(file + '.tmp', { force: true });
    return 'failed';
  }
}
