import { dbFile } from '../main.js';
import { loadSettings } from '../settings.js';
import { openDb } from '../store/db.js';
import { Store } from '../store/store.js';

/** A command used the wrong way: the CLI prints the message and points at `help`, exit status 1. */
export class UsageError extends Error {}

/** The server's own database, for the commands run where the data dir is. */
export function withStore<T>(fn: (store: Store) => T): T {
  const store = new Store(openDb(dbFile(loadSettings().dataDir)));
  try {
    const out = fn(store);
    if (out instanceof Promise) return out.finally(() => store.db.$client.close()) as T;
    store.db.$client.close();
    return out;
  } catch (e) {
    store.db.$client.close();
    throw e;
  }
}

/** Columns padded to their widest cell; the last column is not padded. */
export function printTable(rows: string[][]): void {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  for (const r of rows) console.log(r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  '));
}
