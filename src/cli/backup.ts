/**
 * `codehub-build backup <dir>`: a copy of the data dir that can be restored as one, taken while the server
 * runs. The database comes first, through SQLite's online backup (a consistent snapshot however busy the
 * server is; a plain file copy of a WAL database can be torn), then the repos, logs and secrets. In that order
 * every build the copied database names has its commit in the copied repos: objects are only ever added.
 */
import Database from 'better-sqlite3';
import { cpSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { dbFile } from '../store/db.js';
import { loadSettings } from '../settings.js';
import { UsageError } from './common.js';

/** What a data dir holds that a restore needs; `hooks/` is written again at every start. */
const FOLDERS = ['repos', 'logs', 'secrets'] as const;

export async function backupCmd(args: string[]): Promise<number> {
  if (args.length !== 1 || args[0]!.startsWith('-')) throw new UsageError('usage: codehub-build backup <dir> (a new or empty folder)');
  const dest = args[0]!;
  if (existsSync(dest) && readdirSync(dest).length > 0)
    throw new UsageError(`${dest} is not empty: back up into a new or empty folder, so that no older copy mixes in`);
  const { dataDir } = loadSettings();
  const source = dbFile(dataDir);
  if (!existsSync(source)) throw new UsageError(`no database at ${source}: is CODEHUB_DATA_DIR (${dataDir}) the server's data dir?`);
  mkdirSync(dest, { recursive: true, mode: 0o700 });
  const db = new Database(source, { readonly: true, fileMustExist: true });
  try {
    const started = Date.now();
    const { totalPages } = await db.backup(join(dest, 'codehub.db'));
    console.log(`database: ${totalPages} pages, consistent as of ${new Date(started).toISOString()}`);
  } finally {
    db.close();
  }
  for (const folder of FOLDERS) {
    const from = join(dataDir, folder);
    if (!existsSync(from)) continue;
    // Modes are kept: secrets/ stays 0700 with its keys 0600.
    cpSync(from, join(dest, folder), { recursive: true, preserveTimestamps: true, verbatimSymlinks: true });
    console.log(`${folder}/: copied`);
  }
  console.log(
    `backup of ${dataDir} in ${dest}; restore: stop the server, put these in an empty CODEHUB_DATA_DIR, start it (migrations run at start). secrets/ holds keys: keep the copy as private as the data dir`,
  );
  return 0;
}
