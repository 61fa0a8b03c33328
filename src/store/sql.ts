// Pieces of SQL the store's modules share.
import { sql, type SQL } from 'drizzle-orm';

/** Now, as every time is stored: an ISO-8601 UTC string with milliseconds (sortable as text, readable in the sqlite3 shell). */
export const NOW: SQL = sql`(strftime('%Y-%m-%dT%H:%M:%fZ','now'))`;

/**
 * A named placeholder of a prepared statement, typed as the value it stands for. drizzle maps it through its
 * column (JSON, booleans) when the statement runs, in an update's `set` as in an insert's values, but its types
 * let `set` take no placeholder (drizzle-orm#2110, fixed after 0.45).
 */
export const slot = <T>(name: string): T => sql.placeholder(name) as unknown as T;
