import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { interestingPath, MAX_FILE_BYTES, MAX_PROBLEMS_PER_FILE, parsePackages } from '../../src/scan/packages/index.js';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/packages/${name}`, import.meta.url));

describe('interestingPath', () => {
  it('names each package database, however tar spells the path', () => {
    const cases: [string, string | null][] = [
      ['etc/os-release', 'os-release'],
      ['./etc/os-release', 'os-release'],
      ['/usr/lib/os-release', 'os-release'],
      ['var/lib/dpkg/status', 'dpkg-status'],
      ['var/lib/dpkg/status.d/libc6', 'dpkg-status'],
      ['lib/apk/db/installed', 'apk-installed'],
      ['var/lib/rpm/rpmdb.sqlite', 'rpm-sqlite'],
      ['usr/lib/sysimage/rpm/rpmdb.sqlite', 'rpm-sqlite'],
      ['app/node_modules/lodash/package.json', 'npm-package-json'],
      ['node_modules/lodash/package.json', 'npm-package-json'], // an app at the image's root (WORKDIR /)
      ['usr/lib/node_modules/npm/package.json', 'npm-package-json'],
      ['app/node_modules/@types/node/package.json', 'npm-package-json'],
      ['app/node_modules/a/node_modules/b/package.json', 'npm-package-json'],
      ['app/node_modules/.pnpm/lodash@4.17.21/node_modules/lodash/package.json', 'npm-package-json'],
      ['usr/lib/python3/dist-packages/PyYAML-6.0.dist-info/METADATA', 'python-metadata'],
      ['usr/lib/python3/dist-packages/oslo.config-9.0.0.egg-info/PKG-INFO', 'python-metadata'],
      ['META-INF/maven/net.minidev/json-smart/pom.properties', 'pom-properties'],
      ['opt/app/exploded/META-INF/maven/g/a/pom.properties', 'pom-properties'],
      ['opt/app/app.jar', 'java-archive'],
      ['usr/local/tomcat/webapps/ROOT.war', 'java-archive'],
    ];
    expect(cases.map(([p]) => [p, interestingPath(p)])).toEqual(cases);
  });

  it('leaves out what only looks like one: the app root, files deeper in a package, checksums, whiteouts', () => {
    const not = [
      'app/package.json', // the application's own manifest
      'package.json',
      'app/node_modules/lodash/fp/package.json', // a file inside a package, not its top
      'app/node_modules/@types/package.json', // a scope folder
      'app/node_modules/.bin/package.json',
      'app/node_modules/.package-lock.json',
      'var/lib/dpkg/status.d/libc6.md5sums', // distroless: the file list, beside the stanza
      'var/lib/dpkg/status.d/sub/x',
      'var/lib/dpkg/status-old',
      'var/lib/dpkg/.wh.status', // a whiteout deletes the file; it is not one
      'app/node_modules/x/.wh.package.json',
      'etc/os-release.d/x',
      'usr/lib/python3/METADATA',
      'x.dist-info.bak/METADATA',
      'META-INF/maven/g/pom.properties', // no artifact folder
      'srv/META-INF/MANIFEST.MF',
      'usr/bin/node',
      '',
    ];
    expect(not.filter((p) => interestingPath(p) !== null)).toEqual([]);
  });
});

describe('parsePackages', () => {
  it('sends each kind to its parser and writes the image path absolute', () => {
    const os = parsePackages('os-release', 'etc/os-release', fixture('os-release/debian-12'));
    expect(os).toEqual({ packages: [], problems: [], distro: { id: 'debian', versionId: '12', versionCodename: 'bookworm' } });
    const dpkg = parsePackages('dpkg-status', './var/lib/dpkg/status', fixture('dpkg/status'), os.distro);
    expect(dpkg.packages).toHaveLength(8);
    expect(dpkg.packages.every((p) => p.path === '/var/lib/dpkg/status' && p.purl.endsWith('distro=debian-12'))).toBe(true);
    const npm = parsePackages('npm-package-json', 'app/node_modules/lodash/package.json', fixture('npm/lodash-package.json'));
    expect(npm.packages.map((p) => [p.path, p.purl])).toEqual([['/app/node_modules/lodash/package.json', 'pkg:npm/lodash@4.18.1']]);
    const apk = parsePackages('apk-installed', 'lib/apk/db/installed', fixture('apk/installed'), { id: 'alpine', versionId: '3.15.4' });
    expect(apk.packages).toHaveLength(6);
    const py = parsePackages('python-metadata', 'x/PyYAML-6.0.dist-info/METADATA', fixture('python/PyYAML-6.0.dist-info/METADATA'));
    expect(py.packages[0]?.name).toBe('PyYAML');
    const pom = parsePackages('pom-properties', 'app.jar', fixture('maven/json-smart-2.6.0.pom.properties'));
    expect(pom.packages[0]?.name).toBe('net.minidev:json-smart');
  });

  it("skips a file over its kind's limit with a problem, without reading it", () => {
    const limit = MAX_FILE_BYTES['npm-package-json'];
    const big = Buffer.alloc(limit + 1, 0x20);
    big.write('{"name":"x","version":"1.0.0"}');
    expect(parsePackages('npm-package-json', 'a/node_modules/x/package.json', big)).toEqual({
      packages: [],
      problems: ['/a/node_modules/x/package.json: 1048577 bytes, more than the 1 MiB read of a npm-package-json file: skipped'],
    });
    // One byte less is read.
    expect(parsePackages('npm-package-json', 'a/node_modules/x/package.json', big.subarray(0, limit)).packages).toHaveLength(1);
    expect(MAX_FILE_BYTES['dpkg-status']).toBe(64 * 1024 ** 2);
  });

  it('keeps the first problems of a file of garbage and counts the rest', () => {
    const lines = Array.from({ length: 1000 }, (_, i) => `garbage line ${i}`).join('\n');
    const r = parsePackages('apk-installed', 'lib/apk/db/installed', Buffer.from(`P:kept\nV:1-r0\n\n${lines}`));
    expect(r.packages.map((p) => p.name)).toEqual(['kept']);
    expect(r.problems).toHaveLength(MAX_PROBLEMS_PER_FILE + 1);
    expect(r.problems[0]).toBe('/lib/apk/db/installed: line 4: not a "K:value" line: "garbage line 0"');
    expect(r.problems.at(-1)).toBe(`/lib/apk/db/installed: ${1000 - MAX_PROBLEMS_PER_FILE} more problems`);
  });

  it('never throws: garbage of every kind comes back as problems', () => {
    const junk = Buffer.from([0xff, 0xfe, 0x00, 0x0a, 0x3a, 0x0a, 0x20, 0x41]);
    for (const kind of ['os-release', 'dpkg-status', 'apk-installed', 'rpm-sqlite', 'npm-package-json', 'python-metadata', 'pom-properties'] as const) {
      const r = parsePackages(kind, 'junk', junk);
      expect(r.packages, kind).toEqual([]);
      expect(r.problems.length, kind).toBeGreaterThan(0);
      expect(
        r.problems.every((p) => p.startsWith('/junk: ')),
        kind,
      ).toBe(true);
    }
  });
});
