import type { BuildAnswer, BuildScanAnswer, FindingAnswer, ForgeStatusAnswer } from '../api/answers.js';
import { MASK, secretValues } from '../logs/mask.js';
import type { ReportedFinding } from '../scan/report.js';
import { insightView } from '../insight/stored.js';
import { storedBuildScan } from '../scan/report.js';
import type { Build, CommitStatusRow, UploadBuild } from '../store/schema.js';

/** The stored config with secret-looking build-arg values hidden, as the log hides them. */
function publicConfig(config: Build['config']): Build['config'] {
  const args = (config as { args?: Record<string, string> } | null)?.args;
  if (!config || !args) return config;
  const hidden = new Set(secretValues({}, args));
  return { ...config, args: Object.fromEntries(Object.entries(args).map(([k, v]) => [k, hidden.has(v) ? MASK : v])) };
}

/**
 * The commit status a build of a linked repo owes its forge, and how delivering it went: `delivered` once the
 * forge accepted `state`; else `error` says why not yet, `next_attempt_at` when it is tried again, and
 * `gave_up` that it will not be (the link must change).
 */
export function forgeStatusView(s: CommitStatusRow | undefined): ForgeStatusAnswer | null {
  if (!s) return null;
  return {
    context: s.context,
    state: s.state,
    description: s.description,
    delivered: s.deliveredState === s.state,
    delivered_state: s.deliveredState,
    attempts: s.attempts,
    error: s.error,
    next_attempt_at: s.nextAttemptAt,
    gave_up: s.gaveUp,
    updated_at: s.updatedAt,
  };
}

/**
 * A build as the API returns it (its shape, and what each field means: src/api/answers.ts); `status` is its
 * forge status row, if any.
 */
export function buildView(b: Build, publicUrl: string, status?: CommitStatusRow): BuildAnswer {
  return {
    id: b.id,
    source: b.source,
    repo: b.repo,
    ref: b.ref,
    ref_type: b.refType,
    ref_name: b.refName,
    commit: b.commitSha,
    upload: b.source === 'upload' ? { folder: (b as UploadBuild).uploadFolder, bytes: (b as UploadBuild).contextBytes } : null,
    image: b.image,
    image_refs: b.imageRefs,
    digest: b.digest,
    platforms: (b.platforms ?? []).map((p) => ({ platform: p.platform, digest: p.digest })),
    status: b.status,
    reason: b.reason,
    reason_code: b.reasonCode,
    pusher: b.pusher,
    queued_at: b.queuedAt,
    started_at: b.startedAt,
    finished_at: b.finishedAt,
    attempts: b.attempts,
    builder: b.builder,
    config: publicConfig(b.config),
    steps: b.steps,
    log_expired_at: b.logExpiredAt,
    log_url: `${publicUrl}/api/builds/${b.id}/log`,
    web_url: `${publicUrl}/builds/${b.id}`,
    scan: scanView(b.scan),
    insight: insightView(b),
    forge_status: forgeStatusView(status),
  };
}

/** A build's stored scan as the API shows it; null when none ran. */
export function scanView(raw: Build['scan']): BuildScanAnswer | null {
  const s = storedBuildScan(raw);
  if (!s) return null;
  return {
    status: s.status,
    reason: s.reason,
    counts: s.counts,
    fixable: s.fixable,
    db_imported_at: s.db_imported_at,
    fail_on: s.fail_on,
    blocking: s.blocking,
    expired: s.expired.map((e) => ({ id: e.id, until: e.until, reason: e.reason })),
    packages: s.packages,
    platforms: s.platforms?.map((p) => p.platform) ?? [],
  };
}

/** One finding as the API shows it (src/api/answers.ts's Finding). */
export function findingView(f: ReportedFinding): FindingAnswer {
  const a = f.allowed;
  return {
    id: f.id,
    aliases: f.aliases,
    package: f.package,
    ecosystem: f.ecosystem,
    version: f.version,
    fixed: f.fixed,
    severity: f.severity,
    score: f.score,
    summary: f.summary,
    layer: f.layer,
    platform: f.platform,
    installed: f.installed.map((p) => ({ name: p.name, version: p.version, path: p.path, purl: p.purl })),
    allowed:
      a === null
        ? null
        : a.by === 'allowance'
          ? { by: 'allowance', reason: a.reason, until: a.until }
          : { by: 'vex', reason: `${a.status}${a.justification ? `: ${a.justification}` : ''} (${a.document})`, until: null },
    blocking: f.blocking,
    first_seen: f.firstSeen,
  };
}

/** What a build whose log retention removed says instead of its log (API 410, the build page). */
export function logExpiredMessage(b: Pick<Build, 'id' | 'finishedAt' | 'logExpiredAt'>): string {
  return (
    `the log of build #${b.id} expired on ${b.logExpiredAt!.slice(0, 10)} and was removed (the build finished ${b.finishedAt?.slice(0, 10) ?? 'long ago'}; ` +
    'logs are kept CODEHUB_LOG_RETENTION_DAYS days, and the newest build of each branch and image keeps its log); the build record stays'
  );
}
