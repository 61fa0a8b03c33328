/**
 * An image's inventory matched (src/scan/image-match.ts) against the real OSV records of test/fixtures/osv/ (its
 * README names each one's source and license): lodash's GHSA, Debian's DSA-5770-1 (expat, Debian:12) and
 * DLA-3008-1 (openssl, Debian:9), and a withdrawn GHSA. The packages are built by hand in the inventory's shape,
 * as Debian 12 and npm install them (libexpat1 and libexpat1-dev 2.5.0-1 from source expat; lodash 4.17.20).
 *
 * The lookup most tests give is looser than the store's (every record naming the package in the same base
 * ecosystem, whatever the release), so a negative control proves the matching refuses the record, not that the
 * lookup never handed it over. One test goes through the real store instead.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { findingKey, type ImageFinding, matchImage, osvPackageOf, ubuntuEcosystem } from '../../src/scan/image-match.js';
import type { InventoryPackage } from '../../src/scan/inventory.js';
import { type OsvRecord, parseOsvRecord, splitEcosystem } from '../../src/scan/osv.js';
import type { Distro } from '../../src/scan/packages/index.js';
import { importOsv, recordsFor } from '../../src/scan/vulndb.js';
import { openDb } from '../../src/store/db.js';
import { Store } from '../../src/store/store.js';

const fixtureText = (name: string): string => readFileSync(new URL(`../fixtures/osv/${name}`, import.meta.url), 'utf8');
const record = (json: unknown): OsvRecord => {
  const r = parseOsvRecord(json);
  if (!r.ok) throw new Error(r.problem);
  return r.record;
};
const lodashJson = JSON.parse(fixtureText('GHSA-35jh-r3h4-6jhm.json')) as Record<string, unknown>;
const withdrawnJson = JSON.parse(fixtureText('GHSA-xfg6-62px-cxc2.json')) as Record<string, unknown>;
// bodega keeps the record as a one-element array (the fixtures' README says why): element 0 is the record.
const dsaJson = (JSON.parse(fixtureText('DSA-5770-1.bodega.json')) as Record<string, unknown>[])[0]!;
const lodash = record(lodashJson);
const pgjdbcWithdrawn = record(withdrawnJson);
const dla3008 = record(JSON.parse(fixtureText('DLA-3008-1.json')));
const dsa5770 = record(dsaJson);
const ALL = [lodash, pgjdbcWithdrawn, dla3008, dsa5770];

const DEBIAN_12: Distro = { id: 'debian', versionId: '12', versionCodename: 'bookworm' };
const DEBIAN_11: Distro = { id: 'debian', versionId: '11', versionCodename: 'bullseye' };

const layer = (n: number) => `sha256:${String(n).repeat(64)}`;
const [BASE, APT, APP] = [layer(1), layer(2), layer(3)];

/** A dpkg package as the inventory gives it: the source is dpkg's ${source:Package} and ${source:Version}. */
function deb(name: string, version: string, source: { name: string; version: string }, at = BASE, distro = 'debian-12'): InventoryPackage {
  const v = version.replaceAll('+', '%2B').replaceAll(':', '%3A');
  return {
    ecosystem: 'deb',
    name,
    version,
    source,
    arch: 'amd64',
    path: '/var/lib/dpkg/status',
    purl: `pkg:deb/debian/${name}@${v}?arch=amd64&distro=${distro}`,
    layer: at,
  };
}
function npm(name: string, version: string, path = `/app/node_modules/${name}/package.json`, at = APP): InventoryPackage {
  return { ecosystem: 'npm', name, version, path, purl: `pkg:npm/${name}@${version}`, layer: at };
}
const expat = (version: string, at = BASE) => deb('libexpat1', version, { name: 'expat', version }, at);
const expatDev = (version: string, at = APT) => deb('libexpat1-dev', version, { name: 'expat', version }, at);

/**
 * Records as a lookup that knows every record: those with an entry for the package name in the same base ecosystem
 * (`Debian:9` records for a `Debian:12` question too). Counts each question.
 */
function lookup(records: OsvRecord[] = ALL) {
  const calls: string[] = [];
  const fn = (ecosystem: string, name: string): OsvRecord[] => {
    calls.push(`${ecosystem} ${name}`);
    const base = splitEcosystem(ecosystem).base;
    return records.filter((r) => r.affected.some((a) => a.package?.name === name && splitEcosystem(a.package.ecosystem).base === base));
  };
  return { fn, calls };
}

const ids = (findings: ImageFinding[]) => findings.map((f) => `${f.id} ${f.package} ${f.version}`);

describe('matchImage: npm', () => {
  it('finds lodash 4.17.20: GHSA-35jh-r3h4-6jhm, its CVE alias, high, fixed in 4.17.21, in the layer that installed it', () => {
    const { fn } = lookup();
    const m = matchImage([npm('lodash', '4.17.20')], undefined, fn, { layers: [BASE, APT, APP] });
    expect(m.findings).toHaveLength(1);
    const f = m.findings[0]!;
    expect(f).toMatchObject({
      id: 'GHSA-35jh-r3h4-6jhm',
      aliases: ['CVE-2021-23337'],
      package: 'lodash',
      ecosystem: 'npm',
      version: '4.17.20',
      fixed: ['4.17.21'],
      layer: APP,
      modified: lodash.modified,
      summary: lodash.summary,
    });
    expect(f.severity.rating).toBe('high');
    expect(f.severity.score).toBe(7.2);
    expect(f.installed).toEqual([
      { name: 'lodash', version: '4.17.20', layer: APP, path: '/app/node_modules/lodash/package.json', purl: 'pkg:npm/lodash@4.17.20' },
    ]);
    expect(m.unmatched).toEqual([]);
    expect(m.problems).toEqual([]);
  });

  it('does not find lodash 4.17.21, the fixed version', () => {
    const { fn, calls } = lookup();
    const m = matchImage([npm('lodash', '4.17.21')], undefined, fn);
    expect(m.findings).toEqual([]);
    expect(calls).toEqual(['npm lodash']); // it was looked up: not found by matching, not by skipping
  });

  it('one finding per version: two copies of 4.17.20 are one finding with both paths, 4.17.15 is another', () => {
    const { fn } = lookup();
    const m = matchImage(
      [
        npm('lodash', '4.17.20', '/app/node_modules/lodash/package.json'),
        npm('lodash', '4.17.20', '/app/node_modules/a/node_modules/lodash/package.json'),
        npm('lodash', '4.17.15', '/app/node_modules/b/node_modules/lodash/package.json'),
      ],
      undefined,
      fn,
    );
    expect(ids(m.findings)).toEqual(['GHSA-35jh-r3h4-6jhm lodash 4.17.15', 'GHSA-35jh-r3h4-6jhm lodash 4.17.20']);
    expect(m.findings[1]!.installed.map((i) => i.path)).toEqual([
      '/app/node_modules/a/node_modules/lodash/package.json',
      '/app/node_modules/lodash/package.json',
    ]);
  });
});

describe('matchImage: Debian by source package', () => {
  it('libexpat1 and libexpat1-dev from source expat 2.5.0-1 are one DSA-5770-1 finding listing both binaries', () => {
    const { fn } = lookup();
    // Listed top layer first, so the bottom-most layer must come from `layers`, not from the list's order.
    const m = matchImage([expatDev('2.5.0-1', APT), expat('2.5.0-1', BASE)], DEBIAN_12, fn, { layers: [BASE, APT, APP] });
    expect(m.findings).toHaveLength(1);
    const f = m.findings[0]!;
    expect(f).toMatchObject({ id: 'DSA-5770-1', package: 'expat', ecosystem: 'Debian:12', version: '2.5.0-1', fixed: ['2.5.0-1+deb12u1'], layer: BASE });
    // DSA records name their CVEs in upstream: they are shown with the aliases.
    expect(f.aliases).toEqual([
      'CVE-2024-45490',
      'CVE-2024-45491',
      'CVE-2024-45492',
      'DEBIAN-CVE-2024-45490',
      'DEBIAN-CVE-2024-45491',
      'DEBIAN-CVE-2024-45492',
    ]);
    expect(f.severity.rating).toBe('unknown'); // the record carries no severity
    expect(f.installed).toEqual([
      {
        name: 'libexpat1',
        version: '2.5.0-1',
        layer: BASE,
        path: '/var/lib/dpkg/status',
        purl: 'pkg:deb/debian/libexpat1@2.5.0-1?arch=amd64&distro=debian-12',
      },
      {
        name: 'libexpat1-dev',
        version: '2.5.0-1',
        layer: APT,
        path: '/var/lib/dpkg/status',
        purl: 'pkg:deb/debian/libexpat1-dev@2.5.0-1?arch=amd64&distro=debian-12',
      },
    ]);
  });

  it('without `layers`, the lowest layer is the one the packages name first', () => {
    const { fn } = lookup();
    const m = matchImage([expatDev('2.5.0-1', APT), expat('2.5.0-1', BASE)], DEBIAN_12, fn);
    expect(m.findings.map((f) => f.layer)).toEqual([APT]);
  });

  it('a binary-only rebuild (libexpat1 2.5.0-1+b1 from Source: expat (2.5.0-1)) matches at the source version', () => {
    const { fn } = lookup();
    const m = matchImage([deb('libexpat1', '2.5.0-1+b1', { name: 'expat', version: '2.5.0-1' })], DEBIAN_12, fn);
    expect(ids(m.findings)).toEqual(['DSA-5770-1 expat 2.5.0-1']);
    expect(m.findings[0]!.installed.map((i) => i.version)).toEqual(['2.5.0-1+b1']);
  });

  it('does not find the fixed version itself, 2.5.0-1+deb12u1', () => {
    const { fn, calls } = lookup();
    const m = matchImage([expat('2.5.0-1+deb12u1'), expatDev('2.5.0-1+deb12u1')], DEBIAN_12, fn);
    expect(m.findings).toEqual([]);
    expect(calls).toEqual(['Debian:12 expat']);
  });

  it('does not find 1:2.5.0-1, an epoch that orders above the fix', () => {
    const { fn } = lookup();
    const m = matchImage([expat('1:2.5.0-1')], DEBIAN_12, fn);
    expect(m.findings).toEqual([]);
    expect(m.problems).toEqual([]);
  });

  it('does not find a record for another Debian release: DSA-5770-1 (Debian:12) on a Debian 11 image', () => {
    const { fn, calls } = lookup();
    const pkgs = [deb('libexpat1', '2.5.0-1', { name: 'expat', version: '2.5.0-1' }, BASE, 'debian-11')];
    const m = matchImage(pkgs, DEBIAN_11, fn);
    expect(calls).toEqual(['Debian:11 expat']);
    expect(m.findings).toEqual([]);
    // The same package on Debian 12 is found: the release alone decided.
    expect(ids(matchImage([expat('2.5.0-1')], DEBIAN_12, fn).findings)).toEqual(['DSA-5770-1 expat 2.5.0-1']);
  });

  it('does not find DLA-3008-1 (openssl, Debian:9) on a Debian 12 image at a version the record lists', () => {
    const { fn } = lookup();
    const ssl = deb('libssl1.1', '1.1.0l-1~deb9u5', { name: 'openssl', version: '1.1.0l-1~deb9u5' });
    expect(matchImage([ssl], DEBIAN_12, fn).findings).toEqual([]);
    // On Debian 9 the record holds it.
    const nine = matchImage([ssl], { id: 'debian', versionId: '9' }, fn);
    expect(ids(nine.findings)).toEqual(['DLA-3008-1 openssl 1.1.0l-1~deb9u5']);
    expect(nine.findings[0]!.fixed).toEqual(['1.1.0l-1~deb9u6']);
    expect(nine.findings[0]!.aliases).toEqual(['CVE-2022-1292', 'DEBIAN-CVE-2022-1292']);
  });

  it('does not find a binary named like an affected source when its Source: names another package', () => {
    const { fn, calls } = lookup();
    // A binary called `expat` built from some other source: the advisory is about source expat, not this package.
    const m = matchImage([deb('expat', '2.5.0-1', { name: 'expat-tools', version: '2.5.0-1' })], DEBIAN_12, fn);
    expect(m.findings).toEqual([]);
    expect(calls).toEqual(['Debian:12 expat-tools']);
  });
});

describe('matchImage: what is not matched', () => {
  it('does not find a withdrawn record (GHSA-xfg6-62px-cxc2) and finds the same record once it is not withdrawn', () => {
    const pg: InventoryPackage = {
      ecosystem: 'maven',
      name: 'org.postgresql:postgresql',
      version: '42.7.1',
      path: '/app/lib/postgresql-42.7.1.jar!/META-INF/maven/org.postgresql/postgresql/pom.properties',
      purl: 'pkg:maven/org.postgresql/postgresql@42.7.1',
      layer: APP,
    };
    expect(matchImage([pg], undefined, lookup().fn).findings).toEqual([]);
    const { withdrawn: _, ...live } = withdrawnJson; // a copy in memory; the fixture file is not edited
    const m = matchImage([pg], undefined, lookup([record(live)]).fn);
    expect(ids(m.findings)).toEqual(['GHSA-xfg6-62px-cxc2 org.postgresql:postgresql 42.7.1']);
    expect(m.findings[0]).toMatchObject({ ecosystem: 'Maven', fixed: ['42.7.2'] });
    expect(m.findings[0]!.severity.rating).toBe('critical');
  });

  it('counts rpm packages as unmatched with the reason, and never looks them up', () => {
    const rpm = (name: string): InventoryPackage => ({
      ecosystem: 'rpm',
      name,
      version: '3.0.7-27.el9',
      source: { name: 'openssl', version: '3.0.7-27.el9' },
      path: '/var/lib/rpm/rpmdb.sqlite',
      purl: `pkg:rpm/rocky/${name}@3.0.7-27.el9`,
      layer: BASE,
    });
    const { fn, calls } = lookup();
    const m = matchImage([rpm('openssl'), rpm('openssl-libs'), npm('lodash', '4.17.20')], { id: 'rocky', versionId: '9.3' }, fn);
    expect(m.unmatched).toHaveLength(1);
    expect(m.unmatched[0]).toMatchObject({ ecosystem: 'rpm', count: 2 });
    expect(m.unmatched[0]!.reason).toMatch(/no rpm version order/);
    expect(calls).toEqual(['npm lodash']);
    expect(ids(m.findings)).toEqual(['GHSA-35jh-r3h4-6jhm lodash 4.17.20']);
  });

  it('counts Debian packages of an image without a release (sid) and Ubuntu packages as unmatched, by reason', () => {
    const { fn, calls } = lookup();
    const sid = matchImage([expat('2.5.0-1'), expatDev('2.5.0-1')], { id: 'debian', versionId: '', versionCodename: 'trixie' }, fn);
    expect(sid.unmatched).toEqual([{ ecosystem: 'deb', count: 2, reason: expect.stringContaining('Debian trixie without VERSION_ID') }]);
    const ubuntu = matchImage([expat('2.5.0-1ubuntu0.1')], { id: 'ubuntu', versionId: '22.04', versionCodename: 'jammy' }, fn);
    expect(ubuntu.unmatched).toEqual([{ ecosystem: 'deb', count: 1, reason: expect.stringContaining('Ubuntu:22.04:LTS is not matched') }]);
    expect(calls).toEqual([]);
  });
});

describe('matchImage: the lookup and the order', () => {
  it('asks records() once per (ecosystem, name), however many binaries and versions share it', () => {
    const { fn, calls } = lookup();
    const pkgs = [
      expat('2.5.0-1'),
      expatDev('2.5.0-1'),
      deb('expat', '2.5.0-1', { name: 'expat', version: '2.5.0-1' }),
      npm('lodash', '4.17.20'),
      npm('lodash', '4.17.20', '/usr/lib/node_modules/npm/node_modules/lodash/package.json'),
      npm('lodash', '4.17.21', '/srv/node_modules/lodash/package.json'),
    ];
    const m = matchImage(pkgs, DEBIAN_12, fn);
    expect(calls.sort()).toEqual(['Debian:12 expat', 'npm lodash']);
    expect(m.findings.map((f) => f.installed.length)).toEqual([2, 3]);
  });

  it('sorts by severity (critical first), then id, then package', () => {
    const lodashEs = npm('lodash-es', '4.17.20');
    const { fn } = lookup();
    const m = matchImage([expat('2.5.0-1'), lodashEs, npm('lodash', '4.17.20')], DEBIAN_12, fn);
    expect(ids(m.findings)).toEqual(['GHSA-35jh-r3h4-6jhm lodash 4.17.20', 'GHSA-35jh-r3h4-6jhm lodash-es 4.17.20', 'DSA-5770-1 expat 2.5.0-1']);
    expect(m.findings.map((f) => f.severity.rating)).toEqual(['high', 'high', 'unknown']);
  });

  it('names a range the order cannot read in problems, with the package, and still answers', () => {
    const { fn } = lookup();
    const m = matchImage([npm('lodash', 'not-a-version')], undefined, fn);
    expect(m.findings).toEqual([]);
    expect(m.problems).toHaveLength(1);
    expect(m.problems[0]).toMatch(/^npm lodash not-a-version: GHSA-35jh-r3h4-6jhm affected\[0\]\.ranges\[0\]: cannot order/);
  });
});

describe('osvPackageOf', () => {
  it('Debian: the source package at its source version, in Debian:<major>', () => {
    const r = osvPackageOf(deb('libexpat1', '2.5.0-1+b1', { name: 'expat', version: '2.5.0-1' }), DEBIAN_12);
    expect(r.ok && { ecosystem: r.ref.ecosystem, name: r.ref.name, version: r.ref.version }).toEqual({
      ecosystem: 'Debian:12',
      name: 'expat',
      version: '2.5.0-1',
    });
    expect(osvPackageOf(expat('2.5.0-1'), undefined)).toMatchObject({ ok: false, reason: expect.stringContaining('no os-release') });
    expect(osvPackageOf(expat('2.5.0-1'), { id: 'raspbian', versionId: '12' })).toMatchObject({ ok: false, reason: expect.stringContaining('"raspbian"') });
  });

  it('Alpine: the origin, in Alpine:v<major.minor>; edge is not a release', () => {
    const ssl: InventoryPackage = {
      ecosystem: 'apk',
      name: 'libssl3',
      version: '3.1.4-r5',
      source: { name: 'openssl', version: '3.1.4-r5' },
      path: '/lib/apk/db/installed',
      purl: 'pkg:apk/alpine/libssl3@3.1.4-r5?arch=x86_64&distro=alpine-3.19',
      layer: BASE,
    };
    const r = osvPackageOf(ssl, { id: 'alpine', versionId: '3.19.1' });
    expect(r.ok && [r.ref.ecosystem, r.ref.name, r.ref.version]).toEqual(['Alpine:v3.19', 'openssl', '3.1.4-r5']);
    expect(osvPackageOf(ssl, { id: 'alpine', versionId: '3.21_alpha20240807' })).toMatchObject({ ok: false, reason: expect.stringContaining('edge') });
  });

  it('Ubuntu: named as OSV names it, not matchable for want of an order', () => {
    expect([ubuntuEcosystem('22.04'), ubuntuEcosystem('23.10'), ubuntuEcosystem('24.04'), ubuntuEcosystem('21.04'), ubuntuEcosystem('jammy')]).toEqual([
      'Ubuntu:22.04:LTS',
      'Ubuntu:23.10',
      'Ubuntu:24.04:LTS',
      'Ubuntu:21.04',
      undefined,
    ]);
    expect(osvPackageOf(expat('2.5.0-1ubuntu0.1'), { id: 'ubuntu', versionId: '24.04' })).toMatchObject({
      ok: false,
      reason: 'Ubuntu:24.04:LTS is not matched: src/scan/versions has no version order for it',
    });
  });

  it('the language ecosystems: PyPI normalized (and looked up as written too), Go stdlib and modules, Maven group:artifact', () => {
    const py: InventoryPackage = {
      ecosystem: 'pypi',
      name: 'PyYAML',
      version: '5.3.1',
      path: '/usr/lib/python3/dist-packages/PyYAML-5.3.1.dist-info/METADATA',
      purl: 'pkg:pypi/pyyaml@5.3.1',
      layer: APP,
    };
    const r = osvPackageOf(py, undefined);
    expect(r.ok && [r.ref.ecosystem, r.ref.name, r.ref.lookup]).toEqual(['PyPI', 'pyyaml', ['pyyaml', 'PyYAML']]);
    const go = (name: string, version: string): InventoryPackage => ({
      ecosystem: 'golang',
      name,
      version,
      path: '/usr/bin/app',
      purl: 'pkg:golang/x',
      layer: APP,
    });
    const std = osvPackageOf(go('stdlib', '1.21.5'), DEBIAN_12);
    expect(std.ok && [std.ref.ecosystem, std.ref.name, std.ref.version]).toEqual(['Go', 'stdlib', '1.21.5']);
    const mod = osvPackageOf(go('golang.org/x/net', 'v0.17.0'), DEBIAN_12);
    expect(mod.ok && [mod.ref.ecosystem, mod.ref.name, mod.ref.version]).toEqual(['Go', 'golang.org/x/net', 'v0.17.0']);
    const mvn = osvPackageOf(
      {
        ecosystem: 'maven',
        name: 'org.postgresql:postgresql',
        version: '42.7.1',
        path: '/a.jar!/pom.properties',
        purl: 'pkg:maven/org.postgresql/postgresql@42.7.1',
        layer: APP,
      },
      undefined,
    );
    expect(mvn.ok && [mvn.ref.ecosystem, mvn.ref.name]).toEqual(['Maven', 'org.postgresql:postgresql']);
  });

  it('findingKey is advisory|ecosystem|package|version', () => {
    expect(findingKey({ id: 'DSA-5770-1', ecosystem: 'Debian:12', package: 'expat', version: '2.5.0-1' })).toBe('DSA-5770-1|Debian:12|expat|2.5.0-1');
  });
});

describe('matchImage through the real store', () => {
  it('imports the four records into SQLite and finds lodash and expat in a Debian 12 image by recordsFor, nothing else', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'chb-image-match-'));
    const store = new Store(openDb(join(dir, 'data', 'codehub.db')));
    try {
      const files = ['GHSA-35jh-r3h4-6jhm.json', 'GHSA-xfg6-62px-cxc2.json', 'DLA-3008-1.json'].map((name) => {
        const path = join(dir, name);
        writeFileSync(path, fixtureText(name));
        return path;
      });
      const dsaPath = join(dir, 'DSA-5770-1.json');
      writeFileSync(dsaPath, JSON.stringify(dsaJson));
      await importOsv(store, [...files, dsaPath]);
      const asked: string[] = [];
      const m = matchImage(
        [
          expat('2.5.0-1'),
          expatDev('2.5.0-1'),
          deb('libssl3', '3.0.11-1~deb12u2', { name: 'openssl', version: '3.0.11-1~deb12u2' }),
          npm('lodash', '4.17.20'),
          npm('lodash', '4.17.21', '/srv/node_modules/lodash/package.json'),
        ],
        DEBIAN_12,
        (ecosystem, name) => {
          asked.push(`${ecosystem} ${name}`);
          return recordsFor(store, ecosystem, name);
        },
        { layers: [BASE, APT, APP] },
      );
      expect(ids(m.findings)).toEqual(['GHSA-35jh-r3h4-6jhm lodash 4.17.20', 'DSA-5770-1 expat 2.5.0-1']);
      expect(m.findings.map((f) => findingKey(f))).toEqual(['GHSA-35jh-r3h4-6jhm|npm|lodash|4.17.20', 'DSA-5770-1|Debian:12|expat|2.5.0-1']);
      expect(asked.sort()).toEqual(['Debian:12 expat', 'Debian:12 openssl', 'npm lodash']);
      expect(m.problems).toEqual([]);
    } finally {
      store.db.$client.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
