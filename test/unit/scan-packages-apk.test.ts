import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseApkInstalled } from '../../src/scan/packages/apk.js';
import type { Distro } from '../../src/scan/packages/types.js';

/** Records of a real Alpine database (test/fixtures/packages/README.md names the source). */
const installed = readFileSync(new URL('../fixtures/packages/apk/installed', import.meta.url));
const ALPINE: Distro = { id: 'alpine', versionId: '3.15.4' };

describe('apk installed', () => {
  it('lists each record with its origin as the source package, and names the record without a version', () => {
    const r = parseApkInstalled('/lib/apk/db/installed', installed, ALPINE);
    expect(r.packages.map((p) => [p.name, p.version, p.source?.name, p.arch])).toEqual([
      ['musl', '1.1.14-r10', 'musl', 'x86_64'],
      ['libcrypto1.0', '1.0.2h-r1', 'openssl', 'x86_64'],
      ['libssl1.0', '1.0.2h-r1', 'openssl', 'x86_64'],
      ['scanelf', '1.1.6-r0', 'pax-utils', 'x86_64'],
      ['libc-utils', '0.7-r0', 'libc-dev', 'x86_64'],
      ['ada-libs', '2.7.4-r0', 'ada', 'x86_64'],
    ]);
    expect(r.problems).toEqual(['/lib/apk/db/installed: line 23: a record without V (version)']);
    for (const p of r.packages) {
      expect(p.source?.version).toBe(p.version);
      expect(p.ecosystem).toBe('apk');
      expect(p.path).toBe('/lib/apk/db/installed');
    }
  });

  it('spells purls with the Alpine release as the distro', () => {
    const r = parseApkInstalled('/lib/apk/db/installed', installed, ALPINE);
    expect(r.packages[1]?.purl).toBe('pkg:apk/alpine/libcrypto1.0@1.0.2h-r1?arch=x86_64&distro=alpine-3.15');
    const bare = parseApkInstalled('/lib/apk/db/installed', installed);
    expect(bare.packages[1]?.purl).toBe('pkg:apk/alpine/libcrypto1.0@1.0.2h-r1?arch=x86_64');
  });

  it('names malformed lines, two records run together and a bad version, and keeps the good records', () => {
    const text = ['P:ok', 'V:1.0-r0', 'this line is wrong', '', 'P:first', 'V:2.0-r0', 'P:second', 'V:3.0-r0', '', 'P:badver', 'V:not a version', ''].join(
      '\n',
    );
    const r = parseApkInstalled('/lib/apk/db/installed', Buffer.from(text));
    expect(r.packages.map((p) => `${p.name}@${p.version}`)).toEqual(['ok@1.0-r0', 'first@2.0-r0']);
    expect(r.problems).toEqual([
      '/lib/apk/db/installed: line 3: not a "K:value" line: "this line is wrong"',
      '/lib/apk/db/installed: line 7: a second P line in one record (a blank line missing?)',
      '/lib/apk/db/installed: line 10: package badver: "not a version" is not an apk version',
    ]);
  });

  it('an empty database lists nothing and has nothing wrong', () => {
    expect(parseApkInstalled('/lib/apk/db/installed', Buffer.alloc(0))).toEqual({ packages: [], problems: [] });
  });
});
