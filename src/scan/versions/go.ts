/**
 * Go's module version order, as golang.org/x/mod/semver decides it (the order `go` itself uses for modules).
 *
 * `vMAJOR[.MINOR[.PATCH[-PRERELEASE][+BUILD]]]`: numbers without leading zeros; the shorthands `v1` and `v1.2`
 * mean `v1.0.0` and `v1.2.0` (they take no prerelease or build). Precedence is SemVer 2.0's: numbers, then a
 * prerelease before its release, its dot-separated identifiers compared one by one (numeric identifiers, which
 * may not have leading zeros, numerically and before alphanumeric ones, those by ASCII; a shorter list first).
 * Build metadata does not count: `v2.0.0+incompatible` (a v2 module without a go.mod) is the same version as
 * `v2.0.0`. A pseudo-version is a prerelease like any other, which is why it orders where go wants it:
 * `v0.0.0-20210101000000-abcdef123456` before `v0.0.0-20220101000000-…` before `v0.1.0`, and
 * `v1.2.4-0.20210101000000-abcdef123456` after `v1.2.3` and before `v1.2.4`.
 *
 * The `v` may be left out: OSV's Go records write their range bounds without it (`1.2.3`), while a binary's build
 * info and go.mod have it. Unlike x/mod, where every invalid version is equal to every other and below all valid
 * ones, a version outside the grammar is not comparable here: a problem says why.
 */
import type { Parsed } from '../../units.js';

export interface GoVersion {
  readonly major: string;
  readonly minor: string;
  readonly patch: string;
  /** The prerelease identifiers; empty for a release. */
  readonly prerelease: readonly string[];
  /** What followed `+`, kept for display only: it does not order. */
  readonly build: string;
}

const NUM = '(0|[1-9][0-9]*)';
const IDENT = '[0-9A-Za-z-]+';
const GO_RE = new RegExp(`^v?${NUM}(?:\\.${NUM}(?:\\.${NUM}(?:-(${IDENT}(?:\\.${IDENT})*))?(?:\\+(${IDENT}(?:\\.${IDENT})*))?)?)?$`);
const LEADING_ZERO_NUMBER = /^0[0-9]+$/;

/** The version's parts, or a sentence naming the version and what is wrong with it. */
export function parseGoVersion(text: string): Parsed<GoVersion> {
  const m = GO_RE.exec(text);
  const prerelease = m?.[4] ? m[4].split('.') : [];
  if (!m || prerelease.some((id) => LEADING_ZERO_NUMBER.test(id))) {
    return {
      ok: false,
      problem: `${JSON.stringify(text)} is not a Go module version: write vMAJOR.MINOR.PATCH with an optional -prerelease and +build (e.g. v1.2.3, v0.0.0-20210101000000-abcdef123456, v2.0.0+incompatible); numbers have no leading zeros`,
    };
  }
  return { ok: true, value: { major: m[1]!, minor: m[2] ?? '0', patch: m[3] ?? '0', prerelease, build: m[5] ?? '' } };
}

/** Negative, zero or positive as `a` orders before, with or after `b`; build metadata is ignored. */
export function compareGoVersions(a: GoVersion, b: GoVersion): number {
  return (
    compareNumbers(a.major, b.major) || compareNumbers(a.minor, b.minor) || compareNumbers(a.patch, b.patch) || comparePrerelease(a.prerelease, b.prerelease)
  );
}

// Digit strings without leading zeros, of any length: the longer is larger, else by characters.
function compareNumbers(x: string, y: string): number {
  if (x.length !== y.length) return x.length < y.length ? -1 : 1;
  return x < y ? -1 : x > y ? 1 : 0;
}

function comparePrerelease(x: readonly string[], y: readonly string[]): number {
  // A release orders after every prerelease of it.
  if (x.length === 0 || y.length === 0) return x.length === y.length ? 0 : x.length === 0 ? 1 : -1;
  for (let i = 0; i < x.length && i < y.length; i++) {
    const dx = x[i]!;
    const dy = y[i]!;
    if (dx === dy) continue;
    const nx = /^[0-9]+$/.test(dx);
    const ny = /^[0-9]+$/.test(dy);
    if (nx !== ny) return nx ? -1 : 1;
    if (nx) return compareNumbers(dx, dy);
    return dx < dy ? -1 : 1;
  }
  return x.length === y.length ? 0 : x.length < y.length ? -1 : 1;
}
