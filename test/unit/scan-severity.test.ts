/**
 * Severity (src/scan/severity.ts): CVSS v3.x and v4.0 vectors scored and rated on CVSS's scale, the database's own
 * word when there is no vector, `unknown` when there is neither; a vector that does not score says why. The
 * expected scores are FIRST's (the specification's formulas, as NVD and GitHub publish them for these vectors),
 * not read back from the calculator.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { type OsvRecord, parseOsvRecord } from '../../src/scan/osv.js';
import { databaseRating, ratingOf, scoreVector, severityOf } from '../../src/scan/severity.js';

const record = (json: unknown): OsvRecord => {
  const r = parseOsvRecord(json);
  if (!r.ok) throw new Error(r.problem);
  return r.record;
};
const fixture = (name: string): OsvRecord => record(JSON.parse(readFileSync(new URL(`../fixtures/osv/${name}`, import.meta.url), 'utf8')));
/** A record with only the given severities (and database_specific), for one source at a time. */
const rated = (severity: { type: string; score: string }[], database_specific?: Record<string, unknown>): OsvRecord =>
  record({ id: 'TEST-1', modified: '2024-01-01T00:00:00Z', severity, ...(database_specific ? { database_specific } : {}) });

describe('ratingOf: the CVSS scale', () => {
  it('puts each boundary on the right side', () => {
    const at = [0, 0.1, 3.9, 4, 6.9, 7, 8.9, 9, 10].map(ratingOf);
    expect(at).toEqual(['none', 'low', 'low', 'medium', 'medium', 'high', 'high', 'critical', 'critical']);
  });
});

describe('scoreVector', () => {
  it("scores v3.1 vectors as FIRST's calculator does", () => {
    const cases: [string, number][] = [
      ['CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:H/I:H/A:H', 7.2], // GHSA-35jh-r3h4-6jhm (lodash)
      ['CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H', 10], // GHSA-xfg6-62px-cxc2 (pgjdbc)
      ['CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H', 9.8],
      ['CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H', 7.5],
      ['CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N', 6.1],
      ['CVSS:3.1/AV:L/AC:H/PR:H/UI:N/S:U/C:L/I:N/A:N', 1.9],
      ['CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N', 0],
    ];
    expect(cases.map(([v]) => scoreVector(v))).toEqual(cases.map(([, score]) => ({ ok: true, version: '3.1', score })));
  });

  it('scores v3.0 vectors, and keeps the base score when temporal metrics are present', () => {
    expect(scoreVector('CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H')).toEqual({ ok: true, version: '3.0', score: 9.8 });
    expect(scoreVector('CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:U/RL:O/RC:R')).toEqual({ ok: true, version: '3.1', score: 9.8 });
  });

  it("scores v4.0 vectors as FIRST's calculator does", () => {
    expect(scoreVector('CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N')).toEqual({ ok: true, version: '4.0', score: 9.3 });
    expect(scoreVector('CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:H/SC:N/SI:N/SA:N')).toEqual({ ok: true, version: '4.0', score: 8.7 });
    // GitHub's advisories score this vector (the usual stored XSS one) 5.3.
    expect(scoreVector('CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:P/VC:N/VI:N/VA:N/SC:L/SI:L/SA:N')).toEqual({ ok: true, version: '4.0', score: 5.3 });
    expect(scoreVector('CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:N/SI:N/SA:N')).toEqual({ ok: true, version: '4.0', score: 0 });
  });

  it('says why a vector does not score', () => {
    const why = (v: string) => {
      const r = scoreVector(v);
      if (r.ok) throw new Error(`${v} scored ${r.score}`);
      return r.problem;
    };
    expect(why('AV:N/AC:L/Au:N/C:P/I:P/A:P')).toBe(
      '"AV:N/AC:L/Au:N/C:P/I:P/A:P" is not a CVSS v3.0, v3.1 or v4.0 vector (it must start CVSS:3.0/, CVSS:3.1/ or CVSS:4.0/)',
    );
    expect(why('CVSS:3.1/AV:N/AC:L')).toBe('CVSS:3.1 vector "CVSS:3.1/AV:N/AC:L" lacks the base metrics PR, UI, S, C, I, A');
    expect(why('CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H')).toBe('CVSS:3.1 vector "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H" lacks the base metric A');
    expect(why('CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/A:L')).toMatch(/sets A twice$/);
    expect(why('CVSS:3.1/AV:N//AC:L')).toMatch(/^"" in CVSS:3.1 vector .* is not a METRIC:VALUE pair$/);
    expect(why('CVSS:3.1/AV:Q/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H')).toMatch(/^CVSS:3\.1 vector ".*" does not score: .+/);
    expect(why('CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/ZZ:X')).toMatch(/^CVSS:3\.1 vector ".*" does not score: .+/);
    expect(why('CVSS:4.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H')).toMatch(/^CVSS:4\.0 vector ".*" lacks the base metrics AT, VC, VI, VA, SC, SI, SA$/);
    expect(why('CVSS:5.0/AV:N')).toMatch(/is not a CVSS v3\.0, v3\.1 or v4\.0 vector/);
  });
});

describe('databaseRating', () => {
  it("reads GHSA's words, MODERATE as medium, in any case", () => {
    expect(['LOW', 'MODERATE', 'HIGH', 'CRITICAL', 'medium', ' High '].map(databaseRating)).toEqual(['low', 'medium', 'high', 'critical', 'medium', 'high']);
    expect(databaseRating('IMPORTANT')).toBeUndefined();
  });
});

describe('severityOf', () => {
  it('rates the real records by their vectors', () => {
    expect(severityOf(fixture('GHSA-35jh-r3h4-6jhm.json'))).toEqual({
      rating: 'high',
      score: 7.2,
      source: 'CVSS_V3',
      vector: 'CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:H/I:H/A:H',
      problems: [],
    });
    expect(severityOf(fixture('GHSA-xfg6-62px-cxc2.json'))).toMatchObject({ rating: 'critical', score: 10, source: 'CVSS_V3' });
  });

  it('prefers a v4.0 vector to a v3.x one, whichever scores higher', () => {
    const both = rated([
      { type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H' },
      { type: 'CVSS_V4', score: 'CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:H/SC:N/SI:N/SA:N' },
    ]);
    expect(severityOf(both)).toMatchObject({ rating: 'high', score: 8.7, source: 'CVSS_V4' });
  });

  it('of several vectors of one version, takes the highest', () => {
    const two = rated([
      { type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N' },
      { type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H' },
    ]);
    expect(severityOf(two)).toMatchObject({ rating: 'high', score: 7.5 });
  });

  it("falls back to the database's word when there is no vector: GHSA's MODERATE is medium", () => {
    expect(severityOf(rated([], { severity: 'MODERATE' }))).toEqual({ rating: 'medium', score: null, source: 'database_specific', vector: null, problems: [] });
    // CVSS v2 and Ubuntu's words are not rated here: the database's word still is.
    expect(severityOf(rated([{ type: 'CVSS_V2', score: 'AV:N/AC:L/Au:N/C:P/I:P/A:P' }], { severity: 'LOW' }))).toMatchObject({ rating: 'low' });
  });

  it('is unknown with no source at all, and says nothing is wrong', () => {
    expect(severityOf(rated([]))).toEqual({ rating: 'unknown', score: null, source: null, vector: null, problems: [] });
  });

  it('a malformed vector is unknown with its problem, or gives way to the database word', () => {
    const bad = { type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:L' };
    expect(severityOf(rated([bad]))).toEqual({
      rating: 'unknown',
      score: null,
      source: null,
      vector: null,
      problems: ['severity[0]: CVSS:3.1 vector "CVSS:3.1/AV:N/AC:L" lacks the base metrics PR, UI, S, C, I, A'],
    });
    const withWord = severityOf(rated([bad], { severity: 'HIGH' }));
    expect(withWord).toMatchObject({ rating: 'high', source: 'database_specific' });
    expect(withWord.problems).toHaveLength(1);
    expect(severityOf(rated([], { severity: 'IMPORTANT' })).problems).toEqual([
      'database_specific.severity: "IMPORTANT" is not a rating (LOW, MODERATE, MEDIUM, HIGH or CRITICAL)',
    ]);
  });

  it('a vector under the wrong type is not trusted', () => {
    const swapped = severityOf(rated([{ type: 'CVSS_V3', score: 'CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N' }]));
    expect(swapped).toMatchObject({ rating: 'unknown', problems: ['severity[0]: type CVSS_V3 holds a CVSS:4.0 vector'] });
  });

  it("reads the matched affected entries' severity when the record has none of its own", () => {
    const r = record({
      id: 'TEST-2',
      modified: '2024-01-01T00:00:00Z',
      affected: [
        { package: { ecosystem: 'npm', name: 'a' }, severity: [{ type: 'CVSS_V3', score: 'CVSS:3.1/AV:L/AC:H/PR:H/UI:N/S:U/C:L/I:N/A:N' }] },
        { package: { ecosystem: 'npm', name: 'b' }, severity: [{ type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H' }] },
      ],
    });
    expect(severityOf(r, [0])).toMatchObject({ rating: 'low', score: 1.9 });
    expect(severityOf(r, [1])).toMatchObject({ rating: 'critical', score: 9.8 });
    expect(severityOf(r)).toMatchObject({ rating: 'unknown' });
  });
});
