/**
 * Whether an OSV record affects a package at a version: OSV's own evaluation (the schema's "Evaluation" section),
 * in the package ecosystem's version order, which the caller passes in (src/scan/versions/ has one per ecosystem).
 *
 * - `versions[]` lists affected versions exactly: a listed string equal to the version matches.
 * - ECOSYSTEM and SEMVER ranges are walked with their events sorted by the order (`introduced: "0"` first, before
 *   every version): an `introduced` at or below the version makes it affected, a `fixed` at or below it or a
 *   `last_affected` below it makes it not; so `fixed` is exclusive and `last_affected` inclusive. `limit` events
 *   bound the range from above, exclusively (no limit, or `*`, is no bound).
 * - GIT ranges hold commits, not versions: they never match a package version.
 * - A withdrawn record matches nothing. Several ranges, several affected entries: any one matching is a match.
 */
import { type Affected, type AffectedRange, eventOf, type OsvRecord, splitEcosystem } from './osv.js';
import { type Severity, severityOf } from './severity.js';
import type { VersionOrder as EcosystemOrder } from './versions/index.js';

/**
 * An ecosystem's version order (src/scan/versions/): all matching needs of it. `compare(a, b)` is negative when
 * version `a` sorts before `b`, zero when they are the same version, positive when after, or the problem when a
 * string is not a version of the ecosystem: the range that needed it gives no answer, and the match says so.
 */
export type VersionOrder = Pick<EcosystemOrder<unknown>, 'compare'>;

/** One range's or entry's verdict, with what stopped a range from being read (`ranges[1]: ...`). */
export type Evaluation = { affected: boolean; problems: string[] };

/**
 * Whether `version` of the entry's package is affected by the entry (its `versions` and its ranges); the package
 * itself (ecosystem and name) is the caller's to have checked. A range whose versions the order cannot compare is
 * passed over (the others still decide) and named in `problems`.
 */
export function evaluate(affected: Affected, version: string, order: VersionOrder): Evaluation {
  if (affected.versions.includes(version)) return { affected: true, problems: [] };
  const problems: string[] = [];
  for (const [i, range] of affected.ranges.entries()) {
    try {
      if (rangeAffects(range, version, order)) return { affected: true, problems: [] };
    } catch (err) {
      problems.push(`ranges[${i}]: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return { affected: false, problems };
}

/** `evaluate`'s verdict alone: does the entry affect this version of its package. */
export function affects(affected: Affected, version: string, order: VersionOrder): boolean {
  return evaluate(affected, version, order).affected;
}

/** A comparison that names both versions when the order cannot make it. */
function comparer(order: VersionOrder): (a: string, b: string) => number {
  return (a, b) => {
    // Equal strings are the same version in every ecosystem: no need to ask an order that might not read them.
    if (a === b) return 0;
    const c = order.compare(a, b);
    if (!c.ok) throw new Error(`cannot order "${a}" against "${b}": ${c.problem}`);
    return c.value;
  };
}

/** Whether one range holds the version (throws when the order cannot compare what the range needs). */
function rangeAffects(range: AffectedRange, version: string, order: VersionOrder): boolean {
  if (range.type !== 'ECOSYSTEM' && range.type !== 'SEMVER') return false;
  const cmp = comparer(order);
  const events = range.events.map(eventOf);

  const limits = events.filter((e) => e.kind === 'limit');
  if (limits.length > 0 && !limits.some((e) => e.version.includes('*') || cmp(version, e.version) < 0)) return false;

  // Ties keep the record's order (the sort is stable): only its author knows whether `fixed: X` then `introduced: X`
  // closes one span and opens the next, and records are written in order.
  const walk = events
    .filter((e) => e.kind !== 'limit')
    .sort((a, b) => {
      const aZero = a.kind === 'introduced' && a.version === '0';
      const bZero = b.kind === 'introduced' && b.version === '0';
      if (aZero || bZero) return Number(bZero) - Number(aZero);
      return cmp(a.version, b.version);
    });

  let affected = false;
  for (const e of walk) {
    if (e.kind === 'introduced') {
      if (e.version === '0' || cmp(version, e.version) >= 0) affected = true;
    } else if (e.kind === 'fixed') {
      if (cmp(version, e.version) >= 0) affected = false;
    } else if (cmp(version, e.version) > 0) affected = false; // last_affected
  }
  return affected;
}

/**
 * The versions the entry's ranges say fix it (its ECOSYSTEM and SEMVER `fixed` events, without repeats, in the
 * record's order): what to upgrade to. Empty when nothing is fixed yet or only `last_affected` is known.
 */
export function fixedVersions(affected: Affected): string[] {
  const out: string[] = [];
  for (const range of affected.ranges) {
    if (range.type === 'GIT') continue;
    for (const e of range.events) if ('fixed' in e && !out.includes(e.fixed)) out.push(e.fixed);
  }
  return out;
}

/** A package as installed: its ecosystem (`npm`, `Debian:12`), its name (for Debian and Alpine, the source package) and its version. */
export type PackageRef = { ecosystem: string; name: string; version: string };

/** One record affecting one package: what the report, the gate and the build page show of it. */
export type Finding<P extends PackageRef = PackageRef> = {
  /** The record's id, e.g. GHSA-35jh-r3h4-6jhm or DSA-5770-1. */
  id: string;
  /** Other ids of the same vulnerability (CVE, GHSA...), as the record lists them. */
  aliases: string[];
  /** Ids the record derives from (a DSA names the CVEs it fixes here, not in aliases). */
  upstream: string[];
  /** The package as the caller gave it (extra fields, such as the layer or the binary package, come back untouched). */
  package: P;
  /** The record's fixed versions for this package above the installed one, lowest first. Empty when there is none. */
  fixed: string[];
  severity: Severity;
  summary: string | null;
  /** The record's `modified` time. */
  modified: string;
};

/** What matching a package found, and each range or record it could not read (a sentence naming the record and field). */
export type Matched<P extends PackageRef> = { findings: Finding<P>[]; problems: string[] };

/**
 * Whether a record's entry is about this package: the same ecosystem base and name, and the same release when the
 * entry names one (an entry for `Debian:12` is not about a `Debian:11` package; an entry for plain `Debian` is about
 * every release). A package of unknown release matches only entries that name none. PyPI names compare normalized
 * (PEP 503: case and runs of `-_.` do not matter), as the schema says PyPI names are.
 */
export function isAbout(entryPackage: { ecosystem: string; name: string }, pkg: { ecosystem: string; name: string }): boolean {
  const a = splitEcosystem(entryPackage.ecosystem);
  const b = splitEcosystem(pkg.ecosystem);
  if (a.base !== b.base) return false;
  if (a.release !== undefined && a.release !== b.release) return false;
  if (a.base === 'PyPI') return pep503(entryPackage.name) === pep503(pkg.name);
  return entryPackage.name === pkg.name;
}

function pep503(name: string): string {
  return name.toLowerCase().replace(/[-_.]+/g, '-');
}

/**
 * The findings for one installed package among `records`: one per record that affects it (however many of the
 * record's entries do), with the record's aliases, its fixed versions for the package above the installed one and
 * the severity.
 * `order` is the package's ecosystem's. Withdrawn records are passed over. Never throws: what could not be read
 * is in `problems`.
 */
export function matchPackage<P extends PackageRef>(pkg: P, records: Iterable<OsvRecord>, order: VersionOrder): Matched<P> {
  const findings: Finding<P>[] = [];
  const problems: string[] = [];
  const cmp = comparer(order);
  for (const record of records) {
    if (record.withdrawn !== undefined) continue;
    const about: number[] = [];
    const hits: number[] = [];
    for (const [k, entry] of record.affected.entries()) {
      if (entry.package === undefined || !isAbout(entry.package, pkg)) continue;
      about.push(k);
      const verdict = evaluate(entry, pkg.version, order);
      for (const p of verdict.problems) problems.push(`${record.id} affected[${k}].${p}`);
      if (verdict.affected) hits.push(k);
    }
    if (hits.length === 0) continue;
    findings.push({
      id: record.id,
      aliases: record.aliases,
      upstream: record.upstream,
      package: pkg,
      // Every entry about the package, not only those that hold the version: a record split by release branch
      // (42.6.0 up to 42.6.1, 42.7.0 up to 42.7.2) says which upgrades land outside every span.
      fixed: upgrades(
        about.flatMap((k) => fixedVersions(record.affected[k]!)),
        pkg.version,
        cmp,
      ),
      severity: severityOf(record, hits),
      summary: record.summary ?? null,
      modified: record.modified,
    });
  }
  return { findings, problems };
}

/** The fixed versions above the installed one, lowest first; when the order cannot place one, all of them as listed. */
function upgrades(fixed: string[], installed: string, cmp: (a: string, b: string) => number): string[] {
  const unique = [...new Set(fixed)];
  try {
    return unique.filter((v) => cmp(v, installed) > 0).sort(cmp);
  } catch {
    // A version the order cannot read still tells the reader where the fix is; better listed than lost.
    return unique;
  }
}
