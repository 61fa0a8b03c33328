/**
 * A build's scan read back: its stored result, and its image's findings as last matched, judged now by the policy
 * the build ran with (an allowance that expired since allows nothing any more). What the API, the CLI and the
 * build page show.
 */
import { z } from 'zod';
import type { Store } from '../store/store.js';
import { findingKey, type ImageFinding } from './image-match.js';
import type { JudgedFinding } from './policy.js';
import { type BuildScan, dbImportedAt, type JudgedImageFinding, judgeFindings, type PlatformFinding, SCAN_STATUSES } from './scan-build.js';

const count = z.int().nonnegative();
// Only what readers rely on is checked; the rest of a stored scan is read as written.
const storedScan = z.looseObject({
  status: z.enum(SCAN_STATUSES),
  reason: z.string().nullable(),
  counts: z.object({ critical: count, high: count, medium: count, low: count, unknown: count }),
  fixable: count,
  fail_on: z.enum(['critical', 'high', 'medium', 'low', 'none']),
  policy: z.looseObject({ failOn: z.string(), allow: z.array(z.unknown()), vex: z.array(z.string()) }),
  vex: z.array(z.unknown()),
});

/** A build's stored scan, or null when none ran (or what is stored is not one: an older or edited row). */
export function storedBuildScan(raw: unknown): BuildScan | null {
  if (raw === null || raw === undefined) return null;
  return storedScan.safeParse(raw).success ? (raw as unknown as BuildScan) : null;
}

/** One finding of a build's image, judged now, with when it was first seen on the image. */
export type ReportedFinding = JudgedFinding<JudgedImageFinding> & { firstSeen: string };

/**
 * The findings of image `digest`, every platform's, judged under `scan`'s policy at `now`, worst first (as
 * matching sorted them; one id's findings by platform).
 * A row that does not read back as a finding is left out (rows are written by this code; none should be).
 */
export function reportFindings(store: Store, digest: string, scan: BuildScan, now: Date): ReportedFinding[] {
  const rows = store.findings.findings(digest).flatMap((r) => {
    try {
      return [{ finding: { ...(JSON.parse(r.finding) as ImageFinding), platform: r.platform } as PlatformFinding, firstSeen: r.firstSeen }];
    } catch {
      return [];
    }
  });
  rows.sort((a, b) => order(a.finding) - order(b.finding) || (a.finding.id < b.finding.id ? -1 : a.finding.id > b.finding.id ? 1 : 0));
  const judged = judgeFindings(
    rows.map((r) => r.finding),
    scan.policy,
    scan.vex,
    now,
  );
  return judged.findings.map((f, i) => ({ ...f, firstSeen: rows[i]!.firstSeen }));
}

const RANK = ['critical', 'high', 'medium', 'low', 'none', 'unknown'];
const order = (f: PlatformFinding) => RANK.indexOf(f.severity.rating);

/** New findings listed at most (newest first). */
export const MAX_NEW_FINDINGS = 1000;

/** A finding an import (or a build) brought to an image, with the repo and newest build of that image. */
export type NewFinding = ReportedFinding & { repo: string; build: number; digest: string };

/**
 * The findings first seen at or after `since` (default: the last import) on images of the repos `canRead` allows,
 * newest first, each judged now by the policy of the newest build that pushed its image; `more` when there were
 * more than MAX_NEW_FINDINGS.
 */
export function newFindings(store: Store, canRead: (repo: string) => boolean, since?: string): { since: string; findings: NewFinding[]; more: boolean } {
  const from = since ?? dbImportedAt(store) ?? new Date(0).toISOString();
  const rows = store.findings.newSince(from).filter((r) => canRead(r.repo));
  const now = new Date();
  const judged = new Map<string, Map<string, ReportedFinding>>();
  const findings: NewFinding[] = [];
  for (const r of rows.slice(0, MAX_NEW_FINDINGS)) {
    let byKey = judged.get(`${r.buildId}`);
    if (!byKey) {
      const scan = storedBuildScan(store.builds.byId(r.buildId)?.scan);
      byKey = new Map(scan ? reportFindings(store, r.digest, scan, now).map((f) => [`${f.platform}\n${findingKey(f)}`, f]) : []);
      judged.set(`${r.buildId}`, byKey);
    }
    const f = byKey.get(`${r.platform}\n${r.key}`);
    if (f) findings.push({ ...f, repo: r.repo, build: r.buildId, digest: r.digest });
  }
  return { since: from, findings, more: rows.length > MAX_NEW_FINDINGS };
}
