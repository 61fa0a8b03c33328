/**
 * The gate: which of an image's findings block its tags from moving, under the image's `scan:` policy and the
 * server's default. Pure: the caller brings the findings, the policy, the OpenVEX statements and the time.
 *
 * A finding blocks when its severity is at or above `fail_on`, nothing allows it, and it is not an unfixed finding
 * under `ignore_unfixed`. Two ratings need a rule of their own:
 * - `unknown` (no CVSS vector and no database rating) blocks only under `fail_on: low`: OSV's Debian and Alpine
 *   records mostly carry no severity, so blocking them at `high` would fail nearly every distro image on records
 *   nobody rated, while `low` says "any finding at all" and an unrated one is still a finding.
 * - `none` (a CVSS vector scoring 0.0) is counted and gated as `low`: the counts have no `none` bucket, and a
 *   finding the counts call low must not pass a `fail_on: low` gate unnoticed; such vectors are rare.
 *
 * Allowances match by the finding's id or any alias, and by package when they name one; one past its `until`
 * allows nothing and is listed in `expired`. A VEX statement that decides a finding (src/scan/vex.ts) allows it
 * when its status is `not_affected` or `fixed`; VEX is asked first, as the repo's statement of fact outlives any
 * allowance, and the allowance is then not needed.
 */
import { calendarDate } from '../config/parse.js';
import { FAIL_ON, type FailOn, type ScanAllowance, type ScanConfig } from '../config/types.js';
import type { Rating } from './severity.js';
import { decidingStatement, type VexStatement } from './vex.js';

export { FAIL_ON, type FailOn } from '../config/types.js';

/** A policy with the server's default applied: what `judge` reads. */
export interface Policy {
  failOn: FailOn;
  /** Whether `failOn` came from the image's `scan:` key or the server's `CODEHUB_SCAN_FAIL_ON`. */
  failOnFrom: 'file' | 'server';
  ignoreUnfixed: boolean;
  allow: ScanAllowance[];
  /** The repo paths of the OpenVEX documents to read at the build's commit. */
  vex: string[];
}

/** What the gate needs of a finding; any other fields pass through `judge` untouched. */
export interface JudgeInput {
  id: string;
  aliases: string[];
  /** As matching names it: for Debian, Alpine and rpm packages the source package. */
  package: string;
  /** The installed version, shown in the summary and compared with a VEX product purl's version. */
  version?: string;
  /** The installed package's purl, for VEX products that name packages. */
  purl?: string;
  severity: Rating;
  /** Fixed versions above the installed one; empty when there is no fix. */
  fixed: string[];
}

/** Why a finding does not count against the gate, or null when nothing allows it. */
export type Allowed =
  | null
  | { by: 'allowance'; reason: string; until: string }
  | { by: 'vex'; status: 'not_affected' | 'fixed'; justification?: string; impactStatement?: string; document: string };

export type JudgedFinding<T extends JudgeInput> = T & { allowed: Allowed; blocking: boolean };

export interface ExpiredAllowance {
  id: string;
  package?: string;
  until: string;
  reason: string;
}

export type Counts = { critical: number; high: number; medium: number; low: number; unknown: number };

export interface Judged<T extends JudgeInput> {
  findings: JudgedFinding<T>[];
  /** Some finding blocks: the image keeps only its sha tag. */
  blocked: boolean;
  /** Allowances past their `until` that match some finding (they allowed nothing), once each, in the config's order. */
  expired: ExpiredAllowance[];
  /** Every finding by severity, allowed and non-blocking ones too (`none` counted as low): what the image holds. */
  counts: Counts;
  /** How many findings have a fixed version. */
  fixable: number;
}

/** The server default `CODEHUB_SCAN_FAIL_ON` read (case and spaces forgiven); null when it is not a level. */
export function parseFailOn(text: string): FailOn | null {
  const t = text.trim().toLowerCase();
  return (FAIL_ON as readonly string[]).includes(t) ? (t as FailOn) : null;
}

/** The image's policy over the server's default: the file's `fail_on` wins; with no `scan:` key only the default applies. */
export function effectivePolicy(scan: ScanConfig | undefined, serverFailOn: FailOn): Policy {
  if (scan === undefined) return { failOn: serverFailOn, failOnFrom: 'server', ignoreUnfixed: false, allow: [], vex: [] };
  return {
    failOn: scan.failOn ?? serverFailOn,
    failOnFrom: scan.failOn === undefined ? 'server' : 'file',
    ignoreUnfixed: scan.ignoreUnfixed,
    allow: scan.allow,
    vex: scan.vex,
  };
}

/** Each level's rank, worst first; `none` (CVSS 0.0) sits with low (see the top of this file). */
const RANK: Record<Rating, number> = { critical: 0, high: 1, medium: 2, low: 3, none: 3, unknown: 4 };
const FAIL_RANK: Record<FailOn, number> = { critical: 0, high: 1, medium: 2, low: 3, none: -1 };

/** Whether a severity reaches the threshold: `unknown` only under `low`, nothing under `none`. */
export function reaches(severity: Rating, failOn: FailOn): boolean {
  if (failOn === 'none') return false;
  if (severity === 'unknown') return failOn === 'low';
  return RANK[severity] <= FAIL_RANK[failOn];
}

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * Whether an allowance has run out at `now`: it holds through the end of its `until` day, UTC. One whose `until` is
 * not a date (only a stored config edited by hand could hold one) has run out: an allowance that cannot say when it
 * ends allows nothing.
 */
function hasExpired(until: string, now: Date): boolean {
  const start = calendarDate(until);
  return start === null || now.getTime() >= start.getTime() + DAY_MS;
}

function allowanceMatches(a: ScanAllowance, f: JudgeInput): boolean {
  if (a.package !== undefined && a.package !== f.package) return false;
  return a.id === f.id || f.aliases.includes(a.id);
}

/** Every finding judged under the policy at `now` (see the top of this file for the rules). */
export function judge<T extends JudgeInput>(findings: readonly T[], policy: Policy, vex: readonly VexStatement[], now: Date): Judged<T> {
  const counts: Counts = { critical: 0, high: 0, medium: 0, low: 0, unknown: 0 };
  const expired = new Set<ScanAllowance>();
  let fixable = 0;
  const judged = findings.map((f): JudgedFinding<T> => {
    counts[f.severity === 'none' ? 'low' : f.severity] += 1;
    if (f.fixed.length > 0) fixable += 1;

    let allowed: Allowed = null;
    const statement = decidingStatement(vex, f);
    if (statement !== null && (statement.status === 'not_affected' || statement.status === 'fixed')) {
      allowed = { by: 'vex', status: statement.status, document: statement.document };
      if (statement.justification !== null) allowed.justification = statement.justification;
      if (statement.impactStatement !== null) allowed.impactStatement = statement.impactStatement;
    }
    for (const a of policy.allow) {
      if (!allowanceMatches(a, f)) continue;
      if (hasExpired(a.until, now)) expired.add(a);
      else if (allowed === null) allowed = { by: 'allowance', reason: a.reason, until: a.until };
    }
    const unfixedIgnored = policy.ignoreUnfixed && f.fixed.length === 0;
    const blocking = allowed === null && !unfixedIgnored && reaches(f.severity, policy.failOn);
    return { ...f, allowed, blocking };
  });
  return {
    findings: judged,
    blocked: judged.some((f) => f.blocking),
    expired: policy.allow
      .filter((a) => expired.has(a))
      .map((a) =>
        a.package === undefined ? { id: a.id, until: a.until, reason: a.reason } : { id: a.id, package: a.package, until: a.until, reason: a.reason },
      ),
    counts,
    fixable,
  };
}

/**
 * One line per blocking finding, for the build log and `git push -o wait`'s last lines, e.g.
 * `CVE-2021-23337 (GHSA-35jh-r3h4-6jhm) in lodash 4.17.20: high, fixed in 4.17.21`. The CVE leads when the finding
 * has one (the name people search for), the record's other ids follow in parentheses.
 */
export function blockingSummary(judged: Pick<Judged<JudgeInput>, 'findings'>): string[] {
  return judged.findings
    .filter((f) => f.blocking)
    .map((f) => {
      const ids = [...new Set([f.id, ...f.aliases])];
      const lead = ids.find((i) => i.startsWith('CVE-')) ?? f.id;
      const rest = ids.filter((i) => i !== lead);
      const name = rest.length > 0 ? `${lead} (${rest.join(', ')})` : lead;
      const pkg = f.version === undefined ? f.package : `${f.package} ${f.version}`;
      const fix = f.fixed.length > 0 ? `fixed in ${f.fixed.join(', ')}` : 'no fixed version';
      return `${name} in ${pkg}: ${f.severity}, ${fix}`;
    });
}
