/**
 * An installed Python distribution: `<name>-<version>.dist-info/METADATA` (wheels, pip) or
 * `<name>.egg-info/PKG-INFO` (setuptools). Both are the core metadata format (packaging.python.org, "Core metadata
 * specifications"): RFC 822 style headers, then a blank line and the description, which is not read.
 */
import { makePurl, type Package, type ParseResult, problemAt } from './types.js';

/** PEP 503's normalized name, the one PyPI and OSV compare: runs of `-`, `_` and `.` become one `-`, lower case. */
export function normalizePypiName(name: string): string {
  return name.replace(/[-_.]+/g, '-').toLowerCase();
}

const HEADER_RE = /^([A-Za-z0-9][A-Za-z0-9-]*):[ \t]?(.*)$/;
// Core metadata's own limit on a name (it is a project name, not text): letters, digits, and . _ - inside.
const NAME_RE = /^([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9])$/;

/**
 * The distribution a METADATA or PKG-INFO file describes, its name kept as written (for display; match on
 * `normalizePypiName(name)`). A file without Name or Version, or with a header line that is not `Key: value`, is a problem.
 */
export function parsePythonMetadata(path: string, content: Buffer): ParseResult {
  const headers = new Map<string, { value: string; line: number }>();
  const lines = content.toString('utf8').split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] ?? '').replace(/\r$/, '');
    if (line === '') break; // the headers end at the first blank line; the description follows
    if (line[0] === ' ' || line[0] === '\t') continue; // a folded header's continuation (an old multi-line Description)
    const m = HEADER_RE.exec(line);
    if (!m) return { packages: [], problems: [problemAt(path, i + 1, `not a "Key: value" header: ${JSON.stringify(line.slice(0, 80))}`)] };
    const key = (m[1] ?? '').toLowerCase();
    if (!headers.has(key)) headers.set(key, { value: (m[2] ?? '').trim(), line: i + 1 });
  }
  const name = headers.get('name');
  const version = headers.get('version');
  if (!name?.value || !version?.value) {
    return { packages: [], problems: [problemAt(path, undefined, `no ${name?.value ? 'Version' : 'Name'} header`)] };
  }
  if (!NAME_RE.test(name.value)) return { packages: [], problems: [problemAt(path, name.line, `${JSON.stringify(name.value)} is not a valid project name`)] };
  // The purl spec's pypi name is the normalized one (packageurl-js lower-cases and turns _ into -; PEP 503 also folds .).
  const purl = makePurl('pypi', undefined, normalizePypiName(name.value), version.value);
  if (!purl.ok) return { packages: [], problems: [problemAt(path, name.line, purl.problem)] };
  const pkg: Package = { ecosystem: 'pypi', name: name.value, version: version.value, path, purl: purl.purl };
  return { packages: [pkg], problems: [] };
}
