import { AuditLog, CLI_ACTOR, type AuditAction } from '../auth/audit.js';
import type { Outcome } from '../auth/outcome.js';
import { loadSettings } from '../settings.js';
import { dbFile, openDb } from '../store/db.js';
import { Store } from '../store/store.js';

export { UsageError } from '../client/errors.js';
export { printTable } from '../client/table.js';

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

/**
 * Records `action` by the server's command line in the audit log when `outcome` succeeded (in the same store,
 * before it closes); returns the outcome as it was.
 */
export function cliAudited<T>(
  store: Store,
  outcome: Outcome<T>,
  action: AuditAction,
  target: (done: T) => string,
  detail?: (done: T) => Record<string, unknown>,
): Outcome<T> {
  if (outcome.ok) new AuditLog(store).record(CLI_ACTOR, action, target(outcome), detail ? { detail: detail(outcome) } : {});
  return outcome;
}
