/**
 * OpenVEX documents (src/scan/vex.ts): the hand-written v0.2.0 fixture read whole, each shape fault named by file
 * and field, and which findings a statement is about (by id or alias; by product purl, subcomponent, source package
 * or the whole image) and which of several statements decides.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  decidingStatement,
  MAX_VEX_BYTES,
  parseOpenVex,
  readPurl,
  readVexDocuments,
  statementApplies,
  type VexStatement,
  type VexSubject,
} from '../../src/scan/vex.js';

const FIXTURE = readFileSync(new URL('../fixtures/vex/openvex.json', import.meta.url), 'utf8');

const statementsOf = (text: string, path = 'security/openvex.json'): VexStatement[] => {
  const r = parseOpenVex(path, text);
  if (!r.ok) throw new Error(r.problem);
  return r.statements;
};
const problemOf = (doc: unknown, path = 'security/openvex.json'): string => {
  const r = parseOpenVex(path, typeof doc === 'string' ? doc : JSON.stringify(doc));
  if (r.ok) throw new Error(`expected a problem, got ${JSON.stringify(r.statements)}`);
  return r.problem;
};
/** A minimal valid document around the given statements. */
const doc = (statements: unknown[], extra: Record<string, unknown> = {}) => ({
  '@context': 'https://openvex.dev/ns/v0.2.0',
  '@id': 'https://openvex.dev/docs/example/test',
  author: 'test',
  timestamp: '2026-11-02T09:15:00Z',
  version: 1,
  statements,
  ...extra,
});

/** Findings as matching makes them from the real records (test/fixtures/osv): lodash by GHSA, expat by DSA with its CVEs. */
const lodash: VexSubject = { id: 'GHSA-35jh-r3h4-6jhm', aliases: ['CVE-2021-23337'], package: 'lodash', version: '4.17.20', purl: 'pkg:npm/lodash@4.17.20' };
const expat = (cve: string): VexSubject => ({
  id: 'DSA-5770-1',
  aliases: [cve],
  package: 'expat',
  version: '2.5.0-1',
  purl: 'pkg:deb/debian/libexpat1@2.5.0-1?arch=amd64&distro=debian-12',
});

describe('parseOpenVex', () => {
  it('reads the v0.2.0 fixture: ids with aliases, statuses, justification, products and the document time', () => {
    const s = statementsOf(FIXTURE);
    const time = Date.parse('2026-11-02T09:15:00Z');
    expect(s).toEqual([
      {
        document: 'security/openvex.json',
        index: 0,
        vulnerabilities: ['CVE-2021-23337', 'GHSA-35jh-r3h4-6jhm'],
        status: 'not_affected',
        justification: 'vulnerable_code_not_in_execute_path',
        impactStatement: "The shop never calls lodash's template(); the command injection is in template() only.",
        products: [{ package: null, subcomponents: [{ type: 'npm', namespace: null, name: 'lodash', version: '4.17.20' }] }],
        time,
      },
      {
        document: 'security/openvex.json',
        index: 1,
        vulnerabilities: ['CVE-2024-45490'],
        status: 'under_investigation',
        justification: null,
        impactStatement: null,
        products: [{ package: { type: 'deb', namespace: 'debian', name: 'libexpat1', version: '2.5.0-1' }, subcomponents: [] }],
        time,
      },
      {
        document: 'security/openvex.json',
        index: 2,
        vulnerabilities: ['CVE-2024-45491'],
        status: 'affected',
        justification: null,
        impactStatement: null,
        products: [{ package: { type: 'deb', namespace: 'debian', name: 'expat', version: null }, subcomponents: [] }],
        time,
      },
    ]);
  });

  it('takes the legacy string vulnerability, identifiers.purl, a statement timestamp and the unversioned context', () => {
    const [s] = statementsOf(
      JSON.stringify(
        doc(
          [
            {
              vulnerability: 'CVE-2021-23337',
              timestamp: '2026-11-03T00:00:00Z',
              products: [{ '@id': 'https://example.com/products/shop', identifiers: { purl: 'pkg:npm/lodash' } }],
              status: 'fixed',
            },
          ],
          { '@context': 'https://openvex.dev/ns' },
        ),
      ),
    );
    expect(s).toMatchObject({
      vulnerabilities: ['CVE-2021-23337'],
      status: 'fixed',
      time: Date.parse('2026-11-03T00:00:00Z'),
      products: [{ package: { type: 'npm', name: 'lodash', version: null }, subcomponents: [] }],
    });
  });

  it('names the file and the field of each fault', () => {
    const ok = { vulnerability: { name: 'CVE-2021-23337' }, status: 'fixed' };
    expect(problemOf('{"@context": ')).toMatch(/^security\/openvex\.json: not JSON: /);
    expect(problemOf([])).toBe('security/openvex.json: an OpenVEX document must be a JSON object');
    expect(problemOf(doc([ok], { '@context': 'https://cyclonedx.org/schema' }))).toBe(
      'security/openvex.json: @context: expected https://openvex.dev/ns/v0.2.0 (an OpenVEX document), got "https://cyclonedx.org/schema"',
    );
    expect(problemOf(doc([ok], { statements: { 0: ok } }))).toBe('security/openvex.json: statements: expected a list of statements');
    expect(problemOf(doc([ok, { ...ok, status: 'not affected' }]))).toBe(
      'security/openvex.json: statements[1].status: expected one of not_affected, affected, fixed, under_investigation, got "not affected"',
    );
    expect(problemOf(doc([{ status: 'fixed' }]))).toBe(
      'security/openvex.json: statements[0].vulnerability: missing (the vulnerability\'s name, e.g. {"name": "CVE-2021-23337"})',
    );
    expect(problemOf(doc([{ ...ok, vulnerability: { name: 'CVE-2021-23337', aliases: 'GHSA-35jh-r3h4-6jhm' } }]))).toBe(
      'security/openvex.json: statements[0].vulnerability.aliases: expected a list of ids',
    );
    expect(problemOf(doc([{ ...ok, status: 'not_affected' }]))).toBe(
      'security/openvex.json: statements[0]: a not_affected statement must give a justification or an impact_statement',
    );
    expect(problemOf(doc([{ ...ok, status: 'not_affected', justification: 'we_checked' }]))).toMatch(
      /^security\/openvex\.json: statements\[0\]\.justification: expected one of component_not_present, .* got "we_checked"$/,
    );
    expect(problemOf(doc([{ ...ok, products: [{ '@id': 'pkg:' }] }]))).toBe(
      'security/openvex.json: statements[0].products[0]["@id"]: "pkg:" is not a package URL',
    );
    expect(problemOf(doc([{ ...ok, products: [{ '@id': 'pkg:oci/shop', subcomponents: [{ '@id': 'lodash' }] }] }]))).toBe(
      'security/openvex.json: statements[0].products[0].subcomponents[0]: expected a package URL in @id or identifiers.purl',
    );
    expect(problemOf(doc([{ ...ok, timestamp: 'yesterday' }]))).toBe(
      'security/openvex.json: statements[0].timestamp: expected an RFC 3339 time, got "yesterday"',
    );
  });
});

describe('readVexDocuments', () => {
  it('keeps the statements of the documents that read, in order, and names each that does not', () => {
    const r = readVexDocuments([
      { path: 'security/openvex.json', text: FIXTURE },
      { path: 'security/missing.json', text: null },
      { path: 'security/broken.json', text: '{"@context": "https://openvex.dev/ns/v0.2.0", "statements": [{"status": "fixed"}]}' },
      { path: 'security/huge.json', text: ' '.repeat(MAX_VEX_BYTES + 1) },
      { path: 'security/more.json', text: JSON.stringify(doc([{ vulnerability: 'CVE-2024-45492', status: 'fixed' }])) },
    ]);
    expect(r.statements.map((s) => [s.document, s.index, s.vulnerabilities[0]])).toEqual([
      ['security/openvex.json', 0, 'CVE-2021-23337'],
      ['security/openvex.json', 1, 'CVE-2024-45490'],
      ['security/openvex.json', 2, 'CVE-2024-45491'],
      ['security/more.json', 0, 'CVE-2024-45492'],
    ]);
    expect(r.problems).toEqual([
      'security/missing.json: no such file at this commit (named in scan.vex)',
      'security/broken.json: statements[0].vulnerability: missing (the vulnerability\'s name, e.g. {"name": "CVE-2021-23337"})',
      'security/huge.json: larger than 1048576 bytes',
    ]);
  });
});

describe('statementApplies', () => {
  const [lodashNotAffected, libexpatInvestigating, expatAffected] = statementsOf(FIXTURE) as [VexStatement, VexStatement, VexStatement];

  it('matches by the finding id or any alias, through an image product narrowed to a subcomponent', () => {
    expect(statementApplies(lodashNotAffected, lodash)).toBe(true);
    expect(statementApplies(lodashNotAffected, { ...lodash, id: 'CVE-2021-23337', aliases: [] })).toBe(true);
    expect(statementApplies(lodashNotAffected, { ...lodash, id: 'GHSA-29mw-wpgm-hmr9', aliases: ['CVE-2020-28500'] })).toBe(false);
  });

  it('holds a product purl to its version and package, not to its qualifiers', () => {
    expect(statementApplies(lodashNotAffected, { ...lodash, version: '4.17.19', purl: 'pkg:npm/lodash@4.17.19' })).toBe(false);
    expect(statementApplies(lodashNotAffected, { ...lodash, package: 'lodash-es', purl: 'pkg:npm/lodash-es@4.17.20' })).toBe(false);
    expect(statementApplies(libexpatInvestigating, expat('CVE-2024-45490'))).toBe(true);
    expect(statementApplies(libexpatInvestigating, { ...expat('CVE-2024-45490'), purl: 'pkg:deb/debian/libexpat1@2.5.0-1?arch=arm64' })).toBe(true);
    expect(statementApplies(libexpatInvestigating, { ...expat('CVE-2024-45490'), purl: 'pkg:deb/debian/libexpat1-dev@2.5.0-1' })).toBe(false);
  });

  it('lets a source package purl name the findings on its binaries, as Debian findings are by source', () => {
    expect(statementApplies(expatAffected, expat('CVE-2024-45491'))).toBe(true);
    expect(statementApplies(expatAffected, { ...expat('CVE-2024-45491'), package: 'libxml2' })).toBe(false);
  });

  it('applies a statement without products to every finding with its id, and a package statement to no finding without a purl', () => {
    const [whole] = statementsOf(JSON.stringify(doc([{ vulnerability: { name: 'CVE-2021-23337' }, status: 'fixed' }])));
    const { purl: _, ...noPurl } = lodash;
    expect(statementApplies(whole!, noPurl)).toBe(true);
    expect(statementApplies(whole!, expat('CVE-2024-45491'))).toBe(false);
    expect(statementApplies(lodashNotAffected, noPurl)).toBe(false);
  });

  it('compares PyPI names normalized', () => {
    const [s] = statementsOf(JSON.stringify(doc([{ vulnerability: 'CVE-1', products: [{ '@id': 'pkg:pypi/Zope.Interface' }], status: 'fixed' }])));
    expect(statementApplies(s!, { id: 'CVE-1', aliases: [], package: 'zope.interface', purl: 'pkg:pypi/zope-interface@6.0' })).toBe(true);
  });
});

describe('decidingStatement', () => {
  const about = (status: string, timestamp?: string) => ({
    vulnerability: { name: 'CVE-2021-23337' },
    status,
    ...(status === 'not_affected' ? { justification: 'component_not_present' } : {}),
    ...(timestamp ? { timestamp } : {}),
  });

  it('takes the latest statement by time, whatever the order it is written in', () => {
    const later = statementsOf(JSON.stringify(doc([about('affected', '2026-11-05T00:00:00Z'), about('not_affected', '2026-11-04T00:00:00Z')])));
    expect(decidingStatement(later, lodash)?.status).toBe('affected');
    const earlier = statementsOf(JSON.stringify(doc([about('affected', '2026-11-03T00:00:00Z'), about('not_affected', '2026-11-04T00:00:00Z')])));
    expect(decidingStatement(earlier, lodash)?.status).toBe('not_affected');
  });

  it('takes the one read last on a tie, and none when no statement is about the finding', () => {
    const tie = statementsOf(JSON.stringify(doc([about('not_affected'), about('affected')])));
    expect(decidingStatement(tie, lodash)?.index).toBe(1);
    expect(decidingStatement(tie, expat('CVE-2024-45490'))).toBeNull();
  });
});

describe('readPurl', () => {
  it('decodes namespace, name and version, and refuses what is not a purl', () => {
    expect(readPurl('pkg:npm/%40angular/core@17.0.0')).toEqual({ type: 'npm', namespace: '@angular', name: 'core', version: '17.0.0' });
    expect(readPurl('pkg:deb/debian/libexpat1@2.5.0-1%2Bdeb12u1?arch=amd64')).toEqual({
      type: 'deb',
      namespace: 'debian',
      name: 'libexpat1',
      version: '2.5.0-1+deb12u1',
    });
    expect(readPurl('https://example.com/shop')).toBeNull();
  });
});
