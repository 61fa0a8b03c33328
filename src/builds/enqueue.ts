import { matchGlob, pathsHit } from '../config/glob.js';
import { defaultConfig, parseConfig } from '../config/parse.js';
import { CONFIG_FILE, formatProblem, type BuildConfig, type ImageConfig } from '../config/types.js';
import { changedPaths, CommitReader, isZeroSha } from '../git/read.js';
import type { RepoStore } from '../git/repos.js';
import type { LogStore } from '../logs/store.js';
import { SHA_RE } from '../names.js';
import type { HeadStore } from '../store/heads.js';
import type { NewBuild, PushBuild, Repo } from '../store/schema.js';
import type { Store } from '../store/store.js';
import type { QuotaVerdict } from '../registry/quota.js';
import { formatDuration } from '../units.js';
import { imageRefs, refInfo, type RefInfo } from '../images/tags.js';

export interface RefUpdate {
  old: string;
  new: string;
  ref: string;
}

export interface Push {
  owner: string;
  repo: string;
  pusher: string;
  updates: RefUpdate[];
  options: string[];
}

export interface PushResult {
  builds: PushBuild[];
  /** Lines for the pusher, in order: what was queued, skipped or failed, and how to follow it. */
  lines: string[];
}

/** Where a push's branch and tag deletions are recorded, for retention's grace (InventoryStore). */
export interface RefLog {
  recordRefDeletion(repoId: number, ref: string, at: string): void;
  clearRefDeletion(repoId: number, ref: string): void;
}

/** The quota check made when builds are queued (registry/quota.ts). */
export interface QuotaCheck {
  check(repo: string): Promise<QuotaVerdict>;
}

export interface EnqueueDeps {
  store: Store;
  /** Where each ref stood at its last recorded push: written with the push's builds (the late-push check reads it). */
  heads?: HeadStore;
  refLog?: RefLog;
  quota?: QuotaCheck;
  /** CODEHUB_RETENTION_GRACE, for what a branch deletion tells the pusher. */
  retentionGraceMs?: number;
  /** Builds one owner may have queued; the push's builds beyond it are recorded as skipped. */
  maxQueuedPerOwner: number;
  repos: RepoStore;
  logs: LogStore;
  registry: string;
  publicUrl: string;
}

/** What a ref of a push turns into before anything is written. */
type Planned =
  | { kind: 'build'; ref: RefInfo; sha: string; image: ImageConfig }
  | { kind: 'failed' | 'skipped'; ref: RefInfo; sha: string; image: string; reason: string; code: string; log: string[]; config?: ImageConfig };

/**
 * Turns a push into build records: reads codehub-build.yaml at each pushed commit (no checkout), matches
 * images against branch and path filters, and commits every record of the push in one transaction before
 * returning, so an accepted push never loses its builds.
 */
export async function enqueuePush(deps: EnqueueDeps, push0: Push): Promise<PushResult> {
  const gitdir = deps.repos.path(push0.owner, push0.repo);
  const repo = deps.store.repos.ensure(push0.owner, push0.repo);
  const lines: string[] = [];
  const push = { ...push0, updates: notYetRecorded(deps, repo, push0.updates, lines) };
  const defaultBranch = repo.defaultBranch ?? (await chooseDefaultBranch(deps, repo, push.updates));
  const planned: Planned[] = [];
  const reader = new CommitReader(gitdir);
  try {
    await planPush(reader, gitdir, push, lines, planned, deps.retentionGraceMs);
  } finally {
    reader.close();
  }
  recordRefChanges(deps, repo, push.updates);

  // Over the owner's queue limit: recorded, visible and rebuildable, but not queued.
  let room = deps.maxQueuedPerOwner - deps.store.queue.queuedOf(push.owner);
  for (const [i, p] of planned.entries()) {
    if (p.kind !== 'build') continue;
    if (room-- > 0) continue;
    planned[i] = {
      kind: 'skipped',
      ref: p.ref,
      sha: p.sha,
      image: p.image.name,
      code: 'queue_full',
      log: [],
      config: p.image,
      reason: `not queued: ${push.owner} has ${deps.maxQueuedPerOwner} builds queued already (CODEHUB_MAX_QUEUED_PER_OWNER); cancel some or push again once they ran`,
    };
  }

  // Over quota: recorded failed with the figures, before any BuildKit work; from 80 % a warning.
  if (deps.quota && planned.some((p) => p.kind === 'build')) {
    const verdict = await deps.quota.check(`${push.owner}/${push.repo}`);
    if (verdict.over) {
      for (const [i, p] of planned.entries()) {
        if (p.kind === 'build')
          planned[i] = { kind: 'failed', ref: p.ref, sha: p.sha, image: p.image.name, code: 'quota', log: [], reason: verdict.reason, config: p.image };
      }
    } else if (verdict.warning) lines.push(verdict.warning);
  }

  const rows: NewBuild[] = planned.map((p) => ({
    repoId: repo.id,
    repo: `${push.owner}/${push.repo}`,
    owner: push.owner,
    ref: p.ref.ref,
    refType: p.ref.type,
    refName: p.ref.name,
    commitSha: p.sha,
    pusher: push.pusher,
    ...(p.kind === 'build'
      ? { image: p.image.name, config: p.image as unknown as Record<string, unknown>, status: 'queued' as const }
      : // A build not run for a limit (queue, quota) keeps its config, so it can be rebuilt once there is room.
        {
          image: p.image,
          status: p.kind,
          reason: p.reason,
          reasonCode: p.code,
          finishedAt: new Date().toISOString(),
          ...(p.config ? { config: p.config as unknown as Record<string, unknown> } : {}),
        }),
  }));
  // The builds and where the push left its refs, in one transaction: a ref is recorded exactly when its builds are.
  const builds = deps.store.transaction(() => {
    const inserted = deps.store.builds.insert<PushBuild>(rows, (b, i) => {
      const p = planned[i]!;
      if (p.kind !== 'build') return [];
      return imageRefs(deps.registry, b, p.image, defaultBranch);
    });
    deps.heads?.record(repo.id, push.updates);
    return inserted;
  });

  for (const [i, b] of builds.entries()) {
    const p = planned[i]!;
    if (p.kind !== 'build') await deps.logs.append(b.id, [`build #${b.id} of ${b.repo} ${b.refName} @ ${b.commitSha}: ${b.status}`, ...p.log, p.reason]);
    lines.push(...describe(deps.publicUrl, b));
  }
  if (builds.some((b) => b.status === 'queued')) {
    lines.push(
      `follow: codehub-build logs ${builds[0]!.commitSha.slice(0, 7)} --follow   (${deps.publicUrl}/repos/${builds[0]!.repo}/commits/${builds[0]!.commitSha.slice(0, 7)})`,
    );
  }
  return { builds, lines };
}

/**
 * The push's updates less those recorded already: a ref whose recorded head is the pushed commit was recorded
 * by the late-push check before this report of it came (the hook's request was slow or retried), and must not
 * build twice. Deletions always go through (recording one again changes nothing).
 */
function notYetRecorded(deps: EnqueueDeps, repo: Repo, updates: RefUpdate[], lines: string[]): RefUpdate[] {
  if (!deps.heads || !repo.headsTracked) return updates;
  const recorded = deps.heads.of(repo.id);
  return updates.filter((u) => {
    if (isZeroSha(u.new) || recorded.get(u.ref) !== u.new) return true;
    lines.push(
      `${u.ref}: recorded already at ${u.new.slice(0, 12)} (the server found it before this report came); see ${deps.publicUrl}/repos/${repo.owner}/${repo.name}/commits/${u.new.slice(0, 7)}`,
    );
    return false;
  });
}

/** What each ref of the push turns into (appended to `planned`), and what the pusher is told (to `lines`). */
async function planPush(reader: CommitReader, gitdir: string, push: Push, lines: string[], planned: Planned[], graceMs?: number): Promise<void> {
  for (const u of push.updates) {
    const ref = refInfo(u.ref);
    if (!ref) continue; // notes and other refs never build
    if (!SHA_RE.test(u.new) || !SHA_RE.test(u.old)) {
      lines.push(`${u.ref}: malformed update, ignored`);
      continue;
    }
    if (isZeroSha(u.new)) {
      const after =
        graceMs === undefined
          ? ''
          : graceMs === 0
            ? '; its image tags go at the next gc'
            : `; its image tags go ${formatDuration(graceMs)} from now (retention), unless kept for another reason`;
      lines.push(`${ref.name}: deleted, nothing to build${after}`);
      continue;
    }
    if (push.options.includes('skip')) {
      planned.push({ kind: 'skipped', ref, sha: u.new, image: push.repo, reason: 'skipped by the pusher (git push -o skip)', code: 'skipped', log: [] });
      continue;
    }
    const plan = await planRef(reader, gitdir, push.repo, ref, u);
    const noCache = push.options.includes('no-cache');
    for (const p of plan.planned) planned.push(noCache && p.kind === 'build' ? { ...p, image: { ...p.image, noCache: true } } : p);
    lines.push(...plan.lines);
  }
}

async function planRef(reader: CommitReader, gitdir: string, repoName: string, ref: RefInfo, u: RefUpdate): Promise<{ planned: Planned[]; lines: string[] }> {
  const sha = u.new;
  const lines: string[] = [];
  let config: BuildConfig;
  const file = await reader.readFile(sha, CONFIG_FILE);
  if (file) {
    const res = parseConfig(file.toString('utf8'), repoName);
    if (!res.ok) {
      const log = res.errors.map(formatProblem);
      return {
        planned: [
          {
            kind: 'failed',
            ref,
            sha,
            image: repoName,
            code: 'config',
            log,
            reason: `${CONFIG_FILE} at ${sha.slice(0, 12)} is invalid (${res.errors.length} problem${res.errors.length > 1 ? 's' : ''}): ${log[0]}`,
          },
        ],
        lines: log.map((l) => `  ${l}`),
      };
    }
    config = res.value;
  } else if (await reader.readFile(sha, 'Dockerfile')) {
    config = defaultConfig(repoName);
  } else {
    const reason = `nothing to build: ${sha.slice(0, 12)} has neither ${CONFIG_FILE} nor a Dockerfile at the repository root; add one of them`;
    return { planned: [{ kind: 'skipped', ref, sha, image: repoName, code: 'skipped', reason, log: [] }], lines };
  }

  const planned: Planned[] = [];
  let changed: string[] | null = null;
  for (const image of config.images) {
    const branchHit = image.branches && matchGlob(ref.name, image.branches);
    if (image.branches && !branchHit) {
      lines.push(`${image.name}: not built for ${ref.type} ${ref.name} (branches: ${image.branches.join(', ')})`);
      continue;
    }
    if (branchHit?.literalOnly) lines.push(literalOnlyWarning(image.name, 'branches', branchHit.glob, `${ref.type} ${ref.name}`));
    if (image.paths && !isZeroSha(u.old)) {
      changed ??= await changedPaths(gitdir, u.old, u.new);
      const pathHit = pathsHit(changed, image.paths);
      if (!pathHit) {
        lines.push(`${image.name}: not built, the push changed none of paths: ${image.paths.join(', ')}`);
        continue;
      }
      if (pathHit.literalOnly) lines.push(literalOnlyWarning(image.name, 'paths', pathHit.glob, pathHit.path));
    }
    const dockerfilePath = image.context === '.' ? image.dockerfile : `${image.context}/${image.dockerfile}`;
    if (!(await reader.readFile(sha, dockerfilePath))) {
      const reason = `${dockerfilePath} does not exist at ${sha.slice(0, 12)} (image ${image.name}: context "${image.context}", dockerfile "${image.dockerfile}")`;
      planned.push({ kind: 'failed', ref, sha, image: image.name, code: 'config', reason, log: [] });
      continue;
    }
    planned.push({ kind: 'build', ref, sha, image });
  }
  return { planned, lines };
}

/**
 * `{` and `[` were plain characters in globs before they became braces and classes: a pattern that matches only
 * read that way still matches, and the pusher is told how to keep it so.
 */
function literalOnlyWarning(image: string, key: 'branches' | 'paths', glob: string, what: string): string {
  return (
    `${image}: warning: ${key}: ${JSON.stringify(glob)} matches ${what} only with { } [ ] read as plain characters, as before they ` +
    'were glob syntax; it still counts as a match, but write [{] or [[] for a plain { or ['
  );
}

/** A deleted branch or tag starts retention's grace; one pushed again is live (its deletion forgotten). */
function recordRefChanges(deps: EnqueueDeps, repo: Repo, updates: RefUpdate[]): void {
  if (!deps.refLog) return;
  const now = new Date().toISOString();
  for (const u of updates) {
    if (!refInfo(u.ref) || !SHA_RE.test(u.new) || !SHA_RE.test(u.old)) continue;
    if (isZeroSha(u.new)) deps.refLog.recordRefDeletion(repo.id, u.ref, now);
    else if (isZeroSha(u.old)) deps.refLog.clearRefDeletion(repo.id, u.ref);
  }
}

/**
 * The repo's default branch gets `latest`. It is fixed by the first push: `main` if pushed, else `master`,
 * else the first branch pushed; the bare repo's HEAD follows so clones check it out.
 */
async function chooseDefaultBranch(deps: EnqueueDeps, repo: Repo, updates: RefUpdate[]): Promise<string | null> {
  const branches = updates.filter((u) => u.ref.startsWith('refs/heads/') && !isZeroSha(u.new)).map((u) => u.ref.slice(11));
  const pick = ['main', 'master'].find((b) => branches.includes(b)) ?? branches[0];
  if (!pick) return null;
  const chosen = deps.store.repos.setDefaultBranch(repo.id, pick);
  if (chosen === pick) await deps.repos.setHead(repo.owner, repo.name, pick);
  return chosen;
}

function describe(publicUrl: string, b: PushBuild): string[] {
  const head = `build #${b.id} ${b.image} (${b.refName} @ ${b.commitSha.slice(0, 7)}): ${b.status}`;
  if (b.status !== 'queued') return [`${head}: ${b.reason ?? ''}`];
  return [head, ...b.imageRefs.map((r) => `  -> ${r}`), `  page: ${publicUrl}/builds/${b.id}`];
}
