/**
 * The gate (src/scan/policy.ts) on findings the product's own matcher makes from real OSV records
 * (test/fixtures/osv): lodash 4.17.20 under GHSA-35jh-r3h4-6jhm (high, fixed in 4.17.21), lodash.template 4.5.0
 * under the same record (no fixed version: `last_affected`), and Debian 12's expat 2.5.0-1 under DSA-5770-1 (no
 * severity in the record: `unknown`). The policies are parsed from codehub-build.yaml text as a push would be, and
 * the VEX statements from the hand-written OpenVEX fixture (test/fixtures/vex).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/parse.js';
import type { ScanConfig } from '../../src/config/types.js';
import { matchPackage, type PackageRef } from '../../src/scan/match.js';
import { parseOsvRecord } from '../../src/scan/osv.js';
import { blockingSummary, effectivePolicy, type FailOn, type JudgeInput, judge, parseFailOn, type Policy, reaches } from '../../src/scan/policy.js';
import type { Rating } from '../../src/scan/severity.js';
import { dpkgOrder, npmOrder, type VersionOrder } from '../../src/scan/versions/index.js';
import { parseOpenVex, type VexStatement } from '../../src/scan/vex.js';

const fixture = (name: string): unknown => JSON.parse(readFileSync(new URL(`../fixtures/osv/${name}`, import.meta.url), 'utf8'));
const record = (json: unknown) => {
  const r = parseOsvRecord(json);
  if (!r.ok) throw new Error(r.problem);
  return r.record;
};
const GHSA = record(fixture('GHSA-35jh-r3h4-6jhm.json'));
const DSA = record((fixture('DSA-5770-1.bodega.json') as unknown[])[0]);

type Installed = PackageRef & { purl: string; layer: string };

/** The one finding the real matcher makes for the package, in the shape the runner hands the gate (upstream CVEs joined to the aliases). */
function findingFor(pkg: Installed, rec: typeof GHSA, order: VersionOrder): JudgeInput & { layer: string } {
  const { findings, problems } = matchPackage(pkg, [rec], order);
  expect(problems).toEqual([]);
  expect(findings).toHaveLength(1);
  const f = findings[0]!;
  return {
    id: f.id,
    aliases: [...f.aliases, ...f.upstream],
    package: f.package.name,
    version: f.package.version,
    purl: f.package.purl,
    severity: f.severity.rating,
    fixed: f.fixed,
    layer: f.package.layer,
  };
}

const LAYER = 'sha256:5f0a4c2e7b1d3a9e8f6c4b2a0d9e8f7c6b5a4d3c2b1a0f9e8d7c6b5a4f3e2d1c';
const lodash = findingFor({ ecosystem: 'npm', name: 'lodash', version: '4.17.20', purl: 'pkg:npm/lodash@4.17.20', layer: LAYER }, GHSA, npmOrder);
const lodashTemplate = findingFor(
  { ecosystem: 'npm', name: 'lodash.template', version: '4.5.0', purl: 'pkg:npm/lodash.template@4.5.0', layer: LAYER },
  GHSA,
  npmOrder,
);
const expat = findingFor(
  { ecosystem: 'Debian:12', name: 'expat', version: '2.5.0-1', purl: 'pkg:deb/debian/libexpat1@2.5.0-1?arch=amd64&distro=debian-12', layer: LAYER },
  DSA,
  dpkgOrder,
);

/** An image's `scan:` policy as codehub-build.yaml gives it. */
function scanOf(yaml: string): ScanConfig {
  const indented = yaml
    .split('\n')
    .map((l) => `      ${l}`)
    .join('\n');
  const r = parseConfig(`version: 1\nimages:\n  - name: shop\n    scan:\n${indented}\n`, 'shop');
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.value.images[0]!.scan!;
}
const policy = (yaml: string, server: FailOn = 'none'): Policy => effectivePolicy(scanOf(yaml), server);
const vexFixture = (): VexStatement[] => {
  const r = parseOpenVex('security/openvex.json', readFileSync(new URL('../fixtures/vex/openvex.json', import.meta.url), 'utf8'));
  if (!r.ok) throw new Error(r.problem);
  return r.statements;
};
const NOW = new Date('2026-12-07T12:00:00Z');

describe('the real findings the gate is tested on', () => {
  it('are what the records say', () => {
    expect(lodash).toMatchObject({ id: 'GHSA-35jh-r3h4-6jhm', aliases: ['CVE-2021-23337'], severity: 'high', fixed: ['4.17.21'] });
    expect(lodashTemplate).toMatchObject({ id: 'GHSA-35jh-r3h4-6jhm', package: 'lodash.template', severity: 'high', fixed: [] });
    expect(expat).toMatchObject({ id: 'DSA-5770-1', severity: 'unknown', fixed: ['2.5.0-1+deb12u1'] });
    expect(expat.aliases).toEqual(expect.arrayContaining(['CVE-2024-45490', 'CVE-2024-45491', 'CVE-2024-45492']));
  });
});

describe('parseFailOn and effectivePolicy', () => {
  it('reads the server default, forgiving case and spaces, and refuses other words', () => {
    expect(['critical', ' High ', 'MEDIUM', 'low', 'none'].map(parseFailOn)).toEqual(['critical', 'high', 'medium', 'low', 'none']);
    expect(['', 'moderate', 'severe', 'true'].map(parseFailOn)).toEqual([null, null, null, null]);
  });

  it("lets the file's fail_on win over the server's, and keeps the rest of the file's policy", () => {
    expect(policy('fail_on: critical\nignore_unfixed: true\nvex: [security/openvex.json]', 'low')).toEqual({
      failOn: 'critical',
      failOnFrom: 'file',
      ignoreUnfixed: true,
      allow: [],
      vex: ['security/openvex.json'],
    });
    expect(policy('ignore_unfixed: true', 'high')).toMatchObject({ failOn: 'high', failOnFrom: 'server', ignoreUnfixed: true });
    expect(effectivePolicy(undefined, 'medium')).toEqual({ failOn: 'medium', failOnFrom: 'server', ignoreUnfixed: false, allow: [], vex: [] });
  });
});

describe('judge: thresholds', () => {
  it('blocks a high finding at fail_on high and below, never above it or at none', () => {
    const blocked = (failOn: FailOn) => judge([lodash], policy(`fail_on: ${failOn}`), [], NOW).blocked;
    expect((['critical', 'high', 'medium', 'low', 'none'] as const).map(blocked)).toEqual([false, true, true, true, false]);
  });

  it.each([
    ['critical', [true, true, true, true]],
    ['high', [false, true, true, true]],
    ['medium', [false, false, true, true]],
    ['low', [false, false, false, true]],
    ['none', [false, false, false, true]],
    ['unknown', [false, false, false, true]],
  ] as [Rating, boolean[]][])('a %s finding blocks at fail_on critical, high, medium, low: %j', (severity, want) => {
    expect((['critical', 'high', 'medium', 'low'] as const).map((f) => reaches(severity, f))).toEqual(want);
    expect(reaches(severity, 'none')).toBe(false);
  });

  it('blocks the unrated DSA only at fail_on low', () => {
    expect(judge([expat], policy('fail_on: high'), [], NOW).blocked).toBe(false);
    expect(judge([expat], policy('fail_on: medium'), [], NOW).blocked).toBe(false);
    expect(judge([expat], policy('fail_on: low'), [], NOW).findings[0]!.blocking).toBe(true);
  });
});

describe('judge: ignore_unfixed', () => {
  it('lets a finding with no fixed version pass, and still blocks the one with a fix', () => {
    const j = judge([lodash, lodashTemplate], policy('fail_on: high\nignore_unfixed: true'), [], NOW);
    expect(j.findings.map((f) => [f.package, f.blocking, f.allowed])).toEqual([
      ['lodash', true, null],
      ['lodash.template', false, null],
    ]);
    expect(judge([lodashTemplate], policy('fail_on: high'), [], NOW).blocked).toBe(true);
  });
});

describe('judge: allowances', () => {
  const allow = (entry: string) => policy(`fail_on: high\nallow:\n  - ${entry}`);

  it('matches by an alias and by package, and says why', () => {
    const j = judge([lodash], allow('{ id: CVE-2021-23337, package: lodash, until: 2027-03-31, reason: "template() is never called" }'), [], NOW);
    expect(j.blocked).toBe(false);
    expect(j.findings[0]).toMatchObject({ blocking: false, allowed: { by: 'allowance', reason: 'template() is never called', until: '2027-03-31' } });
    expect(j.expired).toEqual([]);
    expect(judge([lodash], allow('{ id: GHSA-35jh-r3h4-6jhm, until: 2027-03-31, reason: by id }'), [], NOW).blocked).toBe(false);
  });

  it('allows nothing in another package or for another vulnerability', () => {
    const otherPackage = judge([lodash, lodashTemplate], allow('{ id: CVE-2021-23337, package: lodash-es, until: 2027-03-31, reason: x }'), [], NOW);
    expect(otherPackage.findings.map((f) => f.blocking)).toEqual([true, true]);
    const narrowed = judge([lodash, lodashTemplate], allow('{ id: CVE-2021-23337, package: lodash.template, until: 2027-03-31, reason: x }'), [], NOW);
    expect(narrowed.findings.map((f) => [f.package, f.blocking])).toEqual([
      ['lodash', true],
      ['lodash.template', false],
    ]);
    expect(judge([lodash], allow('{ id: CVE-2020-28500, until: 2027-03-31, reason: x }'), [], NOW).blocked).toBe(true);
  });

  it('blocks past its until and lists it as expired; holds through the end of the until day, UTC', () => {
    const p = allow('{ id: CVE-2021-23337, package: lodash, until: 2026-12-06, reason: "waiting for 4.17.21" }');
    const j = judge([lodash], p, [], NOW);
    expect(j.blocked).toBe(true);
    expect(j.findings[0]!.allowed).toBeNull();
    expect(j.expired).toEqual([{ id: 'CVE-2021-23337', package: 'lodash', until: '2026-12-06', reason: 'waiting for 4.17.21' }]);
    expect(judge([lodash], p, [], new Date('2026-12-06T23:59:59.999Z')).blocked).toBe(false);
    expect(judge([lodash], p, [], new Date('2026-12-07T00:00:00.000Z')).blocked).toBe(true);
  });

  it('treats an until that is not a date (a stored config edited by hand) as run out', () => {
    const p: Policy = { ...policy('fail_on: high'), allow: [{ id: 'CVE-2021-23337', until: '2027-02-30', reason: 'typo' }] };
    const j = judge([lodash], p, [], NOW);
    expect(j.blocked).toBe(true);
    expect(j.expired).toEqual([{ id: 'CVE-2021-23337', until: '2027-02-30', reason: 'typo' }]);
  });

  it('lists an expired allowance once however many findings it would have matched, and not when it matches none', () => {
    const p = policy(
      'fail_on: high\nallow:\n  - { id: CVE-2021-23337, until: 2026-01-31, reason: old }\n  - { id: CVE-2099-0001, until: 2026-01-31, reason: unused }',
    );
    const j = judge([lodash, lodashTemplate], p, [], NOW);
    expect(j.expired).toEqual([{ id: 'CVE-2021-23337', until: '2026-01-31', reason: 'old' }]);
    expect(j.findings.every((f) => f.blocking)).toBe(true);
  });

  it('still allows under a live allowance when an expired one for the same finding is listed', () => {
    const p = policy(
      'fail_on: high\nallow:\n  - { id: CVE-2021-23337, until: 2026-01-31, reason: old }\n  - { id: GHSA-35jh-r3h4-6jhm, until: 2027-01-31, reason: renewed }',
    );
    const j = judge([lodash], p, [], NOW);
    expect(j.findings[0]!.allowed).toEqual({ by: 'allowance', reason: 'renewed', until: '2027-01-31' });
    expect(j.expired.map((e) => e.reason)).toEqual(['old']);
  });
});

describe('judge: VEX', () => {
  it('passes a finding a not_affected statement covers, showing its justification and document', () => {
    const j = judge([lodash], policy('fail_on: high\nvex: [security/openvex.json]'), vexFixture(), NOW);
    expect(j.blocked).toBe(false);
    expect(j.findings[0]!.allowed).toEqual({
      by: 'vex',
      status: 'not_affected',
      justification: 'vulnerable_code_not_in_execute_path',
      impactStatement: "The shop never calls lodash's template(); the command injection is in template() only.",
      document: 'security/openvex.json',
    });
  });

  it('does not suppress with affected or under_investigation, nor for a package the statement does not name', () => {
    const vex = vexFixture();
    const p = policy('fail_on: low');
    // DSA-5770-1 carries CVE-2024-45490 (under_investigation) and CVE-2024-45491 (affected) in the fixture.
    expect(judge([expat], p, vex, NOW).findings[0]).toMatchObject({ allowed: null, blocking: true });
    expect(judge([lodashTemplate], p, vex, NOW).findings[0]).toMatchObject({ allowed: null, blocking: true });
  });

  it('passes a fixed statement, without a justification', () => {
    const r = parseOpenVex(
      'vex/fixed.json',
      JSON.stringify({
        '@context': 'https://openvex.dev/ns/v0.2.0',
        statements: [{ vulnerability: { name: 'CVE-2024-45491' }, products: [{ '@id': 'pkg:deb/debian/expat' }], status: 'fixed' }],
      }),
    );
    if (!r.ok) throw new Error(r.problem);
    const j = judge([expat], policy('fail_on: low'), r.statements, NOW);
    expect(j.findings[0]!.allowed).toEqual({ by: 'vex', status: 'fixed', document: 'vex/fixed.json' });
    expect(j.blocked).toBe(false);
  });
});

describe('judge: counts and pass-through', () => {
  it('counts every finding, allowed ones too, CVSS 0.0 as low, and those with a fix', () => {
    const zero = { ...lodash, id: 'GHSA-zero', aliases: [], severity: 'none' as const };
    const critical = { ...lodash, id: 'GHSA-crit', aliases: [], severity: 'critical' as const, fixed: [] };
    const j = judge([lodash, lodashTemplate, expat, zero, critical], policy('fail_on: critical'), vexFixture(), NOW);
    expect(j.counts).toEqual({ critical: 1, high: 2, medium: 0, low: 1, unknown: 1 });
    expect(j.fixable).toBe(3);
    expect(j.findings[0]!.allowed?.by).toBe('vex');
    expect(j.findings.map((f) => f.blocking)).toEqual([false, false, false, false, true]);
  });

  it('gates a CVSS 0.0 finding as low', () => {
    const zero = { ...lodash, severity: 'none' as const };
    expect(judge([zero], policy('fail_on: low'), [], NOW).blocked).toBe(true);
    expect(judge([zero], policy('fail_on: medium'), [], NOW).blocked).toBe(false);
  });

  it("returns the caller's own fields untouched and in order", () => {
    const j = judge([expat, lodash], policy('fail_on: high'), [], NOW);
    expect(j.findings.map((f) => [f.id, f.layer])).toEqual([
      ['DSA-5770-1', LAYER],
      ['GHSA-35jh-r3h4-6jhm', LAYER],
    ]);
  });
});

describe('blockingSummary', () => {
  it('says one line per blocking finding: CVE first, package and version, severity, the fix or its absence', () => {
    const j = judge([lodash, lodashTemplate, expat], policy('fail_on: low\nallow:\n  - { id: DSA-5770-1, until: 2027-01-01, reason: rebuilding }'), [], NOW);
    expect(blockingSummary(j)).toEqual([
      'CVE-2021-23337 (GHSA-35jh-r3h4-6jhm) in lodash 4.17.20: high, fixed in 4.17.21',
      'CVE-2021-23337 (GHSA-35jh-r3h4-6jhm) in lodash.template 4.5.0: high, no fixed version',
    ]);
    const dsa = judge([expat], policy('fail_on: low'), [], NOW);
    expect(blockingSummary(dsa)).toEqual([
      'CVE-2024-45490 (DSA-5770-1, CVE-2024-45491, CVE-2024-45492, DEBIAN-CVE-2024-45490, DEBIAN-CVE-2024-45491, DEBIAN-CVE-2024-45492) in expat 2.5.0-1: unknown, fixed in 2.5.0-1+deb12u1',
    ]);
    expect(blockingSummary(judge([lodash], policy('fail_on: critical'), [], NOW))).toEqual([]);
  });
});
