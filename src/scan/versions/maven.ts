/**
 * Maven's version order: org.apache.maven.artifact.versioning.ComparableVersion of the Maven 4 line, with its
 * latest fixes (apache/maven, compat/maven-artifact, as of commit 0288c858679525cd4f0ae8c1e7fbfe5b5f541278: a
 * qualifier-and-number item against the end of the other version, a zero prefix before a qualifier). Our own code
 * for the same rules, not a copy. It gives the answers of both Maven 4's and Maven 3.9.16's ComparableVersionTest;
 * Maven 3.9 itself has no qualifier-and-number items and may differ on rare spellings that join one to a number.
 *
 * The version, lowercased, is cut into items at `.`, at `-` and where digits and letters meet; a `-` (or a
 * switch from digits to letters) opens a sub-list, which is how `1-1` orders below `1.1`. Numbers compare as
 * numbers. Words are qualifiers: alpha < beta < milestone < rc (= cr) < snapshot < the release (no qualifier,
 * = ga = final = release) < sp < any other word (those by ASCII); `a1`, `b1`, `m1` mean alpha-1, beta-1,
 * milestone-1, and `rc1` or `x-1` is one qualifier-and-number item. Trailing zeros and empty qualifiers drop out,
 * so `1` = `1.0` = `1.0.0` = `1-0` and `1-ga` orders as `1`. Any string is a Maven version; only the empty
 * string and one longer than Maven's 256 characters are not.
 */
import type { Parsed } from '../../units.js';

/** A number (its digits without leading zeros, `0` for zero: no limit on size, as Maven's BigInteger). */
interface NumberItem {
  readonly kind: 'number';
  readonly digits: string;
}
/** A qualifier, aliases resolved (`cr` is `rc`). */
interface WordItem {
  readonly kind: 'word';
  readonly word: string;
}
/** A qualifier followed by a number in one item (`rc1`, `x-1`). */
interface ComboItem {
  readonly kind: 'combo';
  readonly word: WordItem;
  readonly number: NumberItem;
}
interface ListItem {
  readonly kind: 'list';
  readonly items: Item[];
}
type Item = NumberItem | WordItem | ComboItem | ListItem;

export interface MavenVersion {
  readonly text: string;
  readonly items: ListItem;
}

const MAX_LENGTH = 256;

export function parseMavenVersion(text: string): Parsed<MavenVersion> {
  if (text === '') return { ok: false, problem: 'the empty string is not a Maven version' };
  if (text.length > MAX_LENGTH)
    return { ok: false, problem: `${JSON.stringify(`${text.slice(0, 32)}…`)} is not a Maven version: it is longer than ${MAX_LENGTH} characters` };
  return { ok: true, value: { text, items: itemsOf(text) } };
}

/** Negative, zero or positive as `a` orders before, with or after `b`. */
export function compareMavenVersions(a: MavenVersion, b: MavenVersion): number {
  return compareItems(a.items, b.items);
}

/** Maven's canonical form (`1.0.0` -> `1`, `1.0-alpha-1` -> `1-alpha1`), for messages and tests. */
export function canonicalMavenVersion(v: MavenVersion): string {
  return render(v.items);
}

const isAsciiDigit = (c: string): boolean => c >= '0' && c <= '9';

function itemsOf(text: string): ListItem {
  const version = text.toLowerCase();
  const root: ListItem = { kind: 'list', items: [] };
  const lists: ListItem[] = [root];
  let list = root;
  let isDigit = false;
  let isCombination = false;
  let start = 0;
  const open = (): void => {
    const sub: ListItem = { kind: 'list', items: [] };
    list.items.push(sub);
    lists.push(sub);
    list = sub;
  };

  for (let i = 0; i < version.length; i++) {
    const c = version[i]!;
    if (c === '.') {
      list.items.push(i === start ? zero() : itemOf(isCombination, isDigit, version.slice(start, i)));
      isCombination = false;
      start = i + 1;
    } else if (c === '-') {
      if (i === start) {
        list.items.push(zero());
      } else {
        // `x-1` is read as `x1`: one item, the hyphen kept in the run until the number ends it.
        if (!isDigit && i !== version.length - 1 && isUnicodeDigit(version[i + 1]!)) {
          isCombination = true;
          continue;
        }
        list.items.push(itemOf(isCombination, isDigit, version.slice(start, i)));
      }
      start = i + 1;
      if (list.items.length > 0) open();
      isCombination = false;
    } else if (isAsciiDigit(c)) {
      if (!isDigit && i > start) {
        // Letters then a digit: a qualifier-and-number item, in a list of its own.
        isCombination = true;
        if (list.items.length > 0) open();
      }
      isDigit = true;
    } else {
      if (isDigit && i > start) {
        list.items.push(itemOf(isCombination, true, version.slice(start, i)));
        start = i;
        open();
        isCombination = false;
      }
      isDigit = false;
    }
  }
  if (version.length > start) {
    // `1.0.0.x1` orders as `1.0.0-x1`: a trailing word opens a list as a hyphen would.
    if (!isDigit && list.items.length > 0) open();
    list.items.push(itemOf(isCombination, isDigit, version.slice(start)));
  }
  // Innermost lists first, as Maven pops them.
  for (let k = lists.length - 1; k >= 0; k--) normalize(lists[k]!);
  return root;
}

// Maven looks for the hyphen-joined number with Character.isDigit, which knows every script's digits.
function isUnicodeDigit(c: string): boolean {
  return /\p{Nd}/u.test(c);
}

function zero(): NumberItem {
  return { kind: 'number', digits: '0' };
}

function numberOf(digits: string): NumberItem {
  const stripped = digits.replace(/^0+/, '');
  return { kind: 'number', digits: stripped === '' ? '0' : stripped };
}

function wordOf(word: string, followedByDigit: boolean): WordItem {
  let w = word;
  if (followedByDigit && w.length === 1) {
    if (w === 'a') w = 'alpha';
    else if (w === 'b') w = 'beta';
    else if (w === 'm') w = 'milestone';
  }
  return { kind: 'word', word: w === 'cr' ? 'rc' : w };
}

function itemOf(isCombination: boolean, isDigit: boolean, run: string): Item {
  if (isCombination) {
    const joined = run.replaceAll('-', '');
    const at = joined.search(/\p{Nd}/u);
    const cut = Math.max(at, 0);
    return { kind: 'combo', word: wordOf(joined.slice(0, cut), true), number: numberOf(joined.slice(cut)) };
  }
  if (isDigit) return numberOf(run);
  return wordOf(run, false);
}

function isNull(item: Item): boolean {
  switch (item.kind) {
    case 'number':
      return item.digits === '0';
    case 'word':
      return item.word === '';
    case 'combo':
      return false;
    case 'list':
      return item.items.length === 0;
  }
}

/** Drops the items that do not count (zeros and empty words before a word or at the end), as Maven's normalize. */
function normalize(list: ListItem): void {
  const items = list.items;
  for (let i = items.length - 1; i >= 0; i--) {
    if (!isNull(items[i]!)) continue;
    const next = items[i + 1];
    if (next === undefined || next.kind === 'word') {
      items.splice(i, 1);
    } else if (next.kind === 'list') {
      // Maven reads the next list's first item without checking it has one; an empty list keeps the zero here.
      const first = next.items[0];
      if (first && (first.kind === 'combo' || first.kind === 'word')) items.splice(i, 1);
    }
  }
  const only = items[0];
  if (items.length === 1 && only?.kind === 'list') items.splice(0, 1, ...only.items);
}

const QUALIFIERS = ['alpha', 'beta', 'milestone', 'rc', 'snapshot', '', 'sp'];
const RELEASE_QUALIFIERS = ['ga', 'final', 'release'];
const RELEASE_INDEX = String(QUALIFIERS.indexOf(''));

/** A string that sorts qualifiers in Maven's order: known ones by rank, unknown ones after them by spelling. */
function qualifierKey(word: string): string {
  if (RELEASE_QUALIFIERS.includes(word)) return RELEASE_INDEX;
  const i = QUALIFIERS.indexOf(word);
  return i === -1 ? `${QUALIFIERS.length}-${word}` : String(i);
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function compareNumbers(a: NumberItem, b: NumberItem): number {
  if (a.digits.length !== b.digits.length) return a.digits.length < b.digits.length ? -1 : 1;
  return compareStrings(a.digits, b.digits);
}

/** `a` against `b`, or against nothing (`b` undefined: what `a` is worth where the other version has ended). */
function compareItems(a: Item, b: Item | undefined): number {
  switch (a.kind) {
    case 'number':
      if (b === undefined) return a.digits === '0' ? 0 : 1;
      return b.kind === 'number' ? compareNumbers(a, b) : 1;
    case 'word':
      return compareWord(a, b);
    case 'combo':
      return compareCombo(a, b);
    case 'list':
      return compareList(a, b);
  }
}

function compareWord(a: WordItem, b: Item | undefined): number {
  if (b === undefined) return compareStrings(qualifierKey(a.word), RELEASE_INDEX);
  switch (b.kind) {
    case 'number':
      return -1;
    case 'word':
      return compareStrings(qualifierKey(a.word), qualifierKey(b.word));
    case 'combo': {
      const r = compareWord(a, b.word);
      if (r !== 0) return r;
      return compareWord(a, undefined) === 0 ? -compareItems(b.number, undefined) : -1;
    }
    case 'list':
      return -compareList(b, a);
  }
}

function compareCombo(a: ComboItem, b: Item | undefined): number {
  if (b === undefined) {
    // `1-rc1` < `1`; a release word's number decides (`1-ga1` > `1`), keeping the order transitive.
    const r = compareWord(a.word, undefined);
    return r !== 0 ? r : compareItems(a.number, undefined);
  }
  switch (b.kind) {
    case 'number':
      return -1;
    case 'word': {
      const r = compareWord(a.word, b);
      if (r !== 0) return r;
      return compareWord(a.word, undefined) === 0 ? compareItems(a.number, undefined) : 1;
    }
    case 'list':
      return -compareList(b, a);
    case 'combo': {
      const r = compareWord(a.word, b.word);
      return r !== 0 ? r : compareNumbers(a.number, b.number);
    }
  }
}

function compareList(a: ListItem, b: Item | undefined): number {
  if (b === undefined) {
    for (const item of a.items) {
      const r = compareItems(item, undefined);
      if (r !== 0) return r;
    }
    return 0;
  }
  switch (b.kind) {
    case 'number':
      return -1;
    case 'word':
    case 'combo': {
      const first = a.items[0];
      let r = first === undefined ? -compareItems(b, undefined) : compareItems(first, b);
      for (let i = 1; r === 0 && i < a.items.length; i++) r = compareItems(a.items[i]!, undefined);
      return r;
    }
    case 'list': {
      for (let i = 0; i < a.items.length || i < b.items.length; i++) {
        const l = a.items[i];
        const r = b.items[i];
        const result = l === undefined ? (r === undefined ? 0 : -compareItems(r, undefined)) : compareItems(l, r);
        if (result !== 0) return result;
      }
      return 0;
    }
  }
}

function render(item: Item): string {
  switch (item.kind) {
    case 'number':
      return item.digits;
    case 'word':
      return item.word;
    case 'combo':
      return item.word.word + item.number.digits;
    case 'list': {
      let out = '';
      for (const it of item.items) {
        if (out.length > 0) out += it.kind === 'list' ? '-' : '.';
        out += render(it);
      }
      return out;
    }
  }
}
