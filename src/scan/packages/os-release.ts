/**
 * `/etc/os-release` and `/usr/lib/os-release` (os-release(5)): `KEY=value` lines, `#` comments, values bare or in
 * single or double quotes, with `\` escapes inside double quotes as the shell reads them.
 */
import { type Distro, problemAt } from './types.js';

export interface OsReleaseResult {
  /** Absent only when the file is not os-release at all (no line of it parsed). */
  distro?: Distro;
  /** A sentence per line that is not `KEY=value`; the lines that were still count. */
  problems: string[];
}

const LINE_RE = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/;

/** The value as the shell would read it, or null when its quotes do not close. */
function unquote(raw: string): string | null {
  const v = raw.trim();
  const q = v[0];
  if (q !== '"' && q !== "'") return v;
  if (v.length < 2 || v[v.length - 1] !== q) return null;
  const inner = v.slice(1, -1);
  // Inside single quotes nothing is special; inside double quotes os-release(5) names \ before $ " \ and ` as escapes.
  return q === "'" ? inner : inner.replace(/\\([$"\\`])/g, '$1');
}

export function parseOsRelease(path: string, content: Buffer): OsReleaseResult {
  const fields = new Map<string, string>();
  const problems: string[] = [];
  const lines = content.toString('utf8').split('\n');
  lines.forEach((line, i) => {
    const text = line.trim();
    if (text === '' || text.startsWith('#')) return;
    const m = LINE_RE.exec(text);
    const value = m ? unquote(m[2] ?? '') : null;
    if (!m || value === null) {
      problems.push(problemAt(path, i + 1, `not KEY=value or an unclosed quote: ${JSON.stringify(text.slice(0, 80))}`));
      return;
    }
    fields.set(m[1] ?? '', value);
  });
  if (fields.size === 0) {
    problems.push(problemAt(path, undefined, 'no KEY=value line: not an os-release file'));
    return { problems };
  }
  // os-release(5): when ID is absent, "ID=linux" is the default.
  const distro: Distro = { id: (fields.get('ID') || 'linux').toLowerCase(), versionId: fields.get('VERSION_ID') ?? '' };
  const codename = fields.get('VERSION_CODENAME');
  if (codename) distro.versionCodename = codename;
  return { distro, problems };
}
