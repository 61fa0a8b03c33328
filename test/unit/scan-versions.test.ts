import semver from 'semver';
import { describe, expect, it } from 'vitest';
import { compareGoVersions, type GoVersion, parseGoVersion } from '../../src/scan/versions/go.js';
import { ORDERED_ECOSYSTEMS, versionOrder } from '../../src/scan/versions/index.js';
import { comparePypiVersions, parsePypiVersion, type PypiVersion } from '../../src/scan/versions/pep440.js';
import { compareNpmVersions, parseNpmVersion } from '../../src/scan/versions/semver.js';

const sign = (n: number): number => (n < 0 ? -1 : n > 0 ? 1 : 0);

/** Every later version orders after every earlier one, both ways round; the pairs that do not, listed. */
function misordered<V>(versions: readonly string[], parse: (v: string) => V, compare: (a: V, b: V) => number): string[] {
  const parsed = versions.map(parse);
  const wrong: string[] = [];
  for (let i = 0; i < versions.length; i++) {
    for (let j = i + 1; j < versions.length; j++) {
      if (sign(compare(parsed[i]!, parsed[j]!)) !== -1 || sign(compare(parsed[j]!, parsed[i]!)) !== 1) wrong.push(`${versions[i]} < ${versions[j]}`);
    }
  }
  return wrong;
}

function must<V>(p: { ok: true; value: V } | { ok: false; problem: string }): V {
  if (!p.ok) throw new Error(p.problem);
  return p.value;
}

describe('versionOrder: OSV ecosystem names', () => {
  it.each([
    ['Debian', 'Debian'],
    ['Debian:12', 'Debian'],
    ['Debian:9', 'Debian'],
    ['Alpine', 'Alpine'],
    ['Alpine:v3.19', 'Alpine'],
    ['npm', 'npm'],
    ['PyPI', 'PyPI'],
    ['Go', 'Go'],
    ['Maven', 'Maven'],
    ['Maven:https://repo.maven.apache.org/maven2/', 'Maven'],
  ])('%s is ordered as %s', (name, ecosystem) => {
    expect(versionOrder(name)?.ecosystem).toBe(ecosystem);
  });

  it.each([
    'debian',
    'pypi',
    'NPM',
    'crates.io',
    'Ubuntu:22.04',
    'Debian:',
    'Debian:bookworm',
    'Alpine:3.19',
    'Alpine:v3',
    'npm:x',
    'Go:1',
    '',
    ':12',
    'constructor',
    'toString',
  ])('%j is not an ecosystem it orders', (name) => {
    expect(versionOrder(name)).toBeUndefined();
  });

  it('lists the six ecosystems', () => {
    expect(ORDERED_ECOSYSTEMS).toEqual(['Debian', 'Alpine', 'npm', 'PyPI', 'Go', 'Maven']);
  });

  it("compares by each ecosystem's own rule: the same pair of strings, different answers", () => {
    const answers = ['Debian:12', 'Alpine:v3.19', 'npm', 'PyPI', 'Go', 'Maven'].map((e) => versionOrder(e)!.compare('1.0', '1.0.0'));
    // dpkg: the end sorts before `.`; apk: the shorter ends first; npm pads 1.0 to 1.0.0; PEP 440 drops trailing
    // zeros; Go reads v1.0 as v1.0.0; Maven drops trailing zeros.
    expect(answers.map((a) => (a.ok ? sign(a.value) : a.problem))).toEqual([-1, -1, 0, 0, 0, 0]);
    expect(versionOrder('Debian:12')!.compare('1:1.0', '2.0')).toEqual({ ok: true, value: 1 });
    expect(sign(must(versionOrder('npm')!.compare('1.0.0-rc.1', '1.0.0')))).toBe(-1);
  });

  it('answers the problem of the first version that is not one, and never throws', () => {
    const npm = versionOrder('npm')!;
    expect(npm.compare('1.2.3.4', 'x')).toEqual({ ok: false, problem: expect.stringContaining('"1.2.3.4" is not a SemVer 2.0 version') });
    expect(npm.compare('1.2.3', 'x')).toEqual({ ok: false, problem: expect.stringContaining('"x" is not a SemVer 2.0 version') });
    for (const e of ['Debian', 'Alpine', 'npm', 'PyPI', 'Go']) {
      for (const junk of ['', 'latest', '1.0_x', '\u0000', '~~~', 'v', '1.0 beta', 'x'.repeat(300)]) {
        const r = versionOrder(e)!.compare(junk, '1.0.0');
        expect([e, junk, r.ok]).toEqual([e, junk, false]);
        if (!r.ok) expect(r.problem).toContain(JSON.stringify(junk).slice(0, 20));
      }
    }
  });

  it('parses once and compares the parsed forms with the same answer as compare', () => {
    const go = versionOrder('Go')!;
    const a = must(go.parse('v1.2.4-0.20210101000000-abcdef123456'));
    const b = must(go.parse('1.2.4'));
    expect(sign(go.compareParsed(a, b))).toBe(-1);
    expect(go.compare('v1.2.4-0.20210101000000-abcdef123456', '1.2.4')).toEqual({ ok: true, value: go.compareParsed(a, b) });
  });
});

describe('npm: SemVer 2.0 as the semver package orders it', () => {
  const parse = (v: string) => must(parseNpmVersion(v));

  it("orders SemVer 2.0's own precedence example", () => {
    // semver.org, item 11
    const spec = [
      '1.0.0-alpha',
      '1.0.0-alpha.1',
      '1.0.0-alpha.beta',
      '1.0.0-beta',
      '1.0.0-beta.2',
      '1.0.0-beta.11',
      '1.0.0-rc.1',
      '1.0.0',
      '2.0.0',
      '2.1.0',
      '2.1.1',
    ];
    expect(misordered(spec, parse, compareNpmVersions)).toEqual([]);
  });

  it('agrees with semver.compare on every pair of a mixed list', () => {
    const list = [
      '0.0.0',
      '0.0.1',
      '0.1.0',
      '1.0.0-0',
      '1.0.0-1',
      '1.0.0-10',
      '1.0.0-2',
      '1.0.0-a',
      '1.0.0-a.1',
      '1.0.0-A',
      '1.0.0+build',
      '1.0.0',
      '4.17.20',
      '4.17.21',
      '10.0.0',
      'v2.0.0',
      '9007199254740990.0.0',
    ];
    for (const a of list) for (const b of list) expect([a, b, sign(compareNpmVersions(parse(a), parse(b)))]).toEqual([a, b, semver.compare(a, b)]);
  });

  it('build metadata does not order; a leading v is what semver reads too', () => {
    expect(compareNpmVersions(parse('1.0.0+a'), parse('1.0.0+b'))).toBe(0);
    expect(compareNpmVersions(parse('v1.2.3'), parse('1.2.3'))).toBe(0);
    expect(parse(' 1.2.3 ').version).toBe('1.2.3');
  });

  it('reads one or two numbers as a release with zeros for the rest', () => {
    expect(parse('1').version).toBe('1.0.0');
    expect(parse('1.0').version).toBe('1.0.0');
    expect(parse('v4.17').version).toBe('4.17.0');
    expect(parse('0').version).toBe('0.0.0');
    expect(sign(compareNpmVersions(parse('4.17'), parse('4.17.0-rc.1')))).toBe(1);
    expect(sign(compareNpmVersions(parse('4.17'), parse('4.17.21')))).toBe(-1);
  });

  it.each(['1.2.3.4', '01.2.3', '1.02', '1.0.0beta', '1.0-beta', '=1.2.3', '1.2.x', '^1.2.3', 'latest', '', '1.', 'v', '99999999999999999999.0.0'])(
    '%j is not comparable',
    (v) => {
      expect(parseNpmVersion(v)).toEqual({
        ok: false,
        problem: `${JSON.stringify(v)} is not a SemVer 2.0 version (major.minor.patch, e.g. 1.2.3 or 1.2.3-rc.1) nor one or two numbers (1, 1.2): it is not compared`,
      });
    },
  );
});

describe('PyPI: PEP 440', () => {
  const parse = (v: string): PypiVersion => must(parsePypiVersion(v));

  it("orders PEP 440's examples: dev, pre, release, post; epochs; local labels", () => {
    const ladder = [
      '1.0.dev456',
      '1.0a1',
      '1.0a2.dev456',
      '1.0a12.dev456',
      '1.0a12',
      '1.0b1.dev456',
      '1.0b2',
      '1.0b2.post345.dev456',
      '1.0b2.post345',
      '1.0rc1.dev456',
      '1.0rc1',
      '1.0',
      '1.0+abc.5',
      '1.0+abc.7',
      '1.0+5',
      '1.0.post456.dev34',
      '1.0.post456',
      '1.0.15',
      '1.1.dev1',
      '2.0',
      '1!0.5',
    ];
    expect(misordered(ladder, parse, comparePypiVersions)).toEqual([]);
  });

  it.each([
    ['1.0', '1.0.0', 0],
    ['1.0', '1', 0],
    ['v1.0', '1.0', 0],
    ['1.0-alpha1', '1.0a1', 0],
    ['1.0c1', '1.0rc1', 0],
    ['1.0-1', '1.0.post1', 0],
    ['1.0.RC1', '1.0rc1', 0],
    ['0!1.0', '1.0', 0],
    [' 2.31.0\n', '2.31.0', 0],
    ['2.31.0', '2.32.0', -1],
    ['3.2.25', '3.2.3', 1],
    ['1.0.post1', '1.0.1', -1],
  ] as const)('%j vs %j -> %i', (a, b, expected) => {
    expect(sign(comparePypiVersions(parse(a), parse(b)))).toBe(expected);
  });

  it.each(['2004d', '1.0-beta-2-x', 'latest', '', '1.0+', 'french toast', '1..0'])('%j is not a PEP 440 version', (v) => {
    expect(parsePypiVersion(v)).toEqual({ ok: false, problem: expect.stringContaining(`${JSON.stringify(v)} is not a PEP 440 version`) });
  });
});

describe("Go: modules' version order", () => {
  const parse = (v: string): GoVersion => must(parseGoVersion(v));

  it('orders releases, prereleases and pseudo-versions as go does', () => {
    const ladder = [
      'v0.0.0-20191109021931-daa7c04131f5',
      'v0.0.0-20210101000000-abcdef123456',
      'v0.0.0-20220101000000-000000000000',
      'v0.1.0',
      'v1.0.0-alpha',
      'v1.0.0-alpha.1',
      'v1.0.0-alpha.beta',
      'v1.0.0-beta.2',
      'v1.0.0-beta.11',
      'v1.0.0-rc.1',
      'v1.0.0',
      'v1.2.3-pre',
      'v1.2.3-pre.0.20210101000000-abcdef123456',
      'v1.2.3',
      'v1.2.4-0.20210101000000-abcdef123456',
      'v1.2.4-0.20220101000000-abcdef123456',
      'v1.2.4',
      'v1.10.0',
      'v2.0.0+incompatible',
      'v2.0.1',
      'v10.0.0',
    ];
    expect(misordered(ladder, parse, compareGoVersions)).toEqual([]);
  });

  it.each([
    ['v2.0.0+incompatible', 'v2.0.0', 0],
    ['v1', 'v1.0.0', 0],
    ['v1.2', 'v1.2.0', 0],
    ['1.2.3', 'v1.2.3', 0],
    ['1.21.0-rc.2', '1.21.0', -1],
    ['v0.17.0', 'v0.9.0', 1],
    ['v1.0.0-1', 'v1.0.0-a', -1],
    ['v1.0.0-9', 'v1.0.0-10', -1],
    ['v1.0.0-x.9', 'v1.0.0-x.10', -1],
    ['v1.0.0-x.a', 'v1.0.0-x.a.b', -1],
    ['v99999999999999999999.0.0', 'v99999999999999999998.0.0', 1],
  ] as const)('%s vs %s -> %i', (a, b, expected) => {
    expect(sign(compareGoVersions(parse(a), parse(b)))).toBe(expected);
    expect(sign(compareGoVersions(parse(b), parse(a)))).toBe(0 - expected || 0);
  });

  it.each(['v01.2.3', 'v1.02.3', 'v1.2.3-01', 'v1.2.3-', 'v1.2.3-a..b', 'v1.2.3+', 'v1.2-pre', 'v1-pre', 'v1.2.3.4', 'V1.2.3', 'go1.21', 'latest', ''])(
    '%j is not a Go module version',
    (v) => {
      expect(parseGoVersion(v)).toEqual({ ok: false, problem: expect.stringContaining(`${JSON.stringify(v)} is not a Go module version`) });
    },
  );
});
