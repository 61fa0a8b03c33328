/**
 * What an image's package databases say is installed: one Package per installed package, named and versioned the
 * way its ecosystem's advisories name it, with the file it was read from and its package URL (purl) for SBOMs.
 */
import { PackageURL } from 'packageurl-js';

/** The ecosystems we read; each maps to an OSV ecosystem when matching (deb -> `Debian:<major>`, apk -> `Alpine:v<x.y>`). */
export type Ecosystem = 'deb' | 'apk' | 'rpm' | 'npm' | 'pypi' | 'golang' | 'maven';

/** The image's distribution, from `/etc/os-release` (or `/usr/lib/os-release`). */
export interface Distro {
  /** `ID`, lower case as written: `debian`, `ubuntu`, `alpine`, `fedora`, `amzn`. */
  id: string;
  /** `VERSION_ID` as written (`12`, `22.04`, `3.19.1`), or `''` when the file has none (Debian sid, rolling releases). */
  versionId: string;
  /** `VERSION_CODENAME` when the file has one (`bookworm`). */
  versionCodename?: string;
}

export interface Package {
  ecosystem: Ecosystem;
  /** As the package manager names it (a PyPI name as written in METADATA, not normalized; an npm name with its scope). */
  name: string;
  /**
   * As the package manager prints it: dpkg's `[epoch:]upstream[-revision]`, apk's `x.y.z-rN`, rpm's
   * `[epoch:]version-release` (the epoch only when the header has one), npm's and PyPI's as written.
   */
  version: string;
  /**
   * The package it was built from, by which distributions publish advisories: dpkg's `Source:` (its version defaults
   * to the binary's), apk's origin (same version), rpm's SOURCERPM (`name-version-release.src.rpm`, split).
   */
  source?: { name: string; version: string };
  arch?: string;
  /** The database file it came from, absolute in the image: `/var/lib/dpkg/status`, `/app/node_modules/x/package.json`. */
  path: string;
  /** Package URL per the purl spec, e.g. `pkg:deb/debian/libexpat1@2.5.0-1%2Bdeb12u1?arch=amd64&distro=debian-12`. */
  purl: string;
}

/** What one database file yields: the packages it lists and a sentence for each thing that could not be read. */
export interface ParseResult {
  packages: Package[];
  /** Each names the file (and line or record) and what was wrong; a problem never hides the packages that did parse. */
  problems: string[];
}

/**
 * The `distro` qualifier of a purl: `debian-12`, `ubuntu-22.04`, `alpine-3.19` (Alpine's by major.minor, the release its
 * advisories are filed under, not the point release), or the codename when there is no version (`debian-trixie`).
 */
export function distroQualifier(distro: Distro): string | undefined {
  let version = distro.versionId;
  if (distro.id === 'alpine') version = version.split('.').slice(0, 2).join('.');
  if (!version) version = distro.versionCodename ?? '';
  return version ? `${distro.id}-${version}` : undefined;
}

/**
 * A purl string, or a problem when packageurl-js refuses the parts (it throws on an empty name, for one).
 * `+` in a version is written `%2B`, as the purl spec's own deb examples and DESIGN.md do: packageurl-js 2 leaves it
 * bare, and readers that decode a purl as a URL turn a bare `+` into a space. Nothing else in the string can hold a
 * bare `+` (names go through encodeURIComponent, qualifier values are form-encoded with `+` as `%20`).
 */
export function makePurl(
  type: string,
  namespace: string | undefined,
  name: string,
  version: string,
  qualifiers: Record<string, string | undefined> = {},
): { ok: true; purl: string } | { ok: false; problem: string } {
  const present: Record<string, string> = {};
  for (const [k, v] of Object.entries(qualifiers)) if (v) present[k] = v;
  try {
    const purl = new PackageURL(type, namespace, name, version, Object.keys(present).length ? present : undefined, undefined).toString();
    return { ok: true, purl: purl.replaceAll('+', '%2B') };
  } catch (err) {
    return { ok: false, problem: `no package URL for ${type} ${JSON.stringify(name)} ${JSON.stringify(version)}: ${(err as Error).message}` };
  }
}

/** Where a problem is: `path: line N: what` (the line is 1-based; absent when the problem is the whole file's). */
export function problemAt(path: string, line: number | undefined, what: string): string {
  return line === undefined ? `${path}: ${what}` : `${path}: line ${line}: ${what}`;
}
