/**
 * The vulnerability database's import on a real SQLite file: the real OSV records of test/fixtures/osv/ (its
 * README names each one's source and license), in files, folders and zips made here with Python's zipfile
 * (yauzl only reads; Python writes any entry name, `../x.json` included, which Info-ZIP's `zip` would not).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { importOsv, recordsFor, utcKey, vulnDbSources } from '../../src/scan/vulndb.js';
import { openDb } from '../../src/store/db.js';
import { Store } from '../../src/store/store.js';
import { writeZip } from '../helpers/scan-images.js';

const fixtureText = (name: string): string => readFileSync(new URL(`../fixtures/osv/${name}`, import.meta.url), 'utf8');
const lodash = fixtureText('GHSA-35jh-r3h4-6jhm.json');
const withdrawn = fixtureText('GHSA-xfg6-62px-cxc2.json');
const dla = fixtureText('DLA-3008-1.json');
// bodega keeps the record as a one-element array (the fixtures' README says why): element 0 is the record.
const dsa = JSON.stringify((JSON.parse(fixtureText('DSA-5770-1.bodega.json')) as unknown[])[0], null, 2);

/** A record's text with fields changed (the fixture files stay as they are). */
const edited = (text: string, fields: Record<string, unknown>): string => JSON.stringify({ ...JSON.parse(text), ...fields });

let dir: string;
let dbPath: string;
let store: Store;
const now = () => new Date('2026-12-07T12:00:00.000Z');

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'chb-vulndb-'));
  dbPath = join(dir, 'data', 'codehub.db');
  store = new Store(openDb(dbPath));
});

afterEach(() => {
  store.db.$client.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A zip of `entries` in the test's folder (test/helpers/scan-images.ts). */
const makeZip = (name: string, entries: { name: string; text: string }[]): string => writeZip(dir, name, entries);

/** Writes files under dir/<folder>, making subfolders. */
function makeFolder(folder: string, files: Record<string, string>): string {
  const root = join(dir, folder);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

const ids = (ecosystem: string, name: string) => recordsFor(store, ecosystem, name).map((r) => r.id);

describe('importOsv', () => {
  it('imports a folder of the real records, recursively, and matching finds each by (ecosystem, name)', async () => {
    const folder = makeFolder('osv', {
      'npm/GHSA-35jh-r3h4-6jhm.json': lodash,
      'maven/GHSA-xfg6-62px-cxc2.json': withdrawn,
      'debian/DLA-3008-1.json': dla,
      'debian/DSA-5770-1.json': dsa,
      'README.txt': 'not a record',
    });
    const result = await importOsv(store, [folder], { now });
    expect(result.problems).toEqual([]);
    expect(result.ecosystems).toEqual({
      npm: { added: 1, updated: 0, unchanged: 0, withdrawn: 0, skipped: 0 },
      Maven: { added: 0, updated: 0, unchanged: 0, withdrawn: 1, skipped: 0 },
      Debian: { added: 2, updated: 0, unchanged: 0, withdrawn: 0, skipped: 0 },
    });
    // One record with four affected packages is found under each of them.
    for (const name of ['lodash', 'lodash-es', 'lodash.template', 'lodash-template']) expect(ids('npm', name)).toEqual(['GHSA-35jh-r3h4-6jhm']);
    expect(ids('npm', 'underscore')).toEqual([]);
    // Debian by source package and release.
    expect(ids('Debian:12', 'expat')).toEqual(['DSA-5770-1']);
    expect(ids('Debian:11', 'expat')).toEqual([]);
    expect(ids('Debian:9', 'openssl')).toEqual(['DLA-3008-1']);
    const [pg] = recordsFor(store, 'Maven', 'org.postgresql:postgresql');
    expect(pg?.withdrawn).toBe('2024-02-21T23:18:25Z');
    expect(recordsFor(store, 'npm', 'lodash')[0]?.aliases).toEqual(['CVE-2021-23337']);
    // The aliases column holds the list as JSON once (a query by alias reads it with json_each).
    expect(store.db.$client.prepare("SELECT aliases FROM vuln_records WHERE id = 'GHSA-35jh-r3h4-6jhm'").get()).toEqual({ aliases: '["CVE-2021-23337"]' });
    expect(vulnDbSources(store)).toEqual([
      { ecosystem: 'Debian', records: 2, newest_modified: '2026-03-09T02:08:46.361951000Z', imported_at: '2026-12-07T12:00:00.000Z' },
      { ecosystem: 'Maven', records: 1, newest_modified: '2024-05-02T13:15:34.000000000Z', imported_at: '2026-12-07T12:00:00.000Z' },
      { ecosystem: 'npm', records: 1, newest_modified: '2024-04-17T18:39:19.000000000Z', imported_at: '2026-12-07T12:00:00.000Z' },
    ]);
    // It is in the file: a new connection reads the same.
    store.db.$client.close();
    store = new Store(openDb(dbPath));
    expect(ids('Debian:12', 'expat')).toEqual(['DSA-5770-1']);
    expect(vulnDbSources(store).map((s) => s.records)).toEqual([2, 1, 1]);
  });

  it('updates a record whose modified is newer and leaves one that is not as it is', async () => {
    await importOsv(store, [makeFolder('a', { 'lodash.json': lodash, 'dla.json': dla })], { now });
    const newer = edited(lodash, { modified: '2025-01-01T00:00:00Z', summary: 'newer summary', affected: [JSON.parse(lodash).affected[0]] });
    const older = edited(dla, { modified: '2020-01-01T00:00:00Z', summary: 'older summary' });
    const result = await importOsv(store, [makeFolder('b', { 'lodash.json': newer, 'dla.json': older })], { now: () => new Date('2026-12-08T00:00:00Z') });
    expect(result.ecosystems).toEqual({
      npm: { added: 0, updated: 1, unchanged: 0, withdrawn: 0, skipped: 0 },
      Debian: { added: 0, updated: 0, unchanged: 1, withdrawn: 0, skipped: 0 },
    });
    expect(recordsFor(store, 'npm', 'lodash')[0]?.summary).toBe('newer summary');
    // The newer record names lodash only: its other packages no longer find it.
    expect(ids('npm', 'lodash-es')).toEqual([]);
    expect(recordsFor(store, 'Debian:9', 'openssl')[0]?.summary).not.toBe('older summary');
    expect(vulnDbSources(store)).toEqual([
      { ecosystem: 'Debian', records: 1, newest_modified: '2026-03-09T01:23:33.375630000Z', imported_at: '2026-12-08T00:00:00.000Z' },
      { ecosystem: 'npm', records: 1, newest_modified: '2025-01-01T00:00:00.000000000Z', imported_at: '2026-12-08T00:00:00.000Z' },
    ]);
    // The same records again change nothing.
    const again = await importOsv(store, [join(dir, 'b')], { now });
    expect(again.ecosystems.npm).toEqual({ added: 0, updated: 0, unchanged: 1, withdrawn: 0, skipped: 0 });
  });

  it('imports a zip as OSV publishes it, skipping and naming a bad record and an unknown ecosystem while the rest lands', async () => {
    const noModified = JSON.parse(dla) as Record<string, unknown>;
    delete noModified.modified;
    const crate = edited(lodash, {
      id: 'RUSTSEC-0000-0000',
      affected: [{ package: { ecosystem: 'crates.io', name: 'x' }, ranges: [{ type: 'SEMVER', events: [{ introduced: '0' }] }] }],
    });
    const zip = makeZip('all.zip', [
      { name: 'GHSA-35jh-r3h4-6jhm.json', text: lodash },
      { name: 'DLA-3008-1.json', text: JSON.stringify(noModified) },
      { name: 'RUSTSEC-0000-0000.json', text: crate },
      { name: 'DSA-5770-1.json', text: dsa },
      { name: 'broken.json', text: '{"id": ' },
    ]);
    const result = await importOsv(store, [zip], { now });
    expect(result.ecosystems).toEqual({
      npm: { added: 1, updated: 0, unchanged: 0, withdrawn: 0, skipped: 0 },
      Debian: { added: 1, updated: 0, unchanged: 0, withdrawn: 0, skipped: 1 },
      'crates.io': { added: 0, updated: 0, unchanged: 0, withdrawn: 0, skipped: 1 },
      unknown: { added: 0, updated: 0, unchanged: 0, withdrawn: 0, skipped: 1 },
    });
    expect(result.problems).toHaveLength(3);
    expect(result.problems[0]).toBe(`${zip}!DLA-3008-1.json: skipped, not an OSV record: modified: is missing (a modified time)`);
    expect(result.problems[1]).toMatch(
      new RegExp(`^${zip}!RUSTSEC-0000-0000.json: RUSTSEC-0000-0000 skipped: it names no package in an ecosystem this server matches \\(crates.io;`),
    );
    expect(result.problems[2]).toMatch(new RegExp(`^${zip}!broken.json: not JSON`));
    expect(ids('npm', 'lodash')).toEqual(['GHSA-35jh-r3h4-6jhm']);
    expect(ids('Debian:12', 'expat')).toEqual(['DSA-5770-1']);
    expect(ids('Debian:9', 'openssl')).toEqual([]);
  });

  it('refuses a whole zip with an entry named ../x.json or /x.json, importing nothing from it', async () => {
    for (const bad of ['../x.json', '/etc/x.json']) {
      const zip = makeZip(`evil-${bad.length}.zip`, [
        { name: 'GHSA-35jh-r3h4-6jhm.json', text: lodash },
        { name: bad, text: dsa },
      ]);
      const result = await importOsv(store, [zip], { now });
      expect(result.ecosystems).toEqual({});
      expect(result.problems).toHaveLength(1);
      expect(result.problems[0]).toMatch(new RegExp(`^${zip}: refused, nothing imported from it: .*(path|\\.\\.)`));
    }
    expect(ids('npm', 'lodash')).toEqual([]);
    expect(vulnDbSources(store)).toEqual([]);
  });

  it('refuses a zip bomb (a 200 MB entry that deflates to almost nothing) from its headers, without inflating it', async () => {
    const bomb = join(dir, 'bomb.zip');
    const script = `import sys, zipfile
with zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED) as z:
    z.writestr('GHSA-35jh-r3h4-6jhm.json', sys.stdin.read())
    with z.open('bomb.json', 'w') as f:
        block = b' ' * (1 << 20)
        for _ in range(200): f.write(block)`;
    execFileSync('python3', ['-c', script, bomb], { input: lodash });
    const rss = process.memoryUsage().rss;
    const result = await importOsv(store, [bomb], { now });
    // Inflating the entry would have held 200 MB (the record is read whole): the process grew by far less.
    expect(process.memoryUsage().rss - rss).toBeLessThan(50 * 1024 ** 2);
    expect(result.problems).toEqual([
      expect.stringMatching(/^.*bomb\.zip: refused, nothing imported from it: entry bomb\.json holds 209715200 bytes uncompressed/),
    ]);
    expect(ids('npm', 'lodash')).toEqual([]);
    // The ratio alone refuses it too, when one record may be that large.
    const byRatio = await importOsv(store, [bomb], { now, limits: { recordBytes: 1024 ** 3 } });
    expect(byRatio.problems[0]).toMatch(/entry bomb\.json inflates \d+ bytes to 209715200, more than 100 times \(a zip bomb\)/);
    // And the entry count, before any entry is read.
    const byCount = await importOsv(store, [bomb], { now, limits: { entries: 1 } });
    expect(byCount.problems[0]).toMatch(/it has 2 entries, more than the limit of 1/);
  });

  it('refuses a zip whose entries together pass the total limit, from its headers', async () => {
    const zip = makeZip('big.zip', [{ name: 'GHSA-35jh-r3h4-6jhm.json', text: lodash }]);
    const result = await importOsv(store, [zip], { now, limits: { totalBytes: 100 } });
    expect(result.problems[0]).toMatch(/its entries hold more than 100 bytes uncompressed/);
    expect(ids('npm', 'lodash')).toEqual([]);
  });

  it('refuses a zip whose headers understate an entry, on the bytes as they inflate', async () => {
    const zip = makeZip('lying.zip', [
      { name: 'DLA-3008-1.json', text: dla },
      { name: 'GHSA-35jh-r3h4-6jhm.json', text: lodash },
    ]);
    // The central directory's uncompressed size of the last entry (offset 24 of its header) says 10 bytes.
    const bytes = readFileSync(zip);
    bytes.writeUInt32LE(10, bytes.lastIndexOf(Buffer.from('PK\x01\x02', 'latin1')) + 24);
    writeFileSync(zip, bytes);
    const result = await importOsv(store, [zip], { now });
    expect(result.problems).toHaveLength(1);
    expect(result.problems[0]).toMatch(new RegExp(`^${zip}: refused, nothing imported from it: .*expected 10`));
    // The first entry read fine, but the zip is one file: nothing of it landed.
    expect(ids('Debian:9', 'openssl')).toEqual([]);
    expect(vulnDbSources(store)).toEqual([]);
  });

  it('keeps what earlier files imported when a later file fails, and answers clearly for what is not a zip or not JSON', async () => {
    const good = makeZip('good.zip', [{ name: 'GHSA-35jh-r3h4-6jhm.json', text: lodash }]);
    const truncated = makeZip('truncated.zip', [
      { name: 'DLA-3008-1.json', text: dla },
      { name: 'DSA-5770-1.json', text: dsa },
    ]);
    truncateSync(truncated, 200);
    const notZip = join(dir, 'Debian-all.zip');
    writeFileSync(notZip, '<html>404 Not Found</html>');
    const notJson = join(dir, 'notes.json');
    writeFileSync(notJson, 'these are notes, not JSON');
    const missing = join(dir, 'missing.json');
    const result = await importOsv(store, [good, truncated, notZip, notJson, missing], { now });
    expect(result.ecosystems).toEqual({
      npm: { added: 1, updated: 0, unchanged: 0, withdrawn: 0, skipped: 0 },
      unknown: { added: 0, updated: 0, unchanged: 0, withdrawn: 0, skipped: 1 },
    });
    expect(result.problems).toHaveLength(4);
    expect(result.problems[0]).toMatch(new RegExp(`^${truncated}: refused, nothing imported from it: `));
    expect(result.problems[1]).toBe(`${notZip}: refused, nothing imported from it: it is not a zip archive (it does not start with a zip header)`);
    expect(result.problems[2]).toMatch(new RegExp(`^${notJson}: not JSON \\(.*\\) - neither an OSV JSON record nor a zip of them$`));
    expect(result.problems[3]).toMatch(new RegExp(`^${missing}: cannot be read: ENOENT`));
    expect(ids('npm', 'lodash')).toEqual(['GHSA-35jh-r3h4-6jhm']);
    expect(ids('Debian:9', 'openssl')).toEqual([]);
    expect(vulnDbSources(store).map((s) => s.ecosystem)).toEqual(['npm']);
  });

  it('caps the problems it lists and counts the rest', async () => {
    const folder = makeFolder('bad', { 'a.json': '{', 'b.json': '[', 'c.json': '"' });
    const result = await importOsv(store, [folder], { now, maxProblems: 2 });
    expect(result.problems).toHaveLength(2);
    expect(result.moreProblems).toBe(1);
    expect(result.ecosystems.unknown?.skipped).toBe(3);
  });
});

describe('utcKey', () => {
  it('orders OSV.dev microseconds, offsets and whole seconds as time does', () => {
    expect(utcKey('2026-03-09T01:23:33.375630Z')).toBe('2026-03-09T01:23:33.375630000Z');
    expect(utcKey('2024-01-01T02:00:00.123456789+02:00')).toBe('2024-01-01T00:00:00.123456789Z');
    expect(utcKey('2024-01-01T00:00:00.0000001Z') > utcKey('2024-01-01T00:00:00Z')).toBe(true);
    expect(utcKey('2024-01-01T00:00:00.999999Z') < utcKey('2024-01-01T00:00:01Z')).toBe(true);
  });
});
