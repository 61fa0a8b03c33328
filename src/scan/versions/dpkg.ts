/**
 * Debian's version order (Debian Policy 5.6.12, deb-version(5)), as `dpkg --compare-versions` decides it.
 *
 * `[epoch:]upstream[-revision]`: the epoch is everything before the first colon (a number, 0 when absent), the
 * revision everything after the last hyphen (empty when absent, which orders as `0`). Epochs compare as numbers;
 * upstream and revision each compare in turns of a non-digit run then a digit run: in the non-digit run `~`
 * sorts before everything (even the end of the string), then the end and digits, then letters (by ASCII), then
 * every other character (by ASCII); digit runs compare as numbers, so leading zeros do not count. The rules and
 * the error sentences follow dpkg's lib/dpkg/parsehelp.c (parseversion) and lib/dpkg/version.c (verrevcmp).
 *
 * Where dpkg only warns (an upstream part that does not start with a digit, a character outside the allowed
 * set) this answers a problem: such a string is not a Debian version, and comparing it anyway would give an
 * answer no package can carry. dpkg also lets strtol read the epoch (a `+` sign passes); here it is digits.
 */
import type { Parsed } from '../../units.js';

export interface DpkgVersion {
  /** 0 when the version has none. */
  readonly epoch: number;
  readonly upstream: string;
  /** Empty when the version has none (`1.0` and `1.0-0` are the same version). */
  readonly revision: string;
}

// dpkg's limit: the epoch is an int.
const MAX_EPOCH = 2_147_483_647;
const UPSTREAM_RE = /^[0-9][A-Za-z0-9.+~:-]*$/;
const REVISION_RE = /^[A-Za-z0-9.+~]+$/;

/** The version's parts, or a sentence naming the version and what is wrong with it. */
export function parseDpkgVersion(text: string): Parsed<DpkgVersion> {
  const bad = (why: string): Parsed<DpkgVersion> => ({ ok: false, problem: `${JSON.stringify(text)} is not a Debian version: ${why}` });
  // dpkg trims blanks (spaces and tabs) around the version, and only those.
  const v = text.replace(/^[ \t]+|[ \t]+$/g, '');
  if (v === '') return bad('it is empty');
  if (/[ \t]/.test(v)) return bad('it has embedded spaces');

  let epoch = 0;
  let rest = v;
  const colon = v.indexOf(':');
  if (colon >= 0) {
    const digits = v.slice(0, colon);
    if (digits === '') return bad('the epoch before the colon is empty');
    if (!/^[0-9]+$/.test(digits)) return bad(`the epoch ${JSON.stringify(digits)} is not a number`);
    epoch = Number(digits);
    if (epoch > MAX_EPOCH) return bad(`the epoch ${digits} is too big (at most ${MAX_EPOCH})`);
    rest = v.slice(colon + 1);
    if (rest === '') return bad('nothing follows the colon');
  }

  let upstream = rest;
  let revision = '';
  const hyphen = rest.lastIndexOf('-');
  if (hyphen >= 0) {
    upstream = rest.slice(0, hyphen);
    revision = rest.slice(hyphen + 1);
    if (revision === '') return bad('the revision after the last hyphen is empty');
  }
  if (upstream === '') return bad('the upstream version is empty');
  if (!UPSTREAM_RE.test(upstream)) {
    return bad(
      /^[0-9]/.test(upstream)
        ? `the upstream version ${JSON.stringify(upstream)} has a character other than letters, digits and . + ~ - :`
        : `the upstream version ${JSON.stringify(upstream)} does not start with a digit`,
    );
  }
  if (revision !== '' && !REVISION_RE.test(revision)) {
    return bad(`the revision ${JSON.stringify(revision)} has a character other than letters, digits and . + ~`);
  }
  return { ok: true, value: { epoch, upstream, revision } };
}

/** Negative, zero or positive as `a` orders before, with or after `b` (epoch, then upstream, then revision). */
export function compareDpkgVersions(a: DpkgVersion, b: DpkgVersion): number {
  if (a.epoch !== b.epoch) return a.epoch < b.epoch ? -1 : 1;
  return compareDpkgPart(a.upstream, b.upstream) || compareDpkgPart(a.revision, b.revision);
}

const ZERO = 48;
const NINE = 57;
const TILDE = 126;

function isDigitAt(s: string, i: number): boolean {
  const c = s.charCodeAt(i); // NaN past the end
  return c >= ZERO && c <= NINE;
}

/** A character's weight in a non-digit run; past the end (and a digit, which ends the run) weighs 0. */
function weight(s: string, i: number): number {
  if (i >= s.length) return 0;
  const c = s.charCodeAt(i);
  if (c >= ZERO && c <= NINE) return 0;
  if ((c >= 65 && c <= 90) || (c >= 97 && c <= 122)) return c;
  if (c === TILDE) return -1;
  return c + 256;
}

/** One upstream or revision part against another: dpkg's verrevcmp. */
export function compareDpkgPart(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    // The non-digit runs, character by character: the first weight that differs decides.
    while ((i < a.length && !isDigitAt(a, i)) || (j < b.length && !isDigitAt(b, j))) {
      const wa = weight(a, i);
      const wb = weight(b, j);
      if (wa !== wb) return wa - wb;
      i++;
      j++;
    }
    // The digit runs as numbers: skip leading zeros, then the longer run is larger, else the first digit that differs.
    while (a.charCodeAt(i) === ZERO) i++;
    while (b.charCodeAt(j) === ZERO) j++;
    let firstDiff = 0;
    while (isDigitAt(a, i) && isDigitAt(b, j)) {
      if (firstDiff === 0) firstDiff = a.charCodeAt(i) - b.charCodeAt(j);
      i++;
      j++;
    }
    if (isDigitAt(a, i)) return 1;
    if (isDigitAt(b, j)) return -1;
    if (firstDiff !== 0) return firstDiff;
  }
  return 0;
}
