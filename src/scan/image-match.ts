/**
 * An image's inventory matched against the imported vulnerability data: each installed package named the way OSV
 * files its advisories (Debian by source package in `Debian:<major>`, Alpine by origin in `Alpine:v<major.minor>`,
 * the language ecosystems as they are), then OSV's own evaluation (match.ts) in that ecosystem's order.
 *
 * What an image shows is one finding per advisory, package and version: the several binary packages one Debian
 * source builds (libexpat1, libexpat1-dev) are one vulnerability to fix, with one fixed version, so they are one
 * finding that lists every binary installed. A package this server cannot match (rpm, Ubuntu, a Debian without a
 * release) is counted with the reason, never silently passed as clean.
 */
import type { InventoryPackage } from './inventory.js';
import { type Matched, matchPackage, type PackageRef } from './match.js';
import type { OsvRecord } from './osv.js';
import { type Distro, type Ecosystem, normalizePypiName } from './packages/index.js';
import { RATINGS, type Severity } from './severity.js';
import { versionOrder } from './versions/index.js';

/** A package as OSV's records name it, with the installed package it stands for. */
export type OsvPackageRef = PackageRef & {
  /**
   * The names to ask the vulnerability data for: `name`, and for PyPI also the name as the package's METADATA wrote
   * it when that differs (records keep the name their author wrote; matching compares PyPI names normalized).
   */
  lookup: string[];
  /** The installed package (for Debian the binary package, for Alpine the subpackage) this reference is for. */
  installed: InventoryPackage;
};

/** The reference to look a package up by, or why the package cannot be matched here (a sentence naming no package, so that reasons group). */
export type OsvPackageOf = { ok: true; ref: OsvPackageRef } | { ok: false; reason: string };

/**
 * The OSV ecosystem, name and version of an installed package, from the image's distro (its os-release):
 * - deb on Debian: `Debian:<VERSION_ID's major>`, the source package at its source version (dpkg's `Source: name
 *   (version)` names a version apart from the binary's, as after a binary-only rebuild; otherwise the binary's);
 * - deb on Ubuntu: OSV files it under `Ubuntu:<VERSION_ID>` with `:LTS` for long-term releases (even years' .04);
 *   src/scan/versions has no Ubuntu order, so it is not matchable, and the reason says so;
 * - apk on Alpine: `Alpine:v<major.minor>`, the origin package; rpm: not matchable (no rpm order yet);
 * - npm as `npm`, pypi as `PyPI` (PEP 503 name), golang as `Go` (the module path, or `stdlib` for the toolchain,
 *   the version as the build info has it: the Go order reads it with or without the `v`), maven as `Maven` (`group:artifact`).
 * Any ecosystem src/scan/versions cannot order is not matchable, with the reason.
 */
export function osvPackageOf(pkg: InventoryPackage, distro: Distro | undefined): OsvPackageOf {
  const target = osvTarget(pkg, distro);
  if (!target.ok) return target;
  if (versionOrder(target.ecosystem) === undefined) {
    return { ok: false, reason: `${target.ecosystem} is not matched: src/scan/versions has no version order for it` };
  }
  const lookup = target.written !== undefined && target.written !== target.name ? [target.name, target.written] : [target.name];
  return { ok: true, ref: { ecosystem: target.ecosystem, name: target.name, version: target.version, lookup, installed: pkg } };
}

type Target = { ok: true; ecosystem: string; name: string; version: string; written?: string } | { ok: false; reason: string };

function osvTarget(pkg: InventoryPackage, distro: Distro | undefined): Target {
  switch (pkg.ecosystem) {
    case 'deb':
      return debTarget(pkg, distro);
    case 'apk':
      return apkTarget(pkg, distro);
    case 'rpm':
      return {
        ok: false,
        reason:
          'rpm packages are not matched yet: src/scan/versions has no rpm version order, which the Red Hat, AlmaLinux, Rocky Linux and openSUSE records need',
      };
    case 'npm':
      return { ok: true, ecosystem: 'npm', name: pkg.name, version: pkg.version };
    case 'pypi':
      return { ok: true, ecosystem: 'PyPI', name: normalizePypiName(pkg.name), version: pkg.version, written: pkg.name };
    case 'golang':
      return { ok: true, ecosystem: 'Go', name: pkg.name, version: pkg.version };
    case 'maven':
      return { ok: true, ecosystem: 'Maven', name: pkg.name, version: pkg.version };
  }
}

/** The source package a distribution files advisories under; the binary itself when the database named none. */
function sourceOf(pkg: InventoryPackage): { name: string; version: string } {
  return pkg.source ?? { name: pkg.name, version: pkg.version };
}

function debTarget(pkg: InventoryPackage, distro: Distro | undefined): Target {
  if (distro === undefined) {
    return { ok: false, reason: 'the image has no os-release, so the Debian release of its dpkg packages is unknown (OSV files them under Debian:<release>)' };
  }
  if (distro.id === 'debian') {
    if (distro.versionId === '') {
      // testing and unstable have no VERSION_ID; a codename-to-number table would go stale the day a release is made.
      const which = distro.versionCodename ? `Debian ${distro.versionCodename}` : 'a Debian';
      return {
        ok: false,
        reason: `${which} without VERSION_ID (testing or unstable) is not matched: OSV files Debian advisories by release number (Debian:12)`,
      };
    }
    const major = /^([0-9]+)(?:\.[0-9]+)*$/.exec(distro.versionId)?.[1];
    if (major === undefined) return { ok: false, reason: `Debian VERSION_ID ${JSON.stringify(distro.versionId)} is not a release number` };
    const source = sourceOf(pkg);
    return { ok: true, ecosystem: `Debian:${major}`, name: source.name, version: source.version };
  }
  if (distro.id === 'ubuntu') {
    const ecosystem = ubuntuEcosystem(distro.versionId);
    if (ecosystem === undefined) return { ok: false, reason: `Ubuntu VERSION_ID ${JSON.stringify(distro.versionId)} is not a YY.MM release` };
    const source = sourceOf(pkg);
    return { ok: true, ecosystem, name: source.name, version: source.version };
  }
  return { ok: false, reason: `dpkg packages of ${JSON.stringify(distro.id)} (os-release ID) are not matched: only Debian's are (Debian:<release>)` };
}

/**
 * OSV's name for an Ubuntu release: Canonical's records say `Ubuntu:22.04:LTS` for a long-term release and
 * `Ubuntu:23.10` for an interim one. os-release's VERSION_ID does not say which; the LTS releases have been the
 * .04 of even years since 6.06, and that rule decides here.
 */
export function ubuntuEcosystem(versionId: string): string | undefined {
  const m = /^([0-9]{2})\.([0-9]{2})$/.exec(versionId);
  if (!m) return undefined;
  const lts = m[2] === '04' && Number(m[1]) % 2 === 0;
  return `Ubuntu:${versionId}${lts ? ':LTS' : ''}`;
}

function apkTarget(pkg: InventoryPackage, distro: Distro | undefined): Target {
  if (distro === undefined) {
    return {
      ok: false,
      reason: 'the image has no os-release, so the Alpine release of its apk packages is unknown (OSV files them under Alpine:v<major.minor>)',
    };
  }
  if (distro.id !== 'alpine') {
    return { ok: false, reason: `apk packages of ${JSON.stringify(distro.id)} (os-release ID) are not matched: only Alpine's are (Alpine:v<major.minor>)` };
  }
  // edge says 3.21_alpha20240807 or the like: no release's advisories are about it.
  const m = /^([0-9]+)\.([0-9]+)(?:\.[0-9]+)?$/.exec(distro.versionId);
  if (!m) {
    return {
      ok: false,
      reason: `Alpine VERSION_ID ${JSON.stringify(distro.versionId)} is not a release (major.minor[.patch]; edge is not one): OSV files Alpine advisories by release (Alpine:v3.19)`,
    };
  }
  const source = sourceOf(pkg);
  return { ok: true, ecosystem: `Alpine:v${m[1]}.${m[2]}`, name: source.name, version: source.version };
}

/** One installed package a finding is about: for Debian each binary package of the affected source. */
export interface InstalledPackage {
  name: string;
  version: string;
  /** The digest of the layer that last wrote its database file. */
  layer: string;
  /** The database file it was read from, absolute in the image. */
  path: string;
  purl: string;
}

/** One advisory affecting one package at one version in an image. */
export interface ImageFinding {
  /** The record's id, e.g. GHSA-35jh-r3h4-6jhm or DSA-5770-1. */
  id: string;
  /** The record's aliases then its upstream ids (a DSA names its CVEs there), each once, the id itself left out. */
  aliases: string[];
  /** The package as OSV names it: the Debian source package, the Alpine origin, the npm name, `group:artifact`. */
  package: string;
  /** The OSV ecosystem it was matched in: `Debian:12`, `npm`, `Alpine:v3.19`. */
  ecosystem: string;
  /** The version matched (for Debian the source version). */
  version: string;
  /** The record's fixed versions above `version`, lowest first; empty when there is none. */
  fixed: string[];
  severity: Severity;
  summary: string | null;
  /** The record's `modified` time. */
  modified: string;
  /** The bottom-most layer (in the image's order) that brought any of `installed`: where the vulnerability came in. */
  layer: string;
  /** Every installed package behind it, by name then path. */
  installed: InstalledPackage[];
}

/** Packages counted out of matching, by inventory ecosystem and why. */
export interface Unmatched {
  /** The inventory's ecosystem: `deb`, `apk`, `rpm`, ... */
  ecosystem: Ecosystem;
  count: number;
  reason: string;
}

export interface ImageMatch {
  /** Sorted: severity (critical first, unknown last), then id, then package (then ecosystem and version). */
  findings: ImageFinding[];
  /** Sorted by ecosystem, then reason. Empty when every package was matched. */
  unmatched: Unmatched[];
  /** Each range, version or severity that could not be read, as a sentence naming the package and record; each once. */
  problems: string[];
}

export interface MatchImageOptions {
  /**
   * The image's layer digests, bottom first (the manifest's order: `ImageInventory.layers`), which ranks the layers
   * for a finding's `layer`. Without it, or for a layer not in it, the order layers first appear in `packages`
   * (after every listed layer).
   */
  layers?: readonly string[];
  /**
   * Matches already made, by OSV ecosystem, name and version, for a caller that matches many images against the
   * same records (a re-match after an import: the base layers' packages are in most images). Filled as it goes.
   */
  memo?: Map<string, Matched<PackageRef>>;
}

/**
 * The findings of an image's packages. `records(ecosystem, name)` gives the records filed under an OSV ecosystem
 * and package name (vulndb.ts's `recordsFor`); it is asked once per (ecosystem, name) however many packages share
 * them. Never throws but what `records` throws (a store that cannot be read is the caller's to report).
 */
export function matchImage(
  packages: readonly InventoryPackage[],
  distro: Distro | undefined,
  records: (ecosystem: string, name: string) => OsvRecord[],
  options: MatchImageOptions = {},
): ImageMatch {
  const rank = layerRanks(packages, options.layers ?? []);
  const unmatched = new Map<string, Unmatched>();
  // Grouped by what OSV is asked about, so that the binaries of one source (or two copies of one npm package) are
  // evaluated once and give one finding that lists them all.
  const groups = new Map<string, { ref: OsvPackageRef; installed: InventoryPackage[] }>();
  for (const pkg of packages) {
    const of = osvPackageOf(pkg, distro);
    if (!of.ok) {
      const key = `${pkg.ecosystem}\n${of.reason}`;
      const entry = unmatched.get(key);
      if (entry) entry.count++;
      else unmatched.set(key, { ecosystem: pkg.ecosystem, count: 1, reason: of.reason });
      continue;
    }
    const key = `${of.ref.ecosystem}\n${of.ref.name}\n${of.ref.version}`;
    const group = groups.get(key);
    if (group) group.installed.push(pkg);
    else groups.set(key, { ref: of.ref, installed: [pkg] });
  }

  const lookup = cachedLookup(records);
  const findings: ImageFinding[] = [];
  const problems = new Set<string>();
  for (const { ref, installed } of groups.values()) {
    const order = versionOrder(ref.ecosystem);
    if (order === undefined) continue; // osvPackageOf already refused such a package
    const pkgRef: PackageRef = { ecosystem: ref.ecosystem, name: ref.name, version: ref.version };
    const memoKey = `${ref.ecosystem}\n${ref.name}\n${ref.version}`;
    let matched = options.memo?.get(memoKey);
    if (!matched) {
      matched = matchPackage(pkgRef, lookup(ref.ecosystem, ref.lookup), order);
      options.memo?.set(memoKey, matched);
    }
    const where = `${ref.ecosystem} ${ref.name} ${ref.version}`;
    for (const p of matched.problems) problems.add(`${where}: ${p}`);
    for (const f of matched.findings) {
      for (const p of f.severity.problems) problems.add(`${f.id}: ${p}`);
      const sorted = [...installed].sort((a, b) => cmp(a.name, b.name) || cmp(a.path, b.path));
      findings.push({
        id: f.id,
        aliases: [...new Set([...f.aliases, ...f.upstream])].filter((a) => a !== f.id),
        package: ref.name,
        ecosystem: ref.ecosystem,
        version: ref.version,
        fixed: f.fixed,
        severity: f.severity,
        summary: f.summary,
        modified: f.modified,
        layer: lowestLayer(installed, rank),
        installed: sorted.map((p) => ({ name: p.name, version: p.version, layer: p.layer, path: p.path, purl: p.purl })),
      });
    }
  }

  findings.sort(
    (a, b) =>
      RATINGS.indexOf(a.severity.rating) - RATINGS.indexOf(b.severity.rating) ||
      cmp(a.id, b.id) ||
      cmp(a.package, b.package) ||
      cmp(a.ecosystem, b.ecosystem) ||
      cmp(a.version, b.version),
  );
  const notMatched = [...unmatched.values()].sort((a, b) => cmp(a.ecosystem, b.ecosystem) || cmp(a.reason, b.reason));
  return { findings, unmatched: notMatched, problems: [...problems] };
}

/** The key a finding is kept by across matches of the same image (its first_seen): advisory, ecosystem, package, version. */
export function findingKey(f: Pick<ImageFinding, 'id' | 'ecosystem' | 'package' | 'version'>): string {
  return `${f.id}|${f.ecosystem}|${f.package}|${f.version}`;
}

/** `records` asked once per (ecosystem, name); several names' records merged, each record once. */
function cachedLookup(records: (ecosystem: string, name: string) => OsvRecord[]): (ecosystem: string, names: readonly string[]) => OsvRecord[] {
  const cache = new Map<string, OsvRecord[]>();
  return (ecosystem, names) => {
    const out = new Map<string, OsvRecord>();
    for (const name of names) {
      const key = `${ecosystem}\n${name}`;
      let found = cache.get(key);
      if (found === undefined) {
        found = records(ecosystem, name);
        cache.set(key, found);
      }
      for (const r of found) if (!out.has(r.id)) out.set(r.id, r);
    }
    return [...out.values()];
  };
}

/** Each layer's position, bottom first: the listed ones, then the others as `packages` first name them. */
function layerRanks(packages: readonly InventoryPackage[], layers: readonly string[]): Map<string, number> {
  const rank = new Map<string, number>();
  for (const d of layers) if (!rank.has(d)) rank.set(d, rank.size);
  for (const p of packages) if (!rank.has(p.layer)) rank.set(p.layer, rank.size);
  return rank;
}

function lowestLayer(installed: readonly InventoryPackage[], rank: ReadonlyMap<string, number>): string {
  let best = installed[0]!;
  for (const p of installed) if ((rank.get(p.layer) ?? Number.POSITIVE_INFINITY) < (rank.get(best.layer) ?? Number.POSITIVE_INFINITY)) best = p;
  return best.layer;
}

/** Code-point order: the same on every machine (localeCompare is not). */
function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
