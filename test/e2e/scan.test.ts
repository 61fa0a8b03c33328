/**
 * Scanning through the real parts (issue 26): images built by BuildKit from a pushed commit, read back from the
 * real registry, matched against real OSV records imported with the CLI, judged by the repo's policy before the
 * branch tag moves; the API, the CLI, `git push -o wait` and the SBOMs; a second import re-matching without a
 * layer read (the registry's own access log counts the blob GETs).
 *
 * The image's package databases are real files: Debian 12's dpkg status and os-release (test/fixtures/packages;
 * the vulnerable image has libexpat1's earlier bookworm version, 2.5.0-1, written in place of 2.5.0-1+deb12u1, a
 * change made here in memory) and lodash's own package.json, fetched from the npm registry at the version named.
 */
import { Spec, Validation } from '@cyclonedx/cyclonedx-library';
import { execa } from 'execa';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkRepo } from '../helpers/git.js';
import { TestServer, uniqueName } from '../helpers/server.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));
const fixture = (path: string): string => readFileSync(join(FIXTURES, path), 'utf8');
const STACK_DIR = process.env.CODEHUB_STACK_DIR ?? '/var/lib/codehub-stack';
const dir = mkdtempSync(join(tmpdir(), 'chb-scan-'));

let server: TestServer;
let owner: string;
let token: string;
let repo: WorkRepo;
const lodash: Record<string, string> = {};

/** lodash's package.json as the npm registry publishes it at `version` (what `npm install lodash@version` writes). */
async function lodashPackageJson(version: string): Promise<string> {
  const packed = await execa('npm', ['pack', `lodash@${version}`, '--pack-destination', dir, '--silent'], { cwd: dir, reject: false, all: true });
  if (packed.exitCode !== 0) throw new Error(`npm pack lodash@${version} failed (the npm registry must be reachable): ${packed.all}`);
  const tgz = join(dir, packed.stdout.trim().split('\n').at(-1)!);
  return (await execa('tar', ['-xzOf', tgz, 'package/package.json'])).stdout;
}

const STATUS_FIXED = fixture('packages/dpkg/status');
const STATUS_VULNERABLE = STATUS_FIXED.replace('Version: 2.5.0-1+deb12u1', 'Version: 2.5.0-1');

/** The files of a commit: the image copies a Debian 12 root with dpkg's database and lodash at `lodashVersion`. */
function imageFiles(p: { lodashVersion: string; status: string; scan: string }): Record<string, string> {
  return {
    Dockerfile: `FROM localhost:5000/cache/busybox:latest\nCOPY rootfs/ /\n`,
    'codehub-build.yaml': `version: 1\nimages:\n  - name: shop\n    scan:\n${p.scan}`,
    'rootfs/etc/os-release': fixture('packages/os-release/debian-12'),
    'rootfs/var/lib/dpkg/status': p.status,
    'rootfs/app/node_modules/lodash/package.json': lodash[p.lodashVersion]!,
  };
}

async function pushWait(files: Record<string, string | null>): Promise<{ sha: string; output: string; build: any }> {
  const sha = await repo.commit(files, `scan ${Math.random()}`);
  const push = await repo.push(server.gitUrl(owner, token, owner, 'shop'), ['main'], ['wait']);
  const [build] = await server.waitForBuilds(sha, token);
  return { sha, output: push.output, build };
}

const tagDigest = (tag: string) => server.registryClient().digest(`${owner}/shop`, tag);

/** GETs of `digests`' blobs in this server's registry's access log (distribution logs each request it served). */
function blobGets(digests: string[]): number {
  const log = readFileSync(join(STACK_DIR, `registry-${server.registry.split(':')[1]}.log`), 'utf8');
  return log.split('\n').filter((l) => /"GET \/v2\/[^ ]+\/blobs\/sha256:[0-9a-f]{64} HTTP/.test(l) && digests.some((d) => l.includes(d))).length;
}

async function vulns(buildId: number): Promise<any> {
  const r = await server.api(`/api/builds/${buildId}/vulnerabilities`, token);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body;
}

beforeAll(async () => {
  server = await TestServer.start();
  owner = uniqueName('scanner');
  token = server.addUser(owner);
  for (const v of ['4.17.20', '4.17.21']) lodash[v] = await lodashPackageJson(v);
  // The real records: GHSA-35jh-r3h4-6jhm as published, DSA-5770-1 as its fixture holds it (element 0 of an array).
  const records = join(dir, 'osv');
  mkdirSync(records, { recursive: true });
  writeFileSync(join(records, 'GHSA-35jh-r3h4-6jhm.json'), fixture('osv/GHSA-35jh-r3h4-6jhm.json'));
  writeFileSync(join(records, 'DSA-5770-1.json'), JSON.stringify((JSON.parse(fixture('osv/DSA-5770-1.bodega.json')) as unknown[])[0]));
  const imported = server.cli(['vulndb', 'import', records]);
  expect(imported.status, imported.stdout + imported.stderr).toBe(0);
  repo = await WorkRepo.create({ 'README.md': 'shop\n' });
}, 120_000);
afterAll(async () => {
  await server?.stop();
});

describe('scanning every pushed image, and the gate before its tags move', () => {
  let passedDigest: string;
  let blockedBuild: any;

  it('an image with lodash 4.17.21 and the fixed libexpat1 is clean: scan passed, the branch tag moves', async () => {
    const { output, build } = await pushWait(imageFiles({ lodashVersion: '4.17.21', status: STATUS_FIXED, scan: '      fail_on: high\n' }));
    expect(build.status, build.reason).toBe('succeeded');
    expect(build.scan).toMatchObject({ status: 'passed', counts: { critical: 0, high: 0, medium: 0, low: 0, unknown: 0 }, fixable: 0, fail_on: 'high' });
    expect(build.scan.packages).toBe(9); // eight dpkg stanzas and lodash
    expect(build.scan.db_imported_at).toMatch(/^\d{4}-/);
    expect((await vulns(build.id)).findings).toEqual([]);
    expect(output).toMatch(/scan passed: 0 critical, 0 high, 0 medium, 0 low, 0 unknown; 0 fixable \(fail_on: high\)/);
    passedDigest = build.digest;
    expect(await tagDigest('main')).toBe(passedDigest);
  });

  it('lodash 4.17.20 and libexpat1 2.5.0-1 are found, with severity, fixed versions and layer; fail_on: high blocks and main stays', async () => {
    const { sha, output, build } = await pushWait(imageFiles({ lodashVersion: '4.17.20', status: STATUS_VULNERABLE, scan: '      fail_on: high\n' }));
    blockedBuild = build;
    expect(build.status).toBe('failed');
    expect(build.reason_code).toBe('vulnerabilities');
    expect(build.reason).toContain('CVE-2021-23337 (GHSA-35jh-r3h4-6jhm) in lodash 4.17.20: high, fixed in 4.17.21');
    expect(build.scan).toMatchObject({ status: 'failed', counts: { critical: 0, high: 1, medium: 0, low: 0, unknown: 1 }, fixable: 2 });
    // The image is pushed and kept under its commit; the branch tag stays on the last image that passed.
    expect(build.digest).toMatch(/^sha256:/);
    expect(await tagDigest(sha)).toBe(build.digest);
    expect(await tagDigest('main')).toBe(passedDigest);
    expect(output).toContain('blocks: CVE-2021-23337 (GHSA-35jh-r3h4-6jhm) in lodash 4.17.20: high, fixed in 4.17.21');
    expect(output).toMatch(/FAILED \(vulnerabilities\): its branch and release tags did not move/);

    const v = await vulns(build.id);
    expect(v.digest).toBe(build.digest);
    const byId = Object.fromEntries(v.findings.map((f: any) => [f.id, f]));
    expect(Object.keys(byId).sort()).toEqual(['DSA-5770-1', 'GHSA-35jh-r3h4-6jhm']);
    const gh = byId['GHSA-35jh-r3h4-6jhm'];
    expect(gh).toMatchObject({ package: 'lodash', ecosystem: 'npm', version: '4.17.20', fixed: ['4.17.21'], severity: 'high', blocking: true, allowed: null });
    expect(gh.aliases).toContain('CVE-2021-23337');
    expect(gh.score).toBeCloseTo(7.2, 1);
    expect(gh.installed).toEqual([{ name: 'lodash', version: '4.17.20', path: '/app/node_modules/lodash/package.json', purl: 'pkg:npm/lodash@4.17.20' }]);
    const dsa = byId['DSA-5770-1'];
    expect(dsa).toMatchObject({
      package: 'expat',
      ecosystem: 'Debian:12',
      version: '2.5.0-1',
      fixed: ['2.5.0-1+deb12u1'],
      severity: 'unknown',
      blocking: false,
    });
    expect(dsa.aliases).toEqual(expect.arrayContaining(['CVE-2024-45490', 'CVE-2024-45491', 'CVE-2024-45492']));
    expect(dsa.installed.map((p: any) => p.name)).toEqual(['libexpat1']);
    // Which layer brought them: the COPY, the image's last layer (busybox's is below it).
    const manifest = await imageManifest(build.digest);
    expect(gh.layer).toBe(manifest.layers.at(-1).digest);
    expect(dsa.layer).toBe(gh.layer);
    for (const f of v.findings) expect(f.first_seen).toMatch(/^\d{4}-\d\d-\d\dT/);

    // The CLI: the table, and exit 1 while a finding blocks.
    const cli = server.cli(['vulns', sha], { CODEHUB_TOKEN: token });
    expect(cli.status, cli.stderr).toBe(1);
    expect(cli.stdout).toMatch(/GHSA-35jh-r3h4-6jhm .*lodash\s+4\.17\.20\s+4\.17\.21\s+high 7\.2\s+-\s+yes/);
    expect(cli.stdout).toMatch(/DSA-5770-1 .*expat\s+2\.5\.0-1\s+2\.5\.0-1\+deb12u1\s+unknown\s+-\s+no/);

    // The build page lists them: id and aliases, package (and its binary), versions, severity, layer, verdict.
    const html = await page(`/builds/${build.id}`);
    expect(html).toMatch(/Scan <strong class="error">failed<\/strong>/);
    const row = (id: string) => new RegExp(`<tr data-id="${id}">(.*?)</tr>`, 's').exec(html)?.[1] ?? '';
    expect(row('GHSA-35jh-r3h4-6jhm')).toContain('CVE-2021-23337');
    expect(row('GHSA-35jh-r3h4-6jhm')).toContain('4.17.21');
    expect(row('GHSA-35jh-r3h4-6jhm')).toContain('<strong class="error">blocks</strong>');
    expect(row('GHSA-35jh-r3h4-6jhm')).toContain(gh.layer.slice(7, 19));
    expect(row('DSA-5770-1')).toContain('libexpat1');
    expect(row('DSA-5770-1')).toContain('below the policy');
  });

  it("the blocked image's SBOMs: CycloneDX 1.6 valid by its schema, SPDX 2.3, every package with its purl", async () => {
    const cdx = await fetch(`${server.url}/api/builds/${blockedBuild.id}/sbom?format=cyclonedx`, { headers: { authorization: `Bearer ${token}` } });
    expect(cdx.status).toBe(200);
    expect(cdx.headers.get('content-type')).toBe('application/vnd.cyclonedx+json');
    const text = await cdx.text();
    expect(await new Validation.JsonStrictValidator(Spec.Version.v1dot6).validate(text)).toBeNull();
    const bom = JSON.parse(text);
    const purls = bom.components.map((c: any) => c.purl);
    expect(purls).toContain('pkg:npm/lodash@4.17.20');
    expect(purls).toContain('pkg:deb/debian/libexpat1@2.5.0-1?arch=amd64&distro=debian-12');
    expect(bom.metadata.component.version).toBe(blockedBuild.digest);

    const spdx = (await server.api(`/api/builds/${blockedBuild.id}/sbom?format=spdx`, token)).body;
    expect(spdx.spdxVersion).toBe('SPDX-2.3');
    const locators = spdx.packages.flatMap((p: any) => (p.externalRefs ?? []).map((r: any) => r.referenceLocator));
    expect(locators).toEqual(expect.arrayContaining(['pkg:npm/lodash@4.17.20', 'pkg:deb/debian/libexpat1@2.5.0-1?arch=amd64&distro=debian-12']));
    // The CLI prints the same document.
    const cli = server.cli(['sbom', String(blockedBuild.id), '--format', 'spdx'], { CODEHUB_TOKEN: token });
    expect(cli.status, cli.stderr).toBe(0);
    expect(JSON.parse(cli.stdout).packages.length).toBe(spdx.packages.length);
    const bad = await server.api(`/api/builds/${blockedBuild.id}/sbom?format=xml`, token);
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain('format must be cyclonedx or spdx');
  });

  it('an allowance with a future until passes (and says why); one past its until blocks and says it expired', async () => {
    const allow = (until: string) =>
      `      fail_on: high\n      allow:\n        - { id: CVE-2021-23337, package: lodash, until: ${until}, reason: "template() is never called" }\n`;
    const ok = await pushWait(imageFiles({ lodashVersion: '4.17.20', status: STATUS_VULNERABLE, scan: allow('2099-12-31') }));
    expect(ok.build.status, ok.build.reason).toBe('succeeded');
    expect(ok.build.scan.status).toBe('passed');
    const gh = (await vulns(ok.build.id)).findings.find((f: any) => f.id === 'GHSA-35jh-r3h4-6jhm');
    expect(gh).toMatchObject({ blocking: false, allowed: { by: 'allowance', reason: 'template() is never called', until: '2099-12-31' } });
    expect(await tagDigest('main')).toBe(ok.build.digest);

    const expired = await pushWait(imageFiles({ lodashVersion: '4.17.20', status: STATUS_VULNERABLE, scan: allow('2020-01-31') }));
    expect(expired.build.status).toBe('failed');
    expect(expired.build.reason_code).toBe('vulnerabilities');
    expect(expired.build.scan.expired).toEqual([{ id: 'CVE-2021-23337', until: '2020-01-31', reason: 'template() is never called' }]);
    expect(expired.output).toContain('expired allowance: CVE-2021-23337 (until 2020-01-31)');
    expect(await tagDigest('main')).toBe(ok.build.digest);
  });

  it('an OpenVEX not_affected statement in the repo passes, its justification shown', async () => {
    const files = {
      ...imageFiles({ lodashVersion: '4.17.20', status: STATUS_VULNERABLE, scan: '      fail_on: high\n      vex: [security/openvex.json]\n' }),
      'security/openvex.json': fixture('vex/openvex.json'),
    };
    const { build } = await pushWait(files);
    expect(build.status, build.reason).toBe('succeeded');
    const gh = (await vulns(build.id)).findings.find((f: any) => f.id === 'GHSA-35jh-r3h4-6jhm');
    expect(gh.blocking).toBe(false);
    expect(gh.allowed.by).toBe('vex');
    expect(gh.allowed.reason).toContain('not_affected: vulnerable_code_not_in_execute_path');
  });

  it('a second import matches the kept images again from their inventories: a new finding, first seen now, no layer read', async () => {
    const before = await vulns(blockedBuild.id);
    const manifest = await imageManifest(blockedBuild.digest);
    const layers = manifest.layers.map((l: any) => l.digest as string);
    const gets = blobGets(layers);
    expect(gets).toBeGreaterThan(0); // the first scan read the new layer from this registry
    const record = { ...JSON.parse(fixture('osv/GHSA-35jh-r3h4-6jhm.json')), id: 'GHSA-test-rematch-0001', modified: '2026-12-01T00:00:00Z', aliases: [] };
    const file = join(dir, 'GHSA-test-rematch-0001.json');
    writeFileSync(file, JSON.stringify(record));
    const r = server.cli(['vulndb', 'import', file]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/matched \d+ kept images? again in [\d.]+s: [1-9]\d* new findings?, 0 gone/);

    const after = await vulns(blockedBuild.id);
    const added = after.findings.find((f: any) => f.id === 'GHSA-test-rematch-0001');
    expect(added).toMatchObject({ package: 'lodash', version: '4.17.20' });
    const firstBefore = Math.max(...before.findings.map((f: any) => Date.parse(f.first_seen)));
    expect(Date.parse(added.first_seen)).toBeGreaterThan(firstBefore);
    // The old findings keep their first time.
    const old = after.findings.find((f: any) => f.id === 'GHSA-35jh-r3h4-6jhm');
    expect(old.first_seen).toBe(before.findings.find((f: any) => f.id === 'GHSA-35jh-r3h4-6jhm').first_seen);
    expect(blobGets(layers)).toBe(gets);

    // What is new since that import, for the owner; another user sees nothing of it.
    const fresh = (await server.api(`/api/vulnerabilities/new`, token)).body;
    expect(fresh.findings.some((f: any) => f.id === 'GHSA-test-rematch-0001' && f.repo === `${owner}/shop`)).toBe(true);
    const stranger = server.addUser(uniqueName('stranger'));
    expect((await server.api(`/api/vulnerabilities/new`, stranger)).body.findings).toEqual([]);
    // The page: the database's sources and age, and the new finding on the owner's image.
    const html = await page('/vulnerabilities');
    expect(html).toMatch(/<td>npm<\/td><td class="num">2<\/td>/);
    expect(html).toContain('GHSA-test-rematch-0001');
    expect(html).not.toContain('id="vulndb-stale"');
    expect(await page('/vulnerabilities', stranger)).not.toContain('GHSA-test-rematch-0001');
  });
});

/** A page as a signed-in browser gets it (the session cookie is the token, as the sign-in form sets it). */
async function page(path: string, as = token): Promise<string> {
  const res = await fetch(`${server.url}${path}`, { headers: { cookie: `codehub_token=${as}` } });
  expect(res.status, `${path}: ${server.logs.slice(-5).join('\n')}`).toBe(200);
  return res.text();
}

/** The image manifest of `digest` (an index's linux/amd64 entry when BuildKit pushed an index). */
async function imageManifest(digest: string): Promise<any> {
  const client = server.registryClient();
  let m = await client.manifest(`${owner}/shop`, digest);
  let body = JSON.parse(m!.body.toString('utf8'));
  if (body.manifests) {
    const entry = body.manifests.find((e: any) => e.platform?.architecture === 'amd64');
    m = await client.manifest(`${owner}/shop`, entry.digest);
    body = JSON.parse(m!.body.toString('utf8'));
  }
  return body;
}
