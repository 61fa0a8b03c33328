import picomatch from 'picomatch';

/**
 * Globs for `branches:` and `paths:`, matched by picomatch: `*` matches within one path segment, `**` across
 * segments, `?` one character, `{a,b}` and `{1..3}` either alternative, `[0-9]` and `[!a]` one character of a
 * class (never `/`); everything else is literal. `paths: ["web"]` also matches everything below `web/`.
 *
 * Before picomatch, `{` and `[` were plain characters, so a config may still rely on that: each pattern holding
 * braces or a class is also matched as it was then, and a match only that way still counts but is reported
 * (`literalOnly`) so the push can say so. `*`, `**` and `?` keep their meaning from then too, which differs from
 * picomatch's own in two places the translation below takes care of: `**` inside a segment (`release**`) still
 * crosses `/`, and `web/**` does not match `web` itself.
 */

/** Which glob matched: `literalOnly` when it matched only with its `{…}` and `[…]` read as plain characters. */
export interface GlobHit {
  glob: string;
  literalOnly: boolean;
}

/** The first of `globs` matching `value` (a branch or tag name); a real match wins over a literal-only one. */
export function matchGlob(value: string, globs: readonly string[]): GlobHit | null {
  const compiled = globs.map(compile);
  for (let i = 0; i < globs.length; i++) if (compiled[i]!.test(value)) return { glob: globs[i]!, literalOnly: false };
  for (let i = 0; i < globs.length; i++) if (compiled[i]!.literal?.(value)) return { glob: globs[i]!, literalOnly: true };
  return null;
}

export function matchesAny(value: string, globs: readonly string[]): boolean {
  return matchGlob(value, globs) !== null;
}

/**
 * The first changed path lying in one of `globs`, and which: a glob without `*` or `?` names a file or a folder,
 * and a folder covers what is below it. A real match anywhere wins over a literal-only one.
 */
export function pathsHit(changed: readonly string[], globs: readonly string[]): (GlobHit & { path: string }) | null {
  const compiled = globs.map((g) => ({
    glob: g,
    whole: compile(g),
    // The folder form: `web/` and `web` both cover `web/…`.
    folder: /[*?]/.test(g) ? null : compile(g.replace(/\/+$/, '')),
  }));
  for (const literalOnly of [false, true]) {
    const test = (m: Compiled, s: string) => (literalOnly ? (m.literal?.(s) ?? false) : m.test(s));
    for (const path of changed) {
      const folders = ancestors(path);
      for (const c of compiled) {
        if (test(c.whole, path) || (c.folder && folders.some((f) => test(c.folder!, f)))) return { glob: c.glob, literalOnly, path };
      }
    }
  }
  return null;
}

/** True if any changed path lies in one of `globs` (a glob naming a folder covers what is below it). */
export function pathsMatch(changed: readonly string[], globs: readonly string[]): boolean {
  return pathsHit(changed, globs) !== null;
}

/** `a/b/c` -> `a`, `a/b`. */
function ancestors(path: string): string[] {
  const out: string[] = [];
  for (let i = path.indexOf('/'); i > 0; i = path.indexOf('/', i + 1)) out.push(path.slice(0, i));
  return out;
}

interface Compiled {
  test: (s: string) => boolean;
  /** The pattern with `{…}` and `[…]` as plain characters (as before picomatch); null when it has none. */
  literal: ((s: string) => boolean) | null;
}

// Configs are read on every push, so each pattern is compiled once; the bound keeps a long-lived server's memory
// flat whatever patterns are pushed (the oldest entry goes first).
const CACHE_MAX = 2000;
const cache = new Map<string, Compiled>();

function compile(glob: string): Compiled {
  let c = cache.get(glob);
  if (c) return c;
  const modern = translate(glob, true);
  const test = matcher(modern.patterns);
  const literal = modern.groups ? matcher(translate(glob, false).patterns) : null;
  c = { test, literal };
  if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value!);
  cache.set(glob, c);
  return c;
}

const OPTIONS: picomatch.PicomatchOptions = { dot: true, nonegate: true, noextglob: true, strictSlashes: true };

function matcher(patterns: string[]): (s: string) => boolean {
  try {
    const res = patterns.map((p) => picomatch.makeRe(p, OPTIONS));
    return (s) => res.some((r) => r.test(s));
  } catch {
    // A class picomatch cannot compile (`[z-a]`) matches nothing; the literal reading still applies.
    return () => false;
  }
}

type Tok =
  | { t: 'text'; s: string } // picomatch text matching itself: an escaped character, or a brace group or class
  | { t: 'star' } // `*`
  | { t: 'any' } // `**` not followed by `/`: anything, `/` included
  | { t: 'dirs' } // `**/`: nothing, or anything ending in `/`
  | { t: 'q' }; // `?`

/** Above this many `**` inside segments the alternatives below would multiply; picomatch's reading is used instead. */
const MAX_SPLIT = 4;

/**
 * The pattern as picomatch patterns (any of which matching is a match), with today's meaning of `*`, `**`, `?`;
 * `syntax: false` reads `{` and `[` as plain characters. `groups`: whether any brace group or class was read.
 */
function translate(glob: string, syntax: boolean): { patterns: string[]; groups: boolean } {
  const { toks, groups } = tokenize(glob, syntax);
  const wholeSegment = (i: number) => segmentStart(toks, i) && (toks[i]!.t === 'dirs' || i === toks.length - 1);
  const splits = toks.filter((t, i) => (t.t === 'any' || t.t === 'dirs') && !wholeSegment(i)).length;
  let alts = [''];
  const add = (...options: string[]) => {
    alts = alts.flatMap((a) => options.map((o) => a + o));
  };
  toks.forEach((t, i) => {
    if (t.t === 'text') add(t.s);
    else if (t.t === 'star') add('*');
    else if (t.t === 'q') add('?');
    else if (t.t === 'dirs') {
      // At a segment's start `**/` is picomatch's globstar; inside one (`a**/b`: `ab`, `a…/b`) it is split out.
      if (wholeSegment(i) || splits > MAX_SPLIT) add('**/');
      else add('', '*/', '*/**/');
    } else if (wholeSegment(i)) {
      // A whole last segment: `**` alone matches everything; `web/**` matches below `web/`, not `web` itself.
      add(i === 0 ? '**' : '**/*');
    } else if (splits > MAX_SPLIT) add('**');
    // Inside a segment (`release**`, `a/**b`) picomatch would read `**` as `*`: within the segment, or across.
    else add('*', '*/**/*');
  });
  return { patterns: alts, groups };
}

function segmentStart(toks: Tok[], i: number): boolean {
  const prev = toks[i - 1];
  return prev === undefined || prev.t === 'dirs' || (prev.t === 'text' && prev.s === '/');
}

function tokenize(glob: string, syntax: boolean): { toks: Tok[]; groups: boolean } {
  const toks: Tok[] = [];
  let groups = false;
  const push = (t: Tok) => {
    // Runs of stars mean what they meant before: `.*` absorbs a neighbouring `*`, `**` or `**/`, and `**/**/` is `**/`.
    const last = toks[toks.length - 1];
    if (last?.t === 'any' && t.t !== 'text' && t.t !== 'q') return;
    if (t.t === 'any' && (last?.t === 'star' || last?.t === 'dirs')) {
      toks[toks.length - 1] = t;
      return;
    }
    if (t.t === 'dirs' && last?.t === 'dirs') return;
    toks.push(t);
  };
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') {
      if (glob[i + 1] === '*') {
        if (glob[i + 2] === '/') {
          push({ t: 'dirs' });
          i += 2;
        } else {
          push({ t: 'any' });
          i += 1;
        }
      } else push({ t: 'star' });
    } else if (c === '?') push({ t: 'q' });
    else if (syntax && c === '[' && classEnd(glob, i) > 0) {
      const end = classEnd(glob, i);
      push({ t: 'text', s: classText(glob.slice(i + 1, end)) });
      groups = true;
      i = end;
    } else if (syntax && c === '{' && braceText(glob, i) !== null) {
      const b = braceText(glob, i)!;
      push({ t: 'text', s: b.text });
      groups = true;
      i = b.end;
    } else push({ t: 'text', s: escapePunctuation(c) });
  }
  return { toks, groups };
}

/** ASCII punctuation is escaped for picomatch (`(`, `!`, `+`, `@`, `\`… are literal here); `/` stays a separator. */
function escapePunctuation(c: string): string {
  return /^[!-.:-@[-`{-~]$/.test(c) ? '\\' + c : c;
}

/** Where the class opened at `i` closes: `[abc]`, `[!a]`, `[^a]`, `[]a]`; -1 if it does not, or holds a `/`. */
function classEnd(glob: string, i: number): number {
  let j = i + 1;
  if (glob[j] === '!' || glob[j] === '^') j++;
  if (glob[j] === ']') j++;
  const end = glob.indexOf(']', j);
  if (end < 0 || end === i + 1 || glob.slice(i + 1, end).includes('/')) return -1;
  return end;
}

function classText(inner: string): string {
  const body = inner.startsWith('!') ? '^' + inner.slice(1) : inner;
  return '[' + body.replace(/\\/g, '\\\\') + ']';
}

const MAX_RANGE = 1000;

/**
 * The brace group opened at `i` as picomatch text and where it closes: `{a,b}` (alternatives read as globs
 * themselves) or a range `{1..10}`, `{a..f}`; null for anything else (`{a}`, an unclosed `{`), which stays literal.
 */
function braceText(glob: string, i: number): { text: string; end: number } | null {
  let depth = 0;
  let end = -1;
  const commas: number[] = [];
  for (let j = i; j < glob.length; j++) {
    if (glob[j] === '{') depth++;
    else if (glob[j] === '}' && --depth === 0) {
      end = j;
      break;
    } else if (glob[j] === ',' && depth === 1) commas.push(j);
  }
  if (end < 0) return null;
  const inner = glob.slice(i + 1, end);
  if (commas.length) {
    const parts: string[] = [];
    let from = i + 1;
    for (const at of [...commas, end]) {
      parts.push(glob.slice(from, at));
      from = at + 1;
    }
    return { text: '{' + parts.map(inBraces).join(',') + '}', end };
  }
  const range = expandRange(inner);
  return range ? { text: '{' + range.map((r) => r.split('').map(escape).join('')).join(',') + '}', end } : null;
}

/** An alternative inside braces: a glob of its own, its stars read as picomatch reads them. */
function inBraces(part: string): string {
  return tokenize(part, true)
    .toks.map((t) => (t.t === 'text' ? t.s : t.t === 'star' ? '*' : t.t === 'any' ? '**' : t.t === 'dirs' ? '**/' : '?'))
    .join('');
}

/** `1..3` -> 1 2 3 (`01..10`: zero-padded), `a..c` -> a b c; null if not a range or over MAX_RANGE values. */
function expandRange(s: string): string[] | null {
  const num = /^(-?\d+)\.\.(-?\d+)$/.exec(s);
  const chr = /^([a-zA-Z])\.\.([a-zA-Z])$/.exec(s);
  if (!num && !chr) return null;
  const [from, to] = num ? [Number(num[1]), Number(num[2])] : [chr![1]!.charCodeAt(0), chr![2]!.charCodeAt(0)];
  if (Math.abs(to - from) >= MAX_RANGE) return null;
  const width = num && (/^-?0\d/.test(num[1]!) || /^-?0\d/.test(num[2]!)) ? Math.max(num[1]!.length, num[2]!.length) : 0;
  const out: string[] = [];
  for (let v = from; from <= to ? v <= to : v >= to; v += from <= to ? 1 : -1) {
    out.push(num ? (width ? String(v).padStart(width, '0') : String(v)) : String.fromCharCode(v));
  }
  return out;
}
