/**
 * A Java archive's Maven coordinates: `META-INF/maven/<groupId>/<artifactId>/pom.properties`, written by Maven's
 * archiver into every jar it builds. The layer walker opens the archives (jar, war, ear, nested jars) and hands
 * each pom.properties here; this reads only the text, a java.util.Properties file.
 */
import { makePurl, type Package, type ParseResult, problemAt } from './types.js';

const CONTROL_ESCAPES: Record<string, string> = { t: '\t', n: '\n', r: '\r', f: '\f' };

/** java.util.Properties' escapes: `\uXXXX`, `\t` `\n` `\r` `\f`, and `\` before any other character is that character. */
function decodeEscapes(s: string): string {
  return s.replace(/\\u([0-9a-fA-F]{4})|\\(.)/g, (_, hex: string | undefined, c: string | undefined) =>
    hex ? String.fromCharCode(Number.parseInt(hex, 16)) : (CONTROL_ESCAPES[c ?? ''] ?? c ?? ''),
  );
}

/**
 * The key/value pairs of a .properties file as java.util.Properties reads them, for the plain files Maven writes:
 * `#` and `!` comments, `key=value`, `key: value` or `key value`, a trailing `\` continuing the line. Unicode
 * and control escapes are decoded as Java decodes them.
 */
export function readProperties(text: string): Map<string, { value: string; line: number }> {
  const out = new Map<string, { value: string; line: number }>();
  const lines = text.split(/\r?\n|\r/);
  for (let i = 0; i < lines.length; i++) {
    const start = i;
    let logical = (lines[i] ?? '').replace(/^[ \t\f]+/, '');
    if (logical === '' || logical[0] === '#' || logical[0] === '!') continue;
    // An odd number of trailing backslashes continues the line; the next line's leading blanks are dropped.
    while (/(^|[^\\])(\\\\)*\\$/.test(logical) && i + 1 < lines.length) {
      i++;
      logical = logical.slice(0, -1) + (lines[i] ?? '').replace(/^[ \t\f]+/, '');
    }
    const m = /^((?:\\.|[^=:\s\\])*)[ \t\f]*[=:]?[ \t\f]*(.*)$/.exec(logical);
    const key = decodeEscapes(m?.[1] ?? '');
    if (key && !out.has(key)) out.set(key, { value: decodeEscapes(m?.[2] ?? ''), line: start + 1 });
  }
  return out;
}

/**
 * The artifact one pom.properties names (ecosystem `maven`, name `groupId:artifactId` as OSV's Maven records name
 * it). A file missing any of groupId, artifactId and version is a problem naming which.
 */
export function parsePomProperties(path: string, content: Buffer): ParseResult {
  const props = readProperties(content.toString('utf8'));
  const get = (k: string) => props.get(k)?.value.trim() ?? '';
  const groupId = get('groupId');
  const artifactId = get('artifactId');
  const version = get('version');
  const missing = [!groupId && 'groupId', !artifactId && 'artifactId', !version && 'version'].filter(Boolean);
  if (missing.length) return { packages: [], problems: [problemAt(path, undefined, `no ${missing.join(', ')}`)] };
  const purl = makePurl('maven', groupId, artifactId, version);
  if (!purl.ok) return { packages: [], problems: [problemAt(path, props.get('groupId')?.line, purl.problem)] };
  const pkg: Package = { ecosystem: 'maven', name: `${groupId}:${artifactId}`, version, path, purl: purl.purl };
  return { packages: [pkg], problems: [] };
}
