import { readFileSync } from 'node:fs';
import { PackageURL } from 'packageurl-js';
import { describe, expect, it } from 'vitest';
import { dpkgInstalled, parseDpkgStatus, readStanzas } from '../../src/scan/packages/dpkg.js';
import type { Distro } from '../../src/scan/packages/types.js';

/** Real files but status-states (constructed); test/fixtures/packages/README.md says which is which. */
const fixture = (name: string) => readFileSync(new URL(`../fixtures/packages/dpkg/${name}`, import.meta.url));
const BOOKWORM: Distro = { id: 'debian', versionId: '12', versionCodename: 'bookworm' };

describe('dpkg status', () => {
  it('lists the eight installed packages of a real Debian 12 status file, each with its source package', () => {
    const r = parseDpkgStatus('/var/lib/dpkg/status', fixture('status'), BOOKWORM);
    expect(r.problems).toEqual([]);
    const rows = r.packages.map((p) => [p.name, p.version, p.source?.name, p.source?.version, p.arch]);
    expect(rows).toEqual([
      ['base-files', '12.4+deb12u11', 'base-files', '12.4+deb12u11', 'amd64'],
      ['bash', '5.2.15-2+b8', 'bash', '5.2.15-2', 'amd64'], // "Source: bash (5.2.15-2)": a binNMU's source version
      ['busybox-static', '1:1.35.0-4+deb12u1+b1', 'busybox', '1:1.35.0-4+deb12u1', 'amd64'], // the epoch kept on both
      ['libbz2-1.0', '1.0.8-5+b1', 'bzip2', '1.0.8-5', 'amd64'],
      ['libc6', '2.36-9+deb12u14', 'glibc', '2.36-9+deb12u14', 'amd64'], // "Source: glibc": the binary's version
      ['libexpat1', '2.5.0-1+deb12u1', 'expat', '2.5.0-1+deb12u1', 'amd64'],
      ['tzdata', '2025b-0+deb12u2', 'tzdata', '2025b-0+deb12u2', 'all'],
      ['zlib1g', '1:1.2.13.dfsg-1', 'zlib', '1:1.2.13.dfsg-1', 'amd64'],
    ]);
    for (const p of r.packages) {
      expect(p.ecosystem).toBe('deb');
      expect(p.path).toBe('/var/lib/dpkg/status');
    }
  });

  it('spells purls as the purl spec and DESIGN.md do: + as %2B, the epoch in the version, arch and distro qualifiers', () => {
    const r = parseDpkgStatus('/var/lib/dpkg/status', fixture('status'), BOOKWORM);
    const purl = (name: string) => r.packages.find((p) => p.name === name)?.purl;
    expect(purl('libexpat1')).toBe('pkg:deb/debian/libexpat1@2.5.0-1%2Bdeb12u1?arch=amd64&distro=debian-12');
    expect(purl('zlib1g')).toBe('pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1?arch=amd64&distro=debian-12');
    expect(purl('tzdata')).toBe('pkg:deb/debian/tzdata@2025b-0%2Bdeb12u2?arch=all&distro=debian-12');
    // Each purl reads back (packageurl-js's own parser) to the package's exact name and version, + and : included.
    for (const p of r.packages) {
      const back = PackageURL.fromString(p.purl);
      expect([back.type, back.namespace, back.name, back.version, back.qualifiers?.arch]).toEqual(['deb', 'debian', p.name, p.version, p.arch]);
    }
    // Without an os-release the namespace is still debian, and no distro qualifier is made up.
    const bare = parseDpkgStatus('/var/lib/dpkg/status', fixture('status'));
    expect(bare.packages.find((p) => p.name === 'libexpat1')?.purl).toBe('pkg:deb/debian/libexpat1@2.5.0-1%2Bdeb12u1?arch=amd64');
  });

  it('keeps only installed packages: config-files, not-installed, half-installed, unpacked and deinstall are not; hold is', () => {
    const r = parseDpkgStatus('/var/lib/dpkg/status', fixture('status-states'), BOOKWORM);
    expect(r.problems).toEqual([]);
    expect(r.packages.map((p) => `${p.name} ${p.version}`)).toEqual(['openssl 3.0.15-1~deb12u1']);
    expect(r.packages[0]?.purl).toBe('pkg:deb/debian/openssl@3.0.15-1~deb12u1?arch=amd64&distro=debian-12');
  });

  it('reads the states word by word', () => {
    expect(dpkgInstalled('install ok installed')).toBe(true);
    expect(dpkgInstalled('hold ok installed')).toBe(true);
    expect(dpkgInstalled('deinstall ok config-files')).toBe(false);
    expect(dpkgInstalled('deinstall ok installed')).toBe(false);
    expect(dpkgInstalled('purge ok not-installed')).toBe(false);
    expect(dpkgInstalled('install reinstreq half-installed')).toBe(false);
    expect(dpkgInstalled('install reinstreq installed')).toBe(false); // installed but broken: dpkg wants it reinstalled
    expect(dpkgInstalled('install ok triggers-pending')).toBe(false);
    expect(dpkgInstalled('installed')).toBeNull();
  });

  it('reads a distroless status.d file, which has no Status: every stanza there is installed', () => {
    const libc6 = parseDpkgStatus('/var/lib/dpkg/status.d/libc6', fixture('status.d/libc6'), BOOKWORM);
    expect(libc6.problems).toEqual([]);
    expect(libc6.packages).toEqual([
      {
        ecosystem: 'deb',
        name: 'libc6',
        version: '2.36-9+deb12u7',
        source: { name: 'glibc', version: '2.36-9+deb12u7' },
        arch: 'amd64',
        path: '/var/lib/dpkg/status.d/libc6',
        purl: 'pkg:deb/debian/libc6@2.36-9%2Bdeb12u7?arch=amd64&distro=debian-12',
      },
    ]);
    const openssl = parseDpkgStatus('/var/lib/dpkg/status.d/openssl', fixture('status.d/openssl'), BOOKWORM);
    // No Source field and no trailing blank line: the source is the package itself.
    expect(openssl.packages.map((p) => [p.name, p.version, p.source])).toEqual([
      ['openssl', '3.0.14-1~deb12u2', { name: 'openssl', version: '3.0.14-1~deb12u2' }],
    ]);
  });

  it('in the status file a stanza without Status is a problem, not a package', () => {
    const text = 'Package: libc6\nVersion: 2.36-9\nArchitecture: amd64\n';
    const r = parseDpkgStatus('/var/lib/dpkg/status', Buffer.from(text));
    expect(r.packages).toEqual([]);
    expect(r.problems).toEqual(['/var/lib/dpkg/status: line 1: package "libc6" has no Status field']);
  });

  it('names the file and line of each malformed thing and keeps every stanza that parsed', () => {
    const good = fixture('status').toString();
    const broken = [
      ' continuation before any field',
      'Package: broken-version',
      'Status: install ok installed',
      'Version: 1.0 beta',
      '',
      'Package: broken-source',
      'Status: install ok installed',
      'Version: 1.0-1',
      'Source: a b c',
      '',
      'not a field at all',
      'Package: no-version',
      'Status: install ok installed',
      '',
      'Package: odd-status',
      'Status: installed',
      'Version: 1',
      '',
    ].join('\n');
    const r = parseDpkgStatus('/var/lib/dpkg/status', Buffer.from(`${broken}\n${good}`));
    expect(r.problems).toEqual([
      // Lines that are not deb822 first (read as the file is split into stanzas), then each stanza's own.
      '/var/lib/dpkg/status: line 1: a continuation line with no field before it',
      '/var/lib/dpkg/status: line 11: not a "Field: value" line: "not a field at all"',
      '/var/lib/dpkg/status: line 2: package broken-version: "1.0 beta" is not a dpkg version',
      '/var/lib/dpkg/status: line 6: package broken-source: Source "a b c" is not "name" or "name (version)"',
      '/var/lib/dpkg/status: line 12: an installed stanza without Version',
      '/var/lib/dpkg/status: line 15: Status "installed" is not "want flag state"',
    ]);
    // The bad Source costs only the source (the package is still there, its source is itself); the rest are skipped.
    expect(r.packages.map((p) => p.name)).toEqual([
      'broken-source',
      'base-files',
      'bash',
      'busybox-static',
      'libbz2-1.0',
      'libc6',
      'libexpat1',
      'tzdata',
      'zlib1g',
    ]);
    expect(r.packages[0]?.source).toEqual({ name: 'broken-source', version: '1.0-1' });
  });

  it('joins continuation lines and reads field names case-insensitively (deb822)', () => {
    const { stanzas, problems } = readStanzas('x', 'package: a\nDescription: one\n two\n .\n\n\n\nPACKAGE: b\r\n');
    expect(problems).toEqual([]);
    expect(stanzas.map((s) => [s.line, Object.fromEntries(s.fields)])).toEqual([
      [1, { package: 'a', description: 'one\ntwo\n.' }],
      [8, { package: 'b' }],
    ]);
    // Only the kept fields are stored; the others are still read as fields (no problem), their values dropped.
    const kept = readStanzas('x', 'Package: a\nDescription: one\n two\n', new Set(['package']));
    expect(kept.problems).toEqual([]);
    expect(kept.stanzas.map((s) => Object.fromEntries(s.fields))).toEqual([{ package: 'a' }]);
  });

  it('reads a whole real status file of this machine when there is one (every stanza a package or not installed)', () => {
    let text: Buffer;
    try {
      text = readFileSync('/var/lib/dpkg/status');
    } catch {
      return; // not a dpkg system: the fixtures above stand
    }
    const r = parseDpkgStatus('/var/lib/dpkg/status', text);
    expect(r.problems).toEqual([]);
    const installed = text
      .toString()
      .split(/\n(?=Package: )/)
      .filter((s) => /^Status: (install|hold) ok installed$/m.test(s)).length;
    expect(r.packages.length).toBe(installed);
    expect(installed).toBeGreaterThan(0);
  });
});
