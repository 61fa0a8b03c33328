/**
 * OSV's evaluation (src/scan/match.ts) on real records and on the schema's own examples: versions listed, ranges
 * walked in the ecosystem's order, fixed exclusive, last_affected inclusive, limits, GIT ranges ignored, withdrawn
 * records matching nothing; and the negative controls issue 26 names (the fixed version itself, an epoch that
 * orders above, a record for another Debian release, a withdrawn record, a binary package name).
 *
 * The orders are the product's own (src/scan/versions/): npm's for npm and Maven's plain x.y.z versions, dpkg's
 * for Debian.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { affects, evaluate, fixedVersions, isAbout, matchPackage, type VersionOrder } from '../../src/scan/match.js';
import { type Affected, type OsvRecord, parseOsvRecord } from '../../src/scan/osv.js';
import { dpkgOrder, npmOrder } from '../../src/scan/versions/index.js';

const fixtureJson = (name: string): unknown => JSON.parse(readFileSync(new URL(`../fixtures/osv/${name}`, import.meta.url), 'utf8'));
const record = (json: unknown): OsvRecord => {
  const r = parseOsvRecord(json);
  if (!r.ok) throw new Error(r.problem);
  return r.record;
};
const lodash = record(fixtureJson('GHSA-35jh-r3h4-6jhm.json'));
const pgjdbcWithdrawn = record(fixtureJson('GHSA-xfg6-62px-cxc2.json'));
const dla3008 = record(fixtureJson('DLA-3008-1.json'));
const dsa5770 = record((fixtureJson('DSA-5770-1.bodega.json') as unknown[])[0]);

/** The product's orders (src/scan/versions/, tested there against the real dpkg and each ecosystem's rules). */
const npm: VersionOrder = npmOrder;
const dpkg: VersionOrder = dpkgOrder;
/** An affected entry of the schema's own shape, for the algorithm's cases. */
const entry = (ranges: Affected['ranges'], versions: string[] = []): Affected => ({ package: { ecosystem: 'npm', name: 'x' }, severity: [], ranges, versions });
const semverRange = (...events: Affected['ranges'][number]['events']): Affected => entry([{ type: 'SEMVER', events }]);

describe('evaluate: the schema examples', () => {
  it('introduced "0" alone: every version', () => {
    const e = semverRange({ introduced: '0' });
    expect(['0.0.1', '1.0.0', '99.0.0'].map((v) => affects(e, v, npm))).toEqual([true, true, true]);
  });

  it('everything before 1.0.2: the fixed version itself is not affected', () => {
    const e = semverRange({ introduced: '0' }, { fixed: '1.0.2' });
    expect(['0.1.0', '1.0.1', '1.0.2-rc.1', '1.0.2', '1.0.3'].map((v) => affects(e, v, npm))).toEqual([true, true, true, false, false]);
    // introduced "0" sorts first wherever the record puts it.
    const reversed = semverRange({ fixed: '1.0.2' }, { introduced: '0' });
    expect(['0.1.0', '1.0.2', '1.0.3'].map((v) => affects(reversed, v, npm))).toEqual([true, false, false]);
  });

  it('two spans, [1.0.0, 1.0.2) and [3.0.0, 3.2.5), given in any order', () => {
    const events = [{ introduced: '1.0.0' }, { fixed: '1.0.2' }, { introduced: '3.0.0' }, { fixed: '3.2.5' }];
    const versions = ['0.9.0', '1.0.0', '1.0.1', '1.0.2', '2.0.0', '3.0.0', '3.2.4', '3.2.5', '4.0.0'];
    const want = [false, true, true, false, false, true, true, false, false];
    expect(versions.map((v) => affects(semverRange(...events), v, npm))).toEqual(want);
    // Records should list events in order, but the schema sorts them before walking: so must we.
    expect(versions.map((v) => affects(semverRange(...[...events].reverse()), v, npm))).toEqual(want);
    expect(versions.map((v) => affects(semverRange(events[3]!, events[0]!, events[2]!, events[1]!), v, npm))).toEqual(want);
  });

  it('last_affected is inclusive', () => {
    const e = semverRange({ introduced: '0' }, { last_affected: '2.1.214' });
    expect(['2.1.213', '2.1.214', '2.1.215'].map((v) => affects(e, v, npm))).toEqual([true, true, false]);
  });

  it('limit bounds a range from above, exclusively; "*" bounds nothing; any limit above lets the version in', () => {
    expect(['1.0.0', '1.9.9', '2.0.0', '3.0.0'].map((v) => affects(semverRange({ introduced: '1.0.0' }, { limit: '2.0.0' }), v, npm))).toEqual([
      true,
      true,
      false,
      false,
    ]);
    expect(affects(semverRange({ introduced: '1.0.0' }, { limit: '*' }), '9.0.0', npm)).toBe(true);
    expect(affects(semverRange({ introduced: '1.0.0' }, { limit: '2.0.0' }, { limit: '4.0.0' }), '3.0.0', npm)).toBe(true);
    expect(affects(semverRange({ introduced: '0' }, { fixed: '5.0.0' }, { limit: '2.0.0' }), '3.0.0', npm)).toBe(false);
  });

  it('versions[] lists affected versions exactly, with no order needed', () => {
    const e = entry([], ['1.0.0', '1.0.1']);
    const refuses: VersionOrder = { compare: () => ({ ok: false, problem: 'no order here' }) };
    expect(affects(e, '1.0.1', refuses)).toBe(true);
    expect(affects(e, '1.0.2', refuses)).toBe(false);
    expect(affects(e, '1.0.1+build', npm)).toBe(false); // equal in semver's order, but not the string the record lists
  });

  it('GIT ranges never match a version, even one that looks like their commits', () => {
    const sha = 'a'.repeat(40);
    const e = entry([{ type: 'GIT', repo: 'https://example.org/r.git', events: [{ introduced: '0' }] }]);
    expect(affects(e, '1.0.0', npm)).toBe(false);
    expect(affects(entry([{ type: 'GIT', repo: 'r', events: [{ introduced: sha }] }]), sha, npm)).toBe(false);
  });

  it('several ranges: any one holding the version is enough', () => {
    const e = entry([
      { type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: '1.0.0' }] },
      { type: 'ECOSYSTEM', events: [{ introduced: '2.0.0' }, { fixed: '2.1.0' }] },
    ]);
    expect(['0.5.0', '1.5.0', '2.0.5', '2.1.0'].map((v) => affects(e, v, npm))).toEqual([true, false, true, false]);
  });

  it('a range the order cannot read is passed over and named; the other ranges still decide', () => {
    const e = entry([
      { type: 'ECOSYSTEM', events: [{ introduced: 'not-a-version' }] },
      { type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: '2.0.0' }] },
    ]);
    expect(evaluate(e, '1.0.0', npm)).toEqual({ affected: true, problems: [] });
    const out = evaluate(e, '3.0.0', npm);
    expect(out.affected).toBe(false);
    expect(out.problems).toHaveLength(1);
    expect(out.problems[0]).toMatch(/^ranges\[0\]: cannot order "3\.0\.0" against "not-a-version": /);
  });
});

describe('matchPackage on GHSA-35jh-r3h4-6jhm (lodash, CVE-2021-23337)', () => {
  it('finds lodash@4.17.20: high 7.2, fixed in 4.17.21, with its CVE alias', () => {
    const { findings, problems } = matchPackage({ ecosystem: 'npm', name: 'lodash', version: '4.17.20' }, [lodash], npm);
    expect(problems).toEqual([]);
    expect(findings).toHaveLength(1);
    const f = findings[0]!;
    expect(f.id).toBe('GHSA-35jh-r3h4-6jhm');
    expect(f.aliases).toEqual(['CVE-2021-23337']);
    expect(f.fixed).toEqual(['4.17.21']);
    expect(f.severity.rating).toBe('high');
    expect(f.severity.score).toBe(7.2);
    expect(f.summary).toBe('Command Injection in lodash');
    expect(f.package).toEqual({ ecosystem: 'npm', name: 'lodash', version: '4.17.20' });
  });

  it('the fixed version itself and later ones are clean', () => {
    for (const version of ['4.17.21', '4.17.22', '5.0.0'])
      expect(matchPackage({ ecosystem: 'npm', name: 'lodash', version }, [lodash], npm).findings).toEqual([]);
  });

  it('lodash-es is its own entry in the same record', () => {
    expect(matchPackage({ ecosystem: 'npm', name: 'lodash-es', version: '4.17.15' }, [lodash], npm).findings.map((f) => f.id)).toEqual(['GHSA-35jh-r3h4-6jhm']);
  });

  it('lodash.template: last_affected 4.5.0 is affected, 4.5.1 is not, and there is no fixed version to offer', () => {
    const at = matchPackage({ ecosystem: 'npm', name: 'lodash.template', version: '4.5.0' }, [lodash], npm).findings;
    expect(at.map((f) => f.fixed)).toEqual([[]]);
    expect(matchPackage({ ecosystem: 'npm', name: 'lodash.template', version: '4.5.1' }, [lodash], npm).findings).toEqual([]);
  });

  it('another ecosystem with the same name is not matched', () => {
    expect(matchPackage({ ecosystem: 'PyPI', name: 'lodash', version: '4.17.20' }, [lodash], npm).findings).toEqual([]);
  });

  it("gives back the caller's package as it came, extra fields and all", () => {
    const pkg = { ecosystem: 'npm', name: 'lodash', version: '4.17.20', layer: 'sha256:abc', path: 'app/node_modules/lodash' };
    expect(matchPackage(pkg, [lodash], npm).findings[0]!.package).toBe(pkg);
  });
});

describe('matchPackage on Debian records, in the dpkg order', () => {
  const expat = (version: string, ecosystem = 'Debian:12') => ({ ecosystem, name: 'expat', version, binary: 'libexpat1' });

  it('finds expat 2.5.0-1 in Debian 12 (DSA-5770-1), fixed in 2.5.0-1+deb12u1, with its upstream CVEs', () => {
    const { findings } = matchPackage(expat('2.5.0-1'), [dsa5770], dpkg);
    expect(findings.map((f) => [f.id, f.fixed])).toEqual([['DSA-5770-1', ['2.5.0-1+deb12u1']]]);
    expect(findings[0]!.upstream).toEqual(expect.arrayContaining(['CVE-2024-45490', 'CVE-2024-45491', 'CVE-2024-45492']));
    expect(findings[0]!.severity.rating).toBe('unknown'); // the record carries no severity at all
  });

  it('by the range as well as by the listed versions: a revision never listed but below the fix is found', () => {
    expect(dsa5770.affected[0]!.versions).not.toContain('2.4.9-1');
    expect(matchPackage(expat('2.4.9-1'), [dsa5770], dpkg).findings).toHaveLength(1);
    expect(matchPackage(expat('2.5.0-0.1'), [dsa5770], dpkg).findings).toHaveLength(1);
  });

  it('negative control: the fixed version itself, and what Debian built after it', () => {
    expect(matchPackage(expat('2.5.0-1+deb12u1'), [dsa5770], dpkg).findings).toEqual([]);
    expect(matchPackage(expat('2.5.0-1+deb12u2'), [dsa5770], dpkg).findings).toEqual([]);
    expect(matchPackage(expat('2.6.4-1'), [dsa5770], dpkg).findings).toEqual([]);
  });

  it('negative control: an epoch orders above the fix, whatever the upstream version says', () => {
    expect(matchPackage(expat('1:2.4.0-1'), [dsa5770], dpkg).findings).toEqual([]);
    // And the other way round: a fix behind an epoch is above every version without one.
    const behindEpoch = structuredClone(dsa5770);
    behindEpoch.affected[0]!.ranges[0]!.events = [{ introduced: '0' }, { fixed: '1:2.0.0-1' }];
    behindEpoch.affected[0]!.versions = [];
    expect(matchPackage(expat('2.6.4-1'), [behindEpoch], dpkg).findings.map((f) => f.fixed)).toEqual([['1:2.0.0-1']]);
    // Without the epoch the same installed version would be clean: the epoch is what made it affected.
    behindEpoch.affected[0]!.ranges[0]!.events = [{ introduced: '0' }, { fixed: '2.0.0-1' }];
    expect(matchPackage(expat('2.6.4-1'), [behindEpoch], dpkg).findings).toEqual([]);
  });

  it('negative control: a record for another Debian release says nothing about this one', () => {
    expect(matchPackage(expat('2.5.0-1', 'Debian:11'), [dsa5770], dpkg).findings).toEqual([]);
    expect(matchPackage(expat('2.5.0-1', 'Debian'), [dsa5770], dpkg).findings).toEqual([]);
    const openssl = (ecosystem: string) => ({ ecosystem, name: 'openssl', version: '1.1.0l-1~deb9u5' });
    expect(matchPackage(openssl('Debian:9'), [dla3008], dpkg).findings.map((f) => [f.id, f.fixed])).toEqual([['DLA-3008-1', ['1.1.0l-1~deb9u6']]]);
    expect(matchPackage(openssl('Debian:12'), [dla3008], dpkg).findings).toEqual([]);
  });

  it('negative control: a binary package name is not its source package', () => {
    expect(matchPackage({ ecosystem: 'Debian:12', name: 'libexpat1', version: '2.5.0-1' }, [dsa5770], dpkg).findings).toEqual([]);
  });

  it("DLA-3008-1's tilde revisions: the listed ones and the fix in dpkg's order", () => {
    const version = (v: string) => matchPackage({ ecosystem: 'Debian:9', name: 'openssl', version: v }, [dla3008], dpkg).findings.length;
    expect(version('1.1.0f-3+deb9u2')).toBe(1);
    expect(version('1.1.0l-1~deb9u6')).toBe(0);
    // 1.1.0l-1 is after every ~deb9uN revision of it in dpkg's order: above the fix, clean.
    expect(version('1.1.0l-1')).toBe(0);
  });

  it('an entry for plain Debian (no release) is about every release', () => {
    const unscoped = structuredClone(dsa5770);
    unscoped.affected[0]!.package!.ecosystem = 'Debian';
    expect(matchPackage(expat('2.5.0-1', 'Debian:11'), [unscoped], dpkg).findings).toHaveLength(1);
  });
});

describe('matchPackage: withdrawn records, several entries, several records', () => {
  const pgjdbc = (version: string) => ({ ecosystem: 'Maven', name: 'org.postgresql:postgresql', version });

  it('negative control: a withdrawn record matches nothing, though its ranges hold the version', () => {
    expect(pgjdbcWithdrawn.withdrawn).toBeDefined();
    expect(matchPackage(pgjdbc('42.7.1'), [pgjdbcWithdrawn], npm).findings).toEqual([]);
    // The same record not withdrawn: proof the version is in its ranges, so the withdrawal is what hid it.
    const live = { ...pgjdbcWithdrawn, withdrawn: undefined };
    expect(matchPackage(pgjdbc('42.7.1'), [live], npm).findings.map((f) => f.id)).toEqual(['GHSA-xfg6-62px-cxc2']);
  });

  it('one finding per record however many entries match, with the fixes above the installed version, nearest first', () => {
    const live = { ...pgjdbcWithdrawn, withdrawn: undefined };
    const twice = structuredClone(live);
    twice.affected.push(structuredClone(live.affected[1]!)); // 42.6.0 <= v < 42.6.1, a second time
    const [f] = matchPackage(pgjdbc('42.6.0'), [twice], npm).findings;
    expect(f!.fixed).toEqual(['42.6.1', '42.7.2']);
    expect(matchPackage(pgjdbc('42.6.0'), [twice], npm).findings).toHaveLength(1);
    expect(f!.severity).toMatchObject({ rating: 'critical', score: 10, source: 'CVSS_V3' });
    // Between the branches' spans: 42.6.1 up to 42.7.0 is clean.
    expect(matchPackage(pgjdbc('42.6.1'), [live], npm).findings).toEqual([]);
    expect(matchPackage(pgjdbc('42.2.7'), [live], npm).findings[0]!.fixed).toEqual(['42.2.8', '42.3.9', '42.4.4', '42.5.5', '42.6.1', '42.7.2']);
  });

  it('several records: each that affects the package is a finding, in the order given', () => {
    const other = structuredClone(lodash);
    other.id = 'GHSA-test-only-copy';
    const found = matchPackage({ ecosystem: 'npm', name: 'lodash', version: '4.17.20' }, [pgjdbcWithdrawn, lodash, dla3008, other], npm).findings;
    expect(found.map((f) => f.id)).toEqual(['GHSA-35jh-r3h4-6jhm', 'GHSA-test-only-copy']);
  });

  it('an installed version the order cannot read: no finding from ranges, and each range named', () => {
    const { findings, problems } = matchPackage({ ecosystem: 'npm', name: 'lodash', version: 'latest' }, [lodash], npm);
    expect(findings).toEqual([]);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^GHSA-35jh-r3h4-6jhm affected\[0\]\.ranges\[0\]: cannot order "latest" against "4\.17\.21": /);
  });
});

describe('fixedVersions and isAbout', () => {
  it('lists the fixed events of version ranges once each, in the record order, never a GIT commit', () => {
    expect(fixedVersions(lodash.affected[0]!)).toEqual(['4.17.21']);
    expect(fixedVersions(lodash.affected[2]!)).toEqual([]); // last_affected only
    const e = entry([
      { type: 'GIT', repo: 'r', events: [{ introduced: '0' }, { fixed: 'c'.repeat(40) }] },
      { type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: '1.2.0' }, { introduced: '2.0.0' }, { fixed: '2.0.3' }] },
      { type: 'SEMVER', events: [{ introduced: '0' }, { fixed: '1.2.0' }] },
    ]);
    expect(fixedVersions(e)).toEqual(['1.2.0', '2.0.3']);
  });

  it('compares PyPI names as PEP 503 does, others exactly', () => {
    expect(isAbout({ ecosystem: 'PyPI', name: 'zope.interface' }, { ecosystem: 'PyPI', name: 'Zope_Interface' })).toBe(true);
    expect(isAbout({ ecosystem: 'PyPI', name: 'zope-interface' }, { ecosystem: 'PyPI', name: 'zopeinterface' })).toBe(false);
    expect(isAbout({ ecosystem: 'npm', name: 'lodash' }, { ecosystem: 'npm', name: 'Lodash' })).toBe(false);
    expect(isAbout({ ecosystem: 'Alpine:v3.20', name: 'openssl' }, { ecosystem: 'Alpine:v3.19', name: 'openssl' })).toBe(false);
    expect(isAbout({ ecosystem: 'Alpine:v3.20', name: 'openssl' }, { ecosystem: 'Alpine:v3.20', name: 'openssl' })).toBe(true);
  });
});
