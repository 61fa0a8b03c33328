/**
 * npm's version order: SemVer 2.0 precedence as the `semver` package (npm's own) computes it. Major, minor and
 * patch compare as numbers; a prerelease orders before its release (`1.0.0-rc.1` < `1.0.0`), its dot-separated
 * identifiers compared one by one (numbers numerically and before words, words by ASCII, a shorter list first
 * when the rest is equal); build metadata (`+…`) does not count, so `1.0.0+a` and `1.0.0+b` are the same version.
 *
 * What is read: what `semver.parse` reads without `loose` (SemVer 2.0, which `semver` also takes with one leading
 * `v` and surrounding whitespace: npm writes `v1.2.3` as `1.2.3`). Besides that, one rule for the short versions
 * some advisories carry as bounds: one or two numbers (`1`, `1.0`, `v2.1`) are read with the missing parts as 0
 * (`1.0` is `1.0.0`), the way `semver.coerce` reads them; there is no other way to read such a bound. Anything
 * else (`1.2.3.4`, `01.2.3`, `1.0.0beta`, `1.0-beta`, `latest`) is not comparable: its problem says so, and the
 * matcher treats a range it bounds as not matching and says why, rather than guess what the author meant.
 */
import semver, { type SemVer } from 'semver';
import type { Parsed } from '../../units.js';

// One or two numbers without leading zeros (a leading zero is not SemVer), nothing else.
const SHORT_RE = /^v?(0|[1-9][0-9]*)(?:\.(0|[1-9][0-9]*))?$/;

/** The version as `semver` holds it, or a sentence naming the version and why it is not comparable. */
export function parseNpmVersion(text: string): Parsed<SemVer> {
  const full = semver.parse(text);
  if (full) return { ok: true, value: full };
  const short = SHORT_RE.exec(text.trim());
  if (short) {
    const padded = semver.parse(`${short[1]}.${short[2] ?? '0'}.0`);
    if (padded) return { ok: true, value: padded };
  }
  return {
    ok: false,
    problem: `${JSON.stringify(text)} is not a SemVer 2.0 version (major.minor.patch, e.g. 1.2.3 or 1.2.3-rc.1) nor one or two numbers (1, 1.2): it is not compared`,
  };
}

/** Negative, zero or positive as `a` orders before, with or after `b`; build metadata is ignored. */
export function compareNpmVersions(a: SemVer, b: SemVer): number {
  return a.compare(b);
}
