/**
 * rpm's SQLite database (`rpmdb.sqlite`, rpm >= 4.16: Fedora 33+, RHEL 9, Amazon Linux 2023): table `Packages`
 * (`hnum INTEGER PRIMARY KEY, blob BLOB`), one row per installed package, the blob an rpm header.
 *
 * The header blob, as rpm's lib/header.c writes it (the on-disk form without the 8-byte magic of a package file),
 * all integers big-endian:
 *   il   uint32   number of index entries (rpm caps it at 0xffff)
 *   dl   uint32   bytes of the data store (rpm caps it at 256 MiB)
 *   il x { tag int32, type uint32, offset int32, count uint32 }   16 bytes each, offset into the data store
 *   dl bytes of data store
 * Types used here: INT32 = 4 (count values), STRING = 6 (one NUL-terminated string), STRING_ARRAY = 8 and
 * I18NSTRING = 9 (count NUL-terminated strings; the first is the one rpm -q prints). The first entry is usually a
 * region tag (63, HEADER_IMMUTABLE) pointing at a trailer; it is not a package field and is skipped like any tag
 * we do not read.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { type Distro, distroQualifier, makePurl, type Package, type ParseResult, problemAt } from './types.js';

export const RPMTAG = { NAME: 1000, VERSION: 1001, RELEASE: 1002, EPOCH: 1003, ARCH: 1022, SOURCERPM: 1044 } as const;
const TYPE_INT32 = 4;
const TYPE_STRING = 6;
const TYPE_STRING_ARRAY = 8;
const TYPE_I18NSTRING = 9;
const MAX_INDEX_ENTRIES = 0xffff;
const MAX_DATA_BYTES = 0x0fffffff;

export interface RpmHeader {
  name: string;
  version: string;
  release: string;
  /** Absent when the package has no EPOCH tag (rpm then compares it as 0 but prints none). */
  epoch?: number;
  arch?: string;
  sourceRpm?: string;
}

type Read<T> = { ok: true; value: T } | { ok: false; problem: string };

/**
 * The fields we need from one header blob, or what is wrong with it. Every offset and count is checked against the
 * blob's length before it is read: a truncated or corrupt blob is a problem, never an out-of-range read.
 */
export function parseRpmHeader(blob: Uint8Array): Read<RpmHeader> {
  const buf = Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
  if (buf.length < 8) return { ok: false, problem: `${buf.length} bytes: too short for a header's two counts` };
  const il = buf.readUInt32BE(0);
  const dl = buf.readUInt32BE(4);
  if (il < 1 || il > MAX_INDEX_ENTRIES) return { ok: false, problem: `${il} index entries (rpm allows 1 to ${MAX_INDEX_ENTRIES})` };
  if (dl > MAX_DATA_BYTES) return { ok: false, problem: `a data store of ${dl} bytes (rpm allows at most ${MAX_DATA_BYTES})` };
  const dataStart = 8 + il * 16;
  if (buf.length !== dataStart + dl) {
    return { ok: false, problem: `${buf.length} bytes, but ${il} index entries and ${dl} bytes of data make ${dataStart + dl}` };
  }
  const data = buf.subarray(dataStart);

  const strings = (offset: number, count: number): Read<string> => {
    // The first of `count` strings; the rest only need to exist for the entry to be sound, and we never read them.
    if (offset < 0 || offset >= dl) return { ok: false, problem: `offset ${offset} outside the ${dl}-byte data store` };
    if (count < 1) return { ok: false, problem: 'a string entry with count 0' };
    const end = data.indexOf(0, offset);
    if (end < 0) return { ok: false, problem: `the string at offset ${offset} has no terminating NUL` };
    return { ok: true, value: data.toString('utf8', offset, end) };
  };

  const found = new Map<number, Read<string | number>>();
  for (let i = 0; i < il; i++) {
    const at = 8 + i * 16;
    const tag = buf.readInt32BE(at);
    const type = buf.readUInt32BE(at + 4);
    const offset = buf.readInt32BE(at + 8);
    const count = buf.readUInt32BE(at + 12);
    if (tag === RPMTAG.EPOCH) {
      if (type !== TYPE_INT32) found.set(tag, { ok: false, problem: `EPOCH has type ${type}, not INT32` });
      else if (offset < 0 || count < 1 || offset + 4 > dl) found.set(tag, { ok: false, problem: `EPOCH at offset ${offset} outside the data store` });
      else found.set(tag, { ok: true, value: data.readUInt32BE(offset) });
    } else if ((Object.values(RPMTAG) as number[]).includes(tag)) {
      if (type !== TYPE_STRING && type !== TYPE_STRING_ARRAY && type !== TYPE_I18NSTRING)
        found.set(tag, { ok: false, problem: `tag ${tag} has type ${type}, not a string` });
      else found.set(tag, strings(offset, count));
    }
  }

  const text = (tag: number, label: string, required: boolean): Read<string | undefined> => {
    const r = found.get(tag);
    if (!r) return required ? { ok: false, problem: `no ${label} tag (${tag})` } : { ok: true, value: undefined };
    if (!r.ok) return { ok: false, problem: `${label}: ${r.problem}` };
    return { ok: true, value: String(r.value) };
  };
  const name = text(RPMTAG.NAME, 'NAME', true);
  const version = text(RPMTAG.VERSION, 'VERSION', true);
  const release = text(RPMTAG.RELEASE, 'RELEASE', true);
  const arch = text(RPMTAG.ARCH, 'ARCH', false);
  const sourceRpm = text(RPMTAG.SOURCERPM, 'SOURCERPM', false);
  for (const r of [name, version, release, arch, sourceRpm]) if (!r.ok) return r;
  const epoch = found.get(RPMTAG.EPOCH);
  if (epoch && !epoch.ok) return epoch;
  const header: RpmHeader = {
    name: name.ok ? (name.value ?? '') : '',
    version: version.ok ? (version.value ?? '') : '',
    release: release.ok ? (release.value ?? '') : '',
  };
  if (!header.name || !header.version) return { ok: false, problem: 'an empty NAME or VERSION' };
  if (epoch?.ok) header.epoch = Number(epoch.value);
  if (arch.ok && arch.value) header.arch = arch.value;
  if (sourceRpm.ok && sourceRpm.value) header.sourceRpm = sourceRpm.value;
  return { ok: true, value: header };
}

/** `expat-2.5.0-1.amzn2023.0.2.src.rpm` -> name `expat`, version `2.5.0`, release `1.amzn2023.0.2`; null when not that shape. */
export function splitSourceRpm(file: string): { name: string; version: string; release: string } | null {
  const m = /^(.+)-([^-]+)-([^-]+)\.(?:no)?src\.rpm$/.exec(file);
  return m ? { name: m[1] ?? '', version: m[2] ?? '', release: m[3] ?? '' } : null;
}

/** The bytes of a SQLite database file start with this (sqlite.org/fileformat.html, "The Database Header"). */
const SQLITE_MAGIC = Buffer.from('SQLite format 3\0', 'latin1');

/**
 * The installed packages of an rpmdb.sqlite. better-sqlite3 reads files, so the bytes go to a private temporary
 * file, opened read-only and removed afterwards. `gpg-pubkey` rows are the imported signing keys, not software: skipped.
 */
export function parseRpmSqlite(path: string, content: Buffer, distro?: Distro): ParseResult {
  const packages: Package[] = [];
  const problems: string[] = [];
  if (content.length < 100 || !content.subarray(0, 16).equals(SQLITE_MAGIC)) {
    return { packages, problems: [problemAt(path, undefined, 'not a SQLite database (no "SQLite format 3" header)')] };
  }
  // rpm leaves the file in WAL mode; a layer holds the main file alone (its -wal is checkpointed or absent), and
  // SQLite opens that read-only in a folder of ours, making the -shm it needs there.
  const dir = mkdtempSync(join(tmpdir(), 'codehub-rpmdb-'));
  let db: Database.Database | undefined;
  try {
    const file = join(dir, 'rpmdb.sqlite');
    writeFileSync(file, content, { mode: 0o600 });
    db = new Database(file, { readonly: true, fileMustExist: true });
    const rows = db.prepare('SELECT hnum, blob FROM Packages ORDER BY hnum').iterate() as IterableIterator<{ hnum: number; blob: unknown }>;
    for (const row of rows) {
      if (!(row.blob instanceof Uint8Array)) {
        problems.push(problemAt(path, undefined, `package row ${row.hnum}: the blob is not binary`));
        continue;
      }
      const h = parseRpmHeader(row.blob);
      if (!h.ok) {
        problems.push(problemAt(path, undefined, `package row ${row.hnum}: ${h.problem}`));
        continue;
      }
      if (h.value.name === 'gpg-pubkey') continue;
      const p = toPackage(path, h.value, distro);
      if (p.ok) packages.push(p.value);
      else problems.push(problemAt(path, undefined, `package row ${row.hnum}: ${p.problem}`));
    }
  } catch (err) {
    problems.push(problemAt(path, undefined, `cannot read the Packages table: ${(err as Error).message}`));
  } finally {
    db?.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return { packages, problems };
}

function toPackage(path: string, h: RpmHeader, distro?: Distro): Read<Package> {
  const evr = h.release ? `${h.version}-${h.release}` : h.version;
  const epoch = h.epoch !== undefined ? `${h.epoch}:` : '';
  const pkg: Package = { ecosystem: 'rpm', name: h.name, version: epoch + evr, path, purl: '' };
  if (h.arch) pkg.arch = h.arch;
  const src = h.sourceRpm ? splitSourceRpm(h.sourceRpm) : null;
  // A source rpm's file name carries no epoch; the binary's is the source's (rpmbuild gives both the spec's Epoch).
  if (src) pkg.source = { name: src.name, version: `${epoch}${src.version}-${src.release}` };
  // The purl spec's rpm type: version-release in the version, the epoch as a qualifier.
  const purl = makePurl('rpm', distro?.id, h.name, evr, {
    arch: h.arch,
    epoch: h.epoch !== undefined ? String(h.epoch) : undefined,
    distro: distro ? distroQualifier(distro) : undefined,
  });
  if (!purl.ok) return { ok: false, problem: purl.problem };
  pkg.purl = purl.purl;
  return { ok: true, value: pkg };
}
