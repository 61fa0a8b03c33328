/**
 * dpkg's database: `/var/lib/dpkg/status` (every package dpkg knows, with its state) and the files of
 * `/var/lib/dpkg/status.d/` (distroless images: one package's stanza per file, without a Status field because
 * nothing there is anything but installed). Both are deb822 stanzas: `Field: value` lines, continuation lines
 * starting with a space or tab, stanzas separated by blank lines (deb-control(5), deb822(5)).
 */
import { type Distro, distroQualifier, makePurl, type Package, type ParseResult, problemAt } from './types.js';

export interface Stanza {
  /** The 1-based line of its first field, for problems. */
  line: number;
  /** Field names lower-cased (deb822 field names are case-insensitive); values trimmed, continuation lines joined by \n. */
  fields: Map<string, string>;
}

const FIELD_RE = /^([!-9;-~][!-9;-~]*):(.*)$/;

/**
 * Every stanza of a deb822 file, and a problem for each line that is neither a field, a continuation nor blank.
 * With `keep`, only those fields (lower case) are stored: a status file is mostly Description and Conffiles, and
 * joining their continuation lines is most of the work when nothing reads them.
 */
export function readStanzas(path: string, text: string, keep?: ReadonlySet<string>): { stanzas: Stanza[]; problems: string[] } {
  const stanzas: Stanza[] = [];
  const problems: string[] = [];
  let current: Stanza | null = null;
  let last: string | null = null;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] ?? '').replace(/\r$/, '');
    if (line.trim() === '') {
      current = null;
      last = null;
      continue;
    }
    if (line[0] === ' ' || line[0] === '\t') {
      if (current && last !== null) {
        if (!keep || keep.has(last)) current.fields.set(last, `${current.fields.get(last) ?? ''}\n${line.trim()}`);
      } else problems.push(problemAt(path, i + 1, 'a continuation line with no field before it'));
      continue;
    }
    const m = FIELD_RE.exec(line);
    if (!m) {
      problems.push(problemAt(path, i + 1, `not a "Field: value" line: ${JSON.stringify(line.slice(0, 80))}`));
      continue;
    }
    if (!current) {
      current = { line: i + 1, fields: new Map() };
      stanzas.push(current);
    }
    last = (m[1] ?? '').toLowerCase();
    if (!keep || keep.has(last)) current.fields.set(last, (m[2] ?? '').trim());
  }
  return { stanzas, problems };
}

/**
 * Whether a Status value means the package's files are on disk and configured: want `install` or `hold` (a held
 * package is installed), flag `ok`, state `installed`. `deinstall ok config-files`, `purge ok not-installed`,
 * `install reinstreq half-installed`, `unpacked` and `half-configured` are not: their files are partly or not there.
 * Null when the value is not three words.
 */
export function dpkgInstalled(status: string): boolean | null {
  const words = status.trim().split(/\s+/);
  if (words.length !== 3) return null;
  const [want, flag, state] = words;
  return (want === 'install' || want === 'hold') && flag === 'ok' && state === 'installed';
}

// dpkg's version syntax (deb-version(7)): [epoch:]upstream[-revision], epoch a number, the rest of [A-Za-z0-9.+~-]
// (and : when there is an epoch). Stricter checks (upstream starts with a digit) are only warnings in dpkg itself.
const VERSION_RE = /^(?:\d+:)?[A-Za-z0-9.+~:-]+$/;
const SOURCE_RE = /^(\S+)(?:\s+\((\S+)\))?$/;
const READ_FIELDS: ReadonlySet<string> = new Set(['package', 'status', 'version', 'source', 'architecture']);

/**
 * The installed packages of one dpkg status file or status.d file. `path` is the file's absolute path in the image.
 * A stanza without Status is installed only in a status.d file; in `status` it is a problem (dpkg always writes one).
 */
export function parseDpkgStatus(path: string, content: Buffer, distro?: Distro): ParseResult {
  const { stanzas, problems } = readStanzas(path, content.toString('utf8'), READ_FIELDS);
  const inStatusDir = path.includes('/status.d/');
  const packages: Package[] = [];
  for (const s of stanzas) {
    const name = s.fields.get('package');
    const status = s.fields.get('status');
    if (status === undefined && !inStatusDir) {
      problems.push(problemAt(path, s.line, `package ${JSON.stringify(name ?? '?')} has no Status field`));
      continue;
    }
    if (status !== undefined) {
      const installed = dpkgInstalled(status);
      if (installed === null) problems.push(problemAt(path, s.line, `Status ${JSON.stringify(status)} is not "want flag state"`));
      if (!installed) continue;
    }
    const version = s.fields.get('version');
    if (!name || !version) {
      problems.push(problemAt(path, s.line, `an installed stanza without ${name ? 'Version' : 'Package'}`));
      continue;
    }
    if (!VERSION_RE.test(version)) {
      problems.push(problemAt(path, s.line, `package ${name}: ${JSON.stringify(version)} is not a dpkg version`));
      continue;
    }
    // dpkg's own ${source:Package} and ${source:Version}: the binary's when Source is absent or names no version.
    let source = { name, version };
    const sourceField = s.fields.get('source');
    if (sourceField !== undefined) {
      const m = SOURCE_RE.exec(sourceField);
      if (m && (m[2] === undefined || VERSION_RE.test(m[2]))) source = { name: m[1] ?? name, version: m[2] ?? version };
      else problems.push(problemAt(path, s.line, `package ${name}: Source ${JSON.stringify(sourceField)} is not "name" or "name (version)"`));
    }
    const arch = s.fields.get('architecture') || undefined;
    const purl = makePurl('deb', distro?.id ?? 'debian', name, version, { arch, distro: distro ? distroQualifier(distro) : undefined });
    if (!purl.ok) {
      problems.push(problemAt(path, s.line, purl.problem));
      continue;
    }
    packages.push({ ecosystem: 'deb', name, version, source, ...(arch ? { arch } : {}), path, purl: purl.purl });
  }
  return { packages, problems };
}
