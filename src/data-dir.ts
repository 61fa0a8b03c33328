import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { RepoStore } from './git/repos.js';
import type { Logger } from './log.js';
import { dbFile, openDb, type Db } from './store/db.js';
import { describeDisk, isNoSpace, type DiskSpace } from './util/disk.js';
import { failureFields } from './util/repeated-failure.js';
import { releaseReserve } from './util/reserve.js';

// The server's start on its data dir, a full one included: main.ts wires the rest.

/**
 * Installs the post-receive hook. With the data dir full and a hook already there, the server starts with the
 * hook it has (a warning says so): reads must be served exactly when the operator needs them, and a supervisor
 * restarting a server that cannot start would only loop.
 */
export async function installHooks(repos: RepoStore, disk: DiskSpace, log: Logger): Promise<'native' | 'node' | 'kept'> {
  try {
    return await repos.installHooks();
  } catch (e) {
    if (!isNoSpace(e) || !existsSync(join(repos.hooksDir, 'post-receive'))) throw e;
    disk.invalidate();
    log.warn('the post-receive hook could not be rewritten; the one installed is kept', { ...failureFields(e), disk: describeDiskSafe(disk) });
    return 'kept';
  }
}

/**
 * Opens the database. On a full disk SQLite cannot open it even to read (WAL mode's `-shm` file must be made):
 * the reserve file is given back for it, once; without one, the error says what to free.
 */
export function openStartDb(dataDir: string, disk: DiskSpace, log: Logger): Db {
  try {
    return openDb(dbFile(dataDir));
  } catch (e) {
    disk.invalidate();
    if (!isNoSpace(e) && disk.read().level !== 'full') throw e;
    if (!releaseReserve(dataDir)) {
      throw new Error(
        `the data dir is full (${describeDiskSafe(disk)}), and the database cannot be opened (${(e as Error).message}): free space on ${dataDir}'s file system, then start again`,
      );
    }
    disk.invalidate();
    log.warn('the data dir is full: gave back its reserve file to open the database; free space on it', {
      dataDir,
      disk: describeDiskSafe(disk),
      err: (e as Error).message,
    });
    return openDb(dbFile(dataDir));
  }
}

/** The disk's figures for a log line, or why they cannot be read. */
function describeDiskSafe(disk: DiskSpace): string {
  try {
    return describeDisk(disk.read());
  } catch (e) {
    return (e as Error).message;
  }
}
