import Database from 'better-sqlite3';
import { drizzle, type BetterSQLite3Database } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { MIGRATIONS_DIR } from '../paths.js';
import * as schema from './schema.js';

export type Db = BetterSQLite3Database<typeof schema> & { $client: Database.Database };

/** The server's database file in its data dir. */
export const dbFile = (dataDir: string): string => join(dataDir, 'codehub.db');

/**
 * Opens (creating if needed) the SQLite file and applies every pending migration. WAL lets readers run
 * beside the one writer; busy_timeout makes a concurrent writer wait instead of failing with SQLITE_BUSY.
 * `:memory:` gives a migrated in-memory database for tests.
 */
export function openDb(file: string): Db {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  const sqlite = new Database(file);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('busy_timeout = 5000');
  sqlite.pragma('foreign_keys = ON');
  // Deleted and overwritten content is zeroed, so a scrubbed value (a secret-looking build arg) is not left in a free page.
  sqlite.pragma('secure_delete = ON');
  const db = drizzle(sqlite, { schema }) as Db;
  const before = appliedMigrations(sqlite);
  migrate(db, { migrationsFolder: MIGRATIONS_DIR });
  // A migration may have scrubbed values: the WAL still holds the pages as they were until it is checkpointed and emptied.
  if (file !== ':memory:' && appliedMigrations(sqlite) !== before) sqlite.pragma('wal_checkpoint(TRUNCATE)');
  return db;
}

/** How many migrations the file has had (0 for a new one). */
export function appliedMigrations(sqlite: Database.Database): number {
  // Raw SQL: SQLite's catalog and the migrator's own table are not in the schema.
  const table = sqlite.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '__drizzle_migrations'").get();
  return table ? (sqlite.prepare('SELECT count(*) AS n FROM __drizzle_migrations').get() as { n: number }).n : 0;
}
