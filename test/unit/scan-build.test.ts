/**
 * The scan a build runs (src/scan/scan-build.ts), the gate around it (src/builds/scan-gate.ts) and the re-match
 * after an import (src/scan/rematch.ts), over a registry of this process (FakeRegistry, which counts blob GETs), the
 * real SQLite store and the real OSV fixtures.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FakeRegistry, layer } from '../helpers/scan-images.js';
import { gateRefs, gateVerdict } from '../../src/builds/scan-gate.js';
import type { ImageConfig } from '../../src/config/types.js';
import { RegistryClient } from '../../src/registry/client.js';
import { effectivePolicy } from '../../src/scan/policy.js';
import { rematchAll } from '../../src/scan/rematch.js';
import { reportFindings } from '../../src/scan/report.js';
import { scanPushed } from '../../src/scan/scan-build.js';
import { importOsv } from '../../src/scan/vulndb.js';
import { openDb } from '../../src/store/db.js';
import { InventoryStore } from '../../src/store/inventory.js';
import type { Build } from '../../src/store/schema.js';
import { Store } from '../../src/store/store.js';

const FIX = (p: string) => readFileSync(fileURLToPath(new URL(`../fixtures/${p}`, import.meta.url)));
const STATUS = FIX('packages/dpkg/status').toString('utf8');
const VULNERABLE_STATUS = Buffer.from(STATUS.replace('Version: 2.5.0-1+deb12u1', 'Version: 2.5.0-1'));
const DEBIAN_12 = FIX('packages/os-release/debian-12');
/** lodash's real package.json (4.18.1, test/fixtures/packages/README.md) at an earlier version, changed here. */
const lodashAt = (v: string) => Buffer.from(JSON.stringify({ ...JSON.parse(FIX('packages/npm/lodash-package.json').toString('utf8')), version: v }));

const reg = new FakeRegistry();
let client: RegistryClient;
let dir: string;
let store: Store;
const lines: string[] = [];

beforeAll(async () => {
  await new Promise<void>((r) => reg.server.listen(0, '127.0.0.1', r));
  client = new RegistryClient(`127.0.0.1:${(reg.server.address() as AddressInfo).port}`);
});
afterAll(() => reg.server.close());
beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'chb-scanbuild-'));
  store = new Store(openDb(join(dir, 'codehub.db')));
  const osv = join(dir, 'osv');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(osv);
  writeFileSync(join(osv, 'GHSA-35jh-r3h4-6jhm.json'), FIX('osv/GHSA-35jh-r3h4-6jhm.json'));
  writeFileSync(join(osv, 'DSA-5770-1.json'), JSON.stringify((JSON.parse(FIX('osv/DSA-5770-1.bodega.json').toString('utf8')) as unknown[])[0]));
  await importOsv(store, [osv]);
  lines.length = 0;
});
afterEach(() => {
  store.db.$client.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A two-layer image: a base with os-release, and an app layer with dpkg's status and lodash. */
async function vulnerableImage(repo: string, tag: string, lodash = '4.17.20', status = VULNERABLE_STATUS) {
  const base = await layer([{ name: 'etc/os-release', body: DEBIAN_12 }]);
  const app = await layer([
    { name: 'var/lib/dpkg/status', body: status },
    { name: 'app/node_modules/lodash/package.json', body: lodashAt(lodash) },
  ]);
  return reg.image(repo, tag, [base, app]);
}

/** Scans `img` as a build without a policy would. */
const scanPlain = (img: { digest: string }) =>
  scanPushed({ store, client }, { repository: 'alice/shop', digest: img.digest, policy: policy(undefined), vex: [], vexProblems: [], onLine: () => {} });

/** Records `img`'s manifest in the registry inventory, as the build or the reconcile does: the image is kept. */
const keep = (img: { digest: string }): void =>
  new InventoryStore(store.db).addManifest(
    { repository: 'alice/shop', digest: img.digest, mediaType: 'application/vnd.oci.image.manifest.v1+json', children: [], tombstone: false },
    [],
  );

const policy = (yaml: Partial<NonNullable<ImageConfig['scan']>> | undefined, server: 'high' | 'none' = 'none') =>
  effectivePolicy(yaml && { ignoreUnfixed: false, allow: [], vex: [], ...yaml }, server);

describe('scanPushed', () => {
  it('finds lodash and expat in the layer that brought them, stores the findings, and fails at fail_on high', async () => {
    const img = await vulnerableImage('alice/shop', 'v1');
    const scan = await scanPushed(
      { store, client },
      { repository: 'alice/shop', digest: img.digest, policy: policy({ failOn: 'high' }), vex: [], vexProblems: [], onLine: (l) => lines.push(l) },
    );
    expect(scan).toMatchObject({ status: 'failed', counts: { critical: 0, high: 1, medium: 0, low: 0, unknown: 1 }, fixable: 2, fail_on: 'high', packages: 9 });
    expect(scan.blocking).toEqual(['CVE-2021-23337 (GHSA-35jh-r3h4-6jhm) in lodash 4.17.20: high, fixed in 4.17.21']);
    expect(scan.layers_read).toBe(2);
    expect(lines.some((l) => l.startsWith('scan: 9 packages in 2 layers (2 read, 0 known); 2 vulnerabilities: 0 critical, 1 high'))).toBe(true);
    const rows = store.findings.findings(img.digest);
    expect(rows.map((r) => r.key).sort()).toEqual(['DSA-5770-1|Debian:12|expat|2.5.0-1', 'GHSA-35jh-r3h4-6jhm|npm|lodash|4.17.20']);
    const reported = reportFindings(store, img.digest, scan, new Date());
    expect(reported.map((f) => [f.id, f.layer, f.blocking])).toEqual([
      ['GHSA-35jh-r3h4-6jhm', img.layers[1], true],
      ['DSA-5770-1', img.layers[1], false],
    ]);
  });

  it('a second image on the same base reads only its new layer; a finding scanned again keeps its first time', async () => {
    const one = await vulnerableImage('alice/shop', 'v1');
    await scanPlain(one);
    const first = store.findings.findings(one.digest);
    const two = await vulnerableImage('alice/shop', 'v2', '4.17.19');
    const getsBase = reg.gets(two.layers[0]!);
    const scan = await scanPlain(two);
    expect(scan).toMatchObject({ status: 'passed', layers_read: 1, layers_cached: 1 });
    expect(reg.gets(two.layers[0]!)).toBe(getsBase);
    await scanPlain(one);
    expect(store.findings.findings(one.digest)).toEqual(first);
  });

  it('an image the registry does not have is an error with the reason; with a policy the gate stays shut, without one it opens', async () => {
    const missing = `sha256:${'0'.repeat(64)}`;
    const p = policy({ failOn: 'high' });
    const scan = await scanPushed({ store, client }, { repository: 'alice/shop', digest: missing, policy: p, vex: [], vexProblems: [], onLine: () => {} });
    expect(scan.status).toBe('error');
    expect(scan.reason).toBe(`the image could not be read from the registry: alice/shop:${missing} has no manifest`);
    const shut = gateVerdict(scan, p);
    expect(shut).toEqual({ release: false, problem: expect.stringContaining('the image could not be scanned') });
    expect(gateVerdict({ ...scan, fail_on: 'none' }, policy(undefined))).toEqual({ release: true });
  });
});

describe('gateRefs', () => {
  const b = {
    id: 12,
    source: 'push',
    ref: 'refs/heads/main',
    commitSha: 'a'.repeat(40),
    imageRefs: ['reg:5000/alice/shop:main', `reg:5000/alice/shop:${'a'.repeat(40)}`, 'reg:5000/alice/shop:latest'],
  } as unknown as Build;
  const image = { tags: ['{branch}', '{sha}'] } as ImageConfig;

  it('with a policy that can block, holds the commit tags and keeps the branch and latest back', () => {
    expect(gateRefs(b, image, policy({ failOn: 'high' }))).toEqual({
      held: [`reg:5000/alice/shop:${'a'.repeat(40)}`],
      moving: ['reg:5000/alice/shop:main', 'reg:5000/alice/shop:latest'],
    });
  });
  it('without one (fail_on none), every tag is pushed at once', () => {
    expect(gateRefs(b, image, policy(undefined, 'none'))).toEqual({ held: b.imageRefs, moving: [] });
  });
  it('an image whose templates name no commit is held under its {sha} while it is judged', () => {
    const only = { ...b, imageRefs: ['reg:5000/alice/shop:main'] } as Build;
    expect(gateRefs(only, { tags: ['{branch}'] } as ImageConfig, policy(undefined, 'high'))).toEqual({
      held: [`reg:5000/alice/shop:${'a'.repeat(40)}`],
      moving: ['reg:5000/alice/shop:main'],
    });
  });
});

describe('rematchAll', () => {
  it('after an import, matches kept images again from the store: the new record found, first seen now, no blob read', async () => {
    const img = await vulnerableImage('alice/shop', 'v1');
    await scanPlain(img);
    // Kept: the registry inventory has its manifest (the reconcile or the build recorded it).
    keep(img);
    const gets = img.layers.map((d) => reg.gets(d));
    const record = { ...JSON.parse(FIX('osv/GHSA-35jh-r3h4-6jhm.json').toString('utf8')), id: 'GHSA-test-0001', modified: '2026-12-01T00:00:00Z' };
    writeFileSync(join(dir, 'new.json'), JSON.stringify(record));
    await importOsv(store, [join(dir, 'new.json')]);
    const at = new Date('2030-01-02T03:04:05.000Z');
    const r = await rematchAll(store, at);
    expect(r).toMatchObject({ images: 1, added: 1, removed: 0, skipped: [] });
    const rows = store.findings.findings(img.digest);
    expect(rows.find((f) => f.key.startsWith('GHSA-test-0001|'))?.firstSeen).toBe(at.toISOString());
    expect(rows.find((f) => f.key.startsWith('GHSA-35jh-r3h4-6jhm|'))?.firstSeen).not.toBe(at.toISOString());
    expect(img.layers.map((d) => reg.gets(d))).toEqual(gets);
    // What is new since then, with the build that pushed it: none, as no build names the digest here.
    expect(store.findings.newSince(at.toISOString())).toEqual([]);
  });

  it('an image gc removed (no manifest in the registry inventory) is not matched again', async () => {
    const img = await vulnerableImage('alice/shop', 'v1');
    await scanPlain(img);
    expect((await rematchAll(store)).images).toBe(0);
  });

  it('an image whose layer row is gone is named, and keeps its findings', async () => {
    const img = await vulnerableImage('alice/shop', 'v1');
    await scanPlain(img);
    keep(img);
    store.db.$client.prepare('DELETE FROM layer_inventories WHERE digest = ?').run(img.layers[1]);
    const r = await rematchAll(store);
    expect(r.images).toBe(0);
    expect(r.skipped).toEqual([`${img.digest}: its stored inventory is incomplete (a layer's row is gone); the next build of it scans it again`]);
    expect(store.findings.findings(img.digest)).toHaveLength(2);
  });
});

describe('forgetting the scans of removed images (gc)', () => {
  const count = (table: string) => (store.db.$client.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;

  it('forgets an image the registry no longer holds, and the layers only it listed; a kept image sharing the base keeps it', async () => {
    const kept = await vulnerableImage('alice/shop', 'v1');
    const gone = await vulnerableImage('alice/shop', 'v2', '4.17.19');
    for (const img of [kept, gone]) await scanPlain(img);
    keep(kept);
    expect(count('layer_inventories')).toBe(3); // the shared base and each image's own layer
    // Within the grace (rows written after `before`): nothing goes, whatever the inventory says.
    expect(store.findings.forgetUnkept('2000-01-01T00:00:00.000Z')).toEqual({ images: 0, layers: 0 });
    const later = new Date(Date.now() + 60_000).toISOString();
    expect(store.findings.forgetUnkept(later)).toEqual({ images: 1, layers: 1 });
    expect(store.findings.scansOf(gone.digest)).toEqual([]);
    expect(store.findings.findings(gone.digest)).toEqual([]);
    expect(store.layerInventories.layer(gone.layers[1]!)).toBeUndefined();
    // The kept image is whole: its findings, its manifest's inventory and both its layers.
    expect(store.findings.findings(kept.digest)).toHaveLength(2);
    expect(store.layerInventories.layer(kept.layers[0]!)).toBeDefined();
    expect(store.layerInventories.layer(kept.layers[1]!)).toBeDefined();
    expect((await rematchAll(store)).images).toBe(1);
  });
});

describe('FindingsStore.replace', () => {
  it('inserts new keys first seen now, rewrites a changed one keeping its first time, leaves the same one, drops the gone', () => {
    const d = `sha256:${'1'.repeat(64)}`;
    const m = `sha256:${'2'.repeat(64)}`;
    expect(
      store.findings.replace(
        d,
        'linux/amd64',
        m,
        [
          { key: 'a', finding: '{"v":1}' },
          { key: 'b', finding: '{"v":1}' },
        ],
        '2030-01-01T00:00:00.000Z',
      ),
    ).toEqual({ added: ['a', 'b'], removed: [] });
    const change = store.findings.replace(
      d,
      'linux/amd64',
      m,
      [
        { key: 'a', finding: '{"v":2}' },
        { key: 'c', finding: '{"v":1}' },
      ],
      '2030-02-01T00:00:00.000Z',
    );
    expect(change).toEqual({ added: ['c'], removed: ['b'] });
    expect(store.findings.findings(d)).toEqual([
      { platform: 'linux/amd64', key: 'a', finding: '{"v":2}', firstSeen: '2030-01-01T00:00:00.000Z' },
      { platform: 'linux/amd64', key: 'c', finding: '{"v":1}', firstSeen: '2030-02-01T00:00:00.000Z' },
    ]);
    expect(store.findings.scansOf(d)).toEqual([{ platform: 'linux/amd64', manifest: m, matchedAt: expect.any(String) }]);
    // Another platform's findings of the same image are its own: replacing them leaves linux/amd64's as they are.
    expect(store.findings.replace(d, 'linux/arm64', m, [{ key: 'a', finding: '{"v":3}' }], '2030-03-01T00:00:00.000Z')).toEqual({ added: ['a'], removed: [] });
    expect(store.findings.findings(d).map((r) => [r.platform, r.key, r.finding])).toEqual([
      ['linux/amd64', 'a', '{"v":2}'],
      ['linux/amd64', 'c', '{"v":1}'],
      ['linux/arm64', 'a', '{"v":3}'],
    ]);
  });
});
