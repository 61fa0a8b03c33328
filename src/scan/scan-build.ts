/**
 * A pushed image's scan, as a build runs it before it ends: the inventory of each of its platform images from the
 * registry (layers the store has seen, or another platform just read, are not read again), the stored records
 * matched against each, the findings kept by image digest and platform (a finding keeps the time it was first
 * seen), then the policy's verdict over every platform's findings: one blocking finding on any platform blocks. Never throws: what went wrong is the
 * scan's `error` status with the reason, and what the gate does then is the caller's (fail closed with a policy).
 */
import type { RegistryClient } from '../registry/client.js';
import type { Store } from '../store/store.js';
import { type ImageFinding, findingKey, matchImage } from './image-match.js';
import { defaultPlatform, type ImageInventories, type ImageInventory, inventoryImages } from './inventory.js';
import type { Matched, PackageRef } from './match.js';
import { imageInventoryRow, SqliteLayerCache } from './layer-cache.js';
import { blockingSummary, type FailOn, judge, type Judged, type Policy } from './policy.js';
import type { Rating } from './severity.js';
import type { VexStatement } from './vex.js';
import { recordsFor, vulnDbSources } from './vulndb.js';

export const SCAN_STATUSES = ['passed', 'failed', 'error', 'skipped'] as const;
export type ScanStatus = (typeof SCAN_STATUSES)[number];

/**
 * Findings by rating, allowed ones included (the counts say what is in the image; `blocking` what stops it). Over
 * an index, each platform's findings count: a finding in two platforms' images is two, as it is two rows of the
 * findings listed and two images to fix (each platform's image is pulled, deployed and rebuilt on its own).
 */
export type ScanCounts = { critical: number; high: number; medium: number; low: number; unknown: number };

/** What a build keeps of its scan (builds.scan, as JSON): the API's `scan` and what judging its findings again needs. */
export interface BuildScan {
  status: ScanStatus;
  /** Why the scan is `error` or `skipped`, or what blocked it (`failed`); null when it passed. */
  reason: string | null;
  counts: ScanCounts;
  /** Findings with a fixed version to upgrade to. */
  fixable: number;
  /** When the vulnerability database last took an import (the newest of its sources); null when it is empty. */
  db_imported_at: string | null;
  fail_on: FailOn;
  /** One sentence per finding that blocks: id, package, installed and fixed versions, severity. */
  blocking: string[];
  /** Allowances past their `until` that would have allowed a finding: they allow nothing now. */
  expired: { id: string; until: string; reason: string }[];
  /** The image manifest whose layers were read (an index's: its default platform's, see `platforms`); null when none was. */
  manifest: string | null;
  /**
   * Each platform image read, in the index's order (one for a single-platform image), and its package count.
   * Absent from scans stored before platforms were scanned (issue 29): those read one linux/amd64 image.
   */
  platforms?: { platform: string; manifest: string; packages: number }[];
  /** Packages of every platform image, summed. */
  packages: number;
  /** How many layers were read from the registry, and how many were known by digest already. */
  layers_read: number;
  layers_cached: number;
  /** The policy and the VEX statements it was judged by, so its findings are judged again the same way when read. */
  policy: Policy;
  vex: VexStatement[];
  /** What could not be read (a layer, a VEX document, a record), capped; the scan still holds everything else. */
  problems: string[];
}

export interface ScanDeps {
  store: Store;
  /** Reads the pushed repository with the build's own rights (pull only). */
  client: RegistryClient;
  now?: () => Date;
}

export interface ScanRequest {
  /** The registry repository (`alice/web`) and the digest the build pushed. */
  repository: string;
  digest: string;
  policy: Policy;
  vex: VexStatement[];
  /** VEX documents named by the policy that could not be read, each a sentence. */
  vexProblems: string[];
  /** Progress and the result, one log line each. */
  onLine: (line: string) => void;
}

const MAX_PROBLEMS = 50;

/** The newest import of any source, or null when nothing was ever imported. */
export function dbImportedAt(store: Store): string | null {
  let newest: string | null = null;
  for (const s of vulnDbSources(store)) if (s.imported_at && (newest === null || s.imported_at > newest)) newest = s.imported_at;
  return newest;
}

const zeroCounts = (): ScanCounts => ({ critical: 0, high: 0, medium: 0, low: 0, unknown: 0 });

/** Inventories, matches, stores and judges one pushed image; see the module's comment. */
export async function scanPushed(deps: ScanDeps, req: ScanRequest): Promise<BuildScan> {
  const now = (deps.now ?? (() => new Date()))();
  const base: BuildScan = {
    status: 'error',
    reason: null,
    counts: zeroCounts(),
    fixable: 0,
    db_imported_at: dbImportedAt(deps.store),
    fail_on: req.policy.failOn,
    blocking: [],
    expired: [],
    manifest: null,
    platforms: [],
    packages: 0,
    layers_read: 0,
    layers_cached: 0,
    policy: req.policy,
    vex: req.vex,
    problems: [...req.vexProblems],
  };
  let invs: ImageInventories;
  try {
    const cache = new SqliteLayerCache(deps.store.layerInventories, (p) => base.problems.push(p));
    invs = await inventoryImages(deps.client, req.repository, req.digest, {
      cache,
      onProgress: (p) => {
        if (!p.cached) req.onLine(`scan: ${p.platforms > 1 ? `${p.platform}: ` : ''}read layer ${p.index + 1} of ${p.count} (${p.digest.slice(0, 19)})`);
      },
    });
    for (const inv of invs.platforms) deps.store.layerInventories.putImage(imageInventoryRow(inv));
  } catch (err) {
    return { ...base, reason: `the image could not be read from the registry: ${(err as Error).message}` };
  }
  const multi = invs.platforms.length > 1;
  // A platform's own sentences name it when there are several, so a reader knows which image to look at.
  const said = (platform: string, text: string) => (multi ? `${platform}: ${text}` : text);
  const chosen = defaultPlatform(invs.platforms.map((i) => i.platform));
  base.manifest = invs.platforms.find((i) => i.platform === chosen)?.manifest ?? null;
  base.platforms = invs.platforms.map((i) => ({ platform: i.platform, manifest: i.manifest, packages: i.packages.length }));
  base.problems.push(...invs.problems);
  for (const inv of invs.platforms) {
    base.packages += inv.packages.length;
    const cached = inv.layers.filter((l) => l.cached).length;
    base.layers_cached += cached;
    base.layers_read += inv.layers.length - cached;
    base.problems.push(...inv.problems.map((p) => said(inv.platform, p)));
  }
  try {
    const findings: PlatformFinding[] = [];
    // The records do not change during the scan: a package at a version two platforms hold is matched once.
    const memo = new Map<string, Matched<PackageRef>>();
    for (const inv of invs.platforms) {
      const matched = matchImage(inv.packages, inv.distro, (ecosystem, name) => recordsFor(deps.store, ecosystem, name), {
        layers: inv.layers.map((l) => l.digest),
        memo,
      });
      for (const u of matched.unmatched)
        base.problems.push(said(inv.platform, `${u.count} ${u.ecosystem} package${u.count === 1 ? '' : 's'} not matched: ${u.reason}`));
      base.problems.push(...matched.problems.map((p) => said(inv.platform, p)));
      deps.store.findings.replace(
        req.digest,
        inv.platform,
        inv.manifest,
        matched.findings.map((f) => ({ key: findingKey(f), finding: JSON.stringify(f) })),
        now.toISOString(),
      );
      findings.push(...matched.findings.map((f) => ({ ...f, platform: inv.platform })));
    }
    const judged = judgeFindings(findings, req.policy, req.vex, now);
    const scan = verdict(base, judged);
    for (const line of summaryLines(scan, invs.platforms)) req.onLine(line);
    return { ...scan, problems: scan.problems.slice(0, MAX_PROBLEMS) };
  } catch (err) {
    return { ...base, reason: `matching the image's packages failed: ${(err as Error).message}`, problems: base.problems.slice(0, MAX_PROBLEMS) };
  }
}

/** A finding in one platform image of what was pushed (`linux/arm64`). */
export type PlatformFinding = ImageFinding & { platform: string };

/** An image finding as the gate and the API read it: its rating and score side by side, its first package's purl. */
export type JudgedImageFinding = Omit<PlatformFinding, 'severity'> & { severity: Rating; score: number | null; purl?: string };

/** Image findings judged under `policy` at `now` (policy.ts's `judge`, over each finding's rating). */
export function judgeFindings(findings: readonly PlatformFinding[], policy: Policy, vex: readonly VexStatement[], now: Date): Judged<JudgedImageFinding> {
  return judge(
    findings.map((f) => {
      const purl = f.installed[0]?.purl;
      return { ...f, severity: f.severity.rating, score: f.severity.score, ...(purl ? { purl } : {}) };
    }),
    policy,
    vex,
    now,
  );
}

/**
 * The scan's status and counts from the policy's verdict. Over an index each blocking line starts with its
 * platform (`linux/arm64: CVE-…`); a single-platform image's lines are as they always were.
 */
export function verdict(base: BuildScan, judged: Judged<JudgedImageFinding>): BuildScan {
  const lines = blockingSummary(judged);
  const platforms = judged.findings.filter((f) => f.blocking).map((f) => f.platform);
  const blocking = (base.platforms?.length ?? 0) > 1 ? lines.map((l, i) => `${platforms[i]}: ${l}`) : lines;
  return {
    ...base,
    status: judged.blocked ? 'failed' : 'passed',
    reason: judged.blocked
      ? `${blocking.length === 1 ? '1 finding' : `${blocking.length} findings`} at or above ${base.fail_on} ${blocking.length === 1 ? 'blocks' : 'block'} the image`
      : null,
    counts: judged.counts,
    fixable: judged.fixable,
    blocking,
    expired: judged.expired,
  };
}

/**
 * The log's lines for a finished scan: over an index one line per platform image, then the counts (every
 * platform's), then each blocking finding and expired allowance.
 */
export function summaryLines(scan: BuildScan, invs: readonly Pick<ImageInventory, 'platform' | 'packages' | 'layers'>[]): string[] {
  const c = scan.counts;
  const total = c.critical + c.high + c.medium + c.low + c.unknown;
  const packages = invs.reduce((n, i) => n + i.packages.length, 0);
  const layers = invs.reduce((n, i) => n + i.layers.length, 0);
  const lines: string[] = [];
  if (invs.length > 1) {
    for (const i of invs) {
      const known = i.layers.filter((l) => l.cached).length;
      lines.push(`scan: ${i.platform}: ${i.packages.length} packages in ${i.layers.length} layers (${i.layers.length - known} read, ${known} known)`);
    }
  }
  lines.push(
    `scan: ${packages} packages in ${layers} layers${invs.length > 1 ? ` of ${invs.length} platforms` : ''} (${scan.layers_read} read, ${scan.layers_cached} known); ` +
      `${total} vulnerabilit${total === 1 ? 'y' : 'ies'}: ${countsText(c)}; ${scan.fixable} fixable` +
      (scan.db_imported_at ? '' : ' (the vulnerability database is empty: import OSV data with `codehub-build vulndb import`)'),
  );
  for (const b of scan.blocking) lines.push(`scan: blocks: ${b}`);
  for (const e of scan.expired) lines.push(`scan: the allowance for ${e.id} expired on ${e.until} ("${e.reason}"): it allows nothing`);
  return lines;
}

export function countsText(c: ScanCounts): string {
  return `${c.critical} critical, ${c.high} high, ${c.medium} medium, ${c.low} low, ${c.unknown} unknown`;
}
