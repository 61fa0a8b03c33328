/**
 * Each ecosystem's version order, by OSV ecosystem name: what OSV's matching (`introduced`, `fixed`,
 * `last_affected`, `limit`) compares installed versions with. One module per ecosystem says its rule; this file
 * gives them one shape and maps the names.
 *
 * Nothing here throws on a version it cannot read. `parse` and `compare` answer a problem instead, a sentence
 * naming the version and what is wrong with it, so that the matcher can report "not matched: <problem>" for that
 * range rather than guess; no order falls back to comparing strings. (OSV's `introduced: "0"`, "from the first
 * version", is the matcher's to handle before it asks an order: not every ecosystem has a version `0`.)
 */
import type { Parsed } from '../../units.js';
import { type ApkVersion, compareApkVersions, parseApkVersion } from './apk.js';
import { compareDpkgVersions, type DpkgVersion, parseDpkgVersion } from './dpkg.js';
import { compareGoVersions, type GoVersion, parseGoVersion } from './go.js';
import { compareMavenVersions, type MavenVersion, parseMavenVersion } from './maven.js';
import { comparePypiVersions, type PypiVersion, parsePypiVersion } from './pep440.js';
import { compareNpmVersions, parseNpmVersion } from './semver.js';

export type { Parsed };

/** One ecosystem's version order. `V` is the ecosystem's own parsed form; callers may treat it as opaque. */
export interface VersionOrder<V = unknown> {
  /** The OSV ecosystem's name without its suffix: `Debian`, `Alpine`, `npm`, `PyPI`, `Go` or `Maven`. */
  readonly ecosystem: string;
  /** The version read once, to compare many times; a problem when `version` is not one of this ecosystem's. */
  parse(version: string): Parsed<V>;
  /**
   * Negative when `a` orders before `b`, zero when they are the same version (however spelled: Debian's `1.0` and
   * `0:1.0`, Maven's `1` and `1.0.0`), positive when `a` orders after `b`; only the sign means anything. Both must
   * come from this order's own `parse`.
   */
  compareParsed(a: V, b: V): number;
  /** `parse` both and compare them; the problem of the first that is not a version of this ecosystem. */
  compare(a: string, b: string): Parsed<number>;
}

function makeOrder<V>(ecosystem: string, parse: (version: string) => Parsed<V>, compareParsed: (a: V, b: V) => number): VersionOrder<V> {
  return {
    ecosystem,
    parse,
    compareParsed,
    compare(a, b) {
      const pa = parse(a);
      if (!pa.ok) return pa;
      const pb = parse(b);
      if (!pb.ok) return pb;
      return { ok: true, value: compareParsed(pa.value, pb.value) };
    },
  };
}

export const dpkgOrder: VersionOrder<DpkgVersion> = makeOrder('Debian', parseDpkgVersion, compareDpkgVersions);
export const apkOrder: VersionOrder<ApkVersion> = makeOrder('Alpine', parseApkVersion, compareApkVersions);
export const npmOrder = makeOrder('npm', parseNpmVersion, compareNpmVersions);
export const pypiOrder: VersionOrder<PypiVersion> = makeOrder('PyPI', parsePypiVersion, comparePypiVersions);
export const goOrder: VersionOrder<GoVersion> = makeOrder('Go', parseGoVersion, compareGoVersions);
export const mavenOrder: VersionOrder<MavenVersion> = makeOrder('Maven', parseMavenVersion, compareMavenVersions);

/**
 * The suffixes OSV puts after a colon, which name a release or a repository and never change the order:
 * `Debian:12`, `Alpine:v3.19`, `Maven:https://repo.example/maven2/`. The other ecosystems take none.
 */
const ORDERS: Record<string, { order: VersionOrder; suffix?: RegExp }> = {
  Debian: { order: dpkgOrder, suffix: /^[0-9]+$/ },
  Alpine: { order: apkOrder, suffix: /^v[0-9]+\.[0-9]+$/ },
  npm: { order: npmOrder },
  PyPI: { order: pypiOrder },
  Go: { order: goOrder },
  Maven: { order: mavenOrder, suffix: /^.+$/ },
};

/** The OSV ecosystem names this module orders (without suffixes), for the caller's messages. */
export const ORDERED_ECOSYSTEMS: readonly string[] = Object.keys(ORDERS);

/**
 * The version order of an OSV ecosystem name (`Debian`, `Debian:12`, `Alpine:v3.19`, `npm`, `PyPI`, `Go`,
 * `Maven`), case as OSV spells it; undefined for a name it does not know or a suffix that is not a release of
 * that ecosystem (`Debian:bookworm`, `npm:x`), which the caller reports.
 */
export function versionOrder(ecosystem: string): VersionOrder | undefined {
  const colon = ecosystem.indexOf(':');
  const name = colon < 0 ? ecosystem : ecosystem.slice(0, colon);
  const entry = Object.hasOwn(ORDERS, name) ? ORDERS[name] : undefined;
  if (!entry) return undefined;
  if (colon >= 0 && !entry.suffix?.test(ecosystem.slice(colon + 1))) return undefined;
  return entry.order;
}
