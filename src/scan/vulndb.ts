/**
 * The vulnerability database's import (issue 26): OSV records from the files an operator brings (the server never
 * fetches them), written to the store, and read back for matching. A source is a file of one OSV JSON record, a
 * folder of them (every `*.json` under it), or a zip as OSV publishes `<ecosystem>/all.zip` (one record per entry).
 *
 * Each file is all or nothing: a zip's records land in one transaction, or none of them do when the zip is
 * refused (an entry name leaving the archive, a zip bomb, a corrupt archive); a file that fails never undoes the
 * files before it. Within a file, a record that does not read as OSV, or names no ecosystem this server orders,
 * is skipped and named; a record not newer than the stored one is left as it is.
 */
import { open } from 'node:fs/promises';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import yauzl from 'yauzl';
import type { Store } from '../store/store.js';
import type { PutOutcome, VulnRecordRow } from '../store/vulndb.js';
import { parseOsvRecord, splitEcosystem, type OsvRecord } from './osv.js';
import { ORDERED_ECOSYSTEMS, versionOrder } from './versions/index.js';

/**
 * What a zip may hold before it is refused whole, checked from its central directory before any record lands
 * and again on the bytes as they are inflated (a header may lie): OSV's largest export (Debian) is far inside them.
 */
export interface ZipLimits {
  /** Uncompressed bytes of all entries together: 4 GiB. */
  totalBytes: number;
  /** Entries: 2,000,000. */
  entries: number;
  /** Uncompressed bytes per compressed byte of one entry: 100 (JSON deflates about 5 to 15 times). */
  ratio: number;
  /** The ratio is only held against entries larger than this (a tiny file compresses oddly): 1 MiB. */
  ratioFrom: number;
  /** Uncompressed bytes of one record (an entry or a file), which is read whole to parse it: 64 MiB. */
  recordBytes: number;
}

export const ZIP_LIMITS: ZipLimits = {
  totalBytes: 4 * 1024 ** 3,
  entries: 2_000_000,
  ratio: 100,
  ratioFrom: 1024 ** 2,
  recordBytes: 64 * 1024 ** 2,
};

/** One ecosystem's part of an import. `withdrawn` counts withdrawn records that landed (not also as added or updated). */
export interface EcosystemCounts {
  added: number;
  updated: number;
  unchanged: number;
  withdrawn: number;
  skipped: number;
}

/** What an import did: counts per ecosystem base (`Debian`, `npm`) and what it skipped or refused, as sentences. */
export interface ImportResult {
  ecosystems: Record<string, EcosystemCounts>;
  /** The first `maxProblems` problems, each naming its file (and zip entry). */
  problems: string[];
  /** How many problems there were beyond those. */
  moreProblems: number;
}

export interface ImportOptions {
  /** The import's time, as each touched ecosystem's `imported_at` (default: now). */
  now?: () => Date;
  /** Problems kept in the result (default 100); the rest are counted. */
  maxProblems?: number;
  /** Zip limits to hold instead of ZIP_LIMITS (tests, a site's own). */
  limits?: Partial<ZipLimits>;
}

/** One source of `GET /api/vulndb`. */
export interface VulnDbSource {
  ecosystem: string;
  records: number;
  newest_modified: string;
  imported_at: string;
}

/** A file's records read, before they are written: what lands, what was seen, what was counted already. */
interface FileBatch {
  rows: Map<string, VulnRecordRow>;
  seen: Set<string>;
  counts: Map<string, EcosystemCounts>;
  problems: string[];
}

/** Why a whole file is refused: nothing of it is imported. */
class Refused extends Error {}

const newCounts = (): EcosystemCounts => ({ added: 0, updated: 0, unchanged: 0, withdrawn: 0, skipped: 0 });

function countIn(counts: Map<string, EcosystemCounts>, ecosystem: string): EcosystemCounts {
  let c = counts.get(ecosystem);
  if (!c) counts.set(ecosystem, (c = newCounts()));
  return c;
}

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

/**
 * `time` (an RFC 3339 time parseOsvRecord accepted) in UTC with nine fraction digits, so stored times compare as
 * text: Date keeps milliseconds only, and OSV.dev writes microseconds.
 */
export function utcKey(time: string): string {
  const fraction = /\.(\d+)/.exec(time)?.[1] ?? '';
  return `${new Date(Date.parse(time)).toISOString().slice(0, 23)}${fraction.slice(3, 9).padEnd(6, '0')}Z`;
}

/** The key vuln_packages files a package under: the record's ecosystem, but Maven's suffix is a repository, not a release. */
function packageKey(ecosystem: string): string {
  const { base } = splitEcosystem(ecosystem);
  return base === 'Maven' ? base : ecosystem;
}

/** The ecosystem a record that does not parse counts under: its first package's, if that much reads. */
function rawEcosystem(json: unknown): string {
  const affected = (json as { affected?: unknown })?.affected;
  const first = Array.isArray(affected) ? (affected[0] as { package?: { ecosystem?: unknown } } | undefined) : undefined;
  const eco = first?.package?.ecosystem;
  return typeof eco === 'string' && eco !== '' ? splitEcosystem(eco).base : 'unknown';
}

/**
 * A record's text read into the batch: kept to be written when it may change what is stored, counted unchanged
 * when it may not, or skipped with a problem naming `where`.
 */
function takeRecord(store: Store, batch: FileBatch, text: string, where: string): void {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    countIn(batch.counts, 'unknown').skipped++;
    batch.problems.push(`${where}: not JSON (${message(err)})`);
    return;
  }
  const parsed = parseOsvRecord(json);
  if (!parsed.ok) {
    countIn(batch.counts, rawEcosystem(json)).skipped++;
    batch.problems.push(`${where}: skipped, not an OSV record: ${parsed.problem}`);
    return;
  }
  const record = parsed.record;
  const known = record.affected.flatMap((a) => (a.package && versionOrder(a.package.ecosystem) ? [a.package] : []));
  const first = known[0];
  if (!first) {
    const named = [...new Set(record.affected.flatMap((a) => (a.package ? [a.package.ecosystem] : [])))];
    countIn(batch.counts, named[0] ? splitEcosystem(named[0]).base : 'unknown').skipped++;
    batch.problems.push(
      `${where}: ${record.id} skipped: it names no package in an ecosystem this server matches (${named.length ? named.join(', ') : 'no package at all'}; known: ${ORDERED_ECOSYSTEMS.join(', ')})`,
    );
    return;
  }
  const ecosystem = splitEcosystem(first.ecosystem).base;
  const releases = new Set(known.filter((p) => splitEcosystem(p.ecosystem).base === ecosystem).map((p) => splitEcosystem(p.ecosystem).release));
  const release = releases.size === 1 ? ([...releases][0] ?? null) : null;
  const modified = utcKey(record.modified);
  batch.seen.add(ecosystem);
  const pending = batch.rows.get(record.id);
  const stored = pending?.modified ?? store.vulndb.modifiedOf(record.id);
  if (stored !== undefined && stored >= modified) {
    countIn(batch.counts, ecosystem).unchanged++;
    return;
  }
  if (pending) countIn(batch.counts, ecosystem).unchanged++; // the older copy in the same file is superseded
  batch.rows.set(record.id, {
    id: record.id,
    ecosystem,
    release,
    modified,
    withdrawn: record.withdrawn ?? null,
    aliases: record.aliases,
    record: text,
    packages: known.map((p) => ({ ecosystem: packageKey(p.ecosystem), name: p.name })),
  });
}

/** Reads a stream whole, refusing the file once it passes `limit` bytes (the zip's headers are not trusted). */
async function readCapped(stream: AsyncIterable<Buffer>, limit: number, what: string): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += chunk.length;
    if (size > limit) throw new Refused(`${what} is larger than ${limit} bytes uncompressed, more than one record may be`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Why an entry name is refused, or undefined: it must stay inside the archive (yauzl checks this too). */
function badEntryName(name: string): string | undefined {
  if (name.startsWith('/') || /^[A-Za-z]:/.test(name)) return `entry ${JSON.stringify(name)} is an absolute path`;
  if (name.split(/[/\\]/).includes('..')) return `entry ${JSON.stringify(name)} has a .. component`;
  return undefined;
}

/** The zip checked from its central directory: the whole file is refused before a record is read. */
async function checkZip(file: string, limits: ZipLimits): Promise<void> {
  const zip = await yauzl.openPromise(file, { lazyEntries: true, autoClose: true, validateEntrySizes: true });
  try {
    if (zip.entryCount > limits.entries) throw new Refused(`it has ${zip.entryCount} entries, more than the limit of ${limits.entries}`);
    let total = 0;
    for await (const entry of zip.eachEntry()) {
      const bad = badEntryName(entry.fileName);
      if (bad) throw new Refused(bad);
      if (entry.fileName.endsWith('/')) continue;
      total += entry.uncompressedSize;
      if (total > limits.totalBytes) throw new Refused(`its entries hold more than ${limits.totalBytes} bytes uncompressed`);
      if (entry.uncompressedSize > limits.recordBytes)
        throw new Refused(
          `entry ${entry.fileName} holds ${entry.uncompressedSize} bytes uncompressed, more than the limit of ${limits.recordBytes} for one record`,
        );
      if (entry.uncompressedSize > limits.ratioFrom && entry.uncompressedSize > limits.ratio * entry.compressedSize)
        throw new Refused(
          `entry ${entry.fileName} inflates ${entry.compressedSize} bytes to ${entry.uncompressedSize}, more than ${limits.ratio} times (a zip bomb)`,
        );
    }
  } finally {
    zip.close();
  }
}

/** Every record entry of the zip read into the batch, one at a time (the zip is never read whole). */
async function readZip(store: Store, file: string, batch: FileBatch, limits: ZipLimits): Promise<void> {
  const zip = await yauzl.openPromise(file, { lazyEntries: true, autoClose: true, validateEntrySizes: true });
  try {
    let total = 0;
    for await (const entry of zip.eachEntry()) {
      if (entry.fileName.endsWith('/')) continue;
      const stream = await zip.openReadStreamPromise(entry);
      const text = await readCapped(stream, Math.min(limits.recordBytes, limits.totalBytes - total), `entry ${entry.fileName}`);
      total += Buffer.byteLength(text);
      takeRecord(store, batch, text, `${file}!${entry.fileName}`);
    }
  } finally {
    zip.close();
  }
}

/** Whether the file starts as a zip does (a local file header, or the end record of an empty zip). */
async function looksLikeZip(file: string): Promise<boolean> {
  const fh = await open(file, 'r');
  try {
    const head = Buffer.alloc(4);
    const { bytesRead } = await fh.read(head, 0, 4, 0);
    return bytesRead === 4 && head[0] === 0x50 && head[1] === 0x4b && ((head[2] === 3 && head[3] === 4) || (head[2] === 5 && head[3] === 6));
  } finally {
    await fh.close();
  }
}

/** One file imported, all or nothing; its counts and problems added to the result's. */
async function importFile(store: Store, file: string, result: Accumulator, limits: ZipLimits, importedAt: string): Promise<void> {
  const batch: FileBatch = { rows: new Map(), seen: new Set(), counts: new Map(), problems: [] };
  try {
    if (await looksLikeZip(file)) {
      await checkZip(file, limits);
      await readZip(store, file, batch, limits);
    } else if (file.toLowerCase().endsWith('.zip')) {
      throw new Refused('it is not a zip archive (it does not start with a zip header)');
    } else {
      const fh = await open(file, 'r');
      try {
        const text = await readCapped(fh.createReadStream(), limits.recordBytes, 'the file');
        const before = batch.problems.length;
        takeRecord(store, batch, text, file);
        const problem = batch.problems[before];
        // A file that is not JSON at all is not a record that failed: say what it is not.
        if (problem?.startsWith(`${file}: not JSON`)) batch.problems[before] = `${problem} - neither an OSV JSON record nor a zip of them`;
      } finally {
        await fh.close();
      }
    }
  } catch (err) {
    result.problem(`${file}: refused, nothing imported from it: ${message(err)}`);
    return;
  }
  const rows = [...batch.rows.values()];
  let outcomes: PutOutcome[];
  try {
    outcomes = batch.seen.size > 0 ? store.vulndb.put(rows, batch.seen, importedAt) : [];
  } catch (err) {
    result.problem(`${file}: not imported, the database refused it: ${message(err)}`);
    return;
  }
  outcomes.forEach((outcome, i) => {
    const row = rows[i]!;
    const c = countIn(batch.counts, row.ecosystem);
    if (outcome === 'unchanged') c.unchanged++;
    else if (row.withdrawn !== null) c.withdrawn++;
    else c[outcome]++;
  });
  result.add(batch);
}

/** The import's result as it grows: counts summed, problems capped. */
class Accumulator {
  readonly ecosystems: Record<string, EcosystemCounts> = {};
  readonly problems: string[] = [];
  moreProblems = 0;
  constructor(private maxProblems: number) {}

  problem(p: string): void {
    if (this.problems.length < this.maxProblems) this.problems.push(p);
    else this.moreProblems++;
  }

  add(batch: FileBatch): void {
    for (const [eco, c] of batch.counts) {
      const total = (this.ecosystems[eco] ??= newCounts());
      for (const k of Object.keys(c) as (keyof EcosystemCounts)[]) total[k] += c[k];
    }
    for (const p of batch.problems) this.problem(p);
  }
}

/** Every `*.json` file under `dir`, by path (a folder's files import in a stable order). */
async function jsonFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && e.name.toLowerCase().endsWith('.json'))
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

/**
 * Imports OSV records from `sources` (files of one record, folders of them, OSV's zips), each file all or
 * nothing, in order. Never throws for what a source holds: every file or record it could not take is a problem.
 */
export async function importOsv(store: Store, sources: readonly string[], opts: ImportOptions = {}): Promise<ImportResult> {
  const limits = { ...ZIP_LIMITS, ...opts.limits };
  const importedAt = (opts.now?.() ?? new Date()).toISOString();
  const result = new Accumulator(opts.maxProblems ?? 100);
  for (const source of sources) {
    let files: string[];
    try {
      files = (await stat(source)).isDirectory() ? await jsonFiles(source) : [source];
    } catch (err) {
      result.problem(`${source}: cannot be read: ${message(err)}`);
      continue;
    }
    if (files.length === 0) result.problem(`${source}: a folder with no .json file in it`);
    for (const file of files) await importFile(store, file, result, limits, importedAt);
  }
  return { ecosystems: result.ecosystems, problems: result.problems, moreProblems: result.moreProblems };
}

/**
 * The records matching reads for package `name` in `ecosystem` (`npm`, `Debian:12` with a Debian source package's
 * name, `Alpine:v3.20`), withdrawn ones included (matching skips them). Records stored by an older reader and no
 * longer read by this one are left out: they were checked when imported, so none should be.
 */
export function recordsFor(store: Store, ecosystem: string, name: string): OsvRecord[] {
  return store.vulndb.recordsFor(packageKey(ecosystem), name).flatMap(({ record }) => {
    const parsed = parseOsvRecord(JSON.parse(record));
    return parsed.ok ? [parsed.record] : [];
  });
}

/** `GET /api/vulndb`'s sources: each ecosystem's record count, newest `modified` and last import. */
export function vulnDbSources(store: Store): VulnDbSource[] {
  return store.vulndb.sources().map((s) => ({ ecosystem: s.ecosystem, records: s.records, newest_modified: s.newestModified, imported_at: s.importedAt }));
}
