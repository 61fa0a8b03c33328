/**
 * Scanning a multi-platform image (issue 29): an index of linux/amd64 and linux/arm64 images whose app layers differ
 * and whose base layer is shared, plus buildx's attestation manifest. Over a registry of this process (FakeRegistry,
 * which counts blob GETs), the real SQLite store, the real OSV fixtures and the HTTP routes of the whole app.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { memoryApp } from '../helpers/memory-app.js';
import { FakeRegistry, layer } from '../helpers/scan-images.js';
import type { VulnerabilitiesAnswer } from '../../src/api/answers.js';
import { gateVerdict } from '../../src/builds/scan-gate.js';
import { RegistryClient } from '../../src/registry/client.js';
import { effectivePolicy } from '../../src/scan/policy.js';
import { rematchAll } from '../../src/scan/rematch.js';
import { reportFindings } from '../../src/scan/report.js';
import type { CycloneDxBom } from '../../src/scan/sbom-cyclonedx.js';
import { imageSbom } from '../../src/scan/sbom-report.js';
import { type BuildScan, scanPushed } from '../../src/scan/scan-build.js';
import { importOsv } from '../../src/scan/vulndb.js';
import { InventoryStore } from '../../src/store/inventory.js';

const FIX = (p: string) => readFileSync(fileURLToPath(new URL(`../fixtures/${p}`, import.meta.url)));
const STATUS = FIX('packages/dpkg/status').toString('utf8');
/** expat 2.5.0-1: DSA-5770-1's, a finding of unknown severity (never blocks at fail_on high). */
const VULNERABLE_STATUS = Buffer.from(STATUS.replace('Version: 2.5.0-1+deb12u1', 'Version: 2.5.0-1'));
const DEBIAN_12 = FIX('packages/os-release/debian-12');
const lodashAt = (v: string) => Buffer.from(JSON.stringify({ ...JSON.parse(FIX('packages/npm/lodash-package.json').toString('utf8')), version: v }));
const BLOCKING_ARM = 'linux/arm64: CVE-2021-23337 (GHSA-35jh-r3h4-6jhm) in lodash 4.17.20: high, fixed in 4.17.21';

const reg = new FakeRegistry();
let client: RegistryClient;
let dir: string;
let m: ReturnType<typeof memoryApp>;
const lines: string[] = [];

beforeAll(async () => {
  await new Promise<void>((r) => reg.server.listen(0, '127.0.0.1', r));
  client = new RegistryClient(`127.0.0.1:${(reg.server.address() as AddressInfo).port}`);
});
afterAll(() => reg.server.close());
beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'chb-scanplat-'));
  m = memoryApp();
  const osv = join(dir, 'osv');
  mkdirSync(osv);
  writeFileSync(join(osv, 'GHSA-35jh-r3h4-6jhm.json'), FIX('osv/GHSA-35jh-r3h4-6jhm.json'));
  writeFileSync(join(osv, 'DSA-5770-1.json'), JSON.stringify((JSON.parse(FIX('osv/DSA-5770-1.bodega.json').toString('utf8')) as unknown[])[0]));
  await importOsv(m.store, [osv]);
  lines.length = 0;
});
afterEach(() => {
  m.store.db.$client.close();
  rmSync(dir, { recursive: true, force: true });
});

const policy = (failOn: 'high' | 'none') => effectivePolicy({ failOn, ignoreUnfixed: false, allow: [], vex: [] }, 'none');
const scan = (digest: string, failOn: 'high' | 'none' = 'high') =>
  scanPushed({ store: m.store, client }, { repository: 'alice/shop', digest, policy: policy(failOn), vex: [], vexProblems: [], onLine: (l) => lines.push(l) });

/**
 * An index under `tag`: both platforms on one base layer (os-release) with expat 2.5.0-1 in their app layer; lodash
 * 4.17.21 (fixed) in amd64's, 4.17.20 (GHSA-35jh-r3h4-6jhm, high) in arm64's; and an attestation manifest.
 */
async function twoPlatforms(tag: string) {
  const base = await layer([{ name: 'etc/os-release', body: DEBIAN_12 }]);
  const app = async (lodash: string) =>
    layer([
      { name: 'var/lib/dpkg/status', body: VULNERABLE_STATUS },
      { name: 'app/node_modules/lodash/package.json', body: lodashAt(lodash) },
    ]);
  const amd = reg.image('alice/shop', `${tag}-amd64`, [base, await app('4.17.21')]);
  const arm = reg.image('alice/shop', `${tag}-arm64`, [base, await app('4.17.20')], [], { architecture: 'arm64', os: 'linux', variant: 'v8' });
  const att = reg.image('alice/shop', `${tag}-att`, [await layer([{ name: 'attestation.json', body: Buffer.from('{}') }])], [], {});
  const digest = reg.index('alice/shop', tag, [
    { digest: amd.digest, platform: { os: 'linux', architecture: 'amd64' } },
    { digest: arm.digest, platform: { os: 'linux', architecture: 'arm64' } },
    { digest: att.digest, platform: { os: 'unknown', architecture: 'unknown' } },
  ]);
  return { digest, amd, arm, att, base: amd.layers[0]! };
}

/** A build of alice/shop that pushed `digest`, with `s` as its scan. */
function buildOf(digest: string, s: BuildScan): number {
  const [b] = m.addBuilds('alice', 'shop', [`${digest.slice(7, 47)}`]);
  m.store.db.$client
    .prepare('UPDATE builds SET digest = ?, image_refs = ? WHERE id = ?')
    .run(digest, JSON.stringify([`reg:5000/alice/shop:${digest.slice(7, 47)}`]), b!.id);
  m.store.builds.setScan(b!.id, s as unknown as Record<string, unknown>);
  return b!.id;
}

describe('scanning an index of linux/amd64 and linux/arm64', () => {
  it('inventories both platform images, the shared base layer read once and the attestation never; findings per platform', async () => {
    const img = await twoPlatforms('multi');
    const s = await scan(img.digest);
    expect(reg.gets(img.base)).toBe(1);
    expect(reg.gets(img.amd.layers[1]!)).toBe(1);
    expect(reg.gets(img.arm.layers[1]!)).toBe(1);
    expect(reg.gets(img.att.layers[0]!)).toBe(0);
    expect(s.platforms).toEqual([
      { platform: 'linux/amd64', manifest: img.amd.digest, packages: 9 },
      { platform: 'linux/arm64', manifest: img.arm.digest, packages: 9 },
    ]);
    expect(s).toMatchObject({ packages: 18, layers_read: 3, layers_cached: 1, manifest: img.amd.digest });
    expect(lines).toContain('scan: linux/amd64: 9 packages in 2 layers (2 read, 0 known)');
    expect(lines).toContain('scan: linux/arm64: 9 packages in 2 layers (1 read, 1 known)');
    expect(lines.some((l) => l.startsWith('scan: linux/arm64: read layer 2 of 2'))).toBe(true);
    expect(lines.some((l) => l.startsWith('scan: linux/arm64: read layer 1 of 2'))).toBe(false);

    const rows = m.store.findings.findings(img.digest).map((r) => `${r.platform} ${r.key}`);
    expect(rows).toEqual([
      'linux/amd64 DSA-5770-1|Debian:12|expat|2.5.0-1',
      'linux/arm64 DSA-5770-1|Debian:12|expat|2.5.0-1',
      'linux/arm64 GHSA-35jh-r3h4-6jhm|npm|lodash|4.17.20',
    ]);
    expect(m.store.findings.scansOf(img.digest).map((r) => [r.platform, r.manifest])).toEqual([
      ['linux/amd64', img.amd.digest],
      ['linux/arm64', img.arm.digest],
    ]);
    const reported = reportFindings(m.store, img.digest, s, new Date());
    expect(reported.map((f) => [f.platform, f.id, f.blocking])).toEqual([
      ['linux/arm64', 'GHSA-35jh-r3h4-6jhm', true],
      ['linux/amd64', 'DSA-5770-1', false],
      ['linux/arm64', 'DSA-5770-1', false],
    ]);
  });

  it('blocks on a finding of linux/arm64 alone, naming the platform; expat in both platforms counts once per platform', async () => {
    const img = await twoPlatforms('gate');
    const s = await scan(img.digest);
    expect(s.status).toBe('failed');
    expect(s.blocking).toEqual([BLOCKING_ARM]);
    // expat 2.5.0-1 is in both platform images: two findings, two images to fix; the counts match the rows listed.
    expect(s.counts).toEqual({ critical: 0, high: 1, medium: 0, low: 0, unknown: 2 });
    expect(s.fixable).toBe(3);
    expect(lines).toContain(`scan: blocks: ${BLOCKING_ARM}`);
    expect(lines.some((l) => l.startsWith('scan: 18 packages in 4 layers of 2 platforms (3 read, 1 known); 3 vulnerabilities'))).toBe(true);
    const shut = gateVerdict(s, policy('high'));
    expect(shut).toEqual({ release: false, problem: `1 finding at or above high blocks the image: ${BLOCKING_ARM}` });
  });

  it('an index of amd64 alone that is clean passes; the same findings under fail_on none pass', async () => {
    const img = await twoPlatforms('nopolicy');
    expect((await scan(img.digest, 'none')).status).toBe('passed');
    const base = await layer([{ name: 'etc/os-release', body: DEBIAN_12 }]);
    const clean = reg.image('alice/shop', 'clean-amd64', [base, await layer([{ name: 'app/node_modules/lodash/package.json', body: lodashAt('4.17.21') }])]);
    const digest = reg.index('alice/shop', 'clean', [{ digest: clean.digest, platform: { os: 'linux', architecture: 'amd64' } }]);
    const s = await scan(digest);
    expect(s).toMatchObject({ status: 'passed', blocking: [], platforms: [{ platform: 'linux/amd64', manifest: clean.digest, packages: 1 }] });
  });

  it('matches every platform again after an import, each from its own stored inventory', async () => {
    const img = await twoPlatforms('rematch');
    await scan(img.digest);
    const before = m.store.findings.findings(img.digest);
    new InventoryStore(m.store.db).addManifest(
      {
        repository: 'alice/shop',
        digest: img.digest,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        children: [img.amd.digest, img.arm.digest],
        tombstone: false,
      },
      [],
    );
    // arm64's findings lost (as if its records came in a later import): a re-match brings them back, amd64's kept.
    m.store.findings.replace(img.digest, 'linux/arm64', img.arm.digest, [], '2000-01-01T00:00:00.000Z');
    const gets = reg.gets(img.arm.layers[1]!);
    const r = await rematchAll(m.store);
    expect(r).toMatchObject({ images: 2, added: 2, removed: 0, skipped: [] });
    expect(reg.gets(img.arm.layers[1]!)).toBe(gets);
    const after = m.store.findings.findings(img.digest);
    expect(after.map((f) => [f.platform, f.key, f.finding])).toEqual(before.map((f) => [f.platform, f.key, f.finding]));
    expect(after.find((f) => f.platform === 'linux/amd64')?.firstSeen).toBe(before.find((f) => f.platform === 'linux/amd64')?.firstSeen);
  });

  it('writes an SBOM per platform, with the platform as the purl arch', async () => {
    const img = await twoPlatforms('sbom');
    await scan(img.digest);
    const meta = { name: 'reg:5000/alice/shop', tags: ['sbom'], created: new Date('2030-01-01T00:00:00Z'), version: 'test' };
    const lodash = (b: CycloneDxBom) => b.components?.find((c) => c.name === 'lodash')?.version;
    const arm = imageSbom(m.store, img.digest, 'cyclonedx', { ...meta, platform: 'linux/arm64' }) as CycloneDxBom;
    expect(arm.metadata?.component?.purl).toContain('?arch=arm64&');
    expect(lodash(arm)).toBe('4.17.20');
    const dflt = imageSbom(m.store, img.digest, 'cyclonedx', meta) as CycloneDxBom;
    expect(dflt.metadata?.component?.purl).toContain('?arch=amd64&');
    expect(lodash(dflt)).toBe('4.17.21');
    expect(imageSbom(m.store, img.digest, 'cyclonedx', { ...meta, platform: 'linux/s390x' })).toBeNull();
  });
});

describe('the scan routes over a two-platform build', () => {
  it("gives each finding's platform, an SBOM per ?platform=, and a 400 naming the build's platforms for another", async () => {
    const token = m.addUser('alice');
    const img = await twoPlatforms('api');
    const id = buildOf(img.digest, await scan(img.digest));
    const get = (path: string) => m.app.request(path, { headers: { authorization: `Bearer ${token}` } });

    const v = (await (await get(`/api/builds/${id}/vulnerabilities`)).json()) as VulnerabilitiesAnswer;
    expect(v.findings.map((f) => [f.platform, f.id, f.blocking])).toEqual([
      ['linux/arm64', 'GHSA-35jh-r3h4-6jhm', true],
      ['linux/amd64', 'DSA-5770-1', false],
      ['linux/arm64', 'DSA-5770-1', false],
    ]);
    expect(v.scan).toMatchObject({ status: 'failed', blocking: [BLOCKING_ARM], platforms: ['linux/amd64', 'linux/arm64'] });

    const arm = await get(`/api/builds/${id}/sbom?platform=linux/arm64`);
    expect(arm.status).toBe(200);
    expect(arm.headers.get('content-disposition')).toBe(`attachment; filename="build-${id}-linux-arm64.cdx.json"`);
    const armBom = (await arm.json()) as CycloneDxBom;
    expect(armBom.metadata?.component?.purl).toContain('?arch=arm64&');
    expect(armBom.components?.find((c) => c.name === 'lodash')?.version).toBe('4.17.20');
    const dflt = (await (await get(`/api/builds/${id}/sbom?format=spdx`)).json()) as { packages: { name: string; versionInfo?: string }[] };
    expect(dflt.packages.find((p) => p.name === 'lodash')?.versionInfo).toBe('4.17.21');

    const other = await get(`/api/builds/${id}/sbom?platform=linux/s390x`);
    expect(other.status).toBe(400);
    expect(((await other.json()) as { error: { message: string } }).error.message).toBe(
      `build #${id}'s image has no linux/s390x image: its platforms are linux/amd64, linux/arm64`,
    );
    const malformed = await get(`/api/builds/${id}/sbom?platform=linux/aarch64`);
    expect(malformed.status).toBe(400);
    expect(((await malformed.json()) as { error: { message: string } }).error.message).toContain('platform: "linux/aarch64": write linux/arm64');
  });
});

describe('a single-platform image', () => {
  it('is scanned as before; its findings take the platform its config names', async () => {
    const base = await layer([{ name: 'etc/os-release', body: DEBIAN_12 }]);
    const app = await layer([{ name: 'app/node_modules/lodash/package.json', body: lodashAt('4.17.20') }]);
    const arm = reg.image('alice/shop', 'single-arm', [base, app], [], { architecture: 'arm64', os: 'linux' });
    const s = await scan(arm.digest);
    // No platform before the blocking line: there is one image.
    expect(s.blocking).toEqual(['CVE-2021-23337 (GHSA-35jh-r3h4-6jhm) in lodash 4.17.20: high, fixed in 4.17.21']);
    expect(s).toMatchObject({ manifest: arm.digest, platforms: [{ platform: 'linux/arm64', manifest: arm.digest, packages: 1 }], problems: [] });
    expect(lines.some((l) => l.startsWith('scan: 1 packages in 2 layers (2 read, 0 known); 1 vulnerability'))).toBe(true);
    expect(lines.some((l) => /^scan: linux\//.test(l))).toBe(false);
    expect(m.store.findings.findings(arm.digest).map((r) => r.platform)).toEqual(['linux/arm64']);
    const id = buildOf(arm.digest, s);
    const token = m.addUser('alice');
    const res = await m.app.request(`/api/builds/${id}/sbom`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.headers.get('content-disposition')).toBe(`attachment; filename="build-${id}.cdx.json"`);
    expect(((await res.json()) as CycloneDxBom).metadata?.component?.purl).toContain('?arch=arm64&');
  });

  it('whose config names no platform is linux/amd64, and says so', async () => {
    const bare = reg.image('alice/shop', 'bare', [await layer([{ name: 'app/node_modules/lodash/package.json', body: lodashAt('4.17.21') }])], [], {});
    const s = await scan(bare.digest);
    expect(s.platforms).toEqual([{ platform: 'linux/amd64', manifest: bare.digest, packages: 1 }]);
    expect(s.problems).toEqual([`image config ${bare.config}: it names no os and architecture; the image is taken to be linux/amd64`]);
  });
});
