import { index, integer, primaryKey, sqliteTable, text } from 'drizzle-orm/sqlite-core';

// The vulnerability database's tables (src/store/vulndb.ts reads and writes them), apart from schema.ts only to
// keep each file short: schema.ts exports them too, so drizzle-kit and every import see one schema.

/**
 * Every OSV record imported, by its id: the record's text as it came (matching parses it again, so a newer
 * reader reads old imports in full), and what the import compares and counts without parsing it.
 */
export const vulnRecords = sqliteTable(
  'vuln_records',
  {
    id: text('id').primaryKey(),
    /** The base of the first affected package's ecosystem this server orders (`Debian`, `npm`): whose source counts it. */
    ecosystem: text('ecosystem').notNull(),
    /** The release every affected package of that base names (`12` of `Debian:12`); null when none or several. */
    release: text('release'),
    /** The record's `modified`, in UTC with nine fraction digits, so text order is time order. */
    modified: text('modified').notNull(),
    /** The record's `withdrawn` as written; null while it stands. */
    withdrawn: text('withdrawn'),
    aliases: text('aliases', { mode: 'json' }).notNull().$type<string[]>(),
    /** The record's JSON as imported. */
    record: text('record').notNull(),
  },
  (t) => [index('vuln_records_ecosystem').on(t.ecosystem, t.modified)],
);

/**
 * Which records are about a package, the one lookup matching makes: (ecosystem, name) to record ids. A record with
 * several affected packages has a row for each. WITHOUT ROWID (added by hand to its migration: drizzle-kit cannot
 * say it), so the lookup reads ids straight from the key's b-tree.
 */
export const vulnPackages = sqliteTable(
  'vuln_packages',
  {
    /** The ecosystem as the record names it (`Debian:12`, `npm`), but `Maven` without a repository suffix. */
    ecosystem: text('ecosystem').notNull(),
    /** The package name as the record names it (a Debian source package). */
    name: text('name').notNull(),
    recordId: text('record_id')
      .notNull()
      .references(() => vulnRecords.id, { onDelete: 'cascade' }),
  },
  (t) => [primaryKey({ columns: [t.ecosystem, t.name, t.recordId] }), index('vuln_packages_record').on(t.recordId)],
);

/** What each ecosystem's imports left: `GET /api/vulndb`'s sources. Kept as records land, in the same transaction. */
export const vulnSources = sqliteTable('vuln_sources', {
  /** An ecosystem's base (`Debian`, `npm`), as vuln_records.ecosystem. */
  ecosystem: text('ecosystem').primaryKey(),
  records: integer('records').notNull(),
  /** The newest `modified` of its records (vuln_records' form). */
  newestModified: text('newest_modified').notNull(),
  /** When an import last read records of this ecosystem, changed or not. */
  importedAt: text('imported_at').notNull(),
});
