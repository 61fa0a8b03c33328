/**
 * OpenVEX documents (spec v0.2.0, https://github.com/openvex/spec): a repo's own statements that a vulnerability
 * does or does not affect what it ships. Read here into plain statements, and matched to one finding at a time.
 *
 * Which findings a statement is about:
 * - by vulnerability: its `vulnerability.name` (or a legacy plain-string `vulnerability`) or any of its
 *   `vulnerability.aliases` equals the finding's id or any of its aliases;
 * - by product: a statement with no products is about the image (the document sits in the repo the image is built
 *   from, and nothing encapsulates it here to supply products). A product whose `@id` (or `identifiers.purl`) is a
 *   purl of a package type names that package; any other product (a purl of type `oci` or `docker`, an IRI, a
 *   product with no identifier) names the image. A product that lists `subcomponents` is about those only: the
 *   finding's package must be one of them. A package purl names a finding's package when type, namespace and name
 *   agree (a PyPI name compared normalized), and the version too when the purl has one; qualifiers (arch, distro)
 *   and subpaths are not compared. Debian, Alpine and rpm findings are by source package, so a purl naming the
 *   source package (`pkg:deb/debian/expat`) names the findings on its binaries too.
 *
 * When several statements are about one finding, the latest wins (statement timestamp, else the document's; a
 * tie or no time: the one read last), as the spec says statements override earlier ones: so an `affected`
 * statement after a `not_affected` one takes the suppression back. Only `not_affected` and `fixed` suppress.
 */
import { PackageURL } from 'packageurl-js';

export const VEX_STATUSES = ['not_affected', 'affected', 'fixed', 'under_investigation'] as const;
export type VexStatus = (typeof VEX_STATUSES)[number];

/** The justification labels of the spec (the VEX working group's, June 2022). */
export const VEX_JUSTIFICATIONS = [
  'component_not_present',
  'vulnerable_code_not_present',
  'vulnerable_code_not_in_execute_path',
  'vulnerable_code_cannot_be_controlled_by_adversary',
  'inline_mitigations_already_exist',
] as const;

/** A package as a purl names it, decoded: what product matching compares. */
export interface PurlName {
  type: string;
  namespace: string | null;
  name: string;
  version: string | null;
}

/** A statement's product: the image (`package` null), or a package; `subcomponents` narrows it to those packages. */
export interface VexProduct {
  package: PurlName | null;
  subcomponents: PurlName[];
}

export interface VexStatement {
  /** The repo path of the document it came from, as the config names it. */
  document: string;
  /** 0-based position in the document's `statements`. */
  index: number;
  /** `vulnerability.name` first, then its aliases. */
  vulnerabilities: string[];
  status: VexStatus;
  justification: string | null;
  impactStatement: string | null;
  /** Empty: the statement is about the whole image. */
  products: VexProduct[];
  /** Milliseconds since the epoch, the statement's own timestamp or else the document's; null when neither has one. */
  time: number | null;
}

export type VexParsed = { ok: true; statements: VexStatement[] } | { ok: false; problem: string };

/** A repo's statements about its own image fit in far less; a larger file is refused before it is parsed. */
export const MAX_VEX_BYTES = 1024 * 1024;

const CONTEXT = /^https:\/\/openvex\.dev\/ns(\/v\d+\.\d+\.\d+)?$/;
const IMAGE_TYPES = new Set(['oci', 'docker']);
/** Findings of these ecosystems are named by their source package (src/scan/match.ts's PackageRef). */
const SOURCE_NAMED = new Set(['deb', 'apk', 'rpm']);

type Json = unknown;
type Obj = Record<string, Json>;
class Bad extends Error {}

/**
 * An OpenVEX document read. `path` names the document in problems; `text` is its content. Never throws: bad JSON
 * or a field of the wrong shape is the one problem returned, naming the file and the field
 * (`security/openvex.json: statements[1].status: ...`). Fields the policy does not use are not checked.
 */
export function parseOpenVex(path: string, text: string): VexParsed {
  if (Buffer.byteLength(text) > MAX_VEX_BYTES) return { ok: false, problem: `${path}: larger than ${MAX_VEX_BYTES} bytes` };
  let json: Json;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return { ok: false, problem: `${path}: not JSON: ${(err as Error).message}` };
  }
  try {
    return { ok: true, statements: readDocument(path, json) };
  } catch (err) {
    if (err instanceof Bad) return { ok: false, problem: `${path}: ${err.message}` };
    throw err;
  }
}

/**
 * The statements of every document a policy names, in the policy's order, each read from the build's commit by the
 * caller (`text` null: no such file there). A document that is missing or does not read adds no statement and one
 * problem: it can only take suppressions away, never add a block, so the gate may still run; the caller decides
 * whether a problem fails the scan.
 */
export function readVexDocuments(documents: readonly { path: string; text: string | null }[]): { statements: VexStatement[]; problems: string[] } {
  const statements: VexStatement[] = [];
  const problems: string[] = [];
  for (const { path, text } of documents) {
    if (text === null) {
      problems.push(`${path}: no such file at this commit (named in scan.vex)`);
      continue;
    }
    const r = parseOpenVex(path, text);
    if (r.ok) statements.push(...r.statements);
    else problems.push(r.problem);
  }
  return { statements, problems };
}

function readDocument(path: string, json: Json): VexStatement[] {
  const doc = object(json, '', 'an OpenVEX document must be a JSON object');
  const context = doc['@context'];
  if (typeof context !== 'string' || !CONTEXT.test(context)) {
    throw new Bad(`@context: expected https://openvex.dev/ns/v0.2.0 (an OpenVEX document), got ${show(context)}`);
  }
  const docTime = timestamp(doc.timestamp, 'timestamp');
  const statements = doc.statements;
  if (!Array.isArray(statements)) throw new Bad('statements: expected a list of statements');
  return statements.map((s, i) => readStatement(path, i, s, docTime));
}

function readStatement(path: string, index: number, json: Json, docTime: number | null): VexStatement {
  const at = `statements[${index}]`;
  const s = object(json, at, 'expected a statement object');
  const vulnerabilities = readVulnerability(s.vulnerability, `${at}.vulnerability`);
  const status = s.status;
  if (typeof status !== 'string' || !(VEX_STATUSES as readonly string[]).includes(status)) {
    throw new Bad(`${at}.status: expected one of ${VEX_STATUSES.join(', ')}, got ${show(status)}`);
  }
  const justification = optionalString(s.justification, `${at}.justification`);
  if (justification !== null && !(VEX_JUSTIFICATIONS as readonly string[]).includes(justification)) {
    throw new Bad(`${at}.justification: expected one of ${VEX_JUSTIFICATIONS.join(', ')}, got ${show(justification)}`);
  }
  const impactStatement = optionalString(s.impact_statement, `${at}.impact_statement`);
  // The spec's MUST: a suppression that cannot say why is not taken.
  if (status === 'not_affected' && justification === null && impactStatement === null) {
    throw new Bad(`${at}: a not_affected statement must give a justification or an impact_statement`);
  }
  let products: VexProduct[] = [];
  if (s.products !== undefined) {
    if (!Array.isArray(s.products)) throw new Bad(`${at}.products: expected a list of products`);
    products = s.products.map((p, k) => readProduct(p, `${at}.products[${k}]`));
  }
  const time = timestamp(s.timestamp, `${at}.timestamp`) ?? docTime;
  return { document: path, index, vulnerabilities, status: status as VexStatus, justification, impactStatement, products, time };
}

/** v0.2.0's `{name, aliases}`, or the string earlier drafts used. */
function readVulnerability(json: Json, at: string): string[] {
  if (typeof json === 'string' && json !== '') return [json];
  if (json === undefined) throw new Bad(`${at}: missing (the vulnerability's name, e.g. {"name": "CVE-2021-23337"})`);
  const v = object(json, at, 'expected {"name": "CVE-...", "aliases": [...]} or a vulnerability id');
  if (typeof v.name !== 'string' || v.name === '') throw new Bad(`${at}.name: expected a vulnerability id, got ${show(v.name)}`);
  const out = [v.name];
  if (v.aliases !== undefined) {
    if (!Array.isArray(v.aliases)) throw new Bad(`${at}.aliases: expected a list of ids`);
    v.aliases.forEach((a, k) => {
      if (typeof a !== 'string' || a === '') throw new Bad(`${at}.aliases[${k}]: expected an id, got ${show(a)}`);
      if (!out.includes(a)) out.push(a);
    });
  }
  return out;
}

function readProduct(json: Json, at: string): VexProduct {
  const p = object(json, at, 'expected a product object like {"@id": "pkg:npm/lodash@4.17.20"}');
  const pkg = componentPackage(p, at);
  const subcomponents: PurlName[] = [];
  if (p.subcomponents !== undefined) {
    if (!Array.isArray(p.subcomponents)) throw new Bad(`${at}.subcomponents: expected a list of components`);
    p.subcomponents.forEach((c, k) => {
      const where = `${at}.subcomponents[${k}]`;
      const named = componentPackage(object(c, where, 'expected a component object like {"@id": "pkg:npm/lodash"}'), where);
      // A subcomponent is a package inside the product: one that names no package would narrow to nothing.
      if (named === null) throw new Bad(`${where}: expected a package URL in @id or identifiers.purl`);
      subcomponents.push(named);
    });
  }
  return { package: pkg, subcomponents };
}

/** The package a component's purl names; null when it names the image or nothing (an IRI, an oci purl). */
function componentPackage(c: Obj, at: string): PurlName | null {
  const id = optionalString(c['@id'], `${at}["@id"]`);
  let purl: string | null = id?.startsWith('pkg:') ? id : null;
  let where = `${at}["@id"]`;
  if (purl === null && c.identifiers !== undefined) {
    const ids = object(c.identifiers, `${at}.identifiers`, 'expected a map like {"purl": "pkg:..."}');
    purl = optionalString(ids.purl, `${at}.identifiers.purl`);
    where = `${at}.identifiers.purl`;
  }
  if (purl === null) return null;
  const name = readPurl(purl);
  if (name === null) throw new Bad(`${where}: ${show(purl)} is not a package URL`);
  return IMAGE_TYPES.has(name.type) ? null : name;
}

/** A purl's type, namespace, name and version, decoded; null when it does not parse. */
export function readPurl(purl: string): PurlName | null {
  try {
    const p = PackageURL.fromString(purl);
    return { type: p.type, namespace: p.namespace ?? null, name: p.name, version: p.version ?? null };
  } catch {
    return null;
  }
}

/** What a statement is matched against: a finding's ids, its package name (the source package for OS packages), version and purl. */
export interface VexSubject {
  id: string;
  aliases: readonly string[];
  package: string;
  version?: string;
  purl?: string;
}

/** Whether the statement is about this finding: one of its vulnerabilities is the finding's, and a product covers the package. */
export function statementApplies(statement: VexStatement, finding: VexSubject): boolean {
  const ids = new Set([finding.id, ...finding.aliases]);
  if (!statement.vulnerabilities.some((v) => ids.has(v))) return false;
  if (statement.products.length === 0) return true;
  const pkg = finding.purl === undefined ? null : readPurl(finding.purl);
  return statement.products.some((p) => {
    if (p.subcomponents.length > 0) return p.subcomponents.some((c) => namesPackage(c, pkg, finding));
    return p.package === null || namesPackage(p.package, pkg, finding);
  });
}

/**
 * The statement that decides a finding: the latest of those about it (see the top of this file), or null when
 * none is. `statements` in reading order (documents in the config's order, statements in each document's).
 */
export function decidingStatement(statements: readonly VexStatement[], finding: VexSubject): VexStatement | null {
  let best: VexStatement | null = null;
  for (const s of statements) {
    if (!statementApplies(s, finding)) continue;
    if (best === null || (s.time ?? Number.NEGATIVE_INFINITY) >= (best.time ?? Number.NEGATIVE_INFINITY)) best = s;
  }
  return best;
}

function namesPackage(want: PurlName, pkg: PurlName | null, finding: VexSubject): boolean {
  // A finding without a purl cannot be placed by type: only statements about the whole image reach it.
  if (pkg === null || want.type !== pkg.type) return false;
  const sameNamespace = (want.namespace ?? '') === (pkg.namespace ?? '');
  const sameName = want.type === 'pypi' ? pep503(want.name) === pep503(pkg.name) : want.name === pkg.name;
  const bySource = SOURCE_NAMED.has(want.type) && want.name === finding.package;
  if (!sameNamespace || !(sameName || bySource)) return false;
  return want.version === null || want.version === pkg.version || want.version === finding.version;
}

function pep503(name: string): string {
  return name.toLowerCase().replace(/[-_.]+/g, '-');
}

function object(json: Json, at: string, expected: string): Obj {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new Bad(at === '' ? expected : `${at}: ${expected}`);
  return json as Obj;
}

function optionalString(json: Json, at: string): string | null {
  if (json === undefined || json === null) return null;
  if (typeof json !== 'string') throw new Bad(`${at}: expected a string, got ${show(json)}`);
  return json.trim() === '' ? null : json;
}

function timestamp(json: Json, at: string): number | null {
  const text = optionalString(json, at);
  if (text === null) return null;
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) throw new Bad(`${at}: expected an RFC 3339 time, got ${show(text)}`);
  return ms;
}

function show(v: Json): string {
  if (v === undefined) return 'nothing';
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}
