import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { parseRpmHeader, parseRpmSqlite, RPMTAG, splitSourceRpm } from '../../src/scan/packages/rpm.js';
import type { Distro } from '../../src/scan/packages/types.js';

/**
 * An rpm header blob written per rpm's format (see src/scan/packages/rpm.ts): counts, index entries, data store.
 * Strings are NUL-terminated, INT32 values 4-aligned as rpm aligns them, and a region tag (63, BIN, 16 bytes)
 * comes first, as in every header rpm writes into its database.
 */
type Field = { tag: number; string: string } | { tag: number; int32: number };
function headerBlob(fields: Field[]): Buffer {
  const entries: Buffer[] = [];
  const data: Buffer[] = [];
  let size = 0;
  const put = (tag: number, type: number, count: number, bytes: Buffer, align = 1) => {
    const pad = (align - (size % align)) % align;
    if (pad) data.push(Buffer.alloc(pad));
    size += pad;
    const e = Buffer.alloc(16);
    e.writeInt32BE(tag, 0);
    e.writeUInt32BE(type, 4);
    e.writeInt32BE(size, 8);
    e.writeUInt32BE(count, 12);
    entries.push(e);
    data.push(bytes);
    size += bytes.length;
  };
  for (const f of fields) {
    if ('string' in f) put(f.tag, 6, 1, Buffer.from(`${f.string}\0`));
    else {
      const b = Buffer.alloc(4);
      b.writeUInt32BE(f.int32);
      put(f.tag, 4, 1, b, 4);
    }
  }
  put(63, 7, 16, Buffer.alloc(16)); // the region trailer: not a field, skipped by the reader
  const head = Buffer.alloc(8);
  head.writeUInt32BE(entries.length, 0);
  head.writeUInt32BE(size, 4);
  return Buffer.concat([head, ...entries, ...data]);
}

const pkg = (name: string, version: string, release: string, arch: string, sourceRpm: string, epoch?: number): Field[] => [
  { tag: RPMTAG.NAME, string: name },
  { tag: RPMTAG.VERSION, string: version },
  { tag: RPMTAG.RELEASE, string: release },
  ...(epoch === undefined ? [] : [{ tag: RPMTAG.EPOCH, int32: epoch }]),
  { tag: RPMTAG.ARCH, string: arch },
  { tag: RPMTAG.SOURCERPM, string: sourceRpm },
];

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** An rpmdb.sqlite as rpm >= 4.16 makes it (the Packages table, WAL mode), holding these blobs. */
function rpmdb(blobs: unknown[]): Buffer {
  const dir = mkdtempSync(join(tmpdir(), 'rpmdb-test-'));
  dirs.push(dir);
  const file = join(dir, 'rpmdb.sqlite');
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)');
  const insert = db.prepare('INSERT INTO Packages (blob) VALUES (?)');
  for (const b of blobs) insert.run(b);
  db.close();
  return readFileSync(file);
}

const AL2023: Distro = { id: 'amzn', versionId: '2023' };

describe('rpm header blobs', () => {
  it('reads name, version, release, epoch, arch and source rpm, skipping the region tag', () => {
    const blob = headerBlob(pkg('openssl-libs', '3.0.8', '1.amzn2023.0.4', 'x86_64', 'openssl-3.0.8-1.amzn2023.0.4.src.rpm', 1));
    expect(parseRpmHeader(blob)).toEqual({
      ok: true,
      value: { name: 'openssl-libs', version: '3.0.8', release: '1.amzn2023.0.4', epoch: 1, arch: 'x86_64', sourceRpm: 'openssl-3.0.8-1.amzn2023.0.4.src.rpm' },
    });
  });

  it('finds every bound a corrupt blob can break, and says which', () => {
    const good = headerBlob(pkg('bash', '5.2.15', '1.amzn2023.0.2', 'x86_64', 'bash-5.2.15-1.amzn2023.0.2.src.rpm'));
    const problem = (b: Buffer) => {
      const r = parseRpmHeader(b);
      return r.ok ? 'parsed' : r.problem;
    };
    expect(problem(good.subarray(0, 5))).toBe("5 bytes: too short for a header's two counts");
    expect(problem(good.subarray(0, good.length - 1))).toMatch(/^\d+ bytes, but 6 index entries and \d+ bytes of data make \d+$/);
    // rpm takes a database blob only at its exact size: bytes after the data store are as wrong as bytes missing.
    expect(problem(Buffer.concat([good, Buffer.alloc(1)]))).toBe(
      `${good.length + 1} bytes, but 6 index entries and ${good.length - 8 - 96} bytes of data make ${good.length}`,
    );
    const zero = Buffer.from(good);
    zero.writeUInt32BE(0, 0);
    expect(problem(zero)).toBe('0 index entries (rpm allows 1 to 65535)');
    const huge = Buffer.from(good);
    huge.writeUInt32BE(0x10000000, 4);
    expect(problem(huge)).toBe(`a data store of ${0x10000000} bytes (rpm allows at most ${0x0fffffff})`);
    // NAME's offset pointed past the data store.
    const far = Buffer.from(good);
    far.writeInt32BE(0x7fff0000, 8 + 8);
    expect(problem(far)).toMatch(/^NAME: offset 2147418112 outside the \d+-byte data store$/);
    // NAME's string with its NUL overwritten up to the end of the data store.
    const unterminated = Buffer.from(good);
    const dataStart = 8 + 6 * 16;
    unterminated.fill(0x41, dataStart, unterminated.length);
    expect(problem(unterminated)).toBe('NAME: the string at offset 0 has no terminating NUL');
    // NAME typed as INT32.
    const typed = Buffer.from(good);
    typed.writeUInt32BE(4, 8 + 4);
    expect(problem(typed)).toBe('NAME: tag 1000 has type 4, not a string');
    expect(problem(headerBlob([{ tag: RPMTAG.VERSION, string: '1' }]))).toBe('no NAME tag (1000)');
    expect(problem(good)).toBe('parsed');
  });

  it('splits source rpm file names at their last two dashes', () => {
    expect(splitSourceRpm('python3.9-3.9.16-1.amzn2023.0.3.src.rpm')).toEqual({ name: 'python3.9', version: '3.9.16', release: '1.amzn2023.0.3' });
    expect(splitSourceRpm('system-release-2023.1.20230825-0.amzn2023.src.rpm')).toEqual({
      name: 'system-release',
      version: '2023.1.20230825',
      release: '0.amzn2023',
    });
    expect(splitSourceRpm('foo.rpm')).toBeNull();
  });
});

describe('rpmdb.sqlite', () => {
  it('lists the packages of a database made of header blobs, with epochs, source packages and purls', () => {
    const db = rpmdb([
      headerBlob(pkg('openssl-libs', '3.0.8', '1.amzn2023.0.4', 'x86_64', 'openssl-3.0.8-1.amzn2023.0.4.src.rpm', 1)),
      headerBlob(pkg('curl-minimal', '8.0.1', '1.amzn2023.0.1', 'x86_64', 'curl-8.0.1-1.amzn2023.0.1.src.rpm')),
      headerBlob([
        { tag: RPMTAG.NAME, string: 'gpg-pubkey' },
        { tag: RPMTAG.VERSION, string: 'd832c631' },
        { tag: RPMTAG.RELEASE, string: '60d37f12' },
      ]),
    ]);
    const r = parseRpmSqlite('/var/lib/rpm/rpmdb.sqlite', db, AL2023);
    expect(r.problems).toEqual([]);
    expect(r.packages).toEqual([
      {
        ecosystem: 'rpm',
        name: 'openssl-libs',
        version: '1:3.0.8-1.amzn2023.0.4',
        arch: 'x86_64',
        source: { name: 'openssl', version: '1:3.0.8-1.amzn2023.0.4' },
        path: '/var/lib/rpm/rpmdb.sqlite',
        purl: 'pkg:rpm/amzn/openssl-libs@3.0.8-1.amzn2023.0.4?arch=x86_64&distro=amzn-2023&epoch=1',
      },
      {
        ecosystem: 'rpm',
        name: 'curl-minimal',
        version: '8.0.1-1.amzn2023.0.1',
        arch: 'x86_64',
        source: { name: 'curl', version: '8.0.1-1.amzn2023.0.1' },
        path: '/var/lib/rpm/rpmdb.sqlite',
        purl: 'pkg:rpm/amzn/curl-minimal@8.0.1-1.amzn2023.0.1?arch=x86_64&distro=amzn-2023',
      },
    ]);
  });

  it('a corrupt row is a problem naming the row; the other rows still count', () => {
    const good = headerBlob(pkg('bash', '5.2.15', '1.amzn2023.0.2', 'x86_64', 'bash-5.2.15-1.amzn2023.0.2.src.rpm'));
    const db = rpmdb([good.subarray(0, 40), good, 'text, not a blob']);
    const r = parseRpmSqlite('/usr/lib/sysimage/rpm/rpmdb.sqlite', db);
    expect(r.packages.map((p) => p.name)).toEqual(['bash']);
    expect(r.problems).toEqual([
      expect.stringMatching(/^\/usr\/lib\/sysimage\/rpm\/rpmdb\.sqlite: package row 1: 40 bytes, but 6 index entries and \d+ bytes of data make \d+$/),
      '/usr/lib/sysimage/rpm/rpmdb.sqlite: package row 3: the blob is not binary',
    ]);
  });

  it('a file that is not SQLite, or SQLite without a Packages table, is one problem', () => {
    expect(parseRpmSqlite('/var/lib/rpm/rpmdb.sqlite', Buffer.from('not a database at all, just text'.repeat(10))).problems).toEqual([
      '/var/lib/rpm/rpmdb.sqlite: not a SQLite database (no "SQLite format 3" header)',
    ]);
    const dir = mkdtempSync(join(tmpdir(), 'rpmdb-test-'));
    dirs.push(dir);
    const other = new Database(join(dir, 'x.sqlite'));
    other.exec('CREATE TABLE Other (x)');
    other.close();
    const r = parseRpmSqlite('/var/lib/rpm/rpmdb.sqlite', readFileSync(join(dir, 'x.sqlite')));
    expect(r.packages).toEqual([]);
    expect(r.problems).toEqual(['/var/lib/rpm/rpmdb.sqlite: cannot read the Packages table: no such table: Packages']);
  });
});

describe("a real rpmdb.sqlite (CBL-Mariner 2.0, four rows of go-rpmdb's test database)", () => {
  const real = readFileSync(new URL('../fixtures/packages/rpm/rpmdb.sqlite', import.meta.url));

  it("lists its packages; curl as go-rpmdb's own test reads it, the ca-certificates package with its epoch", () => {
    const r = parseRpmSqlite('/var/lib/rpm/rpmdb.sqlite', real, { id: 'mariner', versionId: '2.0' });
    expect(r.problems).toEqual([]);
    expect(r.packages.map((p) => [p.name, p.version, p.arch, p.source?.name, p.source?.version])).toEqual([
      ['zlib', '1.2.11-5.cm2', 'x86_64', 'zlib', '1.2.11-5.cm2'],
      ['expat', '2.4.3-1.cm2', 'x86_64', 'expat', '2.4.3-1.cm2'],
      ['curl', '7.76.0-6.cm2', 'x86_64', 'curl', '7.76.0-6.cm2'],
      ['ca-certificates-tools', '1:2.0.0-1.cm2', 'noarch', 'ca-certificates', '1:2.0.0-1.cm2'],
    ]);
    expect(r.packages[2]?.purl).toBe('pkg:rpm/mariner/curl@7.76.0-6.cm2?arch=x86_64&distro=mariner-2.0');
    expect(r.packages[3]?.purl).toBe('pkg:rpm/mariner/ca-certificates-tools@2.0.0-1.cm2?arch=noarch&distro=mariner-2.0&epoch=1');
  });

  it('reads a WAL-mode file without its -wal file, as a layer holds it, and leaves the bytes it was given alone', () => {
    const before = Buffer.from(real);
    expect(parseRpmSqlite('/var/lib/rpm/rpmdb.sqlite', real).packages).toHaveLength(4);
    expect(real.equals(before)).toBe(true);
    expect(real[18]).toBe(2); // the fixture is in WAL mode, as rpm leaves it
  });
});
