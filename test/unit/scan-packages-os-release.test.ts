import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseOsRelease } from '../../src/scan/packages/os-release.js';
import { distroQualifier } from '../../src/scan/packages/types.js';

/** Real files; test/fixtures/packages/README.md names their sources. */
const fixture = (name: string) => readFileSync(new URL(`../fixtures/packages/os-release/${name}`, import.meta.url));

describe('os-release', () => {
  it("reads Debian 12's file: quoted and bare values, the codename", () => {
    const r = parseOsRelease('/etc/os-release', fixture('debian-12'));
    expect(r).toEqual({ distro: { id: 'debian', versionId: '12', versionCodename: 'bookworm' }, problems: [] });
    expect(distroQualifier(r.distro!)).toBe('debian-12');
  });

  it("reads Alpine's (no trailing newline); its purl distro is the release, major.minor", () => {
    const r = parseOsRelease('/etc/os-release', fixture('alpine-3.15'));
    expect(r).toEqual({ distro: { id: 'alpine', versionId: '3.15.4' }, problems: [] });
    expect(distroQualifier(r.distro!)).toBe('alpine-3.15');
  });

  it('skips comments and blank lines, unquotes single quotes as written and double quotes with their escapes', () => {
    const text = [
      '# written by hand',
      '',
      "ID='ubuntu'",
      'VERSION_ID="22.04"',
      'PRETTY_NAME="say \\"hi\\" \\$HOME"',
      '  # indented comment',
      'VERSION_CODENAME=jammy',
    ].join('\n');
    const r = parseOsRelease('/usr/lib/os-release', Buffer.from(text));
    expect(r).toEqual({ distro: { id: 'ubuntu', versionId: '22.04', versionCodename: 'jammy' }, problems: [] });
    expect(distroQualifier(r.distro!)).toBe('ubuntu-22.04');
  });

  it('names each bad line and still reads the others; ID defaults to linux as os-release(5) says', () => {
    const text = 'NAME="Debian\nVERSION_ID=13\nthis is not a pair\n';
    const r = parseOsRelease('/etc/os-release', Buffer.from(text));
    expect(r.distro).toEqual({ id: 'linux', versionId: '13' });
    expect(r.problems).toEqual([
      '/etc/os-release: line 1: not KEY=value or an unclosed quote: "NAME=\\"Debian"',
      '/etc/os-release: line 3: not KEY=value or an unclosed quote: "this is not a pair"',
    ]);
  });

  it('a Debian testing file (no VERSION_ID) is named by its codename in purls', () => {
    const r = parseOsRelease('/etc/os-release', Buffer.from('ID=debian\nVERSION_CODENAME=trixie\n'));
    expect(r.distro).toEqual({ id: 'debian', versionId: '', versionCodename: 'trixie' });
    expect(distroQualifier(r.distro!)).toBe('debian-trixie');
  });

  it('a file with no pair at all is no distro and one problem', () => {
    const r = parseOsRelease('/etc/os-release', Buffer.from('\u0000\u0001 binary junk'));
    expect(r.distro).toBeUndefined();
    expect(r.problems).toHaveLength(2);
    expect(r.problems[1]).toBe('/etc/os-release: no KEY=value line: not an os-release file');
  });
});
