/**
 * Reading OSV records (src/scan/osv.ts): real records from GHSA and OSV.dev read whole; a record that breaks one of
 * the schema's rules on a field matching uses is refused with one sentence naming that field; fields nobody here
 * uses are kept as they came.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { eventOf, type OsvRecord, parseOsvRecord, splitEcosystem } from '../../src/scan/osv.js';

/** A fixture's parsed JSON (test/fixtures/osv/README.md says where each comes from). */
const fixture = (name: string): Record<string, unknown> => JSON.parse(readFileSync(new URL(`../fixtures/osv/${name}`, import.meta.url), 'utf8'));
const dsa5770 = (): Record<string, unknown> => (fixture('DSA-5770-1.bodega.json') as unknown as Record<string, unknown>[])[0]!;

const read = (json: unknown): OsvRecord => {
  const r = parseOsvRecord(json);
  if (!r.ok) throw new Error(`expected a record, got: ${r.problem}`);
  return r.record;
};
const problem = (json: unknown): string => {
  const r = parseOsvRecord(json);
  if (r.ok) throw new Error(`expected a problem, got record ${r.record.id}`);
  return r.problem;
};

/** The lodash record with one thing changed, in memory: `change` edits a deep copy. */
const lodashWith = (change: (r: any) => void): unknown => {
  const r = structuredClone(fixture('GHSA-35jh-r3h4-6jhm.json'));
  change(r);
  return r;
};

describe('parseOsvRecord on real records', () => {
  it('reads GHSA-35jh-r3h4-6jhm whole: ids, times, the vector, every affected package and event', () => {
    const r = read(fixture('GHSA-35jh-r3h4-6jhm.json'));
    expect(r.id).toBe('GHSA-35jh-r3h4-6jhm');
    expect(r.modified).toBe('2024-04-17T18:39:19Z');
    expect(r.published).toBe('2021-05-06T16:05:51Z');
    expect(r.withdrawn).toBeUndefined();
    expect(r.aliases).toEqual(['CVE-2021-23337']);
    expect(r.upstream).toEqual([]);
    expect(r.related).toEqual([]);
    expect(r.summary).toBe('Command Injection in lodash');
    expect(r.severity).toEqual([{ type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:H/I:H/A:H' }]);
    expect(r.affected.map((a) => a.package?.name)).toEqual(['lodash', 'lodash-es', 'lodash.template', 'lodash-template']);
    expect(r.affected[0]!.ranges).toEqual([{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: '4.17.21' }] }]);
    expect(r.affected[2]!.ranges[0]!.events).toEqual([{ introduced: '0' }, { last_affected: '4.5.0' }]);
    expect(r.affected[0]!.versions).toEqual([]); // absent in the record: an empty list
    expect(r.database_specific?.severity).toBe('HIGH');
    // A field matching does not use is kept as it came, not dropped.
    expect((r as Record<string, unknown>).references).toHaveLength(17);
  });

  it('reads a withdrawn record, its empty aliases and its six entries for one package', () => {
    const r = read(fixture('GHSA-xfg6-62px-cxc2.json'));
    expect(r.withdrawn).toBe('2024-02-21T23:18:25Z');
    expect(r.aliases).toEqual([]);
    expect(r.affected).toHaveLength(6);
    expect(new Set(r.affected.map((a) => `${a.package?.ecosystem} ${a.package?.name}`))).toEqual(new Set(['Maven org.postgresql:postgresql']));
  });

  it("reads OSV.dev's Debian records: upstream ids, purl, versions, fractional modified times", () => {
    const dla = read(fixture('DLA-3008-1.json'));
    expect(dla.modified).toBe('2026-03-09T01:23:33.375630Z');
    expect(dla.upstream).toEqual(['CVE-2022-1292', 'DEBIAN-CVE-2022-1292']);
    expect(dla.affected[0]!.package).toEqual({ name: 'openssl', ecosystem: 'Debian:9', purl: 'pkg:deb/debian/openssl?arch=source' });
    expect(dla.affected[0]!.versions).toHaveLength(19);
    expect(dla.affected[0]!.versions).toContain('1.1.0l-1~deb9u5');

    const dsa = read(dsa5770());
    expect(dsa.id).toBe('DSA-5770-1');
    expect(dsa.affected[0]!.package?.ecosystem).toBe('Debian:12');
    expect(dsa.affected[0]!.ranges[0]!.events).toEqual([{ introduced: '0' }, { fixed: '2.5.0-1+deb12u1' }]);
    expect(dsa.upstream).toContain('CVE-2024-45490');
  });
});

describe('parseOsvRecord refuses a record that breaks a rule, naming the field', () => {
  it('an event with two kinds, or none, or an empty version', () => {
    const twoKinds = lodashWith((r) => {
      r.affected[1].ranges[0].events.push({ introduced: '1.0.0', fixed: '1.0.2' });
    });
    expect(problem(twoKinds)).toBe(
      'affected[1].ranges[0].events[2]: an event must have exactly one of introduced, fixed, last_affected, limit; got {"introduced":"1.0.0","fixed":"1.0.2"}',
    );
    expect(problem(lodashWith((r) => (r.affected[0].ranges[0].events[1] = { fixd: '4.17.21' })))).toBe(
      'affected[0].ranges[0].events[1]: an event must have exactly one of introduced, fixed, last_affected, limit; got {"fixd":"4.17.21"}',
    );
    expect(problem(lodashWith((r) => (r.affected[0].ranges[0].events[1] = { fixed: '' })))).toBe(
      'affected[0].ranges[0].events[1]: fixed must be a non-empty version string; got ""',
    );
    expect(problem(lodashWith((r) => (r.affected[0].ranges[0].events[1] = '4.17.21')))).toBe(
      'affected[0].ranges[0].events[1]: an event must be a JSON object with exactly one of introduced, fixed, last_affected, limit; got "4.17.21"',
    );
  });

  it('a range without introduced, with both fixed and last_affected, of an unknown type, or with no events', () => {
    expect(problem(lodashWith((r) => r.affected[0].ranges[0].events.shift()))).toBe(
      'affected[0].ranges[0].events: a range must have an introduced event (use "0" for every version before)',
    );
    expect(problem(lodashWith((r) => r.affected[2].ranges[0].events.push({ fixed: '4.5.1' })))).toBe(
      'affected[2].ranges[0].events: a range may have fixed or last_affected events, not both',
    );
    expect(problem(lodashWith((r) => (r.affected[3].ranges[0].type = 'NPM')))).toBe(
      'affected[3].ranges[0].type: the type must be ECOSYSTEM, SEMVER or GIT; got "NPM"',
    );
    expect(problem(lodashWith((r) => (r.affected[0].ranges[0].events = [])))).toBe('affected[0].ranges[0].events: a range must have at least one event');
    expect(problem(lodashWith((r) => delete r.affected[0].ranges[0].type))).toBe(
      'affected[0].ranges[0].type: is missing: a range has a type (ECOSYSTEM, SEMVER or GIT)',
    );
  });

  it('a missing or empty id, a bad time, a package without a name', () => {
    expect(problem(lodashWith((r) => delete r.id))).toBe('id: is missing (an id, e.g. GHSA-35jh-r3h4-6jhm)');
    expect(problem(lodashWith((r) => (r.id = '')))).toBe('id: must not be empty (an id, e.g. GHSA-35jh-r3h4-6jhm)');
    expect(problem(lodashWith((r) => delete r.modified))).toBe('modified: is missing (a modified time)');
    expect(problem(lodashWith((r) => (r.modified = '2024-04-17 18:39:19')))).toBe(
      'modified: must be an RFC 3339 time like 2024-02-21T23:18:25Z (a modified time); got "2024-04-17 18:39:19"',
    );
    expect(problem(lodashWith((r) => (r.withdrawn = 'yesterday')))).toBe(
      'withdrawn: must be an RFC 3339 time like 2024-02-21T23:18:25Z (a withdrawn time); got "yesterday"',
    );
    expect(problem(lodashWith((r) => delete r.affected[1].package.name))).toBe('affected[1].package.name: is missing (a package name)');
    expect(problem(lodashWith((r) => (r.aliases = ['CVE-2021-23337', 7])))).toBe('aliases[1]: must be a string (an alias); got 7');
    expect(problem(lodashWith((r) => (r.severity[0].score = 7.2)))).toBe('severity[0].score: must be a string (a score, e.g. a CVSS vector); got 7.2');
  });

  it('something that is not a record at all', () => {
    expect(problem(undefined)).toBe('the record must be a JSON object; got nothing');
    expect(problem([fixture('GHSA-35jh-r3h4-6jhm.json')])).toMatch(/^the record must be a JSON object; got \[\{/);
    expect(problem(lodashWith((r) => (r.affected = { package: {} })))).toBe('affected: must be a list of affected packages; got {"package":{}}');
    expect(problem(lodashWith((r) => (r.database_specific = ['HIGH'])))).toBe(
      `database_specific: must be a JSON object (the record's database_specific); got ["HIGH"]`,
    );
  });
});

describe('parseOsvRecord is lenient where the schema is', () => {
  it('takes null lists as empty, no affected at all, GIT ranges without a package, related as objects', () => {
    const r = read({
      id: 'OSV-2020-1',
      modified: '2021-01-01T00:00:00+02:00',
      aliases: null,
      severity: null,
      related: ['CVE-1', { type: 'SIMILAR_TO', id: 'CVE-2' }],
      affected: [{ ranges: [{ type: 'GIT', repo: 'https://example.org/x.git', events: [{ introduced: 'a'.repeat(40) }, { limit: 'b'.repeat(40) }] }] }],
      credits: [{ name: 'someone' }],
    });
    expect(r.aliases).toEqual([]);
    expect(r.severity).toEqual([]);
    expect(r.related).toEqual(['CVE-1', 'CVE-2']);
    expect(r.affected[0]!.package).toBeUndefined();
    expect(read({ id: 'X-1', modified: '2021-01-01T00:00:00Z' }).affected).toEqual([]);
  });
});

describe('eventOf and splitEcosystem', () => {
  it('names an event by its kind', () => {
    expect(eventOf({ introduced: '0' })).toEqual({ kind: 'introduced', version: '0' });
    expect(eventOf({ fixed: '4.17.21' })).toEqual({ kind: 'fixed', version: '4.17.21' });
    expect(eventOf({ last_affected: '4.5.0' })).toEqual({ kind: 'last_affected', version: '4.5.0' });
    expect(eventOf({ limit: '*' })).toEqual({ kind: 'limit', version: '*' });
  });

  it('splits at the first colon: the release keeps its own colons', () => {
    expect(splitEcosystem('Debian:12')).toEqual({ base: 'Debian', release: '12' });
    expect(splitEcosystem('Alpine:v3.20')).toEqual({ base: 'Alpine', release: 'v3.20' });
    expect(splitEcosystem('Ubuntu:22.04:LTS')).toEqual({ base: 'Ubuntu', release: '22.04:LTS' });
    expect(splitEcosystem('Maven:https://maven.google.com')).toEqual({ base: 'Maven', release: 'https://maven.google.com' });
    expect(splitEcosystem('npm')).toEqual({ base: 'npm', release: undefined });
    expect(splitEcosystem('Debian:')).toEqual({ base: 'Debian', release: undefined });
  });
});
