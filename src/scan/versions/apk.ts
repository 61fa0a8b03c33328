/**
 * Alpine's version order, as apk-tools' src/version.c decides it (apk_version_validate, apk_version_compare).
 *
 * `digits{.digits}[letter]{_suffix[digits]}[~hash][-rdigits]`: a number, more dot-separated numbers, at most one
 * lowercase letter, any number of suffixes (`_alpha`, `_beta`, `_pre`, `_rc`, `_cvs`, `_svn`, `_git`, `_hg`,
 * `_p`, each with an optional number), an optional `~` and hex commit hash, an optional `-r` revision. Tokens
 * compare in turn while both versions have the same kind of token: numbers numerically, except that a dotted
 * number with a leading zero (`1.01`) compares with the other as a string (Gentoo's rule); letters by ASCII;
 * suffixes in the order alpha < beta < pre < rc < (none) < cvs < svn < git < hg < p; a hash as a string. When
 * the kinds differ, a pre-release suffix (alpha, beta, pre, rc) orders first (`1.0_rc1` < `1.0`); otherwise the
 * version that goes on with a part nearer the front of that list orders last (`1.0` < `1.0.1` < `1.0-r1`;
 * `1.0a` < `1.0.1`; `1.0` < `1.0_p1`). A string apk would not validate is not comparable.
 */
import type { Parsed } from '../../units.js';

/** Token kinds in apk's order: the order is the rule (see compareApkVersions). */
const INITIAL_DIGIT = 0;
const DIGIT = 1;
const LETTER = 2;
const SUFFIX = 3;
const SUFFIX_NO = 4;
const COMMIT_HASH = 5;
const REVISION_NO = 6;
const END = 7;

/** Suffix ranks; `NONE`, no suffix, is the pivot between pre-releases and post-releases. */
const SUFFIXES: Record<string, number> = { alpha: 1, beta: 2, pre: 3, rc: 4, cvs: 6, svn: 7, git: 8, hg: 9, p: 10 };
const NONE = 5;

interface Token {
  readonly kind: number;
  /** The token's characters (digits without the dot before them, the letter, the suffix's word, the hash). */
  readonly text: string;
}

export interface ApkVersion {
  readonly text: string;
  /** The version's tokens, always ending with one of kind END. */
  readonly tokens: readonly Token[];
}

/** The version's tokens, or a sentence naming the version and the first place it breaks apk's grammar. */
export function parseApkVersion(text: string): Parsed<ApkVersion> {
  const bad = (why: string): Parsed<ApkVersion> => ({ ok: false, problem: `${JSON.stringify(text)} is not an Alpine (apk) version: ${why}` });
  const tokens: Token[] = [];
  const first = /^[0-9]+/.exec(text);
  if (!first) return bad('it does not start with a number');
  tokens.push({ kind: INITIAL_DIGIT, text: first[0] });
  let at = first[0].length;
  let kind = INITIAL_DIGIT;
  while (at < text.length) {
    const c = text[at]!;
    const where = `at ${JSON.stringify(text.slice(at))}`;
    let m: RegExpExecArray | null;
    if (c >= 'a' && c <= 'z') {
      if (kind > DIGIT) return bad(`${where}: a letter may only follow a number, once`);
      kind = LETTER;
      tokens.push({ kind, text: c });
      at += 1;
    } else if (c === '.' || (c >= '0' && c <= '9')) {
      // A number right after a suffix is the suffix's; after a dot it is the next version number.
      if (c === '.' && kind > DIGIT) return bad(`${where}: a dotted number may only follow a number`);
      if (c !== '.' && kind !== SUFFIX) return bad(`${where}: a number may follow only a dot or a suffix`);
      m = /^[0-9]+/.exec(text.slice(c === '.' ? at + 1 : at));
      if (!m) return bad(`${where}: a dot must be followed by a number`);
      kind = c === '.' ? DIGIT : SUFFIX_NO;
      tokens.push({ kind, text: m[0] });
      at += m[0].length + (c === '.' ? 1 : 0);
    } else if (c === '_') {
      if (kind > SUFFIX_NO) return bad(`${where}: a suffix may not follow the commit hash or revision`);
      const word = /^[a-z]*/.exec(text.slice(at + 1))![0];
      if (!Object.hasOwn(SUFFIXES, word)) return bad(`${where}: the suffix must be one of _${Object.keys(SUFFIXES).join(', _')}`);
      kind = SUFFIX;
      tokens.push({ kind, text: word });
      at += 1 + word.length;
    } else if (c === '~') {
      if (kind >= COMMIT_HASH) return bad(`${where}: only one ~hash, before the revision`);
      m = /^[0-9a-fA-F]+/.exec(text.slice(at + 1));
      if (!m) return bad(`${where}: ~ must be followed by a hexadecimal commit hash`);
      kind = COMMIT_HASH;
      tokens.push({ kind, text: m[0] });
      at += 1 + m[0].length;
    } else if (c === '-') {
      m = /^-r([0-9]+)/.exec(text.slice(at));
      if (kind >= REVISION_NO || !m) return bad(`${where}: a hyphen may only start the revision, once: -r and a number`);
      kind = REVISION_NO;
      tokens.push({ kind, text: m[1]! });
      at += m[0].length;
    } else {
      return bad(`${where}: ${JSON.stringify(c)} has no place in an apk version`);
    }
  }
  tokens.push({ kind: END, text: '' });
  return { ok: true, value: { text, tokens } };
}

/** Negative, zero or positive as `a` orders before, with or after `b`. */
export function compareApkVersions(a: ApkVersion, b: ApkVersion): number {
  let i = 0;
  // Both lists end with END, so neither runs out while the kinds agree and are not END.
  while (a.tokens[i]!.kind === b.tokens[i]!.kind && a.tokens[i]!.kind !== END) {
    const r = compareTokens(a.tokens[i]!, b.tokens[i]!);
    if (r !== 0) return r;
    i++;
  }
  const ta = a.tokens[i]!;
  const tb = b.tokens[i]!;
  if (ta.kind === tb.kind) return 0;
  if (ta.kind === SUFFIX && SUFFIXES[ta.text]! < NONE) return -1;
  if (tb.kind === SUFFIX && SUFFIXES[tb.text]! < NONE) return 1;
  return ta.kind > tb.kind ? -1 : 1;
}

function compareTokens(a: Token, b: Token): number {
  switch (a.kind) {
    case DIGIT:
      if (a.text.startsWith('0') || b.text.startsWith('0')) return compareStrings(a.text, b.text);
      return compareNumbers(a.text, b.text);
    case INITIAL_DIGIT:
    case SUFFIX_NO:
    case REVISION_NO:
      return compareNumbers(a.text, b.text);
    case SUFFIX:
      return SUFFIXES[a.text]! - SUFFIXES[b.text]!;
    default:
      // A letter, a hash: by bytes (ASCII here), a prefix first.
      return compareStrings(a.text, b.text);
  }
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Digit strings as numbers of any size (apk reads them as 64-bit; no real version comes near that). */
function compareNumbers(a: string, b: string): number {
  const x = a.replace(/^0+(?=.)/, '');
  const y = b.replace(/^0+(?=.)/, '');
  if (x.length !== y.length) return x.length < y.length ? -1 : 1;
  return compareStrings(x, y);
}
