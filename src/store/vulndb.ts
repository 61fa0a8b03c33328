import { and, asc, eq, or, sql } from 'drizzle-orm';
import type { Db } from './db.js';
import { vulnPackages, vulnRecords, vulnSources } from './schema.js';
import { slot } from './sql.js';

const p = sql.placeholder;

/** One OSV record as the import writes it: its text and what is read from it once. */
export interface VulnRecordRow {
  id: string;
  /** The base of the ecosystem whose source counts it (`Debian`, `npm`). */
  ecosystem: string;
  /** The release all its packages of that base name (`12`), or null. */
  release: string | null;
  /** `modified` in UTC with nine fraction digits (text order is time order). */
  modified: string;
  withdrawn: string | null;
  aliases: string[];
  /** The record's JSON as imported. */
  record: string;
  /** Every (ecosystem, name) it is about, as the lookup keys them; duplicates are fine. */
  packages: { ecosystem: string; name: string }[];
}

/**
 * What writing a record did: `added` (a new id), `updated` (its `modified` is newer than the stored one's: the
 * record and its packages replaced), `unchanged` (not newer: the stored one is kept as it is).
 */
export type PutOutcome = 'added' | 'updated' | 'unchanged';

/** One ecosystem's imported data, as `GET /api/vulndb` lists it. */
export interface VulnSource {
  ecosystem: string;
  records: number;
  newestModified: string;
  importedAt: string;
}

/** The vulnerability database's reads and writes (tables vuln_records, vuln_packages, vuln_sources). */
export class VulnDbStore {
  constructor(private db: Db) {}

  private prepared: ReturnType<VulnDbStore['prepare']> | undefined;
  private get q() {
    return (this.prepared ??= this.prepare());
  }

  /** An import runs these once per record, matching once per package of every image: prepared once. */
  private prepare() {
    const d = this.db;
    return {
      stored: d
        .select({ ecosystem: vulnRecords.ecosystem, modified: vulnRecords.modified })
        .from(vulnRecords)
        .where(eq(vulnRecords.id, p('id')))
        .prepare(),
      upsert: d
        .insert(vulnRecords)
        .values({
          id: slot('id'),
          ecosystem: slot('ecosystem'),
          release: slot('release'),
          modified: slot('modified'),
          withdrawn: slot('withdrawn'),
          aliases: slot('aliases'),
          record: slot('record'),
        })
        .onConflictDoUpdate({
          target: vulnRecords.id,
          set: {
            ecosystem: sql`excluded.ecosystem`,
            release: sql`excluded.release`,
            modified: sql`excluded.modified`,
            withdrawn: sql`excluded.withdrawn`,
            aliases: sql`excluded.aliases`,
            record: sql`excluded.record`,
          },
        })
        .prepare(),
      dropPackages: d
        .delete(vulnPackages)
        .where(eq(vulnPackages.recordId, p('id')))
        .prepare(),
      addPackage: d
        .insert(vulnPackages)
        .values({ ecosystem: slot('ecosystem'), name: slot('name'), recordId: slot('id') })
        .onConflictDoNothing()
        .prepare(),
      // Two ecosystems: a release's own (`Debian:12`) and its base's (`Debian`), for a record that names no release.
      recordsFor: d
        .selectDistinct({ id: vulnRecords.id, record: vulnRecords.record })
        .from(vulnPackages)
        .innerJoin(vulnRecords, eq(vulnRecords.id, vulnPackages.recordId))
        .where(and(or(eq(vulnPackages.ecosystem, p('ecosystem')), eq(vulnPackages.ecosystem, p('base'))), eq(vulnPackages.name, p('name'))))
        .orderBy(asc(vulnRecords.id))
        .prepare(),
      source: d
        .insert(vulnSources)
        .values({ ecosystem: slot('ecosystem'), records: slot('records'), newestModified: slot('newest'), importedAt: slot('at') })
        .onConflictDoUpdate({
          target: vulnSources.ecosystem,
          set: {
            records: sql`${vulnSources.records} + excluded.records`,
            newestModified: sql`max(${vulnSources.newestModified}, excluded.newest_modified)`,
            importedAt: sql`excluded.imported_at`,
          },
        })
        .prepare(),
      sources: d.select().from(vulnSources).orderBy(asc(vulnSources.ecosystem)).prepare(),
    };
  }

  /** The stored `modified` of record `id` (vuln_records' form), or undefined when it has none: lets an import keep only what may change. */
  modifiedOf(id: string): string | undefined {
    return this.q.stored.get({ id })?.modified;
  }

  /**
   * Writes `rows` in one transaction, all or none, and says what each did (same order). A row whose `modified`
   * is not newer than the stored record's is left as it is. Every ecosystem in `seen` (the ecosystems the import
   * read, changed or not) and every one a row lands in gets `importedAt` and its count and newest time moved.
   */
  put(rows: readonly VulnRecordRow[], seen: Iterable<string>, importedAt: string): PutOutcome[] {
    return this.db.transaction(() => {
      const delta = new Map<string, { records: number; newest: string }>();
      const bump = (ecosystem: string, by: number, modified: string) => {
        const d = delta.get(ecosystem) ?? { records: 0, newest: '' };
        d.records += by;
        if (modified > d.newest) d.newest = modified;
        delta.set(ecosystem, d);
      };
      const outcomes = rows.map((row): PutOutcome => {
        const stored = this.q.stored.get({ id: row.id });
        if (stored && stored.modified >= row.modified) return 'unchanged';
        // The placeholder takes the column's JSON mode: the list itself, encoded once by drizzle.
        this.q.upsert.run({ ...row });
        this.q.dropPackages.run({ id: row.id });
        for (const pkg of row.packages) this.q.addPackage.run({ ...pkg, id: row.id });
        // A record that moved to another ecosystem (its first package changed) leaves its old source's count.
        if (stored && stored.ecosystem !== row.ecosystem) bump(stored.ecosystem, -1, '');
        bump(row.ecosystem, stored && stored.ecosystem === row.ecosystem ? 0 : 1, row.modified);
        return stored ? 'updated' : 'added';
      });
      for (const ecosystem of seen) if (!delta.has(ecosystem)) delta.set(ecosystem, { records: 0, newest: '' });
      for (const [ecosystem, d] of delta) this.q.source.run({ ecosystem, records: d.records, newest: d.newest, at: importedAt });
      return outcomes;
    });
  }

  /**
   * The JSON text of every record about package `name` in `ecosystem` (as vuln_packages keys it: `Debian:12`,
   * `npm`), with those of its base ecosystem (`Debian`) when it names a release; by id, withdrawn ones included.
   */
  recordsFor(ecosystem: string, name: string): { id: string; record: string }[] {
    const colon = ecosystem.indexOf(':');
    const base = colon < 0 ? ecosystem : ecosystem.slice(0, colon);
    return this.q.recordsFor.all({ ecosystem, base, name });
  }

  /** Every ecosystem's imported data, by name. */
  sources(): VulnSource[] {
    return this.q.sources.all();
  }
}
