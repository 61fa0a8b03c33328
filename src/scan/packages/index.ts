/**
 * Which files of an image are package databases, and the packages each one lists. The layer walker asks
 * `interestingPath` of every file of every layer, keeps only the files it names (up to `MAX_FILE_BYTES` of their
 * kind), and hands each to `parsePackages` with the image's distro (from its os-release, read first).
 */
import { formatBytes } from '../../units.js';
import { parseApkInstalled } from './apk.js';
import { parseDpkgStatus } from './dpkg.js';
import { parsePomProperties } from './maven.js';
import { parseNpmPackageJson } from './npm.js';
import { parseOsRelease } from './os-release.js';
import { parsePythonMetadata } from './python.js';
import { parseRpmSqlite } from './rpm.js';
import { type Distro, type ParseResult, problemAt } from './types.js';

export type { Distro, Ecosystem, Package, ParseResult } from './types.js';
export { normalizePypiName } from './python.js';

/** A file `parsePackages` reads. */
export type PackageFileKind = 'os-release' | 'dpkg-status' | 'apk-installed' | 'rpm-sqlite' | 'npm-package-json' | 'python-metadata' | 'pom-properties';
/** What `interestingPath` names: a file to parse, or a Java archive the walker opens to find its pom.properties files. */
export type InterestingKind = PackageFileKind | 'java-archive';

/**
 * The largest file of each kind that is read; a larger one is skipped with a problem, so a layer's scan holds at
 * most this much of one file. Each is far above real files (a Debian system with 5,000 packages has a 10 MiB status;
 * a Fedora rpmdb.sqlite with 2,000 packages is about 100 MiB; a Python METADATA holds its README).
 */
export const MAX_FILE_BYTES: Readonly<Record<InterestingKind, number>> = {
  'os-release': 64 * 1024,
  'dpkg-status': 64 * 1024 ** 2,
  'apk-installed': 64 * 1024 ** 2,
  'rpm-sqlite': 512 * 1024 ** 2,
  'npm-package-json': 1024 ** 2,
  'python-metadata': 4 * 1024 ** 2,
  'pom-properties': 64 * 1024,
  'java-archive': 512 * 1024 ** 2,
};

/** Problems kept per file: enough to see the pattern, bounded whatever the file holds. */
export const MAX_PROBLEMS_PER_FILE = 20;

const EXACT = new Map<string, PackageFileKind>([
  ['etc/os-release', 'os-release'],
  ['usr/lib/os-release', 'os-release'],
  ['var/lib/dpkg/status', 'dpkg-status'],
  ['lib/apk/db/installed', 'apk-installed'],
  ['var/lib/rpm/rpmdb.sqlite', 'rpm-sqlite'],
  ['usr/lib/sysimage/rpm/rpmdb.sqlite', 'rpm-sqlite'],
]);
const DPKG_STATUS_DIR = 'var/lib/dpkg/status.d/';

/** A tar entry's name as an image path without its leading `./` or `/`: `var/lib/dpkg/status`. */
function relative(path: string): string {
  if (path.startsWith('./')) return path.slice(2);
  return path.startsWith('/') ? path.slice(1) : path;
}

/** The last segment of the folder `p` ends in (p has no trailing /): `a/b/c` -> `c`. */
function lastSegment(p: string): string {
  return p.slice(p.lastIndexOf('/') + 1);
}

/** `.../node_modules/<name>/package.json` or `.../node_modules/@scope/<name>/package.json`, and no deeper file. */
function isNpmPackageJson(p: string, slash: number): boolean {
  const dir = p.slice(0, slash);
  const cut = dir.lastIndexOf('/');
  if (cut < 0) return false;
  const pkgDir = dir.slice(cut + 1);
  // npm names never start with . or _ (node_modules/.bin, .cache); a scope folder itself holds no package.json.
  if (pkgDir === '' || pkgDir[0] === '.' || pkgDir[0] === '@') return false;
  const parent = dir.slice(0, cut);
  const parentName = lastSegment(parent);
  if (parentName === 'node_modules') return true;
  if (parentName[0] !== '@' || parentName.length < 2) return false;
  const grand = parent.slice(0, parent.lastIndexOf('/'));
  return parent.lastIndexOf('/') >= 0 && lastSegment(grand) === 'node_modules';
}

/** `.../META-INF/maven/<groupId>/<artifactId>/pom.properties` (inside an archive, or an exploded one on disk). */
function isPomProperties(p: string, slash: number): boolean {
  const parts = p.slice(0, slash).split('/');
  const n = parts.length;
  return n >= 4 && parts[n - 3] === 'maven' && parts[n - 4] === 'META-INF' && !!parts[n - 2] && !!parts[n - 1];
}

/**
 * Which kind of package file a path of an image is, or null for the other files (nearly all). Called for every file
 * of every layer, so it does a map lookup, then looks only at the last few segments. Paths may come as tar writes
 * them (`./etc/os-release`, `etc/os-release`) or absolute. A whiteout (`.wh.` name) is never a package file; walking
 * only regular files keeps symlinks out (npm workspaces' links in node_modules, /etc/os-release -> ../usr/lib/...).
 * When both os-release files exist, /etc/os-release is the one os-release(5) says to read.
 */
export function interestingPath(path: string): InterestingKind | null {
  const p = relative(path);
  const exact = EXACT.get(p);
  if (exact) return exact;
  const slash = p.lastIndexOf('/');
  const base = p.slice(slash + 1);
  if (base.startsWith('.wh.')) return null;
  switch (base) {
    case 'package.json':
      return isNpmPackageJson(p, slash) ? 'npm-package-json' : null;
    case 'METADATA':
      return slash > 0 && p.slice(0, slash).endsWith('.dist-info') ? 'python-metadata' : null;
    case 'PKG-INFO':
      return slash > 0 && p.slice(0, slash).endsWith('.egg-info') ? 'python-metadata' : null;
    case 'pom.properties':
      return isPomProperties(p, slash) ? 'pom-properties' : null;
  }
  // distroless: one file per package in status.d, beside its list of checksums (`<name>.md5sums`), which is not one.
  if (slash === DPKG_STATUS_DIR.length - 1 && p.startsWith(DPKG_STATUS_DIR) && base !== '' && !base.endsWith('.md5sums')) return 'dpkg-status';
  if (base.endsWith('.jar') || base.endsWith('.war') || base.endsWith('.ear')) return 'java-archive';
  return null;
}

/** What a file yields: its packages and problems, and for os-release the distro it names. */
export interface PackagesResult extends ParseResult {
  distro?: Distro;
}

/**
 * The packages one file of kind `kind` lists (os-release lists none: it yields `distro`). `path` is where the file is
 * in the image (written into each Package, absolute); `distro` spells the OS packages' purls. Never throws: a file
 * over its kind's size, or malformed, yields problems naming the file (and the line where there is one), and every
 * package that still parsed. At most MAX_PROBLEMS_PER_FILE problems are kept, then one that counts the rest.
 */
export function parsePackages(kind: PackageFileKind, path: string, content: Buffer, distro?: Distro): PackagesResult {
  const r = parseFile(kind, path, content, distro);
  if (r.problems.length <= MAX_PROBLEMS_PER_FILE) return r;
  // A file of garbage has a problem on every line: the first few say what is wrong, the count says how much.
  const more = r.problems.length - MAX_PROBLEMS_PER_FILE;
  return { ...r, problems: [...r.problems.slice(0, MAX_PROBLEMS_PER_FILE), problemAt(`/${relative(path)}`, undefined, `${more} more problems`)] };
}

function parseFile(kind: PackageFileKind, path: string, content: Buffer, distro?: Distro): PackagesResult {
  const where = `/${relative(path)}`;
  const max = MAX_FILE_BYTES[kind];
  if (content.length > max) {
    return {
      packages: [],
      problems: [problemAt(where, undefined, `${content.length} bytes, more than the ${formatBytes(max)} read of a ${kind} file: skipped`)],
    };
  }
  try {
    switch (kind) {
      case 'os-release': {
        const r = parseOsRelease(where, content);
        return { packages: [], problems: r.problems, ...(r.distro ? { distro: r.distro } : {}) };
      }
      case 'dpkg-status':
        return parseDpkgStatus(where, content, distro);
      case 'apk-installed':
        return parseApkInstalled(where, content, distro);
      case 'rpm-sqlite':
        return parseRpmSqlite(where, content, distro);
      case 'npm-package-json':
        return parseNpmPackageJson(where, content);
      case 'python-metadata':
        return parsePythonMetadata(where, content);
      case 'pom-properties':
        return parsePomProperties(where, content);
    }
  } catch (err) {
    // The parsers return problems for what they expect; this is for what they did not (an I/O error writing rpm's
    // temporary copy, a parser bug): the scan goes on with the other files, and the problem says what happened.
    return { packages: [], problems: [problemAt(where, undefined, `could not be read: ${(err as Error).message}`)] };
  }
}
