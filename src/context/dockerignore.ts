/**
 * `.dockerignore` as BuildKit reads it (moby/patternmatcher v0.6.0, which dockerd 26 and buildx 0.13 vendor),
 * so that codehub-build can leave ignored files out of a build context before it is sent: BuildKit applies the
 * file only to folder contexts, never to a tar (docs/research/build-context.md).
 *
 * The rules: `#` starts a comment line; each pattern is trimmed and cleaned like a path (a leading `/` dropped,
 * so patterns are anchored at the context root, unlike .gitignore); `!` makes an exception; `*` and `?` never
 * cross `/`; `**` matches any number of directories; a pattern that matches a parent directory matches
 * everything under it; the last pattern that matches a path decides.
 */

/** One line's pattern, as the file gave it and where. */
export interface IgnoreLine {
  line: number;
  pattern: string;
}

/** The patterns of a `.dockerignore` text, cleaned, with their line numbers (comments and blank lines dropped). */
export function parseDockerignore(text: string): IgnoreLine[] {
  const out: IgnoreLine[] = [];
  for (const [i, raw] of text
    .replace(/^\uFEFF/, '')
    .split(/\r?\n/)
    .entries()) {
    if (raw.startsWith('#')) continue;
    let pattern = raw.trim();
    if (pattern === '') continue;
    const exception = pattern.startsWith('!');
    if (exception) pattern = pattern.slice(1).trim();
    if (pattern.length > 0) {
      pattern = cleanPath(pattern);
      if (pattern.length > 1 && pattern.startsWith('/')) pattern = pattern.slice(1);
    }
    out.push({ line: i + 1, pattern: exception ? `!${pattern}` : pattern });
  }
  return out;
}

interface Pattern {
  exception: boolean;
  test: (path: string) => boolean;
}

/**
 * A list of patterns with patternmatcher's rules: `.dockerignore`'s excludes, and the include patterns and
 * followpaths BuildKit asks a context for. `matches` is patternmatcher's MatchesOrParentMatches.
 */
export class IgnoreMatcher {
  /** Whether any pattern is an exception (`!`): then an excluded directory may still hold included files. */
  readonly hasExceptions: boolean;

  private constructor(private readonly patterns: Pattern[]) {
    this.hasExceptions = patterns.some((p) => p.exception);
  }

  /**
   * The matcher for these lines, or every problem found (each naming its line): an exception with no pattern
   * (`!`), an unclosed `[`, a pattern ending in a lone `\`. A context is never built with half a .dockerignore.
   */
  static compile(lines: readonly IgnoreLine[], file = '.dockerignore'): { ok: true; matcher: IgnoreMatcher } | { ok: false; problems: string[] } {
    const patterns: Pattern[] = [];
    const problems: string[] = [];
    for (const { line, pattern: given } of lines) {
      let p = cleanPath(given.trim());
      const exception = p.startsWith('!');
      if (exception) p = p.slice(1);
      if (exception && p === '') {
        problems.push(`${file}:${line}: "!" with no pattern after it`);
        continue;
      }
      const test = compilePattern(p);
      if (typeof test === 'string') problems.push(`${file}:${line}: ${JSON.stringify(given)}: ${test}`);
      else patterns.push({ exception, test });
    }
    return problems.length ? { ok: false, problems } : { ok: true, matcher: new IgnoreMatcher(patterns) };
  }

  /** Whether a pattern matches `path` (relative to the context root, `/`-separated, no leading `./`) or a parent of it. */
  matches(path: string): boolean {
    const parents = dirname(path) === '.' ? [] : dirname(path).split('/');
    let matched = false;
    for (const p of this.patterns) {
      // Only a pattern that could flip the answer is looked at: inclusions while not matched, exceptions while matched.
      if (p.exception !== matched) continue;
      let hit = p.test(path);
      for (let i = 0; !hit && i < parents.length; i++) hit = p.test(parents.slice(0, i + 1).join('/'));
      if (hit) matched = !p.exception;
    }
    return matched;
  }
}

/**
 * A test of one cleaned pattern against a path, or why the pattern is malformed. Patterns without wildcards
 * compare exactly; `prefix/**` and `**` + `suffix` compare by prefix and suffix, as patternmatcher does.
 */
function compilePattern(pattern: string): ((path: string) => boolean) | string {
  let re = '^';
  let kind: 'exact' | 'prefix' | 'suffix' | 'regexp' = 'exact';
  const chars = [...pattern];
  for (let i = 0, step = 0; i < chars.length; i++, step++) {
    const ch = chars[i]!;
    if (ch === '*') {
      if (chars[i + 1] === '*') {
        i++;
        if (chars[i + 1] === '/') i++; // `**/` is `**`
        if (i + 1 >= chars.length) {
          // A trailing `**` accepts everything, as in .gitignore.
          if (kind === 'exact') kind = 'prefix';
          else {
            re += '.*';
            kind = 'regexp';
          }
        } else {
          re += '(.*/)?';
          kind = 'regexp';
        }
        if (step === 0) kind = 'suffix'; // the pattern starts with `**`
      } else {
        re += '[^/]*';
        kind = 'regexp';
      }
    } else if (ch === '?') {
      re += '[^/]';
      kind = 'regexp';
    } else if ('.+()|{}$'.includes(ch)) {
      re += `\\${ch}`;
    } else if (ch === '\\') {
      if (i + 1 >= chars.length) return 'ends in a lone "\\" (escape it as "\\\\")';
      re += `\\${chars[++i]}`;
      kind = 'regexp';
    } else if (ch === '[' || ch === ']') {
      re += ch;
      kind = 'regexp';
    } else {
      re += ch;
    }
  }
  if (kind === 'exact') return (path) => path === pattern;
  if (kind === 'prefix') {
    const prefix = pattern.slice(0, -2);
    return (path) => path.startsWith(prefix);
  }
  if (kind === 'suffix') {
    const suffix = pattern.slice(2);
    return (path) => path.endsWith(suffix) || (suffix.startsWith('/') && path === suffix.slice(1));
  }
  let compiled: RegExp;
  try {
    compiled = new RegExp(`${re}$`, 's');
  } catch (e) {
    return `not a valid pattern (${(e as Error).message.replace(/^Invalid regular expression: /, '')})`;
  }
  return (path) => compiled.test(path);
}

/** Go's filepath.Clean on `/` paths: the shortest equivalent path (`a/./b/../c/` -> `a/c`, `` -> `.`). */
export function cleanPath(p: string): string {
  if (p === '') return '.';
  const rooted = p.startsWith('/');
  const out: string[] = [];
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length && out[out.length - 1] !== '..') out.pop();
      else if (!rooted) out.push('..');
      continue;
    }
    out.push(part);
  }
  const s = (rooted ? '/' : '') + out.join('/');
  return s === '' ? '.' : s;
}

function dirname(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? '.' : i === 0 ? '/' : path.slice(0, i);
}
