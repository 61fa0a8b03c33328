import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestServer, uniqueName } from '../helpers/server.js';
import { writeZip } from '../helpers/scan-images.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/osv/', import.meta.url));
const fixture = (name: string): string => readFileSync(join(FIXTURES, name), 'utf8');
const dir = mkdtempSync(join(tmpdir(), 'chb-vulndb-'));

let server: TestServer;
let admin: string;
let reader: string;

/** A zip of `entries` in the test's folder (test/helpers/scan-images.ts), as the bytes a client sends. */
const makeZip = (name: string, entries: { name: string; text: string }[]): Buffer => readFileSync(writeZip(dir, name, entries));

/** A record of `base` under another id (and a later `modified`), so it is new to the database. */
function renamed(base: string, id: string, modified: string): string {
  return JSON.stringify({ ...JSON.parse(fixture(base)), id, modified });
}

async function sources(token = reader): Promise<Record<string, { records: number; newest_modified: string; imported_at: string }>> {
  const res = await fetch(`${server.url}/api/vulndb`, { headers: { authorization: `Bearer ${token}` } });
  expect(res.status).toBe(200);
  const body = (await res.json()) as { sources: { ecosystem: string; records: number; newest_modified: string; imported_at: string }[] };
  return Object.fromEntries(body.sources.map(({ ecosystem, ...rest }) => [ecosystem, rest]));
}

async function upload(body: Buffer | string, token?: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${server.url}/api/vulndb/imports`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body,
  });
  return { status: res.status, body: await res.json() };
}

beforeAll(async () => {
  server = await TestServer.start({ env: { CODEHUB_AUTH_FAILURES_PER_MIN: '1000' } });
  admin = server.firstAdminToken;
  const user = uniqueName('vuln-reader');
  const added = server.cli(['user', 'add', user]);
  expect(added.status, added.stderr).toBe(0);
  reader = added.stdout.trim().split('\n').at(-1)!;
});
afterAll(async () => {
  await server?.stop();
});

describe('vulndb import (the CLI, on the server)', () => {
  it('imports the fixture folder: a line per ecosystem, the array-shaped record named as a problem, exit 0', async () => {
    const r = server.cli(['vulndb', 'import', FIXTURES]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^npm: 1 added, 0 updated, 0 unchanged, 0 withdrawn, 0 skipped$/m);
    expect(r.stdout).toMatch(/^Maven: 0 added, 0 updated, 0 unchanged, 1 withdrawn, 0 skipped$/m);
    expect(r.stdout).toMatch(/^Debian: 1 added, /m);
    // DSA-5770-1.bodega.json is a one-element array (see the README): not a record, so skipped and named.
    expect(r.stdout).toMatch(/^problem: .*DSA-5770-1\.bodega\.json/m);
    const s = await sources();
    expect(s.npm?.records).toBe(1);
    expect(s.npm?.newest_modified).toMatch(/^2024-04-17T18:39:19/);
    expect(s.Maven?.records).toBe(1);
    // Sources are kept per ecosystem base (importOsv's counts), so Debian:9's record counts under Debian.
    expect(Object.keys(s).sort()).toEqual(['Debian', 'Maven', 'npm']);
    expect(s.Debian?.records).toBe(1);
  });

  it('imports the same folder again as unchanged (exit 0), and a zip made here beside it', () => {
    const again = server.cli(['vulndb', 'import', FIXTURES]);
    expect(again.status, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/^npm: 0 added, 0 updated, 1 unchanged,/m);
    const zip = join(dir, 'npm-cli.zip');
    writeFileSync(
      zip,
      makeZip('npm-cli-src.zip', [
        { name: 'GHSA-test-cli1-0001.json', text: renamed('GHSA-35jh-r3h4-6jhm.json', 'GHSA-test-cli1-0001', '2025-01-01T00:00:00Z') },
      ]),
    );
    const r = server.cli(['vulndb', 'import', zip]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^npm: 1 added, 0 updated, 0 unchanged, 0 withdrawn, 0 skipped$/m);
  });

  it('exits 1 naming a source it refused (not a zip), and one that does not exist', () => {
    const bad = join(dir, 'broken.zip');
    writeFileSync(bad, 'this is no zip');
    const missing = join(dir, 'nowhere');
    const r = server.cli(['vulndb', 'import', bad, missing]);
    expect(r.status).toBe(1);
    expect(r.stdout).toContain(`problem: ${bad}: refused, nothing imported`);
    expect(r.stderr).toContain(bad);
    expect(r.stderr).toContain(missing);
  });

  it('answers usage for a missing subcommand or source', () => {
    expect(server.cli(['vulndb']).status).not.toBe(0);
    expect(server.cli(['vulndb', 'import']).stderr).toContain('usage: codehub-build vulndb import');
  });
});

describe('the API', () => {
  it('GET /api/vulndb asks for a token (401 without), and lists each ecosystem to any signed-in caller', async () => {
    expect((await fetch(`${server.url}/api/vulndb`)).status).toBe(401);
    const s = await sources(reader);
    expect(s.npm?.records).toBe(2);
    expect(s.npm?.newest_modified).toMatch(/^2025-01-01T00:00:00/);
    expect(Date.parse(s.npm!.imported_at)).not.toBeNaN();
  });

  it('POST /api/vulndb/imports of a zip, as admin, adds its records and answers the counts', async () => {
    const zip = makeZip('npm-api.zip', [
      { name: 'a/GHSA-test-api1-0001.json', text: renamed('GHSA-35jh-r3h4-6jhm.json', 'GHSA-test-api1-0001', '2025-02-01T00:00:00Z') },
      { name: 'a/GHSA-test-api1-0002.json', text: renamed('GHSA-35jh-r3h4-6jhm.json', 'GHSA-test-api1-0002', '2025-02-02T00:00:00Z') },
      { name: 'a/broken.json', text: '{"id": "X-1"}' },
    ]);
    const r = await upload(zip, admin);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.ecosystems.npm).toMatchObject({ added: 2, updated: 0, unchanged: 0, withdrawn: 0 });
    expect(r.body.problems.some((p: string) => p.startsWith('the body') && p.includes('broken.json'))).toBe(true);
    // The temp file's path under the data dir never reaches the caller, and the temp folder is gone.
    expect(JSON.stringify(r.body)).not.toContain(server.dataDir);
    expect(readdirSync(server.dataDir).filter((f) => f.startsWith('.vulndb-import-'))).toEqual([]);
    const s = await sources();
    expect(s.npm?.records).toBe(4);
    expect(s.npm?.newest_modified).toMatch(/^2025-02-02T00:00:00/);
  });

  it('POST of one OSV JSON record imports it', async () => {
    const r = await upload(renamed('GHSA-35jh-r3h4-6jhm.json', 'GHSA-test-api2-0001', '2025-03-01T00:00:00Z'), admin);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.ecosystems.npm.added).toBe(1);
    expect((await sources()).npm?.records).toBe(5);
  });

  it('refuses a caller without the admin scope (403) and one without a token (401), importing nothing', async () => {
    const zip = makeZip('npm-denied.zip', [
      { name: 'GHSA-test-deny-0001.json', text: renamed('GHSA-35jh-r3h4-6jhm.json', 'GHSA-test-deny-0001', '2025-04-01T00:00:00Z') },
    ]);
    const forbidden = await upload(zip, reader);
    expect(forbidden.status).toBe(403);
    expect(forbidden.body.error.message).toContain('admin');
    expect((await upload(zip)).status).toBe(401);
    expect((await sources()).npm?.records).toBe(5);
  });

  it('refuses a broken zip with 400 and its reason, and loses nothing already stored', async () => {
    const before = await sources();
    const good = makeZip('npm-cut.zip', [
      { name: 'GHSA-test-cut1-0001.json', text: renamed('GHSA-35jh-r3h4-6jhm.json', 'GHSA-test-cut1-0001', '2025-05-01T00:00:00Z') },
    ]);
    // Cut short: the local header is there (so it is a zip), the central directory is not.
    const r = await upload(good.subarray(0, good.length - 30), admin);
    expect(r.status).toBe(400);
    expect(r.body.error.message).toMatch(/^the body: refused, nothing imported from it: .*central directory/);
    expect(await sources()).toEqual(before);
  });

  it('refuses a declared Content-Length over the limit (2 GiB) with 413 before reading the body', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(`${server.url}/api/vulndb/imports`, {
        method: 'POST',
        headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/octet-stream', 'content-length': String(3 * 1024 ** 3) },
      });
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
        req.destroy();
      });
      req.on('error', reject);
      req.write('PK');
    });
    expect(status).toBe(413);
  });
});
